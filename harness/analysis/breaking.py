"""Where each app breaks, and what it costs to run at the highest level where it does not."""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis import stats
from harness.analysis.findings import BreakingPoint, Capacity, Problems, ThresholdMiss
from harness.analysis.groups import Cell, Grouped, total_cpu_ms
from harness.model.results import CellStatus, ThresholdResult

MAX_VALUES = 5  # failing values kept per threshold: enough to show the size of the miss


def log_counts(cells: Sequence[Cell]) -> dict[str, int]:
    """App-log categories summed over the repeats, most frequent first (ties by name)."""
    counts: dict[str, int] = {}
    for c in cells:
        for k, n in (c.log.counts if c.log else {}).items():
            counts[k] = counts.get(k, 0) + n
    return dict(sorted(((k, n) for k, n in counts.items() if n), key=lambda kv: (-kv[1], kv[0])))


def problems(cells: Sequence[Cell]) -> Problems | None:
    """What broke in one group of repeats; None if every repeat completed and met every
    threshold. Log counts and stuck repeats are evidence, not a break on their own."""
    failed = [c for c in cells if c.status is not CellStatus.OK]
    measured = 0
    checked: dict[str, list[ThresholdResult]] = {}  # expression -> its failing results
    for c in cells:
        if c.status is CellStatus.OK:
            measured += 1
            for t in c.thresholds:
                checked.setdefault(t.expr, [])
                if not t.ok:
                    checked[t.expr].append(t)
    misses = []
    for expr, bad in checked.items():
        if bad:
            values = [(t.value, t.unit) for t in bad if t.value is not None][:MAX_VALUES]
            misses.append(ThresholdMiss(expr, len(bad), measured, tuple(values)))
    if not failed and not misses:
        return None
    return Problems(failed=len(failed), total=len(cells),
                    reasons=tuple(sorted({c.reason for c in failed}, key=lambda r: r or "")),
                    thresholds=tuple(misses), log_counts=log_counts(cells),
                    stuck=sum(c.stuck for c in cells))


def breaking_point(grouped: Grouped, scenario: str, app: str,
                   levels: Sequence[int]) -> BreakingPoint | None:
    tested = [c for c in levels if (scenario, app, c) in grouped.cells]
    if not tested:
        return None
    last_ok = None
    for conns in tested:
        found = problems([m.cell for m in grouped.cells[(scenario, app, conns)]])
        if found:
            return BreakingPoint(scenario, app, last_ok, tested[-1], conns, found)
        last_ok = conns
    return BreakingPoint(scenario, app, last_ok, tested[-1], None, None)


def capacity(grouped: Grouped, point: BreakingPoint, alpha: float = stats.ALPHA) -> Capacity:
    """Cores per 1,000 req/s at the highest level that held: CPU-ms per request x 1000 req/s
    / 1000 ms per core-second, which is the CPU-ms per request itself."""
    if point.last_ok is None:
        return Capacity(point.scenario, point.app, None, None, None, None, False)
    values, with_db = total_cpu_ms(grouped.ok((point.scenario, point.app, point.last_ok)))
    s = stats.describe(values, alpha)
    return Capacity(point.scenario, point.app, point.last_ok, s.median, s.ci_low, s.ci_high,
                    with_db)
