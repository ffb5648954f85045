"""The run plan: levels (scenario × connections), rounds of interleaved apps, and time estimates.

Each level runs rounds: one cell per app, apps interleaved so that a drift of the shared machine
(thermal, a noisy neighbour, a growing table) spreads over every app instead of landing on
whichever ran last, and rotated per round to cancel position effects (the first app after a
level change meets a cold server). A fixed scenario runs `repeats` rounds; an adaptive one
(`budget` set) runs between `min_repeats` and `max_repeats` rounds, stopping once its comparisons
are decided or its budget is spent (harness.measure.runner).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config.scenarios import Scenario, ScenarioFile


@dataclass(frozen=True)
class Cell:
    scenario: Scenario
    app: str
    connections: int
    repeat: int

    @property
    def key(self) -> tuple[str, str, int, int]:
        """Identifies the cell in results files (Scenario itself is not hashable)."""
        return (self.scenario.name, self.app, self.connections, self.repeat)


@dataclass(frozen=True)
class Estimate:
    """Load seconds (warmup + measurement) a plan needs: exact for fixed repeats, a range for
    adaptive rounds (every level decided after min_repeats .. every budget spent)."""

    min_s: float
    max_s: float
    cells_min: int
    cells_max: int


def rotated(apps: tuple[str, ...] | list[str], round_no: int) -> list[str]:
    apps = list(apps)
    if not apps:
        return apps
    shift = round_no % len(apps)
    return apps[shift:] + apps[:shift]


def levels(sf: ScenarioFile) -> list[tuple[Scenario, int]]:
    return [(s, c) for s in sf.scenarios for c in sorted(s.connections)]


def cells(sf: ScenarioFile) -> list[Cell]:
    """Every cell of the plan in run order (adaptive scenarios: up to max_repeats rounds)."""
    out: list[Cell] = []
    for s, c in levels(sf):
        for r in range(s.planned_repeats):
            out.extend(Cell(s, a, c, r) for a in rotated(s.apps, r))
    return out


def cell_seconds(s: Scenario) -> float:
    return s.warmup + s.duration


def level_estimate(s: Scenario) -> tuple[float, float, int, int]:
    full_round = cell_seconds(s) * len(s.apps)
    if not s.adaptive:
        return (s.repeats * full_round,) * 2 + (s.repeats * len(s.apps),) * 2
    low = s.min_repeats * full_round
    budget = s.budget or 0.0
    # Rounds after min_repeats run while they fit the budget; as comparisons are decided fewer
    # apps take part, so the budget, not max_repeats, bounds the time.
    high = max(low, min(budget, s.max_repeats * full_round))
    return low, high, s.min_repeats * len(s.apps), max(
        s.min_repeats * len(s.apps), int(high // cell_seconds(s)))


def profile_estimate(s: Scenario) -> tuple[float, int]:
    """Load seconds and cells of a scenario's profiled cells: one per app, after its rounds."""
    if s.profile is None:
        return 0.0, 0
    return cell_seconds(s) * len(s.apps), len(s.apps)


def estimate(sf: ScenarioFile) -> Estimate:
    parts = [level_estimate(s) for s, _ in levels(sf)]
    parts += [(seconds, seconds, cells, cells)
              for seconds, cells in map(profile_estimate, sf.scenarios)]
    return Estimate(sum(p[0] for p in parts), sum(p[1] for p in parts),
                    sum(p[2] for p in parts), sum(p[3] for p in parts))


def load_seconds(sf: ScenarioFile) -> float:
    """The most load time the plan can take."""
    return estimate(sf).max_s
