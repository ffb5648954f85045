"""The results model: one run, its cells, their samples and CPU time, the ceilings, as typed data.

A results file (results/<run-id>.json) is one `Run` as JSON. `harness.model.store` reads and
writes it; `harness.model.migrate` brings older formats up to this one. The format history is in
docs/results-format.md, and the JSON Schema in harness/model/results.schema.json is generated
from these classes (tests check that the two agree).

Units: seconds for durations and CPU time, microseconds for latencies (wrk's unit), fractions
for rates. A field that was not measured is None, never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 2


class RunStatus(StrEnum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"  # still running, or killed before it could say
    INTERRUPTED = "interrupted"  # Ctrl-C, SIGTERM: every completed cell is kept


class CellStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"  # not measured, or the load generator failed: `reason` says why


class StopReason(StrEnum):
    """Why a (scenario, connections) level stopped taking rounds."""

    DECIDED = "decided"  # every comparison at the level reached a verdict
    BUDGET = "budget"  # the level's time budget was spent
    MAX_REPEATS = "max_repeats"  # the most rounds allowed were taken
    # what was left undecided would most likely stay so up to max_repeats rounds
    OUT_OF_REACH = "out_of_reach"
    FIXED = "fixed"  # a fixed number of repeats (no comparison to decide, or a v1 file)
    INTERRUPTED = "interrupted"


@dataclass
class LoadResult:
    """What the load generator counted over the measured window (v1: the cell's `wrk`)."""

    requests: int
    duration_us: int
    bytes: int
    errors: dict[str, int]  # connect, read, write, status, timeout
    latency_us: dict[str, float | None]  # min mean stdev max p50 p75 p90 p99 p99.9
    threads: int
    connections: int
    duration_s: float
    timeout_s: float
    driver: str = "wrk"  # wrk | locust (then `threads` counts Locust's worker processes)
    # Open loop: requests sent on a schedule of `rate` requests/s whatever the answers do, and
    # latency measured from each request's intended send time. Closed loop (wrk, and Locust
    # without a rate): each connection sends its next request when the answer came.
    open_loop: bool = False
    rate: float | None = None  # the schedule's requests/s (open loop only)
    # The load generator's own failure messages with their counts (Locust), beside `errors`,
    # which sorts them into wrk's kinds (+ "other").
    failures: dict[str, int] = field(default_factory=dict)
    # Share of one core used by each of the load generator's processes over the measured
    # window ("master", "worker-1", ...), as the driver saw it; None: not measured by the driver
    # (wrk: the sampler measures it, see Samples.wrk_saturated).
    generator_cpu: dict[str, float] | None = None
    generator_saturated: bool | None = None  # a process of the generator at >= 90% of a core


TIMELINE_COLUMNS = ["t", "responses", "status_2xx", "status_3xx", "status_4xx", "status_5xx"]


@dataclass
class Timeline:
    """Responses per interval of the measured window, counted by the load generator as they
    arrived: throughput over time and its failed answers (harness.measure.timeline). `t` is the
    start of an interval in seconds from the start of the load; every interval from the first
    response to the last has a row, empty ones included."""

    interval_s: float
    columns: list[str] = field(default_factory=lambda: list(TIMELINE_COLUMNS))
    rows: list[list[float]] = field(default_factory=list)


@dataclass
class FaultEvent:
    """A fault injected while the cell's load ran (harness.measure.faults, docs/faults.md).
    Times are seconds from the start of the measured load."""

    kind: str  # restart_postgres, terminate_connections, kill_worker, lock_table
    at_s: float  # when the scenario asked for it
    started_s: float | None = None  # when the injection began; None: not injected
    ended_s: float | None = None  # when it was over: PostgreSQL back, lock released, kill sent
    detail: str | None = None  # what was done, e.g. "terminated 4 sessions of the app"
    error: str | None = None  # why it was not injected, or not completely


@dataclass
class SeriesStat:
    peak: float
    mean: float


@dataclass
class Samples:
    """Sampled evidence while the load ran: app CPU % and RSS, load-generator CPU %,
    PostgreSQL sessions by state. `series` summarizes each column of `profile`."""

    interval_s: float
    n: int
    series: dict[str, SeriesStat] = field(default_factory=dict)
    wrk_saturated: bool = False
    profile_columns: list[str] = field(default_factory=list)
    profile: list[list[float | None]] = field(default_factory=list)


@dataclass
class CpuTime:
    """Exact CPU seconds (user + system) spent during the measured window, from /proc."""

    wall_s: float
    app_s: float  # the app's whole process tree
    db_s: float | None = None  # the PostgreSQL backends that served the app (local server only)
    load_s: float | None = None  # the load generator


@dataclass
class LogSummary:
    file: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)


