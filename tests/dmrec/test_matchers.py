"""Each matcher, in each formulation, against its defining formula written out here in plain torch
(docs/dmrec.md, "The two formulations": the paper's equations and the released code's departures)."""
import pytest
import torch

from benchmark.core.paper import paper_dataset
from benchmark.runner.config import beta_for
from dmrec.divergences import Gaussian
from dmrec.matchers import MATCHERS, get_matcher, resolve_beta

EPS = 1e-7


def random_pair(seed=0, batch=6, dim=5):
    g = torch.Generator().manual_seed(seed)
    make = lambda: torch.randn(batch, dim, generator=g, dtype=torch.float64)  # noqa: E731
    return Gaussian(make(), 0.7 * make()), Gaussian(make(), 0.7 * make())


# --- reference formulas, independent of dmrec.divergences ---------------------------------------

def kl_ref(mq, lq, mp, lp):
    return (0.5 * (lp - lq + lq.exp() / lp.exp() + (mq - mp) ** 2 / lp.exp() - 1)).sum(1).mean()


def kl_released_ref(mq, lq, mp, lp):  # the released code's expression, 1e-7 and all
    vq, vp = lq.exp(), lp.exp()
    return (-0.5 * torch.mean(torch.sum(1 + torch.log(vq / (vp + EPS) + EPS) - (mq - mp) ** 2 / (vp + EPS)
                                        - vq / (vp + EPS), dim=1)))


def kl_prior_ref(m, lv):
    return -0.5 * torch.mean(torch.sum(1 + lv - m ** 2 - lv.exp(), dim=1))


def run(name, formulation, q, p, beta):
    return get_matcher(name).function(formulation)(q, p, beta)


def same_gaussian(a, b):
    return torch.allclose(a.mean, b.mean) and torch.allclose(a.logvar, b.logvar)


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0])
def test_paper_formulation(beta):
    q, p = random_pair()
    mq, lq, mp, lp = q.mean, q.logvar, p.mean, p.logvar
    base = kl_prior_ref(mq, lq)
    w2_squared = ((mq - mp) ** 2 + (torch.exp(0.5 * lq) - torch.exp(0.5 * lp)) ** 2).sum(1).mean()
    m_com = 0.5 * mq + 0.5 * mp
    lv_com = torch.log(0.5 * lq.exp() + 0.5 * lp.exp() + 0.25 * (mq - mp) ** 2)
    cpdm = kl_ref(mp, lp, m_com, lv_com) + kl_ref(mq, lq, m_com, lv_com)
    expected = {
        "none": base,
        "godm": base + beta * w2_squared,
        "cpdm": base + beta * cpdm,
        "mddm": beta * base + (1 - beta) * kl_ref(mq, lq, mp, lp),
        "wo_mixing": base + beta * kl_ref(mq, lq, mp, lp),
        "wo_pmn": beta * base + (1 - beta) * kl_ref(mq, lq, mp, lp),
        "add": kl_prior_ref(mq + mp, lq + lp),
    }
    for name, value in expected.items():
        regularizer, gaussian = run(name, "paper", q, p, beta)
        assert regularizer.item() == pytest.approx(value.item(), rel=1e-10), name
        reconstruct_from = Gaussian(mq + mp, lq + lp) if name == "add" else q
        assert same_gaussian(gaussian, reconstruct_from), name


@pytest.mark.parametrize("beta", [0.0, 0.4, 1.0])
def test_released_formulation(beta):
    q, p = random_pair(1)
    mq, lq, mp, lp = q.mean, q.logvar, p.mean, p.logvar
    ms, ls = mq + mp, lq + lp  # departure 1: the summed Gaussian
    base = kl_prior_ref(ms, ls)  # departure 2
    w2 = torch.mean(torch.sqrt(torch.norm(mq - mp, dim=1) ** 2
                               + torch.norm(torch.exp(0.5 * lq) - torch.exp(0.5 * lp), dim=1) ** 2 + EPS))
    m_mix, l_mix = (ms + mp) / 2, (ls + lp) / 2  # departure 4: parameter interpolation
    expected = {
        "none": kl_prior_ref(mq, lq),
        "godm": base + beta * w2,
        "cpdm": base + beta * (kl_released_ref(ms, ls, m_mix, l_mix) + kl_released_ref(mp, lp, m_mix, l_mix)),
        "mddm": beta * base + (1 - beta) * kl_released_ref(ms, ls, mp, lp),
        "wo_pmn": beta * base + (1 - beta) * kl_released_ref(ms, ls, mp, lp),
        "wo_mixing": base + beta * kl_released_ref(ms, ls, mp, lp),
        "add": base,
    }
    for name, value in expected.items():
        regularizer, gaussian = run(name, "released", q, p, beta)
        assert regularizer.item() == pytest.approx(value.item(), rel=1e-10), name
        assert same_gaussian(gaussian, q if name == "none" else Gaussian(ms, ls)), name


def test_every_registered_matcher_is_tested():
    assert set(MATCHERS) == {"none", "godm", "cpdm", "mddm", "add", "wo_mixing", "wo_pmn"}


def test_paper_limits_reduce_exactly_to_the_base_elbo():
    q, p = random_pair(2, batch=9, dim=7)
    q, p = Gaussian(q.mean.float(), q.logvar.float()), Gaussian(p.mean.float(), p.logvar.float())
    base, _ = run("none", "paper", q, None, 0.0)
    for name, beta in (("mddm", 1.0), ("godm", 0.0), ("cpdm", 0.0)):
        regularizer, gaussian = run(name, "paper", q, p, beta)
        assert torch.equal(regularizer, base), name
        assert gaussian.mean is q.mean and gaussian.logvar is q.logvar


def test_matching_terms_vanish_when_the_spaces_agree():
    q, _ = random_pair(3)
    base, _ = run("none", "paper", q, None, 0.0)
    for name in ("godm", "cpdm", "wo_mixing"):
        assert run(name, "paper", q, q, 0.7).regularizer.item() == pytest.approx(base.item(), rel=1e-9), name


def test_beta_defaults_follow_the_released_code():
    assert beta_for("godm", "amazon", None) == 0.4
    assert beta_for("godm", "steam", None) == 1.0
    assert beta_for("cpdm", "yelp", None) == 0.9
    assert beta_for("mddm", "amazon-standin", None) == 0.6
    assert beta_for("wo_pmn", "steam", None) == 0.5
    assert beta_for("mddm", "ml-100k", None) == 0.5
    assert beta_for("mddm", "steam", 0.25) == 0.25
    assert beta_for("none", "steam", 0.25) is None and beta_for("add", "amazon", None) is None
    assert paper_dataset("amazon-standin") == "amazon" and paper_dataset("ml-100k-text") is None
    # a model reads the resolved number; an unresolved null is refused where beta matters
    assert resolve_beta("mddm", "steam", 0.25) == 0.25
    with pytest.raises(ValueError, match=r"benchmark\.runner\.config\.resolve"):
        resolve_beta("mddm", "steam", None)


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown matcher 'gdm'"):
        get_matcher("gdm")
    with pytest.raises(ValueError, match="formulation"):
        get_matcher("mddm").function("both")
