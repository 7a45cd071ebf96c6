"""Full-ranking metrics: hand-computed cases, and agreement with RecBole's own Recall/NDCG."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from benchmark.runner import compat

compat.install()
from recbole.evaluator.metrics import NDCG, Recall  # noqa: E402

from benchmark.core.interactions import SparseRows  # noqa: E402
from benchmark.runner.training.evaluation import (  # noqa: E402
    NonFiniteScores,
    RankingTarget,
    evaluate_full_ranking,
    ranking_metrics,
)


def test_hand_computed_recall_and_ndcg():
    # ranked hits 1,0,1 for a user with 4 relevant items; 0,0,0 for a user with 1
    hits = torch.tensor([[1, 0, 1], [0, 0, 0]])
    out = ranking_metrics(hits, torch.tensor([4.0, 1.0], dtype=torch.float64), ks=(1, 3))
    assert out["recall@1"].tolist() == [0.25, 0.0]
    assert out["recall@3"].tolist() == [0.5, 0.0]
    dcg3 = 1 + 1 / math.log2(4)
    idcg3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # min(3, 4) = 3 ideal hits
    assert math.isclose(out["ndcg@3"][0].item(), dcg3 / idcg3, rel_tol=1e-12)
    assert out["ndcg@1"].tolist() == [1.0, 0.0]


def test_ndcg_ideal_uses_min_of_k_and_relevant():
    hits = torch.tensor([[0, 1, 0, 0]])
    out = ranking_metrics(hits, torch.tensor([1.0], dtype=torch.float64), ks=(4,))
    assert math.isclose(out["ndcg@4"].item(), (1 / math.log2(3)) / 1.0)


class _ScoreTable(torch.nn.Module):
    """A 'model' whose scores are a fixed table: isolates the evaluator."""

    USER_ID = "user_id"

    def __init__(self, scores):
        super().__init__()
        self.scores = torch.as_tensor(scores, dtype=torch.float32)
        self.device = torch.device("cpu")

    def full_sort_predict(self, interaction):
        return self.scores[interaction[self.USER_ID]]


def test_matches_recbole_metrics_on_same_scores():
    rng = np.random.default_rng(3)
    n_users, n_items = 40, 60
    train = sp.csr_matrix((rng.random((n_users, n_items)) < 0.15).astype(np.float32))
    test = sp.csr_matrix(((rng.random((n_users, n_items)) < 0.1) & (train.toarray() == 0)).astype(np.float32))
    train[0], test[0] = 0, 0  # row/col 0 are RecBole's padding
    train[:, 0], test[:, 0] = 0, 0
    train.eliminate_zeros(), test.eliminate_zeros()
    scores = rng.normal(size=(n_users, n_items))
    users = np.flatnonzero(np.diff(test.indptr))
    target = RankingTarget("test", torch.as_tensor(users), SparseRows(test), SparseRows(train),
                           np.diff(train.indptr)[users])
    ks = (5, 10, 20)
    means, per_user = evaluate_full_ranking(_ScoreTable(scores), target, ks=ks, batch_size=7)

    # RecBole's metric functions on the same ranking (training items and padding excluded)
    masked = scores.copy()
    masked[train.toarray() > 0] = -np.inf
    masked[:, 0] = -np.inf
    top = np.argsort(-masked[users], axis=1, kind="stable")[:, :20]
    truth = test.toarray()[users] > 0
    pos_index = np.take_along_axis(truth, top, axis=1)
    pos_len = truth.sum(1)
    recall = Recall.metric_info(None, pos_index, pos_len)
    ndcg = NDCG.metric_info(None, pos_index, pos_len)
    for k in ks:
        np.testing.assert_allclose(per_user[f"recall@{k}"], recall[:, k - 1], rtol=1e-9)
        np.testing.assert_allclose(per_user[f"ndcg@{k}"], ndcg[:, k - 1], rtol=1e-9)
        assert math.isclose(means[f"ndcg@{k}"], ndcg[:, k - 1].mean(), rel_tol=1e-9)
    assert len(per_user["recall@20"]) == len(users)


def test_non_finite_scores_fail_but_the_padding_column_may_be_anything():
    rng = np.random.default_rng(0)
    train = sp.csr_matrix((rng.random((10, 8)) < 0.3).astype(np.float32))
    test = sp.csr_matrix((rng.random((10, 8)) < 0.3).astype(np.float32))
    users = np.flatnonzero(np.diff(test.indptr))
    target = RankingTarget("test", torch.as_tensor(users), SparseRows(test), SparseRows(train),
                           np.diff(train.indptr)[users])
    scores = rng.normal(size=(10, 8))
    scores[:, 0] = -np.inf  # a model may drop the padding item itself
    means, _ = evaluate_full_ranking(_ScoreTable(scores), target, ks=(2,))
    assert np.isfinite(list(means.values())).all()
    assert target.to("cpu").truth is target.truth  # already there: no copy
    for bad in (np.nan, np.inf, -np.inf):
        poisoned = scores.copy()
        poisoned[users[:2], 3] = bad
        with pytest.raises(NonFiniteScores, match=f"non-finite scores for 2 of {len(users)} users at epoch 9"):
            evaluate_full_ranking(_ScoreTable(poisoned), target, ks=(2,), when="epoch 9")
