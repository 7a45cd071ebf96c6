"""Hostile records: every invalid record.json is reported once, counts as not finished, is skipped by
`records()` and replaced by a rerun; nothing invalid or non-finite is ever written; files are 0644."""
import gzip
import json
import stat

import pytest

from benchmark.runner import store as store_module
from benchmark.runner.store import InvalidRecord, ResultStore
from tests.runner.test_run import run
from tests.runner.test_store import record


def stored(tmp_path, trial_id="t1"):
    store = ResultStore("g", root=tmp_path)
    store.write_finished(trial_id, record())
    path = tmp_path / "g" / "trials" / trial_id / "record.json"
    return store, path, json.loads(path.read_text())


def edit(content, change):
    content = json.loads(json.dumps(content))
    change(content)
    return json.dumps(content).encode()


BROKEN = {
    "missing grid": (lambda r: r.pop("grid"), "'grid' is missing"),
    "config is a list": (lambda r: r.__setitem__("config", [1, 2]), "'config' is not an object"),
    "no seed": (lambda r: r["config"].pop("seed"), "config.seed is missing"),
    "metrics is a string": (lambda r: r.__setitem__("metrics", "good"), "'metrics' is not an object"),
    "metric is text": (lambda r: r["metrics"]["test"].__setitem__("recall@20", "0.3"), "metrics.test.recall@20"),
    "beta is text": (lambda r: r["config"].__setitem__("beta", "abc"), 'config.beta is "abc"'),
    "never validated": (lambda r: r.__setitem__("best_epoch", -1), "best_epoch is -1"),
    "other trial": (lambda r: r.__setitem__("trial_id", "t2"), "is not its folder's name"),
    "failed status": (lambda r: r.__setitem__("status", "failed"), 'status is "failed"'),
    "never tested": (lambda r: r["metrics"].__setitem__("test", {}), "metrics.test is empty"),
    "matcher is an object": (lambda r: r["config"].__setitem__("matcher", {"a": 1}), "config.matcher is {"),
    "matcher is a number": (lambda r: r["config"].__setitem__("matcher", 3), "config.matcher is 3"),
    "curve of text": (lambda r: r.__setitem__("curve", ["x"]), 'curve entry 1 is "x"'),
    "total_s is text": (lambda r: r["timings"].__setitem__("total_s", "abc"), 'timings.total_s is "abc"'),
    "search is a list": (lambda r: r.__setitem__("search", [1]), "search is [1], not an object"),
    "packages is a list": (lambda r: r["env"].__setitem__("packages", ["torch"]), "env.packages"),
    "posterior of text": (lambda r: r.__setitem__("posterior", {"dim_variance": "x", "n_users": 1}),
                          "posterior.dim_variance"),
    "newer schema": (lambda r: r.__setitem__("schema", 9), "schema 9 is newer than this code reads"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_wrong_record_is_reported_once_skipped_and_replaced(tmp_path, capsys, case):
    change, message = BROKEN[case]
    store, path, content = stored(tmp_path)
    store.write_finished("t2", record(seed=1))
    path.write_bytes(edit(content, change))
    capsys.readouterr()
    assert store.finished_ids() == {"t2"} and store.finished_ids() == {"t2"}
    assert [r["trial_id"] for r in store.records()] == ["t2"]
    assert store.index()["trial_id"].tolist() == ["t2"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and message in err[0] and "Traceback" not in err[0]
    store.write_finished("t1", record())  # a rerun replaces it (no force needed: it is not a finished record)
    assert store.finished_ids() == {"t1", "t2"}


@pytest.mark.parametrize("case", ["nested", "bare NaN", "not UTF-8", "huge", "top-level list"])
def test_unreadable_records_are_reported_once(tmp_path, capsys, monkeypatch, case):
    store, path, content = stored(tmp_path)
    data = {
        "nested": b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
        "bare NaN": json.dumps({**content, "best_epoch": float("nan")}).encode(),
        "not UTF-8": b'{"trial_id": "\xff\xfe"}',
        "huge": json.dumps({**content, "pad": "x" * 5000}).encode(),
        "top-level list": b"[1, 2]",
    }[case]
    monkeypatch.setattr(store_module, "MAX_RECORD_BYTES", 4096)
    path.write_bytes(data)
    capsys.readouterr()
    assert store.finished_ids() == set() and store.records() == [] and store.finished_ids() == set()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "unreadable" in err[0]
    with pytest.raises(KeyError, match="no finished record"):
        store.read_record("t1")


@pytest.mark.parametrize("bad", [{"best_epoch": -1}, {"best_epoch": 0}, {"config": "x"},
                                 {"metrics": {"test": {"recall@20": float("nan")}}},
                                 {"metrics": {"test": {"recall@20": float("inf")}}}])
def test_invalid_or_non_finite_records_are_never_written(tmp_path, bad):
    store = ResultStore("g", root=tmp_path)
    with pytest.raises(InvalidRecord, match="nothing stored"):
        store.write_finished("t1", {**record(), **bad})
    assert not (tmp_path / "g" / "trials" / "t1" / "record.json").exists() and store.finished_ids() == set()


def test_a_failure_with_nan_in_its_config_is_still_strict_json(tmp_path):
    store = ResultStore("g", root=tmp_path)
    store.write_failed("t1", {"model": "multvae", "beta": float("nan")}, "diverged")
    text = (tmp_path / "g" / "failed" / "t1.json").read_text()
    assert "NaN" in text and json.loads(text, parse_constant=lambda c: pytest.fail(c))["config"]["beta"] == "NaN"
    assert store.failed_ids() == {"t1"}


def test_store_files_are_0644(tmp_path):
    store = ResultStore("g", root=tmp_path)
    store.write_finished("t1", record())
    store.write_failed("t2", {"model": "multvae"}, "boom")
    store.rebuild_index()
    for path in ("g/trials/t1/record.json", "g/trials/t1/per_user.csv.gz", "g/failed/t2.json", "g/index.csv"):
        assert stat.S_IMODE((tmp_path / path).stat().st_mode) == 0o644, path


@pytest.mark.parametrize("config", [[1, 2], {"model": 3, "dataset": "tiny"}])
def test_a_failure_record_of_another_shape_is_named_and_left_out(tmp_path, capsys, config):
    store = ResultStore("g", root=tmp_path)
    store.write_failed("t1", {"model": "multvae"}, "boom")
    path = store.failed_path("t1")
    path.write_text(json.dumps({**json.loads(path.read_text()), "config": config}))
    assert store.failed_ids() == set()
    with pytest.raises(KeyError, match="no failure record"):
        store.read_failed("t1")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "config" in err[0]


def test_a_per_user_file_of_text_is_named_with_its_column(tmp_path):
    store = ResultStore("g", root=tmp_path)
    store.write_finished("t1", record())
    path = store.per_user_path("t1")
    path.write_bytes(gzip.compress(b"user,n_train,ndcg@20\n1,3,abc\n2,4,0.5\n"))
    with pytest.raises(InvalidRecord, match=r"^column ndcg@20 holds \"abc\", not numbers$"):
        store.read_per_user("t1")
    path.write_bytes(gzip.compress(b"user,n_train,ndcg@20\n1,many,0.1\n"))
    with pytest.raises(InvalidRecord, match="column n_train"):
        store.read_per_user("t1")


def test_a_record_never_tested_is_rerun_and_the_summary_holds(data_root, tmp_path):
    results = tmp_path / "results"
    assert run(["--grid", "smoke", "--models", "lightgcn", "--no-ray"], data_root, results).returncode == 0
    [path] = (results / "smoke" / "trials").glob("*/record.json")
    path.write_bytes(edit(json.loads(path.read_text()), lambda r: r["metrics"].__setitem__("test", {})))
    again = run(["--grid", "smoke", "--models", "lightgcn", "--no-ray"], data_root, results)
    assert again.returncode == 0, again.stderr
    assert "metrics.test is empty" in again.stderr and "Traceback" not in again.stderr
    assert json.loads(path.read_text())["metrics"]["test"]["recall@20"] > 0  # rerun, not counted as done
    assert "LightGCN" in again.stdout.split("over seeds")[1]
