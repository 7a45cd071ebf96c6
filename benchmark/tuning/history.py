"""The samples a cell has already spent, read back from the `<grid>_search` store.

A stored sample counts for a cell when its config is the cell's base config with only searched
keys changed, each to a value inside the current search space, on the same dataset version; so
a rerun resumes where the last one stopped, and a sample of an older base config or an older
range is left alone (it still sits in the store). Failed samples count too: they spent budget.
Samples are read through the store, so every field used here has been checked
(benchmark.runner.record); a record or failure of another shape is named once and left out.
"""
from __future__ import annotations

from dataclasses import dataclass

from benchmark.runner.store import ResultStore
from benchmark.tuning.cells import Cell
from benchmark.tuning.sample import SELECTION_METRIC
from benchmark.tuning.space import SearchRange


@dataclass(frozen=True)
class StoredSample:
    trial_id: str
    sampled: dict  # the searched keys' values
    score: float | None  # best validation Recall@20; None for a failed sample
    validations: tuple[float, ...]  # validation Recall@20 of each validation, in order
    ended: str | None  # "completed" | "stopped" | None (killed) | "failed"
    seconds: float
    started_at: str


def inside(value, search_range: SearchRange) -> bool:
    if search_range.choices:
        return any(value == c and type(value) is type(c) for c in search_range.choices)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if search_range.is_int and not isinstance(value, int):
        return False
    return search_range.low <= value <= search_range.high


def sampled_values(cell: Cell, config: dict, space: dict[str, SearchRange]) -> dict | None:
    """The searched values of `config` when it is a sample of `cell` in `space`, else None."""
    identity = (config.get("model"), config.get("dataset"), config.get("matcher") or "none")
    if identity != (cell.model, cell.dataset, cell.matcher):
        return None
    fixed = {k: v for k, v in cell.base.items() if k not in space}
    if {k: v for k, v in config.items() if k not in space} != fixed:
        return None
    values = {k: config.get(k) for k in space}
    return values if all(inside(values[k], space[k]) for k in space) else None


def stored_sample(cell: Cell, record: dict, space: dict[str, SearchRange]) -> StoredSample | None:
    """The sample a checked finished record is of `cell`, or None (another cell, range or dataset
    version, or not a tuning sample at all)."""
    search = record.get("search")
    values = sampled_values(cell, record["config"], space)
    if search is None or values is None or record.get("dataset_version") != cell.dataset_version:
        return None
    curve = tuple(float(row.get(SELECTION_METRIC, 0.0)) for row in record.get("curve") or [])
    score = float(record["metrics"]["valid"].get(SELECTION_METRIC, 0.0))
    seconds = float((record.get("timings") or {}).get("total_s", 0.0))
    return StoredSample(record["trial_id"], values, score, curve, search.get("ended"), seconds,
                        str(search.get("started_at", record.get("finished_at", ""))))


def cell_samples(store: ResultStore, cell: Cell) -> list[StoredSample]:
    """Every stored sample of `cell` (finished and failed), in the order they started."""
    space = cell.space()
    samples = [s for s in (stored_sample(cell, record, space) for record in store.records()) if s is not None]
    for trial_id in sorted(store.failed_ids()):
        try:
            failed = store.read_failed(trial_id)
        except KeyError:
            continue
        values = sampled_values(cell, failed["config"], space)
        if values is not None:
            samples.append(StoredSample(trial_id, values, None, (), "failed", 0.0, str(failed.get("failed_at", ""))))
    return sorted(samples, key=lambda s: (s.started_at, s.trial_id))


def best_sample(samples: list[StoredSample]) -> StoredSample | None:
    """The sample with the best validation Recall@20 (ties: the earliest)."""
    scored = [s for s in samples if s.score is not None]
    return max(scored, key=lambda s: s.score) if scored else None
