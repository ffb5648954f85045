"""Cells grouped by (scenario, app, connections), their per-request CPU cost, and each group's
summary of every metric.

Each cell's values are derived once, into a findings.CellRow, and read from there by every
summary and comparison: a thousand runs hold a hundred thousand cells. A run read through its
digest (store.load_cores) gives its cells as the digest's rows (model.digest.CellDigest: what
the analysis reads of a cell), a run loaded whole its model cells; both are a `Cell` here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from harness.analysis import stats
from harness.analysis.findings import CellRow, Failure, Group, Summary
from harness.model import digest
from harness.model.digest import CellDigest
from harness.model.results import CellCore, CellStatus, RunCore

Key = tuple[str, str, int]  # (scenario, app, connections)
Cell = CellCore | CellDigest  # a cell as the analysis reads it


class Measured(NamedTuple):
    """A cell with the run it belongs to (cells do not name their run) and its values."""

    run_id: str
    cell: Cell
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
    _runs: dict[Key, set[str]] = field(default_factory=dict)

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
        return len(set().union(*(self._runs_of(key) for key in keys)))

    def _runs_of(self, key: Key) -> set[str]:
        found = self._runs.get(key)
        if found is None:
            found = self._runs[key] = {m.run_id for m in self.cells.get(key, ())}
        return found


def group(runs: Iterable[RunCore]) -> Grouped:
    cells: dict[Key, list[Measured]] = {}
    rows: list[CellRow] = []
    make = Measured._make  # tuple.__new__ without the keyword handling: 10^5 of them
    for run in runs:
        run_id = run.run_id
        found = digest.facts(run.cells)
        made = run_rows(run_id, found)
        rows += made
        for c, r in zip(found, made, strict=True):
            key = (c.scenario, c.app, c.connections)
            members = cells.get(key)
            if members is None:
                members = cells[key] = []
            members.append(make((run_id, c, r)))
    # Keys are in order of first appearance, so are their scenarios and apps.
    return Grouped(cells, list(dict.fromkeys(k[0] for k in cells)),
                   list(dict.fromkeys(k[1] for k in cells)), rows)


def run_rows(run_id: str, cells: Sequence[Cell]) -> list[CellRow]:
    """Each cell's row: its values, and its CPU per request (app, PostgreSQL) and requests per
    CPU-second when the app's CPU time was measured. Column by column: a run read through its
    digest has a hundred cells, a thousand runs a hundred thousand."""
    if not cells:
        return []
    facts = [c if isinstance(c, CellDigest) else digest.of_cell(c) for c in cells]
    (scenario, app, connections, repeat, status, reason, _, rps, error_rate, p50, p90, p99,
     timeouts, requests, _, _, _, app_s, db_s, _, _, restarted, stuck) = zip(*facts, strict=True)
    ok = [s is CellStatus.OK for s in status]
    app_ms: list[float | None] = []
    db_ms: list[float | None] = []
    per_cpu_s: list[float | None] = []
    for measured, n, app_cpu, db_cpu in zip(ok, requests, app_s, db_s, strict=True):
        a = d = per = None
        if measured and app_cpu is not None and n is not None:
            if n > 0:
                a = app_cpu * (1000.0 / n)
                d = None if db_cpu is None else db_cpu * (1000.0 / n)
            spent = app_cpu + (db_cpu or 0.0)
            per = n / spent if spent > 0 else None
        app_ms.append(a)
        db_ms.append(d)
        per_cpu_s.append(per)
    text = ["ok" if o else s.value for o, s in zip(ok, status, strict=True)]
    return list(map(_ROW, zip(
        itertools.repeat(run_id, len(facts)), scenario, app, connections, repeat, text, reason,
        rps, error_rate, p50, p90, p99, timeouts, requests, app_ms, db_ms, per_cpu_s,
        map(bool, restarted), stuck, ok, strict=True)))


_ROW = CellRow._make


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
    failed = [m for m in members if not m.row.ok]
    failures = tuple(Failure(m.run_id, scenario, app, conns, m.row.repeat, m.row.reason)
                     for m in failed)
    sampled_ok = [c for c in sampled if c.ok]
    # Saturation: the driver's own judgement when it made one (Locust), else the sampler's.
    saturated = 0
    for c in sampled_ok:
        s = getattr(c, "samples", None)
        judged = c.load.generator_saturated if c.load is not None else None
        saturated += judged if judged is not None else bool(s is not None and s.wrk_saturated)
    # One pass over the cells: the load generator of the repeats that have a load result, and
    # the thresholds failed by any of them.
    driver = rate = None
    open_loop = False
    failing: dict[str, None] = {}
    for m in ok:
        f = m.cell if isinstance(m.cell, CellDigest) else digest.of_cell(m.cell)
        if f.driver is not None:
            driver = f.driver if driver is None else driver
            open_loop = open_loop or f.open_loop
            rate = f.rate if rate is None else rate
        for t in f.thresholds:
            if not t.ok:
                failing[t.expr] = None
    # The rows' columns, transposed once (in C) rather than read row by row for each metric.
    columns = dict(zip(CellRow._fields, zip(*rows, strict=True))) if rows else {}

    def measured(name: str) -> list:
        values = columns.get(name, ())
        return [v for v in values if v is not None] if None in values else list(values)

    def d(name: str) -> Summary:
        return stats.describe(measured(name), alpha)

    timeouts = measured("timeouts")
    return Group(
        scenario=scenario, app=app, connections=conns, n_ok=len(ok), n_failed=len(failures),
        failures=failures,
        rps=d("rps"), p50=d("p50_us"), p90=d("p90_us"), p99=d("p99_us"),
        error_rate=d("error_rate"),
        timeouts=sum(timeouts) if timeouts else None,
        app_cpu_ms=d("app_cpu_ms"), db_cpu_ms=d("db_cpu_ms"),
        requests_per_cpu_s=d("requests_per_cpu_s"),
        failing_thresholds=tuple(failing),
        restarted=sum(columns.get("restarted", ())),
        stuck=sum(columns.get("stuck", ())) + sum(m.row.stuck for m in failed),
        saturated=saturated,
        sampled=len(sampled_ok),
        driver="wrk" if driver is None else driver,
        open_loop=open_loop,
        rate=rate,
    )
