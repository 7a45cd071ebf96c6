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

from benchmark.runner.store import ResultStore

SELECTION_METRIC = "recall@20"  # the protocol's valid_metric: samples are compared on it


def train_on_validation(config: dict, on_validation: Callable[[object], None]) -> object:
    """Train `config` with the protocol's validation schedule and early stopping; calls
    `on_validation(trainer)` after each validation and returns the trainer (no test split)."""
    from recbole.utils import init_seed

    from benchmark.runner.training.evaluation import RankingTarget
    from benchmark.runner.training.loaders import make_train_loader
    from benchmark.runner.training.trainer import ProtocolTrainer
    from benchmark.runner.trial import build_recbole

    recbole_config, cls, splits = build_recbole(config)
    train_set, valid_set = splits[0], splits[1]
    del splits  # the test split goes no further
    init_seed(config["seed"], True)
    model = cls(recbole_config, train_set).to(recbole_config["device"])
    loader = make_train_loader(model, train_set, recbole_config, torch.Generator().manual_seed(int(config["seed"])))
    valid = RankingTarget.from_datasets("valid", train_set, valid_set)
    trainer = ProtocolTrainer(recbole_config, model)
    # saved=False: no copy of the best weights, nothing will ever be tested with them
    trainer.fit(loader, valid, saved=False, callback_fn=lambda epoch, score: on_validation(trainer))
    return trainer


def sample_record(config: dict, dataset_version: str, trainer, search: dict, started: float, provenance: dict,
                  environment: dict) -> dict:
    return {
        "config": dict(config),
        "dataset_version": dataset_version,
        "metrics": {"valid": dict(trainer.best_valid_result or {}), "test": {}},
        "best_epoch": trainer.best_epoch,
        "epochs_run": trainer.epochs_run,
        "curve": list(trainer.curve),
        "timings": {"train_s": trainer.train_seconds, "valid_s": trainer.valid_seconds,
                    "total_s": time.perf_counter() - started,
                    "s_per_epoch": trainer.train_seconds / max(trainer.epochs_run, 1)},
        "env": environment,
        "provenance": provenance,
        "search": search,
    }


def run_sample(store: ResultStore, trial_id: str, config: dict, dataset_version: str, search: dict,
               report: Callable[[dict], None], threads: int | None = None) -> dict:
    """Train one sample, store it after each validation, and `report` each validation (Tune's
    `tune.report`): {"epoch", "valid_recall@20", "best_valid_recall@20"}.

    A sample already stored (the same config sampled again, or a rerun) is reported, not retrained.
    A failing sample stores a failure record and raises. A `SystemExit` raised by `report` (Tune
    stopping the sample) is recorded as `ended: "stopped"` and passed on."""
    from benchmark.runner.provenance import code_provenance
    from benchmark.runner.trial import environment

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
        provenance, env = code_provenance(config["model"]), environment()
        latest: dict = {}

        def store_and_report(trainer) -> None:
            latest["record"] = sample_record(config, dataset_version, trainer, {**search, "ended": None}, started,
                                             provenance, env)
            store.write_finished(trial_id, latest["record"], force=True)
            report(_report_of(trainer.curve, trainer.best_valid_result))

        try:
            train_on_validation(config, store_and_report)
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

