"""The report's content as document blocks: the verdict first, then the numbers and the
evidence behind it, then failures, history, methodology, environment and settings.

Every section shrinks or disappears when the findings lack its data. Several runs are pooled
by the analysis; here a long history only shortens lists (the newest runs are shown).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis.findings import (
    Findings,
    Group,
    Layout,
    Method,
    Metric,
    ScenarioFindings,
    Warn,
)
from harness.model.results import RunStatus, StopReason
from harness.render import figures, units, verdict_text
from harness.render.document import Block, Bullets, Heading, Images, Item, Para, Quote, Table
from harness.render.document import bullets as _bullets
from harness.render.units import conns

ENV_ORDER = ("cpu_model", "cpus", "memory_gib", "os", "python", "postgresql", "wrk", "database",
             "git_commit", "git_dirty")
MAX_RUNS_LISTED = 10  # run lines at the top and History table columns; charts show every run
AIM_CV = 0.05  # the noise this harness aims for
STOP_TEXT = {StopReason.DECIDED: "every comparison decided",
             StopReason.BUDGET: "time budget spent",
             StopReason.MAX_REPEATS: "most rounds taken",
             StopReason.FIXED: "fixed repeats",
             StopReason.INTERRUPTED: "interrupted"}


def document(f: Findings) -> list[Block]:
    """Every block of the report, in order."""
    charts = {s.name: figures.against_connections(s) for s in f.scenarios}
    blocks = title(f) + verdict(f)
    for s in f.scenarios:
        blocks += scenario_section(f, s, charts[s.name])
    return (blocks + failures(f) + history(f) + methodology(f) + environment(f)
            + settings(f))


# -- title and status -------------------------------------------------------------------------

def _ids(ids: Sequence[str]) -> str:
    if len(ids) > MAX_RUNS_LISTED:
        return f"{ids[0]} to {ids[-1]} ({len(ids)} runs)"
    return ", ".join(ids) or "no runs"


def layout_text(layout: Layout) -> str:
    if not layout.recorded:
        return "not recorded: wrk shares CPUs with the app."
    if layout.shared:
        return "shared: this machine has too few CPUs to separate them, so wrk shares CPUs " \
               "with the app."

    def cpus(ids: Sequence[int]) -> str:
        return ", ".join(map(str, ids)) or "any"

    return (f"app on CPU {cpus(layout.app)}, PostgreSQL on {cpus(layout.db)}, wrk on "
            f"{cpus(layout.load)}.")


def title(f: Findings) -> list[Block]:
    ids = [r.run_id for r in f.runs]
    blocks: list[Block] = [Heading(1, f"Benchmark report: {'runs' if len(ids) > 1 else 'run'} "
                                      f"{_ids(ids)}")]
    shown = f.runs[-MAX_RUNS_LISTED:]
    for run in shown:
        if run.status is not RunStatus.COMPLETE:
            blocks.append(Quote(f"**Incomplete results: run {run.run_id} is {run.status.value}.**"
                                " It stopped before every cell ran; the numbers below cover only "
                                "the cells that finished."))
        if run.not_measured:
            blocks.append(Quote(f"Not measured at all: {', '.join(run.not_measured)}."))
    if not f.cells:
        blocks.append(Quote("**No cells were measured**: there is nothing to compare."))
    if f.environment_diff:
        keys = ", ".join(d.key for d in f.environment_diff)
        blocks.append(Quote(f"**The runs come from different environments** ({keys}): their "
                            "repeats are pooled below; read the comparison with care."))
    lines = []
    hidden = f.runs[:-MAX_RUNS_LISTED]
    if hidden:
        complete = sum(r.status is RunStatus.COMPLETE for r in hidden)
        lines.append(f"{len(hidden)} earlier runs, from `{hidden[0].run_id}` to "
                     f"`{hidden[-1].run_id}` ({complete} complete, "
                     f"{sum(r.failed for r in hidden)} failed cells), are not listed.")
    for run in shown:
        span = " to ".join(t for t in (run.started_at, run.finished_at) if t)
        command = " ".join(run.command)
        lines.append(f"Run `{run.run_id}`: {run.status.value}" + (f", {span}" if span else "")
                     + f", {run.cells} cells ({run.failed} failed)"
                     + (f", `{command}`" if command else "") + ".")
    if f.pooled:
        lines.append(f"The repeats of these {len(f.runs)} runs are pooled in the tables and "
                     "verdicts below (n counts them all); the History section shows each run "
                     "on its own.")
    if f.noise:
        verdict = "within" if f.noise.median_cv <= AIM_CV else "above"
        lines.append(f"Noise: the median coefficient of variation of req/s across "
                     f"{f.noise.groups} groups of repeats is {f.noise.median_cv:.1%} ({verdict} "
                     f"the {AIM_CV:.0%} this harness aims for); the widest is "
                     f"{f.noise.max_cv:.1%}.")
    lines.append(f"CPU layout: {layout_text(f.layout)}")
    return blocks + [_bullets(lines)]


# -- verdict ----------------------------------------------------------------------------------

def _intro(f: Findings) -> str:
    baselines = list(dict.fromkeys(s.baseline for s in f.scenarios))
    effects = {s.min_effect for s in f.scenarios}
    effect = f"{effects.pop():.0%}" if len(effects) == 1 else "the scenario's minimum effect"
    methods = {c.method for c in f.comparisons}
    today = (f"Today's stack is `{baselines[0]}`. " if len(baselines) == 1
             else "Each scenario names today's stack. ")
    text = (today + "Each line compares one app's requests/s with another's at the same "
            "number of connections (each candidate with today's stack, then the candidates with "
            "each other): the ratio of the geometric means of their repeats, with its 95% "
            "confidence interval.")
    if Method.WELCH in methods or not methods:
        text += (f" With a fixed number of repeats, a difference is declared only when it is "
                 f"significant (p < {f.alpha:g}) and at least {effect}; \"no detectable "
                 f"difference\" means the interval rules out a difference of {effect} in at "
                 "least one direction; \"inconclusive\" means it does not: more or steadier "
                 "repeats are needed before deciding.")
    if Method.SEQUENTIAL in methods:
        text += (" Levels measured in adaptive rounds are judged with an anytime-valid "
                 "interval, valid however the rounds were stopped: \"faster\" or \"slower\" "
                 f"when it excludes no difference and the ratio is at least {effect} away from "
                 f"1; \"equivalent\" when it lies within ±{effect}; \"undecided\" otherwise.")
    if any(c.verdict is not None and not c.verdict.decided for c in f.comparisons):
        text += (" A line that cannot decide says the smallest difference its data could have "
                 "detected.")
    return text


def verdict(f: Findings) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Verdict"), Para(_intro(f))]
    for s in f.scenarios:
        blocks.append(Heading(3, s.name))
        short = verdict_text.in_short(s)
        if short:
            blocks.append(Para(f"In short: {short}."))
        rps = [verdict_text.comparison_line(s, c) for c in s.comparisons
               if c.metric is Metric.THROUGHPUT]
        blocks.append(_bullets(rps or [f"No pair of apps to compare in {s.name}."]))
        cpu = [verdict_text.comparison_line(s, c) for c in s.comparisons
               if c.metric is Metric.CPU]
        if cpu:
            blocks.append(_bullets(cpu, "CPU per request (app + PostgreSQL, or the app alone "
                                        "where PostgreSQL's share was not measured; lower is "
                                        "cheaper):"))
        blocks.append(_bullets([verdict_text.breaking_line(s, b) for b in s.breaking_points],
                               verdict_text.breaking_head(s)))
        capacity = verdict_text.capacity_lines(s)
        if capacity:
            blocks.append(_bullets(capacity, "Capacity for planning: cores needed per 1,000 "
                                             "req/s at the highest level meeting every "
                                             "threshold:"))
    return blocks


# -- per scenario -----------------------------------------------------------------------------

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
        timing.append(f"wrk timeout {s.timeout:g} s")
    text = ": ".join(bits[:2]) if bits else ""
    if timing:
        text += (". " if text else "") + ", ".join(timing)
    return text + "." if text else ""


def scenario_section(f: Findings, s: ScenarioFindings,
                     charts: Sequence[figures.Figure]) -> list[Block]:
    blocks: list[Block] = [Heading(2, s.name)]
    about = describe(s)
    if about:
        blocks.append(Para(about))
    if charts:
        blocks.append(Images(tuple(charts)))
    blocks.append(_table(s))
    blocks += _stops(s) + _cpu(s) + _evidence(f, s) + _ceilings(s)
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


def _notes(g: Group) -> list[str]:
    notes = []
    if Warn.FEW_REPEATS in g.rps.warnings:
        notes.append("few repeats")
    if g.n_failed:
        notes.append(f"{g.n_failed} failed (see Failures)")
    for name, d in (("p50", g.p50), ("p90", g.p90), ("p99", g.p99)):
        if Warn.NOISY in d.warnings and d.cv is not None:
            notes.append(f"{name} noisy (CV {d.cv:.0%})")
    if g.saturated:
        notes.append(f"load generator saturated in {g.saturated} of {g.sampled} repeats: req/s "
                     "is a floor")
    notes += [f"fails `{e}`" for e in g.failing_thresholds]
    if g.restarted:
        notes.append(f"still busy after the load stopped in {g.restarted} of {g.n_ok} repeats "
                     "(restarted)")
    if g.stuck:
        notes.append(f"stuck in {g.stuck} of {g.n_ok + g.n_failed} repeats")
    return notes


def _table(s: ScenarioFindings) -> Table:
    rows = []
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
            units.pct(g.error_rate.median, 2), units.num(g.timeouts), "; ".join(_notes(g))))
    header = ("app", "conns", "n", "req/s median (95% CI)", "CV", f"vs {s.baseline} (95% CI)",
              "p50 ms", "p90 ms", "p99 ms (95% CI)", "errors", "timeouts", "notes")
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


# -- failures and history ---------------------------------------------------------------------

def failures(f: Findings) -> list[Block]:
    items = []
    earlier = f.failures_total - len(f.failures)
    if earlier:
        items.append(Item(f"{earlier} earlier failed cells are not listed."))
    for x in f.failures:
        where = f" (run {x.run_id})" if f.pooled else ""
        items.append(Item(f"{x.scenario} / `{x.app}` / {conns(x.connections)}, repeat {x.repeat}"
                          f"{where}: {x.reason or 'no reason recorded'}"))
    for v in f.verification:
        sub = list(v.failures[:5])
        if len(v.failures) > 5:
            sub.append(f"… and {len(v.failures) - 5} more")
        items.append(Item(f"`{v.app}` was not measured because it failed contract verification"
                          f"{':' if v.failures else '.'}", tuple(sub)))
    if not items:
        text = "No failed cells" + ("; every app passed contract verification."
                                    if f.all_verified else ".")
        return [Heading(2, "Failures"), Para(text)]
    return [Heading(2, "Failures"), Bullets(tuple(items))]


def history(f: Findings) -> list[Block]:
    h = f.history
    if h is None:
        return []
    charts = figures.history(f)
    shown = h.run_ids[-MAX_RUNS_LISTED:]
    if len(shown) < len(h.run_ids):
        intro = (f"Medians of each of the {len(h.run_ids)} runs, oldest first, from "
                 f"`{h.run_ids[0]}` to `{h.run_ids[-1]}`: the charts show every run, the tables "
                 f"the last {len(shown)}.")
    else:
        intro = "Medians of each run, in the order given: " + ", ".join(
            f"`{i}`" for i in h.run_ids) + "."
    blocks: list[Block] = [Heading(2, "History"), Para(intro)]
    skip = len(h.run_ids) - len(shown)
    for scenario, lines in h.scenarios:
        blocks.append(Heading(3, scenario))
        if scenario in charts:
            blocks.append(Images((charts[scenario],)))
        rows = []
        for line in lines:
            cells = []
            for rps, p99 in zip(line.rps[skip:], line.p99[skip:]):
                cells.append(units.NONE if rps is None
                             else f"{rps:.0f} req/s, p99 {units.ms(p99)} ms")
            rows.append((f"`{line.app}`", str(line.connections), *cells))
        blocks.append(Table(("app", "conns", *shown), "lr" + "r" * len(shown), tuple(rows)))
    return blocks


# -- methodology, environment, settings -------------------------------------------------------

def methodology(f: Findings) -> list[Block]:
    effects = {s.min_effect for s in f.scenarios} or {0.05}
    effect = f"{min(effects):.0%}" if len(effects) == 1 else "the scenario's minimum effect"
    methods = {c.method for c in f.comparisons}
    lines = [
        ("Each cell (scenario × app × connections × repeat) is one wrk run after a warmup, "
        "against a freshly reset dataset; repeats of the apps are interleaved so that drift on "
        "the machine spreads over every app."),
        ("Tables show the median of the repeats. Its 95% CI is distribution-free (order "
        "statistics) from 6 repeats up; with 2–5 repeats no pair of order statistics reaches "
        "95%, so the CI is Student's t on the logarithms (it stays positive); one repeat has no "
        "CI."),
        (f"CV is the repeats' standard deviation over their mean; from {f.noisy_cv:.0%} up a "
        f"result is marked noisy. Fewer than {f.few_repeats} repeats are marked \"few "
        "repeats\"."),
    ]
    if Method.WELCH in methods or not methods:
        lines.append(
            "Comparisons use the ratio of geometric means, with a 95% CI and p-value from "
            "Welch's t-test on the logarithms of the repeats. A candidate is called faster or "
            f"slower only when p < {f.alpha:g} and the ratio differs from 1 by at least "
            f"{effect}; a single repeat never decides, and a CI reaching past ±{effect} on both "
            "sides is inconclusive.")
    if Method.SEQUENTIAL in methods:
        lines.append(
            "Adaptive levels take rounds until every comparison is decided or the budget is "
            "spent. Their verdicts come from a sequential test (Welch's t on the logs at "
            "pre-declared looks, alpha spent across the looks), so stopping when the data look "
            "decided does not inflate false decisions beyond alpha.")
    lines.append(
        "An inconclusive or undecided comparison states its minimum detectable effect: the "
        "difference its data would have detected with 80% power, (t + z) × the standard error "
        "of the log ratio.")
    if any(c.metric is Metric.CPU for c in f.comparisons):
        lines.append(
            "CPU per request is exact CPU time (user + system, from /proc) of the app's process "
            "tree and of the PostgreSQL backends that served it, over the measured window, "
            "divided by the requests completed; it is compared like throughput, lower being "
            "better. Capacity is that cost at the highest level meeting every threshold: "
            "1 CPU-ms per request at 1,000 req/s keeps one core busy.")
    lines += [
        ("Failed cells are listed, never averaged in. Latencies are wrk's percentiles; requests "
        "that time out are counted as errors and are missing from the percentiles."),
        ("A breaking point is the highest connection level up to which every repeat completed "
        "and met every threshold of the scenario."),
    ]
    return [Heading(2, "Methodology"), _bullets(lines)]


def _cell(value: object) -> str:
    return str(value)


def environment(f: Findings) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Environment")]
    if not f.environments:
        return blocks + [Para("Not recorded.")]
    several = len(f.environments) > 1
    for env in f.environments:
        if several:
            ids = env.run_ids
            who = (f"Run `{ids[0]}`" if len(ids) == 1 else
                   f"Runs `{ids[0]}` to `{ids[-1]}` ({len(ids)} runs)"
                   if len(ids) > MAX_RUNS_LISTED else
                   "Runs " + ", ".join(f"`{i}`" for i in ids))
            blocks.append(Para(f"{who}:"))
        values = env.values
        if not values and not env.packages:
            blocks.append(Para("Not recorded."))
            continue
        keys = [k for k in ENV_ORDER if k in values]
        keys += sorted(k for k in values if k not in ENV_ORDER)
        rows = [(k, _cell(values[k])) for k in keys]
        if env.packages:
            rows.append(("packages", ", ".join(f"{k} {v}" for k, v in env.packages.items())))
        o = env.overhead
        if o is not None and o.overhead_pct is not None:
            rows.append(("harness overhead", (f"{o.overhead_pct}% of {o.load_s} s of load "
                                             f"({o.wall_s} s wall)")))
            if o.breakdown:
                rows.append(("overhead breakdown", ", ".join(
                    f"{k} {v:.1f} s" for k, v in sorted(o.breakdown.items(),
                                                         key=lambda kv: -kv[1]))))
        blocks.append(Table(("key", "value"), "ll", tuple(rows)))
    return blocks


def settings(f: Findings) -> list[Block]:
    if not f.settings:
        return []
    blocks: list[Block] = [Heading(2, "Settings")]
    apps = f.settings
    knobs = list(dict.fromkeys(k for a in apps for k in a.values))
    if knobs:
        rows = []
        for k in knobs:
            row = []
            for a in apps:
                values = a.values.get(k, {})
                if len(values) > 1:
                    row.append(", ".join(f"{v} ({', '.join(s)})" for v, s in values.items()))
                else:
                    row.append(next(iter(values), units.NONE))
            rows.append((k, *row))
        blocks.append(Table(("setting", *(f"`{a.app}`" for a in apps)), "l" * (len(apps) + 1),
                            tuple(rows)))
    lines = []
    for a in apps:
        bits = [a.description, a.server and f"server {a.server}",
                a.external and "external target (settings unknown)"]
        if a.command:
            bits.append(f"command `{' '.join(a.command)}`")
        text = "; ".join(b for b in bits if b)
        lines.append(f"`{a.app}`" + (f": {text}." if text else "."))
    return blocks + [_bullets(lines)]
