"""cells.csv (one row per cell) and groups.csv (one row per scenario × app × connections), for
spreadsheets and pandas. Column names are stable and carry their unit; an empty field is a value
that was not measured. Numbers are written in full precision, never formatted for reading.

Over several runs groups.csv pools them all, as the report does, and cells.csv lists the cells
of the newest run alone (the run whose evidence the report shows): a history of a thousand runs
would otherwise make a hundred thousand rows (16 MB) at every report. Every cell of every run
stays in the results files; `harness report RUN.json` writes one run's cells.csv.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from harness.analysis.findings import (
    CellRow,
    Findings,
    Group,
    Metric,
    ScenarioFindings,
    Summary,
)
from harness.analysis.rows import CellRows

CELLS = "cells.csv"
GROUPS = "groups.csv"

CELL_COLUMNS = ("run_id", "scenario", "app", "connections", "repeat", "status", "reason",
                "rps", "error_rate", "p50_ms", "p90_ms", "p99_ms", "timeouts", "requests",
                "app_cpu_ms_per_request", "db_cpu_ms_per_request", "requests_per_cpu_s",
                "restarted", "stuck")
# metric column prefix -> (Group field, scale from findings units)
SUMMARIES = (("rps", "rps", 1.0), ("p50_ms", "p50", 1e-3), ("p90_ms", "p90", 1e-3),
             ("p99_ms", "p99", 1e-3), ("error_rate", "error_rate", 1.0),
             ("app_cpu_ms_per_request", "app_cpu_ms", 1.0),
             ("db_cpu_ms_per_request", "db_cpu_ms", 1.0),
             ("requests_per_cpu_s", "requests_per_cpu_s", 1.0))
GROUP_COLUMNS = (
    "scenario", "app", "connections", "n_ok", "n_failed", "timeouts",
    *(f"{p}_{s}" for p, _, _ in SUMMARIES for s in ("median", "ci_low", "ci_high", "cv")),
    "baseline", "rps_vs_baseline", "rps_vs_baseline_ci_low", "rps_vs_baseline_ci_high",
    "rps_verdict", "cpu_vs_baseline", "cpu_vs_baseline_ci_low", "cpu_vs_baseline_ci_high",
    "cpu_verdict")


def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)  # the csv module writes None as an empty field
    return buf.getvalue()


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1000


def _summary(d: Summary, scale: float) -> list[float | None]:
    def s(x: float | None) -> float | None:
        return None if x is None else x * scale
    return [s(d.median), s(d.ci_low), s(d.ci_high), d.cv]


def _versus(s: ScenarioFindings, g: Group, metric: Metric) -> list[Any]:
    c = s.comparison(g.app, s.baseline, g.connections, metric)
    if c is None:
        return [None] * 4
    return [c.ratio, c.ci_low, c.ci_high, None if c.verdict is None else c.verdict.value]


def shown_cells(findings: Findings) -> Iterable[CellRow]:
    """Every cell of a single run; over several, the newest run's."""
    if len(findings.runs) <= 1:
        return findings.cells
    newest = findings.detail_run or findings.runs[-1].run_id
    if isinstance(findings.cells, CellRows):
        return findings.cells.of_run(newest)  # without making every other run's rows
    return (c for c in findings.cells if c.run_id == newest)


def render(findings: Findings) -> dict[str, str]:
    cells = ((c.run_id, c.scenario, c.app, c.connections, c.repeat, c.status, c.reason, c.rps,
              c.error_rate, _ms(c.p50_us), _ms(c.p90_us), _ms(c.p99_us), c.timeouts,
              c.requests, c.app_cpu_ms, c.db_cpu_ms, c.requests_per_cpu_s, int(c.restarted),
              int(c.stuck)) for c in shown_cells(findings))
    groups = []
    for s in findings.scenarios:
        for g in s.groups:
            row: list[Any] = [g.scenario, g.app, g.connections, g.n_ok, g.n_failed, g.timeouts]
            for _, name, scale in SUMMARIES:
                row += _summary(getattr(g, name), scale)
            row.append(s.baseline)
            row += _versus(s, g, Metric.THROUGHPUT) + _versus(s, g, Metric.CPU)
            groups.append(row)
    return {CELLS: _table(CELL_COLUMNS, cells), GROUPS: _table(GROUP_COLUMNS, groups)}
