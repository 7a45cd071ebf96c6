"""Stored tuning samples written through the real store, and the shapes a hand-edited one can take."""
from __future__ import annotations

import json

from benchmark.runner.config import resolve
from benchmark.runner.store import ResultStore
from benchmark.tuning.cells import Cell


def mddm_cell() -> Cell:
    """Mult-VAE + MDDM on `tiny` (nothing prepared: a cell needs only configs)."""
    base = resolve("multvae", "tiny", {"matcher": "mddm", "seed": 0, "epochs": 6, "eval_step": 2})
    return Cell("tiny", "multvae", "mddm", base=base, dataset_version="v1", block="smoke")


def store_sample(store: ResultStore, cell: Cell, learning_rate: float, score: float) -> str:
    """A finished sample of `cell` at `learning_rate` with validation Recall@20 `score`; its id."""
    config = cell.sampled_config({"learning_rate": learning_rate})
    trial_id = cell.sample_id(config)
    store.write_finished(trial_id, {
        "config": config, "dataset_version": cell.dataset_version,
        "metrics": {"valid": {"recall@20": score, "ndcg@20": score / 2}, "test": {}},
        "best_epoch": 2, "epochs_run": 4, "curve": [{"epoch": 2, "recall@20": score}, {"epoch": 4, "recall@20": 0.0}],
        "timings": {"total_s": 3.0}, "env": {}, "provenance": {},
        "search": {"cell": cell.key, "ended": "completed",
                   "started_at": f"2026-01-01T00:00:0{learning_rate * 1e3:.0f}"}})
    return trial_id


def edit_record(store: ResultStore, trial_id: str, change) -> None:
    path = store.record_path(trial_id)
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


# hand edits that each used to end `python -m benchmark.tune` (and the analysis) in a traceback
BROKEN_SAMPLES = {
    "curve of text": lambda r: r.__setitem__("curve", ["x"]),
    "no metrics.valid": lambda r: r["metrics"].pop("valid"),
    "total_s is text": lambda r: r["timings"].__setitem__("total_s", "abc"),
    "search is a list": lambda r: r.__setitem__("search", ["completed"]),
}
