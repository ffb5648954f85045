"""Cells grouped by (scenario, app, connections), and each group's summary of every metric.

A thousand runs hold a hundred thousand cells: each group's cells are pooled once into a
pool.Pool (its columns), read by every summary and comparison. A run read through its digest
(store.load_cores) gives its cells as the digest's rows (model.digest.CellDigest: what the
analysis reads of a cell), a run loaded whole its model cells; both are a `Cell` here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import compress
from operator import is_not, itemgetter

from harness.analysis import rows as cell_rows
from harness.analysis import stats
from harness.analysis.findings import CellRow, Failure, Group, Summary
from harness.analysis.pool import Pool
from harness.analysis.rows import CellRows
from harness.model import digest
from harness.model.digest import CellDigest
from harness.model.results import CellCore, RunCore

Key = tuple[str, str, int]  # (scenario, app, connections)
Cell = CellCore | CellDigest  # a cell as the analysis reads it


@dataclass(slots=True)
class Grouped:
    """Every cell of the runs by group, in collection order (runs oldest first, then rounds):
    `cells` as given (a run's model cells, or its digest's rows) and `run_ids` (each one's run)
    side by side; scenarios and apps in order of first appearance; `every` every cell's row in
    run order (made when read)."""

    cells: dict[Key, list[Cell]]
    run_ids: dict[Key, list[str]]
    scenarios: list[str]
    apps: list[str]
    every: CellRows
    _rows: dict[Key, list[CellRow]] = field(default_factory=dict)
    _ok: dict[Key, list[CellRow]] = field(default_factory=dict)
    _pools: dict[Key, Pool] = field(default_factory=dict)

    def levels(self, scenario: str) -> list[int]:
        return sorted({k[2] for k in self.cells if k[0] == scenario})

    def rows(self, key: Key) -> list[CellRow]:
        """The group's cells' rows, made on first use (a run's evidence reads them; a pool's
        columns come from the cells)."""
        found = self._rows.get(key)
        if found is None:
            found = self._rows[key] = cell_rows.rows(
                self.run_ids.get(key, ()), digest.rows(self.cells.get(key, ())))
        return found

    def ok(self, key: Key) -> list[CellRow]:
        """The completed repeats' rows, in collection order (kept: every pair asks again)."""
        found = self._ok.get(key)
        if found is None:
            found = self._ok[key] = [r for r in self.rows(key) if r.ok]
        return found

    def pool(self, key: Key) -> Pool:
        """The group's repeats column by column, made on first use (the key must be present)."""
        found = self._pools.get(key)
        if found is None:
            found = self._pools[key] = Pool(self.run_ids[key], self.cells[key])
        return found

    def runs_in(self, *keys: Key) -> int:
        """How many runs measured these groups."""
        return len(frozenset().union(*(self.pool(key).runs for key in keys
                                       if key in self.cells)))


def group(runs: Sequence[RunCore]) -> Grouped:
    cells: dict[Key, list[Cell]] = {}
    run_ids: dict[Key, list[str]] = {}
    for run in runs:
        run_id = run.run_id
        for key, c in zip(map(_KEY, digest.rows(run.cells)), digest.facts(run.cells),
                          strict=True):
            members = cells.get(key)
            if members is None:
                members = cells[key] = []
                run_ids[key] = []
            members.append(c)
            run_ids[key].append(run_id)
    # Keys are in order of first appearance, so are their scenarios and apps.
    return Grouped(cells, run_ids, list(dict.fromkeys(k[0] for k in cells)),
                   list(dict.fromkeys(k[1] for k in cells)), CellRows(runs))


_KEY = itemgetter(0, 1, 2)  # a CellDigest's (scenario, app, connections)
_SOME = partial(is_not, None)  # x is not None


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


def run_rows(run_id: str, cells: Sequence[CellCore | CellDigest]) -> list[CellRow]:
    """The rows of one run's cells (model cells or digest rows), as the adaptive stopping rule
    and a sweep's search read them while the run goes on."""
    facts = digest.rows(cells)
    return cell_rows.rows([run_id] * len(facts), facts)


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
