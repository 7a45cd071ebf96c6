"""One trial in, one stored outcome out: the unit of work, identical with and without Ray. A group of
sibling trials (`run_group_and_store`) is the same unit member by member, its members trained together;
`run_and_store` is a group of one.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.runner.inputs import TrialInputs, check_dataset
from benchmark.runner.store import Claim, InvalidRecord, RecordExists, ResultStore, StoreUnwritable

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


def _take(store: ResultStore, trial_id: str, force: bool | str, started: float) -> tuple[Claim | None, dict | None]:
    """Claim the trial and settle what needs no training: (its held claim, None) when it is to be
    trained; else (None, its outcome): another runner holds it ("claimed"), a record kept by `force`'s
    rule is stored ("exists"), or another grid's record was copied ("reused")."""
    try:
        claim = store.claim(trial_id)
    except OSError as error:
        raise StoreUnwritable(f"{store.claims_dir}: cannot write a claim ({error.strerror or error})") from None
    if claim is None:
        return None, {"trial_id": trial_id, "status": "claimed", "seconds": 0.0}
    try:
        outcome = None
        if _keep_stored(store, trial_id, force):  # another runner finished it meanwhile
            outcome = {"trial_id": trial_id, "status": "exists", "seconds": time.perf_counter() - started}
        elif (source := _adopt(store, trial_id, force)) is not None:  # another grid finished it (perhaps lately)
            outcome = {"trial_id": trial_id, "status": "reused", "from": source,
                       "seconds": time.perf_counter() - started}
    except BaseException:
        claim.release()
        raise
    if outcome is not None:
        claim.release()
        return None, outcome
    return claim, None


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
    "recall@20"?, "from"?}. Raises `StoreUnwritable` only when not even the failure can be written.
    A group of one: see `run_group_and_store`."""
    return run_group_and_store([inputs], results_root, threads, force, on_epoch=[on_epoch], tensorboard=tensorboard)[0]


@dataclass
class _Member:
    """A group member being trained: where its outcome goes, its claim and its epoch sinks."""

    index: int  # its place in the group
    inputs: TrialInputs
    store: ResultStore
    claim: Claim
    sinks: EpochSinks

    def close(self) -> None:
        self.sinks.close()
        self.claim.release()


def run_group_and_store(members: Sequence[TrialInputs], results_root: str | None = None, threads: int | None = None,
                        force: bool | str = False,
                        on_epoch: Sequence[Callable[[EpochEvent], None] | None] | None = None,
                        tensorboard: bool = False, on_outcome: Callable[[int, dict], None] | None = None) -> list[dict]:
    """`run_and_store` for sibling trials (`benchmark.runner.groups`), member by member: each is
    claimed, kept, copied or trained by `force`'s rule; the ones left train in ONE `train_group`
    call, and each is stored (and its claim released) as soon as it ends, so a group stopped mid-way
    keeps the members that had ended. `on_epoch[i]`: member i's epoch hook; `on_outcome(i, outcome)`:
    called as soon as member i's outcome is settled (stored). Returns one outcome per member, as
    `run_and_store` returns it, in the members' order."""
    started = time.perf_counter()
    hooks = list(on_epoch) if on_epoch is not None else [None] * len(members)
    outcomes = _Outcomes(len(members), on_outcome)
    training: list[_Member] = []
    try:
        for index, inputs in enumerate(members):
            store = ResultStore(inputs.grid, Path(results_root) if results_root else None)
            claim, outcome = _take(store, inputs.trial_id, force, started)
            if claim is None:
                outcomes[index] = outcome
                continue
            sinks = EpochSinks(store, inputs.trial_id, hooks[index], tensorboard)
            training.append(_Member(index, inputs, store, claim, sinks))
        if training:
            _train_members(training, outcomes, threads, force, started)
    finally:
        for member in training:  # a member that ended was closed already: this is for a stop or a raise
            member.close()
    return outcomes.values


