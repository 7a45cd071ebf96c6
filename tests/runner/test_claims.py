"""One claim mechanism: a trial being trained is held by a live process; a dead claimant's claim is taken over."""
import json
import os
import signal
import subprocess
import sys
import time

from benchmark.runner.execute import run_and_store
from benchmark.runner.grid import Narrowing, expand
from benchmark.runner.inputs import resolve_inputs
from benchmark.runner.store import ResultStore
from tests.runner.test_run import REPO, run

HOLD = """
import sys, time
from benchmark.runner.store import ResultStore
from tests.runner.test_run import REPO, run
claim = ResultStore("g", root=sys.argv[1]).claim("t1")
print("held" if claim else "busy", flush=True)
time.sleep(600)
"""


def test_a_claim_excludes_every_other_holder_until_released(tmp_path):
    store, other = ResultStore("g", root=tmp_path), ResultStore("g", root=tmp_path)
    claim = store.claim("t1")
    assert claim is not None and other.claim("t1") is None  # another open of the file cannot lock it
    holder = other.claimed_ids()["t1"]
    assert holder["pid"] == os.getpid() and holder["host"] and holder["started_at"]
    claim.release()
    assert other.claimed_ids() == {} and not store.claim_path("t1").exists()
    again = other.claim("t1")
    assert again is not None
    again.release()


def test_the_claim_of_a_killed_process_is_taken_over(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        store = ResultStore("g", root=tmp_path)
        assert store.claim("t1") is None and store.claimed_ids()["t1"]["pid"] == process.pid
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert store.claim_path("t1").exists()  # the file stays, but no one holds it
    assert store.claimed_ids() == {}
    claim = store.claim("t1")
    assert claim is not None
    assert json.loads(store.claim_path("t1").read_text())["pid"] == os.getpid()
    claim.release()


def test_a_trial_held_by_another_runner_is_left_to_it(data_root, tmp_path):
    store = ResultStore("g", root=tmp_path)
    claim = store.claim("t1")
    try:
        started = time.perf_counter()
        inputs = resolve_inputs({"model": "multvae", "dataset": "tiny", "seed": 0}, "any", "t1", "g")
        outcome = run_and_store(inputs, str(tmp_path), threads=1)
        assert outcome["status"] == "claimed" and time.perf_counter() - started < 5
        assert store.finished_ids() == set() and store.failed_ids() == set()
    finally:
        claim.release()


def test_a_runner_skips_and_reports_what_another_runner_holds(data_root, tmp_path):
    results = tmp_path / "results"
    trials = expand("smoke", Narrowing(seeds=1, models=["multvae"]))
    held = next(t for t in trials if t.matcher == "mddm")
    claim = ResultStore("smoke", root=results).claim(held.trial_id)
    try:
        dry = run(["--grid", "smoke", "--seeds", "1", "--models", "multvae", "--dry-run"], data_root, results)
        assert f"{held.trial_id}  running" in dry.stdout and "1 running, 1 pending" in dry.stdout
        done = run(["--grid", "smoke", "--no-ray", "--seeds", "1", "--models", "multvae"], data_root, results)
    finally:
        claim.release()
    assert done.returncode == 1, done.stderr[-2000:]
    assert "1 being run by another runner, 1 to run" in done.stdout
    assert f"skip: {held.trial_id} multvae+mddm on tiny seed 0: held by pid {os.getpid()}" in done.stdout
    assert "0 failed, 1 not run (another runner may hold them)" in done.stderr and "failed/" not in done.stderr
    store = ResultStore("smoke", root=results)
    assert store.finished_ids() == {t.trial_id for t in trials} - {held.trial_id}
