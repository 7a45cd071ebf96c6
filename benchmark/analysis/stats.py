"""The few statistics the tables print: seed aggregates, Improv.%, Welch's p-value, best/second marks."""
from __future__ import annotations

import math
import warnings

import numpy as np

DISPLAY_DECIMALS = 4  # metric values are printed (and ranked) at this precision


def seed_mean_std(values) -> tuple[float, float, int]:
    """(mean, sample std with ddof=1, n) over per-seed values; std is NaN below two seeds."""
    array = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if array.size == 0:
        return math.nan, math.nan, 0
    std = float(array.std(ddof=1)) if array.size > 1 else math.nan
    return float(array.mean()), std, int(array.size)


def improvement_pct(candidate: float, reference: float) -> float:
    """Relative gain of `candidate` over `reference` in percent: 100 * (candidate - reference) / reference."""
    if reference == 0 or math.isnan(reference) or math.isnan(candidate):
        return math.nan
    return 100.0 * (candidate - reference) / reference


def welch_p_value(a, b) -> float:
    """Two-sided Welch's t-test (scipy.stats.ttest_ind, equal_var=False) of per-seed values a vs b.

    NaN when either side has fewer than two values, or when both sides have zero variance
    (the statistic is then undefined)."""
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        return math.nan
    if a.var(ddof=1) == 0 and b.var(ddof=1) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def rank_marks(values, decimals: int = DISPLAY_DECIMALS) -> list[str]:
    """'bold' for the best, 'underline' for the second best, '' otherwise (higher is better).

    Values are compared as printed (rounded to `decimals`), so two cells that read the same get the
    same mark: every value tied for the highest is bold, every value tied for the next distinct
    value is underlined. NaN (missing) cells get no mark; when all values tie nothing is underlined."""
    rounded = [None if v is None or math.isnan(v) else round(float(v), decimals) for v in values]
    distinct = sorted({v for v in rounded if v is not None}, reverse=True)
    best = distinct[0] if distinct else None
    second = distinct[1] if len(distinct) > 1 else None
    return ["bold" if v is not None and v == best else "underline" if v is not None and v == second else ""
            for v in rounded]


def format_metric(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{DISPLAY_DECIMALS}f}"


def format_pct(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:+.2f}%"


def format_p(value: float) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.2e}" if value < 1e-3 else f"{value:.3f}"
