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
`# (str) adam | adamw | sgd`) and the bounds of `benchmark.runner.values`; keys that neither the protocol nor the model
declares are rejected, so a typo never silently runs the default. Values decided at run time (β
from the released table, per-dataset entries, presets) are resolved to plain values before the
trial id hashes the config. The result is a plain dict of plain values (what Ray workers receive).

One rule for dataset names: a dataset called `<paper>` or `<paper>-<anything>` (paper = amazon,
yelp, steam) stands for that paper dataset: it takes the model yaml's `datasets: {<paper>: ...}`
entry unless the yaml has an entry under its own name, and the released β of `<paper>`.
"""
from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import yaml

from baselines.registry import get_spec
from benchmark.core.errors import ConfigError
from benchmark.core.paper import paper_dataset
from benchmark.runner.values import STRUCTURE_KEYS, check_bounds, check_value, declared_types

PROTOCOL_PATH = Path(__file__).with_name("protocol.yaml")
TRIAL_KEYS = ("model", "dataset")  # identify the trial; not hyperparameters
AXES = ("model", "dataset", "matcher", "seed")  # a grid's axes: the command line may not `--set` them
COMMAND_LINE = "--set"  # the source of a `Layer` that holds the command line's values


class Layer(dict):
    """A layer of overrides that names its source in error messages (`Layer(values, "--set")`)."""

    def __init__(self, values=(), source: str = ""):
        super().__init__(values)
        self.source = source


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
    check_bounds(resolved, sources)
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


def model_yaml(model: str) -> tuple[str, dict, dict]:
    """(path, content after the `extends:` chain, key types) of a model's defaults yaml, as read for
    resolving: what `benchmark.tuning.space` reads the `search:` section from."""
    path = _model_path(model)
    content, _, _ = _model_file(path)
    return path, content, _model_parts(path)[3]
