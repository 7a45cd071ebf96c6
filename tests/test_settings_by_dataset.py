"""Settings by dataset: every per-dataset value a paper grid applies cites its source in the model
yaml, the published values resolve exactly, Amazon-Book's paper-grid configs stay as they were,
and the generated page agrees with the yamls."""
import json
import re
from pathlib import Path

import pytest

from benchmark.analysis import settings
from benchmark.core.paper import PAPER_DATASETS
from benchmark.runner.config import resolve

FIXTURE = Path(__file__).parent / "data" / "amazon_paper_grid_configs.json"
PAPER_GRID_MODELS = sorted({model for _, model, _, _ in settings.paper_grid_runs()})
REPOSITORY = re.compile(r"\b[\w-]+/[\w.-]+\b")  # owner/name, as GitHub spells it


def test_the_paper_grids_cover_every_base_and_baseline():
    assert set(PAPER_GRID_MODELS) == {"multvae", "ldiffrec", "cvga", "lightgcn", "kar", "llmrec", "rlmrec_c",
                                      "rlmrec_g", "alpharec", "alpharec_star"}


@pytest.mark.parametrize("model", PAPER_GRID_MODELS)
@pytest.mark.parametrize("dataset", PAPER_DATASETS)
def test_every_per_dataset_value_cites_its_source(model, dataset):
    entries = settings.dataset_entries(model, dataset, "released")
    assert entries, f"{model}: no `datasets:` entry for {dataset}, not even an empty one saying why"
    for entry in entries:
        assert entry.source.startswith(settings.SOURCE_MARK), \
            f"{model} {entry.where}: the entry's line needs a '# source: ...' comment"
        assert REPOSITORY.search(entry.cited), f"{model} {entry.where}: the source names no repository"
        if not entry.values:  # nothing published: the comment must say what runs instead
            assert "none" in entry.cited and "default" in entry.cited, f"{model} {entry.where}: {entry.cited}"


def test_a_value_without_a_source_comment_fails(tmp_path, monkeypatch):
    bare = tmp_path / "bare.yaml"
    bare.write_text("x: 1  # (int)\ndatasets:\n  yelp:\n    x: 2\n")
    inline, _ = settings.yaml_comments(str(bare))
    assert inline[("datasets", "yelp")] == "" and inline[("datasets", "yelp", "x")] == ""
    cited = tmp_path / "cited.yaml"
    cited.write_text("x: 1  # (int)\npresets:\n  released:\n    datasets:\n"
                     "      yelp:  # source: owner/repo conf.yml line 3\n        x: 2  # x2\n")
    inline, _ = settings.yaml_comments(str(cited))
    assert inline[("presets", "released", "datasets", "yelp")] == "source: owner/repo conf.yml line 3"
    assert inline[("presets", "released", "datasets", "yelp", "x")] == "x2"


def test_ldiffrec_on_yelp_is_diffrecs_yelp_checkpoint():
    # YiyanXu/DiffRec L-DiffRec/inference.py: yelp_clean_0.0005lr1_0.0001lr2_0.0wd1_0.0wd2_bs400_cate2_in[300]
    # _out[]_lam0.03_dims[300]_emb10_x0_steps5_scale0.01_min0.005_max0.01_sample0_reweight0
    config = resolve("ldiffrec", "yelp", {"preset": "released"})
    assert {k: config[k] for k in ("learning_rate", "train_batch_size", "n_clusters", "latent_dim", "lamda",
                                   "mlp_dims", "time_embedding_size", "steps", "noise_scale", "noise_min",
                                   "noise_max", "sampling_steps", "reweight")} == {
        "learning_rate": 0.0005, "train_batch_size": 400, "n_clusters": 2, "latent_dim": 300, "lamda": 0.03,
        "mlp_dims": [300], "time_embedding_size": 10, "steps": 5, "noise_scale": 0.01, "noise_min": 0.005,
        "noise_max": 0.01, "sampling_steps": 0, "reweight": False}
    assert config["item_clusters_from"] == "lightgcn"  # the preset still applies
    assert resolve("ldiffrec", "yelp-standin", {"preset": "released"})["noise_scale"] == 0.01  # the alias rule


def test_ldiffrec_on_steam_runs_the_amazon_book_command():
    steam, amazon = resolve("ldiffrec", "steam", {"preset": "released"}), resolve("ldiffrec", "amazon",
                                                                                   {"preset": "released"})
    assert {k: v for k, v in steam.items() if k != "dataset"} == {k: v for k, v in amazon.items() if k != "dataset"}


def test_lightgcn_takes_rlmrecs_layers_by_dataset_under_the_preset_only():
    # HKUDS/RLMRec encoder/config/modelconf/lightgcn.yml: layer_num 3 / 3 / 2
    assert [resolve("lightgcn", d, {"preset": "released"})["n_layers"] for d in PAPER_DATASETS] == [3, 3, 2]
    assert resolve("lightgcn", "steam")["n_layers"] == 3  # the LightGCN paper's model
    assert resolve("lightgcn", "steam", {"preset": "released", "n_layers": 4})["n_layers"] == 4  # a grid's key wins


@pytest.mark.parametrize("model, dataset, expected", [
    ("multvae", "yelp", {"dropout": 0.3}), ("multvae", "steam", {"dropout": 0.2}),
    ("rlmrec_c", "steam", {"kd_weight": 1e-3, "kd_temperature": 0.1, "n_layers": 3}),
    ("rlmrec_g", "yelp", {"mask_ratio": 0.05, "recon_weight": 0.01, "recon_temperature": 0.1, "n_layers": 2}),
    ("alpharec", "steam", {"tau": 0.2}), ("alpharec_star", "yelp", {"tau": 0.15}),
])
def test_published_values_by_dataset(model, dataset, expected):
    config = resolve(model, dataset, {"preset": "released"})
    assert {k: config[k] for k in expected} == expected


def test_amazon_paper_grid_configs_are_unchanged():
    """Every paper-grid model on Amazon-Book resolves to the config it had before settings by dataset
    (tests/data/amazon_paper_grid_configs.json): the same trial ids, the same stored records."""
    pinned = json.loads(FIXTURE.read_text())
    assert set(pinned) >= {f"{m}+{x}" for m in ("multvae", "ldiffrec", "cvga") for x in ("none", "godm", "cpdm",
                                                                                           "mddm")}
    for name, expected in pinned.items():
        model, _, matcher = name.partition("+")
        layer = {"preset": "released", **({"matcher": matcher} if matcher and matcher != "none" else {})}
        assert resolve(model, "amazon", layer) == expected, name


def test_the_page_is_in_sync_with_the_yamls():
    assert settings.PAGE_PATH.read_text() == settings.render_page(), \
        "docs/settings-by-dataset.md is out of date: run python -m benchmark.analysis.settings"


def test_check_exits_1_on_a_stale_page(tmp_path, capsys):
    page = tmp_path / "page.md"
    page.write_text("stale\n")
    assert settings.main(["--check", "--page", str(page)]) == 1
    assert settings.main(["--page", str(page)]) == 0
    assert settings.main(["--check", "--page", str(page)]) == 0
    assert "| yelp | `noise_scale` | `0.01` | `0.5` | `datasets.yelp` |" in page.read_text()


def test_show_prints_the_resolved_config(capsys):
    assert settings.main(["--show", "ldiffrec", "yelp"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == resolve("ldiffrec", "yelp", {"preset": "released", "seed": 0})
    assert settings.main(["--show", "ldiffrec", "ml-100k-text"]) == 2
