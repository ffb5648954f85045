"""A sweep scenario's "Best configuration" section: each stack's default and best settings
with their req/s and CPU per request, the gap, the verdicts default against default beside best
against best, and the path the search took."""

from __future__ import annotations

from harness.analysis.findings import (
    Choice,
    Comparison,
    Fresh,
    Metric,
    PairVerdicts,
    ScenarioFindings,
    SearchStepFindings,
    StackSweep,
    StepLine,
    Tried,
    Verdict,
)
from harness.model.results import Objective, SearchStop
from harness.render import units
from harness.render.document import Block, Heading, Para, Table
from harness.render.document import bullets as _bullets

FOR = {Objective.THROUGHPUT: "most req/s", Objective.CPU: "least CPU per request"}
WHAT = {Objective.THROUGHPUT: "req/s", Objective.CPU: "CPU"}
STOP = {SearchStop.CONVERGED: "converged (every setting tried from the choices it ended at)",
        SearchStop.BUDGET: "stopped on its budget",
        SearchStop.INTERRUPTED: "interrupted"}
CPU_WORDS = {Verdict.FASTER: "cheaper", Verdict.SLOWER: "costlier"}


def section(s: ScenarioFindings) -> list[Block]:
    sw = s.sweep
    if sw is None:
        return []
    stacks = ", ".join(f"`{st.app}`" for st in sw.stacks)
    return [
        Heading(3, f"Best configuration: {s.name}"),
        Para(f"The settings of {stacks or 'no stack'} were searched at "
             f"{units.conns(sw.connections)}: a coordinate search from each stack's defaults "
             f"(one setting, or group of settings, at a time), {sw.rounds} cell(s) per "
             "configuration per step. The best configuration meets every threshold with the "
             "highest median req/s, or separately with the least CPU per request. Its gap to "
             "the default and every verdict here come from the fresh interleaved rounds measured "
             "after the search (the table above), never from the search's own cells, so "
             "choosing the best on noisy data does not favour it."),
        _choices(sw.stacks),
        Para("Default against default, beside best against best (each stack's best for that "
             "metric):"),
        _pairs(sw.pairs),
        _bullets([_path(st) for st in sw.stacks], "The search, step by step (medians of its "
                                                  "own cells: enough to choose, not to decide):"),
    ]


def _settings(values: dict[str, str], default: dict[str, str]) -> str:
    """Every swept setting; those that differ from the default in bold."""
    return ", ".join(f"**{k}={v}**" if default.get(k) != v else f"{k}={v}"
                     for k, v in values.items()) or units.NONE


def _measured(f: Fresh) -> tuple[str, str]:
    rps = units.rps(f.rps)
    if f.failing:
        rps += " (fails " + ", ".join(f"`{e}`" for e in f.failing) + ")"
    if f.failed:
        rps += f" ({f.failed} failed)"
    return rps, units.cpu_ms(f.cpu_ms)


def _choices(stacks: tuple[StackSweep, ...]) -> Table:
    rows: list[tuple[str, ...]] = []
    for st in stacks:
        rows.append((f"`{st.app}`", "default", f"`{st.app}`",
                     _settings(st.default.settings, st.default.settings),
                     *_measured(st.default), units.NONE))
        for choice in (st.throughput, st.cpu):
            rows.append(_choice_row(st, choice))
    return Table(("stack", "best for", "configuration", "settings", "req/s (median)",
                  "CPU-ms per request (median)",
                  "best against default, on what it is best for (95% CI)"),
                 "lllllrl", tuple(rows))


def _choice_row(st: StackSweep, choice: Choice) -> tuple[str, ...]:
    if choice.best.app == st.app:
        if not st.steps:
            why = "not searched: its budget held no step"
        elif not choice.met:
            why = "no configuration tried met every threshold: the default stays"
        else:
            why = "the default is the best found"
        return (f"`{st.app}`", FOR[choice.objective], "the default", units.NONE, units.NONE,
                units.NONE, why)
    return (f"`{st.app}`", FOR[choice.objective], f"`{choice.best.app}`",
            _settings(choice.best.settings, st.default.settings), *_measured(choice.best),
            short(choice.gap))


def short(c: Comparison | None) -> str:
    """A comparison in a table cell: ratio, interval, verdict."""
    if c is None:
        return units.NONE
    if c.verdict is None:
        return f"not compared ({c.not_compared.value if c.not_compared else 'no data'})"
    ratio = units.ratio(c.ratio)
    if c.ci_low is not None and c.ci_high is not None:
        ratio += f" ({c.ci_low:.2f}–{c.ci_high:.2f})"
    word = c.verdict.value
    if c.metric is Metric.CPU:
        word = CPU_WORDS.get(c.verdict, word)
    return f"{ratio}: {word}"


def _pairs(pairs: tuple[PairVerdicts, ...]) -> Table:
    rows = []
    for p in pairs:
        metric = "req/s" if p.metric is Metric.THROUGHPUT else "CPU per request"
        if p.bests is None:
            best = "the same: both defaults are their best"
        else:
            best = (f"`{p.bests.candidate}` vs `{p.bests.reference}`: {short(p.bests)}")
        rows.append((f"`{p.candidate}` vs `{p.reference}`", metric, short(p.defaults), best))
    return Table(("stacks", "metric", "default against default (95% CI)",
                  "best against best (95% CI)"), "llll", tuple(rows))


def _tried(t: Tried, axis: tuple[str, ...], chosen_for: list[str]) -> str:
    value = "/".join(t.settings.get(k, units.NONE) for k in axis)
    text = f"{value} → {units.rps(t.rps)} req/s, {units.cpu_ms(t.cpu_ms)} ms"
    if not t.meets:
        text += " (fails a threshold)" if t.cells else " (failed)"
    return f"**{text}, chosen for {' and '.join(chosen_for)}**" if chosen_for else text


def _line(line: StepLine, step: SearchStepFindings, shared: bool) -> str:
    """A line's configurations, each objective's choice in bold; from where, when the
    objectives' lines went apart."""
    def chosen_for(app: str) -> list[str]:
        return [WHAT[o] for o in line.objectives
                if app == (step.best_rps if o is Objective.THROUGHPUT else step.best_cpu)]

    tried = ", ".join(_tried(t, step.axis, chosen_for(t.app)) for t in line.tried)
    if shared:
        return tried
    return f"from `{line.start}` for {' and '.join(WHAT[o] for o in line.objectives)}: {tried}"


def _path(st: StackSweep) -> str:
    head = (f"`{st.app}`: {STOP[st.stop]} after {len(st.steps)} step(s), "
            f"{st.configurations} configuration(s), {st.cells} cells, {st.load_s:.0f} s of "
            f"its {st.budget_s:.0f} s of load")
    steps = []
    for step in st.steps:
        moved = [WHAT[o] for o, yes in ((Objective.THROUGHPUT, step.moved_rps),
                                        (Objective.CPU, step.moved_cpu)) if yes]
        lines = "; ".join(_line(line, step, len(step.lines) == 1) for line in step.lines)
        steps.append(f"{'/'.join(step.axis)}: {lines}"
                     + (f" (moved the choice for {' and '.join(moved)})" if moved
                        else " (no change)"))
    return head + (". " + ". ".join(steps) + "." if steps else ".")
