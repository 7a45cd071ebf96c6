"""Layered trial configuration, resolved in one place.

Precedence (later wins): suite protocol (`benchmark/runner/protocol.yaml`) < the model's defaults yaml
(after its `extends:` chain) < that yaml's `datasets:` entry for the dataset < each layer (the
grid's params, its matcher, sweep point and seed, the command line). A layer's `preset: NAME`
applies the model's `presets: {NAME: {...}}` entry just before that layer's own keys: first the
preset's own values, then the preset's own `datasets:` entry for the dataset (`presets: {NAME:
{..., datasets: {yelp: {...}}}}`, chosen by the same rule as the top-level one). So a model's
settings by dataset live in its top-level `datasets:` when they belong to the model whatever the
preset (Mult-VAE's input dropout), and in the preset's `datasets:` when they belong to the preset's
source only (RLMRec's LightGCN with 2 layers on Steam); either way a grid's or the command line's
keys still win.

Every value is checked once, here, against the type comment its yaml declares (`# (float|null)`,
`# (str) adam | adamw | sgd`) and the bounds below; keys that neither the protocol nor the model
declares are rejected, so a typo never silently runs the default. Values decided at run time (β
from the released table, per-dataset entries, presets) are resolved to plain values before the
trial id hashes the config. The result is a plain dict of plain values (what Ray workers receive).

One rule for dataset names: a dataset called `<paper>` or `<paper>-<anything>` (paper = amazon,
yelp, steam) stands for that paper dataset: it takes the model yaml's `datasets: {<paper>: ...}`
entry unless the yaml has an entry under its own name, and the released β of `<paper>`.
"""
from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from baselines.registry import get_spec
from benchmark.core.paper import paper_dataset

PROTOCOL_PATH = Path(__file__).with_name("protocol.yaml")
TRIAL_KEYS = ("model", "dataset")  # identify the trial; not hyperparameters
AXES = ("model", "dataset", "matcher", "seed")  # a grid's axes: the command line may not `--set` them
COMMAND_LINE = "--set"  # the source of a `Layer` that holds the command line's values
STRUCTURE_KEYS = ("extends", "datasets", "presets", "search")  # model yaml keys that are not config values
TYPE_KINDS = ("int", "float", "bool", "str", "list", "dict", "null")


class ConfigError(ValueError):
    """An unknown key, a bad value, or a malformed yaml; the message names where."""


class Layer(dict):
    """A layer of overrides that names its source in error messages (`Layer(values, "--set")`)."""

    def __init__(self, values=(), source: str = ""):
        super().__init__(values)
        self.source = source


# --- bounds: values no trial can run with (checked on the resolved config, where keys exist) ---

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


# --- reading yaml: one file, the `extends:` chain, the type comments --------------------------

@cache
def _read_yaml(path: str) -> dict:
    try:
        with open(path) as handle:
            content = yaml.safe_load(handle) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: defaults file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid yaml ({' '.join(str(error).split())})") from None
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return content


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


def _merge_entries(base: dict, own: dict) -> dict:
    """`datasets`/`presets` of an extended and an extending file: per entry, then per key."""
    merged = {name: dict(entry or {}) for name, entry in base.items()}
    for name, entry in own.items():
        entry = entry or {}
        merged[name] = {**merged.get(name, {}), **entry}
        if "datasets" in entry or "datasets" in merged[name]:  # a preset's own `datasets:`, merged the same way
            merged[name]["datasets"] = _merge_entries((base.get(name) or {}).get("datasets") or {},
                                                      entry.get("datasets") or {})
    return merged


