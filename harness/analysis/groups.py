"""Cells grouped by (scenario, app, connections), their per-request CPU cost, and each group's
summary of every metric.

Each cell's values are derived once, into a findings.CellRow, and each group's rows once into a
pool.Pool (its columns), read by every summary and comparison: a thousand runs hold a hundred
thousand cells. A run read through its digest (store.load_cores) gives its cells as the
digest's rows (model.digest.CellDigest: what the analysis reads of a cell), a run loaded whole
its model cells; both are a `Cell` here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import compress
from operator import is_, is_not, itemgetter

from harness.analysis import stats
from harness.analysis.findings import CellRow, Failure, Group, Summary
from harness.analysis.pool import Pool
from harness.model import digest
from harness.model.digest import CellDigest
from harness.model.results import CellCore, CellStatus, RunCore

Key = tuple[str, str, int]  # (scenario, app, connections)
Cell = CellCore | CellDigest  # a cell as the analysis reads it


@dataclass(slots=True)
class Grouped:
    """Every cell of the runs by group, in collection order (runs oldest first, then rounds):
    `cells` as given (a run's model cells, or its digest's rows) and `rows`, their CellRows, side
    by side; scenarios and apps in order of first appearance; `every` every cell's row in run
    order."""

    cells: dict[Key, list[Cell]]
    rows: dict[Key, list[CellRow]]
    scenarios: list[str]
    apps: list[str]
    every: list[CellRow]
    _ok: dict[Key, list[CellRow]] = field(default_factory=dict)
    _pools: dict[Key, Pool] = field(default_factory=dict)

    def levels(self, scenario: str) -> list[int]:
        return sorted({k[2] for k in self.cells if k[0] == scenario})

    def ok(self, key: Key) -> list[CellRow]:
        """The completed repeats' rows, in collection order (kept: every pair asks again)."""
        rows = self._ok.get(key)
        if rows is None:
            rows = self._ok[key] = [r for r in self.rows.get(key, ()) if r.ok]
        return rows

    def pool(self, key: Key) -> Pool:
        """The group's repeats column by column, made on first use (the key must be present)."""
        found = self._pools.get(key)
        if found is None:
            found = self._pools[key] = Pool(self.rows[key], self.cells[key])
        return found

    def runs_in(self, *keys: Key) -> int:
        """How many runs measured these groups."""
        return len(frozenset().union(*(self.pool(key).runs for key in keys
                                       if key in self.cells)))


def group(runs: Iterable[RunCore]) -> Grouped:
    cells: dict[Key, list[Cell]] = {}
    rows: dict[Key, list[CellRow]] = {}
    every: list[CellRow] = []
    for run in runs:
        found = digest.facts(run.cells)
        made = run_rows(run.run_id, digest.rows(run.cells))
        every += made
        for key, c, r in zip(map(_KEY, made), found, made, strict=True):
            group_rows = rows.get(key)
            if group_rows is None:
                group_rows = rows[key] = []
                cells[key] = []
            group_rows.append(r)
            cells[key].append(c)
    # Keys are in order of first appearance, so are their scenarios and apps.
    return Grouped(cells, rows, list(dict.fromkeys(k[0] for k in cells)),
                   list(dict.fromkeys(k[1] for k in cells)), every)


_KEY = itemgetter(1, 2, 3)  # a CellRow's (scenario, app, connections)


def run_rows(run_id: str, facts: Sequence[CellDigest]) -> list[CellRow]:
    """Each cell's row: its values, and its CPU per request (app, PostgreSQL) and requests per
    CPU-second when the app's CPU time was measured. Column by column: a run read through its
    digest has a hundred cells, a thousand runs a hundred thousand."""
    if not facts:
        return []
    f = dict(zip(CellDigest._fields, zip(*facts, strict=True), strict=True))
    ok = list(map(is_, f["status"], itertools.repeat(CellStatus.OK)))
    app_ms: list[float | None] = []
    db_ms: list[float | None] = []
    per_cpu_s: list[float | None] = []
    for measured, n, app_cpu, db_cpu in zip(ok, f["requests"], f["app_cpu_s"], f["db_cpu_s"],
                                            strict=True):
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
    return list(map(_ROW, zip(
        itertools.repeat(run_id, len(facts)), f["scenario"], f["app"], f["connections"],
        f["repeat"], map(_TEXT.__getitem__, f["status"]), f["reason"], f["rps"], f["error_rate"],
        f["p50_us"], f["p90_us"], f["p99_us"], f["timeouts"], f["requests"], app_ms, db_ms,
        per_cpu_s, map(bool, f["restarted"]), f["stuck"], ok, strict=True)))


_TEXT = {s: s.value for s in CellStatus}  # Enum.value is a Python property: 10^5 calls
_SOME = partial(is_not, None)  # x is not None
_ROW = CellRow._make



def summarize(key: Key, pool: Pool, sampled: Sequence[CellCore] = (),
              alpha: float = stats.ALPHA) -> Group:
    """describe() of every metric over the completed repeats; failed ones are counted and their
    reasons kept, never averaged in. `sampled`: the group's cells of the run loaded whole, whose
    samples say whether the load generator was saturated."""
    scenario, app, conns = key
    failures = tuple(Failure(r.run_id, scenario, app, conns, r.repeat, r.reason)
                     for r in pool.failed)
    sampled_ok = [c for c in sampled if c.ok]
    # Saturation: the driver's own judgement when it made one (Locust), else the sampler's.
    saturated = 0
    for c in sampled_ok:
        s = getattr(c, "samples", None)
        judged = c.load.generator_saturated if c.load is not None else None
        saturated += judged if judged is not None else bool(s is not None and s.wrk_saturated)
    # The load generator of the repeats that have a load result (all of them, as a rule).
    drivers, opens, rates = pool.facts("driver"), pool.facts("open_loop"), pool.facts("rate")
    if None in drivers:
        loaded = [d is not None for d in drivers]
        opens, rates = tuple(compress(opens, loaded)), tuple(compress(rates, loaded))
    driver = next(filter(_SOME, drivers), None)
    rate = next(filter(_SOME, rates), None)

    def d(name: str) -> Summary:
        return stats.describe(pool.values(name), alpha)

    timeouts = pool.values("timeouts")
    return Group(
        scenario=scenario, app=app, connections=conns, n_ok=pool.n_ok, n_failed=len(failures),
        failures=failures,
        rps=d("rps"), p50=d("p50_us"), p90=d("p90_us"), p99=d("p99_us"),
        error_rate=d("error_rate"),
        timeouts=sum(timeouts) if timeouts else None,
        app_cpu_ms=d("app_cpu_ms"), db_cpu_ms=d("db_cpu_ms"),
        requests_per_cpu_s=d("requests_per_cpu_s"),
        failing_thresholds=tuple(dict.fromkeys(t.expr for t in pool.checks.failing)),
        restarted=sum(pool.column("restarted")),
        stuck=pool.stuck,
        saturated=saturated,
        sampled=len(sampled_ok),
        driver="wrk" if driver is None else driver,
        open_loop=any(opens),
        rate=rate,
    )
