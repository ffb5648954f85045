"""Sequential comparison of two apps: a verdict that stays valid however the rounds were stopped.

The harness measures apps in interleaved rounds and, after each round, asks whether every declared
pair (A vs B) is decided, stopping the level when all are. Re-running a fixed-level test after
every round and stopping at the first "significant" answer inflates false decisions (with a 5%
Welch test checked after each of 28 rounds, 20-25% of A/A comparisons end "faster" or
"slower"). The same function gives the report's final verdict, so the verdict is valid for how
the data were actually collected.

Method. Per round there is one positive value per app (req/s, or CPU-ms per request where lower
is better), roughly log-normal with CV 7-25% and independent between cells; rounds are not
usefully paired. So the parameter is d = log(geometric-mean ratio A/B), estimated by the
difference of mean logs, unpaired, with Welch's standard error and Welch-Satterthwaite degrees
of freedom (unknown, unequal variances).

- Looks: the data are examined only at a schedule of sample sizes n_1 < ... < n_K (rounds per
  app) fixed in advance by (min_n, max_n): roughly geometric, ratio about 1.4, always including
  min_n and max_n (3..30 gives 3, 4, 6, 8, 11, 16, 22, 30). At a size between looks the decision
  is the one of the last look reached, computed from the first n_k values of each side, so the
  caller may ask after every round and nothing but the looks is ever examined.
- Alpha spending: look k gets alpha_k = alpha * n_k / sum(n_j), so sum(alpha_k) = alpha and the
  shares grow with the data: the last look keeps the largest share (30% of alpha for 3..30),
  which keeps power high at the end of the budget, while a large difference (25% or more at
  CV 10%) still shows after 5-6 rounds.
- At look k the interval is d_hat +- t(1 - alpha_k / 2, df_Welch) * se, exponentiated to a ratio.

Why it is valid under optional stopping: let E_k be the event that the interval at look k misses
the true ratio; P(E_k) <= alpha_k, so by the union bound P(any E_k) <= sum(alpha_k) = alpha. With
probability >= 1 - alpha every interval of the sequence covers the true ratio simultaneously, so
whatever rule chooses when to stop (or which look to report), the interval read at that time
covers with probability >= 1 - alpha, and every verdict read from it is wrong with probability
<= alpha: "faster"/"slower" require the whole interval on one side of 1, "equivalent" requires it
inside [1/(1 + min_effect), 1 + min_effect], and each is false only if the interval missed. The
schedule, alpha, min_n and max_n must be fixed before the data are seen (the same ones at every
call for one comparison), and values must be passed in collection order with none dropped.

Caveats, measured by tests/unit/test_sequential.py: Welch's t is approximate. At 3-4 rounds with
very unequal variances (CV 7% vs 25-50%) a single look misses 1.3-2.4 times its nominal alpha_k;
the union bound's slack (neighbouring looks share most of their data) absorbs this, and A/A
simulations with adaptive stopping stay at 2-4% false decisions. Bonferroni over looks is
conservative, which costs some power compared with group-sequential boundaries computed for the
correlation between looks; in exchange it needs no assumption beyond per-look validity. Verdicts
are not monotone: a pair measured further after it was decided (because another pair was not)
may read "undecided" at a later look; each verdict is valid on its own.

Zeros: an app that served nothing in a round (it deadlocked) gives 0, and a stack that collapses
in some rounds only is not described by a log-normal spread: one round at 0 (entered as 1 req/s
with the throughput offset) against rounds at 300 req/s makes the t interval useless, and a
stack collapsing half the time is as likely to collapse in all of one side's first rounds as
not, so no pattern of zeros is "certain". decide_paired therefore judges a look in which some
round has a zero by a sign test instead: the order-statistic interval [d_(r), d_(n+1-r)] of the
per-round log ratios d, which covers their median with probability >= 1 - alpha_k whatever
their distribution (zeros, ties and all), the estimate being the median per-round ratio. The
switch depends only on the unordered pair of each round (whether it holds a 0), and under the
null that A and B are exchangeable within a round the signs of the d given their sizes are fair
coins, so neither test's error grows by the choice; the union bound over looks is unchanged.
The price: a sign interval exists only from 6 rounds (2 / 2^n <= alpha_k), and with the
scenarios' looks (3 to 16 rounds) its first decision comes at 8 rounds all in one direction.
tests/unit/test_sequential.py simulates A/A pairs collapsing in 5-50% of rounds. `decide`
(unpaired, which the harness no longer calls) keeps the older rule: all zeros against all
positive is decided at once, any other zero is undecided.
Negative or non-finite values are a caller's bug and raise ValueError.

Zero variance: when both sides' logs are constant the difference is exact (se = 0): the interval
is the ratio itself and mde is 0. When only one side is constant, Welch's df reduces to the other
side's n - 1.
"""

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from statistics import NormalDist

