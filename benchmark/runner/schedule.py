"""Runs pending trials: sequentially in this process, or as Ray Tune trials. The one place a Ray instance starts
(`ray_instance`, also for `benchmark.tune`).

Both paths take groups of sibling trials (`benchmark.runner.groups`; one trial per group unless
--group-size says otherwise) and call `benchmark.runner.execute.run_group_and_store` once per group,
which writes each member's record into the store from inside the process that trained it; Ray's own
experiment folder lives in a temporary directory that nothing reads. Without `address` (and without
$RAY_ADDRESS) Ray starts a private local instance, even when a `ray start` cluster runs on this
machine; with it, the trials run on that cluster, whose nodes must see the data and results
folders at the same paths (one machine, or a shared filesystem).

Ray queues a request that no node can satisfy and waits for it forever, and it retries an
unreachable cluster for many minutes: so the request is checked against the nodes' resources
before anything is submitted, and a cluster address is probed with a bounded connect first.
Either failure is a `ScheduleError` (one line; the runner exits 2, nothing ran).

A stop (Ctrl-C, SIGTERM) goes through `STOP`: see `StopSignals`.
"""
from __future__ import annotations

import functools
import math
import os
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager

from benchmark.core.paths import DATA_ROOT_ENV, REPO_ROOT, RESULTS_ENV, data_root
from benchmark.runner.execute import run_group_and_store
from benchmark.runner.groups import TrialGroup, members_at_once
from benchmark.runner.inputs import TrialInputs, inputs_of
from benchmark.runner.progress import EPOCH_RESULT, MEMBER_RESULT, Progress
from benchmark.runner.store import ResultStore
from benchmark.runner.training.events import EpochEvent

CONNECT_TIMEOUT_S = 10.0  # a cluster address that does not accept a TCP connection within this is unreachable
RAY_PRECISION = 1e-4  # Ray refuses fractional resource requests finer than this
RAY_CLIENT_PORT = 10001  # `ray://host` without a port

# run_group_and_store's signature (members, results_root, threads, force, on_epoch=[hook per member]) -> [outcome
# per member]: the one unit of work
GroupFunction = Callable[..., list[dict]]


class ScheduleError(ValueError):
    """A trial request that Ray could never satisfy, or a cluster that cannot be joined."""


class StopSignals:
    """While `active`, SIGINT and SIGTERM raise KeyboardInterrupt in the main thread and are remembered.

    Remembered because a raise can be lost: Python swallows a KeyboardInterrupt that lands in a
    finalizer ("Exception ignored in ..."), so the schedulers also `check` between trials and the
    runner once more after them. Ray Tune would otherwise catch SIGINT itself and end its loop as if
    done (TUNE_DISABLE_SIGINT_HANDLER), and Ray's SIGTERM handler exits with status 15 (`ray_instance`
    puts ours back). A second signal ends the process at once (the default action)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.received: int | None = None
        self._previous: dict | None = None  # the handlers to restore; None while not active

    def _handle(self, signum, frame) -> None:
        self.received = signum
        for number in self.SIGNALS:
            signal.signal(number, signal.SIG_DFL)
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt when a stop signal came, even one whose raise was lost."""
        if self.received is not None:
            raise KeyboardInterrupt

    def reinstall(self) -> None:
        """Ours again after a library replaced them (ray.init's SIGTERM handler); a no-op when not active."""
        if self._previous is not None and self.received is None:
            for number in self.SIGNALS:
                signal.signal(number, self._handle)

    @contextmanager
    def active(self):
        if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
            yield self
            return
        self.received = None
        self._previous = {number: signal.getsignal(number) for number in self.SIGNALS}
        for number in self.SIGNALS:
            signal.signal(number, self._handle)
        try:
            yield self
        finally:
            for number, handler in self._previous.items():
                signal.signal(number, handler)
            self._previous = None
            self.received = None  # a stop ends with its block: a later run in this process starts afresh


STOP = StopSignals()  # signals are per process: one instance


