"""What the report's charts draw beyond the group summaries.

Both come from one run, the one whose evidence the report shows (the run loaded whole, else
the newest), so that a report over a thousand runs reads nothing more of the others than their
summaries (a digest of each cell need not carry every percentile):

- each group's latency spectrum: p50, p75, p90, p99, p99.9 and max (wrk records them all in
  `load.latency_us`), each the median over the group's completed repeats in that run;
- one cell's sampled resources over time per app (CPU, RSS, PostgreSQL sessions by state), from
  the run loaded whole only: at one level per scenario (the highest at which the most apps have
  a sampled profile), the completed repeat with the median throughput, so that the chart shows
  a typical round, not the best or the worst one. Long cells (a soak) are averaged into at most
  MAX_POINTS points per series, which keeps the report and findings.json small.

The throughput-against-p99 chart needs nothing more: each group's medians are in its summary.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from harness.analysis.findings import PERCENTILES, CellRow, Points, Resources, Spectrum
from harness.analysis.groups import Grouped, Key
from harness.model.results import Cell, CellCore

MAX_POINTS = 120  # per resource series: a 5-minute soak sampled every 0.5 s is 600 rows
SERIES = ("app_cpu_pct", "db_cpu_pct", "app_rss_mb", "pg_active", "pg_idle",
          "pg_idle_in_transaction")


def spectra(shown: Grouped | None, scenario: str, apps: Sequence[str],
            levels: Sequence[int]) -> tuple[Spectrum, ...]:
    """`shown`: the cells of the one run whose evidence the report shows."""
    if shown is None:
        return ()
    out = []
    for app in apps:
        for conns in levels:
            columns: list[list[float]] = [[] for _ in PERCENTILES]
            n = 0
            run_id = ""
            key = (scenario, app, conns)
            for cell, row in zip(shown.cells.get(key, ()), shown.rows(key), strict=True):
                load = cell.load if isinstance(cell, CellCore) else None  # not a digest
                if not row.ok or load is None:
                    continue
                seen = False
                for i, name in enumerate(PERCENTILES):
                    v = load.latency_us.get(name)
                    if v is not None:
                        columns[i].append(float(v))
                        seen = True
                n += seen
                run_id = row.run_id
            if n:
                out.append(Spectrum(run_id, app, conns, n, tuple(
                    statistics.median(c) if c else None for c in columns)))
    return tuple(out)


def _profiled(shown: Grouped, key: Key) -> list[tuple[CellRow, Cell]]:
    """The completed repeats with a sampled profile (only a run loaded whole has one)."""
    out = []
    for c, row in zip(shown.cells.get(key, ()), shown.rows(key), strict=True):
        if (row.ok and isinstance(c, Cell) and c.samples is not None and c.samples.profile
                and "t" in c.samples.profile_columns):
            out.append((row, c))
    return out


def resources(shown: Grouped | None, scenario: str, apps: Sequence[str],
              levels: Sequence[int]) -> tuple[Resources, ...]:
    """`shown`: the cells of the run loaded whole (cells without samples give nothing)."""
    if shown is None:
        return ()
    by_level: dict[int, dict[str, list[tuple[CellRow, Cell]]]] = {}
    for conns in levels:
        found = {a: _profiled(shown, (scenario, a, conns)) for a in apps}
        by_level[conns] = {a: ms for a, ms in found.items() if ms}
    best = max(levels, key=lambda c: (len(by_level[c]), c), default=None)
    if best is None or not by_level[best]:
        return ()
    out = []
    for members in by_level[best].values():
        ranked = sorted(members, key=lambda rc: (rc[0].rps or 0.0, rc[0].repeat))
        out.append(_resources(*ranked[(len(ranked) - 1) // 2], best))
    return tuple(out)


def _resources(row: CellRow, cell: Cell, conns: int) -> Resources:
    samples = cell.samples
    assert samples is not None  # checked by _profiled
    cols = samples.profile_columns
    t_col = cols.index("t")
    series: dict[str, Points] = {}
    for name in SERIES:
        if name not in cols:
            series[name] = ()
            continue
        col = cols.index(name)
        points = []
        for r in samples.profile:
            t, v = r[t_col], r[col]
            if t is not None and v is not None:
                points.append((float(t), float(v)))
        series[name] = downsample(points)
    return Resources(run_id=row.run_id, app=cell.app, connections=conns, repeat=cell.repeat,
                     rps=row.rps, **series)


def downsample(points: Sequence[tuple[float, float]], limit: int = MAX_POINTS) -> Points:
    """At most `limit` points: consecutive runs of points averaged (time and value)."""
    n = len(points)
    if n <= limit:
        return tuple((round(t, 2), round(v, 1)) for t, v in points)
    out = []
    for i in range(limit):
        chunk = points[i * n // limit:(i + 1) * n // limit]
        out.append((round(statistics.fmean(t for t, _ in chunk), 2),
                    round(statistics.fmean(v for _, v in chunk), 1)))
    return tuple(out)

