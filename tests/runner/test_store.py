"""The results store: the contract the analysis reads, atomic writes, and nothing ever lost."""
import json
import math
import multiprocessing

import pandas as pd
import pytest

from benchmark.runner.execute import run_and_store
from benchmark.runner.inputs import resolve_inputs
from benchmark.runner.store import PER_USER_COLUMNS, RecordExists, ResultStore


def record(seed=0, matcher="mddm", beta=0.5, recall=0.25):
    config = {"model": "multvae", "dataset": "tiny", "seed": seed, "matcher": matcher, "beta": beta,
              "formulation": "released"}
    return {
        "config": config, "dataset_version": "v1",
        "metrics": {"valid": {"recall@20": recall + 0.01, "ndcg@20": 0.1},
                    "test": {"recall@20": recall, "ndcg@20": 0.12, "recall@10": 0.2}},
        "best_epoch": 6, "epochs_run": 9, "curve": [{"epoch": 3, "time_s": 0.1, "train_loss": 1.0}],
        "per_user": {"user": [3, 1], "n_train": [5, 7], **{m: [0.5, 0.25] for m in PER_USER_COLUMNS[2:]}},
        "posterior": None, "timings": {"total_s": 2.0, "s_per_epoch": 0.2}, "env": {"python": "3"},
    }


def test_finished_round_trip_and_layout(tmp_path):
    store = ResultStore("g", root=tmp_path)
    store.write_finished("abc", record())
    assert store.finished_ids() == {"abc"} and store.failed_ids() == set()
    stored = json.loads((tmp_path / "g/trials/abc/record.json").read_text())
    assert stored == store.read_record("abc")
    assert stored["status"] == "finished" and stored["trial_id"] == "abc" and stored["grid"] == "g"
    assert "per_user" not in stored and stored["finished_at"].endswith("+00:00")
    per_user = store.read_per_user("abc")
    assert list(per_user.columns) == list(PER_USER_COLUMNS)
    assert per_user["user"].tolist() == [3, 1] and per_user["ndcg@20"].tolist() == [0.5, 0.25]
    assert (tmp_path / "g/trials/abc/per_user.csv.gz").is_file()
    assert not list((tmp_path / "g/trials/abc").glob("*.tmp"))


def test_never_overwrites_a_finished_record_without_force(tmp_path):
    store = ResultStore("g", root=tmp_path)
    store.write_finished("abc", record(recall=0.25))
    before = (tmp_path / "g/trials/abc/record.json").read_bytes()
    with pytest.raises(RecordExists):
        store.write_finished("abc", record(recall=0.9))
    assert (tmp_path / "g/trials/abc/record.json").read_bytes() == before
    store.write_finished("abc", record(recall=0.9), force=True)
    assert store.read_record("abc")["metrics"]["test"]["recall@20"] == 0.9


def test_failures_never_touch_finished_records(tmp_path):
    store = ResultStore("g", root=tmp_path)
    store.write_finished("done", record())
    before = (tmp_path / "g/trials/done/record.json").read_bytes()
    store.write_failed("done", {"model": "multvae"}, ValueError("boom"), "tb")
    store.write_failed("bad", {"model": "multvae"}, FloatingPointError("nan"), "Traceback ...")
    assert (tmp_path / "g/trials/done/record.json").read_bytes() == before
    assert store.finished_ids() == {"done"} and store.failed_ids() == {"bad"}
    failed = json.loads((tmp_path / "g/failed/bad.json").read_text())
    assert failed["error"] == "FloatingPointError: nan" and failed["status"] == "failed"
    assert set(failed) == {"trial_id", "grid", "status", "config", "error", "traceback", "failed_at"}
    # a later success supersedes the failure
    store.write_finished("bad", record(seed=1))
    assert store.failed_ids() == set() and not (tmp_path / "g/failed/bad.json").exists()


