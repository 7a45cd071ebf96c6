"""DMRec's distribution matchers: one registry, name -> how the two Gaussians meet.

A matcher is a function of the collaborative Gaussian q = q_phi(z | x_u), the language Gaussian
p = p_varphi(z | s_u) (None for the plain base) and beta. It returns a `Matched`:

    regularizer  the scalar that replaces the ELBO's KL term (L_DM of the paper, which already
                 holds KL(. || N(0, I))); the model adds it, times its KL weight, to the
                 multinomial reconstruction loss
    gaussian     the Gaussian the decoder reconstructs from (a sample during training, its mean
                 at prediction); its mean is also what `posterior_mean` reports

Each registered name has a `paper` and a `released` function (config `formulation`):

    paper      the paper's equations; reconstruction and prediction from q
    released   what the public Mult-VAE code computes (docs/dmrec.md, "The two formulations"): the decoder
               reads the summed Gaussian s = (mu_q + mu_p, logvar_q + logvar_p), the ELBO's KL
               is taken on s, KLs between two Gaussians carry 1e-7 in divisions and logs

Names: `none` (plain base), `godm`, `cpdm`, `mddm` (DMRec-G/C/M) and the ablations of Fig. 5:
`add`, `wo_mixing`, `wo_pmn` (MDDM with a language Gaussian from the user's own text vector only).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

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

RELEASED_EPS = 1e-7  # the released code's 10e-8 inside divisions, logs and the W2 square root
FORMULATIONS = ("released", "paper")


class Matched(NamedTuple):
    regularizer: torch.Tensor  # scalar
    gaussian: Gaussian  # what the decoder reconstructs from


MatchFunction = Callable[[Gaussian, "Gaussian | None", float], Matched]


@dataclass(frozen=True)
class Matcher:
    name: str
    paper: MatchFunction
    released: MatchFunction
    needs_text: bool  # True: the model builds the probabilistic meta-network
    language_input: str = "interactions"  # "interactions": g = W_I^T x_u + w_u; "user": g = w_u
    beta_of: str | None = None  # whose released beta table applies when `beta: null`; None: no beta
    description: str = ""

    @property
    def uses_beta(self) -> bool:
        return self.beta_of is not None

    @property
    def text(self) -> tuple[str, ...]:
        """The text vectors it needs: the meta-network reads the user and the item vectors."""
        return ("user", "item") if self.needs_text else ()
    label: str = ""  # what tables and figures print ("DMRec-M"); the name when empty
    kind: str = "variant"  # "base" (the plain model) | "variant" (DMRec-G/C/M) | "ablation" (Fig. 5)
    colour: str | None = None  # figure colour

    def function(self, formulation: str) -> MatchFunction:
        if formulation not in FORMULATIONS:
            raise ValueError(f"formulation must be one of {FORMULATIONS}, not {formulation!r}")
        return self.paper if formulation == "paper" else self.released


MATCHERS: dict[str, Matcher] = {}


def register_matcher(matcher: Matcher) -> Matcher:
    if matcher.name in MATCHERS:
        raise ValueError(f"matcher '{matcher.name}' is already registered")
    MATCHERS[matcher.name] = matcher
    return matcher


def get_matcher(name: str) -> Matcher:
    if name not in MATCHERS:
        raise ValueError(f"unknown matcher '{name}'; registered: {', '.join(MATCHERS)}")
    return MATCHERS[name]


# --- the plain base ------------------------------------------------------------------------------

def base_elbo(q: Gaussian, p: Gaussian | None, beta: float) -> Matched:
    """The generative model alone: KL(q || N(0, I)), reconstruct from q."""
    return Matched(kl_to_standard_normal(q), q)


# --- the paper's equations -----------------------------------------------------------------------

def godm_paper(q: Gaussian, p: Gaussian, beta: float) -> Matched:
    """GODM: KL(q || p_z) + beta * W_2^2(p, q), the squared closed form."""
    return Matched(kl_to_standard_normal(q) + beta * wasserstein2_squared(q, p), q)


def cpdm_paper(q: Gaussian, p: Gaussian, beta: float) -> Matched:
    """CPDM: KL(q || p_z) + beta * [KL(p || p_com) + KL(q || p_com)], p_com = 0.5 q + 0.5 p.

    KL to a Gaussian mixture has no closed form; p_com is replaced by its moment-matched Gaussian
    (same mean and variance as the mixture, the Gaussian nearest to it in KL(p_com || .)). Unlike
    the parameter average, it keeps the mixture's spread when the two means disagree, and the
    term is exactly 0 when q = p, as the Jensen-Shannon-like term it stands for."""
    composite = moment_matched_mixture(q, p, 0.5)
    matching = kl_divergence(p, composite) + kl_divergence(q, composite)
    return Matched(kl_to_standard_normal(q) + beta * matching, q)


def mddm_paper(q: Gaussian, p: Gaussian, beta: float) -> Matched:
    """MDDM: beta * KL(q || p_z) + (1 - beta) * KL(q || p)."""
    return Matched(beta * kl_to_standard_normal(q) + (1 - beta) * kl_divergence(q, p), q)


def add_paper(q: Gaussian, p: Gaussian, beta: float) -> Matched:
    """DMRec-Add: no matching term; the decoder reads the summed Gaussian, whose KL to N(0, I) is
    the ELBO's term (the same in both formulations)."""
    s = summed(q, p)
    return Matched(kl_to_standard_normal(s), s)


