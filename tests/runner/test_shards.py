"""`--shard i/n`: fixed parts of the whole grid that cover it exactly once, resumable after a kill."""
import signal
import subprocess
import sys
import time

import pytest

from benchmark.runner.grid import Narrowing, expand, shard
from benchmark.runner.store import ResultStore
from tests.runner.test_run import REPO, run, runner_env, snapshot


def listed_ids(stdout: str) -> list[str]:
    return [line.split()[0] for line in stdout.splitlines() if " on tiny " in line]


@pytest.mark.parametrize("count", [2, 3])
def test_shards_cover_the_grid_exactly_once(data_root, tmp_path, count):
    every = sorted(t.trial_id for t in expand("smoke", Narrowing(seeds=4)))
    parts = []
    for index in range(1, count + 1):
        dry = run(["--grid", "smoke", "--seeds", "4", "--shard", f"{index}/{count}", "--dry-run"], data_root, tmp_path,
                  timeout=60)
        assert dry.returncode == 0, dry.stderr
        parts.append(listed_ids(dry.stdout))
        assert parts[-1] == [t.trial_id for t in shard(expand("smoke", Narrowing(seeds=4)), index, count)]
    assert sorted(i for part in parts for i in part) == every  # disjoint, and together the whole grid
    assert all(parts)


def test_a_shard_killed_mid_way_finishes_its_part_when_rerun(data_root, tmp_path):
    results = tmp_path / "results"
    trials = expand("smoke", Narrowing(seeds=3))
    parts = {i: {t.trial_id for t in shard(trials, i, 2)} for i in (1, 2)}
    big = max(parts, key=lambda i: len(parts[i]))  # the shard with more trials is the one killed
    small = 3 - big
    assert len(parts[big]) >= 2
    first = run(["--grid", "smoke", "--no-ray", "--seeds", "3", "--shard", f"{small}/2"], data_root, results)
    assert first.returncode == 0 and f"{len(parts[small])} to run" in first.stdout  # its own part is all done
    small_records = snapshot(results / "smoke")
    assert {k.split("/")[1] for k in small_records} == parts[small]

    process = subprocess.Popen([sys.executable, "-m", "benchmark.run", "--grid", "smoke", "--no-ray", "--seeds", "3",
                                "--shard", f"{big}/2"], cwd=REPO, env=runner_env(data_root, results),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(snapshot(results / "smoke")) == len(small_records):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)  # mid-way: one of its trials is stored, the next holds a claim
    finally:
        process.wait(timeout=30)
    killed = snapshot(results / "smoke")
    assert len(small_records) < len(killed) < len(trials)

    again = run(["--grid", "smoke", "--no-ray", "--seeds", "3", "--shard", f"{big}/2"], data_root, results)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{len(trials) - len(killed)} to run" in again.stdout
    after = snapshot(results / "smoke")
    assert {k: after[k] for k in killed} == killed  # nothing stored was trained again
    store = ResultStore("smoke", root=results)
    assert store.finished_ids() == {t.trial_id for t in trials} and store.claimed_ids() == {}
