"""Grid expansion: frozen trials with stable content-addressed ids, axes, narrowing, clear errors."""
import dataclasses
import hashlib
import json

import pytest

from baselines.registry import register, unregister
from benchmark.core.errors import DataError
from benchmark.data.layout import read_meta
from benchmark.runner.config import resolve
from benchmark.runner.grid import GridError, Narrowing, expand, load_grid, trial_id_of


@pytest.fixture
def toy_models(tmp_path):
    """Two registered models: one that accepts a matcher (like the DMRec bases) and one that does not."""
    (tmp_path / "toy_gen.yaml").write_text(
        "hidden: 8   # (int)\nmatcher: none   # (str)\nbeta: null   # (float|null)\n")
    (tmp_path / "toy_graph.yaml").write_text("layers: 2   # (int)\n")
    register("toy-gen", "builtins:object", "toy generative", defaults=tmp_path / "toy_gen.yaml")
    register("toy-graph", "builtins:object", "toy graph", defaults=tmp_path / "toy_graph.yaml")
    yield
    unregister("toy-gen")
    unregister("toy-graph")


def grid_file(tmp_path, text, name="g"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)


GRID = """
description: two blocks
blocks:
  - datasets: [tiny]
    models: [toy-gen, toy-graph]
    matchers: [none, mddm]
    seeds: 2
  - name: sweep
    datasets: [tiny]
    models: [toy-gen]
    matchers: [godm]
    seeds: [5]
    params: {hidden: 16}
    sweep: {beta: [0.0, 0.5, 1.0]}
"""


def test_expansion_axes_and_full_configs(data_root, toy_models, tmp_path):
    trials = expand(grid_file(tmp_path, GRID))
    described = [(t.model, t.config.get("matcher"), t.seed, t.config.get("beta")) for t in trials]
    # block 1: toy-gen x {none, mddm} x seeds {0,1}; toy-graph has no matcher axis -> 2 trials
    assert described[:6] == [("toy-gen", "none", 0, None), ("toy-gen", "none", 1, None),
                             ("toy-gen", "mddm", 0, 0.5), ("toy-gen", "mddm", 1, 0.5),
                             ("toy-graph", None, 0, None), ("toy-graph", None, 1, None)]
    # block 2: the sweep axis expands, params apply
    assert described[6:] == [("toy-gen", "godm", 5, b) for b in (0.0, 0.5, 1.0)]
    assert all(t.config["hidden"] == 16 for t in trials[6:])
    # every trial carries the FULL resolved config and its id hashes it with the dataset version
    version = read_meta("tiny")["version"]
    first = trials[0]
    assert first.config == resolve("toy-gen", "tiny", {"matcher": "none"}, {"seed": 0})
    expected = json.dumps({**first.config, "dataset_version": version}, sort_keys=True)
    assert first.trial_id == hashlib.sha256(expected.encode()).hexdigest()[:16]
    assert first.dataset_version == version


def test_ids_are_stable_and_distinct(data_root, toy_models, tmp_path):
    path = grid_file(tmp_path, GRID)
    ids = [t.trial_id for t in expand(path)]
    assert ids == [t.trial_id for t in expand(path)]
    assert len(set(ids)) == len(ids)
    # one value changed anywhere in the config -> a new id; the grid's name is not part of the id
    base = expand(path)[0]
    changed = expand(path, Narrowing(params={"eval_step": 5}))[0]
    assert changed.trial_id != base.trial_id
    assert trial_id_of(base.config, base.dataset_version) == base.trial_id
    assert trial_id_of(base.config, "another-version") != base.trial_id
    renamed = grid_file(tmp_path, GRID, name="other")
    assert expand(renamed)[0].trial_id == base.trial_id


