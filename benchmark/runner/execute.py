"""One trial in, one stored outcome out: the unit of work, identical with and without Ray."""
from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from benchmark.runner.inputs import TrialInputs, check_dataset
from benchmark.runner.store import InvalidRecord, RecordExists, ResultStore, StoreUnwritable

REPLACE_STALE = "stale"  # `force` value: replace a finished record only when other code made it


def _keep_stored(store: ResultStore, trial_id: str, force: bool | str) -> bool:
    """Whether a finished record already stored for this trial stands (checked under the claim)."""
    if force is True:
        return False
    try:
        record = store.read_record(trial_id)
    except KeyError:
        return False
    if force == REPLACE_STALE:
        from benchmark.runner.provenance import is_stale

        return not is_stale(record)
    return True


def run_and_store(inputs: TrialInputs, results_root: str | None = None, threads: int | None = None,
                  force: bool | str = False) -> dict:
    """Claim the trial, train it from its resolved `inputs` (`benchmark.runner.inputs`), and store a
    finished or a failed record; never raises for a failing trial (NaN loss, out of memory, bad
    config, missing text, a changed dataset, a full disk), so a grid goes on.

    `force`: False keeps a stored finished record, True replaces it, "stale" replaces it only when
    it was made by other code (`benchmark.runner.provenance`); a replaced record stays until the rerun
    finishes. A trial that another live runner holds is left to it.
    Returns {"trial_id", "status": "finished"|"failed"|"exists"|"claimed", "seconds", "error"?,
    "recall@20"?}. Raises `StoreUnwritable` only when not even the failure can be written."""
    started = time.perf_counter()
    trial_id = inputs.trial_id
    store = ResultStore(inputs.grid, Path(results_root) if results_root else None)
    try:
        claim = store.claim(trial_id)
    except OSError as error:
        raise StoreUnwritable(f"{store.claims_dir}: cannot write a claim ({error.strerror or error})") from None
    if claim is None:
        return {"trial_id": trial_id, "status": "claimed", "seconds": 0.0}
    with claim:
        if _keep_stored(store, trial_id, force):  # another runner finished it meanwhile
            return {"trial_id": trial_id, "status": "exists", "seconds": time.perf_counter() - started}
        return _train_and_store(store, inputs, threads, force, started)


def _train_and_store(store: ResultStore, inputs: TrialInputs, threads: int | None, force: bool | str,
                     started: float) -> dict:
    import torch

    from benchmark.runner.trial import train_and_evaluate

    if threads:
        torch.set_num_threads(int(threads))
    trial_id, config = inputs.trial_id, inputs.config
    try:
        check_dataset(inputs)  # the data may have changed since the grid was expanded
        record = train_and_evaluate(inputs, verbose=bool(os.environ.get("DMREC_VERBOSE")))
    except Exception as error:  # noqa: BLE001 (every kind of trial failure is recorded, then the grid goes on)
        return _failed(store, trial_id, config, f"{type(error).__name__}: {error}", started)
    try:
        store.write_finished(trial_id, record, force=bool(force))
    except RecordExists:  # only without force, which the claim rules out; keep the stored one
        return {"trial_id": trial_id, "status": "exists", "seconds": time.perf_counter() - started}
    except InvalidRecord as error:  # e.g. NaN metrics: never a finished record
        return _failed(store, trial_id, config, str(error), started)
    except OSError as error:  # ENOSPC, EROFS, ...: the trained result is lost, the failure may still be kept
        return _failed(store, trial_id, config, f"storing the result failed: {error}", started)
    return {"trial_id": trial_id, "status": "finished", "seconds": time.perf_counter() - started,
            "recall@20": record["metrics"]["test"].get("recall@20")}


def _failed(store: ResultStore, trial_id: str, config: dict, error: str, started: float) -> dict:
    try:
        store.write_failed(trial_id, config, error, traceback.format_exc())
    except OSError as unwritable:
        raise StoreUnwritable(f"{store.folder}: cannot store trial {trial_id} nor its failure "
                              f"({unwritable.strerror or unwritable}); the grid stops here") from None
    return {"trial_id": trial_id, "status": "failed", "seconds": time.perf_counter() - started, "error": error}
