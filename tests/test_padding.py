"""RecBole's item id 0 is padding, not an item: for every registered model it takes no probability
mass, no gradient and no rank, and no training batch holds it."""
from __future__ import annotations

import copy

import pytest
import torch
from recbole.data.interaction import Interaction

from baselines.registry import REGISTRY
from benchmark.core.interactions import train_matrix
from benchmark.runner.training.loaders import make_train_loader
from dmrec.models.base import MultinomialHead
from tests.model_checks import build_model

MODELS = sorted(REGISTRY)


def total(loss) -> torch.Tensor:
    return sum(loss) if isinstance(loss, tuple) else loss


def padding_rows(net) -> list[tuple[str, torch.Tensor, int]]:
    """(name, tensor, row) of padding's row in every item-indexed parameter or float buffer: row 0
    of (n_items, ...) tables, row n_users of (n_users + n_items, ...) node tables."""
    rows = []
    for name, tensor in [*net.named_parameters(), *net.named_buffers()]:
        if tensor is None or not tensor.is_floating_point() or tensor.dim() == 0:
            continue
        if tensor.shape[0] == net.n_items:
            rows.append((name, tensor, 0))
        elif tensor.shape[0] == net.n_users + net.n_items:
            rows.append((name, tensor, net.n_users))
    return rows


def first_batch(net, config, train_set):
    loader = make_train_loader(net, train_set, config, torch.Generator().manual_seed(0))
    return next(iter(loader))


@pytest.mark.parametrize("model", MODELS)
def test_padding_takes_no_gradient_and_moves_no_loss(data_root, model):
    net, config, train_set, _ = build_model(model)
    interaction = first_batch(net, config, train_set)
    twin = copy.deepcopy(net)  # same state (annealing counters, loss histories) for the second loss
    net.train()
    twin.train()
    torch.manual_seed(1)
    loss = total(net.calculate_loss(interaction))
    loss.backward()
    for name, tensor, row in padding_rows(net):
        if isinstance(tensor, torch.nn.Parameter) and tensor.grad is not None:
            assert torch.count_nonzero(tensor.grad[row]) == 0, f"{model}: padding's row of {name} has a gradient"
    with torch.no_grad():
        for _, tensor, row in padding_rows(twin):
            tensor[row] += torch.randn_like(tensor[row])
    torch.manual_seed(1)
    perturbed = total(twin.calculate_loss(interaction))
    assert perturbed.item() == loss.item(), f"{model}: padding's parameters change the loss"


@pytest.mark.parametrize("model", MODELS)
def test_padding_never_ranks(data_root, model):
    net, _, train_set, _ = build_model(model)
    net.eval()
    users = torch.arange(1, train_set.user_num)
    with torch.no_grad():
        scores = net.full_sort_predict(Interaction({net.USER_ID: users})).view(len(users), -1)
    assert scores.shape == (len(users), train_set.item_num)
    assert torch.isneginf(scores[:, 0]).all(), f"{model}: padding item 0 gets a finite score"
    assert torch.isfinite(scores[:, 1:]).all()
    assert (scores.topk(train_set.item_num - 1, dim=1).indices != 0).all()


@pytest.mark.parametrize("model", MODELS)
def test_no_training_batch_holds_padding(data_root, model):
    net, config, train_set, _ = build_model(model)
    loader = make_train_loader(net, train_set, config, torch.Generator().manual_seed(0))
    for _ in range(3):  # a few epochs: many negative draws
        for interaction in loader:
            assert (interaction[net.USER_ID] != 0).all()
            if net.ITEM_ID in interaction:
                assert (interaction[net.ITEM_ID] != 0).all()
                assert (interaction[net.NEG_ITEM_ID] != 0).all(), "the negative sampler drew padding"


MULTINOMIAL_MODELS = ("multvae", "ldiffrec", "cvga")


@pytest.mark.parametrize("model", MULTINOMIAL_MODELS)
def test_multinomial_softmax_runs_over_real_items_only(data_root, model):
    net, _, train_set, _ = build_model(model)
    heads = [module for module in net.modules() if isinstance(module, MultinomialHead)]
    assert len(heads) == 1
    head = heads[0].double()
    assert head.out_features == net.n_items - 1, "one logit per real item, none for padding"
    batch = net.user_batch(torch.arange(1, 17))
    hidden = torch.randn(len(batch), head.in_features, dtype=torch.float64, requires_grad=True)
    scores = head(hidden)
    assert torch.isneginf(scores[:, 0]).all()
    x = torch.as_tensor(train_matrix(train_set)[1:17].toarray(), dtype=torch.float64)
    assert x[:, 0].sum() == 0
    expected = -(torch.log_softmax(scores[:, 1:], dim=1) * x[:, 1:]).sum(1).mean()
    assert head.loss(hidden, batch).item() == pytest.approx(expected.item(), rel=1e-12)
    # all of the softmax's mass is on real items: the gradient wrt each user's logits sums to 0
    (grad,) = torch.autograd.grad(head.loss(hidden, batch), hidden)
    (expected_grad,) = torch.autograd.grad(expected, hidden)
    assert torch.allclose(grad, expected_grad, atol=1e-12)