@dataclass
class ThresholdResult:
    expr: str
    metric: str
    value: float | None  # in the unit the threshold was written in
    unit: str
    ok: bool


@dataclass(kw_only=True)
class CellCore:
    """One measurement: scenario × app × connections × repeat (round), without its sampled
    time series (what an analysis over many runs needs; `Cell` adds the samples)."""

    scenario: str
    app: str
    connections: int
    repeat: int
    status: CellStatus
    reason: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    rps: float | None = None
    error_rate: float | None = None
    load: LoadResult | None = None
    cpu: CpuTime | None = None
    log: LogSummary | None = None
    thresholds: list[ThresholdResult] = field(default_factory=list)
    settle_s: float | None = None  # seconds the app needed to finish its queue afterwards
    restarted: str | None = None  # why the app was restarted after this cell
    settle_error: str | None = None
    stuck: bool = False  # no request completed while the app's pool sat at its limit
    faults: list[FaultEvent] = field(default_factory=list)  # injected during the load

    @property
    def ok(self) -> bool:
        return self.status is CellStatus.OK

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scenario, self.app, self.connections)

    def latency(self, name: str) -> float | None:
        return None if self.load is None else self.load.latency_us.get(name)

    def metric(self, name: str) -> float | None:
        """A threshold metric's stored value: rps, error_rate, timeouts, mean_latency or a
        latency percentile (µs); None when not measured."""
        if name == "rps":
            return self.rps
        if name == "error_rate":
            return self.error_rate
        if name == "timeouts":
            return self.timeouts
        return self.latency("mean" if name == "mean_latency" else name)

    @property
    def timeouts(self) -> int | None:
        return None if self.load is None else self.load.errors.get("timeout", 0)


@dataclass(kw_only=True)
class Cell(CellCore):
    samples: Samples | None = None
    timeline: Timeline | None = None  # scenarios with `timeline` or `faults`


@dataclass
class Verification:
    ok: bool = True
    failures: list[str] = field(default_factory=list)
    contract: bool = True  # False: not checked against the users contract (service.toml)


@dataclass
class AppInfo:
    description: str
    server: str
    command: list[str]
    external: bool = False
    verification: Verification = field(default_factory=Verification)
    variant_of: str | None = None  # APP@VARIANT: the app it is a variant of
    # Its stack packages' versions as it ran them (its own environment, or the harness's)
    packages: dict[str, str | None] = field(default_factory=dict)
    # Every distribution of its own environment (a variant's pinned versions, --own-envs); {}
    # when it runs in the harness's, whose stack packages are `packages` and `environment`
    installed: dict[str, str] = field(default_factory=dict)


@dataclass
class Overhead:
    wall_s: float
    load_s: float
    overhead_pct: float | None
    # Where the rest of the wall time went, in seconds: start-up, resets, warmup checks, settle…
    breakdown: dict[str, float] = field(default_factory=dict)


@dataclass
class Ceilings:
    """The machine's limits for a scenario: pgbench on its query, the raw ASGI reference app."""

    seconds: float | None = None
    query: str | None = None
    pgbench_tps: dict[str, float | None] = field(default_factory=dict)  # by connections
    reference_rps: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None
    error: str | None = None


@dataclass
class LevelStop:
    """How the rounds of one (scenario, connections) level ended."""

    scenario: str
    connections: int
    rounds: int
    reason: StopReason
    load_s: float  # load time spent at this level
    undecided: list[str] = field(default_factory=list)  # "a vs b" pairs left undecided


class Objective(StrEnum):
    """What a sweep's search looks for in each stack's configurations."""

    THROUGHPUT = "rps"  # the highest median requests/s
    CPU = "cpu_ms_per_request"  # the least median CPU-ms per request (app + PostgreSQL)


class SearchStop(StrEnum):
    """Why a sweep's search of one app stopped."""

    CONVERGED = "converged"  # every axis was tried from the final choices: nothing left to try
    BUDGET = "budget"  # the next step would have taken the search past its budget
    INTERRUPTED = "interrupted"


# The cells of a sweep's search carry the scenario's name with this suffix, so that they are
# never pooled with the fresh rounds that judge its outcome (docs/statistics.md).
SEARCH_SUFFIX = ":search"


def search_scenario(scenario: str) -> str:
    return scenario + SEARCH_SUFFIX


def is_search(scenario: str) -> bool:
    return scenario.endswith(SEARCH_SUFFIX)