from harness.analysis import dist

LOOK_STEP = 1.4  # ratio between consecutive looks: ~8 looks from 3 to 30
POWER = 0.80  # for the minimum detectable effect
# Throughput is compared as log(1 + req/s): a round that served nothing counts as 1 req/s.
THROUGHPUT_OFFSET = 1.0
_Z_POWER = dist.norm_ppf(POWER)
# out_of_reach: a comparison whose chance of a verdict within max_n rounds is under FUTILITY,
# judged from FUTILITY_FROM rounds, is given no more rounds.
FUTILITY = 0.05
FUTILITY_FROM = 5


class Verdict(StrEnum):
    FASTER = "faster"  # A better than B in the metric's good direction
    SLOWER = "slower"
    EQUIVALENT = "equivalent"  # within min_effect either way
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    ratio: float | None  # geometric-mean ratio A/B (at the look, when there is one)
    ci_low: float | None  # the anytime-valid interval on the ratio at the look used
    ci_high: float | None
    n_a: int  # values given
    n_b: int
    look: int | None  # values used from each side: the last look reached
    alpha_spent: float | None  # alpha_k of that look
    mde: float | None  # smallest relative difference detectable with 80% power at that look
    zero_rounds: int = 0  # rounds of the look in which a side served nothing: a sign test


@cache  # pure, and called at every decide()
def looks(min_n: int, max_n: int) -> tuple[int, ...]:
    """The pre-declared sample sizes (rounds per app) at which a comparison is examined."""
    if min_n < 2 or max_n < min_n:
        raise ValueError(f"need 2 <= min_n <= max_n, got min_n={min_n}, max_n={max_n}")
    if min_n == max_n:
        return (min_n,)
    steps = math.ceil(math.log(max_n / min_n) / math.log(LOOK_STEP) - 1e-9)
    ratio = (max_n / min_n) ** (1 / steps)
    points = {int(min_n * ratio**k + 0.5) for k in range(steps)} | {max_n}
    return tuple(sorted(points))


@cache
def spending(min_n: int, max_n: int, alpha: float = 0.05) -> tuple[float, ...]:
    """alpha_k for each look of looks(min_n, max_n): proportional to n_k, summing to alpha."""
    schedule = looks(min_n, max_n)
    total = sum(schedule)
    return tuple(alpha * n / total for n in schedule)


def decide(a: Sequence[float], b: Sequence[float], *, min_effect: float = 0.05,
           alpha: float = 0.05, min_n: int = 3, max_n: int = 30,
           higher_is_better: bool = True, offset: float = 0.0) -> Decision:
    """Compare A (values in collection order) with B at the last look reached; see the module.

    `offset` is added to every value before the logarithms: with 1 (req/s) for throughput, a
    round in which a stack served nothing (it deadlocked) enters the comparison as 1 req/s, so
    that a stack collapsing in some rounds is still compared rather than left undecided."""
    if not 0 < alpha < 1 or min_effect < 0 or offset < 0:
        raise ValueError(f"need 0 < alpha < 1, min_effect >= 0 and offset >= 0, got {alpha}, "
                         f"{min_effect}, {offset}")
    xa = [x + offset for x in _checked(a)]
    xb = [x + offset for x in _checked(b)]
    n_a, n_b = len(xa), len(xb)
    schedule = looks(min_n, max_n)
    if min(n_a, n_b) < min_n:
        return Decision(Verdict.UNDECIDED, _plain_ratio(xa, xb), None, None, n_a, n_b,
                        None, None, None)
    k = bisect.bisect_right(schedule, min(n_a, n_b)) - 1
    look = schedule[k]
    xa, xb = xa[:look], xb[:look]  # the look's statistic, not whatever arrived since

    if min(xa) == 0 or min(xb) == 0:
        return Decision(*_with_zeros(xa, xb, higher_is_better), None, None, n_a, n_b, look,
                        None, None)

    alpha_k = spending(min_n, max_n, alpha)[k]
    mean_a, var_a = _mean_var([math.log(x) for x in xa])
    mean_b, var_b = _mean_var([math.log(x) for x in xb])
    d = mean_a - mean_b
    va, vb = var_a / look, var_b / look
    se = math.sqrt(va + vb)
    denom = (va * va + vb * vb) / (look - 1)
    # Welch-Satterthwaite; the pooled df only where it cannot matter (se ~ 0).
    df = (va + vb) ** 2 / denom if denom > 0 else 2.0 * look - 2
    t_crit = dist.t_ppf(1 - alpha_k / 2, df)
    lo, hi = d - t_crit * se, d + t_crit * se

    return Decision(_verdict(d, lo, hi, min_effect, higher_is_better), math.exp(d),
                    math.exp(lo), math.exp(hi), n_a, n_b, look, alpha_k,
                    math.expm1((t_crit + _Z_POWER) * se))


