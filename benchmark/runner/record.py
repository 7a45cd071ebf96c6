"""A stored record's schema: its version, the one check on read, and the one upgrade of older versions.

    schema 1   records without a `schema` key (every record stored before the version was stamped)
    schema 2   adds `schema: 2` and `defaults`, the trial's config at its model's defaults as the code
               that wrote the record resolved it (see `defaults_of`)

Optional fields join a version without bumping it, since every reader ignores keys it does not
know: `reused_from` ({"grid", "finished_at"}: the record is a copy of that grid's record of the same
trial, made instead of training it again; `benchmark.runner.store.ResultStore.adopt`) is such a
field of version 2.

The store stamps the current version on every record it writes, checks every record it reads with
`record_problem` (the type of every field the runner, the analysis and the tuning read), and hands
the readers only records that `upgrade` brought to the current version. So the analysis reads what
a record says about itself and never asks today's config code what a stored trial meant. The one
exception is the upgrade of a schema 1 record: it holds no defaults, so they are resolved from
today's model yamls, once, here (and marked `reconstructed`).

A tuning sample (a record with a `search` entry, `python -m benchmark.tune`) has validation metrics
only; any other finished record has test metrics.
"""
from __future__ import annotations

import json
import math
from functools import cache

from benchmark.runner.config import resolve

SCHEMA_VERSION = 2
DEFAULT_DEVICE = "cpu"  # schema 1 records from before `env.device` ran on the CPU


class InvalidRecord(ValueError):
    """A record that breaks the schema (on write: it is never stored; on read: it counts as not finished)."""


# --- the types a field may hold ------------------------------------------------------------------

def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str(value) -> bool:
    return isinstance(value, str)


def _optional(test):
    return lambda value: value is None or test(value)


def _numbers(value) -> bool:
    return isinstance(value, list) and all(_number(v) for v in value)


def _topk(value) -> bool:
    return isinstance(value, list) and bool(value) and all(_int(k) and k > 0 for k in value)


# (key, test, what it must be): optional keys may be absent; a present one must pass its test
CONFIG_FIELDS = (("matcher", _optional(_str), "a string or null"), ("beta", _optional(_number), "a number or null"),
                 ("preset", _optional(_str), "a string or null"), ("formulation", _optional(_str), "a string or null"),
                 ("epochs", _int, "an integer"), ("topk", _topk, "a non-empty list of positive integers"))
_LIST, _OBJECT = _optional(lambda v: isinstance(v, list)), _optional(lambda v: isinstance(v, dict))
TOP_FIELDS = (("finished_at", _str, "a string"), ("dataset_version", _optional(_str), "a string or null"),
              ("curve", _LIST, "a list"), ("timings", _OBJECT, "an object"), ("env", _OBJECT, "an object"),
              ("provenance", _OBJECT, "an object"), ("posterior", _OBJECT, "an object or null"),
              ("search", lambda v: isinstance(v, dict), "an object"),
              ("reused_from", lambda v: isinstance(v, dict), "an object"),
              ("group", lambda v: isinstance(v, dict), "an object"))
NESTED_FIELDS = {
    "env": (("python", _optional(_str), "a string"), ("device", _optional(_str), "a string"),
            ("platform", _optional(_str), "a string"), ("git_commit", _optional(_str), "a string"),
            ("torch_threads", _optional(_int), "an integer"),
            ("packages", lambda v: isinstance(v, dict) and all(_optional(_str)(x) for x in v.values()),
             "an object of version strings")),
    "provenance": (("commit", _optional(_str), "a string"),
                   ("dirty", _optional(lambda v: isinstance(v, bool)), "a bool"),
                   ("code_hash", _optional(_str), "a string")),
    "posterior": (("dim_variance", _numbers, "a list of numbers"), ("n_users", _int, "an integer")),
    "search": (("ended", _optional(_str), "a string or null"), ("started_at", _str, "a string")),
    "reused_from": (("grid", _str, "a string"), ("finished_at", _str, "a string")),
    "group": (("size", _int, "an integer"), ("members", lambda v: isinstance(v, list) and all(_str(x) for x in v),
                                             "a list of trial ids"), ("wall_s", _number, "a number")),
}


