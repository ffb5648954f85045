"""Statistics over repeats: one group's summary, and the comparison of two groups.

Functions take plain lists of floats and return plain dicts, so results stay JSON-serializable.
Warnings are data (short codes in a "warnings" list); the renderers decide how to show them.
"""

import math
import statistics

from scipy import stats as sps

ALPHA = 0.05  # 95% confidence intervals, and the significance level of comparisons
MIN_EFFECT = 0.05  # a ratio within 5% of 1 is never called a difference, however significant
NOISY_CV = 0.10  # pyperf's rule: stdev >= 10% of the mean makes a result unreliable
FEW_REPEATS = 3

# Metrics summarized per group and how to read each from a cell. Latencies stay in µs (wrk's unit).
METRICS = {
    "rps": lambda c: c.get("rps"),
    "p50": lambda c: _latency(c, "p50"),
    "p90": lambda c: _latency(c, "p90"),
    "p99": lambda c: _latency(c, "p99"),
    "error_rate": lambda c: c.get("error_rate"),
}


def describe(values):
    """n, median, mean, 95% CI, coefficient of variation and warnings for one group of repeats.

    The CI is distribution-free for n >= 6: order statistics around the median. Below that no
    pair of order statistics covers the median with 95% confidence (with n = 5 even min..max
    covers it only 1 - 2/2^5 = 94% of the time), so for 2..5 repeats the CI is Student's t on the
    logarithms (around the geometric mean) when every value is positive, which assumes roughly
    log-normal repeats, and on the values otherwise. n = 1 has no CI at all.
    """
    xs = [float(v) for v in values]
    n = len(xs)
    out = {"n": n, "median": None, "mean": None, "ci_low": None, "ci_high": None,
           "ci_method": None, "cv": None, "warnings": []}
    if n == 0:
        out["warnings"].append("no_data")
        return out
    mean = statistics.fmean(xs)
    out["median"] = statistics.median(xs)
    out["mean"] = mean
    if n >= 2:
        sd = statistics.stdev(xs)
        out["cv"] = sd / mean if mean > 0 else None
        if n >= 6:
            out["ci_low"], out["ci_high"] = _median_ci(xs)
            out["ci_method"] = "order"
        elif min(xs) > 0:
            # Throughput and latency are positive and skewed: a t interval on the logs stays
            # positive (a plain one gives "-720 req/s" at n = 2).
            logs = [math.log(x) for x in xs]
            half = sps.t.ppf(1 - ALPHA / 2, n - 1) * statistics.stdev(logs) / math.sqrt(n)
            centre = statistics.fmean(logs)
            out["ci_low"], out["ci_high"] = math.exp(centre - half), math.exp(centre + half)
            out["ci_method"] = "t-log"
        else:
            half = sps.t.ppf(1 - ALPHA / 2, n - 1) * sd / math.sqrt(n)
            out["ci_low"], out["ci_high"] = mean - half, mean + half
            out["ci_method"] = "t"
    if out["cv"] is not None and out["cv"] >= NOISY_CV:
        out["warnings"].append("noisy")
    if n < FEW_REPEATS:
        out["warnings"].append("few_repeats")
    return out


def _median_ci(xs):
    """Order-statistic CI of the median: [x(k), x(n+1-k)], k largest with P(B < k) <= alpha/2."""
    xs = sorted(xs)
    n = len(xs)
    k = 0
    while sps.binom.cdf(k, n, 0.5) <= ALPHA / 2:  # P(B <= k) = P(B < k + 1)
        k += 1
    k = max(k, 1)
    return xs[k - 1], xs[n - k]


def welch(a, b):
    """Welch's t on raw values: difference of means a - b, its 95% CI and two-sided p.

    Returns None when either side has fewer than 2 values (no variance to test with).
    """
    a = [float(v) for v in a]
    b = [float(v) for v in b]
    if len(a) < 2 or len(b) < 2:
        return None
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = ma - mb
    se = math.sqrt(va + vb)
    if se == 0:
        # Constant repeats on both sides: the difference, if any, is exact.
        return {"diff": diff, "ci_low": diff, "ci_high": diff, "p_value": 0.0 if diff else 1.0}
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t_crit = sps.t.ppf(1 - ALPHA / 2, df)
    p = 2 * sps.t.sf(abs(diff) / se, df)
    return {"diff": diff, "ci_low": diff - t_crit * se, "ci_high": diff + t_crit * se,
            "p_value": float(p)}