@cache
def _model_file(path: str, chain: tuple[str, ...] = ()) -> tuple[dict, dict, tuple[str, ...]]:
    """(merged content, merged type comments, files read) of a model yaml after its `extends:` chain."""
    if path in chain:
        raise ConfigError(f"{path}: 'extends' makes a cycle ({' -> '.join((*chain, path))})")
    content = dict(_read_yaml(path))
    types = dict(declared_types(path))
    extends = content.pop("extends", None)
    for name in STRUCTURE_KEYS[1:]:
        entries = content.get(name) or {}
        if not isinstance(entries, dict) or not all(isinstance(e or {}, dict) for e in entries.values()):
            raise ConfigError(f"{path}: '{name}' must be a mapping of names to mappings")
    for preset, entry in (content.get("presets") or {}).items():
        scoped = (entry or {}).get("datasets") or {}
        if not isinstance(scoped, dict) or not all(isinstance(e or {}, dict) for e in scoped.values()):
            raise ConfigError(f"{path}: 'presets.{preset}.datasets' must be a mapping of names to mappings")
    if extends is None:
        return content, types, (path,)
    if not isinstance(extends, str):
        raise ConfigError(f"{path}: 'extends' must be a relative path to another yaml, not {extends!r}")
    parent_path = str((Path(path).parent / extends).resolve())
    parent, parent_types, files = _model_file(parent_path, (*chain, path))
    merged = {**parent, **content}
    for name in STRUCTURE_KEYS[1:]:
        merged[name] = _merge_entries(parent.get(name) or {}, content.get(name) or {})
    merged["search"] = {**(parent.get("search") or {}), **(content.get("search") or {})}  # a range is replaced whole
    return merged, {**parent_types, **types}, (*files, path)


_DEFAULTS_PATHS: dict[tuple, str] = {}  # (name, target, defaults) -> absolute yaml path: finding it imports


def _model_path(model: str) -> str:
    spec = get_spec(model)
    key = (spec.name, str(spec.target), spec.defaults)
    if key not in _DEFAULTS_PATHS:
        _DEFAULTS_PATHS[key] = str(Path(spec.defaults_path()).resolve())
    return _DEFAULTS_PATHS[key]


@cache
def _model_parts(path: str) -> tuple[dict, dict, dict, dict]:
    """(defaults, datasets, presets, key types) of one model yaml; shared: callers copy."""
    content, own_types, _ = _model_file(path)
    content = dict(content)
    per_dataset = content.pop("datasets", None) or {}
    presets = content.pop("presets", None) or {}
    content.pop("search", None)  # ranges for benchmark.tune (`search_space`), never a trial key
    protocol = declared_types(str(PROTOCOL_PATH))
    types = {**protocol, **{k: t if t is not None else protocol.get(k) for k, t in own_types.items()}}
    return content, per_dataset, presets, types


def defaults_files(model: str) -> tuple[Path, ...]:
    """Every yaml that a model's defaults read (its `extends:` chain, base first)."""
    return tuple(Path(p) for p in _model_file(_model_path(model))[2])


def protocol_defaults() -> dict:
    return dict(_read_yaml(str(PROTOCOL_PATH)))


def model_defaults(model: str) -> tuple[dict, dict, dict]:
    """(defaults, per-dataset overrides, named presets) from the model's yaml."""
    defaults, per_dataset, presets, _ = copy.deepcopy(_model_parts(_model_path(model)))
    return defaults, per_dataset, presets


def known_keys(model: str) -> set[str]:
    defaults, _, _ = model_defaults(model)
    return set(protocol_defaults()) | set(defaults) | {"preset"}


# --- dataset names and β ------------------------------------------------------------------------

def dataset_entry(dataset: str, per_dataset: dict) -> str | None:
    """Which `datasets:` entry of a model yaml applies: the dataset's own, else its paper dataset's."""
    if dataset in per_dataset:
        return dataset
    paper = paper_dataset(dataset)
    return paper if paper in per_dataset else None


def beta_for(matcher: str, dataset: str, beta) -> float | None:
    """The β a trial runs with: the given number; for `null` the released code's value for
    (matcher, paper dataset), else DEFAULT_BETA; None for a matcher that uses no β."""
    from dmrec.matchers import get_matcher, released_beta

    if not get_matcher(matcher).uses_beta:
        return None
    return float(beta) if beta is not None else released_beta(matcher, paper_dataset(dataset))


# --- checking values ----------------------------------------------------------------------------

