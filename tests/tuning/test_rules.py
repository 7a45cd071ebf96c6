"""The search's fixed rules and its command line's refusals (no Ray, no training)."""
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from benchmark.runner.grid import Narrowing, load_grid
from benchmark.tune import main
from benchmark.tuning.cells import grid_cells
from benchmark.tuning.search import grace_validations, optuna_space, startup_trials
from benchmark.tuning.space import search_space
from benchmark.tuning.tuned import tuned_blocks


def test_tpe_starts_with_a_third_of_the_budget_at_random():
    assert [startup_trials(b) for b in (2, 6, 9, 30, 100, None)] == [2, 2, 3, 10, 10, 10]


def test_asha_waits_for_the_protocols_patience(data_root):
    cells = {c.key: c for c in grid_cells(load_grid("smoke"), Narrowing())}
    multvae = cells["tiny/multvae/none"]  # epochs 6, eval_step 2, stopping_step 2: validations 2, 4, 6
    assert multvae.max_validations() == 3 and grace_validations(multvae) == 2
    capped = multvae.__class__(**{**multvae.__dict__, "base": {**multvae.base, "stopping_step": 20}})
    assert grace_validations(capped) == 3  # the cap comes first: no rung before the end, no ASHA


def test_optuna_space_keeps_types_and_scales():
    space = optuna_space(search_space("lightgcn"))
    assert space["learning_rate"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert space["n_layers"] == CategoricalDistribution([1, 2, 3, 4])
    steps = optuna_space(search_space("ldiffrec"))["steps"]
    assert isinstance(steps, CategoricalDistribution) and steps.choices == (2, 5, 10, 40)
    toy = optuna_space({"hidden": type(search_space("lightgcn")["learning_rate"])("hidden", 4, 64, True)})
    assert toy["hidden"] == IntDistribution(4, 64, log=True)


def test_a_tuned_block_is_the_cells_axes_and_its_full_config(data_root):
    [cell] = grid_cells(load_grid("smoke"), Narrowing(matchers=["mddm"]))
    assert cell.seeds == (0, 1)  # the block's `seeds: 2`: the tuned config's seeds unless --seeds says otherwise
    config = cell.sampled_config({"beta": 0.3})
    [block] = tuned_blocks([(cell, type("Best", (), {"trial_id": "abc"})(), config, 4)], 3)
    assert block["datasets"] == ["tiny"] and block["models"] == ["multvae"] and block["matchers"] == ["mddm"]
    assert block["seeds"] == 3 and "best of 4 samples: abc" in block["name"]
    assert block["params"] == {k: v for k, v in config.items() if k not in ("model", "dataset", "matcher", "seed")}


@pytest.mark.parametrize(("argv", "message"), [
    (["--grid", "nope", "--budget", "2"], "no grid named 'nope'"),
    (["--grid", "smoke", "--models", "lightgnc", "--budget", "2"], "did you mean 'lightgcn'"),
    (["--grid", "smoke", "--set", "learning_rat=0.1", "--budget", "2"], "no model of the grid declares"),
])
def test_bad_command_lines_exit_2_with_one_line(data_root, tmp_path, capsys, argv, message):
    assert main([*argv, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [["--grid", "smoke"], ["--grid", "smoke", "--budget", "0"],
                                  ["--grid", "smoke", "--budget", "2", "--budget-hours", "1"]])
def test_the_budget_is_required_positive_and_one_kind(argv):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
