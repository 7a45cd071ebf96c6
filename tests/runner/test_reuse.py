"""Trials shared across grids: a trial another grid under the same root finished with today's code is
copied, not trained again, under this grid's claim; never with --force, never a stale or bad record."""
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.runner.execute import reusable, reuse_stored, run_and_store
from benchmark.runner.grid import Narrowing, expand, load_grid, trial_id_of
from benchmark.runner.inputs import resolve_inputs
from benchmark.runner.provenance import code_provenance
from benchmark.runner.store import RecordExists, ResultStore
from tests.runner.test_run import REPO, run, runner_env
from tests.runner.test_store import record


def fresh(seed=0, recall=0.25) -> dict:
    """A record made by today's code (so not stale)."""
    return {**record(seed=seed, recall=recall), "provenance": code_provenance("multvae")}


def stores(tmp_path, *grids):
    return [ResultStore(grid, root=tmp_path) for grid in grids]


def test_adopt_copies_record_and_per_user_file(tmp_path):
    table2, sparsity = stores(tmp_path, "table2", "sparsity")
    table2.write_finished("t1", fresh())
    assert sparsity.find_elsewhere(["t1", "t2"], reusable) == {"t1": "table2"}
    claim = sparsity.claim("t1")
    with claim:
        assert sparsity.adopt("t1", table2, reusable)
    source, copy = table2.read_record("t1"), sparsity.read_record("t1")
    assert copy["grid"] == "sparsity"
    assert copy["reused_from"] == {"grid": "table2", "finished_at": source["finished_at"]}
    assert {k: v for k, v in copy.items() if k not in ("grid", "finished_at", "reused_from")} == \
        {k: v for k, v in source.items() if k not in ("grid", "finished_at")}
    assert sparsity.per_user_path("t1").read_bytes() == table2.per_user_path("t1").read_bytes()
    assert sparsity.finished_ids() == {"t1"} and sparsity.index()["grid"].tolist() == ["sparsity"]
    assert not list(sparsity.trials_dir.glob("t1/.*.tmp"))
    assert sparsity.find_elsewhere(["t1"], reusable) == {"t1": "table2"}  # its own copy is not "elsewhere"
    with pytest.raises(RecordExists):  # a copy never replaces a record without force
        sparsity.adopt("t1", table2, reusable)


def test_the_first_grid_by_name_is_the_source(tmp_path):
    b, a, target = stores(tmp_path, "b", "a", "target")
    b.write_finished("t1", fresh())
    a.write_finished("t1", fresh())
    (tmp_path / "tables").mkdir()  # a folder that is no grid is passed over
    assert target.find_elsewhere(["t1"], reusable) == {"t1": "a"}
    assert [s.grid for s in target.sibling_stores()] == ["a", "b"]


def damage_record(store, trial_id):
    path = store.record_path(trial_id)
    path.write_bytes(path.read_bytes()[:100])


def wrong_shape(store, trial_id):
    path = store.record_path(trial_id)
    content = json.loads(path.read_text())
    content["metrics"]["test"] = "high"
    path.write_text(json.dumps(content))


def stale(store, trial_id):
    path = store.record_path(trial_id)
    content = json.loads(path.read_text())
    content["provenance"]["code_hash"] = "0" * 64
    path.write_text(json.dumps(content))


def tuning_sample(store, trial_id):
    path = store.record_path(trial_id)
    content = json.loads(path.read_text())
    content.update(search={"started_at": "2025-01-01T00:00:00+00:00", "ended": None})
    content["metrics"]["test"] = {}
    path.write_text(json.dumps(content))


def no_per_user(store, trial_id):
    store.per_user_path(trial_id).unlink()


def bad_per_user(store, trial_id):
    store.per_user_path(trial_id).write_bytes(gzip.compress(b"user,n_train\n1,lots\n"))


@pytest.mark.parametrize("spoil", [damage_record, wrong_shape, stale, tuning_sample, no_per_user, bad_per_user])
def test_a_record_that_cannot_be_trusted_is_not_copied(tmp_path, spoil):
    table2, sparsity = stores(tmp_path, "table2", "sparsity")
    table2.write_finished("t1", fresh())
    spoil(table2, "t1")
    if spoil is not bad_per_user:  # a damaged per-user file shows only when it is read, at the copy
        assert sparsity.find_elsewhere(["t1"], reusable) == {}
    assert reuse_stored(sparsity, "t1", "table2") is None
    assert not sparsity.trials_dir.exists() or not any(sparsity.trials_dir.glob("t1/*"))


