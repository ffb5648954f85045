"""Cells grouped by (scenario, app, connections), their per-request CPU cost, and each group's
summary of every metric."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.analysis import stats
from harness.analysis.findings import CellRow, Failure, Group, Summary
from harness.model.results import CellCore, RunCore

Key = tuple[str, str, int]  # (scenario, app, connections)


@dataclass(frozen=True, slots=True)
class Measured:
    """A cell with the run it belongs to (cells do not name their run)."""

    run_id: str
    cell: CellCore


@dataclass(slots=True)
class Grouped:
    """Every cell of the runs by group; scenarios and apps in order of first appearance."""

    cells: dict[Key, list[Measured]]
    scenarios: list[str]
    apps: list[str]

    def levels(self, scenario: str) -> list[int]:
        return sorted({k[2] for k in self.cells if k[0] == scenario})

    def ok(self, key: Key) -> list[CellCore]:
        return [m.cell for m in self.cells.get(key, ()) if m.cell.ok]


def group(runs: Iterable[RunCore]) -> Grouped:
    cells: dict[Key, list[Measured]] = {}
    scenarios: dict[str, None] = {}
    apps: dict[str, None] = {}
    for run in runs:
        for c in run.cells:
            scenarios.setdefault(c.scenario)
            apps.setdefault(c.app)
            cells.setdefault((c.scenario, c.app, c.connections), []).append(
                Measured(run.run_id, c))
    return Grouped(cells, list(scenarios), list(apps))


def cpu_ms(cell: CellCore) -> tuple[float | None, float | None]:
    """The app's and PostgreSQL's CPU-ms per request of one completed cell."""
    if cell.cpu is None or cell.load is None or cell.load.requests <= 0:
        return None, None
    per = 1000.0 / cell.load.requests
    db = None if cell.cpu.db_s is None else cell.cpu.db_s * per
    return cell.cpu.app_s * per, db


def cpu_pairs(cells: Sequence[CellCore]) -> list[tuple[float, float | None]]:
    """(app, PostgreSQL) CPU-ms per request of each cell that measured the app's."""
    out = []
    for c in cells:
        app, db = cpu_ms(c)
        if app is not None:
            out.append((app, db))
    return out


def cpu_total(pairs: Sequence[tuple[float, float | None]], with_db: bool) -> list[float]:
    return [a + (d or 0.0) if with_db else a for a, d in pairs]


def total_cpu_ms(cells: Sequence[CellCore]) -> tuple[list[float], bool]:
    """CPU-ms per request of each cell that has it: app + PostgreSQL when every cell measured
    PostgreSQL's share (mixing the two would compare unlike costs), the app's alone otherwise."""
    pairs = cpu_pairs(cells)
    with_db = bool(pairs) and all(d is not None for _, d in pairs)
    return cpu_total(pairs, with_db), with_db


def requests_per_cpu_s(cell: CellCore) -> float | None:
    if cell.cpu is None or cell.load is None:
        return None
    spent = cell.cpu.app_s + (cell.cpu.db_s or 0.0)
    return cell.load.requests / spent if spent > 0 else None


def _values(cells: Sequence[CellCore], read) -> list[float]:
    return [v for v in map(read, cells) if v is not None]


def summarize(key: Key, members: Sequence[Measured], sampled: Sequence[CellCore] = (),
              alpha: float = stats.ALPHA) -> Group:
    """describe() of every metric over the completed repeats; failed ones are counted and their
    reasons kept, never averaged in. `sampled`: the group's cells of the run loaded whole, whose
    samples say whether the load generator was saturated."""
    scenario, app, conns = key
    ok = [m.cell for m in members if m.cell.ok]
    failures = tuple(Failure(m.run_id, scenario, app, conns, m.cell.repeat, m.cell.reason)
                     for m in members if not m.cell.ok)
    cpu = [cpu_ms(c) for c in ok]
    samples = [getattr(c, "samples", None) for c in sampled if c.ok]
    # Saturation: the driver's own judgement when it made one (Locust), else the sampler's.
    saturated = [c.load.generator_saturated if c.load is not None
                 and c.load.generator_saturated is not None
                 else bool(s is not None and s.wrk_saturated)
                 for c, s in zip([c for c in sampled if c.ok], samples, strict=True)]
    loads = [c.load for c in ok if c.load is not None]
    timeouts = [c.timeouts for c in ok if c.load is not None]

    def d(values: list[float]) -> Summary:
        return stats.describe(values, alpha)

    return Group(
        scenario=scenario, app=app, connections=conns, n_ok=len(ok), n_failed=len(failures),
        failures=failures,
        rps=d(_values(ok, lambda c: c.rps)),
        p50=d(_values(ok, lambda c: c.latency("p50"))),
        p90=d(_values(ok, lambda c: c.latency("p90"))),
        p99=d(_values(ok, lambda c: c.latency("p99"))),
        error_rate=d(_values(ok, lambda c: c.error_rate)),
        timeouts=sum(t or 0 for t in timeouts) if timeouts else None,
        app_cpu_ms=d([a for a, _ in cpu if a is not None]),
        db_cpu_ms=d([b for _, b in cpu if b is not None]),
        requests_per_cpu_s=d(_values(ok, requests_per_cpu_s)),
        failing_thresholds=tuple(dict.fromkeys(t.expr for c in ok for t in c.thresholds
                                               if not t.ok)),
        restarted=sum(bool(c.restarted) for c in ok),
        stuck=sum(m.cell.stuck for m in members),
        saturated=sum(saturated),
        sampled=len(samples),
        driver=loads[0].driver if loads else "wrk",
        open_loop=any(load.open_loop for load in loads),
        rate=next((load.rate for load in loads if load.rate is not None), None),
    )


def row(run_id: str, c: CellCore) -> CellRow:
    app_ms, db_ms = cpu_ms(c) if c.ok else (None, None)
    return CellRow(
        run_id=run_id, scenario=c.scenario, app=c.app, connections=c.connections,
        repeat=c.repeat, status=c.status.value, reason=c.reason, rps=c.rps,
        error_rate=c.error_rate, p50_us=c.latency("p50"), p90_us=c.latency("p90"),
        p99_us=c.latency("p99"), timeouts=c.timeouts,
        requests=None if c.load is None else c.load.requests,
        app_cpu_ms=app_ms, db_cpu_ms=db_ms,
        requests_per_cpu_s=requests_per_cpu_s(c) if c.ok else None,
        restarted=bool(c.restarted), stuck=c.stuck)
