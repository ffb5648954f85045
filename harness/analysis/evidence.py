"""The evidence behind the numbers: sampled peaks and app logs per group, and the ceilings."""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis.breaking import log_counts
from harness.analysis.findings import Ceiling, CeilingRow, EvidenceRow, Group, PeakMean
from harness.model.results import Ceilings, CellCore, Samples

# The keys harness.measure.sampler writes under samples.series.
PG_KEYS = ("pg_active", "pg_idle", "pg_idle_in_transaction")
LOG_LINE_MAX = 300


def _peak_mean(samples: Sequence[Samples], key: str) -> PeakMean | None:
    stats = [s.series[key] for s in samples if key in s.series]
    if not stats:
        return None
    return PeakMean(max(st.peak for st in stats), sum(st.mean for st in stats) / len(stats))


def _example(cells: Sequence[CellCore], category: str) -> str | None:
    for c in cells:
        line = c.log.examples.get(category) if c.log else None
        if line:
            return line.strip()[:LOG_LINE_MAX]
    return None


def row(scenario: str, app: str, connections: int,
        cells: Sequence[CellCore]) -> EvidenceRow | None:
    """Peaks over a group's repeats; None when it has neither samples nor app-log lines."""
    samples = [s for s in (getattr(c, "samples", None) for c in cells) if s is not None]
    counts = log_counts(cells)
    if not samples and not counts:
        return None
    rss = _peak_mean(samples, "app_rss_mb")
    pg = tuple(None if p is None else p.peak for p in (_peak_mean(samples, k) for k in PG_KEYS))
    example = None
    if counts:
        top = next(iter(counts))
        line = _example(cells, top)
        example = (top, line) if line else None
    return EvidenceRow(
        scenario=scenario, app=app, connections=connections,
        app_cpu_pct=_peak_mean(samples, "app_cpu_pct"),
        app_rss_mb=None if rss is None else rss.peak,
        wrk_cpu_pct=_peak_mean(samples, "wrk_cpu_pct"),
        pg_sessions=pg if any(v is not None for v in pg) else None,  # type: ignore[arg-type]
        log_counts=counts, example=example)


def _by_level(values: dict[str, float | None]) -> dict[int, float]:
    """{connections: value}; JSON keys are strings, unmeasured levels are left out."""
    return {int(k): v for k, v in values.items() if v is not None}


def ceiling(scenario: str, found: Ceilings, groups: Sequence[Group]) -> Ceiling:
    """Each group's median req/s as a share of what PostgreSQL (pgbench, the same query) and a
    raw ASGI app reached at the same number of connections."""
    if found.skipped or found.error:
        return Ceiling(scenario, {}, {}, (), found.skipped, found.error)
    pg, ref = _by_level(found.pgbench_tps), _by_level(dict(found.reference_rps))
    rows = []
    for g in groups:
        rps = g.rps.median
        if rps is None:
            continue
        rows.append(CeilingRow(
            g.app, g.connections, rps,
            rps / pg[g.connections] if pg.get(g.connections) else None,
            rps / ref[g.connections] if ref.get(g.connections) else None))
    return Ceiling(scenario, dict(sorted(pg.items())), dict(sorted(ref.items())), tuple(rows))