def check_request(cpus_per_trial: float | None, gpus_per_trial: float,
                  nodes: Sequence[Mapping[str, float]] | None = None) -> None:
    """Refuse a request Ray would queue forever. Without `nodes` only what needs no cluster is
    checked; with them (each node's total resources, `{"CPU": 8, "GPU": 1, ...}`), the trial must
    fit on one node, since Ray never splits a trial across nodes. `cpus_per_trial` None: derived."""
    for option, value in (("--cpus-per-trial", cpus_per_trial), ("--gpus-per-trial", gpus_per_trial)):
        if value is not None and math.isinf(value):  # no node has infinitely many; math.floor(inf) would raise
            raise ScheduleError(f"{option} must be a finite number, got {value:g}")
    if cpus_per_trial is not None:
        if not cpus_per_trial > 0:  # also NaN
            raise ScheduleError(f"--cpus-per-trial must be above 0, got {cpus_per_trial:g}")
        if cpus_per_trial < RAY_PRECISION:
            raise ScheduleError(f"--cpus-per-trial {cpus_per_trial:g} is finer than Ray's {RAY_PRECISION:g}")
    if not gpus_per_trial >= 0:
        raise ScheduleError(f"--gpus-per-trial must be 0 or above, got {gpus_per_trial:g}")
    if 0 < gpus_per_trial < RAY_PRECISION:
        raise ScheduleError(f"--gpus-per-trial {gpus_per_trial:g} is finer than Ray's {RAY_PRECISION:g}")
    if gpus_per_trial > 1 and gpus_per_trial != int(gpus_per_trial):
        raise ScheduleError(f"--gpus-per-trial {gpus_per_trial:g}: a trial gets a fraction of one GPU or "
                            f"whole GPUs (Ray cannot place a fraction above 1)")
    if nodes is None:
        return
    cpus = derive_cpus(cpus_per_trial, gpus_per_trial, nodes)
    if any(_fits(node, cpus, gpus_per_trial) for node in nodes):
        return
    most_cpus = max((node.get("CPU", 0.0) for node in nodes), default=0.0)
    most_gpus = max((node.get("GPU", 0.0) for node in nodes), default=0.0)
    if gpus_per_trial > most_gpus:
        raise ScheduleError(f"--gpus-per-trial {gpus_per_trial:g} asks for more GPUs than any Ray node has "
                            f"(at most {most_gpus:g}); lower it, or use --gpus-per-trial 0 to train on CPUs")
    if cpus > most_cpus:
        raise ScheduleError(f"--cpus-per-trial {cpus:g} asks for more CPUs than any Ray node has "
                            f"(at most {most_cpus:g}); lower it")
    raise ScheduleError(f"no Ray node has both {cpus:g} CPUs and {gpus_per_trial:g} GPUs for one trial")


def _fits(node: Mapping[str, float], cpus: float, gpus: float) -> bool:
    return node.get("CPU", 0.0) + 1e-9 >= cpus and node.get("GPU", 0.0) + 1e-9 >= gpus


def derive_cpus(cpus_per_trial: float | None, gpus_per_trial: float, nodes: Sequence[Mapping[str, float]]) -> float:
    """The CPUs a trial asks for. Given: as is. Not given, with a GPU share: the same share of the
    GPU nodes' CPUs (4 trials at 0.25 GPU split the CPUs in four), rounded down so that as many
    trials fit as the GPUs allow. Not given, on CPUs only: one."""
    if cpus_per_trial is not None:
        return cpus_per_trial
    gpu_nodes = [node for node in nodes if node.get("GPU", 0.0) > 0]
    if gpus_per_trial <= 0 or not gpu_nodes:
        return 1.0
    share = sum(node.get("CPU", 0.0) for node in gpu_nodes) * gpus_per_trial / sum(node["GPU"] for node in gpu_nodes)
    if share >= 1:
        return float(math.floor(share))
    return max(RAY_PRECISION, math.floor(share / RAY_PRECISION) * RAY_PRECISION)


def threads_for(cpus_per_trial: float | None) -> int:
    """Torch (and OpenMP) threads of a trial: its whole CPUs, at least one."""
    return max(1, math.floor(cpus_per_trial or 1))


def concurrent_trials(cpus: float, gpus: float, nodes: Sequence[Mapping[str, float]]) -> int:
    """How many such trials the nodes hold at once (the progress view's ETA divides by it)."""
    def per_node(node: Mapping[str, float]) -> int:
        count = math.floor(node.get("CPU", 0.0) / cpus + 1e-9)
        if gpus > 0:
            count = min(count, math.floor(node.get("GPU", 0.0) / gpus + 1e-9))
        return count
    return max(1, sum(per_node(node) for node in nodes))


def run_sequential(groups: list[TrialGroup], store: ResultStore, progress: Progress,
                   cpus_per_trial: float | None = 1, force: bool | str = False,
                   execute: GroupFunction | None = None) -> None:
    """Each group in turn, in this process (`--no-ray`); a stop comes between groups."""
    check_request(cpus_per_trial, 0)
    execute = execute or run_group_and_store
    progress.parallel = max(1, round(members_at_once(groups)))
    for group in groups:
        STOP.check()
        for trial in group.trials:
            progress.started(trial.trial_id)
        ended: set[int] = set()

        def member_ended(index: int, outcome: dict, trials=group.trials, ended=ended) -> None:
            ended.add(index)
            progress.ended(trials[index].trial_id, outcome)

        outcomes = execute([inputs_of(t) for t in group.trials], str(store.root), threads_for(cpus_per_trial), force,
                           on_epoch=[functools.partial(progress.epoch, t.trial_id) for t in group.trials],
                           on_outcome=member_ended)
        for index, outcome in enumerate(outcomes):  # the ones the function did not report as they ended
            if index not in ended:
                member_ended(index, outcome)


