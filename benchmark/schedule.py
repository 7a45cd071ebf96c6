"""Runs pending trials: sequentially in this process, or as Ray Tune trials. The only module that imports Ray.

Both paths call `benchmark.execute.execute_trial`, which writes the trial's record into the store
from inside the process that trained it; Ray's own experiment folder lives in a temporary
directory that nothing reads. Without `address` (and without $RAY_ADDRESS) Ray starts a private
local instance; with it, the trials run on that cluster, whose nodes must see the data and
results folders at the same paths (one machine, or a shared filesystem).
"""
from __future__ import annotations

import os
import shutil
import tempfile

from benchmark.execute import execute_trial
from benchmark.grid import Trial
from benchmark.progress import Progress
from benchmark.paths import DATA_ROOT_ENV, REPO_ROOT, RESULTS_ENV, data_root
from benchmark.store import ResultStore


def _threads(cpus_per_trial: float) -> int:
    return max(1, int(cpus_per_trial))


def run_sequential(trials: list[Trial], store: ResultStore, progress: Progress, cpus_per_trial: float = 1,
                   force: bool = False) -> None:
    """Each trial in turn, in this process (`--no-ray`): for tests and debugging."""
    for trial in trials:
        progress.started(trial.trial_id)
        outcome = execute_trial(trial.trial_id, trial.grid, trial.config, trial.dataset_version,
                                str(store.root), _threads(cpus_per_trial), force)
        progress.ended(trial.trial_id, outcome)


def _ray_trial(param: dict, payloads: dict) -> dict:
    """A Ray Tune function trainable: one trial, its outcome as the only reported result."""
    from ray import tune

    outcome = execute_trial(**payloads[param["trial_id"]])
    tune.report({key: value for key, value in outcome.items() if value is not None})


def run_with_ray(trials: list[Trial], store: ResultStore, progress: Progress, cpus_per_trial: float = 1,
                 gpus_per_trial: float = 0, address: str | None = None, force: bool = False) -> None:
    """Every trial as a Ray Tune trial with the given resources; returns when all have ended."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/JSON/TensorBoard copies of results
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "1000000")
    import ray
    from ray import tune

    address = address or os.environ.get("RAY_ADDRESS") or None
    env_vars = {
        DATA_ROOT_ENV: str(data_root()), RESULTS_ENV: str(store.root),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": str(_threads(cpus_per_trial)),
        **{k: v for k, v in os.environ.items() if k == "DMREC_VERBOSE"},
    }
    local = {} if address else {"_node_ip_address": "127.0.0.1"}  # a private instance stays on loopback
    ray.init(address=address, runtime_env={"env_vars": env_vars}, include_dashboard=False,
             log_to_driver=False, logging_level="ERROR", configure_logging=True, **local)
    payloads = {t.trial_id: {"trial_id": t.trial_id, "grid": t.grid, "config": t.config,
                             "dataset_version": t.dataset_version, "results_root": str(store.root),
                             "threads": _threads(cpus_per_trial), "force": force} for t in trials}

    class ProgressLines(tune.Callback):
        def on_trial_start(self, iteration, trials, trial, **info):
            progress.started(trial.config["trial_id"])

        def on_trial_result(self, iteration, trials, trial, result, **info):
            progress.ended(trial.config["trial_id"], result)

        def on_trial_error(self, iteration, trials, trial, **info):
            # the worker process died (killed, out of host memory): nothing was recorded from inside
            trial_id = trial.config["trial_id"]
            error = f"the Ray worker running this trial died ({trial.error_file or 'no error file'})"
            if trial_id not in store.finished_ids():
                store.write_failed(trial_id, payloads[trial_id]["config"], error, "")
            progress.ended(trial_id, {"status": "failed", "error": error})

        def on_step_end(self, iteration, trials, **info):
            progress.heartbeat()

    scratch = tempfile.mkdtemp(prefix="dmrec-ray-")
    try:
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(_ray_trial, payloads=payloads),
                                {"cpu": cpus_per_trial, "gpu": gpus_per_trial}),
            param_space={"trial_id": tune.grid_search(list(payloads))},
            tune_config=tune.TuneConfig(reuse_actors=True, trial_dirname_creator=lambda t: t.trial_id),
            run_config=tune.RunConfig(storage_path=scratch, name=store.grid, verbose=0, callbacks=[ProgressLines()],
                                      failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                                      checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False)),
        )
        tuner.fit()
    finally:
        ray.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)