def compare(a_samples, b_samples, min_effect=MIN_EFFECT, alpha=ALPHA, higher_is_better=True):
    """How a compares to b: geometric ratio a/b, its 95% CI (Welch's t on logs), p and a verdict.

    Logs make the test about ratios, which is how throughput differences are read, and tame the
    right skew of latencies. The verdict is "faster" or "slower" only when the difference is both
    significant (p < alpha) and large enough (|ratio - 1| >= min_effect). Otherwise it is
    "inconclusive" when the data cannot rule out a difference of min_effect either way (one
    repeat, or a CI reaching past both 1 - min_effect and 1 + min_effect), and "no detectable
    difference" when it can. With higher_is_better=False (latencies) a ratio above 1 is slower.
    """
    out = {"ratio": None, "ci_low": None, "ci_high": None, "p_value": None,
           "verdict": "inconclusive", "n_a": len(a_samples), "n_b": len(b_samples),
           "warnings": []}
    if not a_samples or not b_samples:
        out["warnings"].append("no_data")
        return out
    if min(a_samples) <= 0 or min(b_samples) <= 0:
        out["warnings"].append("non_positive")  # no log, no ratio
        return out
    la = [math.log(v) for v in a_samples]
    lb = [math.log(v) for v in b_samples]
    out["ratio"] = math.exp(statistics.fmean(la) - statistics.fmean(lb))
    test = welch(la, lb)
    if test is None:
        # One repeat says nothing about its own noise: never a winner from n = 1.
        out["warnings"].append("single_sample")
        return out
    out["ci_low"], out["ci_high"] = math.exp(test["ci_low"]), math.exp(test["ci_high"])
    out["p_value"] = test["p_value"]
    if test["p_value"] < alpha and abs(out["ratio"] - 1) >= min_effect:
        better = (out["ratio"] > 1) == higher_is_better
        out["verdict"] = "faster" if better else "slower"
    elif out["ci_low"] >= 1 - min_effect or out["ci_high"] <= 1 + min_effect:
        out["verdict"] = "no detectable difference"
    return out


def group_key(cell):
    return (cell.get("scenario"), cell.get("app"), cell.get("connections"))


def groups(cells):
    """Cells grouped by (scenario, app, connections): scenarios and apps in order of first
    appearance (the run's order), connection levels ascending."""
    scen_order, app_order, out = {}, {}, {}
    for c in cells:
        scen_order.setdefault(c.get("scenario"), len(scen_order))
        app_order.setdefault(c.get("app"), len(app_order))
        out.setdefault(group_key(c), []).append(c)
    order = sorted(out, key=lambda k: (scen_order[k[0]], app_order[k[1]], k[2] or 0))
    return {k: out[k] for k in order}


def summarize(cells):
    """Per (scenario, app, connections): describe() of each metric over the cells that completed.

    Failed cells are counted and their reasons kept, never averaged in. Returns a list of dicts:
    {"scenario", "app", "connections", "n_ok", "n_failed", "failures": [{"repeat", "reason"}],
     "timeouts": total wrk timeouts or None, "rps"|"p50"|"p90"|"p99"|"error_rate": describe(...)}.
    """
    out = []
    for (scenario, app, conns), group in groups(cells).items():
        ok = [c for c in group if c.get("status", "ok") == "ok"]
        failed = [c for c in group if c.get("status", "ok") != "ok"]
        row = {"scenario": scenario, "app": app, "connections": conns,
               "n_ok": len(ok), "n_failed": len(failed),
               "failures": [{"repeat": c.get("repeat"), "reason": c.get("reason")} for c in failed],
               "timeouts": _timeouts(ok)}
        for name, read in METRICS.items():
            row[name] = describe([v for v in map(read, ok) if v is not None])
        out.append(row)
    return out


def _latency(cell, key):
    return ((cell.get("wrk") or {}).get("latency_us") or {}).get(key)


def _timeouts(cells):
    """wrk timeouts summed over the cells; None when none of them recorded wrk's error counts."""
    counts = [(c.get("wrk") or {}).get("errors") for c in cells]
    counts = [e.get("timeout") or 0 for e in counts if isinstance(e, dict)]
    return sum(counts) if counts else None
