"""The report's content as document blocks: the verdict first, then the numbers and the
evidence behind it, then failures, history, methodology, environment and settings.

Every section shrinks or disappears when the findings lack its data. Several runs are pooled
by the analysis; here a long history only shortens lists (the newest runs are shown). This
module lays out the top (title, verdict); harness.render.scenario_section the per-scenario
sections; harness.render.appendix the rest.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from harness.analysis.findings import Findings, Layout, Method, Metric
from harness.model.results import RunStatus
from harness.render import (
    appendix,
    figures,
    loop_section,
    profile_section,
    resilience,
    scenario_section,
    verdict_text,
)
from harness.render.appendix import MAX_RUNS_LISTED
from harness.render.document import Block, Heading, Para, Quote
from harness.render.document import bullets as _bullets

AIM_CV = 0.05  # the noise this harness aims for


def document(f: Findings) -> list[Block]:
    """Every block of the report, in order. Laid out once per findings: report.md, report.html
    and summary.md each ask, and share its figures (each drawn once, figures.Figure)."""
    global _last
    if _last is not None and _last[0]() is f:
        return list(_last[1])
    blocks = _document(f)
    _last = (weakref.ref(f), tuple(blocks))
    return blocks


_last: tuple[weakref.ref[Findings], tuple[Block, ...]] | None = None


def _document(f: Findings) -> list[Block]:
    blocks = title(f) + verdict(f)
    for s in f.scenarios:
        blocks += scenario_section.section(f, s, figures.scenario(s))
        blocks += resilience.section(f, s.name)  # faults, or memory over time
        blocks += profile_section.section(f, s.name)  # where the CPU goes
    return (blocks + loop_section.section(f) + appendix.failures(f) + appendix.history(f)
            + appendix.methodology(f)
            + appendix.environment(f) + appendix.settings(f))


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


