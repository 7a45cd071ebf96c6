"""LLMRec's semantic-proxy augmentation: new edges only, training data only, its pre-training cached once."""
import numpy as np
import torch

from baselines.lightgcn.graph import normalized_adjacency, propagate
from baselines.llmrec.augmentation import semantic_proxy_edges
from baselines.losses import bpr_loss, l2_rows
from benchmark.core.artefacts import lightgcn_embeddings
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


def plain_bpr_lightgcn(interactions, epochs: int, dim: int, layers: int, seed: int, batch_size: int = 2048):
    """A short LightGCN (mean of layers, BPR + 1e-4 L2, lr 1e-2) written out as one loop over one
    table, negatives by rejection sampling on sorted pair keys, every draw from one generator:
    (users (M, d), items (N, d))."""
    generator = torch.Generator().manual_seed(seed)
    n_users, n_items = interactions.shape
    graph = normalized_adjacency(interactions)
    table = torch.nn.Parameter(0.1 * torch.randn(n_users + n_items, dim, generator=generator))
    optimizer = torch.optim.Adam([table], lr=1e-2)
    coo = interactions.tocoo()
    users, items = torch.as_tensor(coo.row, dtype=torch.long), torch.as_tensor(coo.col, dtype=torch.long)
    seen_keys = torch.sort(users * n_items + items).values
    for _ in range(epochs):
        order = torch.randperm(len(users), generator=generator)
        for start in range(0, len(order), batch_size):
            u, p = users[order[start:start + batch_size]], items[order[start:start + batch_size]]
            n = torch.randint(1, n_items, u.shape, generator=generator)
            while True:
                keys = u * n_items + n
                seen = seen_keys[torch.searchsorted(seen_keys, keys).clamp(max=len(seen_keys) - 1)] == keys
                if not seen.any():
                    break
                n[seen] = torch.randint(1, n_items, (int(seen.sum()),), generator=generator)
            out = propagate(table, graph, layers, "mean")
            eu, ep, en = out[u], out[n_users + p], out[n_users + n]
            loss = bpr_loss((eu * ep).sum(-1), (eu * en).sum(-1)).mean() + 1e-4 * l2_rows(
                table[u], table[n_users + p], table[n_users + n])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        out = propagate(table, graph, layers, "mean")
    return out[:n_users], out[n_users:]


def test_candidates_come_from_the_plain_bpr_loop_bit_for_bit(data_root):
    net, config, train_set, _ = build_model("llmrec", proxy_epochs=3, seed=5)
    (recipe,) = type(net).pretrainings(config)
    assert (recipe.epochs, recipe.seed, recipe.device, recipe.n_layers) == (3, 5, "cpu", 2)
    interactions = train_matrix(train_set)
    users, items = plain_bpr_lightgcn(interactions, 3, 64, 2, seed=5)
    attached = torch.as_tensor(lightgcn_embeddings(train_set, recipe))
    assert torch.equal(attached, torch.cat([users, items]))
    profiles = net.user_profiles.numpy(), net.item_profiles.numpy()
    expected = semantic_proxy_edges(interactions, *profiles, users, items, int(config["proxy_candidates"]))
    assert np.array_equal(net.augmented.numpy(), expected)


def test_the_pretraining_is_cached_once_under_the_prepared_dataset(data_root):
    write_prepared(tiny_dataset("tiny-llmrec-cache"), data_root / "prepared")
    folder = data_root / "prepared" / "tiny-llmrec-cache" / "artefacts"
    first, *_ = build_model("llmrec", dataset="tiny-llmrec-cache")
    second, *_ = build_model("llmrec", dataset="tiny-llmrec-cache")
    assert np.array_equal(first.augmented.numpy(), second.augmented.numpy())
    assert len(list(folder.glob("lightgcn-*.npy"))) == 1
    # the candidate count picks among the same embeddings; the epochs make other embeddings
    build_model("llmrec", dataset="tiny-llmrec-cache", proxy_candidates=5)
    assert len(list(folder.glob("lightgcn-*.npy"))) == 1
    build_model("llmrec", dataset="tiny-llmrec-cache", proxy_epochs=3)
    assert len(list(folder.glob("lightgcn-*.npy"))) == 2
