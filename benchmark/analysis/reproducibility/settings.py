"""A record's settings: its stored config against the config of its preset that the record carries.

"released" when a trial ran its preset unchanged, "released + learning_rate=0.0001" when it changed a
key. Both sides come from the record (benchmark.runner.record: `config`, and `defaults` written by
the same code), so today's config code never reinterprets a stored trial.
"""
from __future__ import annotations

import json
import math
from functools import cache

from benchmark.analysis.reproducibility.facts import PAPER_GRID

IGNORED_KEYS = ("model", "dataset", "seed")  # what a trial is, not how it was trained
NOT_RECORDED = "(not recorded)"


def _same(a, b) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _shown(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return " ".join(text.split())



def describe_settings(config: dict, defaults: dict) -> str:
    """How a trial was trained, relative to its preset: `config` and `defaults` are its record's.

    Keys the config holds and the preset's config lacks are shown from the config. A key the
    preset's config has and the trial's lacks (a schema 1 record, whose defaults were resolved later
    by newer code) is assumed to have run at the model's default when the preset leaves that default
    alone, and shown as "(not recorded)" when the preset changes it: older code could not have done
    what the preset asks."""
    preset = config.get("preset")
    name = preset if isinstance(preset, str) else "defaults"
    plain = defaults.get("model")
    reference = defaults.get("preset") if isinstance(preset, str) else plain
    if plain is None or reference is None:  # an unregistered model or a preset its code lacked: say so
        why = defaults.get("error") or "no preset config recorded"
        return f"{name} (not resolvable: {' '.join(str(why).split())[:80]})"
    changes = []
    for key in sorted(set(config) | set(reference)):
        if key in IGNORED_KEYS or key == "preset":
            continue
        if key not in config:
            if not _same(reference[key], plain.get(key)):
                changes.append(f"{key}={NOT_RECORDED}")
        elif key not in reference or not _same(config[key], reference[key]):
            changes.append(f"{key}={_shown(config[key])}")
    return " + ".join([name, *changes])


@cache
def paper_grid_settings(model: str, dataset: str) -> str:
    """The settings the paper grid's plain-base trials of (model, dataset) get today (the grid is today's)."""
    from benchmark.runner.config import resolve
    from benchmark.runner.grid import load_grid
    from benchmark.runner.record import defaults_of

    for block in load_grid(PAPER_GRID).blocks:
        if model in block.models and dataset in block.datasets and (block.matchers is None or "none" in block.matchers):
            config = resolve(model, dataset, block.params, {"seed": block.seeds[0]})
            return describe_settings(config, defaults_of(config))
    return "released"
