"""One search sample, in this process: it is selected on validation only (no test target is built,
nothing is evaluated on test), and it is stored after every validation it reports."""
import pytest

from benchmark.runner.grid import Narrowing, load_grid
from benchmark.runner.store import ResultStore
from benchmark.runner.training import evaluation, trainer
from benchmark.tuning.cells import grid_cells
from benchmark.tuning.history import cell_samples, inside, sampled_values
from benchmark.tuning.sample import run_sample


@pytest.fixture
def cell(data_root):
    cells = grid_cells(load_grid("smoke"), Narrowing(matchers=["mddm"]))
    assert [c.key for c in cells] == ["tiny/multvae/mddm"]
    return cells[0]


def test_a_sample_never_touches_the_test_split_and_is_stored_at_each_validation(cell, tmp_path, monkeypatch):
    targets, evaluated = [], []
    build, rank = evaluation.RankingTarget.from_datasets.__func__, evaluation.evaluate_full_ranking

    def spy_build(cls, name, *args, **kwargs):
        targets.append(name)
        return build(cls, name, *args, **kwargs)

    def spy_rank(model, target, *args, **kwargs):
        evaluated.append(target.name)
        return rank(model, target, *args, **kwargs)

    def refuse_test(*args, **kwargs):
        raise AssertionError("the trainer's evaluate (the test) ran during a search")

    monkeypatch.setattr(evaluation.RankingTarget, "from_datasets", classmethod(spy_build))
    monkeypatch.setattr(trainer, "evaluate_full_ranking", spy_rank)
    monkeypatch.setattr(trainer.ProtocolTrainer, "evaluate", refuse_test)

    store = ResultStore("smoke_search", tmp_path)
    config = cell.sampled_config({"learning_rate": 2e-3, "dropout": 0.4, "anneal_cap": 0.5, "beta": 0.25})
    assert config["beta"] == 0.25 and config["epochs"] == 6 and config["eval_step"] == 2  # the grid's caps hold
    trial_id = cell.sample_id(config)
    reports, stored_curves = [], []

    def report(metrics):
        reports.append(metrics)
        stored_curves.append(len(store.read_record(trial_id)["curve"]))  # stored before it is reported

    record = run_sample(store, trial_id, config, cell.dataset_version, {"cell": cell.key}, report)

    assert targets == ["valid"] and set(evaluated) == {"valid"}
    assert [r["epoch"] for r in reports] == [2, 4, 6] == [row["epoch"] for row in record["curve"]]
    assert stored_curves == [1, 2, 3]
    assert record["metrics"]["test"] == {} and record["search"]["ended"] == "completed"
    assert reports[-1]["best_valid_recall@20"] == max(r["valid_recall@20"] for r in reports)
    assert reports[-1]["best_valid_recall@20"] == record["metrics"]["valid"]["recall@20"]
    assert not store.per_user_path(trial_id).exists()

    # the same config again is reported from the store, not retrained
    before = store.record_path(trial_id).read_bytes()
    again = []
    run_sample(store, trial_id, config, cell.dataset_version, {"cell": cell.key}, again.append)
    assert store.record_path(trial_id).read_bytes() == before and len(evaluated) == 3
    assert again == [{**reports[-1], "from_store": True}]

    [sample] = cell_samples(store, cell)
    assert sample.trial_id == trial_id and sample.sampled == {"learning_rate": 2e-3, "dropout": 0.4,
                                                              "anneal_cap": 0.5, "beta": 0.25}
    assert sample.score == reports[-1]["best_valid_recall@20"] and len(sample.validations) == 3


def test_a_stored_config_counts_for_a_cell_only_inside_its_space_and_base(cell):
    space = cell.space()
    assert set(space) == {"learning_rate", "dropout", "anneal_cap", "beta"}
    config = cell.sampled_config({"learning_rate": 1e-3, "beta": 0.9})
    assert sampled_values(cell, config, space)["beta"] == 0.9
    assert sampled_values(cell, {**config, "epochs": 7}, space) is None  # another base config
    assert sampled_values(cell, {**config, "learning_rate": 0.5}, space) is None  # outside the range
    assert sampled_values(cell, {**config, "matcher": "godm"}, space) is None  # another cell
    assert inside(0.7, space["dropout"]) and not inside(0.71, space["dropout"]) and not inside(True, space["dropout"])


def test_beta_is_not_searched_for_a_cell_without_matching(data_root):
    [plain] = grid_cells(load_grid("smoke"), Narrowing(models=["multvae"], matchers=["none"]))
    assert "beta" not in plain.space() and plain.base["beta"] is None


def test_a_cell_whose_stored_samples_spent_the_budget_starts_no_search(cell, tmp_path, capsys):
    import sys

    from benchmark.tuning.search import search_cells

    store = ResultStore("smoke_search", tmp_path)
    config = cell.sampled_config({"learning_rate": 3e-3})
    run_sample(store, cell.sample_id(config), config, cell.dataset_version, {"cell": cell.key}, lambda _: None)
    [sample] = cell_samples(store, cell)
    ray_loaded = "ray" in sys.modules and sys.modules["ray"].is_initialized()
    search_cells([cell], "smoke", store, budget=1, budget_s=None)
    search_cells([cell], "smoke", store, budget=None, budget_s=sample.seconds)  # seconds, summed over samples
    assert capsys.readouterr().out.count("tiny/multvae/mddm: budget spent (1 stored samples)") == 2
    assert ("ray" in sys.modules and sys.modules["ray"].is_initialized()) == ray_loaded  # no Ray was started
