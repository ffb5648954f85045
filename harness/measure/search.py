"""A sweep's search, without processes: coordinate descent over an app's axes from its
defaults, for two objectives at once (the most req/s, the least CPU per request).

Each step takes one axis and, for each objective, the configuration chosen for it so far (its
*line*): that configuration, and the same with the axis at each of its other values. The lines
of both objectives are measured together, so a step costs one line while the two choices agree
(they start at the defaults). The step's decisions move each choice along its line. An axis is
tried again only once a choice has moved on another axis; the search has converged when every
axis was tried from the current choices, or stops when its budget is spent
(harness.measure.sweep). Its cost is the sum of the axes' sizes per pass, not their product.

A configuration is the app run as a generated variant, APP@LABEL, the label naming the
settings that differ from the defaults (`fastapi_sync@w3.tp80`); the defaults are APP itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.config.scenarios import Scenario
from harness.config.sweep import Axis
from harness.model.results import Objective

# (setting, value) for every swept setting, in the order of the axes
Point = tuple[tuple[str, str], ...]
# The settings' short names in labels; a word-valued setting shows its value alone.
SHORT = {"WEB_CONCURRENCY": "w", "THREADS": "t", "THREADPOOL_SIZE": "tp", "POOL_SIZE": "p",
         "MAX_OVERFLOW": "o", "POOL_TIMEOUT": "pt", "WORKER_CLASS": ""}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")  # labels are part of file names


def default_point(axes: Sequence[Axis], resolved: Mapping[str, str]) -> Point:
    """The swept settings as the app runs by default (harness.config.settings.resolve); a
    setting with no default takes the axis's first value."""
    point = []
    for axis in axes:
        for i, setting in enumerate(axis.settings):
            point.append((setting, resolved.get(setting, axis.values[0][i])))
    return tuple(point)


def moved(point: Point, axis: Axis, value: tuple[str, ...]) -> Point:
    """`point` with the axis at `value`."""
    new = dict(zip(axis.settings, value, strict=True))
    return tuple((k, new.get(k, v)) for k, v in point)


def label(point: Point, default: Point) -> str:
    """The settings that differ from the defaults, short: 'w3.tp80', 'gthread.t4'; '' for
    the defaults themselves."""
    parts = []
    for (setting, value), (_, was) in zip(point, default, strict=True):
        if value != was:
            short = SHORT.get(setting, setting.lower() + "-")
            parts.append(_UNSAFE.sub("_", f"{short}{value}"))
    return ".".join(parts)


@dataclass(frozen=True)
class Step:
    axis: Axis
    lines: dict[Objective, tuple[Point, ...]]  # per objective: its choice first, then the rest

    @property
    def points(self) -> tuple[Point, ...]:
        """Every configuration the step measures, each once, in the lines' order."""
        return tuple(dict.fromkeys(p for line in self.lines.values() for p in line))


class Descent:
    """Coordinate descent for both objectives; `next_step()` then `advance()` until None."""

    def __init__(self, axes: Sequence[Axis], default: Point):
        self.axes = tuple(axes)
        self.best: dict[Objective, Point] = {o: default for o in Objective}
        self._tried: dict[str, dict[Objective, Point]] = {}  # axis -> choices it was tried at
        self._next = 0  # the axis to look at first: the one after the last step's

    def next_step(self) -> Step | None:
        """The next axis, in cyclic order, not yet tried from the current choices; None once
        every axis has been (converged)."""
        for k in range(len(self.axes)):
            axis = self.axes[(self._next + k) % len(self.axes)]
            if self._tried.get(axis.name) != self.best:
                return Step(axis, {o: self._line(p, axis) for o, p in self.best.items()})
        return None

    def advance(self, step: Step, chosen: Mapping[Objective, Point]) -> None:
        """Record the step's decisions. Each lies on its objective's line, and the line through
        it is that same line: the axis counts as tried from the new choices too."""
        self.best = dict(chosen)
        self._tried[step.axis.name] = dict(chosen)
        self._next = (self.axes.index(step.axis) + 1) % len(self.axes)

    @staticmethod
    def _line(point: Point, axis: Axis) -> tuple[Point, ...]:
        others = (moved(point, axis, v) for v in axis.values)
        return (point, *dict.fromkeys(p for p in others if p != point))


@dataclass(frozen=True)
class Final:
    """What the fresh rounds after the searches measure and decide."""

    apps: tuple[str, ...]  # each app's default, then the best configurations
    comparisons: tuple[tuple[str, str], ...]  # (candidate, reference), all on throughput
    cpu_pairs: tuple[tuple[str, str], ...]  # ... and those decided on CPU per request too


def final(scenario: Scenario, best: Mapping[str, Mapping[Objective, str]]) -> Final:
    """The defaults as the scenario declares them (its comparisons, default against default);
    each app's best configurations against its default; and for each declared pair, the best
    configurations against each other. `best[app][objective]` is the app itself when its
    default was best (or it was not swept)."""
    apps = list(scenario.apps)
    rps: list[tuple[str, str]] = list(scenario.comparisons)
    cpu: list[tuple[str, str]] = list(scenario.comparisons)
    for app in scenario.apps:
        for objective, line in ((Objective.THROUGHPUT, rps), (Objective.CPU, cpu)):
            chosen = best[app][objective]
            if chosen != app:
                apps.append(chosen)
                line.append((chosen, app))
    for a, b in scenario.comparisons:
        for objective, line in ((Objective.THROUGHPUT, rps), (Objective.CPU, cpu)):
            pair = (best[a][objective], best[b][objective])
            if pair != (a, b):
                line.append(pair)
    pairs = tuple(dict.fromkeys(rps + cpu))
    return Final(tuple(dict.fromkeys(apps)), pairs, tuple(dict.fromkeys(cpu)))
