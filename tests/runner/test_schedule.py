"""Scheduling: requests Ray could never satisfy are refused before anything is submitted, an
unreachable cluster fails in bounded time, a GPU share runs that many trials at once on one GPU
(logical GPUs on CPU, through real Ray), and a trial keeps the GPU Ray assigned it."""
import io
import json
import os
import socket
import tempfile
import time
from pathlib import Path

import pytest

from benchmark.runner.grid import Trial
from benchmark.runner.groups import form_groups
from benchmark.runner.progress import Progress
from benchmark.runner.schedule import (
    ScheduleError,
    check_request,
    concurrent_trials,
    derive_cpus,
    probe_cluster,
    run_with_ray,
    threads_for,
)
from benchmark.runner.store import ResultStore


@pytest.mark.parametrize("cpus, gpus, nodes, message", [
    (0, 0, None, "--cpus-per-trial must be above 0, got 0"),
    (-2, 0, None, "--cpus-per-trial must be above 0, got -2"),
    (float("nan"), 0, None, "--cpus-per-trial must be above 0, got nan"),
    (1, -0.5, None, "--gpus-per-trial must be 0 or above, got -0.5"),
    (1, 1.5, None, "--gpus-per-trial 1.5: a trial gets a fraction of one GPU or whole GPUs"),
    (1, 0.00001, None, "--gpus-per-trial 1e-05 is finer than Ray's 0.0001"),
    (float("inf"), 0, None, "--cpus-per-trial must be a finite number, got inf"),
    (1, float("inf"), None, "--gpus-per-trial must be a finite number, got inf"),
    (None, float("inf"), [{"CPU": 8.0, "GPU": 1.0}], "--gpus-per-trial must be a finite number, got inf"),
    (1, 1, [{"CPU": 2.0}], "--gpus-per-trial 1 asks for more GPUs than any Ray node has (at most 0)"),
    (None, 2, [{"CPU": 8.0, "GPU": 1.0}], "--gpus-per-trial 2 asks for more GPUs than any Ray node has (at most 1)"),
    # four CPUs in the cluster, but no node holds four: Ray never splits a trial across nodes
    (4, 0, [{"CPU": 2.0}, {"CPU": 2.0}], "--cpus-per-trial 4 asks for more CPUs than any Ray node has (at most 2)"),
    (4, 1, [{"CPU": 8.0}, {"CPU": 2.0, "GPU": 1.0}], "no Ray node has both 4 CPUs and 1 GPUs for one trial"),
])
def test_requests_ray_would_queue_forever_are_refused(cpus, gpus, nodes, message):
    with pytest.raises(ScheduleError) as refused:
        check_request(cpus, gpus, nodes)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


@pytest.mark.parametrize("cpus, gpus, nodes", [
    (1, 0, None), (None, 0.25, None), (None, 0.25, [{"CPU": 4.0, "GPU": 1.0}]), (2, 1, [{"CPU": 2.0, "GPU": 1.0}]),
    (0.5, 0, [{"CPU": 1.0}]), (1, 2, [{"CPU": 1.0}, {"CPU": 4.0, "GPU": 2.0}]),
])
def test_requests_that_fit_a_node_pass(cpus, gpus, nodes):
    check_request(cpus, gpus, nodes)


def test_a_gpu_share_gets_the_same_share_of_the_gpu_nodes_cpus():
    one_gpu = [{"CPU": 4.0, "GPU": 1.0}]
    assert derive_cpus(None, 0.25, one_gpu) == 1.0 and concurrent_trials(1.0, 0.25, one_gpu) == 4
    assert derive_cpus(None, 0.25, [{"CPU": 16.0, "GPU": 1.0}]) == 4.0 and threads_for(4.0) == 4
    assert derive_cpus(None, 0.25, [{"CPU": 2.0, "GPU": 1.0}]) == 0.5 and threads_for(0.5) == 1
    assert concurrent_trials(0.5, 0.25, [{"CPU": 2.0, "GPU": 1.0}]) == 4
    assert derive_cpus(None, 1 / 3, one_gpu) == 1.0  # 1.33 rounded down, so three trials still fit
    assert derive_cpus(None, 0.5, [{"CPU": 64.0}, {"CPU": 8.0, "GPU": 2.0}]) == 2.0  # a CPU-only head does not count
    assert derive_cpus(3, 0.25, one_gpu) == 3 and derive_cpus(None, 0, one_gpu) == 1.0
    assert concurrent_trials(1.0, 0, [{"CPU": 2.0}, {"CPU": 3.0}]) == 5 and threads_for(None) == 1


