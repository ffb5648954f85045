"""When an adaptive level may stop: which of its declared comparisons are still undecided.

The runner asks after every round. The answer comes from the same anytime-valid decision the
report states (harness.analysis.sequential, paired by round), so stopping on it keeps the
verdicts valid.
A comparison with an app that was never measured at the level (it failed to start, or every
cell failed) cannot be decided by more rounds: it is not waited for.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis import sequential
from harness.config.scenarios import Scenario
from harness.model.results import CellCore


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


def undecided(scenario: Scenario, cells: Sequence[CellCore]) -> list[tuple[str, str]]:
    """The (candidate, reference) pairs of the scenario still undecided on throughput."""
    left = []
    for a, b in scenario.comparisons:
        if never_measured(cells, a, scenario.min_repeats) or \
                never_measured(cells, b, scenario.min_repeats):
            continue
        decision = sequential.decide_paired(throughput_by_round(cells, a, b),
                                     min_effect=scenario.min_effect,
                                     min_n=scenario.min_repeats, max_n=scenario.max_repeats,
                                     offset=sequential.THROUGHPUT_OFFSET)
        if decision.verdict is sequential.Verdict.UNDECIDED:
            left.append((a, b))
    return left