def _allowed_choices(key: str, key_type: KeyType) -> tuple[str, ...]:
    if key == "matcher":  # the registry, not a comment, says which matchers exist
        from dmrec.matchers import MATCHERS

        return tuple(MATCHERS)
    return key_type.choices


def _admits(kind: str, value) -> bool:
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
    if not any(_admits(kind, value) for kind in key_type.kinds):
        raise ConfigError(f"{where}: {key} must be {key_type.text}, not {value!r}")
    if isinstance(value, str):
        choices = _allowed_choices(key, key_type)
        if choices and value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(f"{where}: unknown {key} {value!r} ({hint}choices: {' | '.join(choices)})")
    if "float" in key_type.kinds and "int" not in key_type.kinds and _admits("int", value):
        return float(value)
    return value


def _check_bounds(resolved: dict, sources: dict) -> None:
    for keys, holds, requirement in BOUNDS:
        if not all(k in resolved for k in keys):
            continue
        if not holds(*(resolved[k] for k in keys)):
            shown = ", ".join(f"{k}={resolved[k]!r}" for k in keys[1:])
            raise ConfigError(f"{sources[keys[0]]}: {keys[0]}={resolved[keys[0]]!r} must be {requirement}"
                              + (f" ({shown})" if shown else ""))


# --- resolving ----------------------------------------------------------------------------------

def resolve(model: str, dataset: str, *layers: dict) -> dict:
    """The full config of one trial: protocol < model < model@dataset < preset < preset@dataset < each layer."""
    path = _model_path(model)
    defaults, per_dataset, presets, types = _model_parts(path)
    resolved: dict = {}
    sources: dict[str, str] = {}

    def apply(values: dict, where: str) -> None:
        for key, value in values.items():
            resolved[key] = check_value(key, value, types.get(key), where)
            sources[key] = where

    apply(protocol_defaults(), str(PROTOCOL_PATH))
    apply(defaults, path)
    allowed = set(resolved)
    entry = dataset_entry(dataset, per_dataset)
    named = [(f"{path} datasets.{entry}", per_dataset[entry] or {})] if entry is not None else []
    named += [(getattr(layer, "source", "") or f"override {i + 1}", layer) for i, layer in enumerate(layers)]
    for where, layer in named:
        layer = dict(layer)
        if where == COMMAND_LINE:
            axes = [k for k in AXES if k in layer]
            if axes:
                raise ConfigError(f"{where} {axes[0]}=...: '{axes[0]}' is an axis of the grid; "
                                  f"choose it with --{axes[0]}s")
        preset = layer.pop("preset", None)
        if preset is not None:
            if not isinstance(preset, str) or preset not in presets:
                raise ConfigError(f"{where}: model '{model}' has no preset {preset!r} "
                                  f"(has: {', '.join(presets) or 'none'})")
            for preset_where, values in preset_layers(presets, preset, dataset, f"{path} presets.{preset}"):
                _reject_unknown(values, allowed, model, preset_where)
                apply(values, preset_where)
            resolved["preset"] = preset
        _reject_unknown(layer, allowed, model, where)
        apply({k: v for k, v in layer.items() if k not in TRIAL_KEYS}, where)
    if "matcher" in resolved and "beta" in resolved:
        resolved["beta"] = beta_for(resolved["matcher"], dataset, resolved["beta"])
    _check_bounds(resolved, sources)
    resolved["model"] = model
    resolved["dataset"] = dataset
    return copy.deepcopy(resolved)


def preset_layers(presets: dict, name: str, dataset: str, where: str) -> list[tuple[str, dict]]:
    """What `preset: name` applies, in order: (where, values) of the preset's own values, then of its
    `datasets:` entry for the dataset (by `dataset_entry`'s rule), when it has one."""
    values = dict(presets[name] or {})
    per_dataset = values.pop("datasets", None) or {}
    layers = [(where, values)]
    entry = dataset_entry(dataset, per_dataset)
    if entry is not None:
        layers.append((f"{where}.datasets.{entry}", dict(per_dataset[entry] or {})))
    return layers


