"""The artefacts attached to a trial's datasets: text vectors as the prepared files hold them, and the
pre-trained LightGCN embeddings, cached under the prepared dataset keyed by all they depend on."""
import json
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baselines.lightgcn.lightgcn import LightGCN
from benchmark.core import artefacts as core
from benchmark.core.errors import DataError
from benchmark.data import artefacts
from benchmark.data.prepared import write_prepared
from benchmark.data.runtime import text_vectors as read_text_vectors
from benchmark.runner.config import resolve
from benchmark.runner.trial import build_recbole
from tests.fixtures import recbole_splits, tiny_dataset

RECIPE = core.LightGCNPretraining(model=LightGCN, epochs=2, seed=3, batch_size=64, learning_rate=1e-2,
                                  init="xavier", fused_adam=False)


def _cached_files(train_set):
    return sorted((Path(train_set.dataset_path) / artefacts.CACHE_FOLDER).glob("lightgcn-*.npy"))


@cache
def _train_set(name: str):
    return recbole_splits(name)[0]


def test_a_second_call_reads_the_cache_and_a_changed_setting_trains_again(data_root):
    write_prepared(tiny_dataset("tiny-artefacts"), data_root / "prepared")
    train_set = _train_set("tiny-artefacts")
    first, source = artefacts.cached_lightgcn_embeddings(train_set, RECIPE)
    assert source == "built" and len(_cached_files(train_set)) == 1
    again, source = artefacts.cached_lightgcn_embeddings(train_set, RECIPE)
    assert source == "cache" and np.array_equal(first, again)
    # round trip: the cache holds exactly what the routine computes
    assert np.array_equal(first, artefacts.train_lightgcn(train_set, RECIPE))
    assert first.shape == (train_set.user_num + train_set.item_num, 64) and first.dtype == np.float32
    key = json.loads(_cached_files(train_set)[0].with_suffix(".json").read_text())
    assert key["epochs"] == 2 and key["n_layers"] == 3 and key["dataset"] == "tiny-artefacts"
    for changed in ({"epochs": 3}, {"seed": 4}, {"n_layers": 2}, {"init": "normal"}):
        other, source = artefacts.cached_lightgcn_embeddings(train_set, replace(RECIPE, **changed))
        assert source == "built" and not np.array_equal(other, first), changed
    assert len(_cached_files(train_set)) == 5


def test_the_key_follows_the_data_and_fills_in_the_registered_architecture(data_root):
    write_prepared(tiny_dataset("tiny-artefacts-a"), data_root / "prepared")
    write_prepared(tiny_dataset("tiny-artefacts-b", seed=12345), data_root / "prepared")
    a, b = _train_set("tiny-artefacts-a"), _train_set("tiny-artefacts-b")
    key_a, key_b = artefacts.cache_key(a, RECIPE), artefacts.cache_key(b, RECIPE)
    assert key_a["version"] != key_b["version"]
    assert artefacts.cache_path(a, RECIPE).name != artefacts.cache_path(b, RECIPE).name
    # None architecture fields take baselines/lightgcn/lightgcn.yaml's values; given ones are kept
    assert {k: key_a[k] for k in artefacts.ARCHITECTURE} == {
        "embedding_size": 64, "n_layers": 3, "layer_combination": "mean", "keep_rate": 1.0, "reg_weight": 1e-4}
    explicit = replace(RECIPE, embedding_size=64, n_layers=3, layer_combination="mean", keep_rate=1.0,
                            reg_weight=1e-4)
    assert artefacts.cache_path(a, explicit) == artefacts.cache_path(a, RECIPE)
    assert artefacts.cache_key(a, replace(RECIPE, n_layers=2))["n_layers"] == 2


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=300))
def test_a_damaged_cache_file_is_trained_again_never_read(data_root, content):
    write_prepared(tiny_dataset("tiny-artefacts-damaged"), data_root / "prepared")
    train_set = _train_set("tiny-artefacts-damaged")
    recipe = replace(RECIPE, epochs=1)
    path = artefacts.cache_path(train_set, recipe)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    embeddings, source = artefacts.cached_lightgcn_embeddings(train_set, recipe)
    assert source == "built" and embeddings.shape == (train_set.user_num + train_set.item_num, 64)
    assert np.array_equal(np.load(path), embeddings)


