"""A tiny prepared dataset with planted structure, so models have something to learn in a few steps."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmark.data.prepared import PreparedDataset, write_prepared


def tiny_dataset(name: str = "tiny", n_users: int = 64, n_items: int = 48, dim: int = 16,
                 with_text: bool = True, seed: int = 7) -> PreparedDataset:
    """Users and items in 4 taste clusters; each user likes ~12 items mostly of its own cluster.
    Text vectors are noisy cluster centroids, so text carries real signal. Split 3:1:1 per user."""
    rng = np.random.default_rng(seed)
    user_cluster = np.arange(n_users) % 4
    item_cluster = np.arange(n_items) % 4
    rows, cols, split_of = [], [], []
    for u in range(n_users):
        own = np.flatnonzero(item_cluster == user_cluster[u])
        other = np.flatnonzero(item_cluster != user_cluster[u])
        items = np.concatenate([rng.choice(own, 9, replace=False), rng.choice(other, 3, replace=False)])
        rng.shuffle(items)
        labels = np.array([0, 0, 0, 1, 2] * 3)[: len(items)][rng.permutation(len(items))]
        rows += [u] * len(items)
        cols += items.tolist()
        split_of += labels.tolist()
    rows, cols, split_of = map(np.asarray, (rows, cols, split_of))
    splits = {
        split: sp.csr_matrix((np.ones((split_of == k).sum(), np.float32), (rows[split_of == k], cols[split_of == k])),
                             shape=(n_users, n_items))
        for k, split in enumerate(("train", "valid", "test"))
    }
    centroids = rng.normal(size=(4, dim))
    user_vectors = item_vectors = user_profiles = item_profiles = None
    if with_text:
        user_vectors = (centroids[user_cluster] + 0.3 * rng.normal(size=(n_users, dim))).astype(np.float32)
        item_vectors = (centroids[item_cluster] + 0.3 * rng.normal(size=(n_items, dim))).astype(np.float32)
        user_profiles = [f"user {u} enjoys cluster {c}" for u, c in enumerate(user_cluster)]
        item_profiles = [f"item {i} of cluster {c}" for i, c in enumerate(item_cluster)]
    return PreparedDataset(name, splits, user_vectors, item_vectors, user_profiles, item_profiles,
                           info={"source": "tests/fixtures.py"})


def prepare_tiny(root: Path, **kwargs) -> Path:
    return write_prepared(tiny_dataset(**kwargs), root)


def recbole_splits(name: str):
    """RecBole's [train, valid, test] datasets of a prepared dataset, read through RecBole's Config."""
    from benchmark import compat

    compat.install()
    from recbole.config import Config
    from recbole.data import create_dataset
    from recbole.model.general_recommender import Pop

    from benchmark.data.prepared import recbole_dataset_config

    config = Config(model=Pop, config_dict={**recbole_dataset_config(name), "show_progress": False})
    return create_dataset(config).build()
