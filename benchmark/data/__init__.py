"""Datasets: builders, the restricted unpickler, validation, text embedding and the prepared layout.

Leaf modules others import: `errors` (DataError), `layout` (where a prepared dataset lives, its
meta.json, `verified_version`), `runtime` (what models read at train time). Builders register in
`registry.BUILDERS`; `registry.prepare` runs any of them through `prepared.write_prepared`.
Command line: `python -m benchmark.data list | prepare NAME | stats [NAME] | fetch rlmrec`.
Heavy libraries (pandas, sentence-transformers) are imported inside the functions that need them.
"""