@dataclass
class Candidate:
    """One configuration of an app as one step of a search measured it."""

    app: str  # APP@LABEL, or APP itself for its default configuration
    settings: dict[str, str]  # the value of every setting the search sweeps
    cells: int  # cells of this step that completed
    failed: int  # cells of this step that failed
    rps: float | None  # median req/s of the completed cells
    cpu_ms: float | None  # median CPU-ms per request (app + PostgreSQL when the step has both)
    meets: bool  # at least one cell, every cell completed and met every threshold


@dataclass
class SearchStep:
    """One step of a coordinate search: one axis varied around the configurations chosen so
    far, each candidate measured `rounds` times, interleaved."""

    axis: list[str]  # the settings varied, moved together
    first_round: int  # the cells' `repeat` of the step's first round
    rounds: int
    load_s: float
    candidates: list[Candidate]
    from_rps: str  # the configuration chosen for each objective before the step...
    from_cpu: str
    best_rps: str  # ... and after it
    best_cpu: str


@dataclass
class Search:
    """How one app's best configurations were searched for (harness.measure.search)."""

    app: str  # the app as configured by default; candidates are APP@LABEL
    default: dict[str, str]  # the swept settings' values by default
    budget_s: float  # load time the search may take
    load_s: float = 0.0
    stop: SearchStop = SearchStop.INTERRUPTED  # until it stops on its own
    steps: list[SearchStep] = field(default_factory=list)
    best_rps: str = ""  # the app's configuration with the highest req/s meeting the thresholds
    best_cpu: str = ""  # ... and the one with the least CPU per request

    def settings_of(self, app: str) -> dict[str, str]:
        """The swept settings of one configuration the search measured."""
        for step in self.steps:
            for c in step.candidates:
                if c.app == app:
                    return c.settings
        return dict(self.default)


@dataclass
class Sweep:
    """A sweep scenario: each app's search, then which configurations the fresh rounds
    measured and which pairs they decide."""

    scenario: str
    connections: int
    searches: list[Search] = field(default_factory=list)
    apps: list[str] = field(default_factory=list)  # each app's default, then the best ones
    comparisons: list[list[str]] = field(default_factory=list)  # [candidate, reference]
    cpu_pairs: list[list[str]] = field(default_factory=list)  # those decided on CPU too

    def search(self, app: str) -> Search | None:
        return next((s for s in self.searches if s.app == app), None)


@dataclass
class Profile:
    """Where one app's CPU went at one level: py-spy's samples of its processes over one extra
    cell after the level's rounds (scenario key `profile`). The sampling slows the app, so this
    cell is kept apart from `cells` and feeds no verdict, threshold or chart. The stacks are a
    file beside the results (harness.model.stacks), named relative to the results file's
    directory, so that a results directory can be moved whole."""

    scenario: str
    app: str
    connections: int
    rate_hz: int  # samples per second asked of py-spy, of every thread
    file: str | None = None  # collapsed stacks: "<run-id>/profiles/<scenario>-<app>-c<N>.txt"
    samples: int | None = None  # stacks in the file: one per thread and sample, idle included
    seconds: float | None = None  # how long py-spy sampled (it runs behind when the app has
    # many threads: fewer samples than rate × seconds per thread)
    rps: float | None = None  # throughput while sampled, slowed by the sampling
    error_rate: float | None = None
    error: str | None = None  # why there is no profile, e.g. py-spy could not attach


@dataclass
class CpuLayout:
    """Which CPUs each party ran on; `shared` when the machine has too few to separate them."""

    shared: bool
    app: list[int] = field(default_factory=list)
    db: list[int] = field(default_factory=list)
    load: list[int] = field(default_factory=list)


@dataclass(kw_only=True)
class RunCore:
    """A run without its cells' sampled time series: fast to load by the thousand."""

    schema_version: int = SCHEMA_VERSION  # first in the file: the loader reads it before the rest
    run_id: str
    started_at: str
    status: RunStatus
    command: list[str]
    scenario_file: str
    config: dict[str, Any]  # the resolved scenario file (harness.config.scenarios.config)
    environment: dict[str, Any]
    finished_at: str | None = None
    apps: dict[str, AppInfo] = field(default_factory=dict)
    overhead: Overhead | None = None
    ceilings: dict[str, Ceilings] = field(default_factory=dict)
    cpu_layout: CpuLayout | None = None
    levels: list[LevelStop] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)  # scenarios with `profile`
    sweeps: list[Sweep] = field(default_factory=list)
    cells: Sequence[CellCore] = field(default_factory=list)

    def scenario_config(self, name: str) -> dict[str, Any]:
        for s in self.config.get("scenarios") or []:
            if s.get("name") == name:
                return s
        return {}


@dataclass(kw_only=True)
class Run(RunCore):
    """A whole run, as stored."""

    cells: list[Cell] = field(default_factory=list)
