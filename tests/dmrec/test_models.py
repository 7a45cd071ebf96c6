"""DMRec's bases with every matcher on the tiny fixture: training, ranking, the sparse PMN path,
text requirements, configuration, determinism."""
import numpy as np
import pytest
import torch

from benchmark.core.errors import DataError
from benchmark.core.interactions import train_matrix
from benchmark.data.runtime import text_vectors
from benchmark.runner.config import resolve
from benchmark.runner.trial import train_and_evaluate
from dmrec.matchers import MATCHERS
from tests.model_checks import build_model, check_trains_and_ranks

BASES = ("multvae", "ldiffrec", "cvga")


@pytest.mark.parametrize("formulation", ["released", "paper"])
@pytest.mark.parametrize("matcher", sorted(MATCHERS))
@pytest.mark.parametrize("base", BASES)
def test_every_base_matcher_formulation_trains_and_ranks(data_root, base, matcher, formulation):
    # lr 3e-3: at 1e-2 Adam's first steps on 600-wide layers overshoot on 64 users
    check_trains_and_ranks(base, lr=3e-3, matcher=matcher, formulation=formulation)


@pytest.mark.parametrize("base", BASES)
def test_plain_base_needs_no_text(data_root, base):
    check_trains_and_ranks(base, lr=3e-3, dataset="tiny-notext", matcher="none")


@pytest.mark.parametrize("base", BASES)
def test_text_matcher_without_text_is_a_data_error(data_root, base):
    with pytest.raises(DataError, match="text vectors"):
        build_model(base, dataset="tiny-notext", matcher="mddm")


def test_sparse_pmn_path_equals_dense_computation(data_root):
    net, _, train_set, _ = build_model("multvae", matcher="mddm", dropout=0.5)
    users = torch.arange(1, 40)
    items = torch.as_tensor(text_vectors(train_set, "item"))
    own = torch.as_tensor(text_vectors(train_set, "user"))[users]
    x = torch.as_tensor(train_matrix(train_set)[users.numpy()].toarray())  # (B, N) binary

    net.eval()
    batch = net.user_batch(users, net.dropout)
    assert torch.allclose(net.pmn.language_input(batch), x @ items + own, atol=1e-5)

    net.train()
    torch.manual_seed(3)
    batch = net.user_batch(users, net.dropout)
    dropped = batch.dense(net.n_items)  # the same dropout as the encoder's input
    kept = dropped > 0
    assert kept.sum() < x.sum() and torch.equal(kept, (dropped > 0) & (x > 0))
    assert torch.allclose(dropped[kept], torch.full_like(dropped[kept], 2.0))  # inverted dropout 1 / (1 - 0.5)
    assert torch.allclose(net.pmn.language_input(batch), dropped @ items + own, atol=1e-5)
    # the encoder reads the same dropped x_u, normalised by ||x_u||
    normalised = dropped / x.sum(1, keepdim=True).sqrt()
    dense_hidden = torch.tanh(normalised @ net.encoder_items + net.encoder_bias)
    q = net.collaborative_gaussian(batch)
    assert torch.allclose(q.mean, net.encoder_out(dense_hidden)[:, :net.latent_dim], atol=1e-5)


def test_multinomial_head_equals_dense_log_softmax(data_root):
    from dmrec.models.base import MultinomialHead

    net, *_ = build_model("multvae")
    batch = net.user_batch(torch.arange(1, 20))
    torch.manual_seed(0)
    head = MultinomialHead(7, net.n_items).double()
    hidden = torch.randn(len(batch), 7, dtype=torch.float64, requires_grad=True)
    x = batch.dense(net.n_items).double()
    weights = torch.rand(len(batch.items), dtype=torch.float64)
    x_weighted = torch.zeros_like(x)
    x_weighted[batch.rows, batch.items] = weights
    for target, values in ((x, None), (x_weighted, weights)):
        params = (hidden, head.weight, head.bias)
        reference = -(torch.log_softmax(head(hidden)[:, 1:], 1) * target[:, 1:]).sum(1).mean()  # real items
        expected_grads = torch.autograd.grad(reference, params)
        value = head.loss(hidden, batch, values)
        grads = torch.autograd.grad(value, params)
        assert value.item() == pytest.approx(reference.item(), rel=1e-12)
        assert all(torch.allclose(g, e, atol=1e-12) for g, e in zip(grads, expected_grads, strict=True))