def test_a_failing_rerun_keeps_the_stored_result(data_root, tmp_path):
    store = ResultStore("g", root=tmp_path)
    store.write_finished("t1", record())
    before = (tmp_path / "g/trials/t1/record.json").read_bytes()
    inputs = resolve_inputs({"model": "multvae", "dataset": "tiny", "seed": 0}, "stale-version", "t1", "g")
    outcome = run_and_store(inputs, str(tmp_path), threads=1, force=True)
    assert outcome["status"] == "failed" and "changed since the grid was expanded" in outcome["error"]
    assert (tmp_path / "g/trials/t1/record.json").read_bytes() == before
    assert store.finished_ids() == {"t1"}


def test_corrupt_records_are_reported_and_count_as_not_finished(tmp_path, capsys):
    store = ResultStore("g", root=tmp_path)
    store.write_finished("good", record())
    store.write_finished("cut", record(seed=1))
    path = tmp_path / "g/trials/cut/record.json"
    path.write_text(path.read_text()[:40])  # truncated
    (tmp_path / "g/trials/half").mkdir()
    (tmp_path / "g/trials/half/per_user.csv.gz").write_bytes(b"")  # killed before its record
    assert store.finished_ids() == {"good"}
    assert "cut/record.json: unreadable" in capsys.readouterr().err
    assert [r["trial_id"] for r in store.records()] == ["good"]
    with pytest.raises(KeyError, match="no finished record"):
        store.read_record("cut")
    store.write_finished("cut", record(seed=1))  # a rerun replaces the corrupt file
    assert store.finished_ids() == {"good", "cut"}


def test_index_columns(tmp_path):
    store = ResultStore("g", root=tmp_path)
    store.write_finished("a", record(seed=0, recall=0.2))
    store.write_finished("b", record(seed=1, recall=0.4))
    plain = record(seed=2, recall=0.3)
    plain["config"] = {"model": "lightgcn", "dataset": "tiny", "seed": 2}
    store.write_finished("c", plain)
    store.rebuild_index()
    frame = pd.read_csv(tmp_path / "g/index.csv")
    assert list(frame.columns[:12]) == ["trial_id", "grid", "model", "dataset", "matcher", "formulation", "seed",
                                        "beta", "best_epoch", "epochs_run", "total_s", "s_per_epoch"]
    assert {"test_recall@20", "test_ndcg@20", "test_recall@10", "valid_recall@20",
            "valid_ndcg@20"} <= set(frame.columns)
    rows = frame.set_index("trial_id")
    assert rows.loc["a", "test_recall@20"] == 0.2 and rows.loc["b", "valid_recall@20"] == pytest.approx(0.41)
    assert rows.loc["c", "matcher"] == "none" and math.isnan(rows.loc["c", "beta"])
    assert pd.isna(rows.loc["c", "formulation"]) and rows.loc["a", "beta"] == 0.5
    assert list(frame.columns[12:15]) == ["code_hash", "commit", "dirty"] and frame["code_hash"].isna().all()
    pd.testing.assert_frame_equal(store.index(), frame)


def test_index_follows_new_records(tmp_path):
    store = ResultStore("g", root=tmp_path)
    store.write_finished("a", record())
    assert store.index()["trial_id"].tolist() == ["a"]
    store.write_finished("b", record(seed=1))
    assert sorted(store.index()["trial_id"]) == ["a", "b"]


def _writer(args):
    root, worker = args
    store = ResultStore("g", root=root)
    for i in range(15):
        store.write_finished(f"w{worker}-{i}", record(seed=i))
        store.rebuild_index()
    return True


def test_two_processes_writing_one_grid(tmp_path):
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert all(pool.map(_writer, [(tmp_path, 0), (tmp_path, 1)]))
    store = ResultStore("g", root=tmp_path)
    assert len(store.finished_ids()) == 30
    store.rebuild_index()
    assert len(pd.read_csv(tmp_path / "g/index.csv")) == 30
    assert not list(tmp_path.glob("g/**/*.tmp"))
