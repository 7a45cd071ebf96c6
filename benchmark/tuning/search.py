"""Ray Tune over each cell: Optuna's TPE proposes configs, ASHA stops the weak ones early.

The search's use of Ray Tune (the Ray instance itself is `benchmark.runner.schedule.ray_instance`'s, as for
the grids). Each cell gets the same budget (`budget` sampled
configs, or `budget_s` seconds of sampling) minus what its stored samples already spent; those
are handed to TPE as finished trials (with their validation curves), so a rerun continues the
search instead of repeating it. A time budget counts the samples' own seconds, summed
(two samples side by side for an hour spend two hours), so it does not depend on the parallelism.
Every sample reports each validation through `tune.report`
(`best_valid_recall@20` drives both TPE and ASHA; `training_iteration` counts validations), so
any Ray Tune logger a user enables sees the same stream. Ray's experiment folder is a temporary
directory that nothing reads: the samples are in the results store.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ray import tune

from benchmark.runner.schedule import ray_instance
from benchmark.runner.store import ResultStore, utc_now
from benchmark.tuning.cells import Cell
from benchmark.tuning.history import cell_samples
from benchmark.tuning.sample import SELECTION_METRIC, run_sample
from benchmark.tuning.space import SearchRange

METRIC = f"best_valid_{SELECTION_METRIC}"
REDUCTION_FACTOR = 3  # ASHA keeps the best third at each rung
HEARTBEAT_S = 30.0
MAX_ROUNDS = 3  # Tune runs per cell while proposals of already stored configs leave budget unspent
MIN_ROUND_S = 60.0  # a time budget's remainder below this is not worth another Tune run


def startup_trials(budget: int | None) -> int:
    """TPE's random start: a third of the budget (2 to 10); Optuna's default 10 would make a
    budget of 6 pure random search."""
    return 10 if budget is None else max(2, min(10, budget // 3))


def grace_validations(cell: Cell) -> int:
    """ASHA's first rung, in validations: the protocol's patience (`stopping_step`), so ASHA judges no
    sample before the trainer's own early stopping could have. (ASHA's max_t is one past the last
    validation: it stops samples at its rungs, never at their end.)"""
    return max(1, min(int(cell.base["stopping_step"]), cell.max_validations()))


def optuna_space(space: dict[str, SearchRange]) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    distributions = {}
    for key, search_range in space.items():
        if search_range.choices:
            distributions[key] = CategoricalDistribution(list(search_range.choices))
        elif search_range.is_int:
            distributions[key] = IntDistribution(search_range.low, search_range.high, log=search_range.log)
        else:
            distributions[key] = FloatDistribution(search_range.low, search_range.high, log=search_range.log)
    return distributions


def _sample_trainable(sampled: dict, cell: Cell, grid: str, results_root: str, threads: int) -> None:
    """A Ray Tune function trainable: one sampled config of `cell`, trained on validation only."""
    config = cell.sampled_config(dict(sampled))
    search = {"grid": grid, "cell": cell.key, "block": cell.block,
              "space": {k: r.as_dict() for k, r in cell.space().items()}, "sampled": dict(sampled),
              "started_at": utc_now()}
    store = ResultStore(f"{grid}_search", Path(results_root))
    run_sample(store, cell.sample_id(config), config, cell.dataset_version, search, tune.report, threads)


def search_cells(cells: list[Cell], grid: str, store: ResultStore, budget: int | None, budget_s: float | None,
                 cpus_per_trial: float = 1.0, seed: int = 0, address: str | None = None, stream=None) -> None:
    """Search every cell in turn with one Ray instance; returns when every cell has spent its budget."""
    stream = stream or sys.stdout
    threads = max(1, int(cpus_per_trial))
    todo = []
    for cell in cells:
        spent = cell_samples(store, cell)
        left = budget - len(spent) if budget is not None else None
        left_s = budget_s - sum(s.seconds for s in spent) if budget_s is not None else None
        if (left is not None and left <= 0) or (left_s is not None and left_s <= 0):
            print(f"{cell.key}: budget spent ({len(spent)} stored samples)", file=stream, flush=True)
            continue
        todo.append((cell, spent, left, left_s))
    if not todo:
        return
    with ray_instance(store.root, address, threads):
        for cell, spent, left, left_s in todo:
            for _ in range(MAX_ROUNDS):
                _search_cell(cell, spent, left, left_s, grid, store, cpus_per_trial, threads, seed, budget, stream)
                spent = cell_samples(store, cell)
                if left is not None:
                    left = budget - len(spent)  # TPE may propose a stored config again: it counts once
                else:
                    left_s = budget_s - sum(s.seconds for s in spent)
                if (left is not None and left <= 0) or (left_s is not None and left_s < MIN_ROUND_S):
                    break


def _search_cell(cell: Cell, spent, left: int | None, left_s: float | None, grid: str, store: ResultStore,
                 cpus_per_trial: float, threads: int, seed: int, budget: int | None, stream) -> None:
    import optuna
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = cell.space()
    # the seed moves on with the history, so a resumed search does not redraw the configs it stored
    sampler = optuna.samplers.TPESampler(seed=seed + 7919 * len(spent), n_startup_trials=startup_trials(budget))
    searcher = OptunaSearch(space=optuna_space(space), metric=METRIC, mode="max", sampler=sampler)
    for sample in spent:  # what earlier runs learnt, without retraining it
        searcher.add_evaluated_point(sample.sampled, sample.score if sample.score is not None else 0.0,
                                     error=sample.score is None,
                                     intermediate_values=list(sample.validations) or None)
    grace = grace_validations(cell)
    scheduler = None  # a cap below the patience (e.g. 21 epochs): samples are short, nothing to stop early
    if grace < cell.max_validations():
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=cell.max_validations() + 1,
                                  grace_period=grace, reduction_factor=REDUCTION_FACTOR)
    parallel = max(1, int((os.cpu_count() or 1) // max(cpus_per_trial, 1e-9)))
    what = f"{left} samples" if left is not None else f"{left_s:.0f} s of sampling"
    stopping = f"ASHA from {grace} validations" if scheduler else "no early stop: capped below the patience"
    print(f"{cell.key}: searching {', '.join(space)} ({what} left, {len(spent)} stored; TPE, {stopping}; "
          f"{parallel} at a time)", file=stream, flush=True)
    scratch = tempfile.mkdtemp(prefix="dmrec-tune-")
    try:
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(_sample_trainable, cell=cell, grid=grid,
                                                     results_root=str(store.root), threads=threads),
                                {"cpu": cpus_per_trial}),
            tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, metric=METRIC, mode="max",
                                        num_samples=left if left is not None else -1,
                                        time_budget_s=left_s / parallel if left_s is not None else None,
                                        max_concurrent_trials=parallel, reuse_actors=False,
                                        trial_dirname_creator=lambda t: t.trial_id),
            run_config=tune.RunConfig(storage_path=scratch, name=cell.key.replace("/", "_"), verbose=0,
                                      callbacks=[_Progress(cell, stream), _MarkStopped(cell, store)],
                                      failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                                      checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False)),
        )
        tuner.fit()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _MarkStopped(tune.Callback):
    """Marks `ended: "stopped"` on a sample Tune stopped (ASHA, time budget) when its own process was
    ended before it could: its record then still says null, which is left for a killed search."""

    def __init__(self, cell: Cell, store: ResultStore):
        self.cell, self.store = cell, store

    def on_trial_complete(self, iteration, trials, trial, **info):
        if (trial.last_result or {}).get("from_store"):  # reported from the store: not trained by this run
            return
        try:
            trial_id = self.cell.sample_id(self.cell.sampled_config(dict(trial.config)))
            record = self.store.read_record(trial_id)
        except (KeyError, ValueError):  # never reported a validation, or an invalid sample
            return
        if (record.get("search") or {}).get("ended") is None:
            record["search"] = {**record["search"], "ended": "stopped"}
            self.store.write_finished(trial_id, record, force=True)


class _Progress(tune.Callback):
    """Plain progress lines: each sample's end, and every HEARTBEAT_S the running samples' epoch and best."""

    def __init__(self, cell: Cell, stream):
        self.cell, self.stream = cell, stream
        self.latest: dict[str, dict] = {}
        self.numbers: dict[str, int] = {}
        self.started, self.last_line = time.perf_counter(), 0.0

    def _name(self, trial) -> str:
        number = self.numbers.setdefault(trial.trial_id, len(self.numbers) + 1)
        return f"{self.cell.key} sample {number}"

    def _print(self, line: str) -> None:
        elapsed = int(time.perf_counter() - self.started)
        print(f"[{elapsed // 60}:{elapsed % 60:02d}] {line}", file=self.stream, flush=True)
        self.last_line = time.perf_counter()

    def on_trial_start(self, iteration, trials, trial, **info):
        self._print(f"start  {self._name(trial)}: {_short(trial.config)}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.latest[trial.trial_id] = result

    def on_trial_complete(self, iteration, trials, trial, **info):
        result = self.latest.pop(trial.trial_id, {})
        self._print(f"end    {self._name(trial)}: epoch {result.get('epoch', '?')}, "
                    f"best valid recall@20 {result.get(METRIC, float('nan')):.4f} "
                    f"({result.get('training_iteration', 0)} validations)")

    def on_trial_error(self, iteration, trials, trial, **info):
        self.latest.pop(trial.trial_id, None)
        self._print(f"FAILED {self._name(trial)} (stored under failed/ when the sample itself failed)")

    def on_step_end(self, iteration, trials, **info):
        if self.latest and time.perf_counter() - self.last_line >= HEARTBEAT_S:
            running = "; ".join(f"{self._name_of(t)} epoch {r.get('epoch')} best {r.get(METRIC, 0.0):.4f}"
                                for t, r in self.latest.items())
            self._print(f"running {running}")

    def _name_of(self, trial_id: str) -> str:
        return f"sample {self.numbers.get(trial_id, '?')}"


def _short(config: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items())
