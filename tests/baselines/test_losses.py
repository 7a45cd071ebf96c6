"""Known answers for the loss terms and KAR's expert gate, computed by hand in closed form."""
import math

import pytest
import torch

from baselines.kar.kar import HybridExpertAdaptor, mix_experts
from baselines.llmrec.llmrec import prune_mean
from baselines.losses import bpr_loss, candidate_infonce, paired_infonce, sampled_softmax, scaled_cosine_error

R2 = 1 / math.sqrt(2)


def test_candidate_infonce_matches_hand_computation():
    # anchors point along x and y; positives along x and the diagonal; lengths must not matter
    anchors = torch.tensor([[2.0, 0.0], [0.0, 0.5]])
    positives = torch.tensor([[1.0, 0.0], [3.0, 3.0]])
    t = 0.5
    # cos: a1.p1 = 1, a1.p2 = 1/sqrt2, a2.p1 = 0, a2.p2 = 1/sqrt2
    expected = (-1 / t + math.log(math.exp(1 / t) + math.exp(R2 / t))) + (
        -R2 / t + math.log(math.exp(0.0) + math.exp(R2 / t)))
    got = candidate_infonce(anchors, positives, positives, t)
    assert got.item() == pytest.approx(expected, abs=1e-6)


def test_candidate_infonce_uses_the_given_candidate_set():
    anchors, positives = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]])
    candidates = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    t = 0.2
    expected = -1 / t + math.log(math.exp(1 / t) + math.exp(0.0) + math.exp(-1 / t))
    assert candidate_infonce(anchors, positives, candidates, t).item() == pytest.approx(expected, abs=1e-6)


def test_paired_infonce_matches_hand_computation():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    t = 0.1
    # cos: x1.y1 = 1/sqrt2, x1.y2 = 0, x2.y1 = 1/sqrt2, x2.y2 = 1
    first = -math.log(math.exp(R2 / t) / (math.exp(R2 / t) + math.exp(0.0)))
    second = -math.log(math.exp(1 / t) / (math.exp(R2 / t) + math.exp(1 / t)))
    assert paired_infonce(x, y, t).item() == pytest.approx((first + second) / 2, abs=1e-6)


def test_sampled_softmax_matches_hand_computation():
    t = 0.2
    got = sampled_softmax(torch.tensor([0.5]), torch.tensor([[0.1, -0.2]]), t)
    expected = -math.log(math.exp(2.5) / (math.exp(2.5) + math.exp(0.5) + math.exp(-1.0)))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_scaled_cosine_error_and_bpr():
    assert scaled_cosine_error(torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 1.0]]), 2.0).item() == pytest.approx(
        (1 - R2) ** 2, rel=1e-6)
    assert bpr_loss(torch.tensor([1.0]), torch.tensor([0.0])).item() == pytest.approx(-math.log(1 / (1 + math.e ** -1)))


@pytest.mark.parametrize("prune, expected", [("highest_loss", 1.5), ("lowest_loss", 3.5)])
def test_prune_mean_drops_the_chosen_end(prune, expected):
    losses = torch.tensor([4.0, 1.0, 3.0, 2.0])
    assert prune_mean(losses, 0.5, prune).item() == pytest.approx(expected)


def test_prune_mean_rejects_unknown_direction():
    with pytest.raises(ValueError, match="prune must be one of"):
        prune_mean(torch.ones(4), 0.5, "random")


def test_mix_experts_known_answer():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # softmax -> [1/4, 3/4]
    experts = torch.tensor([[[1.0, 2.0], [5.0, 6.0]]])
    assert torch.allclose(mix_experts(logits, experts), torch.tensor([[4.0, 5.0]]))


def test_hybrid_expert_adaptor_is_the_gated_sum_of_its_experts():
    torch.manual_seed(0)
    adaptor = HybridExpertAdaptor(in_dim=6, hidden=5, out_dim=3, n_shared=2, n_specific=3)
    users, items = torch.randn(4, 6), torch.randn(7, 6)
    out_users, out_items = adaptor([users, items])

    def run(net, x):  # Linear -> ReLU -> Linear -> ReLU, written out
        first, second = net[0], net[2]
        return torch.relu(torch.relu(x @ first.weight.T + first.bias) @ second.weight.T + second.bias)

    for side, (x, out) in enumerate([(users, out_users), (items, out_items)]):
        gate = adaptor.gates[side]
        weights = torch.softmax(x @ gate.weight.T + gate.bias, dim=-1)  # (B, 5)
        assert torch.allclose(weights.sum(-1), torch.ones(len(x)))
        nets = list(adaptor.shared) + list(adaptor.specific[side])
        expected = sum(weights[:, e:e + 1] * run(net, x) for e, net in enumerate(nets))
        assert torch.allclose(out, expected, atol=1e-6)
    # the shared experts are the same modules for both sides, the specific ones are not
    assert adaptor.specific[0][0] is not adaptor.specific[1][0]