def refused_port() -> tuple[socket.socket, int]:
    """A port bound but not listening: connections to it are refused (keep the socket open)."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    return holder, holder.getsockname()[1]


def test_an_unreachable_cluster_is_one_line_in_bounded_time():
    silent = socket.socket()  # listening with a full backlog and never accepting: connects hang
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    filler = socket.create_connection(silent.getsockname(), timeout=5)
    holder, port = refused_port()
    try:
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ScheduleError, match=rf"^--address {address}: no Ray cluster answered within 0.5 s$"):
            probe_cluster(address, timeout_s=0.5)
        with pytest.raises(ScheduleError, match=rf"^--address ray://127.0.0.1:{port}: cannot reach a Ray cluster"):
            probe_cluster(f"ray://127.0.0.1:{port}")
        with pytest.raises(ScheduleError, match=r"^--address 127\.0\.0\.1:x: expected host:port$"):
            probe_cluster("127.0.0.1:x")
        import ray

        store = ResultStore("sched", root=Path(tempfile.mkdtemp()))
        with pytest.raises(ScheduleError, match=rf"^--address 127.0.0.1:{port}: cannot reach a Ray cluster"):
            run_with_ray(form_groups(trials(2, 1), 1), store, Progress(2, {}, stream=io.StringIO()),
                         address=f"127.0.0.1:{port}", execute=recording_group)
        assert not ray.is_initialized()
    finally:
        for sock in (filler, silent, holder):
            sock.close()


def trials(count: int, wait_for: int) -> list[Trial]:
    config = {"model": "multvae", "dataset": "tiny", "wait_for": wait_for}
    return [Trial(trial_id=f"t{i}", grid="sched", config_json=json.dumps({**config, "seed": i}), dataset_version="v1")
            for i in range(count)]


def recording_trial(inputs, results_root=None, threads=None, force=False, on_epoch=None) -> dict:
    """A stand-in for `run_and_store`, run by Ray workers: records when it ran and what it was given.
    It waits (90 s at most) until `wait_for` trials have started, so the trials that can overlap do,
    however slowly Ray starts its workers on a busy machine."""
    import ray

    trial_id, config = inputs.trial_id, inputs.config
    log = Path(results_root) / "log"
    log.mkdir(exist_ok=True)
    started = time.time()
    (log / f"{trial_id}.start").touch()
    deadline = time.monotonic() + 90
    while len(list(log.glob("*.start"))) < config["wait_for"] and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    (log / f"{trial_id}.json").write_text(json.dumps({
        "start": started, "end": time.time(), "threads": threads, "pid": os.getpid(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "omp": os.environ.get("OMP_NUM_THREADS"),
        "assigned": ray.get_runtime_context().get_assigned_resources(), "results_env": os.environ.get("DMREC_RESULTS"),
    }))
    return {"trial_id": trial_id, "status": "finished", "seconds": time.time() - started}


def recording_group(members, results_root=None, threads=None, force=False, on_epoch=None,
                    on_outcome=None) -> list[dict]:
    """A stand-in for `run_group_and_store`: `recording_trial` for each member (reported at the end)."""
    return [recording_trial(inputs, results_root, threads, force) for inputs in members]


def most_at_once(runs: list[dict]) -> int:
    events = sorted([(r["start"], 1) for r in runs] + [(r["end"], -1) for r in runs])  # an end sorts before a start
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


@pytest.fixture
def private_ray(monkeypatch):
    """A short Ray temp dir (socket paths have a length limit) holding a decoy `ray start` cluster
    address that refuses connections: a runner that joined the machine's cluster would fail."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", temp)
    holder, port = refused_port()
    (Path(temp) / "ray").mkdir()
    (Path(temp) / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{port}")
    yield
    holder.close()


@pytest.mark.slow
def test_a_quarter_gpu_runs_four_trials_at_once_on_one_gpu(private_ray, tmp_path):
    store = ResultStore("sched", root=tmp_path)
    batch = trials(8, wait_for=4)
    progress = Progress(len(batch), {t.trial_id: t.trial_id for t in batch}, stream=io.StringIO())
    run_with_ray(form_groups(batch, 1), store, progress, cpus_per_trial=None, gpus_per_trial=0.25, num_cpus=4,
                 num_gpus=1, execute=recording_group)
    runs = [json.loads((tmp_path / "log" / f"{t.trial_id}.json").read_text()) for t in batch]
    assert most_at_once(runs) == 4  # four share the one GPU; the fifth waits for a share
    assert progress.done == 8 and progress.parallel == 4
    for run in runs:  # cpus derived: 4 CPUs x 0.25 GPU / 1 GPU = 1 CPU, one thread each
        assert run["assigned"] == {"CPU": 1.0, "GPU": 0.25} and run["threads"] == 1 and run["omp"] == "1"
        assert run["cuda_visible_devices"] == "0" and run["results_env"] == str(tmp_path)
    assert len({run["pid"] for run in runs}) >= 4


@pytest.mark.slow
def test_more_gpus_than_the_cluster_has_is_refused_before_submitting(private_ray, tmp_path):
    import ray

    store = ResultStore("sched", root=tmp_path)
    refused = r"^--gpus-per-trial 1 asks for more GPUs than any Ray node has \(at most 0\)"
    with pytest.raises(ScheduleError, match=refused):
        run_with_ray(form_groups(trials(2, 1), 1), store, Progress(2, {}, stream=io.StringIO()), cpus_per_trial=1,
                     gpus_per_trial=1, num_cpus=2, num_gpus=0, execute=recording_group)
    assert not (tmp_path / "log").exists() and not ray.is_initialized()


@pytest.mark.parametrize("visible", ["", "3"])
def test_a_trial_keeps_the_gpu_ray_assigned(data_root, monkeypatch, visible):
    """RecBole sets CUDA_VISIBLE_DEVICES to its gpu_id ("0" by default), which would move every Ray
    trial onto the first GPU: the trial passes the assigned devices on as gpu_id instead."""
    from benchmark.runner.config import resolve
    from benchmark.runner.trial import build_recbole

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    recbole_config, _, _ = build_recbole(resolve("multvae", "tiny", {"matcher": "none"}))
    assert os.environ["CUDA_VISIBLE_DEVICES"] == visible and recbole_config["gpu_id"] == visible
    if not visible:
        assert recbole_config["device"].type == "cpu"


@pytest.mark.slow
def test_under_ray_the_progress_callback_sees_every_epoch(data_root, private_ray, tmp_path):
    """The trainable reports each epoch through Ray Tune; the driver's callback shows them in order,
    then the trial's end."""
    from benchmark.runner.grid import Narrowing, expand

    (trial,) = expand("smoke", Narrowing(models=["multvae"], matchers=["none"], seeds=1))
    store, stream = ResultStore("smoke", root=tmp_path), io.StringIO()
    progress = Progress(1, {trial.trial_id: "T"}, stream=stream, epoch_line_s=0.0, live=False)
    run_with_ray(form_groups([trial], 1), store, progress, cpus_per_trial=1, num_cpus=1)
    logged = [json.loads(line) for line in (tmp_path / "smoke" / "trials" / trial.trial_id / "epochs.jsonl")
              .read_text().splitlines()]
    lines = stream.getvalue().splitlines()
    shown = [line.split("| epoch  T  ")[1] for line in lines if "| epoch  T  " in line]
    assert [text.split("  loss ")[0] for text in shown] == [f"epoch {e['epoch']}/6" for e in logged]
    assert [float(text.split("  loss ")[1].split()[0]) for text in shown] == [round(e["loss"], 4) for e in logged]
    assert "| done   T (test recall@20" in lines[-1] and progress.done == 1
    assert len(logged) == store.read_record(trial.trial_id)["epochs_run"]
