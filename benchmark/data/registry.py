"""The registry of dataset builders and the one `prepare` that runs any of them.

A builder has `name`, `summary`, `options` (the `PrepareOptions` fields it takes beyond `name` and
`force`), `recipe(options, vectors)` (cheap: a dict of everything that determines its output: input
file hashes, seed, encoder fingerprint) and `build(options, out_name, vectors) -> PreparedDataset`.
Adding a dataset is one builder class and one entry in `BUILDERS`.
"""
from __future__ import annotations

import difflib
import logging
import re
import shlex
import time
from dataclasses import dataclass, replace
from pathlib import Path

from benchmark.core.errors import DataError, DataRequestError
from benchmark.data.layout import prepared_dir, read_meta, verified_version
from benchmark.data.prepared import write_prepared
from benchmark.data.recipe import PrepareOptions, TextVectors, recipe_hash
from benchmark.data.sources.movielens import MovieLensText
from benchmark.data.sources.own_data import TABLE_SUFFIXES, InteractionFile
from benchmark.data.sources.rlmrec import RLMREC_BUILDERS
from benchmark.data.sources.tiny import TINY_BUILDERS
from benchmark.data.validate import MAX_TEXT_DIM

log = logging.getLogger("benchmark.data")

BUILDERS = {builder.name: builder for builder in (*TINY_BUILDERS, MovieLensText(), *RLMREC_BUILDERS, InteractionFile())}
MAX_NAME_LENGTH = 150  # leaves room for `.<name>.staging-<pid>.<host>-<random>` in a 255-byte file name
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ALWAYS = {"name", "force"}
FLAGS = {"stand_in_dim": "stand-in-vectors"}  # option field -> its command-line flag, where they differ


def did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def get_builder(name: str):
    if name not in BUILDERS:
        raise DataRequestError(f"{name}: unknown dataset{did_you_mean(name, BUILDERS)} "
                               f"(builders: {', '.join(BUILDERS)}; "
                               "your own interactions: prepare NAME --source FILE.csv|.tsv|.inter)")
    return BUILDERS[name]


def check_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH or not _SAFE_NAME.fullmatch(name):
        shown = name if len(name) <= 60 else name[:40] + "..."
        raise DataRequestError(f"{shown!r}: not a usable dataset name (at most {MAX_NAME_LENGTH} letters, digits, "
                               "'.', '_', '-', not starting with '.', '_' or '-')")
    return name


@dataclass(frozen=True)
class PrepareOutcome:
    """What one `prepare` did: where the dataset is, and whether it was rebuilt."""

    name: str
    path: Path
    rebuilt: bool  # False: the prepared copy was already up to date
    seconds: float


def is_up_to_date(name: str, recipe: str) -> bool:
    """The stored copy was made by this recipe and its files still hash to its version."""
    if not (prepared_dir(name) / "meta.json").is_file():
        return False
    try:
        if read_meta(name).get("recipe") != recipe:
            return False
        verified_version(name)
        return True
    except DataError as error:
        log.warning("%s; preparing it again", str(error).split("; prepare it again")[0])
        return False


def resolve_request(builder_name: str, options: PrepareOptions) -> tuple[str, PrepareOptions]:
    """`prepare NAME --source FILE.csv` where NAME is no builder means the `csv` builder, stored as NAME."""
    source = options.source
    if builder_name not in BUILDERS and source is not None and Path(source).suffix.lower() in TABLE_SUFFIXES:
        if options.name is not None and options.name != builder_name:
            raise DataRequestError(f"{builder_name}: not a builder; with --source {source} it names the dataset, "
                                   f"so --name {options.name} says something else")
        return InteractionFile.name, replace(options, name=builder_name)
    return builder_name, options


def command_line(builder_name: str, options: PrepareOptions, out_name: str) -> str:
    """The `prepare` command that makes this dataset again (kept in meta.json for error messages)."""
    words = ["python", "-m", "benchmark.data", "prepare", builder_name]
    if out_name != builder_name:
        words += ["--name", out_name]
    for option in sorted(options.given() - _ALWAYS):
        value = getattr(options, option)
        if option == "columns":
            value = ",".join(f"{role}={column}" for role, column in value)
        elif isinstance(value, Path):
            value = str(value.resolve())
        words += ["--" + FLAGS.get(option, option.replace("_", "-")), str(value)]
    return shlex.join(words)


def prepare(builder_name: str, options: PrepareOptions | None = None) -> PrepareOutcome:
    """Build `builder_name` into `<data_root>/prepared/<options.name or builder_name>/` unless up to date."""
    started = time.perf_counter()
    builder_name, options = resolve_request(builder_name, options or PrepareOptions())
    builder = get_builder(builder_name)
    unknown = sorted(options.given() - _ALWAYS - set(builder.options))
    if unknown:
        flags = ", ".join("--" + FLAGS.get(option, option.replace("_", "-")) for option in unknown)
        raise DataRequestError(f"{builder_name}: this builder does not take {flags}")
    out_name = check_name(options.name or builder.default_name(options))
    if options.stand_in_dim is not None and not 1 <= options.stand_in_dim <= MAX_TEXT_DIM:
        # checked here, before any vector is drawn: (users x DIM) floats could take all the memory first
        raise DataRequestError(f"--stand-in-vectors {options.stand_in_dim}: the dimension must be 1 to {MAX_TEXT_DIM}")
    vectors = TextVectors(options)
    recipe = recipe_hash({**builder.recipe(options, vectors), "name": out_name})
    if not options.force and is_up_to_date(out_name, recipe):
        return PrepareOutcome(out_name, prepared_dir(out_name), False, time.perf_counter() - started)
    data = builder.build(options, out_name, vectors)
    data.info = {**(data.info or {}), "builder": builder_name, "recipe": recipe,
                 "prepare_command": command_line(builder_name, options, out_name)}
    path = write_prepared(data)
    return PrepareOutcome(out_name, path, True, time.perf_counter() - started)
