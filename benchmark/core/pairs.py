"""The one BPR pair sampler: training (user, item) pairs in a seeded order, each with unseen negatives.

The runner's pair loader and the data layer's LightGCN pre-training both draw through it, so one
seed gives the same pairs and negatives in either.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


class PairSampler:
    """One epoch = one pass over the training (user, item) pairs of `matrix`, shuffled, each with
    `num_negatives` items drawn uniformly among the items the user has not seen in training
    (rejection sampling; item 0, RecBole's padding, is never drawn). Every draw comes from
    `generator`, in a fixed order: per epoch one permutation, then per batch its negatives."""

    def __init__(self, matrix: sp.spmatrix, generator: torch.Generator, num_negatives: int = 1,
                 name: str = "dataset"):
        matrix = matrix.tocsr()
        self.generator = generator
        self.num_negatives = num_negatives
        coo = matrix.tocoo()
        self.users = torch.as_tensor(coo.row, dtype=torch.long)
        self.items = torch.as_tensor(coo.col, dtype=torch.long)
        self.n_items = matrix.shape[1]
        # one bit per (user, item) cell, set where the user has seen the item in training: a
        # lookup is a gather and a shift, ~9x faster than a binary search over sorted pair keys
        # (AlphaRec checks 256 draws per pair), and it takes users x items / 8 bytes (13 MB for
        # Amazon-Book)
        keys = coo.row.astype(np.int64) * self.n_items + coo.col
        seen_bits = np.zeros((matrix.shape[0] * self.n_items + 7) // 8, dtype=np.uint8)
        np.bitwise_or.at(seen_bits, keys >> 3, (1 << (keys & 7)).astype(np.uint8))
        self.seen_bits = torch.from_numpy(seen_bits)
        if int(np.diff(matrix.indptr).max()) >= self.n_items - 1:
            raise ValueError(f"{name}: a user has seen every item, no negative can be drawn")

    def sample_negatives(self, users: torch.Tensor) -> torch.Tensor:
        """(B, num_negatives) unseen items per user."""
        shape = (len(users), self.num_negatives)
        negatives = torch.randint(1, self.n_items, shape, generator=self.generator).view(-1)
        owners = users.unsqueeze(1).expand(shape).reshape(-1)
        pending = torch.arange(len(negatives))  # only redrawn entries are checked again
        while len(pending):
            keys = owners[pending] * self.n_items + negatives[pending]
            seen = (self.seen_bits[keys >> 3] >> (keys & 7).to(torch.uint8)) & 1
            pending = pending[seen.bool()]
            negatives[pending] = torch.randint(1, self.n_items, (len(pending),), generator=self.generator)
        return negatives.view(shape)

    def batch_count(self, batch_size: int) -> int:
        return (len(self.users) + batch_size - 1) // batch_size

    def batches(self, batch_size: int):
        """One epoch of (users (B,), items (B,), negatives (B, num_negatives)) host tensors."""
        order = torch.randperm(len(self.users), generator=self.generator)
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            users, items = self.users[index], self.items[index]
            yield users, items, self.sample_negatives(users)
