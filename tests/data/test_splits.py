import numpy as np
import pytest

from benchmark.data.sources.movielens import COLUMNS, FILES, MIN_RATING, read_atomic, recbole_ml100k_dir
from benchmark.data.splits import SPLIT_SEED, TEST, TRAIN, VALID, split_per_user, split_sizes


@pytest.mark.parametrize("n, expected", [
    (1, (1, 0, 0)), (2, (2, 0, 0)), (3, (1, 1, 1)), (4, (2, 1, 1)), (5, (3, 1, 1)), (6, (4, 1, 1)),
    (7, (5, 1, 1)), (8, (4, 2, 2)), (10, (6, 2, 2)), (12, (8, 2, 2)), (13, (7, 3, 3)), (100, (60, 20, 20)),
])
def test_split_sizes_follow_the_documented_rounding(n, expected):
    assert split_sizes(n) == expected


def test_every_user_keeps_a_training_item_whatever_the_ratios():
    for n in range(1, 40):
        n_train, n_valid, n_test = split_sizes(n, (1, 2, 2))
        assert n_train >= 1 and n_valid >= 0 and n_test >= 0 and n_train + n_valid + n_test == n


def _kept_movielens():
    folder = recbole_ml100k_dir()
    inter = read_atomic(folder / FILES["inter"], COLUMNS["inter"])
    users = np.asarray(inter["user_id"], dtype=np.int64)
    items = np.asarray(inter["item_id"], dtype=np.int64)
    keep = np.asarray(inter["rating"], dtype=float) >= MIN_RATING
    return users[keep], items[keep]


def test_movielens_split_is_a_disjoint_per_user_three_one_one_partition():
    users, items = _kept_movielens()
    labels = split_per_user(users, items, SPLIT_SEED)
    assert len(users) == 82_520  # ML-100K ratings >= 3
    pairs = {label: set(zip(users[labels == label], items[labels == label], strict=True))
             for label in (TRAIN, VALID, TEST)}
    assert not pairs[TRAIN] & pairs[VALID] and not pairs[TRAIN] & pairs[TEST] and not pairs[VALID] & pairs[TEST]
    assert pairs[TRAIN] | pairs[VALID] | pairs[TEST] == set(zip(users, items, strict=True))
    for user in np.unique(users):
        mine = labels[users == user]
        counts = tuple(int((mine == label).sum()) for label in (TRAIN, VALID, TEST))
        assert counts == split_sizes(len(mine))
        assert counts[0] >= 1


def test_split_depends_on_the_seed_but_not_on_row_order():
    users, items = _kept_movielens()
    labels = split_per_user(users, items, seed=3)
    shuffle = np.random.default_rng(0).permutation(len(users))
    np.testing.assert_array_equal(split_per_user(users[shuffle], items[shuffle], seed=3), labels[shuffle])
    assert (split_per_user(users, items, seed=4) != labels).any()
