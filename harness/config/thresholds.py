"""Scenario thresholds: the `<metric> <op> <value>` grammar and its verdict on one result cell."""

import difflib
import operator
import re
from dataclasses import dataclass

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
LATENCY_METRICS = ("p50", "p75", "p90", "p99", "p99.9", "mean_latency")
METRICS = ("error_rate", "rps", *LATENCY_METRICS, "timeouts")
# Latencies are stored in microseconds (wrk's unit); a threshold may be written in any of these.
LATENCY_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}

_EXPR = re.compile(r"^\s*(\S+?)\s*(<=|>=|<|>)\s*(\d+(?:\.\d*)?|\.\d+)\s*(%|us|ms|s)?\s*$")
_GRAMMAR = "must be '<metric> <op> <value>' like 'p99 < 500ms' or 'error_rate < 1%'"


@dataclass(frozen=True)
class Threshold:
    expr: str  # as written in the scenario file
    metric: str  # one of METRICS
    op: str  # one of OPS
    limit: float  # in the stored unit: µs for latencies, a fraction for error_rate
    unit: str  # the unit written ("ms", "%", "" ...): evaluate() reports values in it

    @property
    def scale(self):
        """Stored units per written unit."""
        return _scale(self.unit)


def _scale(unit):
    return 0.01 if unit == "%" else LATENCY_UNITS.get(unit, 1.0)


def parse(expr):
    """Parse one threshold expression; ValueError says what is allowed."""
    m = _EXPR.match(expr) if isinstance(expr, str) else None
    if not m:
        raise ValueError(f"{_GRAMMAR} (got {expr!r})")
    metric, op, number, unit = m.group(1), m.group(2), float(m.group(3)), m.group(4) or ""
    if metric not in METRICS:
        close = difflib.get_close_matches(metric, METRICS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(f"unknown metric '{metric}'{hint}; metrics: {', '.join(METRICS)}")
    if metric in LATENCY_METRICS:
        if unit not in LATENCY_UNITS:
            raise ValueError(f"{metric} needs a unit: us, ms or s, like '{metric} < 500ms' "
                             f"(got {expr!r})")
    elif metric == "error_rate":
        if unit not in ("", "%"):
            raise ValueError(f"error_rate takes a percentage like 1% or a fraction like 0.01 "
                             f"(got {expr!r})")
        if number > (100 if unit else 1):
            raise ValueError(f"error_rate must be at most 100% or a fraction at most 1 "
                             f"(got {expr!r})")
    elif unit:
        raise ValueError(f"{metric} takes a plain number, like '{metric} > 100' (got {expr!r})")
    return Threshold(expr.strip(), metric, op, number * _scale(unit), unit)


def evaluate(thresholds, ok, metric):
    """One verdict per threshold: {"expr", "metric", "value", "unit", "ok"}.

    `metric(name)` reads a measured value in stored units (None if absent); `value` is reported
    in the unit the threshold was written in (p99 < 500ms reports ms), so it reads next to the
    expression. A failed cell (ok False) fails every threshold: it measured nothing trustworthy.
    """
    verdicts = []
    for t in thresholds:
        raw = metric(t.metric) if ok else None
        passed = ok and raw is not None and OPS[t.op](raw, t.limit)
        value = None if raw is None else raw / t.scale
        verdicts.append({"expr": t.expr, "metric": t.metric, "value": value, "unit": t.unit,
                         "ok": passed})
    return verdicts
