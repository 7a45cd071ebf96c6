"""One trial in, one stored outcome out: the unit of work, identical with and without Ray.

A trial that another grid under the same results root already finished, with today's code, is
copied from there instead of trained (`reuse_stored`): its id is the hash of its resolved config
and dataset version, so the same id is the same trial. `force=True` never copies.

While it trains, each epoch goes to the trial's epoch log (`results/<grid>/trials/<id>/epochs.jsonl`),
to TensorBoard when asked (`results/<grid>/tensorboard/<id>/`) and to the caller's hook (the
progress display, or Ray Tune's reporting).
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.runner.inputs import TrialInputs, check_dataset
from benchmark.runner.store import InvalidRecord, RecordExists, ResultStore, StoreUnwritable

if TYPE_CHECKING:
    from benchmark.runner.training.events import EpochEvent

TENSORBOARD = "tensorboard"  # results/<grid>/tensorboard/<trial_id>/: one TensorBoard run per trial

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


def reusable(record: dict) -> bool:
    """Whether another grid may copy this finished record: made by today's code for its model."""
    from benchmark.runner.provenance import is_stale

    return not is_stale(record)


def _adopt(store: ResultStore, trial_id: str, force: bool | str, sources: list[str] | None = None) -> str | None:
    """Under this grid's claim: copy the trial from the first grid (of `sources`, else any) that holds a
    reusable record of it; the grid copied from, or None. Never with `force=True`."""
    if force is True:
        return None
    sources = sources if sources is not None else list(store.find_elsewhere([trial_id], reusable).values())
    for grid in sources:
        try:
            if store.adopt(trial_id, ResultStore(grid, store.root), reusable, force=bool(force)):
                return grid
        except (InvalidRecord, OSError) as error:  # that copy cannot be stored here: train instead
            _warn(f"trial {trial_id}: not copied from grid '{grid}' ({error}); it is trained here")
            return None
    return None


def reuse_stored(store: ResultStore, trial_id: str, source: str, force: bool | str = False) -> str | None:
    """Claim the trial in `store` and copy it from grid `source`, unless another live runner holds it,
    a record kept by `force`'s rule is already here, or the source no longer holds a reusable record:
    the grid copied from, or None (then the trial goes on to be run as usual)."""
    claim = store.claim(trial_id)
    if claim is None:
        return None
    with claim:
        if _keep_stored(store, trial_id, force):
            return None
        return _adopt(store, trial_id, force, [source])


def run_and_store(inputs: TrialInputs, results_root: str | None = None, threads: int | None = None,
                  force: bool | str = False, on_epoch: Callable[[EpochEvent], None] | None = None,
                  tensorboard: bool = False) -> dict:
    """Claim the trial, train it from its resolved `inputs` (`benchmark.runner.inputs`), and store a
    finished or a failed record; never raises for a failing trial (NaN loss, out of memory, bad
    config, missing text, a changed dataset, a full disk), so a grid goes on.

    `force`: False keeps a stored finished record, True replaces it, "stale" replaces it only when
    it was made by other code (`benchmark.runner.provenance`); a replaced record stays until the rerun
    finishes. A trial that another live runner holds is left to it. `on_epoch`: receives each epoch
    (after the epoch log has it); `tensorboard`: also write TensorBoard event files.
    Unless `force=True`, a trial that another grid under the same root finished with today's code
    is copied from it instead (status "reused", "from": that grid).
    Returns {"trial_id", "status": "finished"|"failed"|"exists"|"claimed"|"reused", "seconds", "error"?,
    "recall@20"?, "from"?}. Raises `StoreUnwritable` only when not even the failure can be written."""
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
        source = _adopt(store, trial_id, force)
        if source is not None:  # another grid finished it (perhaps since this run began)
            return {"trial_id": trial_id, "status": "reused", "from": source, "seconds": time.perf_counter() - started}
        sinks = EpochSinks(store, trial_id, on_epoch, tensorboard)
        try:
            return _train_and_store(store, inputs, threads, force, started, sinks)
        finally:
            sinks.close()


def _train_and_store(store: ResultStore, inputs: TrialInputs, threads: int | None, force: bool | str,
                     started: float, on_epoch: Callable[[EpochEvent], None]) -> dict:
    import torch

    from benchmark.runner.trial import train_and_evaluate

    if threads:
        torch.set_num_threads(int(threads))
    trial_id, config = inputs.trial_id, inputs.config
    try:
        check_dataset(inputs)  # the data may have changed since the grid was expanded
        record = train_and_evaluate(inputs, verbose=bool(os.environ.get("DMREC_VERBOSE")), on_epoch=on_epoch)
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


class EpochSinks:
    """The epoch hook of one training trial: its epoch log (a fresh one per attempt), TensorBoard
    when asked, then `on_epoch`. The log and TensorBoard are extras: when they cannot be written,
    one warning, and the trial trains on without them."""

    def __init__(self, store: ResultStore, trial_id: str, on_epoch: Callable[[EpochEvent], None] | None = None,
                 tensorboard: bool = False):
        self.on_epoch, self.writer, self.log = on_epoch, None, None
        try:
            self.log = store.open_epoch_log(trial_id)
            if tensorboard:
                self.writer = _tensorboard_writer(store.folder / TENSORBOARD / trial_id)
        except (OSError, ImportError) as error:
            _warn(f"trial {trial_id}: no epoch log or TensorBoard files ({error})")

    def __call__(self, event: EpochEvent) -> None:
        try:
            if self.log is not None:
                self.log.write(json.dumps(event.as_dict(), sort_keys=True) + "\n")
            if self.writer is not None:
                self.writer.add_scalar("train/loss", event.loss, event.epoch)
                self.writer.add_scalar("train/epoch_seconds", event.seconds, event.epoch)
                for metric, value in event.valid_metrics.items():
                    self.writer.add_scalar(f"valid/{metric}", value, event.epoch)
                self.writer.flush()  # live curves: TensorBoard reads what is on disk
        except OSError as error:
            _warn(f"the epoch log and TensorBoard files stop at epoch {event.epoch - 1} ({error})")
            self.close()
        if self.on_epoch is not None:
            self.on_epoch(event)

    def close(self) -> None:
        for sink in (self.log, self.writer):
            if sink is not None:
                try:
                    sink.close()
                except OSError:
                    pass
        self.log = self.writer = None


def _tensorboard_writer(folder: Path):
    from torch.utils.tensorboard import SummaryWriter

    for earlier in folder.glob("events.out.tfevents.*"):  # a rerun starts fresh curves, as its epoch log does
        earlier.unlink()
    return SummaryWriter(log_dir=str(folder))


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
