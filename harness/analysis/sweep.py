"""Sweeps: the search's choices while it runs, and each stack's best configuration after.

While a sweep runs, `step` summarizes one step of the search and moves each objective's choice
along its line: the configuration meeting every threshold with the highest median req/s (or
the least median CPU-ms per request). A step has a few cells per configuration, enough to
choose, not to decide: a challenger replaces the current choice only when its median is better
by at least the scenario's min_effect, so that noise does not keep moving it.

After the run, `findings` reads the search's record beside the fresh rounds measured after it:
each stack's best configurations, the gap from its default (the comparison of the best against
the default in the fresh rounds), and each declared pair of stacks compared default against
default and best against best. The fresh rounds are the only data those verdicts read: the
search's cells chose the configurations, and a verdict on the data that chose it would favour
the winner (docs/statistics.md).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Collection, Mapping, Sequence

from harness.analysis import groups, stopping
from harness.analysis.findings import (
    CellRow,
    Choice,
    Comparison,
    Fresh,
    Metric,
    PairVerdicts,
    SearchStepFindings,
    StackSweep,
    StepLine,
    SweepFindings,
    Tried,
)
from harness.config.scenarios import Scenario
from harness.model.results import (
    Candidate,
    CellCore,
    Objective,
    RunCore,
    Search,
    SearchStep,
    Sweep,
)

METRIC = {Objective.THROUGHPUT: Metric.THROUGHPUT, Objective.CPU: Metric.CPU}


class Rules:
    """The decisions a running sweep takes (harness.measure.runner.SweepRules)."""

    @staticmethod
    def step(scenario: Scenario, cells: Sequence[CellCore],
             lines: Mapping[Objective, Sequence[str]], settings: Mapping[str, dict[str, str]]
             ) -> tuple[list[Candidate], dict[Objective, str]]:
        return step(scenario, cells, lines, settings)

    @staticmethod
    def undecided(scenario: Scenario, cells: Sequence[CellCore],
                  cpu_pairs: Collection[tuple[str, str]]) -> list[tuple[str, str]]:
        return stopping.undecided(scenario, cells, cpu_pairs)


# -- while the search runs ------------------------------------------------------------------

def step(scenario: Scenario, cells: Sequence[CellCore], lines: Mapping[Objective, Sequence[str]],
         settings: Mapping[str, dict[str, str]]) -> tuple[list[Candidate], dict[Objective, str]]:
    """Each configuration of the step summarized (in `settings`' order), and each objective's
    choice on its line (whose first configuration is the current choice)."""
    rows = groups.run_rows("", cells)
    # CPU on one basis for the whole step: app + PostgreSQL only when every cell has both.
    with_db = all(r.db_cpu_ms is not None for r in rows if r.app_cpu_ms is not None)
    summary = {app: _candidate(app, values, [c for c in cells if c.app == app],
                               [r for r in rows if r.app == app], with_db)
               for app, values in settings.items()}
    chosen = {o: choose(o, [summary[a] for a in line], scenario.min_effect)
              for o, line in lines.items()}
    return list(summary.values()), chosen


def _candidate(app: str, settings: dict[str, str], cells: Sequence[CellCore],
               rows: Sequence[CellRow], with_db: bool) -> Candidate:
    ok = [r for r in rows if r.ok]
    rps = [r.rps for r in ok if r.rps is not None]
    cpu = groups.cpu_total(groups.cpu_pairs(ok), with_db)
    meets = bool(ok) and len(ok) == len(rows) and all(t.ok for c in cells for t in c.thresholds)
    return Candidate(app=app, settings=dict(settings), cells=len(ok), failed=len(rows) - len(ok),
                     rps=statistics.median(rps) if rps else None,
                     cpu_ms=statistics.median(cpu) if cpu else None, meets=meets)


def choose(objective: Objective, line: Sequence[Candidate], min_effect: float) -> str:
    """The best configuration of the line meeting every threshold; the current choice
    (line[0]) stays unless a challenger is better by at least min_effect, or it fails."""
    current = line[0]

    def goodness(c: Candidate) -> float | None:
        if objective is Objective.THROUGHPUT:
            return c.rps
        return None if c.cpu_ms is None or c.cpu_ms <= 0 else 1 / c.cpu_ms

    eligible = [(g, c) for c in line if c.meets and (g := goodness(c)) is not None]
    if not eligible:
        return current.app
    top, winner = max(eligible, key=lambda gc: gc[0])  # the first of equals: line order
    kept = goodness(current) if current.meets else None
    if kept is not None and top < kept * (1 + min_effect):
        return current.app
    return winner.app


# -- after the run ---------------------------------------------------------------------------

def findings(record: Sweep, grouped: groups.Grouped, scenario: str,
             comparisons: Sequence[Comparison],
             declared: Collection[tuple[str, str]]) -> SweepFindings:
    """Each searched stack's best configurations and gaps, and each declared pair of stacks
    compared default against default and best against best, from the fresh rounds."""
    conns = record.connections

    def fresh(app: str, search: Search | None) -> Fresh:
        key = (scenario, app, conns)
        rows = grouped.rows(key) if key in grouped.cells else []
        ok = [r for r in rows if r.ok]
        rps = [r.rps for r in ok if r.rps is not None]
        cpu, _ = groups.total_cpu_ms(ok)
        failing = dict.fromkeys(t.expr for t in grouped.pool(key).checks.failing) \
            if key in grouped.cells else {}
        return Fresh(app=app, settings=search.settings_of(app) if search else {}, n=len(ok),
                     failed=len(rows) - len(ok), rps=statistics.median(rps) if rps else None,
                     cpu_ms=statistics.median(cpu) if cpu else None, failing=tuple(failing))

    def compared(cand: str, ref: str, metric: Metric) -> Comparison | None:
        return next((c for c in comparisons if (c.candidate, c.reference, c.metric, c.connections)
                     == (cand, ref, metric, conns)), None)

    stacks = []
    best: dict[str, dict[Objective, str]] = {}
    for s in record.searches:
        best[s.app] = {Objective.THROUGHPUT: s.best_rps or s.app,
                       Objective.CPU: s.best_cpu or s.app}
        choices = {}
        for objective, chosen in best[s.app].items():
            gap = None if chosen == s.app else compared(chosen, s.app, METRIC[objective])
            # as the last step that measured it saw it
            met = next((c.meets for st in reversed(s.steps) for c in st.candidates
                        if c.app == chosen), None)
            choices[objective] = Choice(objective, fresh(chosen, s), gap, met)
        stacks.append(StackSweep(
            app=s.app, default=fresh(s.app, s), throughput=choices[Objective.THROUGHPUT],
            cpu=choices[Objective.CPU], stop=s.stop, budget_s=s.budget_s, load_s=s.load_s,
            configurations=len({c.app for st in s.steps for c in st.candidates}),
            cells=sum(c.cells + c.failed for st in s.steps for c in st.candidates),
            steps=tuple(_step(st) for st in s.steps)))
    pairs = []
    for objective, metric in METRIC.items():
        for a, b in declared:
            ba = best.get(a, {}).get(objective, a)
            bb = best.get(b, {}).get(objective, b)
            pairs.append(PairVerdicts(
                metric, a, b, compared(a, b, metric),
                None if (ba, bb) == (a, b) else compared(ba, bb, metric)))
    rounds = max((st.rounds for s in record.searches for st in s.steps), default=0)
    return SweepFindings(conns, rounds, tuple(stacks), tuple(pairs))


def _step(st: SearchStep) -> SearchStepFindings:
    tried = [Tried(c.app, dict(c.settings), c.cells, c.failed, c.rps, c.cpu_ms, c.meets)
             for c in st.candidates]
    settings = {t.app: t.settings for t in tried}

    def others(app: str) -> dict[str, str]:
        return {k: v for k, v in settings.get(app, {}).items() if k not in st.axis}

    lines: list[StepLine] = []
    for objective, start in ((Objective.THROUGHPUT, st.from_rps), (Objective.CPU, st.from_cpu)):
        same = next((i for i, line in enumerate(lines) if line.start == start), None)
        if same is not None:
            lines[same] = dataclasses.replace(
                lines[same], objectives=(*lines[same].objectives, objective))
            continue
        lines.append(StepLine((objective,), start,
                              tuple(t for t in tried if others(t.app) == others(start))))
    return SearchStepFindings(tuple(st.axis), tuple(lines), st.best_rps, st.best_cpu,
                              st.best_rps != st.from_rps, st.best_cpu != st.from_cpu)


def latest(runs: Sequence[RunCore], scenario: str) -> Sweep | None:
    """The newest run's record of the sweep scenario, if any."""
    for run in reversed(runs):
        for record in run.sweeps:
            if record.scenario == scenario:
                return record
    return None
