"""Trial groups (`--group-size K`): trials that differ only in their seed train together and are stored
as ordinary trials. Formation, sharding whole groups, member-by-member storing and resume, and the
runner with and without Ray on the tiny fixture."""
from __future__ import annotations

import io
import json
import math
import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.runner.execute import run_and_store, run_group_and_store
from benchmark.runner.grid import Narrowing, Trial, expand, shard, trial_id_of
from benchmark.runner.groups import (
    CPU_GROUP_SIZE,
    GPU_GROUP_SIZE,
    default_group_size,
    form_groups,
    members,
    remaining,
    shard_groups,
    sibling_key,
)
from benchmark.runner.inputs import inputs_of
from benchmark.runner.progress import Progress
from benchmark.runner.schedule import run_with_ray
from benchmark.runner.store import ResultStore
from tests.runner.test_run import run

ONE_CELL = ["--grid", "smoke", "--models", "multvae", "--matchers", "none"]  # 6 epochs of Mult-VAE on tiny


def made(seed: int, version: str = "v1", **config) -> Trial:
    config = {"model": "multvae", "dataset": "tiny", "learning_rate": 0.001, **config, "seed": seed}
    return Trial(trial_id_of(config, version), "g", json.dumps(config, sort_keys=True), version)


def seeds(groups) -> list[list[int]]:
    return [[t.seed for t in g.trials] for g in groups]


# ----- formation
def test_siblings_are_sorted_by_seed_and_chunked_in_the_grids_order():
    trials = [made(3), made(0), made(2), made(1), made(4), made(0, learning_rate=0.01)]
    assert seeds(form_groups(trials, 2)) == [[2, 3], [0, 1], [4], [0]]  # each at its earliest member's place
    assert seeds(form_groups(trials, 10)) == [[0, 1, 2, 3, 4], [0]]
    assert [g.trials for g in form_groups(trials, 1)] == [(t,) for t in trials]
    group = form_groups(trials, 2)[0]
    assert group.group_id == made(2).trial_id and group.trial_ids == [made(2).trial_id, made(3).trial_id]


@pytest.mark.parametrize("other", [
    made(1, learning_rate=0.01), made(1, model="ldiffrec"), made(1, dataset="tiny-notext"), made(1, matcher="mddm"),
    made(1, version="v2"), made(1, beta=None),
], ids=["a-value", "model", "dataset", "a-key-more", "dataset-version", "a-key-set-to-none"])
def test_trials_that_differ_in_anything_but_the_seed_are_never_grouped(other):
    assert seeds(form_groups([made(0), other], 10)) == [[0], [1]]
    assert sibling_key(made(0)) == sibling_key(made(7)) != sibling_key(other)


def test_a_group_size_below_one_is_refused():
    with pytest.raises(ValueError, match="at least one trial"):
        form_groups([made(0)], 0)


trial_lists = st.lists(
    st.builds(made, st.integers(0, 30), st.sampled_from(["v1", "v2"]),
              learning_rate=st.sampled_from([0.001, 0.01]), matcher=st.sampled_from(["none", "mddm"])),
    max_size=40, unique_by=lambda t: t.trial_id)


@settings(max_examples=200, deadline=None)
@given(trials=trial_lists, size=st.integers(1, 6))
def test_every_trial_is_in_exactly_one_group_of_siblings(trials, size):
    groups = form_groups(trials, size)
    assert sorted(t.trial_id for t in members(groups)) == sorted(t.trial_id for t in trials)
    for group in groups:
        assert 1 <= len(group.trials) <= size
        assert len({sibling_key(t) for t in group.trials}) == 1
        assert [t.seed for t in group.trials] == sorted(t.seed for t in group.trials)
    by_key: dict[str, int] = {}
    for trial in trials:
        by_key[sibling_key(trial)] = by_key.get(sibling_key(trial), 0) + 1
    assert len(groups) == sum(math.ceil(n / size) for n in by_key.values())  # only the last chunk is short
    assert [g.trials for g in form_groups(trials, 1)] == [(t,) for t in trials]  # K = 1: the trial list itself


@settings(max_examples=100, deadline=None)
@given(trials=trial_lists, size=st.integers(1, 6), count=st.integers(1, 5))
def test_shards_hold_whole_groups_and_with_one_trial_each_are_shard(trials, size, count):
    groups = form_groups(trials, size)
    parts = [shard_groups(groups, index, count) for index in range(1, count + 1)]
    assert sorted(g.group_id for part in parts for g in part) == sorted(g.group_id for g in groups)
    singles = form_groups(trials, 1)
    for index in range(1, count + 1):
        assert members(shard_groups(singles, index, count)) == shard(trials, index, count)


