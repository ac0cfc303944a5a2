"""Statistics against scipy/numpy as the reference and against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as ss

from harness.report.compare import stats

SAMPLES = [
    [1.0, 2.0, 3.0, 4.0],
    [1000.0, 1010.0, 990.0],
    [0.5, 0.25, 2.0, 8.0, 1.0],
    [29000.0, 28000.0, 31000.0, 30500.0],
]
positive = st.lists(st.floats(min_value=1e-3, max_value=1e6), min_size=2, max_size=12)


@pytest.mark.parametrize("xs", SAMPLES)
def test_means_match_scipy(xs):
    assert stats.amean(xs) == pytest.approx(np.mean(xs))
    assert stats.hmean(xs) == pytest.approx(ss.hmean(xs))
    assert stats.gmean(xs) == pytest.approx(ss.gmean(xs))


@pytest.mark.parametrize("xs", SAMPLES)
def test_spread_matches_scipy(xs):
    assert stats.stddev(xs) == pytest.approx(np.std(xs, ddof=1))
    mean = stats.amean(xs)
    assert stats.cov_pct(xs, mean) == pytest.approx(100 * ss.variation(xs, ddof=1))


def test_known_values():
    assert stats.stddev([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(math.sqrt(32 / 7))
    assert stats.hmean([1.0, 4.0, 4.0]) == pytest.approx(2.0)
    assert stats.gmean([1.0, 100.0]) == pytest.approx(10.0)
    # Welch: t = -3/sqrt(2/3), df = 4  ->  p = 0.02131 (two-sided)
    assert stats.welch_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.021312, abs=1e-5)


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
@settings(max_examples=40, deadline=None)
@given(positive, positive)
def test_welch_matches_scipy(a, b):
    p = stats.welch_p(a, b)
    ref = ss.ttest_ind(a, b, equal_var=False).pvalue
    if math.isnan(ref):
        assert p in (0.0, 1.0)
    else:
        assert p == pytest.approx(ref, rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(positive)
def test_summary_matches_numpy(xs):
    s = stats.summarize(xs, rate=True)
    assert s.n == len(xs)
    assert s.mean == pytest.approx(ss.hmean(xs), rel=1e-9)
    assert s.stddev == pytest.approx(np.std(xs, ddof=1), rel=1e-6, abs=1e-9)
    assert (s.min, s.max) == (min(xs), max(xs))
    assert s.min <= s.mean <= s.max * (1 + 1e-12)


def test_single_value_has_no_spread():
    s = stats.summarize([5.0])
    assert (s.n, s.mean, s.stddev, s.cov_pct) == (1, 5.0, None, None)
    assert stats.welch_p([5.0], [1.0, 2.0]) is None


def test_constant_samples():
    assert stats.welch_p([2.0, 2.0], [2.0, 2.0, 2.0]) == 1.0
    assert stats.welch_p([2.0, 2.0], [3.0, 3.0]) == 0.0


def test_hmean_falls_back_for_non_positive():
    assert stats.hmean([0.0, 2.0]) == 1.0


def test_empty_is_an_error():
    with pytest.raises(ValueError):
        stats.amean([])
    with pytest.raises(ValueError):
        stats.gmean([1.0, 0.0])


@pytest.mark.parametrize("base,new,hib,expected", [
    (100, 110, True, 10.0),     # faster: better
    (100, 90, True, -10.0),
    (10, 8, False, 20.0),       # less time: better
    (10, 12, False, -20.0),
    (10, 12, None, 20.0),       # neutral: plain change
    (5, 5, False, 0.0),
])
def test_gain_is_sign_aware(base, new, hib, expected):
    assert stats.gain_pct(base, new, hib) == pytest.approx(expected)


def test_gain_no_negative_zero_and_zero_base():
    assert str(stats.gain_pct(5, 5, False)) == "0.0"
    assert stats.gain_pct(0, 5, True) is None


def test_ratio_orientation():
    assert stats.ratio(100, 200, True) == 2.0
    assert stats.ratio(10, 5, False) == 2.0
    assert stats.ratio(0, 5, True) is None


def test_significance():
    assert stats.significant(0.01, 0.05)
    assert not stats.significant(0.06, 0.05)
    assert not stats.significant(None)


def test_counter_rates():
    t, r = stats.counter_rates([0, 1, 2, 4, 4, 5], [0, 10, 30, 70, 80, 0])
    assert t == [1, 2, 4, 5]
    assert r == [10.0, 20.0, 20.0, 0.0]  # repeated time skipped, counter reset clamps at 0