def test_a_trial_held_in_the_other_grid_is_not_copied_until_released(tmp_path):
    table2, sparsity = stores(tmp_path, "table2", "sparsity")
    table2.write_finished("t1", fresh())
    claim = table2.claim("t1")  # e.g. a --force rerun there: the record may be replaced any moment
    with claim:
        assert sparsity.find_elsewhere(["t1"], reusable) == {}
        assert reuse_stored(sparsity, "t1", "table2") is None and sparsity.finished_ids() == set()
    assert reuse_stored(sparsity, "t1", "table2") == "table2"


def test_a_copy_happens_only_under_this_grids_claim(tmp_path):
    table2, sparsity = stores(tmp_path, "table2", "sparsity")
    table2.write_finished("t1", fresh())
    claim = ResultStore("sparsity", root=tmp_path).claim("t1")  # another runner of this grid holds it
    with claim:
        assert reuse_stored(sparsity, "t1", "table2") is None and sparsity.finished_ids() == set()
    assert not sparsity.claim_path("t1").exists()


def test_a_grid_folder_that_leads_out_of_the_root_is_never_read(tmp_path):
    outside = ResultStore("elsewhere", root=tmp_path / "outside")
    outside.write_finished("t1", fresh())
    root = tmp_path / "results"
    root.mkdir()
    os.symlink(outside.folder, root / "linked")
    sparsity = ResultStore("sparsity", root=root)
    assert sparsity.sibling_stores() == [] and sparsity.find_elsewhere(["t1"], reusable) == {}


def test_another_dataset_version_never_matches(tmp_path):
    config = {"model": "multvae", "dataset": "tiny", "seed": 0}
    old, new = trial_id_of(config, "v1"), trial_id_of(config, "v2")
    table2, sparsity = stores(tmp_path, "table2", "sparsity")
    table2.write_finished(old, fresh())
    assert old != new and sparsity.find_elsewhere([new], reusable) == {}


def test_run_and_store_copies_instead_of_training_unless_forced(data_root, tmp_path):
    trial = expand("smoke", Narrowing(seeds=1, models=["multvae"], matchers=["none"]))[0]
    table2 = ResultStore("table2", root=tmp_path)
    table2.write_finished(trial.trial_id, {**fresh(), "config": trial.config})
    inputs = resolve_inputs(trial.config, trial.dataset_version, trial.trial_id, "sparsity")
    outcome = run_and_store(inputs, str(tmp_path), threads=1)
    assert outcome["status"] == "reused" and outcome["from"] == "table2"
    sparsity = ResultStore("sparsity", root=tmp_path)
    assert sparsity.read_record(trial.trial_id)["reused_from"]["grid"] == "table2"
    forced = run_and_store(inputs, str(tmp_path), threads=1, force=True)
    assert forced["status"] == "finished", forced
    assert "reused_from" not in sparsity.read_record(trial.trial_id)


# ----- the runner end to end, on the `tiny` fixture: the grid `shared` is a copy of `smoke`

@pytest.fixture
def shared_grid(tmp_path) -> str:
    path = tmp_path / "shared.yaml"
    shutil.copy(REPO / "benchmark/grids/smoke.yaml", path)
    return str(path)


def metrics(results: Path, grid: str) -> dict:
    store = ResultStore(grid, root=results)
    return {t: store.read_record(t)["metrics"] for t in store.finished_ids()}


def test_a_grid_reuses_what_another_grid_finished_and_resumes(data_root, tmp_path, shared_grid):
    results = tmp_path / "results"
    assert run(["--grid", "smoke", "--no-ray", "--seeds", "1"], data_root, results).returncode == 0
    smoke = {t.trial_id for t in expand("smoke", Narrowing(seeds=1))}
    dry = run(["--grid", shared_grid, "--seeds", "2", "--dry-run"], data_root, results)
    assert dry.stdout.count("reusable from smoke") == 3 and "6 trials in grid 'shared': 3 reusable, 3 pending" \
        in dry.stdout
    for trial_id in smoke:
        assert f"{trial_id}  reusable from smoke  " in dry.stdout
    done = run(["--grid", shared_grid, "--no-ray", "--seeds", "2"], data_root, results)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "0 already stored or skipped, 3 reused from other grids, 0 being run by another runner, 3 to run" \
        in done.stdout
    assert "3 trials reused: copied from grid(s) smoke" in done.stdout
    shared = ResultStore("shared", root=results)
    assert {t for t in shared.finished_ids() if "reused_from" in shared.read_record(t)} == smoke
    assert {t: m for t, m in metrics(results, "shared").items() if t in smoke} == metrics(results, "smoke")
    before = {p: p.read_bytes() for p in shared.trials_dir.glob("*/*")}
    again = run(["--grid", shared_grid, "--no-ray", "--seeds", "2"], data_root, results)
    assert "6 already stored or skipped, 0 reused from other grids" in again.stdout and "0 to run" in again.stdout
    assert {p: p.read_bytes() for p in shared.trials_dir.glob("*/*")} == before  # resume: reused ones are done


