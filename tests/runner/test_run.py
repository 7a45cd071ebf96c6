"""The runner end to end on the `tiny` fixture: resume after SIGKILL, failures recorded, Ray cluster."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from benchmark.runner.grid import Narrowing, expand
from benchmark.runner.store import ResultStore

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def runner_env(data_root, results):
    env = {**os.environ, "DMREC_DATA": str(data_root), "DMREC_RESULTS": str(results), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("RAY_ADDRESS", None)
    return env


def run(args, data_root, results, timeout=240, **extra_env):
    return subprocess.run([sys.executable, "-m", "benchmark.run", *args], cwd=REPO,
                          env={**runner_env(data_root, results), **extra_env}, capture_output=True, text=True,
                          timeout=timeout)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.glob("trials/*/record.json"))}


def test_resume_after_sigkill(data_root, tmp_path):
    results = tmp_path / "results"
    args = ["--grid", "smoke", "--no-ray", "--seeds", "6"]
    trials = expand("smoke", Narrowing(seeds=6))
    folder = results / "smoke"
    process = subprocess.Popen([sys.executable, "-m", "benchmark.run", *args], cwd=REPO,
                               env=runner_env(data_root, results), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(folder.glob("trials/*/record.json")):
            assert process.poll() is None, "the runner ended before finishing any trial"
            assert time.monotonic() < deadline, "no finished record within 120 s"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    killed = snapshot(folder)
    assert 1 <= len(killed) < len(trials), "the kill should land in the middle of the grid"

    again = run(args, data_root, results)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(trials) - len(killed)} to run" in again.stdout
    after = snapshot(folder)
    assert {k: after[k] for k in killed} == killed  # finished trials were not rerun
    assert sorted(after) == sorted(f"trials/{t.trial_id}/record.json" for t in trials)
    for trial in trials:  # exactly one finished record per trial, nothing half-written left
        files = sorted(p.name for p in (folder / "trials" / trial.trial_id).iterdir() if p.name != ".lock")
        assert files == ["epochs.jsonl", "per_user.csv.gz", "record.json"]
        epochs = (folder / "trials" / trial.trial_id / "epochs.jsonl").read_text().splitlines()
        assert len(epochs) == json.loads(after[f"trials/{trial.trial_id}/record.json"])["epochs_run"]
    store = ResultStore("smoke", root=results)
    assert store.finished_ids() == {t.trial_id for t in trials} and store.failed_ids() == set()
    index = store.index()
    assert len(index) == len(trials) and index["test_recall@20"].between(0, 1).all()
    assert "Mult-VAE" in again.stdout and "LightGCN" in again.stdout  # the summary table

    third = run(args, data_root, results)  # nothing left to do
    assert third.returncode == 0 and "0 to run" in third.stdout
    assert snapshot(folder) == after


DIVERGING_GRID = """# Mult-VAE diverges at this learning rate (a NaN loss fails the trial); LightGCN trains
blocks:
  - {datasets: [tiny], models: [multvae], matchers: [none, mddm], seeds: 1,
     params: {epochs: 4, eval_step: 2, learning_rate: 1.0e+30}}
  - {datasets: [tiny], models: [lightgcn], seeds: 1, params: {epochs: 2, eval_step: 1}}
"""


def test_failing_trials_are_recorded_and_the_grid_goes_on(data_root, tmp_path):
    results = tmp_path / "results"
    grid = tmp_path / "diverging.yaml"
    grid.write_text(DIVERGING_GRID)
    args = ["--grid", str(grid), "--no-ray"]
    done = run(args, data_root, results)
    assert done.returncode == 1
    store = ResultStore("diverging", root=results)
    trials = {t.trial_id: t for t in expand(str(grid))}
    failed = store.failed_ids()
    assert {trials[t].model for t in failed} == {"multvae"} and len(failed) == 2
    assert store.finished_ids() == set(trials) - failed
    failure = store.read_failed(next(iter(failed)))
    assert "loss is nan" in failure["error"] and "Traceback" in failure["traceback"]
    assert failure["config"]["learning_rate"] == 1.0e30
    assert "failed:" in done.stderr and "--retry-failed" in done.stderr

    finished = snapshot(results / "diverging")
    retry = run([*args, "--retry-failed"], data_root, results)
    assert retry.returncode == 1 and "2 to run" in retry.stdout
    assert snapshot(results / "diverging") == finished and store.failed_ids() == failed

    dry = run([*args, "--dry-run"], data_root, results)
    assert dry.returncode == 0 and "2 failed" in dry.stdout and "FAILED" in dry.stdout


def test_bad_command_line_is_a_clear_error(data_root, tmp_path):
    bad = run(["--grid", "smoke", "--set", "hiden=3", "--dry-run"], data_root, tmp_path)
    assert bad.returncode == 2 and "no model of the grid declares 'hiden'" in bad.stderr
    missing = run(["--grid", "smoke", "--datasets", "absent", "--dry-run"], data_root, tmp_path)
    assert missing.returncode == 2 and "unknown dataset 'absent'" in missing.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "ray start exited early"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"the Ray head did not listen on {port} within {timeout} s")


@pytest.mark.slow
def test_smoke_grid_on_a_ray_cluster(data_root, tmp_path):
    """A local Ray head on loopback stands in for a cluster: the runner joins it with --address and
    the workers write the records, seeing DMREC_DATA/DMREC_RESULTS through the runtime env.

    The head runs in the foreground (`--block`) in its own process group, and the test ends it by
    signalling that group: `ray stop --force` would also kill any other Ray on a shared machine."""
    results = tmp_path / "results"
    port = free_port()
    env = runner_env(data_root, tmp_path / "not-these-results")  # the head's own env: the runner's must win
    env["RAY_AUTH_MODE"] = "disabled"  # Ray 2.5x wants a token from remote drivers; not on loopback
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a length limit
    head = subprocess.Popen([str(VENV_BIN / "ray"), "start", "--head", "--block", "--port", str(port),
                             "--node-ip-address", "127.0.0.1", "--num-cpus", "2", "--include-dashboard=false",
                             "--disable-usage-stats"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for_port(port, head)
        done = run(["--grid", "smoke", "--address", f"127.0.0.1:{port}"], data_root, results, RAY_AUTH_MODE="disabled")
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=120)
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    store = ResultStore("smoke", root=results)
    trials = expand("smoke")
    assert store.finished_ids() == {t.trial_id for t in trials}
    assert not (tmp_path / "not-these-results").exists()
    for trial in trials:
        record = store.read_record(trial.trial_id)
        assert record["config"] == trial.config and record["env"]["torch_threads"] == 1
        assert len(store.read_per_user(trial.trial_id)) > 0
    assert "done 5/5" in done.stdout
