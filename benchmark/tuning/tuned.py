"""The tuned grid: each cell's best stored sample, written as a grid yaml with every value resolved.

    <results root>/<grid>_tuned.yaml     one block per cell: its dataset, model and matcher, the
                                         seeds, and `params` = the best sample's full config

It is an ordinary grid: `python -m benchmark.run --grid <results root>/<grid>_tuned.yaml` runs it
into the store `<grid>_tuned` (the grid's name is the file's stem), and the analysis puts those
runs beside the untuned ones (benchmark/analysis/tuned.py).
"""
from __future__ import annotations

from pathlib import Path

import yaml

from benchmark.core.atomic import atomic_write
from benchmark.tuning.cells import TUNED_SUFFIX, Cell
from benchmark.tuning.history import StoredSample, best_sample

AXIS_KEYS = ("model", "dataset", "matcher", "seed")  # a block sets these with its own axes


def tuned_grid_path(results_root: Path, grid: str) -> Path:
    return Path(results_root) / f"{grid}{TUNED_SUFFIX}.yaml"


def tuned_blocks(picks: list[tuple[Cell, StoredSample, dict, int]], seeds: int) -> list[dict]:
    """One grid block per (cell, best sample, its config, samples spent)."""
    blocks = []
    for cell, best, config, spent in picks:
        block = {"name": f"{cell.key} (best of {spent} samples: {best.trial_id})", "datasets": [cell.dataset],
                 "models": [cell.model], "seeds": seeds,
                 "params": {k: v for k, v in config.items() if k not in AXIS_KEYS}}
        if cell.matcher != "none" or "matcher" in config:
            block["matchers"] = [cell.matcher]
        blocks.append(block)
    return blocks


def write_tuned_grid(path: Path, grid: str, blocks: list[dict], budget: str) -> Path:
    content = {"description": f"Grid '{grid}' tuned on validation Recall@20 with {budget} per "
                              f"(dataset, model, matcher) cell (python -m benchmark.tune); each block's "
                              f"params are the resolved config of the cell's best sample.",
               "blocks": blocks}
    text = "# Written by python -m benchmark.tune; rerunning the search rewrites it.\n"
    text += yaml.safe_dump(content, sort_keys=False, default_flow_style=None, width=120)
    return atomic_write(path, text)


def pick_best(cell: Cell, samples: list[StoredSample], store) -> tuple[Cell, StoredSample, dict, int] | None:
    best = best_sample(samples)
    if best is None:
        return None
    return cell, best, store.read_record(best.trial_id)["config"], len(samples)
