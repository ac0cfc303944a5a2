"""Pure statistics (STYLE 6): sequences of floats in, floats out. No I/O, no caches.

Conventions follow mmtests Stat.pm/Compare.pm: sample standard deviation (n-1), CoV in percent,
harmonic mean for rates, and a sign-aware percent difference where positive always means better.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as _scipy_stats

DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    stddev: float | None  # None with a single sample: a stddev of one value means nothing
    cov_pct: float | None
    min: float
    max: float


def amean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("mean of no values")
    return math.fsum(values) / len(values)


def hmean(values: Sequence[float]) -> float:
    """Harmonic mean; falls back to the arithmetic mean when a value is not positive."""
    if not values:
        raise ValueError("mean of no values")
    if any(v <= 0 for v in values):
        return amean(values)
    h = len(values) / math.fsum(1.0 / v for v in values)
    return min(max(h, min(values)), max(values))  # rounding must not leave [min, max]


def gmean(values: Sequence[float]) -> float:
    """Geometric mean of positive values."""
    if not values or any(v <= 0 for v in values):
        raise ValueError("geometric mean needs positive values")
    return math.exp(math.fsum(math.log(v) for v in values) / len(values))


def stddev(values: Sequence[float]) -> float | None:
    """Sample standard deviation (ddof=1); None for fewer than two values."""
    if len(values) < 2:
        return None
    m = amean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


def cov_pct(values: Sequence[float], mean: float) -> float | None:
    """Coefficient of variation in percent of ``mean``; None when undefined."""
    sd = stddev(values)
    if sd is None or mean == 0:
        return None
    return 100.0 * sd / abs(mean)


def summarize(values: Sequence[float], rate: bool = False) -> Summary:
    mean = hmean(values) if rate else amean(values)
    return Summary(
        n=len(values),
        mean=mean,
        stddev=stddev(values),
        cov_pct=cov_pct(values, mean),
        min=min(values),
        max=max(values),
    )


def gain_pct(base: float, new: float, higher_is_better: bool | None) -> float | None:
    """Percent difference of ``new`` against ``base``; positive means better.

    ``higher_is_better=None`` (a neutral metric) gives the plain change, new over base.
    None when the base is zero (no meaningful percentage).
    """
    if base == 0:
        return None
    change = 100.0 * (new - base) / abs(base)
    if higher_is_better is False:
        change = -change
    return change + 0.0  # no negative zero


def ratio(base: float, new: float, higher_is_better: bool) -> float | None:
    """new/base oriented so that > 1 means better; None when either is not positive."""
    if base <= 0 or new <= 0:
        return None
    return new / base if higher_is_better else base / new


def welch_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Welch's t-test p-value; None when either sample has fewer than two values.

    When both samples are constant scipy gives NaN; then equal values give 1.0 and different
    values 0.0 (a deterministic difference is as significant as it gets).
    """
    if len(a) < 2 or len(b) < 2:
        return None
    if min(a) == max(a) and min(b) == max(b):
        return 1.0 if a[0] == b[0] else 0.0
    with warnings.catch_warnings():
        # nearly identical samples: scipy warns about precision, the p-value is still usable
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(_scipy_stats.ttest_ind(a, b, equal_var=False).pvalue)
    return 1.0 if math.isnan(p) else p


def welch_p_ratio(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Welch's t-test on the logarithms when every value is positive, else on the values.

    Times, rates and latencies vary multiplicatively (a 7x slower phase also has about 7x the
    spread), so on the raw scale the noisier sample swamps Welch's degrees of freedom; on the
    log scale the test compares the ratio of geometric means, the summary of benchmark ratios
    that Fleming & Wallace (1986, CACM 29(3)) recommend, with comparable variances. Same
    false-positive rate under the null; much more power for large ratios at n = 3.
    """
    if all(v > 0 for v in a) and all(v > 0 for v in b):
        return welch_p([math.log(v) for v in a], [math.log(v) for v in b])
    return welch_p(a, b)


def significant(p: float | None, alpha: float = DEFAULT_ALPHA) -> bool:
    return p is not None and p < alpha


HOLM = "Holm–Bonferroni"


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values, in the order given; None stays None and is not
    counted in the family.

    Holm, S. (1979) "A simple sequentially rejective multiple test procedure", Scand. J.
    Statist. 6:65-70: with the m raw p-values sorted, p(1) <= ... <= p(m), the adjusted value
    of p(i) is max over j <= i of min(1, (m - j + 1) * p(j)). Rejecting where the adjusted
    value is below alpha keeps the family-wise error rate (any false positive among the m
    tests) at most alpha, whatever the dependence between the tests.
    """
    tested = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(tested)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def counter_rates(t: Sequence[float], values: Sequence[float]) -> tuple[list[float], list[float]]:
    """Per-second rates of a monotonic counter sampled at times ``t``.

    Returns (times, rates) with one point per interval, stamped at the interval's end; intervals
    with a non-positive time step or a NaN are skipped, and a counter reset gives no negative rate.
    """
    times: list[float] = []
    rates: list[float] = []
    for i in range(1, min(len(t), len(values))):
        dt = t[i] - t[i - 1]
        dv = values[i] - values[i - 1]
        if not dt > 0 or math.isnan(dv):
            continue
        times.append(t[i])
        rates.append(max(dv, 0.0) / dt)
    return times, rates
