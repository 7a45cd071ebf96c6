"""One trial in, one stored outcome out: the unit of work, identical with and without Ray."""
from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from benchmark.store import RecordExists, ResultStore


def execute_trial(trial_id: str, grid: str, config: dict, dataset_version: str, results_root: str | None = None,
                  threads: int | None = None, force: bool = False) -> dict:
    """Train `config`, write a finished or a failed record into the store, and never raise for a
    failing trial (NaN loss, out of memory, bad config, missing text), so a grid goes on.
    Returns {"trial_id", "status": "finished"|"failed"|"exists", "seconds", "error"?, "recall@20"?}."""
    import torch

    from benchmark.data.prepared import read_meta
    from benchmark.trial import run_trial

    if threads:
        torch.set_num_threads(int(threads))
    store = ResultStore(grid, Path(results_root) if results_root else None)
    started = time.perf_counter()
    try:
        current = read_meta(config["dataset"]).get("version")
        if current != dataset_version:
            raise RuntimeError(f"dataset '{config['dataset']}' changed since the grid was expanded "
                               f"(version {dataset_version} -> {current}); run the grid again")
        record = run_trial(dict(config), verbose=bool(os.environ.get("DMREC_VERBOSE")))
    except Exception as error:  # noqa: BLE001 (every kind of trial failure is recorded, then the grid goes on)
        store.write_failed(trial_id, config, error, traceback.format_exc())
        return {"trial_id": trial_id, "status": "failed", "seconds": time.perf_counter() - started,
                "error": f"{type(error).__name__}: {error}"}
    try:
        store.write_finished(trial_id, record, force=force)
    except RecordExists:  # another run of the same grid stored it first; keep that one
        return {"trial_id": trial_id, "status": "exists", "seconds": time.perf_counter() - started}
    return {"trial_id": trial_id, "status": "finished", "seconds": time.perf_counter() - started,
            "recall@20": record["metrics"]["test"].get("recall@20")}
