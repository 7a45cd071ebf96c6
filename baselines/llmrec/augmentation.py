"""LLMRec's augmented (user, positive, negative) edges without a live LLM: the semantic proxy.

LLMRec asks an LLM to pick, from a base recommender's candidate items, one item the user would
like and one it would not. The proxy keeps that recipe and replaces the LLM's judgement by the
LM vectors the suite already has:

1. candidates: the top `candidates` unseen items of each user under a short LightGCN trained on
   the TRAINING interactions only (BPR, uniform negatives; `proxy_pretraining`, trained and cached
   by the data layer, benchmark/data/artefacts.py);
2. positive / negative: the candidate whose item vector has the highest / lowest cosine
   similarity with the user's profile vector.

Both picks are unseen training items of that user, so an augmented positive is a new edge, as
in LLMRec. The result depends on the training split, the vectors and the settings alone.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from baselines.lightgcn.lightgcn import LightGCN
from benchmark.core.artefacts import LightGCNPretraining

PROXY_BATCH_SIZE = 2048
PROXY_LEARNING_RATE = 1e-2
PROXY_REG_WEIGHT = 1e-4


def proxy_pretraining(config) -> LightGCNPretraining:
    """The candidate LightGCN: the model's d and L, mean of layers, no edge dropout, trained on the
    CPU (on any trial device) from 0.1 N(0, 1) tables drawn, as every pair, from one generator
    seeded by the trial seed."""
    return LightGCNPretraining(model=LightGCN, epochs=int(config["proxy_epochs"]), seed=int(config["seed"]),
                               batch_size=PROXY_BATCH_SIZE, learning_rate=PROXY_LEARNING_RATE, init="normal",
                               fused_adam=False, device="cpu", embedding_size=int(config["embedding_size"]),
                               n_layers=int(config["n_layers"]), layer_combination="mean", keep_rate=1.0,
                               reg_weight=PROXY_REG_WEIGHT)


def semantic_proxy_edges(interactions: sp.csr_matrix, user_vectors: np.ndarray, item_vectors: np.ndarray,
                         user_emb: torch.Tensor, item_emb: torch.Tensor, n_candidates: int) -> np.ndarray:
    """(M, 2) int64: each user's augmented (positive, negative) item, -1 for users without
    training items (RecBole's padding user among them). Internal ids; training data only.
    `user_emb` (M, d), `item_emb` (N, d): the candidate LightGCN's embeddings."""
    interactions = interactions.tocsr()
    n_users, n_items = interactions.shape
    counts = np.diff(interactions.indptr)
    k = min(n_candidates, n_items - 1 - int(counts.max()))
    if k < 2:
        raise ValueError(f"semantic proxy: users have too few unseen items for {n_candidates} candidates")
    users_v = torch.nn.functional.normalize(torch.as_tensor(user_vectors, dtype=torch.float32), dim=-1)
    items_v = torch.nn.functional.normalize(torch.as_tensor(item_vectors, dtype=torch.float32), dim=-1)
    edges = np.full((n_users, 2), -1, dtype=np.int64)
    active = np.flatnonzero(counts)
    for start in range(0, len(active), 4096):
        batch = torch.as_tensor(active[start:start + 4096], dtype=torch.long)
        scores = user_emb[batch] @ item_emb.T  # (B, N)
        sub = interactions[batch.numpy()].tocoo()
        scores[torch.as_tensor(sub.row, dtype=torch.long), torch.as_tensor(sub.col, dtype=torch.long)] = -torch.inf
        scores[:, 0] = -torch.inf
        candidates = torch.topk(scores, k, dim=1).indices  # (B, k) unseen items
        similarity = torch.einsum("bd,bkd->bk", users_v[batch], items_v[candidates])
        positive = candidates.gather(1, similarity.argmax(1, keepdim=True)).squeeze(1)
        negative = candidates.gather(1, similarity.argmin(1, keepdim=True)).squeeze(1)
        edges[batch.numpy()] = torch.stack([positive, negative], 1).numpy()
    return edges