def test_force_retrains_and_rerun_stale_never_copies_a_stale_record(data_root, tmp_path, shared_grid):
    results = tmp_path / "results"
    assert run(["--grid", "smoke", "--no-ray", "--seeds", "1"], data_root, results).returncode == 0
    forced = run(["--grid", shared_grid, "--no-ray", "--seeds", "1", "--force"], data_root, results)
    assert forced.returncode == 0 and "0 reused from other grids" in forced.stdout and "3 to run" in forced.stdout
    shared = ResultStore("shared", root=results)
    assert not any("reused_from" in r for r in shared.records())
    assert metrics(results, "shared") == metrics(results, "smoke")  # training is deterministic: same numbers

    smoke = ResultStore("smoke", root=results)
    old = next(t.trial_id for t in expand("smoke", Narrowing(seeds=1)) if t.model == "lightgcn")
    stale(smoke, old)
    stale(shared, old)  # stale in both grids: --rerun-stale trains it here
    rerun = run(["--grid", shared_grid, "--no-ray", "--seeds", "1", "--rerun-stale"], data_root, results)
    assert rerun.returncode == 0 and "0 reused from other grids, 0 being run by another runner, 1 to run" \
        in rerun.stdout
    assert "reused_from" not in shared.read_record(old) and not reusable(smoke.read_record(old)) \
        and reusable(shared.read_record(old))
    # now fresh in `shared` only: --rerun-stale in `smoke` copies it
    again = run(["--grid", "smoke", "--no-ray", "--seeds", "1", "--rerun-stale"], data_root, results)
    assert again.returncode == 0 and "1 reused from other grids" in again.stdout, again.stdout
    assert reusable(smoke.read_record(old)) and smoke.read_record(old)["reused_from"]["grid"] == "shared"


def test_a_shard_reuses_only_within_its_part(data_root, tmp_path, shared_grid):
    results = tmp_path / "results"
    assert run(["--grid", "smoke", "--no-ray", "--seeds", "2"], data_root, results).returncode == 0
    done = run(["--grid", shared_grid, "--no-ray", "--seeds", "2", "--shard", "1/2"], data_root, results)
    assert done.returncode == 0, done.stderr[-2000:]
    dry = run(["--grid", shared_grid, "--seeds", "2", "--shard", "1/2", "--dry-run"], data_root, results)
    part = {line.split()[0] for line in dry.stdout.splitlines() if line.split()[1:2] == ["done"]}
    assert 1 <= len(part) < 6 and ResultStore("shared", root=results).finished_ids() == part
    assert f"{len(part)} reused from other grids, 0 being run by another runner, 0 to run" in done.stdout


def test_a_trial_held_in_the_other_grid_is_trained_here(data_root, tmp_path, shared_grid):
    results = tmp_path / "results"
    assert run(["--grid", "smoke", "--no-ray", "--seeds", "1"], data_root, results).returncode == 0
    held = expand("smoke", Narrowing(seeds=1))[0].trial_id
    claim = ResultStore("smoke", root=results).claim(held)
    try:
        done = run(["--grid", shared_grid, "--no-ray", "--seeds", "1"], data_root, results)
    finally:
        claim.release()
    assert done.returncode == 0 and "2 reused from other grids, 0 being run by another runner, 1 to run" in done.stdout
    assert "reused_from" not in ResultStore("shared", root=results).read_record(held)


def test_two_grids_sharing_trials_run_at_once(data_root, tmp_path, shared_grid):
    results = tmp_path / "results"
    runners = [subprocess.Popen([sys.executable, "-m", "benchmark.run", "--grid", grid, "--no-ray", "--seeds", "2"],
                                cwd=REPO, env=runner_env(data_root, results), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for grid in ("smoke", shared_grid)]
    deadline = time.monotonic() + 240
    outputs = [runner.communicate(timeout=max(1.0, deadline - time.monotonic())) for runner in runners]
    assert [r.returncode for r in runners] == [0, 0], outputs
    ids = {t.trial_id for t in expand("smoke", Narrowing(seeds=2))}
    assert ids == {t.trial_id for t in expand(load_grid(shared_grid), Narrowing(seeds=2))}
    for grid in ("smoke", "shared"):
        store = ResultStore(grid, root=results)
        assert store.finished_ids() == ids and store.failed_ids() == set() and store.claimed_ids() == {}
        assert not list(store.trials_dir.glob("*/.*.tmp"))
        for trial_id in ids:
            assert len(store.read_per_user(trial_id)) > 0
    assert metrics(results, "smoke") == metrics(results, "shared")
