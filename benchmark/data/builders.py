"""The registry of dataset builders and the one `prepare` that runs any of them.

A builder has `name`, `summary`, `default_source()`, `recipe(options, vectors)` (cheap: a dict of
everything that determines its output: input file hashes, seed, encoder fingerprint) and
`build(options, out_name, vectors) -> PreparedDataset`. Adding a dataset is one builder class and
one entry in `BUILDERS`.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from benchmark.data.building import PrepareOptions, TextVectors, recipe_hash
from benchmark.data.movielens import MovieLensText
from benchmark.data.prepared import DataError, prepared_dir, read_meta, write_prepared
from benchmark.data.rlmrec import RLMREC_BUILDERS

BUILDERS = {builder.name: builder for builder in (MovieLensText(), *RLMREC_BUILDERS)}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def get_builder(name: str):
    if name not in BUILDERS:
        raise DataError(f"{name}: unknown dataset (known: {', '.join(BUILDERS)})")
    return BUILDERS[name]


@dataclass(frozen=True)
class Prepared:
    name: str
    path: Path
    rebuilt: bool  # False: the prepared copy was already up to date
    seconds: float


def is_up_to_date(name: str, recipe: str) -> bool:
    try:
        return read_meta(name).get("recipe") == recipe
    except (DataError, ValueError):
        return False


def prepare(builder_name: str, options: PrepareOptions = PrepareOptions()) -> Prepared:
    """Build `builder_name` into `<data_root>/prepared/<options.name or builder_name>/` unless up to date."""
    started = time.perf_counter()
    builder = get_builder(builder_name)
    out_name = options.name or builder_name
    if not _SAFE_NAME.match(out_name):
        raise DataError(f"{out_name}: not a usable dataset name (letters, digits, '.', '_', '-'; no leading '.')")
    if options.stand_in_dim is not None and options.stand_in_dim < 1:
        raise DataError(f"--stand-in-vectors {options.stand_in_dim}: the dimension must be a positive integer")
    vectors = TextVectors(options)
    recipe = recipe_hash({**builder.recipe(options, vectors), "name": out_name})
    if not options.force and is_up_to_date(out_name, recipe):
        return Prepared(out_name, prepared_dir(out_name), False, time.perf_counter() - started)
    data = builder.build(options, out_name, vectors)
    data.info = {**(data.info or {}), "builder": builder_name, "recipe": recipe}
    path = write_prepared(data)
    return Prepared(out_name, path, True, time.perf_counter() - started)
