"""The one BPR pair sampler: every training pair once per epoch, negatives never seen, and the same
stream as a rejection sampler on sorted pair keys (what the LLMRec proxy's own loop drew)."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.core.pairs import PairSampler


@st.composite
def matrices(draw):
    """(users x items) binary matrices where every user leaves at least one real item unseen."""
    n_users, n_items = draw(st.integers(1, 12)), draw(st.integers(3, 12))
    rows = [draw(st.lists(st.integers(1, n_items - 1), max_size=n_items - 2, unique=True)) for _ in range(n_users)]
    cells = [(u, i) for u, items in enumerate(rows) for i in items]
    data = np.ones(len(cells), dtype=np.float32)
    index = np.array(cells, dtype=np.int64).reshape(-1, 2)
    return sp.csr_matrix((data, (index[:, 0], index[:, 1])), shape=(n_users, n_items))


def sorted_key_negatives(users, seen_keys, n_items, generator):
    items = torch.randint(1, n_items, users.shape, generator=generator)
    while True:
        keys = users * n_items + items
        seen = seen_keys[torch.searchsorted(seen_keys, keys).clamp(max=len(seen_keys) - 1)] == keys
        if not seen.any():
            return items
        items[seen] = torch.randint(1, n_items, (int(seen.sum()),), generator=generator)


@settings(max_examples=60, deadline=None)
@given(matrix=matrices(), batch_size=st.integers(1, 9), negatives=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_an_epoch_is_every_pair_once_with_unseen_negatives(matrix, batch_size, negatives, seed):
    if matrix.nnz == 0:
        return
    sampler = PairSampler(matrix, torch.Generator().manual_seed(seed), num_negatives=negatives)
    dense = matrix.toarray() > 0
    drawn = [batch for _ in range(2) for batch in sampler.batches(batch_size)]
    assert len(drawn) == 2 * sampler.batch_count(batch_size)
    users = torch.cat([u for u, _, _ in drawn]).numpy()
    items = torch.cat([i for _, i, _ in drawn]).numpy()
    negative = torch.cat([n for _, _, n in drawn]).numpy()
    assert negative.shape == (len(users), negatives)
    cells = [(int(u), int(i)) for u, i in zip(*dense.nonzero(), strict=True)]
    assert sorted(zip(users.tolist(), items.tolist(), strict=True)) == sorted(cells * 2)
    assert (negative >= 1).all() and not dense[users[:, None], negative].any()


@settings(max_examples=40, deadline=None)
@given(matrix=matrices(), batch_size=st.integers(1, 9), seed=st.integers(0, 2**31))
def test_the_stream_is_a_sorted_key_rejection_samplers(matrix, batch_size, seed):
    if matrix.nnz == 0:
        return
    sampler = PairSampler(matrix, torch.Generator().manual_seed(seed))
    coo = matrix.tocoo()
    users, items = torch.as_tensor(coo.row, dtype=torch.long), torch.as_tensor(coo.col, dtype=torch.long)
    seen_keys = torch.sort(users * matrix.shape[1] + items).values
    generator = torch.Generator().manual_seed(seed)
    for _ in range(2):
        order = torch.randperm(len(users), generator=generator)
        for (u, i, n), start in zip(sampler.batches(batch_size), range(0, len(order), batch_size), strict=True):
            index = order[start:start + batch_size]
            assert torch.equal(u, users[index]) and torch.equal(i, items[index])
            assert torch.equal(n.squeeze(1), sorted_key_negatives(users[index], seen_keys, matrix.shape[1], generator))


def test_a_user_who_has_seen_every_item_is_refused():
    matrix = sp.csr_matrix(np.array([[0, 1, 1], [0, 1, 0]], dtype=np.float32))
    with pytest.raises(ValueError, match="tiny-x: a user has seen every item"):
        PairSampler(matrix, torch.Generator(), name="tiny-x")