def test_finished_members_are_left_out_and_an_emptied_group_dropped():
    groups = form_groups([made(s) for s in range(5)], 3)
    left = remaining(groups, {made(1).trial_id, made(2).trial_id})
    assert seeds(left) == [[1, 2]]


@pytest.mark.parametrize("no_ray, gpus, sharded, cuda, expected", [
    (True, 0.0, False, True, GPU_GROUP_SIZE), (True, 0.0, False, False, CPU_GROUP_SIZE),
    (False, 0.25, False, False, GPU_GROUP_SIZE), (False, 0.0, False, True, CPU_GROUP_SIZE),
    (True, 0.0, True, True, CPU_GROUP_SIZE), (False, 1.0, True, True, CPU_GROUP_SIZE),
])
def test_the_default_group_size_follows_where_trials_train(no_ray, gpus, sharded, cuda, expected):
    asked = []

    def cuda_available() -> bool:
        asked.append(True)
        return cuda

    assert default_group_size(no_ray, gpus, sharded, cuda_available) == expected
    assert bool(asked) == (no_ray and not sharded)  # torch is imported only when the answer depends on it


# ----- storing member by member
def cell(seed_count: int = 3) -> list[Trial]:
    return expand("smoke", Narrowing(models=["multvae"], matchers=["none"], seeds=seed_count))


def test_a_group_trains_only_its_unstored_members(data_root, tmp_path):
    trials = cell()
    assert run_and_store(inputs_of(trials[1]), str(tmp_path), threads=1)["status"] == "finished"
    store = ResultStore("smoke", root=tmp_path)
    kept = store.record_path(trials[1].trial_id).read_bytes()
    epochs: dict[int, int] = {0: 0, 1: 0, 2: 0}

    def count(index):
        return lambda event: epochs.__setitem__(index, epochs[index] + 1)

    outcomes = run_group_and_store([inputs_of(t) for t in trials], str(tmp_path), threads=1,
                                   on_epoch=[count(i) for i in range(3)])
    assert [o["status"] for o in outcomes] == ["finished", "exists", "finished"]
    assert [o["trial_id"] for o in outcomes] == [t.trial_id for t in trials]
    assert store.record_path(trials[1].trial_id).read_bytes() == kept
    assert epochs[1] == 0 and epochs[0] == store.read_record(trials[0].trial_id)["epochs_run"] > 0
    assert store.finished_ids() == {t.trial_id for t in trials} and store.claimed_ids() == {}


def test_a_group_stopped_mid_way_keeps_the_members_that_ended(data_root, tmp_path):
    # LightGCN's members train one after another (it forms no batched model), so the first one has
    # ended, and must be stored, when the second one's first epoch is stopped
    trials = expand("smoke", Narrowing(models=["lightgcn"], seeds=3))

    def stop(event):
        raise KeyboardInterrupt  # Ctrl-C in the second member's first epoch

    with pytest.raises(KeyboardInterrupt):
        run_group_and_store([inputs_of(t) for t in trials], str(tmp_path), threads=1, on_epoch=[None, stop, None])
    store = ResultStore("smoke", root=tmp_path)
    assert store.finished_ids() == {trials[0].trial_id} and store.failed_ids() == set()
    assert store.claimed_ids() == {} and not list((tmp_path / "smoke" / "claims").iterdir())
    again = run_group_and_store([inputs_of(t) for t in trials], str(tmp_path), threads=1)
    assert [o["status"] for o in again] == ["exists", "finished", "finished"]


# ----- the runner
def records(results, trials) -> dict[str, dict]:
    store = ResultStore("smoke", root=results)
    return {t.trial_id: store.read_record(t.trial_id) for t in trials}


def solo_records(results, trials) -> dict[str, dict]:
    store = ResultStore("smoke", root=results)
    return {trial_id: {**record, "per_user_frame": store.read_per_user(trial_id)}
            for trial_id, record in records(results, trials).items()}


