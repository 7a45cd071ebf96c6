"""Per-user random train/valid/test split (the paper's 3:1:1, as in RLMRec's processed data).

Rounding, for a user with n kept interactions and ratios (a, b, c):
    n_valid = floor(n * b / (a+b+c) + 1/2),  n_test = floor(n * c / (a+b+c) + 1/2),
    n_train = n - n_valid - n_test,
then, should n_train fall below 1, test and then valid give items back until it is 1. With 3:1:1
this never triggers: n = 1, 2 keep everything in train; n = 3 gives 1/1/1; n = 4 gives 2/1/1;
n = 7 gives 5/1/1; n = 8 gives 4/2/2. Which interactions go where is a seeded permutation of the
user's interactions (ordered by item id), users taken in increasing id order, so the split is a
pure function of (interactions, seed).
"""
from __future__ import annotations

import numpy as np

TRAIN, VALID, TEST = 0, 1, 2  # labels; index into layout.SPLITS
SPLIT_SEED = 2025  # the per-user random split of ml-100k-text and of your own data


def split_sizes(n: int, ratios: tuple[float, float, float] = (3, 1, 1)) -> tuple[int, int, int]:
    """(n_train, n_valid, n_test) for a user with `n` interactions (rule in the module docstring)."""
    total = float(sum(ratios))
    n_valid = int(np.floor(n * ratios[1] / total + 0.5))
    n_test = int(np.floor(n * ratios[2] / total + 0.5))
    while n > 0 and n - n_valid - n_test < 1:
        if n_test > 0:
            n_test -= 1
        else:
            n_valid -= 1
    return n - n_valid - n_test, n_valid, n_test


def split_per_user(users: np.ndarray, items: np.ndarray, seed: int,
                   ratios: tuple[float, float, float] = (3, 1, 1)) -> np.ndarray:
    """Split label (TRAIN / VALID / TEST) of each interaction (users[k], items[k])."""
    users = np.asarray(users)
    items = np.asarray(items)
    order = np.lexsort((items, users))  # by user, then item: independent of the input row order
    labels = np.empty(len(users), dtype=np.int8)
    rng = np.random.default_rng(seed)
    boundaries = np.flatnonzero(np.diff(users[order])) + 1
    for rows in np.split(order, boundaries):
        n_train, n_valid, _ = split_sizes(len(rows), ratios)
        shuffled = rows[rng.permutation(len(rows))]
        labels[shuffled[:n_train]] = TRAIN
        labels[shuffled[n_train:n_train + n_valid]] = VALID
        labels[shuffled[n_train + n_valid:]] = TEST
    return labels