def wo_mixing_paper(q: Gaussian, p: Gaussian, beta: float) -> Matched:
    """DMRec w/o Mixing: KL(q || p_z) + beta * KL(q || p)."""
    return Matched(kl_to_standard_normal(q) + beta * kl_divergence(q, p), q)


# --- the released code ---------------------------------------------------------------------------

def godm_released(q: Gaussian, p: Gaussian, beta: float) -> Matched:
    """KL(s || N(0, I)) + beta * mean_u sqrt(||mu_q - mu_p||^2 + ||sigma_q - sigma_p||^2 + 1e-7)."""
    s = summed(q, p)
    return Matched(kl_to_standard_normal(s) + beta * wasserstein2(q, p, eps=RELEASED_EPS), s)


def cpdm_released(q: Gaussian, p: Gaussian, beta: float) -> Matched:
    """KL(s || N(0, I)) + beta * [KL(s || c) + KL(p || c)], c = parameter average of s and p."""
    s = summed(q, p)
    composite = parameter_average(s, p)
    matching = kl_divergence(s, composite, eps=RELEASED_EPS) + kl_divergence(p, composite, eps=RELEASED_EPS)
    return Matched(kl_to_standard_normal(s) + beta * matching, s)


def mddm_released(q: Gaussian, p: Gaussian, beta: float) -> Matched:
    """beta * KL(s || N(0, I)) + (1 - beta) * KL(s || p)."""
    s = summed(q, p)
    return Matched(beta * kl_to_standard_normal(s) + (1 - beta) * kl_divergence(s, p, eps=RELEASED_EPS), s)


def wo_mixing_released(q: Gaussian, p: Gaussian, beta: float) -> Matched:
    """KL(s || N(0, I)) + beta * KL(s || p), the released conventions applied to the ablation."""
    s = summed(q, p)
    return Matched(kl_to_standard_normal(s) + beta * kl_divergence(s, p, eps=RELEASED_EPS), s)


register_matcher(Matcher("none", base_elbo, base_elbo, needs_text=False, label="Base", kind="base", colour="#595959",
                         description="the plain generative base"))
register_matcher(Matcher("godm", godm_paper, godm_released, needs_text=True, beta_of="godm",
                         label="DMRec-G", colour="#1f77b4",
                         description="DMRec-G: global optimality (2-Wasserstein)"))
register_matcher(Matcher("cpdm", cpdm_paper, cpdm_released, needs_text=True, beta_of="cpdm",
                         label="DMRec-C", colour="#2ca02c",
                         description="DMRec-C: composite prior"))
register_matcher(Matcher("mddm", mddm_paper, mddm_released, needs_text=True, beta_of="mddm",
                         label="DMRec-M", colour="#ff7f0e",
                         description="DMRec-M: mixing divergence"))
register_matcher(Matcher("add", add_paper, add_paper, needs_text=True, label="Add", kind="ablation", colour="#e377c2",
                         description="ablation DMRec-Add: Gaussians added, no matching loss"))
register_matcher(Matcher("wo_mixing", wo_mixing_paper, wo_mixing_released, needs_text=True, beta_of="mddm",
                         label="w/o Mixing", kind="ablation", colour="#17becf",
                         description="ablation DMRec w/o Mixing: KL(q||p_z) + beta KL(q||p)"))
register_matcher(Matcher("wo_pmn", mddm_paper, mddm_released, needs_text=True, language_input="user",
                         label="w/o PMN", kind="ablation", colour="#8c564b",
                         beta_of="mddm", description="ablation DMRec w/o PMN: MDDM, language Gaussian from w_u only"))


# --- beta ----------------------------------------------------------------------------------------

# beta of the released Mult-VAE code (its encoder/config/beta.md; the paper's protocol).
RELEASED_BETA = {
    "godm": {"amazon": 0.4, "yelp": 0.8, "steam": 1.0},
    "cpdm": {"amazon": 0.2, "yelp": 0.9, "steam": 0.6},
    "mddm": {"amazon": 0.6, "yelp": 0.4, "steam": 0.5},
}
DEFAULT_BETA = 0.5  # datasets the paper did not use


def released_beta(matcher: str, paper: str | None) -> float | None:
    """The released code's beta for (matcher, paper dataset), DEFAULT_BETA for other datasets,
    None for a matcher without beta. Which paper dataset a name stands for is
    `benchmark.core.paper.paper_dataset`'s rule; `benchmark.runner.config.resolve` stores the result."""
    owner = get_matcher(matcher).beta_of
    if owner is None:
        return None
    return RELEASED_BETA[owner].get(paper or "", DEFAULT_BETA)


def resolve_beta(matcher: str, dataset: str, beta: float | None) -> float:
    """The number a model runs with: `beta` as resolved by `benchmark.runner.config.resolve`. `null` is
    accepted only for a matcher that uses no beta (the value then plays no part)."""
    if beta is not None:
        return float(beta)
    if get_matcher(matcher).uses_beta:
        raise ValueError(f"beta is null for matcher '{matcher}' on '{dataset}': resolve the config with "
                         "benchmark.runner.config.resolve, which stores the released value")
    return DEFAULT_BETA
