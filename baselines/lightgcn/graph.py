"""The user-item graph of LightGCN: built once, propagated with sparse products, edges dropped per step."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

LAYER_COMBINATIONS = ("sum", "mean")


def normalized_adjacency(interactions: sp.csr_matrix, device: torch.device | str = "cpu") -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the bipartite graph A = [[0, R], [R^T, 0]], no self-loops.

    Nodes are users 0..M-1 then items M..M+N-1; isolated nodes (RecBole's padding ids) get
    all-zero rows. Returns a coalesced (M+N, M+N) torch sparse COO tensor.
    """
    n_users, n_items = interactions.shape
    coo = interactions.tocoo()
    rows = np.concatenate([coo.row, coo.col + n_users])
    cols = np.concatenate([coo.col + n_users, coo.row])
    degree = np.bincount(rows, minlength=n_users + n_items).astype(np.float64)
    inverse_sqrt = np.zeros_like(degree)
    inverse_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    values = inverse_sqrt[rows] * inverse_sqrt[cols]
    indices = torch.as_tensor(np.stack([rows, cols]), dtype=torch.long)
    graph = torch.sparse_coo_tensor(indices, torch.as_tensor(values, dtype=torch.float32),
                                    (n_users + n_items,) * 2, check_invariants=True)
    return graph.coalesce().to(device)


def drop_edges(graph: torch.Tensor, keep_rate: float) -> torch.Tensor:
    """Keep each stored edge with probability `keep_rate` (each direction independently).

    As in RLMRec's framework (SSLRec `SpAdjEdgeDrop`), kept values are not rescaled.
    """
    if keep_rate >= 1.0:
        return graph
    keep = torch.rand(graph._nnz(), device=graph.device) < keep_rate
    return torch.sparse_coo_tensor(graph._indices()[:, keep], graph._values()[keep], graph.shape,
                                   is_coalesced=True, check_invariants=False)


def propagate(table: torch.Tensor, graph: torch.Tensor, n_layers: int, combination: str = "sum") -> torch.Tensor:
    """LightGCN: E_{k+1} = G E_k; returns sum or mean of E_0..E_L. table (M+N, d) -> (M+N, d)."""
    if combination not in LAYER_COMBINATIONS:
        raise ValueError(f"layer_combination must be one of {LAYER_COMBINATIONS}, not {combination!r}")
    layers = [table]
    for _ in range(n_layers):
        layers.append(torch.sparse.mm(graph, layers[-1]))
    combined = torch.stack(layers).sum(0)
    return combined / (n_layers + 1) if combination == "mean" else combined
