"""Typed config values: the type comments a yaml declares (`# (float|null)`, `# (str) a | b`) and
the bounds no trial can run with; `resolve` checks every value against both."""
from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from benchmark.core.errors import ConfigError

STRUCTURE_KEYS = ("extends", "datasets", "presets", "search")  # model yaml keys that are not config values
TYPE_KINDS = ("int", "float", "bool", "str", "list", "dict", "null")


# Bounds: values no trial can run with (checked on the resolved config, where the keys exist).

def _is_positive_int_list(value) -> bool:
    return bool(value) and all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in value)


BOUNDS: tuple[tuple[tuple[str, ...], Callable[..., bool], str], ...] = (
    (("epochs",), lambda v: v >= 1, ">= 1"),
    (("eval_step",), lambda v: v >= 1, ">= 1"),
    (("stopping_step",), lambda v: v >= 1, ">= 1"),
    (("first_eval_epoch",), lambda v: v is None or v >= 1, ">= 1 or null"),
    (("train_batch_size",), lambda v: v >= 1, ">= 1"),
    (("eval_batch_size",), lambda v: v >= 1, ">= 1"),
    (("learning_rate",), lambda v: v > 0, "> 0"),
    (("weight_decay",), lambda v: v >= 0, ">= 0"),
    (("clip_grad_norm",), lambda v: v is None or v > 0, "> 0 or null"),
    (("dropout",), lambda v: 0 <= v < 1, "in [0, 1)"),
    (("denoiser_dropout",), lambda v: 0 <= v < 1, "in [0, 1)"),
    (("keep_rate",), lambda v: 0 < v <= 1, "in (0, 1]"),
    (("denoiser_learning_rate",), lambda v: v is None or v > 0, "> 0 or null"),
    (("cluster_pretrain_epochs",), lambda v: v >= 1, ">= 1"),
    (("topk",), _is_positive_int_list, "a non-empty list of positive ints"),
    (("valid_metric", "topk"), lambda metric, topk: metric.lower() in {f"{m}@{k}" for m in ("recall", "ndcg")
                                                                        for k in topk},
     "recall@K or ndcg@K with K in topk"),
    (("epochs", "eval_step", "first_eval_epoch"), lambda epochs, step, first: epochs >= (first or step),
     "at least the epoch of the first validation (first_eval_epoch, else eval_step)"),
)


@dataclass(frozen=True)
class KeyType:
    """A key's declared type: `kinds` from `(float|null)`, `choices` from `(str) a | b | c`."""
    text: str
    kinds: tuple[str, ...]
    choices: tuple[str, ...] = ()


_TYPED_LINE = re.compile(r"^([A-Za-z_]\w*)\s*:[^#]*#\s*\(([^)]*)\)(.*)$")
_KEY_LINE = re.compile(r"^([A-Za-z_]\w*)\s*:")
_CHOICE_LIST = re.compile(r"^\s*([\w.@-]+)((?:\s*\|\s*[\w.@-]+)+)")


def _choices(description: str) -> tuple[str, ...]:
    """`a (why) | b | c: more` -> (a, b, c): a choice list opens the description, parentheses aside."""
    while True:
        stripped = re.sub(r"\([^()]*\)", "", description)
        if stripped == description:
            break
        description = stripped
    match = _CHOICE_LIST.match(description)
    if not match:
        return ()
    return (match.group(1), *(c.strip() for c in match.group(2).split("|") if c.strip()))


@cache
def declared_types(path: str) -> dict[str, KeyType | None]:
    """Top-level keys of one yaml file -> their type comment (None: the key has none)."""
    types: dict[str, KeyType | None] = {}
    with open(path) as handle:
        lines = handle.read().splitlines()
    for number, line in enumerate(lines, 1):
        key_match = _KEY_LINE.match(line)
        if not key_match or key_match.group(1) in STRUCTURE_KEYS:
            continue
        typed = _TYPED_LINE.match(line)
        if not typed:
            types[key_match.group(1)] = None
            continue
        text = typed.group(2).replace(" ", "")
        kinds = tuple(text.split("|"))
        if not all(kind in TYPE_KINDS for kind in kinds):
            raise ConfigError(f"{path}:{number}: {typed.group(1)}: type ({typed.group(2)}) is not a '|' "
                              f"of {', '.join(TYPE_KINDS)}")
        types[typed.group(1)] = KeyType(text, kinds, _choices(typed.group(3)) if "str" in kinds else ())
    return types


def _allowed_choices(key: str, key_type: KeyType) -> tuple[str, ...]:
    if key == "matcher":  # the registry, not a comment, says which matchers exist
        from dmrec.matchers import MATCHERS

        return tuple(MATCHERS)
    return key_type.choices


def admits(kind: str, value) -> bool:
    if kind == "null":
        return value is None
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, {"str": str, "list": list, "dict": dict}[kind])


def check_value(key: str, value, key_type: KeyType | None, where: str):
    """`value` as the config stores it (an int given for a float key becomes a float), or ConfigError."""
    if key_type is None:
        raise ConfigError(f"{where}: key '{key}' has no type comment in its yaml (e.g. '# (float)')")
    if not any(admits(kind, value) for kind in key_type.kinds):
        raise ConfigError(f"{where}: {key} must be {key_type.text}, not {value!r}")
    if isinstance(value, str):
        choices = _allowed_choices(key, key_type)
        if choices and value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(f"{where}: unknown {key} {value!r} ({hint}choices: {' | '.join(choices)})")
    if "float" in key_type.kinds and "int" not in key_type.kinds and admits("int", value):
        return float(value)
    return value


def check_bounds(resolved: dict, sources: dict) -> None:
    for keys, holds, requirement in BOUNDS:
        if not all(k in resolved for k in keys):
            continue
        if not holds(*(resolved[k] for k in keys)):
            shown = ", ".join(f"{k}={resolved[k]!r}" for k in keys[1:])
            raise ConfigError(f"{sources[keys[0]]}: {keys[0]}={resolved[keys[0]]!r} must be {requirement}"
                              + (f" ({shown})" if shown else ""))




def single_key_bounds(key: str) -> list[tuple[Callable[..., bool], str]]:
    """The bounds that involve `key` alone: (holds, requirement) pairs."""
    return [(holds, requirement) for keys, holds, requirement in BOUNDS if keys == (key,)]
