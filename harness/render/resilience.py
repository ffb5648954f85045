"""The sections of scenarios measured over time: injected faults (what each stack answered and
how fast it recovered) and soaks (memory and throughput through a long cell, and what to flag).
Formatting only: harness.analysis.faults and harness.analysis.soak decide everything."""

from __future__ import annotations

from harness.analysis.faults import FaultFindings, FaultSummary
from harness.analysis.findings import Findings
from harness.analysis.soak import SoakFindings, SoakFlag
from harness.render import svg, units
from harness.render.document import Block, Heading, Images, Para, Quote, Table
from harness.render.document import bullets as _bullets
from harness.render.figures import Figure, slug

FAULT_TEXT = {
    "restart_postgres": "PostgreSQL restarted (`pg_ctl restart -m fast`)",
    "terminate_connections": "the app's database sessions terminated (`pg_terminate_backend`)",
    "kill_worker": "one app worker killed (SIGKILL)",
    "lock_table": "the users table locked (ACCESS EXCLUSIVE)",
}
MARKER_COLOR = 7  # grey, for the faults' vertical lines


def section(f: Findings, scenario: str) -> list[Block]:
    """The blocks for `scenario` (none unless it injected faults or recorded a timeline)."""
    blocks: list[Block] = []
    for ff in f.faults:
        if ff.scenario == scenario:
            blocks += faults(ff)
    for so in f.soak:
        if so.scenario == scenario:
            blocks += soak(so)
    return blocks


# -- faults -----------------------------------------------------------------------------------

def _when(kind: str, at: float, hold: float | None) -> str:
    text = f"{FAULT_TEXT.get(kind, kind)} at {at:g} s"
    return text + (f" for {hold:g} s" if hold else "")


def _recovery(s: FaultSummary) -> str:
    if not s.injected:
        return units.NONE
    if s.recovery_s is None:
        return f"not within the cell ({s.not_recovered} of {s.injected})"
    recovered = s.injected - s.not_recovered
    text = f"{s.recovery_s:.2f} s"
    if recovered > 1 and s.recovery_max_s is not None and s.recovery_max_s != s.recovery_s:
        text = f"median {text}, max {s.recovery_max_s:.2f} s"
    if s.not_recovered:
        text += f"; {s.not_recovered} of {s.injected} not within the cell"
    return text


def _failed(s: FaultSummary) -> str:
    if not s.injected:
        return units.NONE
    kinds = [name for name, n in (("5xx", s.status_5xx), ("lost or refused",
                                                         s.connection_errors + s.timeouts)) if n]
    return f"**yes**: {', '.join(kinds)}" if kinds else "no"


def faults(ff: FaultFindings) -> list[Block]:
    planned = "; ".join(_when(k, at, hold) for k, at, hold in ff.faults)
    blocks: list[Block] = [
        Heading(3, f"{ff.scenario}: faults and recovery"),
        Para(f"Injected into every measured cell of run `{ff.run_id}`: {planned}. wrk counts "
             f"the answers per {ff.interval_s:g} s; the rate before a fault is the mean over "
             f"the {ff.before_s:g} s before it, and the app has recovered when the mean rate "
             f"over {ff.window_s:g} s is back at {ff.level:.0%} of it, counted from the end of "
             "the fault (PostgreSQL back, lock released, worker killed). 5xx are the answers "
             "from the fault's start to the next fault or the end of the load (in brackets: "
             "those after the fault had ended); connection errors (failed connects, reads, "
             "writes: requests lost or refused) and timeouts are wrk's counts over the cells "
             "with the fault."),
    ]
    rows = []
    for s in ff.summaries:
        lowest = units.NONE if s.lowest_share is None else f"{s.lowest_share:.0%} of before"
        rows.append((f"`{s.app}`", s.kind, f"{s.injected}", units.rps(s.before_rps),
                     f"{s.status_5xx} ({s.status_5xx_after})", f"{s.connection_errors}",
                     f"{s.timeouts}",
                     _recovery(s), lowest, _failed(s)))
    blocks.append(Table(("app", "fault", "injected", "req/s before", "5xx (after)",
                         "connection errors",
                         "timeouts", "recovered to 90% after", "lowest", "any request failed"),
                        "llrrrrrlll", tuple(rows)))
    notes = []
    if any(s.shared_cells for s in ff.summaries):
        notes.append("Cells with several kinds of faults share their connection errors and "
                     "timeouts among them: each kind's row counts the whole cell's.")
    before = sum(c.status_5xx_before for c in ff.cells)
    notes.append("Before the first fault the cells answered "
                 + ("no 5xx." if not before else f"**{before} 5xx** (not caused by a fault)."))
    failed = [c for c in ff.cells if not c.ok]
    if failed:
        notes.append(f"{len(failed)} cell(s) were not measured: "
                     + "; ".join(f"`{c.app}` round {c.repeat + 1}: {c.reason}" for c in failed))
    skipped = [f"`{s.app}` {s.kind}: {why}" for s in ff.summaries for why in s.not_injected]
    if skipped:
        notes.append("Not injected: " + "; ".join(skipped) + ".")
    blocks.append(_bullets(notes))
    chart = _fault_chart(ff)
    if chart is not None:
        blocks.append(Images((chart,)))
    return blocks


