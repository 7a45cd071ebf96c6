"""The store stays inside its root: an entry that is a symlink leading out of it is named in one line
and left alone, never read, written through, replaced or deleted, and its trial counts as not done."""
import json
import os

import pytest

from benchmark.runner.execute import run_and_store
from benchmark.runner.inputs import resolve_inputs
from benchmark.runner.store import OutsideStore, ResultStore, StoreUnwritable
from tests.runner.test_run import run
from tests.runner.test_store import record


def files(folder):
    """Every file under `folder` (dot-files included) -> its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def outside(tmp_path):
    """A folder beside the results root holding a finished-looking trial and a temporary file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "record.json").write_text("precious")
    (folder / "per_user.csv.gz").write_bytes(b"precious")
    (folder / ".record.json.x.tmp").write_text("precious too")
    return folder


def one_warning(capsys, entry) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(entry) in err[0] and "symlink out of the results root" in err[0], err
    return err[0]


def test_a_trial_folder_linked_out_is_not_done_and_never_written_through(tmp_path, outside, capsys):
    root = tmp_path / "results"
    store = ResultStore("g", root=root)
    store.write_finished("t1", record())
    (outside / "record.json").write_bytes(store.record_path("t1").read_bytes())  # a valid record out there
    before = files(outside)
    trial = root / "g" / "trials" / "t2"
    trial.symlink_to(outside, target_is_directory=True)
    capsys.readouterr()
    assert store.finished_ids() == {"t1"} and [r["trial_id"] for r in store.records()] == ["t1"]
    one_warning(capsys, trial)
    with pytest.raises(OutsideStore, match="nothing written"):
        store.write_finished("t2", record(), force=True)
    assert files(outside) == before and trial.is_symlink()


def test_a_forced_rerun_of_a_trial_linked_out_fails_and_leaves_the_outside_alone(data_root, tmp_path, outside):
    results = tmp_path / "results"
    assert run(["--grid", "smoke", "--models", "lightgcn", "--no-ray"], data_root, results).returncode == 0
    [trial] = (results / "smoke" / "trials").iterdir()
    (outside / "record.json").write_bytes((trial / "record.json").read_bytes())
    before = files(outside)
    for path in trial.iterdir():
        path.unlink()
    trial.rmdir()
    trial.symlink_to(outside, target_is_directory=True)
    done = run(["--grid", "smoke", "--models", "lightgcn", "--no-ray", "--force"], data_root, results)
    assert done.returncode == 1 and files(outside) == before and trial.is_symlink()
    assert f"{trial}: a symlink out of the results root" in done.stderr
    failure = json.loads((results / "smoke" / "failed" / f"{trial.name}.json").read_text())
    assert "symlink out of the results root" in failure["error"]


def test_a_record_linked_out_is_not_read(tmp_path, outside, capsys):
    store = ResultStore("g", root=tmp_path / "results")
    store.write_finished("t1", record())
    (outside / "record.json").write_bytes(store.record_path("t1").read_bytes())
    store.record_path("t1").unlink()
    store.record_path("t1").symlink_to(outside / "record.json")
    capsys.readouterr()
    assert store.finished_ids() == set()
    one_warning(capsys, store.record_path("t1"))
    with pytest.raises(KeyError):
        store.read_record("t1")


def test_a_record_linked_inside_the_root_is_followed(tmp_path):
    store = ResultStore("g", root=tmp_path / "results")
    store.write_finished("t1", record())
    kept = tmp_path / "results" / "kept"
    store.trials_dir.rename(kept)
    store.trials_dir.symlink_to(kept, target_is_directory=True)
    assert store.finished_ids() == {"t1"}


def test_a_claim_linked_out_is_never_overwritten(tmp_path, capsys):
    target = tmp_path / "precious.txt"
    target.write_text("precious")
    store = ResultStore("g", root=tmp_path / "results")
    store.claims_dir.mkdir(parents=True)
    store.claim_path("t1").symlink_to(target)
    capsys.readouterr()
    assert store.claim("t1") is None and store.claimed_ids() == {}
    one_warning(capsys, store.claim_path("t1"))
    inputs = resolve_inputs({"model": "multvae", "dataset": "tiny", "seed": 0}, "v1", "t1", "g")
    outcome = run_and_store(inputs, str(tmp_path / "results"))
    assert outcome["status"] == "claimed"
    assert target.read_text() == "precious" and store.claim_path("t1").is_symlink()


def test_a_claim_linked_to_another_claim_inside_is_not_taken(tmp_path, capsys):
    store = ResultStore("g", root=tmp_path / "results")
    store.claims_dir.mkdir(parents=True)
    (store.claims_dir / "other").write_text("{}")
    store.claim_path("t1").symlink_to(store.claims_dir / "other")
    assert store.claim("t1") is None and (store.claims_dir / "other").read_text() == "{}"
    assert "a symlink, not a claim" in capsys.readouterr().err


def test_failed_linked_out_is_neither_read_nor_written(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "t1.json").write_text(json.dumps({"trial_id": "t1", "config": {}, "error": "x"}))
    store = ResultStore("g", root=tmp_path / "results")
    store.folder.mkdir(parents=True)
    store.failed_dir.symlink_to(elsewhere, target_is_directory=True)
    capsys.readouterr()
    assert store.failed_ids() == set()
    store.write_failed("t2", {"model": "multvae"}, "boom")
    store.write_finished("t1", record())  # would delete failed/t1.json: the failure it supersedes
    assert sorted(p.name for p in elsewhere.iterdir()) == ["t1.json"]
    one_warning(capsys, store.failed_dir)
    with pytest.raises(KeyError):
        store.read_failed("t1")


def test_an_index_linked_out_is_never_rewritten(tmp_path, capsys):
    target = tmp_path / "precious.csv"
    target.write_text("precious")
    store = ResultStore("g", root=tmp_path / "results")
    store.write_finished("t1", record())
    store.index_path.symlink_to(target)
    capsys.readouterr()
    store.rebuild_index()
    assert store.index()["trial_id"].tolist() == ["t1"]
    assert target.read_text() == "precious" and store.index_path.is_symlink()
    one_warning(capsys, store.index_path)


def test_a_per_user_file_linked_out_is_not_read(tmp_path, outside):
    store = ResultStore("g", root=tmp_path / "results")
    store.write_finished("t1", record())
    store.per_user_path("t1").unlink()
    store.per_user_path("t1").symlink_to(outside / "per_user.csv.gz")
    with pytest.raises(KeyError):
        store.read_per_user("t1")
    with pytest.raises(OutsideStore):
        store.write_finished("t1", record(), force=True)
    assert (outside / "per_user.csv.gz").read_bytes() == b"precious"


def test_a_grid_folder_linked_out_is_unwritable(tmp_path, outside):
    root = tmp_path / "results"
    root.mkdir()
    (root / "g").symlink_to(outside, target_is_directory=True)
    store = ResultStore("g", root=root)
    with pytest.raises(StoreUnwritable, match="symlink out of the results root"):
        store.check_writable()
    assert store.finished_ids() == set() and store.failed_ids() == set()
    assert sorted(os.listdir(outside)) == [".record.json.x.tmp", "per_user.csv.gz", "record.json"]