class _Outcomes:
    """A group's outcomes by member index; each one passed on to `on_outcome` when it is set."""

    def __init__(self, size: int, on_outcome: Callable[[int, dict], None] | None):
        self.values: list[dict | None] = [None] * size
        self.on_outcome = on_outcome

    def __getitem__(self, index: int) -> dict | None:
        return self.values[index]

    def __setitem__(self, index: int, outcome: dict) -> None:
        self.values[index] = outcome
        if self.on_outcome is not None:
            self.on_outcome(index, outcome)


def _train_members(training: list[_Member], outcomes: _Outcomes, threads: int | None, force: bool | str,
                   started: float) -> None:
    """Train the claimed members together and store each outcome into `outcomes` as it comes."""
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    ready = []
    changed: dict[tuple[str, str], Exception | None] = {}  # siblings share a dataset: hash its files once
    for member in training:
        key = (member.inputs.dataset, member.inputs.dataset_version)
        if key not in changed:
            try:
                check_dataset(member.inputs)  # the data may have changed since the grid was expanded
                changed[key] = None
            except Exception as error:  # noqa: BLE001 (a changed or unreadable dataset fails its trials)
                changed[key] = error
        if changed[key] is None:
            ready.append(member)
        else:
            outcomes[member.index] = _settle(member, changed[key], force, started)

    def member_done(position: int, result: dict | Exception) -> None:
        outcomes[ready[position].index] = _settle(ready[position], result, force, started)

    broke: Exception | None = None
    try:
        _train(ready, member_done)
    except StoreUnwritable:
        raise
    except Exception as error:  # noqa: BLE001 (the group's training broke: its members that had not ended fail)
        broke = error
    for position, member in enumerate(ready):
        if outcomes[member.index] is None:
            member_done(position, broke or RuntimeError("the group's training ended without this member's outcome"))


def _train(ready: list[_Member], member_done: Callable[[int, dict | Exception], None]) -> None:
    """The members in one `train_group` call (which trains a member alone as its solo trial)."""
    from benchmark.runner.trial import train_group

    if ready:
        train_group([m.inputs for m in ready], verbose=bool(os.environ.get("DMREC_VERBOSE")),
                    on_epoch=[m.sinks for m in ready], on_member_done=member_done)


def _settle(member: _Member, result: dict | Exception, force: bool | str, started: float) -> dict:
    """Store one member's record, or its failure; release it; its outcome."""
    try:
        return _store_outcome(member.store, member.inputs, result, force, started)
    finally:
        member.close()


def _store_outcome(store: ResultStore, inputs: TrialInputs, result: dict | Exception, force: bool | str,
                   started: float) -> dict:
    trial_id, config = inputs.trial_id, inputs.config
    if isinstance(result, BaseException):
        return _failed(store, trial_id, config, f"{type(result).__name__}: {result}", started, result)
    try:
        store.write_finished(trial_id, result, force=bool(force))
    except RecordExists:  # only without force, which the claim rules out; keep the stored one
        return {"trial_id": trial_id, "status": "exists", "seconds": time.perf_counter() - started}
    except InvalidRecord as error:  # e.g. NaN metrics: never a finished record
        return _failed(store, trial_id, config, str(error), started, error)
    except OSError as error:  # ENOSPC, EROFS, ...: the trained result is lost, the failure may still be kept
        return _failed(store, trial_id, config, f"storing the result failed: {error}", started, error)
    return {"trial_id": trial_id, "status": "finished", "seconds": time.perf_counter() - started,
            "recall@20": result["metrics"]["test"].get("recall@20")}


def _failed(store: ResultStore, trial_id: str, config: dict, error: str, started: float,
            cause: BaseException | None = None) -> dict:
    tb = "".join(traceback.format_exception(cause)) if cause is not None else ""
    try:
        store.write_failed(trial_id, config, error, tb)
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
