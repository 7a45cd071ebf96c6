"""Dataset builders, text embedding and validation; the prepared layout lives in `prepared.py`.

Command line: `python -m benchmark.data list | prepare NAME | stats [NAME] | fetch rlmrec`.
Heavy libraries (pandas, sentence-transformers) are imported inside the functions that need them.
"""
