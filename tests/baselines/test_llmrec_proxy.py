"""LLMRec's semantic-proxy augmentation: new edges only, training data only, cached once."""
import numpy as np

from benchmark.core.interactions import train_matrix
from benchmark.data.prepared import write_prepared
from benchmark.data.runtime import external_ids
from tests.fixtures import tiny_dataset
from tests.model_checks import build_model


def test_augmented_items_are_unseen_training_items(data_root):
    net, _, train_set, _ = build_model("llmrec")
    train = train_matrix(train_set)
    edges = net.augmented.numpy()
    active = np.flatnonzero(np.diff(train.indptr))
    assert edges[0].tolist() == [-1, -1]  # RecBole's padding user has none
    assert (edges[active] > 0).all()
    for user in active:
        seen = set(train[user].indices)
        positive, negative = edges[user]
        assert positive not in seen and negative not in seen and positive != negative


def test_augmentation_depends_on_training_data_only(data_root):
    base = tiny_dataset("tiny-llmrec-a")
    other = tiny_dataset("tiny-llmrec-b")
    # same training split, valid and test swapped: nothing the proxy may read changes
    other.splits["valid"], other.splits["test"] = base.splits["test"], base.splits["valid"]
    assert (base.splits["train"] != other.splits["train"]).nnz == 0
    for data in (base, other):
        write_prepared(data, data_root / "prepared")

    def external_edges(name):
        net, _, train_set, _ = build_model("llmrec", dataset=name)
        users, items = external_ids(train_set, "user"), external_ids(train_set, "item")
        edges = net.augmented.numpy()
        rows = np.flatnonzero(edges[:, 0] >= 0)
        return {int(users[u]): (int(items[edges[u, 0]]), int(items[edges[u, 1]])) for u in rows}

    assert external_edges("tiny-llmrec-a") == external_edges("tiny-llmrec-b")


def test_cache_is_written_once_and_reused(data_root):
    write_prepared(tiny_dataset("tiny-llmrec-cache"), data_root / "prepared")
    first, *_ = build_model("llmrec", dataset="tiny-llmrec-cache")
    second, *_ = build_model("llmrec", dataset="tiny-llmrec-cache")
    assert (first.augmentation_source, second.augmentation_source) == ("built", "cache")
    assert np.array_equal(first.augmented.numpy(), second.augmented.numpy())
    files = list((data_root / "cache" / "llmrec").glob("tiny-llmrec-cache-*.npy"))
    assert len(files) == 1
    # other settings are another cache entry
    third, *_ = build_model("llmrec", dataset="tiny-llmrec-cache", proxy_candidates=5)
    assert third.augmentation_source == "built"
    assert len(list((data_root / "cache" / "llmrec").glob("tiny-llmrec-cache-*.npy"))) == 2
