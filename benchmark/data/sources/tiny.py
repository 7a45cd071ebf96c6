"""`tiny` and `tiny-notext`: a 64-user dataset with planted structure, built in a second offline.

Users and items fall in 4 taste clusters; each user likes 12 items, 9 of its own cluster. Text
vectors are noisy cluster centroids, so text carries real signal. Models have something to learn
in a few steps: the smoke grid, the tests and a first run on a fresh clone use it.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from benchmark.data.layout import SPLITS
from benchmark.data.prepared import PreparedDataset
from benchmark.data.recipe import PrepareOptions, TextVectors

TINY_SEED = 7


def planted_dataset(name: str = "tiny", n_users: int = 64, n_items: int = 48, dim: int = 16,
                    with_text: bool = True, seed: int = TINY_SEED) -> PreparedDataset:
    """The planted-cluster dataset; each user's 12 interactions split 3:1:1 (9 / 3 / 3 of 15 labels, cut to 12)."""
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
        for k, split in enumerate(SPLITS)
    }
    centroids = rng.normal(size=(4, dim))
    user_vectors = item_vectors = user_profiles = item_profiles = None
    if with_text:
        user_vectors = (centroids[user_cluster] + 0.3 * rng.normal(size=(n_users, dim))).astype(np.float32)
        item_vectors = (centroids[item_cluster] + 0.3 * rng.normal(size=(n_items, dim))).astype(np.float32)
        user_profiles = [f"user {u} enjoys cluster {c}" for u, c in enumerate(user_cluster)]
        item_profiles = [f"item {i} of cluster {c}" for i, c in enumerate(item_cluster)]
    return PreparedDataset(name, splits, user_vectors, item_vectors, user_profiles, item_profiles, info={
        "source": f"planted clusters (benchmark/data/sources/tiny.py, seed {seed})",
        "text_fields": "16-d noisy cluster centroids (synthetic)" if with_text else "none",
        "text_encoder": "planted (synthetic)" if with_text else None,
    })


class TinyPlanted:
    options = ()

    def __init__(self, name: str, with_text: bool):
        self.name = name
        self.with_text = with_text
        self.summary = ("64 users x 48 items in 4 planted clusters, with 16-d text vectors (seconds; the smoke grid)"
                        if with_text else "the same interactions without text (interaction-only models)")

    def default_name(self, options: PrepareOptions) -> str:
        return self.name

    def recipe(self, options: PrepareOptions, vectors: TextVectors) -> dict:
        return {"builder": self.name, "seed": TINY_SEED, "with_text": self.with_text}

    def build(self, options: PrepareOptions, out_name: str, vectors: TextVectors) -> PreparedDataset:
        return planted_dataset(out_name, with_text=self.with_text)


TINY_BUILDERS = [TinyPlanted("tiny", True), TinyPlanted("tiny-notext", False)]
