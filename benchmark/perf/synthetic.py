"""Synthetic stand-ins of a dataset's size: random Zipf-like interactions and random text vectors."""
from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse as sp

from benchmark.core.paper import paper_dataset, table1_counts

TEXT_DIM = 1536  # RLMRec's text vectors (text-embedding-ada-002)


def synthetic_dataset(name: str, n_users: int, n_items: int, n_interactions: int, text_dim: int, seed: int = 0):
    """A random PreparedDataset of the given size: Zipf-like item popularity, split 3:1:1 per user."""
    from benchmark.data.prepared import PreparedDataset

    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    per_user = np.maximum(rng.poisson(n_interactions / n_users, n_users), 5)
    rows, cols, split = [], [], []
    for user, count in enumerate(per_user):
        items = rng.choice(n_items, size=min(count, n_items), replace=False, p=popularity)
        labels = np.resize([0, 0, 0, 1, 2], len(items))[rng.permutation(len(items))]
        rows.append(np.full(len(items), user))
        cols.append(items)
        split.append(labels)
    rows, cols, split = map(np.concatenate, (rows, cols, split))
    splits = {name_: sp.csr_matrix((np.ones((split == k).sum(), np.float32), (rows[split == k], cols[split == k])),
                                   shape=(n_users, n_items)) for k, name_ in enumerate(("train", "valid", "test"))}
    return PreparedDataset(name, splits, rng.normal(size=(n_users, text_dim)).astype(np.float32) / 40,
                           rng.normal(size=(n_items, text_dim)).astype(np.float32) / 40,
                           info={"source": "benchmark/perf synthetic stand-in"})


def table1_shape(dataset: str) -> tuple[dict, str]:
    """(shape, where it comes from) of a paper dataset from the paper's Table 1; Amazon-Book's
    for any other name."""
    paper = paper_dataset(dataset)
    where = f"paper Table 1 ({paper})"
    if paper is None:
        where = f"paper Table 1 (amazon; '{dataset.split('-', 1)[0].lower()}' is not a paper dataset)"
        paper = "amazon"
    counts = table1_counts()[paper]
    shape = {key: counts[key] for key in ("n_users", "n_items", "n_interactions")}
    return {**shape, "text_dim": TEXT_DIM}, where


def parse_shape(text: str) -> dict:
    """USERS,ITEMS,INTERACTIONS,DIM -> a shape (for tiny measurements and tests)."""
    try:
        users, items, interactions, dim = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shape {text!r}: expected USERS,ITEMS,INTERACTIONS,DIM integers") from None
    if min(users, items, interactions, dim) < 1 or items < 8:
        raise argparse.ArgumentTypeError(f"--shape {text!r}: every number must be positive, items >= 8")
    return {"n_users": users, "n_items": items, "n_interactions": interactions, "text_dim": dim}


def write_stand_in(dataset: str, shape: dict | None, root) -> tuple[dict, str]:
    """Prepare a synthetic `dataset` under `root` (a prepared-datasets folder) at `shape` (None:
    its Table 1 shape); returns (shape, where the shape comes from)."""
    from benchmark.data.prepared import write_prepared

    shape, where = (shape, "--shape") if shape else table1_shape(dataset)
    write_prepared(synthetic_dataset(dataset, **shape), root=root)
    return shape, where