def same_numbers(ours: dict, theirs: dict) -> bool:
    """The same trial, trained to the same metrics, exactly (timings and a group's own note aside; the
    posterior statistics are a variance over users, summed in another order in a batched model)."""
    keys = ("config", "dataset_version", "metrics", "best_epoch", "epochs_run", "provenance")
    return (all(ours[key] == theirs[key] for key in keys) and set(ours) - {"group"} == set(theirs) - {"per_user_frame"}
            and ours["posterior"]["dim_variance"] == pytest.approx(theirs["posterior"]["dim_variance"], rel=1e-5))


@pytest.fixture(scope="module")
def solo(data_root, tmp_path_factory):
    """The cell's three seeds run one by one (`--group-size 1`): the numbers a group must give."""
    results = tmp_path_factory.mktemp("solo")
    done = run([*ONE_CELL, "--seeds", "3", "--no-ray", "--group-size", "1"], data_root, results)
    assert done.returncode == 0, done.stderr[-2000:]
    return solo_records(results, cell())


def test_a_group_in_process_stores_the_records_of_solo_trials(data_root, tmp_path, solo):
    results = tmp_path / "results"
    done = run([*ONE_CELL, "--seeds", "3", "--no-ray", "--group-size", "3"], data_root, results)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 to run in 1 group (in this process)" in done.stdout
    ours = records(results, cell())
    for trial_id, record in ours.items():
        assert same_numbers(record, solo[trial_id])
        assert record["metrics"] == solo[trial_id]["metrics"]  # exactly, not approximately
        assert [row["recall@20"] for row in record["curve"]] == [row["recall@20"] for row in solo[trial_id]["curve"]]
        assert ResultStore("smoke", root=results).read_per_user(trial_id).equals(solo[trial_id]["per_user_frame"])
    again = run([*ONE_CELL, "--seeds", "3", "--no-ray", "--group-size", "3"], data_root, results)
    assert again.returncode == 0 and "0 to run" in again.stdout


def test_a_rerun_trains_only_the_members_left(data_root, tmp_path, solo):
    results = tmp_path / "results"
    first = run([*ONE_CELL, "--seeds", "1", "--no-ray", "--group-size", "3"], data_root, results)
    assert first.returncode == 0, first.stderr[-2000:]
    stored = ResultStore("smoke", root=results).record_path(cell()[0].trial_id).read_bytes()
    rest = run([*ONE_CELL, "--seeds", "3", "--no-ray", "--group-size", "3"], data_root, results)
    assert rest.returncode == 0, rest.stderr[-2000:]
    assert "1 already stored or skipped" in rest.stdout and "2 to run in 1 group" in rest.stdout
    assert ResultStore("smoke", root=results).record_path(cell()[0].trial_id).read_bytes() == stored
    assert all(same_numbers(record, solo[trial_id]) for trial_id, record in records(results, cell()).items())


def test_the_dry_run_shows_the_groups(data_root, tmp_path):
    dry = run(["--grid", "smoke", "--seeds", "3", "--group-size", "2", "--dry-run"], data_root, tmp_path)
    assert dry.returncode == 0, dry.stderr
    lines = [line.split() for line in dry.stdout.splitlines() if " on tiny " in line]
    groups = form_groups(expand("smoke", Narrowing(seeds=3)), 2)
    assert [(line[0], line[1]) for line in lines] == \
        [(t.trial_id, f"g{number}") for number, g in enumerate(groups, 1) for t in g.trials]
    assert "6 groups of at most 2 trials" in dry.stdout
    plain = run(["--grid", "smoke", "--seeds", "3", "--group-size", "1", "--dry-run"], data_root, tmp_path)
    assert [line.split()[1] for line in plain.stdout.splitlines() if " on tiny " in line] == ["pending"] * 9


@pytest.mark.parametrize("size", ["0", "-2", "two", "1.5"])
def test_a_group_size_that_is_no_count_is_refused(data_root, tmp_path, size):
    bad = run(["--grid", "smoke", "--group-size", size, "--dry-run"], data_root, tmp_path, timeout=60)
    assert bad.returncode == 2
    assert f"argument --group-size: expected a positive integer, got '{size}'" in bad.stderr


