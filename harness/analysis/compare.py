"""Regression detection: one run against a window of earlier runs of the same scenarios.

Each (scenario, app, connections) group is judged on req/s, p99 and error rate, each in its bad
direction. Like asv, a change counts only if it is both large enough and significant; the
baseline's spread is every repeat of every baseline run pooled, so one lucky or unlucky run in
the window does not decide alone. Runs from different environments are still compared, but never
silently: the differing keys are listed first in the result and in its Markdown
(harness.render.compare_markdown).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from harness.analysis import environment, stats
from harness.analysis.findings import EnvDiff, Verdict, Warn
from harness.analysis.groups import Grouped, Key, group
from harness.model.results import RunCore, is_search

# Error rates sit near 0, where ratios mean nothing: their change is in absolute terms, 0.1 point.
MIN_ERROR_DELTA = 0.001


class Status(StrEnum):
    REGRESSION = "regression"
    UNCONFIRMED = "unconfirmed"  # a regression not seen again when re-measured
    IMPROVEMENT = "improvement"
    INCONCLUSIVE = "inconclusive"  # too few or too noisy repeats to rule a regression out
    UNCHANGED = "unchanged"
    NEW = "new"  # only in the current run
    MISSING = "missing"  # only in the baseline


STATUS_ORDER = tuple(Status)


class Judgement(StrEnum):
    BETTER = "better"
    WORSE = "worse"
    INCONCLUSIVE = "inconclusive"
    UNCHANGED = "unchanged"


class GroupKey(NamedTuple):
    scenario: str
    app: str
    connections: int


@dataclass(frozen=True, slots=True)
class Change:
    """One metric, baseline against current. For req/s and p99 `change` is a ratio minus 1
    (geometric means, Welch on logs); for the error rate a difference of means."""

    baseline: float | None  # median (error rate: mean)
    current: float | None
    change: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    judgement: Judgement
    n_baseline: int
    n_current: int
    warnings: tuple[Warn, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupCheck:
    scenario: str
    app: str
    connections: int
    status: Status
    rps: Change | None = None  # None for new and missing groups
    p99: Change | None = None
    error_rate: Change | None = None
    warnings: tuple[Warn, ...] = ()

    @property
    def key(self) -> GroupKey:
        return GroupKey(self.scenario, self.app, self.connections)


@dataclass(frozen=True)
class RegressionCheck:
    current_run: str
    baseline_runs: tuple[str, ...]
    min_effect: float
    alpha: float
    min_error_delta: float
    environment_diff: tuple[EnvDiff, ...]
    config_mismatch: tuple[str, ...]
    counts: dict[Status, int]
    groups: tuple[GroupCheck, ...]
    confirmation_run: str | None = None

    @property
    def environment_mismatch(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.environment_diff)


def compare(baseline_runs: Sequence[RunCore], current: RunCore,
            min_effect: float = stats.MIN_EFFECT, alpha: float = stats.ALPHA,
            min_error_delta: float = MIN_ERROR_DELTA) -> RegressionCheck:
    """Judge every group of `current` against the pooled repeats of `baseline_runs`. The current
    run is left out of the baseline if it is passed there too (e.g. every file of results/)."""
    baseline_runs = [r for r in baseline_runs if r.run_id != current.run_id]
    base, cur = group(baseline_runs), group([current])
    checks = []
    # A sweep's search cells chose configurations, a few cells each: not a measurement to hold
    # a later run to.
    keys = [k for k in list(cur.cells) + [k for k in base.cells if k not in cur.cells]
            if not is_search(k[0])]
    for key in keys:
        if key not in base.cells:
            checks.append(GroupCheck(*key, status=Status.NEW))
        elif key not in cur.cells:
            checks.append(GroupCheck(*key, status=Status.MISSING))
        else:
            checks.append(_judge(key, base, cur, min_effect, alpha, min_error_delta))
    return RegressionCheck(
        current_run=current.run_id,
        baseline_runs=tuple(r.run_id for r in baseline_runs),
        min_effect=min_effect, alpha=alpha, min_error_delta=min_error_delta,
        environment_diff=environment.diff([r.environment or {} for r in baseline_runs],
                                          current.environment or {}),
        config_mismatch=config_diff(baseline_runs, current),
        counts=_counts(checks), groups=tuple(checks))


def _counts(checks: Sequence[GroupCheck]) -> dict[Status, int]:
    counts: dict[Status, int] = {}
    for g in checks:
        counts[g.status] = counts.get(g.status, 0) + 1
    return counts


def config_diff(baseline_runs: Sequence[RunCore], current: RunCore) -> tuple[str, ...]:
    """Scenarios whose resolved configuration (load, request, settings) differs from a baseline
    run's: their numbers answer a different question, so the comparison says so. A profile
    taken after the rounds changes none of their numbers."""
    def by_name(run: RunCore) -> dict[str, dict[str, Any]]:
        return {s.get("name"): {k: v for k, v in s.items() if k not in ("description", "profile")}
                for s in (run.config or {}).get("scenarios") or []}

    cur = by_name(current)
    differing: list[str] = []
    for run in baseline_runs:
        for name, cfg in by_name(run).items():
            if name in cur and cur[name] != cfg and name not in differing:
                differing.append(name)
    return tuple(differing)


def compared(result: RegressionCheck) -> int:
    """How many groups had both a baseline and a current measurement."""
    return sum(g.status not in (Status.NEW, Status.MISSING) for g in result.groups)


def candidates(result: RegressionCheck) -> list[GroupKey]:
    """Groups judged regressions: re-measure them to confirm."""
    return [g.key for g in result.groups if g.status is Status.REGRESSION]


def confirm(result: RegressionCheck, recheck: RegressionCheck) -> RegressionCheck:
    """Keep as regressions only the groups that `recheck` (a comparison of a re-measurement
    against the same baseline) flags again; the others become "unconfirmed"."""
    again = set(candidates(recheck))
    checks = tuple(dataclasses.replace(g, status=Status.UNCONFIRMED)
                   if g.status is Status.REGRESSION and g.key not in again else g
                   for g in result.groups)
    return dataclasses.replace(result, groups=checks, counts=_counts(checks),
                               confirmation_run=recheck.current_run)


def _judge(key: Key, base: Grouped, cur: Grouped, min_effect: float, alpha: float,
           min_error_delta: float) -> GroupCheck:
    b, c = base.pool(key), cur.pool(key)
    rps = _ratio(b.values("rps"), c.values("rps"), min_effect, alpha, True)
    p99 = _ratio(b.values("p99_us"), c.values("p99_us"), min_effect, alpha, False)
    err = _delta(b.values("error_rate"), c.values("error_rate"), min_error_delta, alpha)
    judgements = {rps.judgement, p99.judgement, err.judgement}
    warnings: tuple[Warn, ...] = ()
    if b.n_ok and not c.n_ok:
        warnings = (Warn.ALL_CURRENT_FAILED,)  # it ran before and fails now: a regression
        status = Status.REGRESSION
    elif Judgement.WORSE in judgements:
        status = Status.REGRESSION
    elif Judgement.BETTER in judgements:
        status = Status.IMPROVEMENT
    elif Judgement.INCONCLUSIVE in judgements:
        status = Status.INCONCLUSIVE
    else:
        status = Status.UNCHANGED
    return GroupCheck(*key, status=status, rps=rps, p99=p99, error_rate=err, warnings=warnings)


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _ratio(b: list[float], c: list[float], min_effect: float, alpha: float,
           higher_is_better: bool) -> Change:
    """Current over baseline as a ratio (geometric, Welch on logs), judged in the bad direction."""
    r = stats.compare(c, b, min_effect, alpha, higher_is_better)
    judgement = {Verdict.FASTER: Judgement.BETTER, Verdict.SLOWER: Judgement.WORSE,
                 Verdict.INCONCLUSIVE: Judgement.INCONCLUSIVE}.get(r.verdict, Judgement.UNCHANGED)

    def less_one(x: float | None) -> float | None:
        return None if x is None else x - 1

    return Change(_median(b), _median(c), less_one(r.ratio), less_one(r.ci_low),
                  less_one(r.ci_high), r.p_value, judgement, len(b), len(c), r.warnings)


def _delta(b: list[float], c: list[float], min_delta: float, alpha: float) -> Change:
    """Current minus baseline mean (Welch's t on raw values); up is worse."""
    mean_b = stats.mean_sd(b)[0] if b else None
    mean_c = stats.mean_sd(c)[0] if c else None
    test = stats.welch(c, b, alpha)
    if test is None:
        warn = Warn.SINGLE_SAMPLE if b and c else Warn.NO_DATA
        return Change(mean_b, mean_c, None, None, None, None, Judgement.UNCHANGED, len(b),
                      len(c), (warn,))
    judgement = Judgement.UNCHANGED
    if test.p_value < alpha and abs(test.diff) >= min_delta:
        judgement = Judgement.WORSE if test.diff > 0 else Judgement.BETTER
    return Change(mean_b, mean_c, test.diff, test.ci_low, test.ci_high, test.p_value, judgement,
                  len(b), len(c))
