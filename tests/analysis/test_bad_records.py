"""Records of any shape reach the analysis only when they pass the store's check: a record with a
field of another type is left out with one line naming the file and the field (the command still
writes every table from the others and exits 1), a per-user file of text leaves only its own trial
out of Fig. 3, and a broken tuning sample leaves only itself out of the search budget."""
import gzip
import json

import numpy as np
import pytest

from benchmark.analysis.fig3_sparsity import fig3_sparsity
from benchmark.analysis.records import load_grid_results
from benchmark.analysis.tuned import search_budget
from benchmark.runner.store import ResultStore
from tests.analysis.synthetic import make_record, per_user_frame, write_trial
from tests.analysis.test_results_table import analyse
from tests.tuning.samples import BROKEN_SAMPLES, edit_record, mddm_cell, store_sample

ACTIVITY = np.array([1] * 10 + [3] * 10 + [9] * 10)


def kar_store(root, seeds=(1, 2, 3)) -> list[str]:
    return [write_trial(root, "g", make_record({"model": "kar", "dataset": "steam", "seed": s}, 0.1 + s / 100))
            for s in seeds]


@pytest.mark.parametrize("matcher, shown", [({"x": 1}, 'config.matcher is {"x": 1}'), (3, "config.matcher is 3")])
def test_a_record_with_a_matcher_of_another_type_is_left_out_and_the_tables_written(tmp_path, matcher, shown):
    root = tmp_path / "results"
    ids = kar_store(root)
    path = ResultStore("g", root=root).record_path(ids[0])
    path.write_text(json.dumps({**json.loads(path.read_text()), "config": {
        **json.loads(path.read_text())["config"], "matcher": matcher}}))
    results = load_grid_results("g", root)
    assert sorted(results.trials["trial_id"]) == sorted(ids[1:])
    assert results.problems == [f"{path}: not a valid finished record (the warning above says why); left out"]
    done = analyse("--grid", "g", "--results", str(root), env_extra={"DMREC_DATA": str(tmp_path / "data")})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{path}: not a valid finished record ({shown}" in done.stderr
    assert (root / "tables" / "g_results.csv").is_file()


def test_a_per_user_file_of_text_leaves_only_its_trial_out_of_fig3(tmp_path):
    root = tmp_path / "results"
    ids = {(matcher, seed): write_trial(root, "g", make_record(
        {"model": "multvae", "dataset": "steam", "seed": seed, "matcher": matcher, "beta": 0.5}, 0.1),
        per_user_frame(ACTIVITY, 0.1, seed)) for matcher in ("none", "mddm") for seed in (1, 2)}
    store, bad = ResultStore("g", root=root), ids["none", 1]
    frame = per_user_frame(ACTIVITY, 0.1, 1).astype({"ndcg@20": object})
    frame.loc[0, "ndcg@20"] = "abc"
    store.per_user_path(bad).write_bytes(gzip.compress(frame.to_csv(index=False).encode(), mtime=0))
    results = load_grid_results("g", root)
    figure = fig3_sparsity(results, tmp_path / "figures", "g")
    assert figure.paths and results.per_user(bad) is None and results.per_user(ids["none", 2]) is not None
    [line] = results.problems
    assert str(store.per_user_path(bad)) in line and 'column ndcg@20 holds "abc"' in line


@pytest.mark.parametrize("case", sorted(BROKEN_SAMPLES))
def test_a_broken_sample_leaves_only_itself_out_of_the_search_budget(tmp_path, case):
    cell, store = mddm_cell(), ResultStore("g_search", root=tmp_path)
    good = store_sample(store, cell, 0.001, 0.30)
    edit_record(store, store_sample(store, cell, 0.003, 0.40), BROKEN_SAMPLES[case])
    store.write_failed("f1", {"model": "multvae", "dataset": "tiny"}, "boom")
    path = store.failed_path("f1")
    path.write_text(json.dumps({**json.loads(path.read_text()), "config": [1, 2]}))
    budget = search_budget("g", tmp_path)
    assert budget["trial_id"].tolist() == [good] and budget["best_so_far"].tolist() == [0.30]
