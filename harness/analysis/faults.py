"""Faults: how each app's answers behaved around each injected fault (docs/faults.md).

From the run loaded whole (the timelines are per-cell series), per injected fault:
- the throughput before it: the mean rate over the BEFORE_S seconds before it started;
- recovery: the first RECOVERY_WINDOW_S window, from the interval in which the fault ended,
  whose mean rate is back at RECOVERY_LEVEL of that; `recovery_s` counts from the end of the
  fault (PostgreSQL back, lock released, kill sent), `degraded_s` from its start;
- the 5xx answers from its start to the next fault (or the end of the load), from the timeline.
wrk's other errors (failed connects, reads and writes, timeouts) are counted per cell only:
they are charged to the cell's faults, since the same load without faults has none (the
timeline's 5xx before the first fault, and the fault-free cells, show that baseline).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from harness.model.results import Cell, FaultEvent, Run, Timeline

BEFORE_S = 3.0
RECOVERY_LEVEL = 0.9
RECOVERY_WINDOW_S = 1.0
CONNECTION_ERRORS = ("connect", "read", "write")


@dataclass(frozen=True, slots=True)
class FaultOutcome:
    """One fault injected into one cell, and the app's answers around it."""

    kind: str
    at_s: float
    started_s: float | None  # None: not injected (see error)
    ended_s: float | None
    detail: str | None
    error: str | None
    before_rps: float | None  # mean over the BEFORE_S seconds before the fault
    lowest_rps: float | None  # the lowest interval's rate from the fault to its recovery
    recovery_s: float | None  # from the end of the fault; None: not within the load
    degraded_s: float | None  # from the start of the fault
    status_5xx: int  # answers with 5xx from the start of the fault to the next one (or the end)
    status_5xx_after: int  # ... of which in intervals starting once the fault had ended


@dataclass(frozen=True, slots=True)
class FaultCell:
    """One cell of a fault scenario."""

    run_id: str
    scenario: str
    app: str
    connections: int
    repeat: int
    ok: bool
    reason: str | None
    errors: dict[str, int]  # wrk's counts over the whole cell
    status_5xx_before: int  # 5xx before the first fault: the fault-free baseline
    outcomes: tuple[FaultOutcome, ...]
    curve: tuple[tuple[float, float], ...]  # (t, requests/s) per timeline interval

    @property
    def connection_errors(self) -> int:
        return sum(self.errors.get(k, 0) for k in CONNECTION_ERRORS)

    @property
    def timeouts(self) -> int:
        return self.errors.get("timeout", 0)


@dataclass(frozen=True, slots=True)
class FaultSummary:
    """One app and one kind of fault over the repeats of a scenario."""

    app: str
    kind: str
    connections: int
    injected: int  # faults of this kind that were injected
    not_injected: tuple[str, ...]  # why the others were not
    before_rps: float | None  # median over the repeats
    recovery_s: float | None  # median of the recovered ones
    recovery_max_s: float | None
    not_recovered: int  # injected, and not back at RECOVERY_LEVEL within the load
    lowest_share: float | None  # the lowest interval rate as a share of the rate before it
    status_5xx: int  # summed over the repeats
    status_5xx_after: int  # ... of which once the fault had ended (the database back, ...)
    connection_errors: int  # wrk's failed connects, reads and writes in the cells with it
    timeouts: int  # wrk's timeouts in the cells with it
    shared_cells: bool  # those cells also had other kinds of faults: their errors are shared

    @property
    def failed_requests(self) -> bool:
        """Any request answered 5xx, or lost (no answer: a failed read or write, a timeout)."""
        return bool(self.status_5xx or self.connection_errors or self.timeouts)


@dataclass(frozen=True, slots=True)
class FaultFindings:
    scenario: str
    interval_s: float
    run_id: str
    apps: tuple[str, ...]
    faults: tuple[tuple[str, float, float | None], ...]  # (kind, at, hold) as configured
    summaries: tuple[FaultSummary, ...]
    cells: tuple[FaultCell, ...]
    level: float = RECOVERY_LEVEL
    window_s: float = RECOVERY_WINDOW_S
    before_s: float = BEFORE_S


def analyze(run: Run | None) -> tuple[FaultFindings, ...]:
    """Every scenario of `run` with faults, in the order the run measured them."""
    if run is None:
        return ()
    out = []
    for cfg in (run.config or {}).get("scenarios") or []:
        if not cfg.get("faults"):
            continue
        name = cfg.get("name")
        cells = [c for c in run.cells if c.scenario == name]
        if not cells:
            continue
        interval = next((c.timeline.interval_s for c in cells if c.timeline), None) \
            or float(cfg.get("timeline") or 0.25)
        rows = tuple(cell_outcomes(run.run_id, c) for c in cells)
        apps = tuple(dict.fromkeys(c.app for c in cells))
        out.append(FaultFindings(
            scenario=str(name), interval_s=interval, run_id=run.run_id, apps=apps,
            faults=tuple((str(f.get("kind")), float(f.get("at", 0)), f.get("hold"))
                         for f in cfg["faults"]),
            summaries=summarize(rows), cells=rows))
    return tuple(out)


