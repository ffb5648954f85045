import pytest

from harness.config import thresholds
from harness.model.results import Cell, CellStatus, LoadResult


def cell(status="ok", **latency):
    lat = {"min": 100, "mean": 2000.0, "stdev": 10.0, "max": 90000, "p50": 1500, "p75": 2000,
           "p90": 3000, "p99": 41200, "p99.9": 80000, **latency}
    load = LoadResult(requests=16000, duration_us=10_000_000, bytes=1, latency_us=lat,
                      errors={"connect": 0, "read": 0, "write": 0, "status": 3, "timeout": 2},
                      threads=2, connections=12, duration_s=10, timeout_s=5)
    return Cell(scenario="s", app="a", connections=12, repeat=0, status=CellStatus(status),
                rps=1600.0, error_rate=0.005, load=load)


def evaluate(ts, c):
    return thresholds.evaluate(ts, c.ok, c.metric)


@pytest.mark.parametrize(("expr", "metric", "op", "limit", "unit"), [
    ("p99 < 500ms", "p99", "<", 500_000, "ms"),
    ("p99.9<=2s", "p99.9", "<=", 2_000_000, "s"),
    ("mean_latency < 800us", "mean_latency", "<", 800, "us"),
    ("error_rate < 1%", "error_rate", "<", 0.01, "%"),
    ("error_rate <= 0.05", "error_rate", "<=", 0.05, ""),
    ("rps > 100", "rps", ">", 100, ""),
    ("timeouts >= 0", "timeouts", ">=", 0, ""),
])
def test_parse(expr, metric, op, limit, unit):
    t = thresholds.parse(expr)
    assert (t.metric, t.op, t.unit) == (metric, op, unit)
    assert t.limit == pytest.approx(limit)


@pytest.mark.parametrize(("expr", "message"), [
    ("p99 == 5ms", "must be '<metric> <op> <value>'"),
    ("p99 < 500", "p99 needs a unit: us, ms or s"),
    ("rps > 100ms", "rps takes a plain number"),
    ("error_rate < 5ms", "error_rate takes a percentage like 1% or a fraction like 0.01"),
    ("error_rate < 5", "error_rate must be at most 100% or a fraction at most 1"),
    ("error_rate < 101%", "error_rate must be at most 100%"),
    ("latency < 5ms", "unknown metric 'latency'"),
    ("p99 < -5ms", "must be '<metric> <op> <value>'"),
    (5, "must be '<metric> <op> <value>'"),
])
def test_parse_errors(expr, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("%", "%")):
        thresholds.parse(expr)


def test_evaluate_reports_values_in_the_expression_unit():
    ts = [thresholds.parse(e) for e in
          ("p99 < 500ms", "error_rate < 1%", "rps > 2000", "timeouts <= 1", "mean_latency < 2ms")]
    verdicts = evaluate(ts, cell())
    assert verdicts[0] == {"expr": "p99 < 500ms", "metric": "p99", "value": pytest.approx(41.2),
                           "unit": "ms", "ok": True}
    assert verdicts[1]["value"] == pytest.approx(0.5) and verdicts[1]["ok"]
    assert verdicts[2]["value"] == 1600.0 and not verdicts[2]["ok"]
    assert verdicts[3]["value"] == 2 and not verdicts[3]["ok"]
    assert verdicts[4]["value"] == pytest.approx(2.0) and not verdicts[4]["ok"]  # not < 2ms


def test_failed_cell_fails_every_threshold():
    ts = [thresholds.parse("rps >= 0"), thresholds.parse("p99 < 1s")]
    failed = Cell(scenario="s", app="a", connections=1, repeat=0, status=CellStatus.FAILED,
                  reason="the app exited")
    assert [v["ok"] for v in evaluate(ts, failed)] == [False, False]
    assert [v["value"] for v in evaluate(ts, failed)] == [None, None]
    partial = cell(status="failed")
    assert [v["ok"] for v in evaluate(ts, partial)] == [False, False]


def test_missing_latency_fails():
    # No response within the timeout: wrk has no latency, so no latency threshold can pass.
    verdict = evaluate([thresholds.parse("p99 < 1s")], cell(p99=None))
    assert verdict[0]["ok"] is False and verdict[0]["value"] is None
