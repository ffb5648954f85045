"""The report after the scenarios: failures, history, methodology, environment, settings."""

from __future__ import annotations

from harness.analysis.findings import Findings, Method, Metric
from harness.render import figures, units
from harness.render.document import Block, Bullets, Heading, Images, Item, Para, Table
from harness.render.document import bullets as _bullets
from harness.render.units import conns

ENV_ORDER = ("cpu_model", "cpus", "memory_gib", "os", "python", "postgresql", "wrk", "database",
             "git_commit", "git_dirty")
MAX_RUNS_LISTED = 10  # run lines at the top and History table columns; charts show every run


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
            "spent. Their verdicts come from a sequential test paired by round (a t interval on "
            "the per-round differences of the logs at pre-declared looks, alpha spent across "
            "the looks), so stopping when the data look decided does not inflate false "
            "decisions beyond alpha, and a slowdown of the machine shared by a round's apps "
            "cancels out.")
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
    if any(s.sweep for s in f.scenarios):
        lines.append(
            "A sweep searches each stack's settings by coordinate search: one setting (or group "
            "of settings) at a time, its values measured for a few interleaved cells with the "
            "others at the current choice, a change kept only when its median beats the choice "
            f"by {effect}, within a budget of load time. The search only chooses: each best "
            "configuration is then measured afresh against its default and against the other "
            "stacks' best in adaptive rounds, and only those fresh rounds give gaps and "
            "verdicts (a verdict from the data that picked the winner would favour it).")
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
        if a.packages:
            bits.append("versions " + ", ".join(f"{p} {v or units.NONE}"
                                                for p, v in a.packages.items()))
        text = "; ".join(b for b in bits if b)
        lines.append(f"`{a.app}`" + (f": {text}." if text else "."))
    return blocks + [_bullets(lines)]
