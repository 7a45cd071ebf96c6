"""The checks every registered model must pass on the tiny fixture (used by the per-room tests)."""
from __future__ import annotations

import numpy as np
import torch

from benchmark.core.interactions import train_matrix
from benchmark.runner.config import resolve
from benchmark.runner.training.evaluation import masked_scores
from benchmark.runner.trial import BuiltTrial, build_trial


def build(model: str, dataset: str = "tiny", **overrides) -> BuiltTrial:
    """The model as a trial builds it (`build_trial`), on the CPU, from small training batches."""
    return build_trial(resolve(model, dataset, {"train_batch_size": 32, "use_gpu": False, **overrides}))


def build_model(model: str, dataset: str = "tiny", **overrides):
    """(model, RecBole Config, training split, validation target) of `build`."""
    trial = build(model, dataset, **overrides)
    return trial.model, trial.recbole_config, trial.train_set, trial.valid


def check_trains_and_ranks(model: str, steps: int = 40, lr: float = 1e-2, dataset: str = "tiny", **overrides):
    """A few optimizer steps: finite, decreasing loss; full scores of shape users x items with the
    training items (and padding item 0) masked. Returns the losses for further checks."""
    trial = build(model, dataset, **overrides)
    net, loader, train_set, target = trial.model, trial.loader, trial.train_set, trial.valid
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
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

    users = target.users
    with torch.no_grad():
        net.eval()
        scores = masked_scores(net, users, target.mask)
    assert scores.shape == (len(users), train_set.item_num)
    train = train_matrix(train_set)[users.numpy()].toarray() > 0
    assert torch.isinf(scores[torch.as_tensor(train)]).all(), "training items must be masked"
    assert torch.isfinite(scores[:, 1:][torch.as_tensor(~train[:, 1:])]).all(), "unmasked scores must be finite"
    return losses
