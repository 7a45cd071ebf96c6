"""One search sample: a sampled config trained and selected on the validation split, never tested.

`train_on_validation` is structurally unable to compute a test metric: it keeps only the train
and validation splits RecBole builds (the test interactions are read by RecBole only to give users
and items the same internal ids as the final runs), builds no test `RankingTarget`, and never
calls the trainer's `evaluate`. `run_sample` stores what it learns as a trial of `<grid>_search`,
a record with empty test metrics, after every validation, so a search killed mid-sample keeps the
validations that sample already reported.

The record's `search` entry: the grid, the cell, the search space and the sampled values, and
`ended`: "completed" (the trainer's early stopping or epoch cap), "stopped" (Tune stopped it:
ASHA, or the time budget), or null (the process ended before it could say: killed).
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Callable

import torch

from benchmark.runner.inputs import TrialInputs, resolve_inputs
from benchmark.runner.store import ResultStore
from benchmark.runner.trial import build_trial, environment, training_timings, trial_record

SELECTION_METRIC = "recall@20"  # the protocol's valid_metric: samples are compared on it


def train_on_validation(inputs: TrialInputs, on_validation: Callable[[object], None]) -> object:
    """Train the sample's `inputs` with the protocol's validation schedule and early stopping; calls
    `on_validation(trainer)` after each validation and returns the trainer (no test split)."""
    trial = build_trial(inputs.config, inputs.model_class, test_split=False)
    # saved=False: no copy of the best weights, nothing will ever be tested with them
    trial.trainer.fit(trial.loader, trial.valid, saved=False,
                      callback_fn=lambda epoch, score: on_validation(trial.trainer))
    return trial.trainer


def sample_record(inputs: TrialInputs, trainer, search: dict, started: float, environment: dict) -> dict:
    """The sample's record: a trial record with empty test metrics, and its `search` entry."""
    return trial_record(inputs, trainer, training_timings(trainer, started), environment, search=search)


def run_sample(store: ResultStore, trial_id: str, config: dict, dataset_version: str, search: dict,
               report: Callable[[dict], None], threads: int | None = None) -> dict:
    """Train one sample, store it after each validation, and `report` each validation (Tune's
    `tune.report`): {"epoch", "valid_recall@20", "best_valid_recall@20"}.

    A sample already stored (the same config sampled again, or a rerun) is reported, not retrained.
    A failing sample stores a failure record and raises. A `SystemExit` raised by `report` (Tune
    stopping the sample) is recorded as `ended: "stopped"` and passed on."""
    stored = _stored(store, trial_id)
    if stored is not None:
        report({**_report_of(stored["curve"], stored["metrics"]["valid"]), "from_store": True})
        return stored
    if threads:
        torch.set_num_threads(int(threads))
    claim = store.claim(trial_id)
    if claim is None:
        raise RuntimeError(f"sample {trial_id} is being trained by another live process")
    started = time.perf_counter()
    with claim:
        inputs, env = resolve_inputs(config, dataset_version, trial_id, store.grid), environment()
        latest: dict = {}

        def store_and_report(trainer) -> None:
            latest["record"] = sample_record(inputs, trainer, {**search, "ended": None}, started, env)
            store.write_finished(trial_id, latest["record"], force=True)
            report(_report_of(trainer.curve, trainer.best_valid_result))

        try:
            train_on_validation(inputs, store_and_report)
        except SystemExit:  # Tune stops this sample (ASHA, time budget): it reported everything it has
            if "record" in latest:
                _write_ended(store, trial_id, latest["record"], "stopped")
            raise
        except Exception as error:
            store.write_failed(trial_id, config, f"{type(error).__name__}: {error}", traceback.format_exc())
            raise
        return _write_ended(store, trial_id, latest["record"], "completed")


def _write_ended(store: ResultStore, trial_id: str, record: dict, ended: str) -> dict:
    record = {**record, "search": {**record["search"], "ended": ended}}
    store.write_finished(trial_id, record, force=True)
    return record


def _stored(store: ResultStore, trial_id: str) -> dict | None:
    try:
        return store.read_record(trial_id)
    except KeyError:
        return None


def _report_of(curve: list[dict], best_valid: dict | None) -> dict:
    return {"epoch": curve[-1]["epoch"] if curve else 0,
            f"valid_{SELECTION_METRIC}": curve[-1].get(SELECTION_METRIC, 0.0) if curve else 0.0,
            f"best_valid_{SELECTION_METRIC}": (best_valid or {}).get(SELECTION_METRIC, 0.0)}

