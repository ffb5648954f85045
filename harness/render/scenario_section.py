"""The section of one scenario: what it measured, its table, rounds, CPU cost, evidence and
ceilings."""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis.findings import Findings, Group, Metric, ScenarioFindings, Warn
from harness.model.results import StopReason
from harness.render import diagnosis_section, figures, loop_section, sweep_section, units
from harness.render.document import Block, Heading, Images, Para, Table
from harness.render.document import bullets as _bullets
from harness.render.units import conns

STOP_TEXT = {StopReason.DECIDED: "every comparison decided",
             StopReason.BUDGET: "time budget spent",
             StopReason.MAX_REPEATS: "most rounds taken",
             StopReason.OUT_OF_REACH: "the rest out of reach within the most rounds",
             StopReason.FIXED: "fixed repeats",
             StopReason.INTERRUPTED: "interrupted"}


def describe(s: ScenarioFindings) -> str:
    bits = []
    if s.method and s.path:
        bits.append(f"`{s.method} {s.path}`")
    if s.description:
        bits.append(s.description)
    timing = []
    if s.duration is not None:
        timing.append(f"{s.duration:g} s per repeat")
    if s.warmup:
        timing.append(f"after a {s.warmup:g} s warmup")
    if s.repeats is not None:
        timing.append(f"{s.repeats} repeat{'s' if s.repeats != 1 else ''} per run")
    if s.budget is not None:
        timing.append(f"adaptive rounds: {s.min_repeats} to {s.max_repeats} per level within "
                      f"{s.budget:g} s of load")
    if s.timeout is not None:
        wrk_only = {g.driver for g in s.groups} <= {"wrk"}
        timing.append(f"{'wrk' if wrk_only else 'request'} timeout {s.timeout:g} s")
    text = ": ".join(bits[:2]) if bits else ""
    if timing:
        text += (". " if text else "") + ", ".join(timing)
    load = loop_section.describe(s)
    return (text + "." if text else "") + (f" {load}" if load and text else load)


def section(f: Findings, s: ScenarioFindings,
            charts: Sequence[figures.Figure]) -> list[Block]:
    blocks: list[Block] = [Heading(2, s.name)]
    about = describe(s)
    if about:
        blocks.append(Para(about))
    if charts:
        blocks.append(Images(tuple(charts)))
    blocks.append(_table(s, f.detail_run if f.pooled else None, loop_section.marked(f)))
    blocks += (sweep_section.section(s) + _stops(s) + _cpu(s) + _evidence(f, s)
               + diagnosis_section.section(s) + _ceilings(s))
    return blocks


def _relative(s: ScenarioFindings, app: str, connections: int, metric: Metric) -> str:
    if app == s.baseline:
        return "1 (baseline)"
    c = s.comparison(app, s.baseline, connections, metric)
    if c is None or c.ratio is None:
        return units.NONE
    if c.ci_low is None or c.ci_high is None:
        return units.ratio(c.ratio)
    return f"{c.ratio:.2f}× ({c.ci_low:.2f}–{c.ci_high:.2f})"


def _notes(g: Group, sampled_run: str | None) -> list[str]:
    notes = []
    if Warn.FEW_REPEATS in g.rps.warnings:
        notes.append("few repeats")
    if g.n_failed:
        notes.append(f"{g.n_failed} failed (see Failures)")
    for name, d in (("p50", g.p50), ("p90", g.p90), ("p99", g.p99)):
        if Warn.NOISY in d.warnings and d.cv is not None:
            notes.append(f"{name} noisy (CV {d.cv:.0%})")
    if g.saturated:
        where = f" of run `{sampled_run}`" if sampled_run else ""
        notes.append(f"load generator saturated in {g.saturated} of {g.sampled} repeats{where}: "
                     "req/s is a floor")
    notes += [f"fails `{e}`" for e in g.failing_thresholds]
    if g.restarted:
        notes.append(f"still busy after the load stopped in {g.restarted} of {g.n_ok} repeats "
                     "(restarted)")
    if g.stuck:
        notes.append(f"stuck in {g.stuck} of {g.n_ok + g.n_failed} repeats")
    return notes


def _table(s: ScenarioFindings, sampled_run: str | None, marked: bool = False) -> Table:
    """sampled_run: the run whose samples the notes speak of, when several runs are pooled;
    marked: a "load" column says each group's driver and loop (open or closed)."""
    rows: list[tuple[str, ...]] = []
    for g in s.groups:
        rps = g.rps
        n = f"{g.n_ok}" + (f" of {g.n_ok + g.n_failed}" if g.n_failed else "")
        cv = units.NONE if rps.cv is None else f"{rps.cv:.1%}"
        if Warn.NOISY in rps.warnings:
            cv += " noisy"
        rows.append((
            f"`{g.app}`", str(g.connections), n,
            units.with_ci(rps.median, rps.ci_low, rps.ci_high, "{:.0f}"), cv,
            _relative(s, g.app, g.connections, Metric.THROUGHPUT),
            units.ms(g.p50.median), units.ms(g.p90.median),
            units.with_ci(g.p99.median, g.p99.ci_low, g.p99.ci_high, "{:.1f}", 1e-3),
            units.pct(g.error_rate.median, 2), units.num(g.timeouts), "; ".join(_notes(g, sampled_run))))
        if marked:
            rows[-1] = (*rows[-1][:2], loop_section.mark(g), *rows[-1][2:])
    header = ("app", "conns", "n", "req/s median (95% CI)", "CV", f"vs {s.baseline} (95% CI)",
              "p50 ms", "p90 ms", "p99 ms (95% CI)", "errors", "timeouts", "notes")
    if marked:
        return Table((*header[:2], "load", *header[2:]), "lrlrrrrrrrrrl", tuple(rows))
    return Table(header, "lrrrrrrrrrrl", tuple(rows))