def test_trials_are_frozen(data_root, toy_models, tmp_path):
    trial = expand(grid_file(tmp_path, GRID))[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        trial.trial_id = "x"
    config = trial.config
    config["hidden"] = 999
    config["topk"].append(50)
    assert trial.config["hidden"] == 8 and 50 not in trial.config["topk"]


def test_duplicates_across_blocks_are_expanded_once(data_root, toy_models, tmp_path):
    text = """
blocks:
  - {datasets: [tiny], models: [toy-gen], matchers: [none, mddm], seeds: 2}
  - {datasets: [tiny], models: [toy-gen], matchers: [mddm], seeds: 3}
"""
    trials = expand(grid_file(tmp_path, text))
    assert len(trials) == 4 + 1  # the second block adds only seed 2 of mddm


def test_narrowing(data_root, toy_models, tmp_path):
    path = grid_file(tmp_path, GRID)
    only_graph = expand(path, Narrowing(models=["toy-graph"]))
    assert {t.model for t in only_graph} == {"toy-graph"} and len(only_graph) == 2
    mddm = expand(path, Narrowing(matchers=["mddm"]))
    assert {(t.model, t.matcher) for t in mddm} == {("toy-gen", "mddm")}
    # 'none' selects the plain bases and the models without a matcher axis
    plain = expand(path, Narrowing(matchers=["none"]))
    assert {(t.model, t.matcher) for t in plain} == {("toy-gen", "none"), ("toy-graph", "none")}
    assert {t.seed for t in expand(path, Narrowing(seeds=1))} == {0}
    assert {t.seed for t in expand(path, Narrowing(seeds=[3, 7]))} == {3, 7}
    moved = expand(path, Narrowing(datasets=["tiny-notext"], matchers=["none"]))  # a matcher needs text
    assert {t.dataset for t in moved} == {"tiny-notext"}
    assert moved[0].dataset_version == read_meta("tiny-notext")["version"]
    # --set reaches only the models that declare the key, and overrides the grid's params and sweep
    beta = expand(path, Narrowing(params={"beta": 0.3, "layers": 4}))
    assert {t.config.get("beta") for t in beta if t.model == "toy-gen" and t.matcher != "none"} == {0.3}
    assert "beta" not in beta[4].config and beta[4].config["layers"] == 4
    assert len({t.trial_id for t in beta}) == 6 + 1  # the sweep collapses onto one point


def test_errors_name_the_problem(data_root, toy_models, tmp_path):
    with pytest.raises(GridError, match=r"unknown key\(s\) \['hiden'\]"):
        expand(grid_file(tmp_path, "datasets: [tiny]\nmodels: [toy-gen]\nseeds: 1\nparams: {hiden: 3}\n"))
    with pytest.raises(GridError, match=r"unknown key\(s\) \['seed'\]"):
        load_grid(grid_file(tmp_path, "datasets: [tiny]\nmodels: [toy-gen]\nseed: 1\n"))
    with pytest.raises(GridError, match="unknown model 'nope'"):
        load_grid(grid_file(tmp_path, "datasets: [tiny]\nmodels: [nope]\nseeds: 1\n"))
    with pytest.raises(GridError, match="missing 'seeds'"):
        load_grid(grid_file(tmp_path, "datasets: [tiny]\nmodels: [toy-gen]\n"))
    with pytest.raises(GridError, match="no grid named 'absent'"):
        load_grid("absent")
    path = grid_file(tmp_path, GRID)
    with pytest.raises(GridError, match="no model of the grid declares 'hiden'"):
        expand(path, Narrowing(params={"hiden": 1}))
    with pytest.raises(GridError, match="--models: unknown model 'nope'"):
        expand(path, Narrowing(models=["nope"]))
    with pytest.raises(GridError, match="--models multvae not in grid"):
        expand(path, Narrowing(models=["multvae"]))
    with pytest.raises(GridError, match="leaves no trial"):
        expand(path, Narrowing(models=["toy-graph"], matchers=["mddm"]))
    with pytest.raises(GridError, match="unknown dataset 'not-prepared'"):
        expand(path, Narrowing(datasets=["not-prepared"]))
    with pytest.raises(DataError, match=r"dataset .amazon. is not prepared: run `python -m benchmark.data prepare"):
        expand(path, Narrowing(datasets=["amazon"]))


@pytest.mark.parametrize("name", ["table2", "table3", "sparsity", "activity", "ablation", "beta", "default", "smoke"])
def test_shipped_grids_load(name):
    grid = load_grid(name)
    assert grid.blocks and all(block.seeds for block in grid.blocks)


def test_paper_grid_sizes():
    def size(name):
        return sum(len(b.datasets) * sum(len(b.matchers or [None]) if m in ("multvae", "ldiffrec", "cvga") else 1
                                         for m in b.models) * len(b.seeds)
                   * (len(next(iter(b.sweep.values()))) if b.sweep else 1) for b in load_grid(name).blocks)
    assert size("table2") == 3 * 3 * 4 * 10
    assert size("table3") == 3 * 8 * 10
    assert size("ablation") == 2 * 4 * 10