def _reject_unknown(layer: dict, allowed: set[str], model: str, where: str) -> None:
    unknown = sorted(set(layer) - allowed - set(TRIAL_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for model '{model}' "
                          f"(known: {', '.join(sorted(allowed))})")


# --- search spaces: a model yaml's `search:` section, for benchmark.tune ------------------------

SEARCH_FIELDS = ({"low", "high", "log"}, {"choices"})  # a range, or a list of choices


@dataclass(frozen=True)
class SearchRange:
    """One searched key: a `low..high` range (sampled on a log scale when `log`) or `choices`."""
    key: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple = ()

    @property
    def is_int(self) -> bool:
        return not self.choices and isinstance(self.low, int) and isinstance(self.high, int)

    def as_dict(self) -> dict:
        """The yaml entry it came from, normalised (what a stored search sample records)."""
        if self.choices:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log}


def _single_key_bounds(key: str) -> list[tuple[Callable[..., bool], str]]:
    return [(holds, requirement) for keys, holds, requirement in BOUNDS if keys == (key,)]


def _search_range(key: str, entry, key_type: KeyType | None, where: str) -> SearchRange:
    if not isinstance(entry, dict) or set(entry) not in ({"low", "high"}, *SEARCH_FIELDS):
        raise ConfigError(f"{where}: expected {{low, high, log: true|false}} or {{choices: [...]}}, got {entry!r}")
    if "choices" in entry:
        choices = entry["choices"]
        if not isinstance(choices, list) or len(choices) < 2:
            raise ConfigError(f"{where}: choices must be a list of at least two values, got {choices!r}")
        values = [check_value(key, value, key_type, where) for value in choices]
        if len({repr(v) for v in values}) != len(values):
            raise ConfigError(f"{where}: choices repeat a value ({choices!r})")
        for value in values:
            for holds, requirement in _single_key_bounds(key):
                if not holds(value):
                    raise ConfigError(f"{where}: choice {key}={value!r} must be {requirement}")
        return SearchRange(key, choices=tuple(values))
    kinds = key_type.kinds if key_type is not None else ()
    if "int" not in kinds and "float" not in kinds:
        raise ConfigError(f"{where}: {key} is ({key_type.text if key_type else 'untyped'}): only int and float "
                          f"keys take a low..high range; give choices instead")
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log must be true or false, got {log!r}")
    integer = "int" in kinds and "float" not in kinds
    bounds = []
    for name in ("low", "high"):
        value = entry[name]
        if not _admits("int" if integer else "float", value):
            raise ConfigError(f"{where}: {name} must be {'an int' if integer else 'a finite number'} "
                              f"(the key is ({key_type.text})), got {value!r}")
        for holds, requirement in _single_key_bounds(key):
            if not holds(value):
                raise ConfigError(f"{where}: {name} {key}={value!r} must be {requirement}")
        bounds.append(value if integer else float(value))
    low, high = bounds
    if not low < high:
        raise ConfigError(f"{where}: low ({low!r}) must be below high ({high!r})")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got {low!r}")
    return SearchRange(key, low, high, log)


def search_space(model: str) -> dict[str, SearchRange]:
    """The model yaml's `search:` section, checked: every key declared by the model (or the
    protocol), not a grid axis, each a range within the key's type and `BOUNDS` or a list of
    valid choices. Empty when the yaml has none."""
    path = _model_path(model)
    content, _, _ = _model_file(path)
    section = content.get("search") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: 'search' must be a mapping of keys to ranges")
    types = _model_parts(path)[3]
    allowed = known_keys(model) - {"preset"}
    space = {}
    for key, entry in section.items():
        where = f"{path} search.{key}"
        if key in AXES or key in TRIAL_KEYS:
            raise ConfigError(f"{where}: '{key}' is an axis of the grid, not a searched value")
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            raise ConfigError(f"{where}: model '{model}' declares no key '{key}'"
                              + (f" (did you mean '{close[0]}'?)" if close else ""))
        space[key] = _search_range(key, entry, types.get(key), where)
    return space