def _stops(s: ScenarioFindings) -> list[Block]:
    """How the adaptive rounds of each level ended; nothing to say about fixed repeats."""
    if all(lv.reason is StopReason.FIXED for lv in s.stops):
        return []
    rows = tuple((str(lv.connections), str(lv.rounds), STOP_TEXT.get(lv.reason, lv.reason.value),
                  f"{lv.load_s:.0f}", ", ".join(lv.undecided) or units.NONE) for lv in s.stops)
    return [Heading(3, f"Rounds: {s.name}"),
            Para("Each level took rounds of every app, interleaved, until every declared "
                 "comparison was decided or its budget was spent."),
            Table(("conns", "rounds", "stopped because", "load s", "undecided"), "rrlrl", rows)]


def _cpu(s: ScenarioFindings) -> list[Block]:
    groups = [g for g in s.groups if g.app_cpu_ms.n]
    if not groups:
        return []
    rows = []
    for g in groups:
        rows.append((f"`{g.app}`", str(g.connections),
                     *(units.with_ci(d.median, d.ci_low, d.ci_high, "{:.2f}")
                       for d in (g.app_cpu_ms, g.db_cpu_ms)),
                     units.with_ci(g.requests_per_cpu_s.median, g.requests_per_cpu_s.ci_low,
                                   g.requests_per_cpu_s.ci_high, "{:.0f}"),
                     _relative(s, g.app, g.connections, Metric.CPU)))
    header = ("app", "conns", "app CPU-ms per request (95% CI)",
              "PostgreSQL CPU-ms per request (95% CI)", "requests per CPU-second (95% CI)",
              f"CPU per request vs {s.baseline} (95% CI)")
    return [Heading(3, f"CPU cost: {s.name}"),
            Para("Exact CPU time (user + system) over the measured window: the app's whole "
                 "process tree, and the PostgreSQL backends that served it, per request."),
            Table(header, "lrrrrr", tuple(rows))]


def _evidence(f: Findings, s: ScenarioFindings) -> list[Block]:
    if not s.evidence:
        return []
    rows, quotes = [], []
    for e in s.evidence:
        def peak_mean(pm) -> str:
            if pm is None:
                return units.NONE
            return units.num(pm.peak) + (f" ({units.num(pm.mean)})" if pm.mean is not None
                                         else "")

        pg = " / ".join(units.num(v) for v in e.pg_sessions) if e.pg_sessions else units.NONE
        rows.append((f"`{e.app}`", str(e.connections), peak_mean(e.app_cpu_pct),
                     units.num(e.app_rss_mb), peak_mean(e.wrk_cpu_pct), pg,
                     ", ".join(f"{k} ×{n}" for k, n in e.log_counts.items()) or units.NONE))
        if e.example:
            category, line = e.example
            quotes.append(f"`{e.app}` at {conns(e.connections)}, {category}: "
                          f"`{line.replace('`', chr(39))}`")
    where = f" in run `{f.detail_run}`" if f.pooled and f.detail_run else ""
    blocks: list[Block] = [
        Heading(3, f"Evidence: {s.name}"),
        Para(f"Peaks across the repeats of each group{where} (mean of the repeats' means in "
             "brackets), sampled while wrk ran."),
        Table(("app", "conns", "app CPU %", "app RSS MB peak", "wrk CPU %",
               "PG connections peak: active / idle / idle in transaction", "app log"),
              "lrrrrrl", tuple(rows))]
    if quotes:
        blocks += [Para("Representative app log lines:"), _bullets(quotes)]
    return blocks


def _ceilings(s: ScenarioFindings) -> list[Block]:
    c = s.ceiling
    if c is None:
        return []
    blocks: list[Block] = [Heading(3, f"Ceilings: {s.name}")]
    if c.skipped or c.error:
        why = c.skipped or f"measuring them failed: {c.error}"
        return blocks + [Para(f"Not measured: {why}.")]
    lines = []
    if c.pgbench_tps:
        levels = ", ".join(f"{v:.0f} tps at {conns(k)}" for k, v in c.pgbench_tps.items() if v)
        lines.append(f"PostgreSQL running the same query (pgbench): {levels}.")
    if c.reference_rps:
        levels = ", ".join(f"{v:.0f} req/s at {conns(k)}" for k, v in c.reference_rps.items())
        lines.append(f"Reference service (raw ASGI + asyncpg, no ORM): {levels}.")
    if lines:
        blocks.append(_bullets(lines))
    rows = tuple((f"`{r.app}`", str(r.connections), f"{r.rps:.0f}", units.pct(r.of_pgbench, 1),
                  units.pct(r.of_reference, 1)) for r in c.rows)
    return blocks + [Table(("app", "conns", "req/s", "% of pgbench", "% of reference"), "lrrrr",
                           rows)]