def decide_paired(pairs: Sequence[tuple[float, float]], *, min_effect: float = 0.05,
                  alpha: float = 0.05, min_n: int = 3, max_n: int = 30,
                  higher_is_better: bool = True, offset: float = 0.0) -> Decision:
    """Compare A with B from rounds that measured both: (a, b) per round, in round order.

    The parameter is the same (the log of the geometric-mean ratio), estimated from the
    per-round differences of logs with a one-sample t interval (df = n - 1) under the same
    looks and alpha spending as `decide`, so the same union-bound argument makes it valid under
    optional stopping. Pairing removes what a round's cells share: when the machine slows for
    a minute every app of the round slows with it (measured on this 2-core VM: the apps'
    per-round logs correlated at 0.7-0.9 at 1 and 24 connections), and the differences are
    then far steadier than either app. With independent cells it loses only degrees of
    freedom (n - 1 instead of Welch's up to 2n - 2)."""
    if not 0 < alpha < 1 or min_effect < 0 or offset < 0:
        raise ValueError(f"need 0 < alpha < 1, min_effect >= 0 and offset >= 0, got {alpha}, "
                         f"{min_effect}, {offset}")
    raw_a, raw_b = _checked([a for a, _ in pairs]), _checked([b for _, b in pairs])
    n = len(raw_a)
    schedule = looks(min_n, max_n)
    if n < min_n:
        return Decision(Verdict.UNDECIDED, _plain_ratio([x + offset for x in raw_a],
                                                        [x + offset for x in raw_b]),
                        None, None, n, n, None, None, None)
    k = bisect.bisect_right(schedule, n) - 1
    look = schedule[k]
    alpha_k = spending(min_n, max_n, alpha)[k]
    # the look's statistic, not whatever arrived since
    diffs, zeros = _per_round(raw_a[:look], raw_b[:look], offset)
    if zeros:
        return _sign_test(diffs, zeros, alpha_k, min_effect, higher_is_better, n)
    d, var = _mean_var(diffs)
    se = math.sqrt(var / look)
    t_crit = dist.t_ppf(1 - alpha_k / 2, look - 1)
    lo, hi = d - t_crit * se, d + t_crit * se
    return Decision(_verdict(d, lo, hi, min_effect, higher_is_better), math.exp(d),
                    math.exp(lo), math.exp(hi), n, n, look, alpha_k,
                    math.expm1((t_crit + _Z_POWER) * se))


def out_of_reach(pairs: Sequence[tuple[float, float]], *, min_effect: float = 0.05,
                 alpha: float = 0.05, min_n: int = 3, max_n: int = 30,
                 offset: float = 0.0) -> bool:
    """Whether rounds up to max_n would most likely still leave an undecided paired comparison
    undecided: its chance of a verdict at max_n, were the per-round ratios to go on as
    measured so far (their mean and spread taken as the truth), is under FUTILITY.

    Only when to stop depends on it, never a verdict: decide_paired's intervals hold under any
    stopping rule, so stopping a comparison for futility costs no validity, only the chance
    it gave up (tests/unit/test_sequential.py simulates both). Judged from FUTILITY_FROM rounds
    (a spread from fewer is too rough to give up on), and never on a look with a round that
    served nothing: the sign test's later looks can move a long way."""
    n = len(pairs)
    if n < max(min_n, FUTILITY_FROM) or n >= max_n:
        return False
    diffs, zeros = _per_round(_checked([a for a, _ in pairs]), _checked([b for _, b in pairs]),
                              offset)
    if zeros:
        return False
    d, var = _mean_var(diffs)
    sd = math.sqrt(var)
    final_half = dist.t_ppf(1 - spending(min_n, max_n, alpha)[-1] / 2, max_n - 1) \
        * sd / math.sqrt(max_n)
    moves = sd * math.sqrt(max_n - n) / max_n  # the spread of the estimate at max_n, given now
    band = math.log1p(min_effect)
    if moves == 0:
        return _verdict(d, d - final_half, d + final_half, min_effect, True) \
            is Verdict.UNDECIDED
    norm = NormalDist(d, moves)
    side = max(final_half, band)
    chance = norm.cdf(-side) + (1 - norm.cdf(side))
    if band > final_half:
        chance += norm.cdf(band - final_half) - norm.cdf(final_half - band)
    return chance < FUTILITY