def _fault_chart(ff: FaultFindings) -> Figure | None:
    series = []
    top = 0.0
    for i, app in enumerate(ff.apps):
        cell = next((c for c in sorted(ff.cells, key=lambda c: c.repeat)
                     if c.app == app and c.curve), None)
        if cell is None:
            continue
        points = list(cell.curve[:-1])  # the last interval is cut by the end of the load
        top = max([top, *(v for _, v in points)])
        series.append(svg.Series(f"{app} (round {cell.repeat + 1})", points, color=i))
    if not series:
        return None
    for kind, at, hold in ff.faults:
        series.append(svg.Series(f"{kind} at {at:g} s", [(at, 0.0), (at, top)],
                                 color=MARKER_COLOR, dash=1))
        if hold:
            series.append(svg.Series(f"lock released at {at + hold:g} s",
                                     [(at + hold, 0.0), (at + hold, top)],
                                     color=MARKER_COLOR, dash=2))
    chart = svg.Chart(f"{ff.scenario}: requests/s per {ff.interval_s:g} s, faults marked",
                      svg.Axis("seconds into the measured load"), svg.Axis("requests/s", min=0),
                      series)
    return Figure(f"{slug(ff.scenario)}-faults.svg",
                  f"{ff.scenario}: requests/s over time with the faults marked", (chart,))


# -- soak -------------------------------------------------------------------------------------

def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in errors.items()) or "none"


def soak(so: SoakFindings) -> list[Block]:
    blocks: list[Block] = [Heading(3, f"{so.scenario}: memory and throughput over time")]
    flagged = []
    for c in so.flagged:
        why = []
        if SoakFlag.RSS_GROWTH in c.flags:
            why.append(f"RSS grew {units.pct(c.rss_growth)} over the cell "
                       f"({units.num(c.rss_start_mb)} → {units.num(c.rss_end_mb)} MB)")
        if SoakFlag.ERRORS in c.flags:
            why.append(f"requests failed ({_errors(c.errors)})")
        flagged.append(f"**`{c.app}`** ({units.conns(c.connections)}, round {c.repeat + 1}): "
                       + "; ".join(why))
    if flagged:
        blocks.append(Quote("Flagged: " + ". ".join(flagged) + "."))
    else:
        blocks.append(Para(f"No app's RSS grew by more than {so.rss_limit:.0%} over a cell, and "
                           "no request failed."))
    blocks.append(Para(f"Run `{so.run_id}`. RSS is the app's whole process tree, sampled every "
                       f"0.5 s; growth compares the medians of the first and last "
                       f"{so.edge:.0%} of the samples, and req/s the means of the first and "
                       f"last {so.edge:.0%} of the {so.interval_s:g} s intervals."))
    rows = tuple((f"`{c.app}`", f"{c.connections}", f"{c.repeat + 1}",
                  f"{units.rps(c.rps_start)} → {units.rps(c.rps_end)}",
                  f"{units.num(c.rss_start_mb)} → {units.num(c.rss_end_mb)}",
                  units.pct(c.rss_growth),
                  f"{c.longest_silence_s:g} s" if c.longest_silence_s else "–",
                  _errors(c.errors), ", ".join(f.value for f in c.flags) or "–")
                 for c in so.cells)
    blocks.append(Table(("app", "connections", "round", "req/s start → end",
                         "RSS MB start → end", "RSS growth", "longest without an answer",
                         "errors", "flags"),
                        "lrrrrrrll", rows))
    figures = []
    for metric, label, attr in (("rss", "RSS (MB)", "rss_mb"), ("rps", "requests/s", "rps")):
        series = [svg.Series(f"{c.app} c={c.connections} round {c.repeat + 1}",
                             list(getattr(c, attr)), color=so.apps.index(c.app),
                             dash=c.repeat % len(svg.DASHES))
                  for c in so.cells if getattr(c, attr)]
        if series:
            chart = svg.Chart(f"{so.scenario}: {label} over time", svg.Axis("seconds into the "
                              "measured load"), svg.Axis(label, min=0), series)
            figures.append(Figure(f"{slug(so.scenario)}-{metric}-over-time.svg",
                                  f"{so.scenario}: {label} over time", (chart,)))
    if figures:
        blocks.append(Images(tuple(figures)))
    return blocks
