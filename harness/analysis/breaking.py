"""Where each app breaks, and what it costs to run at the highest level where it does not."""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis import stats
from harness.analysis.findings import BreakingPoint, Capacity, Problems, ThresholdMiss
from harness.analysis.groups import Grouped
from harness.analysis.pool import Pool, count_logs
from harness.model.results import CellCore

MAX_VALUES = 5  # failing values kept per threshold: enough to show the size of the miss


def log_counts(cells: Sequence[CellCore]) -> dict[str, int]:
    """App-log categories summed over the repeats, most frequent first (ties by name)."""
    return count_logs([c.log for c in cells])


def problems(pool: Pool) -> Problems | None:
    """What broke in one group of repeats; None if every repeat completed and met every
    threshold. Log counts and stuck repeats are evidence, not a break on their own."""
    failing = pool.checks.failing
    misses = []
    for expr in pool.checks.completed if failing else ():
        bad = [t for t in failing if t.expr == expr]
        if bad:
            values = [(t.value, t.unit) for t in bad if t.value is not None][:MAX_VALUES]
            misses.append(ThresholdMiss(expr, len(bad), pool.n_ok, tuple(values)))
    if not pool.failed and not misses:
        return None
    return Problems(failed=len(pool.failed), total=pool.n,
                    reasons=tuple(sorted({r.reason for r in pool.failed}, key=lambda r: r or "")),
                    thresholds=tuple(misses), log_counts=pool.log_counts, stuck=pool.stuck)


def breaking_point(grouped: Grouped, scenario: str, app: str,
                   levels: Sequence[int]) -> BreakingPoint | None:
    tested = [c for c in levels if (scenario, app, c) in grouped.cells]
    if not tested:
        return None
    last_ok = None
    for conns in tested:
        found = problems(grouped.pool((scenario, app, conns)))
        if found:
            return BreakingPoint(scenario, app, last_ok, tested[-1], conns, found)
        last_ok = conns
    return BreakingPoint(scenario, app, last_ok, tested[-1], None, None)


def capacity(grouped: Grouped, point: BreakingPoint, alpha: float = stats.ALPHA) -> Capacity:
    """Cores per 1,000 req/s at the highest level that held: CPU-ms per request x 1000 req/s
    / 1000 ms per core-second, which is the CPU-ms per request itself."""
    if point.last_ok is None:
        return Capacity(point.scenario, point.app, None, None, None, None, False)
    pool = grouped.pool((point.scenario, point.app, point.last_ok))
    # App + PostgreSQL when every cell measured PostgreSQL's share (mixing the two would
    # compare unlike costs), the app's alone otherwise.
    with_db = pool.has_cpu and pool.db_everywhere
    s = stats.describe(pool.cpu(with_db), alpha)
    return Capacity(point.scenario, point.app, point.last_ok, s.median, s.ci_low, s.ci_high,
                    with_db)