def test_a_cache_file_of_the_wrong_shape_is_trained_again(data_root):
    write_prepared(tiny_dataset("tiny-artefacts-shape"), data_root / "prepared")
    train_set = _train_set("tiny-artefacts-shape")
    path = artefacts.cache_path(train_set, RECIPE)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.zeros((3, 64), dtype=np.float32))
    assert artefacts.cached_lightgcn_embeddings(train_set, RECIPE)[1] == "built"


def test_pretraining_is_seeded_and_leaves_the_global_stream_alone(data_root):
    train_set = _train_set("tiny")
    torch.manual_seed(7)
    first = artefacts.train_lightgcn(train_set, RECIPE)
    after = torch.rand(4)
    torch.manual_seed(7)
    assert torch.equal(after, torch.rand(4))  # the pre-training drew from a forked generator
    assert np.isfinite(first).all()
    assert np.array_equal(first, artefacts.train_lightgcn(train_set, RECIPE))


def test_attached_text_vectors_are_the_prepared_ones_and_a_missing_kind_names_the_file(data_root):
    config = resolve("multvae", "tiny", {"matcher": "none"})
    _, _, (train_set, valid_set, test_set) = build_recbole(config)
    attached = core.attached(train_set)
    assert core.attached(valid_set) is attached and core.attached(test_set) is attached
    assert attached.lightgcn == {}  # Mult-VAE asks for no pre-training
    for kind in ("user", "item"):
        vectors = core.text_vectors(train_set, kind)
        assert np.array_equal(vectors, read_text_vectors(train_set, kind)) and not vectors[0].any()
        vectors[1] += 1.0  # a model may change its copy: the next reader gets the prepared vectors
        assert np.array_equal(core.text_vectors(train_set, kind), read_text_vectors(train_set, kind))

    _, _, (plain, _, _) = build_recbole(resolve("multvae", "tiny-notext", {"matcher": "none"}))
    with pytest.raises(DataError) as attached_error:
        core.text_vectors(plain, "item", required_by="KAR")
    with pytest.raises(DataError) as read_error:
        read_text_vectors(plain, "item", required_by="KAR")
    assert str(attached_error.value) == str(read_error.value)
    assert str(attached_error.value).startswith(f"{plain.dataset_path}/item_vectors.npy: KAR needs item text vectors")


def test_a_dataset_built_without_the_data_layer_says_so(data_root):
    train_set = _train_set("tiny")
    with pytest.raises(core.ArtefactsNotAttached, match="build_recbole"):
        core.text_vectors(train_set, "item")


def test_a_model_reads_only_the_pretraining_it_asked_for(data_root):
    config = resolve("ldiffrec", "tiny", {"matcher": "none", "n_clusters": 3, "item_clusters_from": "lightgcn",
                                          "cluster_pretrain_epochs": 1})
    recbole_config, cls, (train_set, _, _) = build_recbole(config)
    (recipe,) = cls.pretrainings(recbole_config)
    assert recipe.epochs == 1 and recipe.seed == config["seed"] and recipe.device == "cpu"
    assert core.lightgcn_embeddings(train_set, recipe).shape == (train_set.user_num + train_set.item_num, 64)
    with pytest.raises(core.ArtefactsNotAttached, match="pretrainings"):
        core.lightgcn_embeddings(train_set, replace(recipe, epochs=2))


def test_recipes_reject_unknown_initialisations():
    with pytest.raises(ValueError, match="init must be one of"):
        replace(RECIPE, init="zeros")