def cell_outcomes(run_id: str, cell: Cell) -> FaultCell:
    events = sorted(cell.faults, key=lambda e: e.at_s)
    tl = cell.timeline
    starts = [e.started_s for e in events if e.started_s is not None]
    outcomes = []
    for i, e in enumerate(events):
        later = [s for s in starts if e.started_s is not None and s > e.started_s]
        outcomes.append(outcome(e, tl, next_start=min(later) if later else None))
    first = min(starts) if starts else None
    return FaultCell(
        run_id=run_id, scenario=cell.scenario, app=cell.app, connections=cell.connections,
        repeat=cell.repeat, ok=cell.ok, reason=cell.reason,
        errors=dict(cell.load.errors) if cell.load else {},
        status_5xx_before=_count_5xx(tl, None, first) if tl else 0,
        outcomes=tuple(outcomes),
        curve=tuple((r[0], r[1] / tl.interval_s) for r in tl.rows) if tl else ())


def outcome(e: FaultEvent, tl: Timeline | None, next_start: float | None = None) -> FaultOutcome:
    """The app's answers around one fault, from the cell's timeline."""
    before = lowest = recovery_s = degraded_s = None
    status_5xx = status_5xx_after = 0
    if e.started_s is not None and tl is not None and tl.rows:
        ended = e.ended_s if e.ended_s is not None else e.started_s
        before, recovered_at, lowest = recovery(tl, e.started_s, ended)
        if recovered_at is not None:
            recovery_s = round(max(0.0, recovered_at - ended), 3)
            degraded_s = round(max(0.0, recovered_at - e.started_s), 3)
        status_5xx = _count_5xx(tl, e.started_s, next_start)
        status_5xx_after = _count_5xx(tl, ended + tl.interval_s - 1e-9, next_start)
    return FaultOutcome(
        kind=e.kind, at_s=e.at_s, started_s=e.started_s, ended_s=e.ended_s, detail=e.detail,
        error=e.error, before_rps=before, lowest_rps=lowest, recovery_s=recovery_s,
        degraded_s=degraded_s, status_5xx=status_5xx, status_5xx_after=status_5xx_after)


def recovery(tl: Timeline, started: float, ended: float, *, level: float = RECOVERY_LEVEL,
             window: float = RECOVERY_WINDOW_S,
             before: float = BEFORE_S) -> tuple[float | None, float | None, float | None]:
    """(rate before the fault, when it was back at `level` of it, the lowest rate between).

    The rate before is the mean of the whole intervals in the `before` seconds before `started`
    (the first interval of the load, partial, left out). Recovery is the start of the first
    window of `window` seconds, from the interval in which the fault ended, whose mean rate is
    at least `level` of that; None when no window before the last (partial) interval is."""
    step = tl.interval_s
    rows = tl.rows[:-1]  # the last interval is cut by the end of the load
    times = [r[0] for r in rows]
    rates = [r[1] / step for r in rows]
    pre = [rate for t, rate in zip(times[1:], rates[1:], strict=True)
           if t >= started - before - 1e-9 and t + step <= started + 1e-9]
    if not pre:
        return None, None, None
    base = statistics.fmean(pre)
    k = max(1, round(window / step))
    first = next((i for i, t in enumerate(times) if t + step > ended), None)
    if first is None:
        return base, None, None
    recovered = None
    for i in range(first, len(rates) - k + 1):
        if statistics.fmean(rates[i:i + k]) >= level * base:
            recovered = i
            break
    start = next((i for i, t in enumerate(times) if t + step > started), first)
    stop = len(rates) if recovered is None else max(recovered + 1, start + 1)
    lowest = min(rates[start:stop], default=None)
    return (round(base, 1), None if recovered is None else times[recovered],
            None if lowest is None else round(lowest, 1))


def _count_5xx(tl: Timeline, start: float | None, stop: float | None) -> int:
    """5xx answers in the intervals from the one holding `start` to the last one ending by
    `stop`."""
    step, col = tl.interval_s, tl.columns.index("status_5xx")
    return int(sum(r[col] for r in tl.rows
                   if (start is None or r[0] + step > start) and (stop is None or r[0] + step <= stop)))


def summarize(cells: Sequence[FaultCell]) -> tuple[FaultSummary, ...]:
    keys = list(dict.fromkeys((c.app, o.kind, c.connections) for c in cells for o in c.outcomes))
    out = []
    for app, kind, conns in keys:
        mine = [c for c in cells if (c.app, c.connections) == (app, conns)
                and any(o.kind == kind for o in c.outcomes)]
        done = [o for c in mine for o in c.outcomes if o.kind == kind and o.started_s is not None]
        skipped = tuple(dict.fromkeys(o.error or "not injected" for c in mine
                                      for o in c.outcomes
                                      if o.kind == kind and o.started_s is None))
        recovered = [o.recovery_s for o in done if o.recovery_s is not None]
        befores = [o.before_rps for o in done if o.before_rps]
        shares = [o.lowest_rps / o.before_rps for o in done
                  if o.lowest_rps is not None and o.before_rps]
        injected_cells = [c for c in mine if any(o.kind == kind and o.started_s is not None
                                                 for o in c.outcomes)]
        out.append(FaultSummary(
            app=app, kind=kind, connections=conns, injected=len(done), not_injected=skipped,
            before_rps=round(statistics.median(befores), 1) if befores else None,
            recovery_s=round(statistics.median(recovered), 3) if recovered else None,
            recovery_max_s=max(recovered) if recovered else None,
            not_recovered=sum(o.recovery_s is None and o.before_rps is not None for o in done),
            lowest_share=round(min(shares), 3) if shares else None,
            status_5xx=sum(o.status_5xx for o in done),
            status_5xx_after=sum(o.status_5xx_after for o in done),
            connection_errors=sum(c.connection_errors for c in injected_cells),
            timeouts=sum(c.timeouts for c in injected_cells),
            shared_cells=any(len({o.kind for o in c.outcomes}) > 1 for c in injected_cells)))
    return tuple(out)
