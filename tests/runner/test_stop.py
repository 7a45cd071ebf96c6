"""A clean stop: Ctrl-C (SIGINT to the whole foreground process group, as a terminal sends it) or
SIGTERM, under Ray or in-process, ends `python -m benchmark.run` with exit 130 and one line, no
claim left, no failure recorded, no Ray process left; and a KeyboardInterrupt that Python swallows
still stops the grid."""
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from benchmark.runner.grid import expand
from benchmark.runner.groups import form_groups
from benchmark.runner.progress import Progress
from benchmark.runner.schedule import STOP, run_sequential
from benchmark.runner.store import ResultStore
from tests.runner.test_cli import endless_grid, wait_until_training
from tests.runner.test_run import REPO, runner_env


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (Ray's own carry its session folder)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "signum"), [("ray", signal.SIGINT), ("ray", signal.SIGTERM),
                                              ("no-ray", signal.SIGTERM)], ids=["ray-sigint", "ray-sigterm",
                                                                                "no-ray-sigterm"])
def test_a_stop_is_exit_130_one_line_and_leaves_nothing_running(data_root, tmp_path, mode, signum):
    results = tmp_path / "results"
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = {**runner_env(data_root, results), "RAY_TMPDIR": ray_tmp}
    command = [sys.executable, "-m", "benchmark.run", "--grid", endless_grid(tmp_path),
               *(["--no-ray"] if mode == "no-ray" else [])]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        wait_until_training(process, results / "endless")
        if signum == signal.SIGINT:
            os.killpg(process.pid, signum)  # the terminal's Ctrl-C: the runner and whatever shares its group
        else:
            process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stdout[-2000:] + stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "interrupted: 1 trials stored, rerun the same command to resume"
    assert len(list(results.glob("endless/trials/*/record.json"))) == 1
    assert "all trials ended" not in stdout and "another runner may hold them" not in stderr
    assert "Traceback" not in stderr and not (results / "endless" / "failed").exists()
    assert ResultStore("endless", root=results).claimed_ids() == {}
    assert not list((results / "endless" / "claims").iterdir())
    assert processes_mentioning(ray_tmp) == []  # Ray shut down


class SwallowedStop:
    """Sends SIGINT from a finalizer, where Python prints "Exception ignored" and drops the KeyboardInterrupt."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed one, on purpose
def test_a_stop_swallowed_in_a_finalizer_still_stops_the_grid(data_root, tmp_path):
    trials = expand("smoke")
    ran = []

    def execute(members, *args, **kwargs):
        ran.extend(inputs.trial_id for inputs in members)
        SwallowedStop()  # collected at once: the KeyboardInterrupt is raised and lost inside __del__
        return [{"trial_id": inputs.trial_id, "status": "finished", "seconds": 0.0} for inputs in members]

    progress = Progress(len(trials), {t.trial_id: t.trial_id for t in trials}, stream=open(os.devnull, "w"))
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN in a background job
    with STOP.active(), pytest.raises(KeyboardInterrupt):
        run_sequential(form_groups(trials, 1), ResultStore("smoke", root=tmp_path), progress, execute=execute)
    assert ran == [trials[0].trial_id]
    assert signal.getsignal(signal.SIGINT) is before  # restored after the block
    assert STOP.received is None  # and the stop with it: the next run in this process is not stopped
    assert run_sequential(form_groups(trials[:1], 1), ResultStore("smoke", root=tmp_path), progress,
                          execute=lambda members, *a, **k: [{"trial_id": m.trial_id, "status": "finished",
                                                            "seconds": 0.0} for m in members]) is None


FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
case "$*" in *benchmark.run*) exit "$RUN_STATUS";; esac
exit 0
"""


@pytest.mark.parametrize(("run_status", "analysed"), [(130, False), (1, True), (0, True)])
def test_run_all_never_analyses_a_stopped_run(tmp_path, run_status, analysed):
    """./run_all.sh's own control flow, with a stand-in interpreter that records its calls (set-up is
    skipped: the stamp matches): a stopped run (130) is not analysed into the committed outputs."""
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("run_all.sh", "pyproject.toml"):
        (copy / name).write_bytes((REPO / name).read_bytes())
    (copy / "run_all.sh").chmod(0o755)
    python = copy / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    stamp = subprocess.run("cat pyproject.toml run_all.sh | sha256sum | cut -c1-16", shell=True, cwd=copy,
                           capture_output=True, text=True, check=True).stdout
    (copy / ".venv" / ".dmrec-setup").write_text(stamp)
    calls = tmp_path / "calls"
    done = subprocess.run(["./run_all.sh"], cwd=copy, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CALLS": str(calls), "RUN_STATUS": str(run_status)})
    assert done.returncode == run_status, done.stderr
    modules = [line.split()[1] for line in calls.read_text().splitlines()]
    assert modules == ["benchmark.data", "benchmark.data", "benchmark.run", *(["benchmark.analysis"] * analysed)]
