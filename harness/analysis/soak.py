"""Over time: throughput and memory through long cells (`--tag soak`), and what to flag.

For each cell of a scenario with a `timeline` and no faults (from the run loaded whole): the
requests/s per timeline interval, the app's RSS from the sampler's profile (its whole process
tree, every 0.5 s), the RSS growth from the start of the cell to its end (the medians of its
first and last EDGE of samples, so that one sample cannot make or hide a trend), and every
error. A cell is flagged when its RSS grew by more than RSS_GROWTH_LIMIT, or when any request
failed (wrk's errors of any kind, or any answer that was not 2xx).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from harness.model.results import Cell, Run

RSS_GROWTH_LIMIT = 0.10
EDGE = 0.1  # share of the samples at each end of the cell compared for the growth


class SoakFlag(StrEnum):
    RSS_GROWTH = "rss_growth"  # RSS grew by more than RSS_GROWTH_LIMIT over the cell
    ERRORS = "errors"  # a request failed or was answered with a non-2xx status


@dataclass(frozen=True, slots=True)
class OverTime:
    """One cell's throughput and RSS over time."""

    run_id: str
    scenario: str
    app: str
    connections: int
    repeat: int
    duration_s: float | None
    rps: tuple[tuple[float, float], ...]  # (t, requests/s) per timeline interval
    rss_mb: tuple[tuple[float, float], ...]  # (t, MB) per sample
    rps_start: float | None  # mean over the first EDGE of the intervals
    rps_end: float | None  # ... and the last
    rss_start_mb: float | None
    rss_end_mb: float | None
    rss_growth: float | None  # rss_end / rss_start - 1
    longest_silence_s: float  # the longest stretch of intervals without a single answer
    errors: dict[str, int]  # wrk's kinds with a count, plus non_2xx answers
    flags: tuple[SoakFlag, ...]


@dataclass(frozen=True, slots=True)
class SoakFindings:
    scenario: str
    run_id: str
    interval_s: float
    apps: tuple[str, ...]
    cells: tuple[OverTime, ...]
    rss_limit: float = RSS_GROWTH_LIMIT
    edge: float = EDGE

    @property
    def flagged(self) -> tuple[OverTime, ...]:
        return tuple(c for c in self.cells if c.flags)


def analyze(run: Run | None) -> tuple[SoakFindings, ...]:
    """Every scenario of `run` with a timeline and no faults."""
    if run is None:
        return ()
    out = []
    for cfg in (run.config or {}).get("scenarios") or []:
        if cfg.get("faults") or cfg.get("timeline") is None:
            continue
        cells = [c for c in run.cells if c.scenario == cfg.get("name") and c.ok]
        if not cells:
            continue
        over = tuple(over_time(run.run_id, c) for c in cells)
        out.append(SoakFindings(
            scenario=str(cfg.get("name")), run_id=run.run_id,
            interval_s=float(cfg["timeline"]), apps=tuple(dict.fromkeys(c.app for c in cells)),
            cells=over))
    return tuple(out)


def _edges(values: Sequence[float], middle=statistics.median) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    n = max(1, round(len(values) * EDGE))
    return round(middle(values[:n]), 1), round(middle(values[-n:]), 1)


def over_time(run_id: str, cell: Cell) -> OverTime:
    tl = cell.timeline
    rows = tl.rows[1:-1] if tl and len(tl.rows) > 2 else []  # both ends are partial intervals
    rps = tuple((r[0], r[1] / tl.interval_s) for r in rows) if tl else ()
    rss: tuple[tuple[float, float], ...] = ()
    s = cell.samples
    if s and "app_rss_mb" in s.profile_columns:
        t_col, m_col = s.profile_columns.index("t"), s.profile_columns.index("app_rss_mb")
        for p in s.profile:
            t, mb = p[t_col], p[m_col]
            if t is not None and mb is not None and mb > 0:
                rss += ((float(t), float(mb)),)
    rps_start, rps_end = _edges([v for _, v in rps], statistics.fmean)
    silence = longest = 0
    for _, v in rps:
        silence = silence + 1 if v == 0 else 0
        longest = max(longest, silence)
    rss_start, rss_end = _edges([v for _, v in rss])
    growth = (round(rss_end / rss_start - 1, 4)
              if rss_start and rss_end is not None else None)
    errors = {k: v for k, v in (cell.load.errors if cell.load else {}).items() if v}
    if tl:
        col = tl.columns.index("status_2xx")
        non_2xx = int(sum(r[1] - r[col] for r in tl.rows))
        if non_2xx:
            errors["non_2xx"] = non_2xx
    flags = []
    if growth is not None and growth > RSS_GROWTH_LIMIT:
        flags.append(SoakFlag.RSS_GROWTH)
    if errors:
        flags.append(SoakFlag.ERRORS)
    return OverTime(
        run_id=run_id, scenario=cell.scenario, app=cell.app, connections=cell.connections,
        repeat=cell.repeat, duration_s=cell.load.duration_s if cell.load else None,
        rps=tuple((round(t, 3), round(v, 1)) for t, v in rps), rss_mb=rss,
        rps_start=rps_start, rps_end=rps_end, rss_start_mb=rss_start, rss_end_mb=rss_end,
        rss_growth=growth, longest_silence_s=longest * tl.interval_s if tl else 0.0,
        errors=errors, flags=tuple(flags))
