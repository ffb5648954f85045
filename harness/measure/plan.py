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
    """(least, most) load seconds and (fewest, most) cells of one level; a sweep's level
    includes its searches."""
    if s.sweep:
        return _sweep_estimate(s)
    return _rounds_estimate(s, len(s.apps), len(s.apps))


def _rounds_estimate(s: Scenario, fewest_apps: int, most_apps: int
                     ) -> tuple[float, float, int, int]:
    cell = cell_seconds(s)
    if not s.adaptive:
        return (s.repeats * cell * fewest_apps, s.repeats * cell * most_apps,
                s.repeats * fewest_apps, s.repeats * most_apps)
    low = s.min_repeats * cell * fewest_apps
    budget = s.budget or 0.0
    # Rounds after min_repeats run while they fit the budget; as comparisons are decided fewer
    # apps take part, so the budget, not max_repeats, bounds the time.
    high = max(s.min_repeats * cell * most_apps, min(budget, s.max_repeats * cell * most_apps))
    return low, high, s.min_repeats * fewest_apps, max(
        s.min_repeats * most_apps, int(high // cell))


def search_estimate(s: Scenario) -> tuple[float, float]:
    """(least, most) load seconds of a sweep's searches: each app's first step if it fits its
    budget (the search stops before a step that does not), at most each app's budget."""
    cell, budget = cell_seconds(s), s.sweep_budget or 0.0
    first = [cell * s.sweep_rounds * len(axes[0].values) for axes in s.sweep.values()]
    return sum(f for f in first if f <= budget), budget * len(s.sweep)


def search_steps(s: Scenario) -> tuple[int, int]:
    """(fewest, most) steps of a sweep's searches, each of which starts its configurations:
    the first step of each app, at most as many as its budget holds of two configurations."""
    cell, budget = cell_seconds(s), s.sweep_budget or 0.0
    most = int(budget // (2 * cell * s.sweep_rounds)) if cell else 0
    return len(s.sweep), most * len(s.sweep)


def _sweep_estimate(s: Scenario) -> tuple[float, float, int, int]:
    """The searches, then the fresh rounds of each app's default and its best configurations
    (none, or one for each objective)."""
    low, high = search_estimate(s)
    fresh = _rounds_estimate(s, len(s.apps), len(s.apps) + 2 * len(s.sweep))
    cell = cell_seconds(s)
    return (low + fresh[0], high + fresh[1], int(low // cell) + fresh[2],
            int(high // cell) + fresh[3])


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
