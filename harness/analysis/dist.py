"""The few distribution functions the statistics need, in pure Python.

Importing scipy.stats takes about 1.2 s, more than a whole one-run report may (< 1 s). These
are the textbook algorithms (regularized incomplete beta by Lentz's continued fraction; t
quantiles from Hill's start refined by Taylor steps, a safeguarded Newton iteration below 1
degree of freedom), checked against scipy in tests/unit/test_stats.py: the t quantile within
1e-11 relative of scipy's, what the sequential decisions read (tests/unit/test_sequential.py).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache, lru_cache
from statistics import NormalDist

_EPS = 1e-15
_TINY = 1e-300


def norm_ppf(p: float) -> float:
    """Quantile of the standard normal distribution."""
    return NormalDist().inv_cdf(p)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float, y: float | None = None) -> float:
    """Regularized incomplete beta function I_x(a, b); y = 1 - x when the caller has it exactly
    (x near 1 loses the digits of 1 - x)."""
    y = 1.0 - x if y is None else y
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log(y))
    # The continued fraction converges fast only on this side of the mean; use the symmetry.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, y) / b


def t_sf(t: float, df: float) -> float:
    """Survival function P(T > t) of Student's t with df (not necessarily whole) degrees."""
    t2 = t * t
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))
    return tail if t >= 0 else 1.0 - tail


def t_pdf(t: float, df: float) -> float:
    return math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)
                    - 0.5 * math.log(df * math.pi) - (df + 1) / 2 * math.log1p(t * t / df))