def _sign_test(diffs: list[float], zeros: int, alpha_k: float, min_effect: float,
               higher_is_better: bool, n: int) -> Decision:
    """A look with a zero: the median per-round ratio and its order-statistic interval."""
    look = len(diffs)
    s = sorted(diffs)
    median = _median(s)
    ratio = _exp(median)
    if 2.0 ** (1 - look) > alpha_k:  # even all rounds one way would not be significant
        return Decision(Verdict.UNDECIDED, ratio, None, None, n, n, look, alpha_k, None, zeros)
    r = dist.median_rank(look, alpha_k)
    lo, hi = s[r - 1], s[look - r]
    return Decision(_verdict(median, lo, hi, min_effect, higher_is_better), ratio, _exp(lo),
                    _exp(hi), n, n, look, alpha_k, None, zeros)


def _median(s: list[float]) -> float:
    mid = len(s) // 2
    if len(s) % 2:
        return s[mid]
    lo, hi = s[mid - 1], s[mid]
    if lo == hi:
        return lo
    if math.isinf(lo) and math.isinf(hi):
        return 0.0  # -inf and +inf: no direction
    return (lo + hi) / 2


def _per_round(raw_a: list[float], raw_b: list[float], offset: float) -> tuple[list[float], int]:
    """The per-round log ratios (offset added), and the rounds in which a side served nothing."""
    zeros = sum(1 for x, y in zip(raw_a, raw_b, strict=True) if x == 0 or y == 0)
    return [_log_ratio(x + offset, y + offset) for x, y in zip(raw_a, raw_b, strict=True)], zeros


def _log_ratio(a: float, b: float) -> float:
    """log(a / b), with a side at 0 as -inf or +inf (both at 0: no difference)."""
    if a > 0 and b > 0:
        return math.log(a) - math.log(b)
    if a == b:
        return 0.0
    return -math.inf if a == 0 else math.inf


def _exp(x: float) -> float:
    return 0.0 if x == -math.inf else math.inf if x == math.inf else math.exp(x)


def _verdict(d: float, lo: float, hi: float, min_effect: float,
             higher_is_better: bool) -> Verdict:
    band = math.log1p(min_effect)
    # In the good direction: positive means A is better.
    g, g_lo, g_hi = (d, lo, hi) if higher_is_better else (-d, -hi, -lo)
    if g_lo > 0 and g >= band:
        return Verdict.FASTER
    if g_hi < 0 and g <= -band:
        return Verdict.SLOWER
    if -band <= lo and hi <= band:
        return Verdict.EQUIVALENT
    return Verdict.UNDECIDED


def _with_zeros(xa: list[float], xb: list[float],
                higher_is_better: bool) -> tuple[Verdict, float | None]:
    """A sample with a zero has no logarithm: one side all zeros against all positive is a
    certain difference; any other mix is undecided (see the module)."""
    ratio = _plain_ratio(xa, xb)
    if ratio == 0 or ratio == math.inf:
        a_better = (ratio == math.inf) == higher_is_better
        return (Verdict.FASTER if a_better else Verdict.SLOWER), ratio
    return Verdict.UNDECIDED, ratio


def _checked(values: Sequence[float]) -> list[float]:
    xs = [float(v) for v in values]
    for x in xs:
        if not (math.isfinite(x) and x >= 0):
            raise ValueError(f"values must be finite and >= 0, got {x}")
    return xs


def _plain_ratio(xa: list[float], xb: list[float]) -> float | None:
    """Geometric-mean ratio A/B; 0 or inf when one side is all zeros against all positive."""
    if not xa or not xb:
        return None
    a_pos, b_pos = min(xa) > 0, min(xb) > 0
    if a_pos and b_pos:
        return math.exp(_mean_var([math.log(x) for x in xa])[0]
                        - _mean_var([math.log(x) for x in xb])[0])
    if b_pos and max(xa) == 0:
        return 0.0
    if a_pos and max(xb) == 0:
        return math.inf
    return None


def _mean_var(xs: list[float]) -> tuple[float, float]:
    """Mean and sample variance; the variance of equal values is exactly 0, not rounding noise."""
    if min(xs) == max(xs):
        return xs[0], 0.0
    mean = math.fsum(xs) / len(xs)
    return mean, math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
