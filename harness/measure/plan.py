"""The run plan: every (scenario, app, connections, repeat) cell, in the order they run.

Apps are interleaved inside each connection count and repeats are the outer loop, so a drift of
the shared machine (thermal, noisy neighbour, a growing table) spreads over all apps instead of
landing on whichever app ran last. The app order rotates per repeat to cancel position effects
(the first app after a connection-count change meets a cold server).
"""

from dataclasses import dataclass

from harness.config.scenarios import Scenario


@dataclass(frozen=True)
class Cell:
    scenario: Scenario
    app: str
    connections: int
    repeat: int

    @property
    def key(self):
        """Identifies the cell in results files (Scenario itself is not hashable)."""
        return (self.scenario.name, self.app, self.connections, self.repeat)


def cells(sf):
    """All cells of a scenario file: scenario, then repeat, then connections, then app."""
    plan = []
    for s in sf.scenarios:
        for r in range(s.repeats):
            shift = r % len(s.apps)
            apps = s.apps[shift:] + s.apps[:shift]
            for c in sorted(s.connections):
                plan.extend(Cell(s, a, c, r) for a in apps)
    return plan


def load_seconds(sf):
    """Seconds spent generating load (warm-up + measurement): the rest of a run is overhead."""
    return sum(c.scenario.warmup + c.scenario.duration for c in cells(sf))
