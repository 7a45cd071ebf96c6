"""The loss terms the baselines share, written once so known-answer tests can pin them down.

BPR and L2 are LightGCN's; the InfoNCE variants are the released codes' exact forms (RLMRec's
`cal_infonce_loss` and `ssl_con_loss`, AlphaRec's sampled softmax); the scaled cosine error
is GraphMAE's, used by LLMRec's feature reconstruction.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-8


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """x / sqrt(eps + ||x||^2) row-wise (RLMRec's normalization; a zero row stays zero)."""
    return x / torch.sqrt(EPS + x.square().sum(-1, keepdim=True))


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Per-pair BPR, -log sigmoid(pos - neg) = softplus(neg - pos). (B,) -> (B,)."""
    return F.softplus(neg_scores - pos_scores)


def l2_rows(*tables: torch.Tensor) -> torch.Tensor:
    """Sum of squared entries over the given (B, d) rows, divided by B (RecBole's EmbLoss form)."""
    return sum(t.square().sum() for t in tables) / tables[0].shape[0]


def candidate_infonce(anchors: torch.Tensor, positives: torch.Tensor, candidates: torch.Tensor,
                      temperature: float) -> torch.Tensor:
    """RLMRec-C's alignment, summed over anchors (the caller divides by the batch):

        sum_i [ -cos(a_i, p_i) / t + log sum_j exp(cos(a_i, c_j) / t) ]

    anchors, positives (B, d); candidates (C, d).
    """
    a, p, c = unit_rows(anchors), unit_rows(positives), unit_rows(candidates)
    numerator = (a * p).sum(-1) / temperature
    log_denominator = torch.logsumexp(a @ c.T / temperature, dim=-1)
    return (log_denominator - numerator).sum()


def paired_infonce(x: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """RLMRec-G's reconstruction InfoNCE, mean over rows; row i of y is x_i's positive and the
    other rows of y its negatives: -log(exp(c_ii / t) / (sum_j exp(c_ij / t) + 1e-8) + 1e-8)."""
    x, y = F.normalize(x, dim=-1), F.normalize(y, dim=-1)
    logits = x @ y.T / temperature  # (n, n)
    ratio = torch.exp(logits.diagonal()) / (torch.exp(logits).sum(1) + EPS)
    return -torch.log(ratio + EPS).mean()


def sampled_softmax(pos_cosines: torch.Tensor, neg_cosines: torch.Tensor, temperature: float) -> torch.Tensor:
    """AlphaRec's loss, mean over the batch, from cosine similarities pos (B,) and neg (B, K):

        -log( e^{pos/t} / (e^{pos/t} + sum_k e^{neg_k/t}) )
    """
    logits = torch.cat([pos_cosines.unsqueeze(1), neg_cosines], dim=1) / temperature  # (B, 1+K)
    return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()


def scaled_cosine_error(x: torch.Tensor, y: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """GraphMAE's SCE, mean over rows of (1 - cos(x_i, y_i))^gamma."""
    cos = (F.normalize(x, dim=-1) * F.normalize(y, dim=-1)).sum(-1)
    return (1.0 - cos).pow(gamma).mean()