@lru_cache(maxsize=1024)  # the same few (p, df) come back: looks, alpha shares, n - 1
def t_ppf(p: float, df: float) -> float:
    """Quantile of Student's t: the t with P(T <= t) = p.

    For df > 1, Hill's start (ACM algorithm 396, within a few % of the answer) refined by
    two-term Taylor steps on t_sf (as R's qt does), which converge cubically: one or two steps
    land within 1e-12 of scipy's stdtrit, in ~15 us instead of the bracketed Newton's ~300."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    if p == 0.5:
        return 0.0
    q = 1.0 - p  # exact for p >= 0.5
    if df > 1.0:
        t = _hill(2.0 * q, df)
        for _ in range(10):
            x = (t_sf(t, df) - q) / t_pdf(t, df)
            if not math.isfinite(x):
                break
            t += x * (1.0 + x * t * (df + 1.0) / (2.0 * (t * t + df)))
            if abs(x) <= 1e-8 * t:  # the next step would be below 1e-20 of t
                return t
    return _t_ppf_bracketed(q, p, df)


def _hill(two_sided: float, df: float) -> float:
    """Hill (1970), ACM algorithm 396: the upper t quantile whose two-sided tail probability
    is `two_sided`, for df > 1; a start for the Taylor steps (R's qt uses the same)."""
    a = 1.0 / (df - 0.5)
    b = 48.0 / (a * a)
    c = ((20700.0 * a / b - 98.0) * a - 16.0) * a + 96.36
    d = ((94.5 / (b + c) - 3.0) / b + 1.0) * math.sqrt(a * math.pi / 2.0) * df
    y = (d * two_sided) ** (2.0 / df)
    if (df < 2.1 and two_sided > 0.5) or y > 0.05 + a:  # about the normal quantile
        x = norm_ppf(0.5 * two_sided)
        y = x * x
        if df < 5:
            c += 0.3 * (df - 4.5) * (x + 0.6)
        c = (((0.05 * d * x - 5.0) * x - 7.0) * x - 2.0) * x + b + c
        y = (((((0.4 * y + 6.3) * y + 36.0) * y + 94.5) / c - y - 3.0) / b + 1.0) * x
        y = math.expm1(a * y * y)
    elif y > 0.0:
        y = ((1.0 / (((df + 6.0) / (df * y) - 0.089 * d - 0.822) * (df + 2.0) * 3.0)
              + 0.5 / (df + 4.0)) * y - 1.0) * (df + 1.0) / (df + 2.0) + 1.0 / y
    else:  # a tail too far out for the expansion: let the steps (or the fallback) find it
        return 1e8
    return math.sqrt(df * y)


def _t_ppf_bracketed(q: float, p: float, df: float) -> float:
    """The upper quantile by a safeguarded Newton iteration: any df (below 1 too), slower."""
    # The t quantile lies above the normal one; keep a bracket so that a wild Newton step on a
    # heavy tail (df near 1) falls back to bisection instead of diverging.
    lo, hi = 0.0, max(1.0, norm_ppf(p))
    while t_sf(hi, df) > q:
        lo, hi = hi, hi * 4.0
    t = _cornish_fisher(norm_ppf(p), df)
    if not lo < t < hi:
        t = (lo + hi) / 2.0
    for _ in range(200):
        f = t_sf(t, df) - q  # decreasing in t
        if f > 0:
            lo = t
        else:
            hi = t
        step = f / t_pdf(t, df)
        nxt = t + step
        if not lo < nxt < hi:
            nxt = (lo + hi) / 2.0
        if abs(nxt - t) <= 1e-14 * abs(t) or hi - lo <= 1e-14 * hi:
            return nxt
        t = nxt
    return t


def _cornish_fisher(z: float, df: float) -> float:
    """Abramowitz & Stegun 26.7.5: a start for Newton close to the t quantile for df >= 3."""
    z2 = z * z
    g1 = (z2 + 1) * z / 4
    g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
    g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
    g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


@cache
def median_rank(n: int, alpha: float) -> int:
    """The k of the order-statistic CI [x(k), x(n+1-k)] of a median: the largest k >= 1 with
    P(B < k) <= alpha / 2 for B ~ Binomial(n, 1/2). In floating point from n = FLOAT_RANK_N on
    (the exact sums take ~20 ms at n = 7000, and a thousand runs pool groups that large), where
    that is decided with a wide margin; in exact integer arithmetic otherwise."""
    if n >= FLOAT_RANK_N and 0 < alpha < 0.5:
        k = _median_rank_float(n, alpha)
        if k is not None:
            return k
    return _median_rank_exact(n, alpha)


FLOAT_RANK_N = 500
_MARGIN = 1e-6  # relative: P(B <= k) is computed within ~1e-10 of itself


def _median_rank_exact(n: int, alpha: float) -> int:
    # Compare counts of outcomes, not rounded probabilities: below > alpha / 2 * 2^n, with
    # alpha = num / den exactly, is below * 2 * den > num * 2^n, in integers (a Fraction
    # comparison at each step took 10 ms for n = 7000).
    num, den = Fraction(alpha).as_integer_ratio()
    limit, scale = num << n, 2 * den
    k, below, comb = 0, 0, 1  # below = sum of C(n, i) for i <= k
    while True:
        below += comb
        if below * scale > limit:
            break
        k += 1
        comb = comb * (n - k + 1) // k
    return max(k, 1)


def _median_rank_float(n: int, alpha: float) -> int | None:
    """The smallest k with P(B <= k) > alpha / 2, from the normal approximation stepped to the
    binomial's own cdf; None when the cdf at k or k - 1 lies within _MARGIN of alpha / 2 (a
    rounding error could then decide)."""
    half = alpha / 2
    k = max(0, math.floor(n / 2 - norm_ppf(1 - half) * math.sqrt(n) / 2))
    while _binom_half_cdf(k, n) <= half:
        k += 1
    while k > 0 and _binom_half_cdf(k - 1, n) > half:
        k -= 1
    for p in (_binom_half_cdf(k, n), _binom_half_cdf(k - 1, n) if k else 0.0):
        if abs(p - half) <= _MARGIN * half:
            return None
    return max(k, 1)


def _binom_half_cdf(k: int, n: int) -> float:
    """P(B <= k), B ~ Binomial(n, 1/2), for k below n / 2: the term at k (by log-gamma) times
    the sum of the terms below it relative to it, each smaller than the last."""
    total = term = 1.0
    for i in range(k, 0, -1):
        term *= i / (n - i + 1)
        total += term
        if term < 1e-17 * total:
            break
    log_pmf = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
               - n * math.log(2))
    return math.exp(log_pmf) * total
