"""When an adaptive level may stop: which of its declared comparisons are still undecided.

The runner asks after every round. The answer comes from the same anytime-valid decision the
report states (harness.analysis.sequential, paired by round), so stopping on it keeps the
verdicts valid.
A comparison with an app that was never measured at the level (it failed to start, or every
cell failed) cannot be decided by more rounds: it is not waited for, and neither is one that
the rounds left up to max_repeats would most likely not decide (its apps' rounds go to the levels
that can still use them).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from harness.analysis import groups, sequential, verdicts
from harness.analysis.findings import CellRow, Metric
from harness.config.scenarios import Scenario
from harness.model.results import CellCore


def pending(scenario: Scenario, cells: Sequence[CellCore]
            ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The stop rule of an adaptive level: the comparisons still undecided, and those of them
    that more rounds, up to max_repeats, would most likely not decide either
    (sequential.out_of_reach). The level stops when only those are left."""
    left = undecided(scenario, cells)
    return left, [(a, b) for a, b in left if sequential.out_of_reach(
        throughput_by_round(cells, a, b), min_effect=scenario.min_effect,
        min_n=scenario.min_repeats, max_n=scenario.max_repeats,
        offset=sequential.THROUGHPUT_OFFSET)]


def throughput_by_round(cells: Sequence[CellCore], a: str, b: str) -> list[tuple[float, float]]:
    """(a's req/s, b's req/s) for every round that measured both, in round order."""
    rounds: dict[int, dict[str, float]] = {}
    for c in cells:
        if c.app in (a, b) and c.ok and c.rps is not None:
            rounds.setdefault(c.repeat, {})[c.app] = c.rps
    return [(r[a], r[b]) for _, r in sorted(rounds.items()) if a in r and b in r]


def never_measured(cells: Sequence[CellCore], app: str, min_repeats: int) -> bool:
    mine = [c for c in cells if c.app == app]
    return len(mine) >= min_repeats and not any(c.ok for c in mine)


def undecided(scenario: Scenario, cells: Sequence[CellCore],
              cpu_pairs: Collection[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The (candidate, reference) pairs of the scenario still undecided on throughput, or, for
    `cpu_pairs` (a sweep's fresh rounds), on CPU per request."""
    left = []
    rows = None
    for a, b in scenario.comparisons:
        if never_measured(cells, a, scenario.min_repeats) or \
                never_measured(cells, b, scenario.min_repeats):
            continue
        decision = sequential.decide_paired(throughput_by_round(cells, a, b),
                                     min_effect=scenario.min_effect,
                                     min_n=scenario.min_repeats, max_n=scenario.max_repeats,
                                     offset=sequential.THROUGHPUT_OFFSET)
        open_ = decision.verdict is sequential.Verdict.UNDECIDED
        if not open_ and (a, b) in cpu_pairs:
            rows = rows if rows is not None else groups.run_rows("", cells)
            open_ = _cpu_undecided(scenario, rows, a, b)
        if open_:
            left.append((a, b))
    return left


def _cpu_undecided(scenario: Scenario, rows: Sequence[CellRow], a: str, b: str) -> bool:
    """The report's CPU decision (harness.analysis.verdicts): paired by round, app +
    PostgreSQL when both sides measured both. Without CPU time there is nothing to wait for."""
    a_rows = [r for r in rows if r.app == a and r.ok]
    b_rows = [r for r in rows if r.app == b and r.ok]
    a_pairs, b_pairs = groups.cpu_pairs(a_rows), groups.cpu_pairs(b_rows)
    if not a_pairs or not b_pairs:
        return False
    with_db = all(d is not None for _, d in a_pairs + b_pairs)
    decision = sequential.decide_paired(
        verdicts.by_round(a_rows, b_rows, verdicts.value_of(Metric.CPU, with_db)),
        min_effect=scenario.min_effect, min_n=scenario.min_repeats,
        max_n=scenario.max_repeats, higher_is_better=False)
    return decision.verdict is sequential.Verdict.UNDECIDED
