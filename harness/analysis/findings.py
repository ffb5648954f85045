"""What the analysis found, as typed values: every renderer formats these and decides nothing.

`harness.analysis.analyze.analyze` builds one `Findings` from runs. Numbers keep the results
model's units (latencies in microseconds, rates as fractions, CPU in milliseconds per request);
a value that was not measured is None. Text lives in harness/render, never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from harness.analysis.faults import FaultFindings
from harness.analysis.profiles import AppProfile
from harness.analysis.soak import SoakFindings
from harness.model.results import (
    CpuLayout,
    Objective,
    Overhead,
    RunStatus,
    SearchStop,
    StopReason,
)


class Warn(StrEnum):
    """Why a number deserves caution (pyperf's habit: warnings are data)."""

    NOISY = "noisy"  # CV at or above stats.NOISY_CV
    FEW_REPEATS = "few_repeats"  # fewer than stats.FEW_REPEATS values
    NO_DATA = "no_data"
    SINGLE_SAMPLE = "single_sample"  # one value on a side: no spread, no verdict
    NON_POSITIVE = "non_positive"  # a zero (nothing served): no logarithm, no ratio
    ALL_CURRENT_FAILED = "all_current_failed"  # regression check: every current repeat failed


class Verdict(StrEnum):
    """A comparison's outcome, in the metric's good direction (faster = better: more req/s, or
    less CPU per request). The first two groups are decisions; the last two say the data could
    not decide, which is a different statement from "no difference"."""

    FASTER = "faster"
    SLOWER = "slower"
    EQUIVALENT = "equivalent"  # sequential: the interval lies within ±min_effect
    NO_DIFFERENCE = "no detectable difference"  # Welch: ±min_effect ruled out on one side
    INCONCLUSIVE = "inconclusive"  # Welch: the interval reaches past both sides of ±min_effect
    UNDECIDED = "undecided"  # sequential: not decided at the last look reached

    @property
    def decided(self) -> bool:
        return self not in (Verdict.INCONCLUSIVE, Verdict.UNDECIDED)


class Method(StrEnum):
    WELCH = "welch_log"  # fixed repeats: Welch's t on the logs (harness.analysis.stats.compare)
    SEQUENTIAL = "sequential"  # adaptive rounds: anytime-valid (harness.analysis.sequential)


class Metric(StrEnum):
    THROUGHPUT = "rps"  # requests/s, higher is better
    CPU = "cpu_ms_per_request"  # CPU-ms per request (app, plus PostgreSQL when measured)


class NotCompared(StrEnum):
    NOT_RUN = "not_run"  # `app` has no cell at the level
    ALL_FAILED = "all_failed"  # every repeat of `app` failed
    NO_REQUESTS = "no_requests"  # a repeat served no requests: no ratio to speak of
    NO_CPU = "no_cpu"  # CPU time was not measured


@dataclass(frozen=True, slots=True)
class Summary:
    """One metric over the repeats of a group: median with its 95% CI, spread, warnings."""

    n: int
    median: float | None = None
    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_method: str | None = None  # "order" (n >= 6), "t-log", "t"
    cv: float | None = None
    warnings: tuple[Warn, ...] = ()


@dataclass(frozen=True, slots=True)
class Failure:
    run_id: str
    scenario: str
    app: str
    connections: int
    repeat: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class Group:
    """A (scenario, app, connections) group: every metric over its completed repeats."""

    scenario: str
    app: str
    connections: int
    n_ok: int
    n_failed: int
    failures: tuple[Failure, ...]
    rps: Summary
    p50: Summary  # µs
    p90: Summary
    p99: Summary
    error_rate: Summary
    timeouts: int | None  # summed over the repeats; None when none recorded them
    app_cpu_ms: Summary  # the app's CPU-ms per request
    db_cpu_ms: Summary  # PostgreSQL's CPU-ms per request
    requests_per_cpu_s: Summary  # requests per CPU-second of app + PostgreSQL
    failing_thresholds: tuple[str, ...]  # expressions failed by any completed repeat
    restarted: int  # completed repeats after which the app had to be restarted
    stuck: int  # repeats in which the app served nothing while its pool sat at the limit
    saturated: int  # completed repeats of the run loaded whole where wrk was saturated
    sampled: int  # completed repeats of the run loaded whole: the denominator of `saturated`
    driver: str = "wrk"  # the load generator of its repeats (harness.analysis.loops)
    open_loop: bool = False  # requests sent on a schedule of `rate` requests/s
    rate: float | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    """candidate against reference at one level, on one metric; computed once, read by all."""

    scenario: str
    connections: int
    candidate: str
    reference: str
    metric: Metric
    method: Method
    verdict: Verdict | None  # None: not compared (see not_compared, missing)
    ratio: float | None = None  # candidate / reference, geometric means
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None  # Welch only
    n_candidate: int = 0
    n_reference: int = 0
    mde: float | None = None  # smallest relative difference the data could have detected
    look: int | None = None  # sequential: values used from each side
    alpha_spent: float | None = None  # sequential: the alpha of that look
    not_compared: NotCompared | None = None
    missing: str | None = None  # the app that lacked data when not compared
    warnings: tuple[Warn, ...] = ()
    with_db: bool = False  # CPU: PostgreSQL's CPU is included
    zero_rounds: int = 0  # sequential: rounds of the look in which a side served nothing


@dataclass(frozen=True, slots=True)
class ThresholdMiss:
    expr: str
    failed: int
    measured: int
    values: tuple[tuple[float, str], ...]  # (value, unit) of the first failing repeats


@dataclass(frozen=True, slots=True)
class Problems:
    """What broke at a level, most direct cause first."""

    failed: int
    total: int
    reasons: tuple[str | None, ...]  # distinct failure reasons, sorted (None: none recorded)
    thresholds: tuple[ThresholdMiss, ...]
    log_counts: dict[str, int]  # app-log categories, most frequent first
    stuck: int


@dataclass(frozen=True, slots=True)
class BreakingPoint:
    """The highest level up to which every repeat completed and met every threshold."""

    scenario: str
    app: str
    last_ok: int | None  # None: broke at the lowest level tested
    highest: int  # the highest level tested
    broken_at: int | None  # None: held at every level
    problems: Problems | None


@dataclass(frozen=True, slots=True)
class Capacity:
    """Cores needed per 1,000 req/s: CPU-ms per request at the highest level meeting every
    threshold (1 CPU-ms per request at 1,000 req/s keeps one core busy)."""

    scenario: str
    app: str
    connections: int | None  # None: no level met the thresholds, or CPU was not measured
    cores_per_1000_rps: float | None
    ci_low: float | None
    ci_high: float | None
    with_db: bool


@dataclass(frozen=True, slots=True)
class CeilingRow:
    app: str
    connections: int
    rps: float
    of_pgbench: float | None  # fraction
    of_reference: float | None


@dataclass(frozen=True, slots=True)
class Ceiling:
    scenario: str
    pgbench_tps: dict[int, float]  # by connections
    reference_rps: dict[int, float]
    rows: tuple[CeilingRow, ...]
    skipped: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PeakMean:
    peak: float
    mean: float | None  # mean of the repeats' means


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    """Sampled evidence of one group: peaks over its repeats, and its app log."""

    scenario: str
    app: str
    connections: int
    app_cpu_pct: PeakMean | None
    app_rss_mb: float | None  # peak
    wrk_cpu_pct: PeakMean | None
    pg_sessions: tuple[float | None, float | None, float | None] | None  # active, idle, idle in tx
    log_counts: dict[str, int]  # most frequent first
    example: tuple[str, str] | None  # (category, a representative log line)


@dataclass(frozen=True, slots=True)
class Level:
    """How the rounds of one level ended (from the newest run's record)."""

    connections: int
    rounds: int
    reason: StopReason
    load_s: float
    undecided: tuple[str, ...]


PERCENTILES = ("p50", "p75", "p90", "p99", "p99.9", "max")  # a spectrum's points, in order


@dataclass(frozen=True, slots=True)
class Spectrum:
    """A group's latency percentiles in one run (harness.analysis.charts): each the median over
    the completed repeats that recorded it, in µs, in PERCENTILES order (None: not recorded)."""

    run_id: str
    app: str
    connections: int
    n: int  # repeats with at least one of the percentiles
    values: tuple[float | None, ...]


Points = tuple[tuple[float, float], ...]  # (seconds into the measured load, value)


@dataclass(frozen=True, slots=True)
class Resources:
    """One cell's sampled resources over time, from the run loaded whole: the completed repeat
    of its group with the median throughput (harness.analysis.charts). Long cells are averaged
    into at most charts.MAX_POINTS points per series; a series not sampled is empty."""

    run_id: str
    app: str
    connections: int
    repeat: int
    rps: float | None
    app_cpu_pct: Points  # of one core, the app's whole process tree
    db_cpu_pct: Points  # the PostgreSQL backends that served it
    app_rss_mb: Points
    pg_active: Points  # the app's PostgreSQL sessions by state
    pg_idle: Points
    pg_idle_in_transaction: Points


class Mechanism(StrEnum):
    # requests holding connections wait for a thread that newer requests, waiting for a
    # connection, occupy (harness.analysis.diagnosis)
    THREADPOOL_DEADLOCK = "threadpool_deadlock"
    POOL_EXHAUSTED = "pool_exhausted"  # more requests than connections: they queue, then time out


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Why a group's pool ran out, with the numbers measured (per worker unless said)."""

    scenario: str
    app: str
    connections: int
    mechanism: Mechanism
    workers: int | None
    threads: int | None  # threads running sync request code
    threads_source: str  # where that number comes from
    pool: int | None  # POOL_SIZE + MAX_OVERFLOW
    pool_timeout_s: int | None
    in_flight: float | None  # connections / workers: requests in flight per worker
    lock_up_at: int | None  # threads + pool: in flight per worker from which it can lock up
    pool_limit: int | None  # workers × pool: the app's connections at most
    idle_in_transaction: float | None  # its sessions idle in transaction, peak (sampled run)
    pool_timeouts: int  # pool timeouts in its log, over the rounds
    stuck: int  # rounds in which it served nothing with its pool held
    rounds: int
    rps: Summary


class Held(StrEnum):
    HELD = "held"  # served every round without failing requests
    SHED = "shed"  # kept serving, but failed a share of the requests (503, timeouts)
    COLLAPSED = "collapsed"  # a round served nothing, got stuck or failed


@dataclass(frozen=True, slots=True)
class Outcome:
    """Whether an app (a variant, a mitigation) held at one level of a scenario."""

    scenario: str
    app: str
    connections: int
    variant_of: str | None
    description: str | None
    rounds: int
    failed: int
    stuck: int
    rps: Summary
    error_rate: Summary
    p99: Summary
    pool_timeouts: int
    idle_in_transaction: float | None
    failing_thresholds: tuple[str, ...]
    held: Held


@dataclass(frozen=True, slots=True)
class Tried:
    """One configuration as one step of a sweep's search measured it (a few cells: enough to
    choose, not to decide)."""

    app: str
    settings: dict[str, str]  # the swept settings
    cells: int
    failed: int
    rps: float | None  # medians
    cpu_ms: float | None
    meets: bool  # every cell completed and met every threshold


@dataclass(frozen=True, slots=True)
class StepLine:
    """The configurations a step tried from one objective's choice (or both, while they
    agree): that choice, and the same with the step's settings at their other values."""

    objectives: tuple[Objective, ...]
    start: str  # the choice the line went from
    tried: tuple[Tried, ...]


@dataclass(frozen=True, slots=True)
class SearchStepFindings:
    axis: tuple[str, ...]
    lines: tuple[StepLine, ...]
    best_rps: str  # each objective's choice after the step
    best_cpu: str
    moved_rps: bool  # the choice changed in this step
    moved_cpu: bool


@dataclass(frozen=True, slots=True)
class Fresh:
    """A configuration in the fresh rounds measured after the search (the scenario's level)."""

    app: str
    settings: dict[str, str]  # the swept settings
    n: int  # completed repeats
    failed: int
    rps: float | None  # median req/s
    cpu_ms: float | None  # median CPU-ms per request, app + PostgreSQL when every cell has both
    failing: tuple[str, ...]  # thresholds failed by some fresh repeat


@dataclass(frozen=True, slots=True)
class Choice:
    """A stack's best configuration for one objective and how far its default is from it."""

    objective: Objective
    best: Fresh
    gap: Comparison | None  # best against the default on the objective's metric, from the
    # fresh rounds; None when the default itself was the best the search found
    met: bool | None  # the choice met every threshold in the search (None: nothing searched)


@dataclass(frozen=True, slots=True)
class StackSweep:
    app: str  # the stack, as configured by default
    default: Fresh
    throughput: Choice
    cpu: Choice
    stop: SearchStop
    budget_s: float
    load_s: float
    configurations: int  # distinct configurations the search measured
    cells: int
    steps: tuple[SearchStepFindings, ...]


@dataclass(frozen=True, slots=True)
class PairVerdicts:
    """A declared pair of stacks on one metric: their defaults compared, beside their best
    configurations compared (each stack's best for that metric)."""

    metric: Metric
    candidate: str  # the stacks
    reference: str
    defaults: Comparison | None
    bests: Comparison | None  # None: both bests are the defaults, the same comparison


@dataclass(frozen=True, slots=True)
class SweepFindings:
    connections: int
    rounds: int  # cells per configuration in each step of the search
    stacks: tuple[StackSweep, ...]
    pairs: tuple[PairVerdicts, ...]  # throughput then CPU


@dataclass(frozen=True, slots=True)
class ScenarioFindings:
    name: str
    description: str
    method: str | None  # the request: "GET /users"
    path: str | None
    duration: float | None
    warmup: float | None
    repeats: int | None  # fixed repeats per run (None for adaptive scenarios)
    timeout: float | None
    budget: float | None  # adaptive: seconds of load per level
    min_repeats: int | None
    max_repeats: int | None
    baseline: str
    min_effect: float
    apps: tuple[str, ...]  # baseline first, then in run order
    levels: tuple[int, ...]
    thresholds: tuple[str, ...]
    groups: tuple[Group, ...]
    comparisons: tuple[Comparison, ...]  # throughput then CPU, each pair by level
    breaking_points: tuple[BreakingPoint, ...]
    capacity: tuple[Capacity, ...]
    ceiling: Ceiling | None
    evidence: tuple[EvidenceRow, ...]
    stops: tuple[Level, ...]
    spectra: tuple[Spectrum, ...] = ()  # per group of the run shown, apps then levels
    resources: tuple[Resources, ...] = ()  # per app, at one level (harness.analysis.charts)
    diagnoses: tuple[Diagnosis, ...] = ()  # why pools ran out (harness.analysis.diagnosis)
    outcomes: tuple[Outcome, ...] = ()  # which apps held: scenarios that measure variants
    sweep: SweepFindings | None = None  # a sweep scenario: each stack's best configuration

    def group(self, app: str, connections: int) -> Group | None:
        for g in self.groups:
            if g.app == app and g.connections == connections:
                return g
        return None

    def comparison(self, candidate: str, reference: str, connections: int,
                   metric: Metric = Metric.THROUGHPUT) -> Comparison | None:
        for c in self.comparisons:
            if (c.candidate, c.reference, c.connections, c.metric) == (
                    candidate, reference, connections, metric):
                return c
        return None

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        return tuple(dict.fromkeys((c.candidate, c.reference) for c in self.comparisons))


@dataclass(frozen=True, slots=True)
class RunHeader:
    run_id: str
    status: RunStatus
    started_at: str | None
    finished_at: str | None
    cells: int
    failed: int
    command: tuple[str, ...]
    not_measured: tuple[str, ...]  # configured scenarios without a single cell


@dataclass(frozen=True, slots=True)
class Noise:
    groups: int
    median_cv: float
    max_cv: float


@dataclass(frozen=True, slots=True)
class EnvDiff:
    key: str  # an environment key, or "packages.<name>"
    baseline: tuple[Any, ...]  # the distinct values of the other runs
    current: Any


@dataclass(frozen=True, slots=True)
class Environment:
    """One distinct environment and the runs that share it."""

    run_ids: tuple[str, ...]
    values: dict[str, Any]  # without packages
    packages: dict[str, str]  # sorted by name
    overhead: Overhead | None  # of the newest of these runs


@dataclass(frozen=True, slots=True)
class AppSettings:
    app: str
    description: str | None
    server: str | None
    command: tuple[str, ...]
    external: bool
    values: dict[str, dict[str, tuple[str, ...]]]  # setting -> value -> scenarios using it
    packages: dict[str, str | None] = field(default_factory=dict)  # as the app ran them
    variant_of: str | None = None


@dataclass(frozen=True, slots=True)
class VerificationFailure:
    app: str
    failures: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the parties ran. Without a recorded layout, wrk shares the app's CPUs."""

    recorded: bool
    shared: bool
    app: tuple[int, ...] = ()
    db: tuple[int, ...] = ()
    load: tuple[int, ...] = ()

    @classmethod
    def of(cls, layout: CpuLayout | None) -> Layout:
        if layout is None:
            return cls(recorded=False, shared=True)
        return cls(True, layout.shared, tuple(layout.app), tuple(layout.db), tuple(layout.load))


@dataclass(frozen=True, slots=True)
class HistoryLine:
    app: str
    connections: int
    rps: tuple[float | None, ...]  # per run, in run order
    p99: tuple[float | None, ...]  # µs


@dataclass(frozen=True, slots=True)
class History:
    run_ids: tuple[str, ...]
    scenarios: tuple[tuple[str, tuple[HistoryLine, ...]], ...]


@dataclass(frozen=True, slots=True)
class LoopComparison:
    """An open-loop group beside the closed-loop group of the same request and app whose
    throughput is nearest (harness.analysis.loops)."""

    request: str  # "GET /users"
    app: str
    open_scenario: str
    open_connections: int
    rate: float | None  # the schedule's requests/s
    open_driver: str
    open_rps: float  # medians
    open_p99: float | None  # µs, from the intended send times
    closed_scenario: str
    closed_connections: int
    closed_driver: str
    closed_rps: float
    closed_p99: float | None
    throughput_gap: float  # open / closed - 1
    same_throughput: bool  # within loops.SAME_THROUGHPUT


class CellRow(NamedTuple):
    """One cell, flat, its values derived once: what the analysis reads, and cells.csv's rows.
    (A named tuple: a thousand runs make a hundred thousand of these.)"""

    run_id: str
    scenario: str
    app: str
    connections: int
    repeat: int
    status: str
    reason: str | None
    rps: float | None
    error_rate: float | None
    p50_us: float | None
    p90_us: float | None
    p99_us: float | None
    timeouts: int | None
    requests: int | None
    app_cpu_ms: float | None  # per request
    db_cpu_ms: float | None
    requests_per_cpu_s: float | None
    restarted: bool
    stuck: bool
    ok: bool


@dataclass(frozen=True)
class Findings:
    runs: tuple[RunHeader, ...]  # oldest first
    detail_run: str | None  # the run whose sampled evidence is shown
    noise: Noise | None
    environment_diff: tuple[EnvDiff, ...]
    environments: tuple[Environment, ...]  # one when the runs agree, else each distinct one
    scenarios: tuple[ScenarioFindings, ...]
    failures: tuple[Failure, ...]  # the newest first, at most analyze.MAX_FAILURES
    failures_total: int
    verification: tuple[VerificationFailure, ...]
    all_verified: bool  # every app recorded a passed contract verification
    settings: tuple[AppSettings, ...]
    layout: Layout
    history: History | None  # only with several runs
    cells: Sequence[CellRow] = field(repr=False)  # every cell's, in run order (rows.CellRows)
    alpha: float = 0.05
    noisy_cv: float = 0.10
    few_repeats: int = 3
    loops: tuple[LoopComparison, ...] = ()  # open-loop p99 beside closed-loop p99
    faults: tuple[FaultFindings, ...] = ()  # injected faults and recovery (run loaded whole)
    soak: tuple[SoakFindings, ...] = ()  # memory and throughput over time (run loaded whole)
    profiles: tuple[AppProfile, ...] = ()  # where the CPU goes (run loaded whole, its stacks)

    @property
    def pooled(self) -> bool:
        return len(self.runs) > 1

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        return tuple(c for s in self.scenarios for c in s.comparisons)
