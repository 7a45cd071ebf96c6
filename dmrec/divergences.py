"""Divergences between diagonal Gaussians given as (mean, log-variance), the language of DMRec.

Every function returns one scalar: the divergence summed over the latent dimensions and averaged
over the rows (users) of the batch, which is how the paper's losses and the released code reduce
them (one per member for a group's (K, B, d) batch: `dmrec.members`). Rows are independent
Gaussians; a `None`/standard-normal prior is N(0, I).

Numerical safety. Log-variances are clamped to [LOGVAR_MIN, LOGVAR_MAX] = [-30, 30] before any
exponential: variances then stay within [1e-13, 1e13], every ratio of two variances within
float32's range, so no term overflows to inf and no NaN appears however far an encoder drifts.
The clamp is the identity inside that range (which holds any Gaussian a recommender produces:
the released models' log-variances stay within a few units of 0), so values and gradients there
are exact; beyond it the gradient with respect to the log-variance is 0. Ratios are formed as
exp(logvar_a - logvar_b) rather than var_a / var_b, so tiny variances never divide by zero.
`eps` reproduces the released code's 1e-7 inside divisions and logs (docs/dmrec.md, "The two formulations").
"""
from __future__ import annotations

from typing import NamedTuple

import torch

LOGVAR_MIN = -30.0
LOGVAR_MAX = 30.0


class Gaussian(NamedTuple):
    """A batch of diagonal Gaussians N(mean, diag exp(logvar)); both tensors (B, d)."""

    mean: torch.Tensor
    logvar: torch.Tensor

    def clamped_logvar(self) -> torch.Tensor:
        return self.logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.clamped_logvar())

    def sample(self, noise: torch.Tensor | None = None) -> torch.Tensor:
        """z = mean + std * noise (the reparameterisation trick); `noise` (B, d) replaces the
        standard-normal draw (the reference test feeds the released code's)."""
        noise = torch.randn_like(self.mean) if noise is None else noise
        return self.mean + self.std() * noise


def summed(q: Gaussian, p: Gaussian) -> Gaussian:
    """The released code's reconstruction Gaussian: means and log-variances added (departure 1)."""
    return Gaussian(q.mean + p.mean, q.logvar + p.logvar)


def parameter_average(a: Gaussian, b: Gaussian) -> Gaussian:
    """Mean and log-variance of two Gaussians averaged (the released CPDM "composite")."""
    return Gaussian(0.5 * (a.mean + b.mean), 0.5 * (a.logvar + b.logvar))


def moment_matched_mixture(a: Gaussian, b: Gaussian, weight_a: float = 0.5) -> Gaussian:
    """The Gaussian with the mean and variance of the mixture w * a + (1 - w) * b, per dimension:
    m = w mu_a + (1-w) mu_b,  v = w v_a + (1-w) v_b + w (1-w) (mu_a - mu_b)^2."""
    w = weight_a
    mean = w * a.mean + (1 - w) * b.mean
    var = (w * torch.exp(a.clamped_logvar()) + (1 - w) * torch.exp(b.clamped_logvar())
           + w * (1 - w) * (a.mean - b.mean) ** 2)
    return Gaussian(mean, torch.log(var))


def _reduce(per_dimension: torch.Tensor) -> torch.Tensor:
    """Sum over dimensions, mean over users (per member in a group: (K, B, d) -> (K,))."""
    return per_dimension.sum(dim=-1).mean(dim=-1)


def kl_divergence(q: Gaussian, p: Gaussian, eps: float = 0.0) -> torch.Tensor:
    """KL(q || p) = 1/2 sum_k [log(v_p/v_q) + v_q/v_p + (mu_q - mu_p)^2 / v_p - 1], mean over rows.

    With eps > 0 it is the released code's form: v_p + eps in every division and
    log(v_q / (v_p + eps) + eps) for the log-ratio."""
    lv_q, lv_p = q.clamped_logvar(), p.clamped_logvar()
    sq_diff = (q.mean - p.mean) ** 2
    if eps:
        var_p = torch.exp(lv_p) + eps
        ratio = torch.exp(lv_q) / var_p
        return _reduce(0.5 * (-torch.log(ratio + eps) + ratio + sq_diff / var_p - 1.0))
    return _reduce(0.5 * (lv_p - lv_q + torch.exp(lv_q - lv_p) + sq_diff * torch.exp(-lv_p) - 1.0))


def kl_to_standard_normal(q: Gaussian) -> torch.Tensor:
    """KL(q || N(0, I)) = -1/2 sum_k [1 + logvar - mu^2 - exp(logvar)], mean over rows (the ELBO's term)."""
    lv = q.clamped_logvar()
    return _reduce(-0.5 * (1.0 + lv - q.mean ** 2 - torch.exp(lv)))


def wasserstein2_squared(q: Gaussian, p: Gaussian) -> torch.Tensor:
    """W_2^2 = ||mu_q - mu_p||^2 + ||sigma_q - sigma_p||^2 (closed form for diagonal Gaussians),
    mean over rows."""
    return _reduce((q.mean - p.mean) ** 2 + (q.std() - p.std()) ** 2)


# Below this, sqrt's derivative would overflow; W2 of identical Gaussians then reads as ~1e-15.
_SQRT_FLOOR = 1e-30


def wasserstein2(q: Gaussian, p: Gaussian, eps: float = 0.0) -> torch.Tensor:
    """W_2 = sqrt(||mu_q - mu_p||^2 + ||sigma_q - sigma_p||^2 + eps) per row, mean over rows.

    The released GODM uses eps = 1e-7 (departure 3). With eps = 0 the square root's infinite
    slope at q = p is avoided by flooring its argument at 1e-30 (value ~1e-15, gradient 0 there)."""
    per_row = ((q.mean - p.mean) ** 2 + (q.std() - p.std()) ** 2).sum(dim=-1)
    per_row = per_row + eps if eps else per_row.clamp_min(_SQRT_FLOOR)
    return torch.sqrt(per_row).mean(dim=-1)