def test_multinomial_head_refuses_a_reused_workspace(data_root):
    from dmrec.models.base import MultinomialHead

    net, *_ = build_model("multvae")
    batch = net.user_batch(torch.arange(1, 5))
    head = MultinomialHead(3, net.n_items)
    first = head.loss(torch.randn(4, 3, requires_grad=True), batch)
    head.loss(torch.randn(4, 3, requires_grad=True), batch)  # overwrites the shared workspace
    with pytest.raises(RuntimeError, match="workspace was reused"):
        first.backward()


@pytest.mark.parametrize("base,latent", [("multvae", 200), ("ldiffrec", 300), ("cvga", 64)])
def test_posterior_mean_is_the_prediction_gaussian(data_root, base, latent):
    for formulation in ("released", "paper"):
        net, *_ = build_model(base, matcher="mddm", formulation=formulation)
        net.eval()
        users = torch.arange(1, 9)
        batch = net.user_batch(users)
        q = net.collaborative_gaussian(batch)
        p = net.pmn(batch)
        expected = q.mean + p.mean if formulation == "released" else q.mean
        assert net.posterior_mean(users).shape == (8, latent)
        assert torch.allclose(net.posterior_mean(users), expected)
        assert net.pmn.mlp[-1].out_features == 2 * latent


def test_defaults_per_dataset():
    amazon = resolve("multvae", "amazon-standin")
    assert amazon["dropout"] == 0.3 and amazon["beta"] is None and amazon["formulation"] == "released"
    assert resolve("multvae", "steam")["dropout"] == 0.2
    assert resolve("ldiffrec", "amazon")["learner"] == "adamw"


def test_kl_annealing(data_root):
    net, *_ = build_model("multvae", total_anneal_steps=10, anneal_cap=0.2)
    assert net.kl_weight() == 0.0
    net.update_count = 1
    assert net.kl_weight() == pytest.approx(0.1)
    net.update_count = 100
    assert net.kl_weight() == pytest.approx(0.2)
    plain, *_ = build_model("multvae")
    assert plain.kl_weight() == 1.0


def test_ldiffrec_groups_partition_items_and_latent(data_root):
    net, *_ = build_model("ldiffrec", matcher="none", n_clusters=3)
    assert sum(net.group_sizes) == 300 and len(net.group_sizes) == 3
    # every item feeds exactly its group's mean and log-variance coordinates
    per_item = net.group_mask[1:].sum(1)
    groups = net.item_groups[1:]
    sizes = torch.tensor(net.group_sizes)
    assert torch.equal(per_item, 2 * sizes[groups].float())
    # the fixture plants 4 taste clusters in the text vectors: clustering follows them
    planted = np.arange(48) % 4
    from benchmark.data.runtime import external_ids
    _, _, train_set, _ = build_model("ldiffrec")
    external = external_ids(train_set, "item")[1:]
    labels = net.item_groups[1:].numpy()
    for c in range(3):
        assert len(set(planted[external[labels == c]])) <= 2


def test_ldiffrec_diffusion_history_is_a_fifo(data_root):
    net, *_ = build_model("ldiffrec")
    diffusion = net.diffusion
    t = torch.tensor([0, 1, 0, 0])
    diffusion.record_losses(t, torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert diffusion.history_count.tolist()[:2] == [3, 1]
    assert diffusion.loss_history[0, :3].tolist() == [1.0, 3.0, 4.0]
    diffusion.record_losses(torch.zeros(9, dtype=torch.long), torch.arange(10.0, 19.0))
    assert diffusion.history_count[0] == 10
    assert diffusion.loss_history[0].tolist() == [4.0, *range(10, 19)]


@pytest.mark.slow
@pytest.mark.parametrize("base", BASES)
def test_same_seed_same_metrics(data_root, base):
    config = resolve(base, "tiny", {"matcher": "mddm", "epochs": 3, "eval_step": 1, "train_batch_size": 16})
    first, second = train_and_evaluate(config), train_and_evaluate(config)
    assert first["metrics"] == second["metrics"]
    assert first["curve"][-1]["train_loss"] == second["curve"][-1]["train_loss"]
    assert len(first["posterior"]["dim_variance"]) == {"multvae": 200, "ldiffrec": 300, "cvga": 64}[base]