def test_shards_of_groups_cover_the_grid_with_whole_groups(data_root, tmp_path):
    trials = expand("smoke", Narrowing(seeds=4))
    groups = form_groups(trials, 3)
    listed = []
    for index in (1, 2):
        dry = run(["--grid", "smoke", "--seeds", "4", "--group-size", "3", "--shard", f"{index}/2", "--dry-run"],
                  data_root, tmp_path, timeout=60)
        assert dry.returncode == 0, dry.stderr
        ids = [line.split()[0] for line in dry.stdout.splitlines() if " on tiny " in line]
        assert ids == [t.trial_id for t in members(shard_groups(groups, index, 2))]
        listed += ids
    assert sorted(listed) == sorted(t.trial_id for t in trials)
    default = run(["--grid", "smoke", "--seeds", "4", "--shard", "1/2", "--no-ray", "--dry-run"], data_root, tmp_path,
                  timeout=60)  # with --shard the default is one trial per group on every machine: today's shard
    assert [line.split()[0] for line in default.stdout.splitlines() if " on tiny " in line] == \
        [t.trial_id for t in shard(trials, 1, 2)]


def test_a_sharded_group_run_stores_its_part(data_root, tmp_path, solo):
    results = tmp_path / "results"
    trials = cell()
    for index in (1, 2):
        done = run([*ONE_CELL, "--seeds", "3", "--no-ray", "--group-size", "2", "--shard", f"{index}/2"],
                   data_root, results)
        assert done.returncode == 0, done.stderr[-2000:]
    assert all(same_numbers(record, solo[trial_id]) for trial_id, record in records(results, trials).items())


@pytest.mark.slow
def test_a_group_under_ray_stores_solo_records_and_shows_each_member(data_root, tmp_path, solo):
    results = tmp_path / "results"
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths have a length limit
    done = run([*ONE_CELL, "--seeds", "3", "--group-size", "3"], data_root, results, RAY_TMPDIR=ray_tmp)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "3 to run in 1 group (Ray)" in done.stdout and "done 3/3" in done.stdout
    for seed in range(3):  # each member's epochs reach the view under its own trial
        assert f"| epoch  multvae+none on tiny seed {seed}  epoch 1/6" in done.stdout
        assert f"| done   multvae+none on tiny seed {seed} (test recall@20" in done.stdout
    assert all(same_numbers(record, solo[trial_id]) for trial_id, record in records(results, cell()).items())


def dying_worker(members, *args, **kwargs):
    os._exit(1)  # the worker process dies (as when the kernel kills it): nothing is stored from inside


@pytest.mark.slow
def test_a_dead_worker_fails_the_members_without_a_record(data_root, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    trials = cell()
    assert run_and_store(inputs_of(trials[0]), str(tmp_path), threads=1)["status"] == "finished"
    store = ResultStore("smoke", root=tmp_path)
    progress = Progress(3, {t.trial_id: t.trial_id for t in trials}, stream=io.StringIO())
    run_with_ray(form_groups(trials, 3), store, progress, cpus_per_trial=1, num_cpus=1, execute=dying_worker)
    assert store.finished_ids() == {trials[0].trial_id}
    assert store.failed_ids() == {trials[1].trial_id, trials[2].trial_id}
    assert "the Ray worker running this trial died" in store.read_failed(trials[1].trial_id)["error"]
    assert progress.failed == 2 and progress.done == 1 and progress.running == {}


def test_a_member_that_ends_early_is_reported_while_the_others_train(data_root, tmp_path):
    """Seeds 0-2 of this short schedule stop at different validations (tests/training/test_group.py)."""
    trials = expand("smoke", Narrowing(models=["multvae"], matchers=["mddm"], seeds=3,
                                       params={"epochs": 30, "stopping_step": 1, "eval_step": 1}))
    events: list[tuple[str, int, int]] = []  # (kind, member, epoch or -1)

    def epoch_of(index):
        return lambda event: events.append(("epoch", index, event.epoch))

    outcomes = run_group_and_store([inputs_of(t) for t in trials], str(tmp_path), threads=1,
                                   on_epoch=[epoch_of(i) for i in range(3)],
                                   on_outcome=lambda index, outcome: events.append(("ended", index, -1)))
    assert [outcome["status"] for outcome in outcomes] == ["finished"] * 3
    ends = [position for position, event in enumerate(events) if event[0] == "ended"]
    last_epoch = max(position for position, event in enumerate(events) if event[0] == "epoch")
    assert len(ends) == 3 and ends[0] < last_epoch, "the first member to stop is reported before the group ends"
    first = events[ends[0]][1]
    assert ResultStore("smoke", root=tmp_path).read_record(trials[first].trial_id)["epochs_run"] < max(
        e[2] for e in events if e[0] == "epoch")
