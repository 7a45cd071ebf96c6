"""Layered trial configuration, resolved in one place.

Precedence (later wins): suite protocol (`benchmark/protocol.yaml`) < the model's defaults yaml
< that yaml's `datasets: {<dataset>: {...}}` entry < the grid < the command line. Keys that
neither the protocol nor the model declares are rejected, so a typo never silently runs the
default. The result is a plain dict of plain values (what Ray workers receive).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from benchmark.models import get_spec

PROTOCOL_PATH = Path(__file__).with_name("protocol.yaml")
TRIAL_KEYS = ("model", "dataset")  # identify the trial; not hyperparameters


class ConfigError(ValueError):
    """An unknown key, a bad value, or a malformed yaml; the message names where."""


@lru_cache(maxsize=None)
def _read_yaml(path: str) -> dict:
    try:
        with open(path) as handle:
            content = yaml.safe_load(handle) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: defaults file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid yaml ({error})") from None
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return content


def protocol_defaults() -> dict:
    return dict(_read_yaml(str(PROTOCOL_PATH)))


def model_defaults(model: str) -> tuple[dict, dict, dict]:
    """(defaults, per-dataset overrides, named presets) from the model's yaml."""
    path = get_spec(model).defaults_path()
    content = dict(_read_yaml(str(path)))
    per_dataset = content.pop("datasets", None) or {}
    presets = content.pop("presets", None) or {}
    return content, per_dataset, presets


def known_keys(model: str) -> set[str]:
    defaults, _, _ = model_defaults(model)
    return set(protocol_defaults()) | set(defaults) | {"preset"}


def resolve(model: str, dataset: str, *layers: dict) -> dict:
    """The full config of one trial: protocol < model < model@dataset < preset < each layer."""
    defaults, per_dataset, presets = model_defaults(model)
    allowed = set(protocol_defaults()) | set(defaults)
    resolved = {**protocol_defaults(), **defaults}
    path = get_spec(model).defaults_path()
    for where, layer in [(f"{path} datasets.{dataset}", per_dataset.get(dataset) or {}), *[
        (f"override {i + 1}", layer) for i, layer in enumerate(layers)
    ]]:
        layer = dict(layer)
        preset = layer.pop("preset", None)
        if preset is not None:
            if preset not in presets:
                raise ConfigError(f"{where}: model '{model}' has no preset '{preset}' (has: {', '.join(presets) or 'none'})")
            resolved.update(presets[preset])
            resolved["preset"] = preset
        unknown = sorted(set(layer) - allowed - set(TRIAL_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown} for model '{model}' (known: {', '.join(sorted(allowed))})")
        resolved.update({k: v for k, v in layer.items() if k not in TRIAL_KEYS})
    resolved["model"] = model
    resolved["dataset"] = dataset
    return resolved
