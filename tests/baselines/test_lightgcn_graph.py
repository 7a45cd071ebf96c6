"""LightGCN's sparse propagation against a dense reference built independently from the train matrix."""
import numpy as np
import pytest
import torch

from baselines.lightgcn.graph import drop_edges, propagate
from benchmark.core.interactions import train_matrix
from tests.model_checks import build_model


def dense_normalized_adjacency(r: np.ndarray) -> np.ndarray:
    m, n = r.shape
    a = np.zeros((m + n, m + n))
    a[:m, m:], a[m:, :m] = r, r.T
    degree = a.sum(1)
    inv = np.where(degree > 0, 1.0 / np.sqrt(np.where(degree > 0, degree, 1.0)), 0.0)
    return inv[:, None] * a * inv[None, :]


@pytest.mark.parametrize("combination", ["sum", "mean"])
def test_propagation_equals_dense_reference(data_root, combination):
    net, _, train_set, _ = build_model("lightgcn", layer_combination=combination)
    r = train_matrix(train_set).toarray().astype(np.float64)
    g = dense_normalized_adjacency(r)
    assert np.allclose(net.graph.to_dense().numpy(), g, atol=1e-6)
    assert np.allclose(np.diag(g), 0.0)  # no self-loops

    table = net.layer0().detach().double().numpy()
    layers = [table]
    for _ in range(net.n_layers):
        layers.append(g @ layers[-1])
    expected = sum(layers) / (len(layers) if combination == "mean" else 1)

    net.eval()
    users, items = net.final_embeddings()
    got = torch.cat([users, items]).detach().double().numpy()
    assert np.allclose(got, expected, atol=1e-5)


def test_padding_nodes_stay_isolated(data_root):
    net, *_ = build_model("lightgcn")
    dense = net.graph.to_dense()
    for node in (0, net.n_users):  # RecBole's padding user and item
        assert dense[node].abs().sum() == 0 and dense[:, node].abs().sum() == 0


def test_edge_dropout_keeps_a_subset_unscaled(data_root):
    net, *_ = build_model("lightgcn")
    torch.manual_seed(1)
    dropped = drop_edges(net.graph, 0.5)
    full = net.graph.to_dense()
    kept = dropped.to_dense()
    mask = kept != 0
    assert torch.equal(kept[mask], full[mask])  # kept values are not rescaled (RLMRec's framework)
    assert 0.4 < dropped._nnz() / net.graph._nnz() < 0.6
    assert drop_edges(net.graph, 1.0) is net.graph


def test_unknown_layer_combination_is_an_error():
    with pytest.raises(ValueError, match="layer_combination"):
        propagate(torch.zeros(2, 2), torch.zeros(2, 2).to_sparse(), 1, "max")
