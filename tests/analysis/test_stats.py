"""Known answers for the statistics the tables print."""
import math

import numpy as np
import pytest
from scipy import stats

from benchmark.analysis.stats import format_p, improvement_pct, rank_marks, seed_mean_std, welch_p_value


def test_seed_mean_and_sample_std_are_exact():
    mean, std, n = seed_mean_std([0.10, 0.12, 0.14])
    assert n == 3
    assert mean == pytest.approx(0.12, abs=1e-15)
    assert std == pytest.approx(0.02, abs=1e-15)  # sqrt(((-.02)^2 + 0 + .02^2) / (3 - 1))


def test_one_seed_has_no_std_and_nan_values_are_not_seeds():
    assert seed_mean_std([0.3])[1] != seed_mean_std([0.3])[1]  # NaN
    assert seed_mean_std([0.2, math.nan, 0.4])[::2] == (pytest.approx(0.3), 2)
    assert seed_mean_std([])[2] == 0


def test_improvement_is_relative_gain_in_percent():
    assert improvement_pct(0.1571, 0.1498) == pytest.approx(100 * 0.0073 / 0.1498)  # 4.873...%
    assert improvement_pct(0.12, 0.10) == pytest.approx(20.0)
    assert improvement_pct(0.09, 0.10) == pytest.approx(-10.0)
    assert math.isnan(improvement_pct(0.1, 0.0))


def test_welch_p_value_matches_a_hand_computed_statistic():
    a, b = [0.10, 0.12, 0.14], [0.09, 0.10, 0.11]
    # var_a = 4e-4, var_b = 1e-4 (ddof 1), n = 3 each: se^2 = 5e-4 / 3 = 1/6000
    t = 0.02 / math.sqrt(1 / 6000)
    dof = (1 / 6000) ** 2 / ((4e-4 / 3) ** 2 / 2 + (1e-4 / 3) ** 2 / 2)
    assert t == pytest.approx(1.5491933384829668)
    assert dof == pytest.approx(50 / 17)  # Welch-Satterthwaite
    assert welch_p_value(a, b) == pytest.approx(2 * stats.t.sf(t, dof), rel=1e-12)


def test_welch_p_value_equals_scipy_welch_on_fixed_numbers():
    a = [0.1571, 0.1560, 0.1583, 0.1575, 0.1566]
    b = [0.1498, 0.1510, 0.1489, 0.1502, 0.1495, 0.1507]
    expected = stats.ttest_ind(a, b, equal_var=False).pvalue
    assert welch_p_value(a, b) == pytest.approx(expected, rel=1e-12)
    assert welch_p_value(a, b) != pytest.approx(stats.ttest_ind(a, b, equal_var=True).pvalue, rel=1e-6)


@pytest.mark.parametrize("a, b", [([0.1], [0.1, 0.2]), ([0.1, 0.2], []), ([0.5, 0.5], [0.4, 0.4])])
def test_welch_p_value_is_undefined_with_fewer_than_two_seeds_or_no_variance(a, b):
    assert math.isnan(welch_p_value(a, b))
    assert format_p(welch_p_value(a, b)) == "–"


def test_rank_marks_bold_best_underline_second():
    assert rank_marks([0.10, 0.12, 0.11, 0.09]) == ["", "bold", "underline", ""]


def test_rank_marks_ties_are_judged_at_display_precision_and_share_the_mark():
    # 0.12004 and 0.11996 both print as 0.1200: both bold; the next distinct value is underlined
    assert rank_marks([0.12004, 0.11996, 0.1100, 0.1100, 0.1000]) == ["bold", "bold", "underline", "underline", ""]
    assert rank_marks([0.2, 0.2]) == ["bold", "bold"]  # all tied: nothing is second
    assert rank_marks([math.nan, 0.3, 0.1]) == ["", "bold", "underline"]
    assert rank_marks(np.array([math.nan, math.nan])) == ["", ""]
