"""Statistics over repeats: one group's summary, and the fixed-sample comparison of two groups.

Pure numerics on lists of floats; results are typed values (findings.Summary, Ratio) whose
warnings are data. scipy is not imported: it alone takes longer than a whole report may
(harness.analysis.dist has the distributions).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from harness.analysis import dist
from harness.analysis.findings import Summary, Verdict, Warn

ALPHA = 0.05  # 95% confidence intervals, and the significance level of comparisons
MIN_EFFECT = 0.05  # a ratio within 5% of 1 is never called a difference, however significant
NOISY_CV = 0.10  # pyperf's rule: stdev >= 10% of the mean makes a result unreliable
FEW_REPEATS = 3
POWER = 0.80  # of the minimum detectable effect
_Z_POWER = dist.norm_ppf(POWER)


@dataclass(frozen=True, slots=True)
class Welch:
    diff: float  # mean(a) - mean(b)
    ci_low: float
    ci_high: float
    p_value: float
    se: float
    df: float | None  # None when se == 0


@dataclass(frozen=True, slots=True)
class Ratio:
    """a against b: geometric-mean ratio a/b with its 95% CI (Welch's t on the logs)."""

    verdict: Verdict
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_a: int
    n_b: int
    mde: float | None  # relative difference detectable with 80% power at level alpha
    warnings: tuple[Warn, ...] = ()


@dataclass(frozen=True, slots=True)
class LogSample:
    """One side of a ratio comparison on the logarithms (compare_logs), made once per group and
    metric: over many runs a group takes part in several comparisons."""

    n: int
    mean: float | None  # of the logarithms; None when a value is not positive (no logarithm)
    sd: float

    @classmethod
    def of(cls, values: Sequence[float]) -> LogSample:
        if not values or min(values) <= 0:
            return cls(len(values), None, 0.0)
        return cls(len(values), *mean_sd(list(map(math.log, values))))


def mean_sd(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (statistics.stdev is exact, and 100x slower)."""
    return _mean_sd(xs, len(xs) < 2 or min(xs) == max(xs))


def _mean_sd(xs: Sequence[float], equal: bool) -> tuple[float, float]:
    """mean_sd, told whether every value is the same (a sorted list says so by its ends)."""
    n = len(xs)
    mean = math.fsum(xs) / n
    if equal:
        return mean, 0.0  # equal values: exactly no spread, not rounding noise
    if n < 64:
        return mean, math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    # Thousands of pooled repeats: sums in C. fsum keeps the cancellation error near 1e-16 of
    # the sum of squares, far below any spread that shows in a report.
    squares = math.fsum(map(operator.mul, xs, xs))
    return mean, math.sqrt(max(0.0, (squares - n * mean * mean) / (n - 1)))


def describe(values: Sequence[float], alpha: float = ALPHA) -> Summary:
    """n, median, mean, 95% CI, coefficient of variation and warnings for one group of repeats.

    The CI is distribution-free for n >= 6: order statistics around the median. Below that no
    pair of order statistics covers the median with 95% confidence (with n = 5 even min..max
    covers it only 1 - 2/2^5 = 94% of the time), so for 2..5 repeats the CI is Student's t on the
    logarithms (around the geometric mean) when every value is positive, which assumes roughly
    log-normal repeats, and on the values otherwise (cut at 0 for values that cannot be
    negative). n = 1 has no CI at all.
    """
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        return Summary(0, warnings=(Warn.NO_DATA,))
    mean, sd = _mean_sd(xs, n < 2 or xs[0] == xs[-1])
    mid = n // 2
    median = xs[mid] if n % 2 else (xs[mid - 1] + xs[mid]) / 2
    cv = ci_low = ci_high = method = None
    if n >= 2:
        cv = sd / mean if mean > 0 else None
        if n >= 6:
            k = dist.median_rank(n, alpha)
            ci_low, ci_high, method = xs[k - 1], xs[n - k], "order"
        elif xs[0] > 0:
            # Throughput and latency are positive and skewed: a t interval on the logs stays
            # positive (a plain one gives "-720 req/s" at n = 2).
            centre, sd_log = mean_sd([math.log(x) for x in xs])
            half = dist.t_ppf(1 - alpha / 2, n - 1) * sd_log / math.sqrt(n)
            ci_low, ci_high, method = math.exp(centre - half), math.exp(centre + half), "t-log"
        else:
            half = dist.t_ppf(1 - alpha / 2, n - 1) * sd / math.sqrt(n)
            # A zero among non-negative values (a repeat that served nothing): the interval
            # stops at zero, where the metric does ("0 (-146–280) req/s" says nothing).
            floor = 0.0 if xs[0] >= 0 else -math.inf
            ci_low, ci_high, method = max(floor, mean - half), mean + half, "t"
    warnings = []
    if cv is not None and cv >= NOISY_CV:
        warnings.append(Warn.NOISY)
    if n < FEW_REPEATS:
        warnings.append(Warn.FEW_REPEATS)
    return Summary(n, median, mean, ci_low, ci_high, method, cv, tuple(warnings))


def welch(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> Welch | None:
    """Welch's t on raw values: difference of means a - b, its CI and two-sided p.

    None when either side has fewer than 2 values (no variance to test with).
    """
    if len(a) < 2 or len(b) < 2:
        return None
    return _welch(*mean_sd(a), len(a), *mean_sd(b), len(b), alpha)


def _welch(ma: float, sa: float, na: int, mb: float, sb: float, nb: int,
           alpha: float) -> Welch:
    va, vb = sa * sa / na, sb * sb / nb
    diff = ma - mb
    se = math.sqrt(va + vb)
    if se == 0:
        # Constant repeats on both sides: the difference, if any, is exact.
        return Welch(diff, diff, diff, 0.0 if diff else 1.0, 0.0, None)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    half = dist.t_ppf(1 - alpha / 2, df) * se
    p = 2 * dist.t_sf(abs(diff) / se, df)
    return Welch(diff, diff - half, diff + half, p, se, df)


def compare(a: Sequence[float], b: Sequence[float], min_effect: float = MIN_EFFECT,
            alpha: float = ALPHA, higher_is_better: bool = True) -> Ratio:
    """How a compares to b: geometric ratio a/b, its CI (Welch's t on logs), p and a verdict.

    Logs make the test about ratios, which is how throughput differences are read, and tame the
    right skew of latencies. The verdict is "faster" or "slower" only when the difference is both
    significant (p < alpha) and large enough (|ratio - 1| >= min_effect). Otherwise it is
    "inconclusive" when the data cannot rule out a difference of min_effect either way (one
    repeat, or a CI reaching past both 1 - min_effect and 1 + min_effect), and "no detectable
    difference" when it can. With higher_is_better=False (latencies, CPU) a ratio above 1 is
    slower. Valid for a number of repeats fixed in advance, not for rounds stopped on the data
    (harness.analysis.sequential is).
    """
    return compare_logs(LogSample.of(a), LogSample.of(b), min_effect, alpha, higher_is_better)


def compare_logs(a: LogSample, b: LogSample, min_effect: float = MIN_EFFECT,
                 alpha: float = ALPHA, higher_is_better: bool = True) -> Ratio:
    """compare() from each side's LogSample."""
    if not a.n or not b.n:
        return Ratio(Verdict.INCONCLUSIVE, None, None, None, None, a.n, b.n, None,
                     (Warn.NO_DATA,))
    if a.mean is None or b.mean is None:
        return Ratio(Verdict.INCONCLUSIVE, None, None, None, None, a.n, b.n, None,
                     (Warn.NON_POSITIVE,))
    ratio = math.exp(a.mean - b.mean)
    if a.n < 2 or b.n < 2:
        # One repeat says nothing about its own noise: never a winner from n = 1.
        return Ratio(Verdict.INCONCLUSIVE, ratio, None, None, None, a.n, b.n, None,
                     (Warn.SINGLE_SAMPLE,))
    test = _welch(a.mean, a.sd, a.n, b.mean, b.sd, b.n, alpha)
    low, high = math.exp(test.ci_low), math.exp(test.ci_high)
    if test.p_value < alpha and abs(ratio - 1) >= min_effect:
        verdict = Verdict.FASTER if (ratio > 1) == higher_is_better else Verdict.SLOWER
    elif low >= 1 - min_effect or high <= 1 + min_effect:
        verdict = Verdict.NO_DIFFERENCE
    else:
        verdict = Verdict.INCONCLUSIVE
    return Ratio(verdict, ratio, low, high, test.p_value, a.n, b.n, mde(test, alpha))


def mde(test: Welch, alpha: float = ALPHA) -> float:
    """The relative difference this test would detect with 80% power: (t_crit + z_0.8) * se on
    the logs, as a ratio minus 1 (the same rule as sequential.Decision.mde)."""
    if test.df is None:
        return 0.0
    return math.expm1((dist.t_ppf(1 - alpha / 2, test.df) + _Z_POWER) * test.se)
