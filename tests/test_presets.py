"""Every registered model's yaml is fully typed and its values pass their own types; `released`
is one preset name across all models, and every paper grid sets it on every block."""
import subprocess
import sys

import pytest
import yaml

from baselines.registry import REGISTRY
from benchmark.core.paper import PAPER_DATASETS
from benchmark.runner.config import (
    PROTOCOL_PATH,
    defaults_files,
    model_defaults,
    resolve,
)
from benchmark.runner.grid import GRIDS_DIR
from benchmark.runner.values import declared_types

MODELS = sorted(REGISTRY)
DMREC_BASES = ("multvae", "ldiffrec", "cvga")
GRIDS = GRIDS_DIR
PAPER_GRIDS = ("table2", "table3", "sparsity", "activity", "ablation", "beta")


@pytest.mark.parametrize("path", [PROTOCOL_PATH, *sorted({p for m in MODELS for p in defaults_files(m)})],
                         ids=lambda p: p.name)
def test_every_key_has_a_parseable_type_comment(path):
    types = declared_types(str(path))
    assert types, path
    untyped = [key for key, key_type in types.items() if key_type is None]
    assert not untyped, f"{path}: keys without a '# (type)' comment: {untyped}"


@pytest.mark.parametrize("model", MODELS)
def test_every_default_dataset_entry_and_preset_satisfies_its_types(model):
    _, per_dataset, presets = model_defaults(model)
    assert "released" in presets, f"{model} has no 'released' preset"
    for dataset in {"tiny", "ml-100k-text", *PAPER_DATASETS, *per_dataset}:
        for layer in ({}, *({"preset": name} for name in presets)):
            config = resolve(model, dataset, layer)  # type- and bound-checks every value it applies
            assert config["model"] == model and config.get("preset") == layer.get("preset")


@pytest.mark.parametrize("model", DMREC_BASES)
def test_released_preset_of_the_dmrec_bases(model):
    plain = resolve(model, "amazon", {"matcher": "mddm"})
    released = resolve(model, "amazon", {"matcher": "mddm", "preset": "released"})
    assert (plain["weight_init"], plain["first_eval_epoch"]) == ("xavier", None)
    assert released["weight_init"] == "torch_default" and released["first_eval_epoch"] == 1
    assert released["formulation"] == "released" and released["eval_step"] == 3  # validation after epochs 1, 4, 7, ...
    assert released["beta"] == 0.6
    if model == "multvae":
        assert plain["normalize_input"] is True and released["normalize_input"] is False
    else:
        assert "normalize_input" not in released
    changed = {k for k in released if released[k] != plain.get(k)}
    # L-DiffRec's preset also clusters its items as DiffRec does (measured: docs/reproducibility.md)
    own = {"ldiffrec": {"item_clusters_from"}}.get(model, set())
    assert changed == {"preset", "weight_init", "first_eval_epoch", *own} | ({"normalize_input"} if model == "multvae"
                                                                            else set())
    if own:
        assert plain["item_clusters_from"] == "text" and released["item_clusters_from"] == "lightgcn"


@pytest.mark.parametrize("model, expected", [
    ("lightgcn", {"embedding_size": 32, "layer_combination": "sum", "keep_rate": 0.8, "train_batch_size": 4096,
                  "stopping_step": 5}),
    ("kar", {"embedding_size": 32}),
    ("llmrec", {"learner": "adamw", "learning_rate": 1e-4, "stopping_step": 7, "prune": "lowest_loss",
                "prune_drop_rate": 0.71}),
    ("rlmrec_c", {"train_batch_size": 4096, "stopping_step": 5}),
    ("rlmrec_g", {"train_batch_size": 4096, "stopping_step": 5}),
    ("alpharec", {"train_batch_size": 4096, "learning_rate": 5e-4, "weight_decay": 1e-6, "mlp_hidden_factor": None}),
    ("alpharec_star", {"train_batch_size": 4096, "learning_rate": 5e-4, "weight_decay": 1e-6, "mlp_hidden_factor": None,
                       "user_input": "average"}),
])
def test_released_preset_of_the_baselines(model, expected):
    released = resolve(model, "steam-standin", {"preset": "released"})
    assert {k: released[k] for k in expected} == expected
    assert released["first_eval_epoch"] is None  # the DMRec code's validation schedule is not theirs


@pytest.mark.parametrize("name", PAPER_GRIDS)
def test_every_paper_grid_block_sets_the_released_preset(name):
    blocks = yaml.safe_load((GRIDS / f"{name}.yaml").read_text())["blocks"]
    assert blocks and all((block.get("params") or {}).get("preset") == "released" for block in blocks)


def test_the_default_grid_sets_it_for_the_dmrec_bases_only():
    blocks = yaml.safe_load((GRIDS / "default.yaml").read_text())["blocks"]
    for block in blocks:
        dmrec = set(block["models"]) <= set(DMREC_BASES)
        assert ((block.get("params") or {}).get("preset") == "released") == dmrec, block["name"]


def test_resolved_beta_from_the_command_line():
    command = ("from benchmark.runner.config import resolve; "
               "print(resolve('multvae', 'amazon', {'matcher': 'mddm'})['beta'])")
    out = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0.6"
