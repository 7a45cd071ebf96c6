"""Training batches: users exclude padding and empty users; negatives are never training items."""
import numpy as np
import torch

from benchmark.core.interactions import SparseRows, train_matrix
from benchmark.runner.training.loaders import PairBatchLoader, UserBatchLoader
from tests.fixtures import recbole_splits


def _train_set(data_root):
    return recbole_splits("tiny")[0]


def test_user_loader_is_one_pass_over_users_with_training_items(data_root):
    train_set = _train_set(data_root)
    loader = UserBatchLoader(train_set, 10, torch.Generator().manual_seed(0))
    seen = torch.cat([batch[train_set.uid_field] for batch in loader])
    counts = np.diff(train_matrix(train_set).indptr)
    assert sorted(seen.tolist()) == np.flatnonzero(counts).tolist()
    assert 0 not in seen.tolist() and len(loader) == (len(seen) + 9) // 10
    again = torch.cat([b[train_set.uid_field]
                       for b in UserBatchLoader(train_set, 10, torch.Generator().manual_seed(0))])
    assert torch.equal(seen, again)  # the seed fixes the order


def test_pair_loader_negatives_are_unseen_items(data_root):
    train_set = _train_set(data_root)
    loader = PairBatchLoader(train_set, 16, torch.Generator().manual_seed(0), num_negatives=5, neg_field="neg_item_id")
    train = train_matrix(train_set).toarray() > 0
    # the bit table of seen pairs holds exactly the training matrix, bit k of byte j = cell 8j + k
    unpacked = np.unpackbits(loader.seen_bits.numpy(), bitorder="little")[:train.size].reshape(train.shape)
    assert np.array_equal(unpacked.astype(bool), train)
    pairs = 0
    for batch in loader:
        users, items, negatives = batch["user_id"], batch["item_id"], batch["neg_item_id"]
        assert negatives.shape == (len(users), 5)
        assert train[users.numpy(), items.numpy()].all()
        assert not train[users.numpy()[:, None], negatives.numpy()].any()
        assert (negatives >= 1).all()
        pairs += len(users)
    assert pairs == train.sum()


def test_sparse_rows_dense_and_matmul_match_dense_algebra():
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    matrix = sp.random(30, 20, density=0.2, format="csr", random_state=1, dtype=np.float32)
    rows = SparseRows(matrix)
    users = torch.tensor([3, 0, 29, 3])
    dense = matrix.toarray()[users.numpy()]
    np.testing.assert_array_equal(rows.dense(users).numpy(), dense)
    weight = torch.as_tensor(rng.normal(size=(20, 4)), dtype=torch.float32)
    np.testing.assert_allclose(rows.matmul(users, weight).numpy(), dense @ weight.numpy(), rtol=1e-5, atol=1e-6)
    scaled = torch.as_tensor(dense * 2)
    np.testing.assert_allclose(rows.matmul(users, weight, row_values=scaled).numpy(), 2 * dense @ weight.numpy(),
                               rtol=1e-5, atol=1e-6)


def test_one_copy_epoch_gives_the_streamed_batches(data_root):
    """The GPU path (whole epoch drawn on the host, one copy) draws exactly the CPU path's batches."""
    train_set = _train_set(data_root)
    streamed, copied = (PairBatchLoader(train_set, 16, torch.Generator().manual_seed(3), num_negatives=4,
                                        neg_field="neg") for _ in range(2))
    for _ in range(2):  # two epochs: the generator advances alike
        a, b = list(streamed.epoch("cpu")), list(copied.epoch("cpu", one_copy=True))
        assert len(a) == len(b) == len(streamed)
        for x, y in zip(a, b, strict=True):
            for field in ("user_id", "item_id", "neg"):
                assert torch.equal(x[field], y[field]) and y[field].is_contiguous()
    users = UserBatchLoader(train_set, 10, torch.Generator().manual_seed(0))
    same_seed = UserBatchLoader(train_set, 10, torch.Generator().manual_seed(0))
    assert all(torch.equal(x["user_id"], y["user_id"]) for x, y in zip(same_seed, users.epoch("cpu"), strict=True))


def test_user_batches_carry_their_entry_count_counted_on_the_host(data_root):
    from benchmark.core.interactions import ENTRY_COUNT, batch_entry_count

    train_set = _train_set(data_root)
    counts = np.diff(train_matrix(train_set).indptr)
    for batch in UserBatchLoader(train_set, 10, torch.Generator().manual_seed(0)):
        assert batch[ENTRY_COUNT].device.type == "cpu"
        assert batch_entry_count(batch) == int(counts[batch[train_set.uid_field].numpy()].sum())


def test_a_gather_given_the_host_count_equals_the_one_that_reads_it(data_root):
    matrix = train_matrix(_train_set(data_root))
    rows = SparseRows(matrix)
    users = torch.tensor([3, 1, 17, 5, 1])
    told = rows._gather(users, rows.entry_count(users.numpy()))
    read = rows._gather(users)
    assert all(torch.equal(a, b) for a, b in zip(told, read, strict=True))
    count = rows.entry_count(users.numpy())
    assert count == int(np.diff(matrix.indptr)[users.numpy()].sum())
    assert torch.equal(rows.dense(users, count), torch.as_tensor(matrix[users.numpy()].toarray()))


def test_fixed_order_shuffles_once_and_repeats_the_first_epochs_batches(data_root):
    train_set = _train_set(data_root)
    uid = train_set.uid_field

    def epochs(loader, n):
        return [torch.cat([b[uid] for b in loader]) for _ in range(n)]

    fixed = epochs(UserBatchLoader(train_set, 10, torch.Generator().manual_seed(0), fixed_order=True), 3)
    moving = epochs(UserBatchLoader(train_set, 10, torch.Generator().manual_seed(0)), 3)
    assert torch.equal(fixed[0], moving[0])  # the one order is the first epoch's draw
    assert torch.equal(fixed[1], fixed[0]) and torch.equal(fixed[2], fixed[0])
    assert not torch.equal(moving[1], moving[0])
