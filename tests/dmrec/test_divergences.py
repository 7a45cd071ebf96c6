"""The Gaussian divergences against hand-computed closed forms, Monte Carlo, and at extremes."""
import math

import pytest
import torch

from dmrec.divergences import (
    Gaussian,
    kl_divergence,
    kl_to_standard_normal,
    moment_matched_mixture,
    parameter_average,
    summed,
    wasserstein2,
    wasserstein2_squared,
)


def gaussian(means, variances, dtype=torch.float64):
    mean = torch.tensor(means, dtype=dtype)
    return Gaussian(mean, torch.log(torch.tensor(variances, dtype=dtype)))


# q = N(1, 1), p = N(0, 4) in one dimension:
# KL(q||p) = 1/2 [log(4/1) + 1/4 + (1 - 0)^2 / 4 - 1] = 1/2 (1.3862944 - 0.5) = 0.4431472
# KL(p||q) = 1/2 [log(1/4) + 4/1 + (0 - 1)^2 / 1 - 1] = 1/2 (-1.3862944 + 4) = 1.3068528
# W2^2 = (1 - 0)^2 + (1 - 2)^2 = 2
Q1 = ([[1.0]], [[1.0]])
P1 = ([[0.0]], [[4.0]])


def test_kl_hand_computed_one_dimension():
    q, p = gaussian(*Q1), gaussian(*P1)
    assert kl_divergence(q, p).item() == pytest.approx(0.4431472, abs=1e-7)
    assert kl_divergence(p, q).item() == pytest.approx(1.3068528, abs=1e-7)


def test_kl_sums_dimensions_and_averages_rows():
    # row 1: the 1-d pair above twice -> 2 * 0.4431472; row 2: identical Gaussians -> 0
    q = gaussian([[1.0, 1.0], [3.0, -2.0]], [[1.0, 1.0], [0.5, 7.0]])
    p = gaussian([[0.0, 0.0], [3.0, -2.0]], [[4.0, 4.0], [0.5, 7.0]])
    assert kl_divergence(q, p).item() == pytest.approx(0.4431472, abs=1e-7)  # (0.8862944 + 0) / 2


def test_kl_to_standard_normal_hand_computed():
    # N(2, 1): 1/2 (1 + 4 - 1 - 0) = 2;  N(0, 2): 1/2 (2 - 1 - log 2) = 0.1534264
    q = gaussian([[2.0, 0.0]], [[1.0, 2.0]])
    assert kl_to_standard_normal(q).item() == pytest.approx(2.1534264, abs=1e-7)
    standard = gaussian([[0.0, 0.0]], [[1.0, 1.0]])
    assert kl_divergence(q, standard).item() == pytest.approx(2.1534264, abs=1e-7)


def test_released_kl_with_eps_is_the_released_formula():
    q, p = gaussian(*Q1), gaussian(*P1)
    eps = 1e-7
    ratio = 1.0 / (4.0 + eps)
    expected = -0.5 * (1 + math.log(ratio + eps) - 1.0 / (4.0 + eps) - ratio)
    assert kl_divergence(q, p, eps=eps).item() == pytest.approx(expected, abs=1e-12)
    assert kl_divergence(q, p, eps=eps).item() == pytest.approx(0.4431472, abs=1e-6)


def test_wasserstein_hand_computed():
    q, p = gaussian(*Q1), gaussian(*P1)
    assert wasserstein2_squared(q, p).item() == pytest.approx(2.0, abs=1e-12)
    assert wasserstein2(q, p).item() == pytest.approx(math.sqrt(2.0), abs=1e-12)
    assert wasserstein2(q, p, eps=1e-7).item() == pytest.approx(math.sqrt(2.0 + 1e-7), abs=1e-12)
    # two rows: W2 = sqrt(2) and 0 -> mean sqrt(2)/2; W2^2 = 2 and 0 -> mean 1
    q2 = gaussian([[1.0], [5.0]], [[1.0], [3.0]])
    p2 = gaussian([[0.0], [5.0]], [[4.0], [3.0]])
    assert wasserstein2(q2, p2).item() == pytest.approx(math.sqrt(2.0) / 2, abs=1e-9)
    assert wasserstein2_squared(q2, p2).item() == pytest.approx(1.0, abs=1e-12)