def _ray_trial(param: dict, payloads: dict, execute: GroupFunction) -> None:
    """A Ray Tune function trainable: one group. Each member's epochs are reported as results under
    `EPOCH_RESULT`, then each member's outcome; every result names its member (`MEMBER_RESULT`).

    Ray has set CUDA_VISIBLE_DEVICES to the GPU it assigned, and `benchmark.runner.trial` passes it on to
    RecBole instead of RecBole's gpu_id 0. A trial without a GPU share sees no GPU (Ray leaves it
    the node's), so it trains on CPUs instead of crowding a GPU that other trials hold."""
    import ray
    from ray import tune

    if not ray.get_gpu_ids():
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    payload = dict(payloads[param["group_id"]])
    os.environ["OMP_NUM_THREADS"] = str(payload["threads"])  # for libraries this worker has not loaded yet
    members = [TrialInputs.from_dict(member) for member in payload.pop("members")]

    def report_epoch(trial_id: str, event) -> None:
        tune.report({EPOCH_RESULT: event.as_dict(), MEMBER_RESULT: trial_id})

    ended: set[int] = set()

    def report_outcome(index: int, outcome: dict) -> None:  # as soon as the member is stored
        ended.add(index)
        tune.report({**{key: value for key, value in outcome.items() if value is not None},
                     MEMBER_RESULT: members[index].trial_id})

    outcomes = execute(members, **payload, on_epoch=[functools.partial(report_epoch, m.trial_id) for m in members],
                       on_outcome=report_outcome)
    for index, outcome in enumerate(outcomes):
        if index not in ended:
            report_outcome(index, outcome)


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a concrete cluster address; None for Ray's own words ("auto", "local")."""
    scheme, sep, rest = address.partition("://")
    rest = rest if sep else scheme
    host, colon, port = rest.rpartition(":")
    if not colon:
        return (rest, RAY_CLIENT_PORT) if sep else None
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise ScheduleError(f"--address {address}: expected host:port") from None


def probe_cluster(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail in bounded time when nothing accepts a connection at `address` (Ray itself would retry
    for many minutes, printing a warning every few seconds)."""
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            pass
    except TimeoutError:
        raise ScheduleError(f"--address {address}: no Ray cluster answered within {timeout_s:g} s") from None
    except OSError as error:
        raise ScheduleError(f"--address {address}: cannot reach a Ray cluster ({error.strerror or error})") from None


@contextmanager
def _bounded_gcs_wait():
    """An open port that is no Ray GCS: ray.init tries 20 times, ~40 s each, before it gives up; one try
    bounds it at ~40 s (RAY_gcs_server_port_wait_time_s is Ray's own setting; a value the user set wins)."""
    name = "RAY_gcs_server_port_wait_time_s"
    previous = os.environ.get(name)
    os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)


def connect(address: str | None, env_vars: dict, num_cpus: float | None = None, num_gpus: float | None = None) -> None:
    """Join the cluster at `address`, or start a private local instance (on loopback) with the given
    logical resources: `num_gpus=1` on a machine without a GPU makes a logical GPU, for tests."""
    import ray

    common = dict(runtime_env={"env_vars": env_vars}, include_dashboard=False, log_to_driver=False,
                  logging_level="ERROR", configure_logging=True)
    if address is None:
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, _node_ip_address="127.0.0.1", **common)
        return
    if num_cpus is not None or num_gpus is not None:
        raise ScheduleError("num_cpus/num_gpus shape a private Ray instance; a cluster at --address has its own")
    probe_cluster(address)
    try:
        with _bounded_gcs_wait():
            ray.init(address=address, **common)
    except Exception as error:  # noqa: BLE001 (Ray raises ConnectionError, RuntimeError, ValueError, ...)
        ray.shutdown()
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ScheduleError(f"--address {address}: cannot join the Ray cluster ({type(error).__name__}: "
                            f"{message})") from None


