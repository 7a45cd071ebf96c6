"""Sparsity groups on hand-made users, and the config-grouping rules that keep table cells honest."""
import json

import numpy as np

from benchmark.analysis.fig3_sparsity import assign_groups, group_edges, group_ranges
from benchmark.analysis.records import load_grid_results, select_defaults
from benchmark.analysis.report import _counts_line, counted_failures
from benchmark.data.layout import read_meta
from benchmark.runner.grid import trial_id_of
from benchmark.runner.record import SCHEMA_VERSION, defaults_of
from benchmark.runner.store import ResultStore
from tests.analysis.synthetic import default_beta, make_record, write_trial
from tests.fixtures import prepare_tiny


def test_quantile_edges_and_group_counts_on_hand_made_users():
    n_train = np.array([1] * 5 + [2] * 4 + [3] * 3 + [4] * 2 + [10] * 6)  # 20 users
    # share(n <= 2) = 9/20 = 0.45 -> e1 = 2; share(n <= 4) = 14/20 = 0.70 -> e2 = 4; e3 = 10 (first >= 0.90)
    edges = group_edges(n_train)
    assert edges == [2, 4, 10]
    groups = assign_groups(n_train, edges)
    assert np.bincount(groups, minlength=4).tolist() == [9, 5, 6, 0]
    assert group_ranges(n_train, edges) == ["1–2", "3–4", "5–10", "none"]


def test_group_boundaries_are_inclusive_upper_edges():
    assert assign_groups([1, 2, 3, 4, 5, 10, 11], [2, 4, 10]).tolist() == [0, 0, 1, 1, 2, 2, 3]


def test_tied_edges_are_pushed_apart():
    n_train = np.full(20, 3)
    assert group_edges(n_train) == [3, 4, 5]
    assert np.bincount(assign_groups(n_train, [3, 4, 5]), minlength=4).tolist() == [20, 0, 0, 0]


def _write(root, grid, configs):
    for config, recall in configs:
        write_trial(root, grid, make_record(config, recall))


def test_labels_name_only_the_keys_that_differ_besides_seed(tmp_path):
    common = {"model": "multvae", "dataset": "tiny", "matcher": "mddm", "learning_rate": 0.001}
    _write(tmp_path, "g", [({**common, "seed": s, "formulation": f}, 0.1)
                           for s in (1, 2) for f in ("paper", "released")])
    trials = load_grid_results("g", tmp_path).trials
    assert sorted(trials["config_label"]) == ["formulation=paper"] * 2 + ["formulation=released"] * 2


def test_records_of_an_older_dataset_version_are_superseded(tmp_path, monkeypatch):
    """After `prepare --force` the reruns are one row per model; the old version's records and
    failures are left out, listed, never rows (nor failures) of their own."""
    monkeypatch.setenv("DMREC_DATA", str(tmp_path / "no-data"))  # nothing prepared: the newest record decides
    for seed in (1, 2):
        for model, version, at in (("kar", "v1", "2026-11-24T12:00:00Z"), ("kar", "v2", "2026-11-25T12:00:00Z"),
                                   ("lightgcn", "v1", "2026-11-24T12:00:00Z")):
            config = {"model": model, "dataset": "tiny", "seed": seed}
            write_trial(tmp_path / "results", "g", {**make_record(config, 0.1 if version == "v1" else 0.2,
                                                                  dataset_version=version),
                                                    "trial_id": trial_id_of(config, version), "finished_at": at})
    old_failure = {"model": "multvae", "dataset": "tiny", "seed": 1, "matcher": "mddm"}
    new_failure = {**old_failure, "seed": 2}
    store = ResultStore("g", root=tmp_path / "results")
    store.write_failed(trial_id_of(old_failure, "v1"), old_failure, "needs text vectors")
    store.write_failed(trial_id_of(new_failure, "v2"), new_failure, "out of memory")
    results = load_grid_results("g", tmp_path / "results")
    kept = results.trials
    assert sorted(zip(kept["model"], kept["seed"], strict=True)) == [("kar", 1), ("kar", 2)]
    assert set(kept["config_label"]) == {""} and set(kept["test_recall@20"]) == {0.2}
    assert len(results.superseded) == 4
    assert all("dataset 'tiny' version v1, superseded by version v2 (the dataset was prepared again); left out"
               in line for line in results.superseded)
    assert counted_failures(results) == 1
    assert _counts_line(results).startswith("2 finished trial(s), 1 failed;")

    # the prepared version wins over the newest record's
    prepare_tiny(tmp_path / "data" / "prepared", name="tiny")
    monkeypatch.setenv("DMREC_DATA", str(tmp_path / "data"))
    prepared = read_meta("tiny")["version"]
    config = {"model": "lightgcn", "dataset": "tiny", "seed": 1}
    write_trial(tmp_path / "results", "g", {**make_record(config, 0.3, dataset_version=prepared),
                                            "trial_id": trial_id_of(config, prepared),
                                            "finished_at": "2026-11-20T12:00:00Z"})
    kept = load_grid_results("g", tmp_path / "results").trials
    assert list(kept["model"]) == ["lightgcn"] and list(kept["test_recall@20"]) == [0.3]


