"""The checks every registered model must pass on the tiny fixture (used by the per-room tests)."""
from __future__ import annotations

import numpy as np
import torch

from benchmark.core.interactions import train_matrix
from benchmark.runner.config import resolve
from benchmark.runner.training.evaluation import RankingTarget, masked_scores
from benchmark.runner.training.loaders import make_train_loader
from benchmark.runner.trial import build_recbole


def build_model(model: str, dataset: str = "tiny", **overrides):
    config = resolve(model, dataset, {"train_batch_size": 32, **overrides})
    recbole_config, cls, (train_set, valid_set, _) = build_recbole(config)
    torch.manual_seed(0)
    return cls(recbole_config, train_set), recbole_config, train_set, valid_set


def check_trains_and_ranks(model: str, steps: int = 40, lr: float = 1e-2, dataset: str = "tiny", **overrides):
    """A few optimizer steps: finite, decreasing loss; full scores of shape users x items with the
    training items (and padding item 0) masked. Returns the losses for further checks."""
    net, config, train_set, valid_set = build_model(model, dataset, **overrides)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loader = make_train_loader(net, train_set, config, torch.Generator().manual_seed(0))
    losses = []
    net.train()
    while len(losses) < steps:
        if hasattr(net, "on_epoch_start"):
            net.on_epoch_start(len(losses))
        for interaction in loader:
            optimizer.zero_grad()
            loss = net.calculate_loss(interaction)
            loss = sum(loss) if isinstance(loss, tuple) else loss
            assert torch.isfinite(loss), f"{model}: non-finite loss {loss}"
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) >= steps:
                break
    k = max(3, steps // 5)
    assert np.mean(losses[-k:]) < np.mean(losses[:k]), f"{model} {overrides}: loss did not decrease: {losses}"

    target = RankingTarget.from_datasets("valid", train_set, valid_set)
    users = target.users
    with torch.no_grad():
        net.eval()
        scores = masked_scores(net, users, target.mask)
    assert scores.shape == (len(users), train_set.item_num)
    train = train_matrix(train_set)[users.numpy()].toarray() > 0
    assert torch.isinf(scores[torch.as_tensor(train)]).all(), "training items must be masked"
    assert torch.isfinite(scores[:, 1:][torch.as_tensor(~train[:, 1:])]).all(), "unmasked scores must be finite"
    return losses