@contextmanager
def ray_instance(results_root, address: str | None = None, threads: int | None = None,
                 num_cpus: float | None = None, num_gpus: float | None = None):
    """A connected Ray for the `with` block, shut down after it: the cluster at `address` (else
    $RAY_ADDRESS), or a private local instance. Its workers see this data root, `results_root`, the
    repo on PYTHONPATH and, when given, `threads` as OMP_NUM_THREADS. The one place Ray starts.
    Raises ScheduleError for an address that cannot be joined."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/JSON/TensorBoard copies of results
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")  # Ctrl-C stops the command, not just Tune's loop
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "1000000")
    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    if address == "local":
        address = None
    env_vars = {
        DATA_ROOT_ENV: str(data_root()), RESULTS_ENV: str(results_root),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        **{k: v for k, v in os.environ.items() if k == "DMREC_VERBOSE"},
        **({"OMP_NUM_THREADS": str(threads)} if threads else {}),
    }
    connect(address, env_vars, num_cpus, num_gpus)
    STOP.reinstall()  # ray.init replaced the SIGTERM handler with one that exits 15
    try:
        yield ray
    finally:
        ray.shutdown()


def node_resources() -> list[dict]:
    """The total resources of each live node of the connected Ray cluster."""
    import ray

    return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]


def run_with_ray(groups: list[TrialGroup], store: ResultStore, progress: Progress,
                 cpus_per_trial: float | None = None, gpus_per_trial: float = 0, address: str | None = None,
                 force: bool | str = False, *, num_cpus: float | None = None, num_gpus: float | None = None,
                 execute: GroupFunction | None = None) -> None:
    """Every group as one Ray Tune trial with the resources of one trial; returns when all have ended.

    `cpus_per_trial` None derives it from the GPU share (see `derive_cpus`). `num_cpus`/`num_gpus`
    set the logical resources of the private instance (never of a cluster). `execute` replaces
    `run_group_and_store` (same signature), so tests can schedule trivial trials through real Ray.
    Raises ScheduleError, before any trial is submitted, for a request no node can hold or an
    address that cannot be joined."""
    check_request(cpus_per_trial, gpus_per_trial)
    from ray import tune

    with (ray_instance(store.root, address, num_cpus=num_cpus, num_gpus=num_gpus),
          tempfile.TemporaryDirectory(prefix="dmrec-ray-", ignore_cleanup_errors=True) as scratch):
        nodes = node_resources()
        check_request(cpus_per_trial, gpus_per_trial, nodes)
        cpus = derive_cpus(cpus_per_trial, gpus_per_trial, nodes)
        progress.parallel = max(1, round(concurrent_trials(cpus, gpus_per_trial, nodes) * members_at_once(groups)))
        payloads = {g.group_id: {"members": [inputs_of(t).as_dict() for t in g.trials], "results_root": str(store.root),
                                 "threads": threads_for(cpus), "force": force} for g in groups}
        trainable = tune.with_parameters(_ray_trial, payloads=payloads, execute=execute or run_group_and_store)
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": cpus, "gpu": gpus_per_trial}),
            param_space={"group_id": tune.grid_search(list(payloads))},
            tune_config=tune.TuneConfig(reuse_actors=True, trial_dirname_creator=lambda t: t.trial_id),
            run_config=tune.RunConfig(storage_path=scratch, name=store.grid, verbose=0,
                                      callbacks=[_progress_lines(progress, store, groups)],
                                      failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                                      checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False)),
        )
        tuner.fit()


def _progress_lines(progress: Progress, store: ResultStore, groups: list[TrialGroup]):
    """The Tune callback that shows each member's start, epochs and end in `progress`, and records a
    failure for the members of a group whose worker died."""
    from ray import tune

    group_of = {g.group_id: g for g in groups}
    ended: set[str] = set()

    class ProgressLines(tune.Callback):
        def on_trial_start(self, iteration, trials, trial, **info):
            for trial_id in group_of[trial.config["group_id"]].trial_ids:
                progress.started(trial_id)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            member = result.get(MEMBER_RESULT)
            if member is None:
                return
            if EPOCH_RESULT in result:  # one epoch of a running member
                progress.epoch(member, EpochEvent.from_dict(result[EPOCH_RESULT]))
            else:
                ended.add(member)
                progress.ended(member, result)

        def on_trial_error(self, iteration, trials, trial, **info):
            # the worker process died (killed, out of host memory): what it had not stored, nothing will.
            # After a stop signal, Tune's own shutdown kills the running workers and reports each
            # here: that is the stop, not a failure of the trial, so nothing is recorded
            if STOP.received is not None:
                return
            error = f"the Ray worker running this trial died ({trial.error_file or 'no error file'})"
            finished = store.finished_ids()
            for member in group_of[trial.config["group_id"]].trials:
                if member.trial_id in ended:
                    continue
                ended.add(member.trial_id)
                if member.trial_id in finished:  # it ended and was stored before the worker died
                    progress.ended(member.trial_id, {"status": "finished"})
                    continue
                store.write_failed(member.trial_id, member.config, error, "")
                progress.ended(member.trial_id, {"status": "failed", "error": error})

        def on_step_end(self, iteration, trials, **info):
            STOP.check()
            progress.heartbeat()

    return ProgressLines()