def test_table2_keeps_the_default_beta_of_a_sweep(tmp_path):
    default = default_beta("multvae", "tiny", "mddm")  # what the model's yaml leaves it at
    other = 0.7 if default != 0.7 else 0.3
    common = {"model": "multvae", "dataset": "tiny", "matcher": "mddm"}
    _write(tmp_path, "g", [({**common, "seed": s, "beta": b}, 0.1) for s in (1, 2) for b in (default, other)])
    kept, notes = select_defaults(load_grid_results("g", tmp_path).trials)
    assert len(kept) == 2 and notes == []
    assert [c["beta"] for c in kept["_config"]] == [default, default]
    assert set(kept["config_label"]) == {""}


def test_table2_keeps_the_default_beta_its_records_name_not_todays(tmp_path):
    """Records written when the default was 0.7: their own defaults choose, whatever today's yaml says."""
    common = {"model": "multvae", "dataset": "tiny", "matcher": "mddm"}
    for seed in (1, 2):
        for beta in (0.3, 0.7):
            config = {**common, "seed": seed, "beta": beta}
            defaults = defaults_of(config)
            defaults["model"]["beta"] = 0.7
            write_trial(tmp_path, "g", {**make_record(config, 0.1), "schema": SCHEMA_VERSION, "defaults": defaults})
    kept, notes = select_defaults(load_grid_results("g", tmp_path).trials)
    assert [c["beta"] for c in kept["_config"]] == [0.7, 0.7] and notes == []


def test_unresolvable_default_keeps_every_config_as_its_own_row(tmp_path):
    common = {"model": "not-registered", "dataset": "tiny", "matcher": "mddm"}
    _write(tmp_path, "g", [({**common, "seed": 1, "beta": b}, 0.1) for b in (0.2, 0.8)])
    kept, notes = select_defaults(load_grid_results("g", tmp_path).trials)
    assert sorted(kept["config_label"]) == ["beta=0.2", "beta=0.8"]
    assert len(notes) == 1 and "each is shown as its own row" in notes[0]


def test_an_invalid_record_is_left_out_with_a_note(tmp_path, capsys):
    good = write_trial(tmp_path, "g", make_record({"model": "kar", "dataset": "tiny", "seed": 1}, 0.1))
    bad = write_trial(tmp_path, "g", make_record({"model": "kar", "dataset": "tiny", "seed": 2}, 0.1))
    path = tmp_path / "g" / "trials" / bad / "record.json"
    record = json.loads(path.read_text())
    del record["config"]["dataset"]  # damaged on disk after it was stored
    path.write_text(json.dumps(record))
    results = load_grid_results("g", tmp_path)
    assert list(results.trials["trial_id"]) == [good]
    assert str(path) in capsys.readouterr().err  # the store's one line says why
    assert results.problems == [f"{path}: not a valid finished record (the warning above says why); left out"]


def test_a_record_from_before_a_new_key_is_superseded_by_its_rerun(tmp_path):
    """A new model key changes every trial id, so the rerun is stored beside the old record: the
    old one (same value for every key it has) is left out with a line, not shown as its own row;
    a record that differs in a value (a --set run) stays."""
    older = {"model": "cvga", "dataset": "tiny", "matcher": "none", "learning_rate": 0.001}
    for seed in (1, 2):
        write_trial(tmp_path, "g", make_record({**older, "seed": seed}, 0.10))
        write_trial(tmp_path, "g", make_record({**older, "seed": seed, "batch_order": "reshuffle"}, 0.12))
    write_trial(tmp_path, "g", make_record({**older, "seed": 1, "learning_rate": 0.01}, 0.11))
    results = load_grid_results("g", tmp_path)
    kept = results.trials
    assert sorted((c["seed"], c["learning_rate"], str(c.get("batch_order"))) for c in kept["_config"]) == [
        (1, 0.001, "reshuffle"), (1, 0.01, "None"), (2, 0.001, "reshuffle")]
    assert len(results.superseded) == 2
    assert all("superseded by trial" in line and "(batch_order)" in line and line.endswith("left out")
               for line in results.superseded)
