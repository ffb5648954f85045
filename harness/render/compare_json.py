"""The regression check as JSON (`harness compare --json`), in the layout it always had."""

from __future__ import annotations

from typing import Any

from harness.analysis.compare import RegressionCheck
from harness.render.json_export import dumps, plain

METRICS = ("rps", "p99", "error_rate")


def data(result: RegressionCheck) -> dict[str, Any]:
    groups = []
    for g in result.groups:
        row = {"scenario": g.scenario, "app": g.app, "connections": g.connections,
               "status": g.status.value}
        if g.rps is not None:  # new and missing groups have no measurements to compare
            row.update({m: plain(getattr(g, m)) for m in METRICS})
            row["warnings"] = plain(g.warnings)
        groups.append(row)
    out = {
        "current_run": result.current_run, "baseline_runs": list(result.baseline_runs),
        "min_effect": result.min_effect, "alpha": result.alpha,
        "min_error_delta": result.min_error_delta,
        "environment_mismatch": list(result.environment_mismatch),
        "environment_diff": {d.key: {"baseline": plain(d.baseline), "current": d.current}
                             for d in result.environment_diff},
        "config_mismatch": list(result.config_mismatch),
        "counts": {s.value: n for s, n in result.counts.items()},
        "groups": groups,
    }
    if result.confirmation_run:
        out["confirmation_run"] = result.confirmation_run
    return out


def render(result: RegressionCheck) -> str:
    return dumps(data(result))