def test_identical_gaussians_have_zero_divergence():
    torch.manual_seed(0)
    q = Gaussian(torch.randn(5, 8), torch.randn(5, 8))
    assert kl_divergence(q, q).item() == pytest.approx(0.0, abs=1e-6)
    assert wasserstein2_squared(q, q).item() == 0.0
    assert wasserstein2(q, q).item() == pytest.approx(0.0, abs=1e-12)
    assert kl_to_standard_normal(Gaussian(torch.zeros(3, 4), torch.zeros(3, 4))).item() == 0.0


def test_kl_matches_monte_carlo():
    generator = torch.Generator().manual_seed(1)
    q = Gaussian(torch.randn(2, 3, generator=generator, dtype=torch.float64),
                 0.5 * torch.randn(2, 3, generator=generator, dtype=torch.float64))
    p = Gaussian(torch.randn(2, 3, generator=generator, dtype=torch.float64),
                 0.5 * torch.randn(2, 3, generator=generator, dtype=torch.float64))

    def log_density(z, g):  # z (S, B, d) -> (S, B)
        return (-0.5 * (math.log(2 * math.pi) + g.logvar + (z - g.mean) ** 2 / g.logvar.exp())).sum(-1)

    samples = 400_000
    z = q.mean + (0.5 * q.logvar).exp() * torch.randn(samples, 2, 3, generator=generator, dtype=torch.float64)
    log_ratio = log_density(z, q) - log_density(z, p)  # (S, B)
    estimate = log_ratio.mean(0).mean().item()
    standard_error = (log_ratio.mean(1).std() / math.sqrt(samples)).item()
    assert kl_divergence(q, p).item() == pytest.approx(estimate, abs=5 * standard_error)
    standard = Gaussian(torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 3, dtype=torch.float64))
    log_ratio0 = log_density(z, q) - log_density(z, standard)
    error = (log_ratio0.mean(1).std() / math.sqrt(samples)).item()
    assert kl_to_standard_normal(q).item() == pytest.approx(log_ratio0.mean().item(), abs=5 * error)


@pytest.mark.parametrize("extreme", [30.0, -30.0, 80.0, -80.0])
def test_finite_values_and_gradients_at_extreme_log_variances(extreme):
    mean_q = torch.tensor([[0.5, -3.0]], requires_grad=True)
    logvar_q = torch.tensor([[extreme, 0.0]], requires_grad=True)
    mean_p = torch.tensor([[0.0, 2.0]], requires_grad=True)
    logvar_p = torch.tensor([[-extreme, extreme]], requires_grad=True)
    q, p = Gaussian(mean_q, logvar_q), Gaussian(mean_p, logvar_p)
    for value in (kl_divergence(q, p), kl_divergence(p, q), kl_divergence(q, p, eps=1e-7),
                  kl_to_standard_normal(q), wasserstein2_squared(q, p), wasserstein2(q, p),
                  wasserstein2(q, p, eps=1e-7), kl_divergence(q, parameter_average(q, p)),
                  kl_divergence(p, moment_matched_mixture(q, p))):
        assert torch.isfinite(value)
        grads = torch.autograd.grad(value, (mean_q, logvar_q, mean_p, logvar_p), allow_unused=True)
        assert all(g is None or torch.isfinite(g).all() for g in grads)


def test_w2_gradient_finite_at_identical_gaussians():
    mean = torch.randn(3, 4, requires_grad=True)
    logvar = torch.randn(3, 4, requires_grad=True)
    q = Gaussian(mean, logvar)
    (grad_mean, grad_logvar) = torch.autograd.grad(wasserstein2(q, Gaussian(mean, logvar)), (mean, logvar))
    assert torch.isfinite(grad_mean).all() and torch.isfinite(grad_logvar).all()


def test_composite_gaussians():
    q, p = gaussian([[1.0]], [[1.0]]), gaussian([[3.0]], [[4.0]])
    mixture = moment_matched_mixture(q, p)  # mean 2, variance (1 + 4)/2 + 1/4 (1 - 3)^2 = 3.5
    assert mixture.mean.item() == pytest.approx(2.0)
    assert mixture.logvar.exp().item() == pytest.approx(3.5)
    average = parameter_average(q, p)  # mean 2, log-variance (0 + log 4)/2 -> variance 2
    assert average.logvar.exp().item() == pytest.approx(2.0)
    total = summed(q, p)  # mean 4, variance 1 * 4
    assert total.mean.item() == 4.0 and total.logvar.exp().item() == pytest.approx(4.0)
