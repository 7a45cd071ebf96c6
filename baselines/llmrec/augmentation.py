"""LLMRec's augmented (user, positive, negative) edges without a live LLM: the semantic proxy.

LLMRec asks an LLM to pick, from a base recommender's candidate items, one item the user would
like and one it would not. The proxy keeps that recipe and replaces the LLM's judgement by the
LM vectors the suite already has:

1. candidates: the top `candidates` unseen items of each user under a short LightGCN trained on
   the TRAINING interactions only (BPR, uniform negatives);
2. positive / negative: the candidate whose item vector has the highest / lowest cosine
   similarity with the user's profile vector.

Both picks are unseen training items of that user, so an augmented positive is a new edge, as
in LLMRec. The result depends on the training split, the vectors and the settings alone; it is
computed once and cached under `<data_root>/cache/llmrec/`, keyed by all of them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from baselines.lightgcn.graph import normalized_adjacency, propagate
from baselines.losses import bpr_loss, l2_rows
from benchmark.core.atomic import atomic_save_array
from benchmark.core.paths import data_root
from benchmark.data.layout import read_meta

FORMAT = "semantic-proxy-v1"  # bump when the recipe changes: old cache entries stop matching


@dataclass(frozen=True)
class ProxySettings:
    candidates: int = 10  # candidate items per user (what the LLM would choose from)
    epochs: int = 20  # training epochs of the candidate LightGCN
    dim: int = 64
    layers: int = 2
    learning_rate: float = 1e-2
    batch_size: int = 2048
    reg_weight: float = 1e-4
    seed: int = 2025


def sample_unseen(users: torch.Tensor, seen_keys: torch.Tensor, n_items: int,
                  generator: torch.Generator) -> torch.Tensor:
    """(B,) items in 1..N-1 not in the user's training set (rejection sampling on sorted keys)."""
    items = torch.randint(1, n_items, users.shape, generator=generator)
    while True:
        keys = users * n_items + items
        position = torch.searchsorted(seen_keys, keys).clamp(max=len(seen_keys) - 1)
        seen = seen_keys[position] == keys
        if not seen.any():
            return items
        items[seen] = torch.randint(1, n_items, (int(seen.sum()),), generator=generator)


def candidate_lightgcn(interactions: sp.csr_matrix, settings: ProxySettings) -> tuple[torch.Tensor, torch.Tensor]:
    """A short LightGCN (mean of layers) on the training matrix: (users (M, d), items (N, d))."""
    generator = torch.Generator().manual_seed(settings.seed)
    n_users, n_items = interactions.shape
    graph = normalized_adjacency(interactions)
    table = torch.nn.Parameter(0.1 * torch.randn(n_users + n_items, settings.dim, generator=generator))
    optimizer = torch.optim.Adam([table], lr=settings.learning_rate)
    coo = interactions.tocoo()
    users, items = torch.as_tensor(coo.row, dtype=torch.long), torch.as_tensor(coo.col, dtype=torch.long)
    seen_keys = torch.sort(users * n_items + items).values
    for _ in range(settings.epochs):
        order = torch.randperm(len(users), generator=generator)
        for start in range(0, len(order), settings.batch_size):
            index = order[start:start + settings.batch_size]
            u, p = users[index], items[index]
            n = sample_unseen(u, seen_keys, n_items, generator)
            out = propagate(table, graph, settings.layers, "mean")
            eu, ep, en = out[u], out[n_users + p], out[n_users + n]
            loss = bpr_loss((eu * ep).sum(-1), (eu * en).sum(-1)).mean() + settings.reg_weight * l2_rows(
                table[u], table[n_users + p], table[n_users + n])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        out = propagate(table, graph, settings.layers, "mean")
    return out[:n_users], out[n_users:]


def semantic_proxy_edges(interactions: sp.csr_matrix, user_vectors: np.ndarray, item_vectors: np.ndarray,
                         settings: ProxySettings) -> np.ndarray:
    """(M, 2) int64: each user's augmented (positive, negative) item, -1 for users without
    training items (RecBole's padding user among them). Internal ids; training data only."""
    interactions = interactions.tocsr()
    n_users, n_items = interactions.shape
    counts = np.diff(interactions.indptr)
    k = min(settings.candidates, n_items - 1 - int(counts.max()))
    if k < 2:
        raise ValueError(f"semantic proxy: users have too few unseen items for {settings.candidates} candidates")
    user_emb, item_emb = candidate_lightgcn(interactions, settings)
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


def cache_path(dataset_name: str, dataset_version: str, shape: tuple[int, int], settings: ProxySettings) -> Path:
    key = json.dumps({"format": FORMAT, "dataset": dataset_name, "version": dataset_version,
                      "shape": list(shape), **asdict(settings)}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return data_root() / "cache" / "llmrec" / f"{dataset_name}-{digest}.npy"


def cached_semantic_proxy_edges(dataset, interactions: sp.csr_matrix, user_vectors: np.ndarray,
                                item_vectors: np.ndarray, settings: ProxySettings) -> tuple[np.ndarray, str]:
    """(edges, "cache" | "built") for a RecBole train dataset; builds and stores on a miss."""
    folder = Path(dataset.dataset_path)
    version = read_meta(folder.name, folder.parent).get("version")
    path = cache_path(folder.name, str(version), interactions.shape, settings)
    if path.is_file():
        edges = np.load(path, allow_pickle=False)
        if edges.shape == (interactions.shape[0], 2):
            return edges, "cache"
    edges = semantic_proxy_edges(interactions, user_vectors, item_vectors, settings)
    atomic_save_array(path, edges)
    return edges, "built"
