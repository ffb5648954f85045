"""Cells grouped by (scenario, app, connections), their per-request CPU cost, and each group's
summary of every metric.

Each cell's values are derived once, into a findings.CellRow, and read from there by every
summary and comparison: a thousand runs hold a hundred thousand cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from harness.analysis import stats
from harness.analysis.findings import CellRow, Failure, Group, Summary
from harness.model.results import CellCore, CellStatus, RunCore

Key = tuple[str, str, int]  # (scenario, app, connections)


class Measured(NamedTuple):
    """A cell with the run it belongs to (cells do not name their run) and its values."""

    run_id: str
    cell: CellCore
    row: CellRow


@dataclass(slots=True)
class Grouped:
    """Every cell of the runs by group; scenarios and apps in order of first appearance;
    `rows` every cell in run order."""

    cells: dict[Key, list[Measured]]
    scenarios: list[str]
    apps: list[str]
    rows: list[CellRow]
    _ok: dict[Key, list[CellRow]] = field(default_factory=dict)

    def levels(self, scenario: str) -> list[int]:
        return sorted({k[2] for k in self.cells if k[0] == scenario})

    def ok(self, key: Key) -> list[CellRow]:
        """The completed repeats' rows, in collection order (kept: every pair asks again)."""
        rows = self._ok.get(key)
        if rows is None:
            rows = self._ok[key] = [m.row for m in self.cells.get(key, ()) if m.row.ok]
        return rows

    def runs_in(self, *keys: Key) -> int:
        """How many runs measured these groups."""
        return len({m.run_id for key in keys for m in self.cells.get(key, ())})


def group(runs: Iterable[RunCore]) -> Grouped:
    cells: dict[Key, list[Measured]] = {}
    rows = []
    for run in runs:
        for c in run.cells:
            r = row(run.run_id, c)
            rows.append(r)
            key = (c.scenario, c.app, c.connections)
            members = cells.get(key)
            if members is None:
                members = cells[key] = []
            members.append(Measured(run.run_id, c, r))
    # Keys are in order of first appearance, so are their scenarios and apps.
    return Grouped(cells, list(dict.fromkeys(k[0] for k in cells)),
                   list(dict.fromkeys(k[1] for k in cells)), rows)


def row(run_id: str, c: CellCore) -> CellRow:
    ok = c.status is CellStatus.OK
    load, cpu = c.load, c.cpu
    latency = load.latency_us if load is not None else {}
    app_ms = db_ms = per_cpu_s = None
    if ok and cpu is not None and load is not None:
        if load.requests > 0:
            per = 1000.0 / load.requests
            app_ms = cpu.app_s * per
            db_ms = None if cpu.db_s is None else cpu.db_s * per
        spent = cpu.app_s + (cpu.db_s or 0.0)
        per_cpu_s = load.requests / spent if spent > 0 else None
    return CellRow(
        run_id, c.scenario, c.app, c.connections, c.repeat, c.status.value, c.reason, c.rps,
        c.error_rate, latency.get("p50"), latency.get("p90"), latency.get("p99"),
        None if load is None else load.errors.get("timeout", 0),
        None if load is None else load.requests, app_ms, db_ms, per_cpu_s,
        bool(c.restarted), c.stuck, ok)


def cpu_pairs(rows: Sequence[CellRow]) -> list[tuple[float, float | None]]:
    """(app, PostgreSQL) CPU-ms per request of each row that measured the app's."""
    return [(r.app_cpu_ms, r.db_cpu_ms) for r in rows if r.app_cpu_ms is not None]


def cpu_total(pairs: Sequence[tuple[float, float | None]], with_db: bool) -> list[float]:
    return [a + (d or 0.0) if with_db else a for a, d in pairs]


def total_cpu_ms(rows: Sequence[CellRow]) -> tuple[list[float], bool]:
    """CPU-ms per request of each cell that has it: app + PostgreSQL when every cell measured
    PostgreSQL's share (mixing the two would compare unlike costs), the app's alone otherwise."""
    pairs = cpu_pairs(rows)
    with_db = bool(pairs) and all(d is not None for _, d in pairs)
    return cpu_total(pairs, with_db), with_db


def summarize(key: Key, members: Sequence[Measured], sampled: Sequence[CellCore] = (),
              alpha: float = stats.ALPHA) -> Group:
    """describe() of every metric over the completed repeats; failed ones are counted and their
    reasons kept, never averaged in. `sampled`: the group's cells of the run loaded whole, whose
    samples say whether the load generator was saturated."""
    scenario, app, conns = key
    ok = [m for m in members if m.row.ok]
    rows = [m.row for m in ok]
    failures = tuple(Failure(m.run_id, scenario, app, conns, m.row.repeat, m.row.reason)
                     for m in members if not m.row.ok)
    sampled_ok = [c for c in sampled if c.ok]
    # Saturation: the driver's own judgement when it made one (Locust), else the sampler's.
    saturated = 0
    for c in sampled_ok:
        s = getattr(c, "samples", None)
        judged = c.load.generator_saturated if c.load is not None else None
        saturated += judged if judged is not None else bool(s is not None and s.wrk_saturated)
    loads = [m.cell.load for m in ok if m.cell.load is not None]
    timeouts = [r.timeouts for r in rows if r.timeouts is not None]

    def d(values: list[float | None]) -> Summary:
        return stats.describe([v for v in values if v is not None], alpha)

    failing: dict[str, None] = {}
    for m in ok:
        for t in m.cell.thresholds:
            if not t.ok:
                failing[t.expr] = None
    return Group(
        scenario=scenario, app=app, connections=conns, n_ok=len(ok), n_failed=len(failures),
        failures=failures,
        rps=d([r.rps for r in rows]),
        p50=d([r.p50_us for r in rows]),
        p90=d([r.p90_us for r in rows]),
        p99=d([r.p99_us for r in rows]),
        error_rate=d([r.error_rate for r in rows]),
        timeouts=sum(timeouts) if timeouts else None,
        app_cpu_ms=d([r.app_cpu_ms for r in rows]),
        db_cpu_ms=d([r.db_cpu_ms for r in rows]),
        requests_per_cpu_s=d([r.requests_per_cpu_s for r in rows]),
        failing_thresholds=tuple(failing),
        restarted=sum(r.restarted for r in rows),
        stuck=sum(m.row.stuck for m in members),
        saturated=saturated,
        sampled=len(sampled_ok),
        driver=loads[0].driver if loads else "wrk",
        open_loop=any(load.open_loop for load in loads),
        rate=next((load.rate for load in loads if load.rate is not None), None),
    )
