"""Full-ranking evaluation: every item not in the user's training set is a candidate.

Recall@K = hits in the top K / |test items of u|; NDCG@K = DCG@K / IDCG over min(K, |test items|)
(the paper's protocol; docs/models/index.md, "The protocol"). Users without items in the evaluated split are not
evaluated. The metrics are computed in torch on the scoring device, batch by batch, kept per user on the device and
moved to the host once per evaluation. Non-finite scores (NaN/inf weights) fail the evaluation:
ranking NaNs returns an arbitrary top K, which once stored the same Recall@20 for every model.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from recbole.data.interaction import Interaction

from benchmark.core.interactions import SparseRows, train_matrix


class NonFiniteScores(FloatingPointError):
    """A model scored some real item NaN or +-inf: its ranking means nothing, the trial fails."""


@dataclass
class RankingTarget:
    """What one full-ranking evaluation needs: the users, their held-out items, the mask."""

    name: str  # "valid" or "test"
    users: torch.Tensor  # (U,) internal ids with at least one held-out item
    truth: SparseRows  # held-out items
    mask: SparseRows  # items excluded from the ranking (the training items)
    n_train: np.ndarray  # (U,) training interactions of each evaluated user
    host_users: np.ndarray | None = None  # `users` on the host (filled in), for sync-free entry counts

    def __post_init__(self):
        if self.host_users is None:
            self.host_users = self.users.cpu().numpy()

    @classmethod
    def from_datasets(cls, name: str, train_dataset, eval_dataset, also_mask=()) -> RankingTarget:
        truth = train_matrix(eval_dataset)
        mask = train_matrix(train_dataset)
        for extra in also_mask:
            mask = mask + train_matrix(extra)
        mask.data[:] = 1.0
        users = np.flatnonzero(np.diff(truth.indptr))
        return cls(name, torch.as_tensor(users, dtype=torch.long), SparseRows(truth), SparseRows(mask),
                   np.diff(train_matrix(train_dataset).indptr)[users])

    def to(self, device) -> RankingTarget:
        """A copy with users, truth and mask on `device` (this one is left where it is)."""
        return RankingTarget(self.name, self.users.to(device), self.truth.copy_to(device),
                             self.mask.copy_to(device), self.n_train, self.host_users)


def masked_scores(model, users: torch.Tensor, mask: SparseRows, non_finite: torch.Tensor | None = None,
                  masked: int | None = None) -> torch.Tensor:
    """(B, n_items) scores of `users` with their masked items and RecBole's padding item 0 at -inf.
    `non_finite` (a 0-d device counter), when given, is increased by the users with a non-finite
    score among the real items (counted on the device: no host sync here). `masked`: the users'
    entry count in `mask`, when known on the host (else read from the device)."""
    interaction = Interaction({model.USER_ID: users}).to(model.device)
    scores = model.full_sort_predict(interaction).view(len(users), -1).float()
    if non_finite is not None:
        non_finite += (~torch.isfinite(scores[:, 1:])).any(dim=1).sum()
    batch_row, cols, _ = mask._gather(users, masked)
    scores[batch_row.to(scores.device), cols.to(scores.device)] = -torch.inf
    scores[:, 0] = -torch.inf
    return scores


def ranking_metrics(top_hits: torch.Tensor, n_relevant: torch.Tensor, ks) -> dict[str, torch.Tensor]:
    """Per-user Recall@K and NDCG@K from (B, max K) 0/1 hits of the ranked list."""
    max_k = top_hits.shape[1]
    discounts = 1.0 / torch.log2(torch.arange(2, max_k + 2, device=top_hits.device, dtype=torch.float64))
    ideal = torch.cumsum(discounts, 0)
    hits = top_hits.double()
    dcg = torch.cumsum(hits * discounts, 1)
    found = torch.cumsum(hits, 1)
    out = {}
    for k in ks:
        out[f"recall@{k}"] = found[:, k - 1] / n_relevant
        out[f"ndcg@{k}"] = dcg[:, k - 1] / ideal[torch.clamp(n_relevant, max=k).long() - 1]
    return out


@torch.no_grad()
def evaluate_full_ranking(model, target: RankingTarget, ks=(5, 10, 20), batch_size: int = 4096,
                          when: str | None = None):
    """(mean metrics, per-user metrics) of `model` on `target`; per-user rows follow target.users.

    Ranks where the scores are (put `target` on the model's device first: `target.to(device)`);
    the per-user metrics cross to the host in one copy at the end. Raises `NonFiniteScores`
    (naming `when`, e.g. "validation after epoch 6") if any user's scores are not finite."""
    model.eval()
    max_k = max(ks)
    per_user: dict[str, list[torch.Tensor]] = {}
    non_finite = torch.zeros((), dtype=torch.long, device=model.device)  # users with a NaN/inf score
    for start in range(0, len(target.users), batch_size):
        users = target.users[start:start + batch_size]
        host_users = target.host_users[start:start + batch_size]  # the batch's sizes, counted on the host
        scores = masked_scores(model, users, target.mask, non_finite, target.mask.entry_count(host_users))
        top = torch.topk(scores, max_k, dim=1).indices  # (B, K)
        truth = target.truth.dense(users, target.truth.entry_count(host_users)).to(scores.device)
        hits = torch.gather(truth, 1, top)
        n_relevant = truth.sum(1).double()
        for key, value in ranking_metrics(hits, n_relevant, ks).items():
            per_user.setdefault(key, []).append(value)
    keys = list(per_user)
    # (n_metrics, U) float64 on the device -> one copy to the host
    stacked = torch.stack([torch.cat(per_user[key]) for key in keys]).cpu() if keys else torch.empty(0)
    if int(non_finite):
        raise NonFiniteScores(f"{type(model).__name__}: non-finite scores for {int(non_finite)} of "
                              f"{len(target.users)} users at {when or target.name}")
    per_user_arrays = {key: stacked[i].numpy() for i, key in enumerate(keys)}
    means = OrderedDict((key, float(values.mean())) for key, values in per_user_arrays.items())
    return means, per_user_arrays
