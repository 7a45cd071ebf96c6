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
    return mask_scores(model.full_sort_predict(interaction).view(len(users), -1).float(), users, mask, non_finite,
                       masked)


def mask_scores(scores: torch.Tensor, users: torch.Tensor, mask: SparseRows, non_finite: torch.Tensor | None = None,
                masked: int | None = None) -> torch.Tensor:
    """`masked_scores` of scores already computed (B, n_items), masked in place."""
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
    ranking = _Ranking(target, ks, model.device)
    for users, host_users in ranking.batches(batch_size):
        ranking.add(masked_scores(model, users, target.mask, ranking.non_finite, target.mask.entry_count(host_users)),
                    users, host_users)
    return ranking.result(type(model).__name__, when)


@torch.no_grad()
def evaluate_members(group, target: RankingTarget, ks=(5, 10, 20), batch_size: int = 4096,
                     when: str | None = None) -> list:
    """`evaluate_full_ranking` of each member of a group model (`dmrec.members`), scored in one
    batched pass per batch of users: per member its mean metrics, or its `NonFiniteScores`."""
    group.eval()
    rankings = [_Ranking(target, ks, group.device) for _ in range(group.members)]
    for users, host_users in rankings[0].batches(batch_size):
        interaction = Interaction({group.USER_ID: users.expand(group.members, -1)}).to(group.device)
        scores = group.full_sort_predict(interaction).float()  # (K, B, n_items)
        masked = target.mask.entry_count(host_users)
        for ranking, member_scores in zip(rankings, scores, strict=True):
            ranking.add(mask_scores(member_scores, users, target.mask, ranking.non_finite, masked), users, host_users)
    outcomes = []
    for ranking in rankings:
        try:
            outcomes.append(ranking.result(type(group).__name__, when)[0])
        except NonFiniteScores as error:
            outcomes.append(error)
    return outcomes


class _Ranking:
    """One model's full-ranking evaluation, batch by batch: per-user metrics kept on the device."""

    def __init__(self, target: RankingTarget, ks, device):
        self.target, self.ks, self.max_k = target, ks, max(ks)
        self.per_user: dict[str, list[torch.Tensor]] = {}
        self.non_finite = torch.zeros((), dtype=torch.long, device=device)  # users with a NaN/inf score

    def batches(self, batch_size: int):
        """(users, their host copy) of each batch; the host copy gives the batch's sizes without a sync."""
        for start in range(0, len(self.target.users), batch_size):
            yield self.target.users[start:start + batch_size], self.target.host_users[start:start + batch_size]

    def add(self, scores: torch.Tensor, users: torch.Tensor, host_users) -> None:
        top = torch.topk(scores, self.max_k, dim=1).indices  # (B, K)
        truth = self.target.truth.dense(users, self.target.truth.entry_count(host_users)).to(scores.device)
        hits = torch.gather(truth, 1, top)
        n_relevant = truth.sum(1).double()
        for key, value in ranking_metrics(hits, n_relevant, self.ks).items():
            self.per_user.setdefault(key, []).append(value)

    def result(self, model_name: str, when: str | None):
        """(mean metrics, per-user arrays); raises `NonFiniteScores` naming `when`."""
        keys = list(self.per_user)
        # (n_metrics, U) float64 on the device -> one copy to the host
        stacked = torch.stack([torch.cat(self.per_user[key]) for key in keys]).cpu() if keys else torch.empty(0)
        if int(self.non_finite):
            raise NonFiniteScores(f"{model_name}: non-finite scores for {int(self.non_finite)} of "
                                  f"{len(self.target.users)} users at {when or self.target.name}")
        per_user_arrays = {key: stacked[i].numpy() for i, key in enumerate(keys)}
        means = OrderedDict((key, float(values.mean())) for key, values in per_user_arrays.items())
        return means, per_user_arrays