def _fields(content: dict, fields, where: str) -> str | None:
    for key, test, kind in fields:
        if key in content and not test(content[key]):
            return f"{where}{key} is {_shown(content[key])}, not {kind}"
    return None


def _shown(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


# --- the check ------------------------------------------------------------------------------------

def record_problem(record, trial_id: str) -> str | None:
    """What makes `record` not a valid finished record of `trial_id` (naming the field), or None."""
    if not isinstance(record, dict):
        return "top level is not an object"
    for check in (_identity_problem, _config_problem, _parts_problem, _metrics_problem, _epochs_problem,
                  _version_problem):
        problem = check(record, trial_id)
        if problem is not None:
            return problem
    return None


def _identity_problem(record: dict, trial_id: str) -> str | None:
    if record.get("trial_id") != trial_id:
        return f"trial_id {_shown(record.get('trial_id'))} is not its folder's name {trial_id!r}"
    if record.get("status") != "finished":
        return f"status is {_shown(record.get('status'))}, not 'finished'"
    if not isinstance(record.get("grid"), str):
        return "'grid' is missing or not a string"
    return None


def _config_problem(record: dict, trial_id: str) -> str | None:
    config = record.get("config")
    if not isinstance(config, dict):
        return "'config' is not an object"
    for key, kind, test in (("model", "a string", _str), ("dataset", "a string", _str), ("seed", "an integer", _int)):
        if not test(config.get(key)):
            return f"config.{key} is missing or not {kind}"
    return _fields(config, CONFIG_FIELDS, "config.")


def _metrics_problem(record: dict, trial_id: str) -> str | None:
    metrics = record.get("metrics")
    if not isinstance(metrics, dict) or not isinstance(metrics.get("test"), dict):
        return "'metrics' is not an object with a 'test' object"
    for split, values in metrics.items():
        if not isinstance(values, dict):
            return f"metrics.{split} is not an object"
        for name, value in values.items():
            if not _number(value):
                return f"metrics.{split}.{name} is {_shown(value)}, not a finite number"
    if "search" in record:  # a tuning sample: selected on validation, never tested
        if not isinstance(metrics.get("valid"), dict):
            return "metrics.valid is missing (a tuning sample is scored on it)"
        if metrics["test"]:
            return "metrics.test of a tuning sample is not empty (a sample is never tested)"
    elif not metrics["test"]:
        return "metrics.test is empty (the trial was never tested)"
    return None


def _epochs_problem(record: dict, trial_id: str) -> str | None:
    if not _int(record.get("best_epoch")) or record["best_epoch"] < 1:
        return f"best_epoch is {_shown(record.get('best_epoch'))}, not an epoch >= 1 (no validation ran)"
    epochs_run = record.get("epochs_run")
    if epochs_run is not None and (not _int(epochs_run) or epochs_run < record["best_epoch"]):
        return f"epochs_run is {_shown(epochs_run)}, not an integer >= best_epoch"
    return None


def _parts_problem(record: dict, trial_id: str) -> str | None:
    problem = _fields(record, TOP_FIELDS, "")
    if problem is not None:
        return problem
    for key, fields in NESTED_FIELDS.items():
        if isinstance(record.get(key), dict):
            problem = _fields(record[key], fields, f"{key}.")
            if problem is not None:
                return problem
    for number, row in enumerate(record.get("curve") or [], 1):
        if not isinstance(row, dict) or not all(_number(v) for v in row.values()):
            return f"curve entry {number} is {_shown(row)}, not an object of numbers"
    for key, value in (record.get("timings") or {}).items():
        if not (_numbers(value) if key == "epoch_s" else _number(value)):
            return f"timings.{key} is {_shown(value)}, not a {'list of numbers' if key == 'epoch_s' else 'number'}"
    return None


def _version_problem(record: dict, trial_id: str) -> str | None:
    version = record.get("schema", 1)
    if not _int(version) or version < 1:
        return f"schema is {_shown(version)}, not a version number"
    if version > SCHEMA_VERSION:
        return f"schema {version} is newer than this code reads ({SCHEMA_VERSION}); update the code"
    if version >= 2:
        defaults = record.get("defaults")
        if not isinstance(defaults, dict):
            return "'defaults' is missing or not an object"
        for key in ("model", "preset"):
            if not (defaults.get(key) is None or isinstance(defaults[key], dict)):
                return f"defaults.{key} is {_shown(defaults[key])}, not an object or null"
    return None


def failed_problem(content, trial_id: str) -> str | None:
    """What makes `content` not a failure record of `trial_id`, or None."""
    if not isinstance(content, dict):
        return "top level is not an object"
    if content.get("trial_id", trial_id) != trial_id:
        return f"trial_id {_shown(content.get('trial_id'))} is not its file's name {trial_id!r}"
    if not isinstance(content.get("config"), dict):
        return f"config is {_shown(content.get('config'))}, not an object"
    identity = (("model", _str, "a string"), ("dataset", _str, "a string"), ("matcher", _optional(_str), "a string"))
    return _fields(content["config"], identity, "config.") or _fields(
        content, (("error", _str, "a string"), ("failed_at", _str, "a string"), ("traceback", _str, "a string")), "")


# --- reading: check, then upgrade ----------------------------------------------------------------

def checked(record, trial_id: str) -> dict:
    """`record` as a current-version finished record of `trial_id`; InvalidRecord names the field."""
    problem = record_problem(record, trial_id)
    if problem is not None:
        raise InvalidRecord(problem)
    return upgrade(record)


def upgrade(record: dict) -> dict:
    """A checked record of any version, as the current version (a new dict; older ones filled in)."""
    record = dict(record)
    if record.get("schema", 1) == 1:
        record = _from_version_1(record)
    return record


def _from_version_1(record: dict) -> dict:
    """Schema 1 -> 2: its defaults reconstructed from today's yamls, and what older formats left out."""
    env = dict(record.get("env") or {})
    env.setdefault("device", DEFAULT_DEVICE)
    provenance = dict(record.get("provenance") or {})
    provenance.setdefault("commit", env.get("git_commit"))  # older than provenance: the commit only
    provenance.setdefault("dirty", None)
    return {**record, "env": env, "provenance": provenance, "schema": 2,
            "defaults": {**defaults_of(record["config"]), "reconstructed": True}}


# --- writing: the defaults a record carries ----------------------------------------------------

def defaults_of(config) -> dict:
    """The config of the same (model, dataset, matcher, seed) with nothing from a grid or the command
    line (`model`), and with the config's preset too (`preset`, null without one), as this code
    resolves them; both null with `error` saying why when they cannot be resolved."""
    try:
        layer = {key: config[key] for key in ("matcher", "seed") if key in config}
        plain = json.loads(_resolved(config["model"], config["dataset"], json.dumps(layer, sort_keys=True)))
        preset = None
        if isinstance(config.get("preset"), str):
            with_preset = json.dumps({**layer, "preset": config["preset"]}, sort_keys=True)
            preset = json.loads(_resolved(config["model"], config["dataset"], with_preset))
    except Exception as error:  # noqa: BLE001 (an unregistered model, a preset this code lacks, any bad config)
        return {"model": None, "preset": None, "error": f"{type(error).__name__}: {' '.join(str(error).split())}"}
    return {"model": plain, "preset": preset}


@cache
def _resolved(model: str, dataset: str, layer: str) -> str:
    return json.dumps(resolve(model, dataset, json.loads(layer)), sort_keys=True)


def stamped(record: dict) -> dict:
    """`record` as the store writes it: the current schema version, and its defaults unless given."""
    defaults = record.get("defaults") if record.get("schema") == SCHEMA_VERSION else None
    return {**record, "schema": SCHEMA_VERSION,
            "defaults": defaults if isinstance(defaults, dict) else defaults_of(record.get("config") or {})}


def per_user_problem(frame) -> str | None:
    """What makes a per-user table unreadable for the figures (naming the column), or None."""
    import pandas as pd

    missing = [c for c in ("user", "n_train") if c not in frame.columns]
    if missing:
        return f"no column(s) {', '.join(missing)}"
    for column in frame.columns:
        if column == "user":  # external ids: any text
            continue
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            text = next((v for v in values if not _number(v)), values.iloc[0] if len(values) else None)
            return f"column {column} holds {_shown(text)}, not numbers"
    return None
