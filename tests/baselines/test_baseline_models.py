"""Every baseline trains and ranks on the tiny fixture, with each of its documented switches."""
import numpy as np
import pytest
import torch

from baselines.alpharec.alpharec import mean_of_item_vectors
from benchmark.core.interactions import train_matrix
from benchmark.data.runtime import text_vectors
from benchmark.runner.config import resolve
from tests.model_checks import build_model, check_trains_and_ranks

BASELINES = ["lightgcn", "rlmrec_c", "rlmrec_g", "alpharec", "alpharec_star", "kar", "llmrec"]


@pytest.mark.parametrize("name", BASELINES)
def test_trains_and_ranks(data_root, name):
    check_trains_and_ranks(name)


@pytest.mark.parametrize("name, switch", [
    ("lightgcn", {"layer_combination": "sum"}),
    ("lightgcn", {"keep_rate": 0.8}),
    ("rlmrec_c", {"layer_combination": "mean"}),
    ("alpharec", {"user_input": "own_profile"}),
    ("alpharec", {"user_input": "average", "num_negatives": 1}),
    ("kar", {"injection": "add"}),
    ("llmrec", {"prune": "lowest_loss"}),
])
def test_switch_variants_train_and_rank(data_root, name, switch):
    check_trains_and_ranks(name, **switch)


@pytest.mark.parametrize("name", BASELINES)
def test_released_preset_and_standin_defaults_resolve(name):
    config = resolve(name, "amazon", {"preset": "released"})
    assert config["preset"] == "released"
    base = resolve(name, "amazon")
    assert {k: v for k, v in resolve(name, "amazon-standin").items() if k != "dataset"} == {
        k: v for k, v in base.items() if k != "dataset"}


def test_dataset_defaults_follow_the_released_configs():
    assert resolve("rlmrec_c", "steam")["kd_weight"] == 1e-3 and resolve("rlmrec_c", "steam")["kd_temperature"] == 0.1
    yelp = resolve("rlmrec_g", "yelp")
    settings = (yelp["mask_ratio"], yelp["recon_weight"], yelp["recon_temperature"], yelp["n_layers"])
    assert settings == (0.05, 0.01, 0.1, 2)
    assert resolve("alpharec_star", "amazon")["user_input"] == "average"
    assert resolve("alpharec", "amazon")["user_input"] == "items_mean"


def test_bad_switch_values_are_rejected(data_root):
    for name, switch, message in [("lightgcn", {"layer_combination": "max"}, "layer_combination"),
                                  ("kar", {"injection": "gate"}, "injection"),
                                  ("alpharec", {"user_input": "profile"}, "user_input"),
                                  ("llmrec", {"prune": "random"}, "prune")]:
        with pytest.raises(ValueError, match=message):
            build_model(name, **switch)


def test_alpharec_user_inputs(data_root):
    net, _, train_set, _ = build_model("alpharec")
    items = text_vectors(train_set, "item")
    own = text_vectors(train_set, "user")
    r = train_matrix(train_set).toarray()
    counts = r.sum(1, keepdims=True)
    expected_mean = np.where(counts > 0, r @ items / np.maximum(counts, 1), 0.0)
    n_users = net.n_users
    assert np.allclose(net.inputs[:n_users].numpy(), expected_mean, atol=1e-5)
    assert np.allclose(net.inputs[n_users:].numpy(), items)
    own_net, *_ = build_model("alpharec", user_input="own_profile")
    assert np.allclose(own_net.inputs[:n_users].numpy(), own)
    star, *_ = build_model("alpharec_star")
    assert np.allclose(star.inputs[:n_users].numpy(), 0.5 * (expected_mean + own), atol=1e-5)
    assert star.num_negatives == 256 and not hasattr(star, "user_embedding")
    mean = mean_of_item_vectors(train_matrix(train_set), torch.as_tensor(items)).numpy()
    assert np.allclose(mean, expected_mean, atol=1e-5)


def test_alpharec_scores_are_cosines(data_root):
    net, *_ = build_model("alpharec")
    net.eval()
    from recbole.data.interaction import Interaction
    scores = net.full_sort_predict(Interaction({net.USER_ID: torch.arange(1, 5)}))
    assert scores[:, 1:].abs().max() <= 1.0 + 1e-5  # column 0, RecBole's padding item, is -inf


def test_rlmrec_g_masks_the_requested_share_and_never_padding(data_root):
    net, *_ = build_model("rlmrec_g", mask_ratio=0.25)
    with torch.no_grad():
        net.mask_token.fill_(7.0)
        table, masked = net.masked_table()
    n_real = net.n_users + net.n_items - 2
    assert len(masked) == int(n_real * 0.25) == len(set(masked.tolist()))
    assert 0 not in masked.tolist() and net.n_users not in masked.tolist()
    assert torch.all(table[masked] == 7.0)
    unmasked = torch.ones(len(table), dtype=torch.bool)
    unmasked[masked] = False
    assert torch.equal(table[unmasked], net.layer0()[unmasked])


def test_kar_injection_shapes(data_root):
    concat, *_ = build_model("kar")
    add, *_ = build_model("kar", injection="add")
    d = concat.embedding_size
    assert concat.layer0().shape[1] == 2 * d and add.layer0().shape[1] == d


@pytest.mark.parametrize("name", ["lightgcn", "alpharec", "llmrec"])
def test_predict_agrees_with_full_sort_predict(data_root, name):
    from recbole.data.interaction import Interaction

    net, *_ = build_model(name)
    net.eval()
    users, items = torch.tensor([1, 2, 3]), torch.tensor([5, 1, 9])
    full = net.full_sort_predict(Interaction({net.USER_ID: users}))
    pointwise = net.predict(Interaction({net.USER_ID: users, net.ITEM_ID: items}))
    assert torch.allclose(pointwise, full[torch.arange(3), items], atol=1e-6)
