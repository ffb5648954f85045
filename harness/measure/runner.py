"""Measure a plan: for each level (scenario × connections), rounds of interleaved apps, each cell
stored as it completes.

Before each cell the dataset is reset, the app is checked with the scenario's own request, and a
warmup runs at the cell's concurrency. After it the harness waits for the app to finish what is
still queued in it, and restarts an app that is stuck, so that its state cannot block or slow the
next app's cell. An adaptive level asks `stop_rule` after each round which comparisons are still
undecided, runs only the apps those need, and stops when none is left or its budget is spent.
A sweep scenario first searches its apps' settings (harness.measure.sweep), then runs its level
on the defaults and the best configurations found.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Self

from harness.config import thresholds
from harness.config.scenarios import Scenario, ScenarioFile
from harness.errors import Interrupted
from harness.measure import applog, cpuset, faults, plan, postgres, profiler, services, wrk
from harness.measure.backends import Backends, Real, SettleOutcome
from harness.model import store
from harness.model.results import (
    AppInfo,
    Candidate,
    Ceilings,
    Cell,
    CellStatus,
    CpuLayout,
    LevelStop,
    LoadResult,
    LogSummary,
    Objective,
    Overhead,
    Profile,
    Run,
    RunStatus,
    StopReason,
    ThresholdResult,
    Verification,
)

# After a cell, an app whose sessions are still busy this long is restarted: a healthy one drains
# in under 0.4 s (the longest of five default runs on 2 cores: 0.37 s), and each second waited
# counts as overhead (a restart costs about as much as waiting 0.6 s).
SETTLE_S = 0.7

# (scenario, cells measured so far at one level) -> the comparisons still undecided, as
# (candidate, reference) pairs ([] when every comparison at the level is decided), and those of
# them that more rounds would most likely not decide (not waited for).
Pairs = list[tuple[str, str]]
StopRule = Callable[[Scenario, list[Cell]], tuple[Pairs, Pairs]]


class SweepRules(Protocol):
    """The decisions a sweep scenario takes from its data (harness.measure.sweep), injected like
    the stop rule: the measuring layer does not import the analysis."""

    def step(self, scenario: Scenario, cells: Sequence[Cell],
             lines: Mapping[Objective, Sequence[str]],
             settings: Mapping[str, dict[str, str]]
             ) -> tuple[list[Candidate], dict[Objective, str]]:
        """One search step's candidates summarized, and each objective's choice on its line
        (its current choice first)."""
        ...

    def undecided(self, scenario: Scenario, cells: Sequence[Cell],
                  cpu_pairs: Collection[tuple[str, str]]) -> list[tuple[str, str]]:
        """The stop rule of the fresh rounds: pairs undecided on throughput, or, for
        `cpu_pairs`, on CPU per request."""
        ...


class Observer(Protocol):
    """Progress display: told when cells start and end, and of notable events."""

    def cell_started(self, label: str, seconds: float) -> None: ...
    def cell_finished(self, label: str, summary: str) -> None: ...
    def note(self, text: str) -> None: ...


class Silent:
    def cell_started(self, label, seconds):
        pass

    def cell_finished(self, label, summary):
        pass

    def note(self, text):
        pass


class Clock:
    """Wall time by activity: the load itself, and where the rest (the overhead) goes."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.spent: dict[str, float] = {}

    @contextmanager
    def timing(self, what: str) -> Iterator[None]:
        t = time.monotonic()
        try:
            yield
        finally:
            self.spent[what] = self.spent.get(what, 0.0) + time.monotonic() - t

    def overhead(self) -> Overhead:
        wall = time.monotonic() - self.t0
        load = self.spent.get("load", 0.0)
        rest = {k: round(v, 2) for k, v in self.spent.items() if k != "load"}
        rest["other"] = round(max(0.0, wall - load - sum(rest.values())), 2)
        return Overhead(wall_s=round(wall, 1), load_s=round(load, 1),
                        overhead_pct=round(100 * (wall - load) / load, 1) if load else None,
                        breakdown=rest)


@dataclass
class Context:
    """One run's shared state while it measures."""

    sf: ScenarioFile
    run: Run
    path: Path
    work: Path
    url: str
    backends: Backends
    observer: Observer
    clock: Clock
    stop_rule: StopRule | None
    cpus: CpuLayout
    saved: dict = field(default_factory=dict)
    sweep_rules: SweepRules | None = None
    # (min_repeats, max_repeats) -> the rounds at which the stop rule's verdicts can change
    # (harness.analysis.sequential.looks); None: after any round.
    looks: Callable[[int, int], Sequence[int]] | None = None
    # (app, its settings) that passed the contract in this run: a later scenario starting the
    # same code with the same settings does not verify it again (its request check still runs
    # before every cell).
    verified: set[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=set)

    def save(self) -> None:
        with self.clock.timing("save"):
            store.save(self.run, self.path)
        self.saved["path"] = self.path


class AppSet:
    """The apps of one scenario, started with its settings (or given as external targets)."""

    def __init__(self, ctx: Context, scenario: Scenario, found: dict[str, services.Service],
                 targets: dict[str, str]):
        self.ctx, self.scenario, self.found, self.targets = ctx, scenario, found, targets
        self.log_dir = ctx.work / "logs"
        self.running: dict[str, services.Running] = {}
        self.problems: dict[str, str] = {}
        # Restarted apps not yet waited for: their start-up runs during the next cell's reset,
        # check and warmup, and is waited for before any measured window (`started`).
        self.starting: set[str] = set()
        # Settles still running beside the next cell (`settle`, `settled`).
        self.settling: dict[str, _Settling] = {}
        # The last cell's dataset needed a reset (its request writes): settle then waits at once.
        self.writes = False

    def __enter__(self) -> Self:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Launch every app first, then wait: start-ups overlap instead of adding up.
        try:
            with self.ctx.clock.timing("start"):
                for name in self.scenario.apps:
                    self._launch(name)
                for name, running in list(self.running.items()):
                    self._verify(name, running)  # its writes are undone by the next reset
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.settled(restart=False)  # the scenario is over: record them, restart nothing
        self.starting.clear()
        with self.ctx.clock.timing("stop"):
            self.ctx.backends.stop(*self.running.values())

    def started(self, *names: str) -> None:
        """Wait for the restarted apps among `names` (all of them when none is named) to answer:
        before a measured window, so that no start-up shares the CPUs with a measurement."""
        for name in sorted(self.starting if not names else self.starting & set(names)):
            self.starting.discard(name)
            with self.ctx.clock.timing("restart"):
                self._verify(name, self.running[name], contract=False)

    def _info(self, name: str) -> AppInfo:
        service = self.found[name]
        apps = self.ctx.run.apps
        if name not in apps:
            external = name in self.targets
            apps[name] = AppInfo(description=service.description,
                                 server=service.server_version(),
                                 command=[*service.command, *service.args], external=external,
                                 variant_of=service.variant_of,
                                 packages={} if external else {
                                     p: service.package_version(p) for p in service.packages},
                                 installed=_installed(service) if not external else {})
        return apps[name]

    def _launch(self, name: str) -> None:
        service = self.found[name]
        self._info(name)
        if name in self.targets:
            self.running[name] = services.Running(
                service, self.targets[name].rstrip("/"), {"external": "settings unknown"},
                None, None)
            return
        overrides = _overrides(self.scenario, service)
        log = self.log_dir / f"{self.scenario.name}-{name}.log"
        self.running[name] = self.ctx.backends.launch(service, self.ctx.url, str(log), overrides,
                                                      self.ctx.cpus.app)

    def _verify(self, name: str, running: services.Running, contract: bool = True) -> None:
        """Wait until it answers, then check it against the contract (`contract=False`: a
        restart of an app verified when it first started, same code and settings)."""
        info = self._info(name)
        try:
            self.ctx.backends.wait_healthy(running, 10 if running.process is None else 60,
                                           quiet=not contract)
        except RuntimeError as exc:
            self.problems[name] = f"did not start: {exc}"
            info.verification = Verification(ok=False, failures=[self.problems[name]])
            return
        if not contract:
            return
        if not running.service.contract:
            # Not this repository's users service: the scenario's own request, sent before
            # every cell, is its check.
            info.verification = Verification(ok=True, contract=False)
            return
        key = (name, tuple(sorted((k, str(v)) for k, v in running.settings.items())))
        if key in self.ctx.verified:
            return
        failures = self.ctx.backends.verify(running.base_url)
        if failures:
            self.problems[name] = "failed contract verification: " + "; ".join(failures[:3])
            info.verification = Verification(ok=False, failures=failures)
        elif running.process is not None:
            self.ctx.verified.add(key)

    def restart_all(self) -> None:
        """Stop and start again every app the harness started (after a database restart)."""
        started = [n for n, r in self.running.items() if r.process is not None]
        if not started:
            return
        self.settled(restart=False)
        self.starting.clear()
        with self.ctx.clock.timing("restart"):
            self.ctx.backends.stop(*(self.running.pop(n) for n in started))
            for name in started:
                self._launch(name)
            for name in started:
                self._verify(name, self.running[name])

    def serves(self, scenario: Scenario) -> bool:
        """Whether these running apps are what `scenario` would start: the same apps with the
        same settings, none of them failed."""
        return (set(scenario.apps) == set(self.running) and not self.problems
                and all(_overrides(scenario, self.found[n]) == _overrides(self.scenario,
                                                                         self.found[n])
                        for n in scenario.apps))

    def pool_limit(self, name: str) -> int | None:
        """Database connections the app may open: workers × (pool + overflow)."""
        s = self.running[name].settings if name in self.running else {}
        try:
            return int(s["WEB_CONCURRENCY"]) * (int(s["POOL_SIZE"]) + int(s["MAX_OVERFLOW"]))
        except (KeyError, ValueError):
            return None

    def settle(self, name: str, cell: Cell) -> None:
        """After a cell, let the app finish the requests still queued in it, and restart it when
        it is stuck or its sessions stay busy, so that it cannot block the next cell.

        The wait runs beside the next cell's request check and warmup (a drain takes up to a
        third of a second, the harness's largest cost per cell): `settled` ends it before any
        measured window, before a reset that must see the app's last writes, and before the
        same app's next cell. One the sampler already saw stuck is restarted at once."""
        running = self.running.get(name)
        if cell.load is None and not re.match(r"\w+ failed: ", cell.reason or ""):
            return  # no load reached the app (the load generator's failure may have loaded it)
        if running is None or running.process is None:
            return
        if cell.stuck:
            self._conclude(name, cell, SettleOutcome(None, stuck=True))
            return
        # A healthy app drains in well under a second; one still busy after SETTLE_S is restarted
        # (2-3 s) rather than waited for (up to its pool timeout, 30 s and more). When the last
        # request wrote, the next cell's reset waits for the drain anyway: no one is beside it.
        beside = not self.writes
        self.settling[name] = _Settling(cell, lambda: self.ctx.backends.settle(
            running, self.ctx.url, SETTLE_S, self.pool_limit(name), beside=beside))
        if not beside:
            self.settled(name)

    def settled(self, *names: str, restart: bool = True) -> None:
        """Wait for the settles still running (of `names`, or all), and act on them."""
        for name in [n for n in self.settling if not names or n in names]:
            pending = self.settling.pop(name)
            with self.ctx.clock.timing("settle"):
                outcome, error = pending.result()
            if error is not None:  # a failed check must not end the run
                pending.cell.settle_error = postgres.redact_text(str(error).strip())
            elif outcome is not None and restart:
                self._conclude(name, pending.cell, outcome)
            elif outcome is not None:
                pending.cell.settle_s = outcome.seconds

    def _conclude(self, name: str, cell: Cell, outcome: SettleOutcome) -> None:
        cell.settle_s = outcome.seconds
        if not (outcome.stuck or outcome.seconds is None):
            return
        cell.stuck = cell.stuck or outcome.stuck
        cell.restarted = (
            "its pooled connections sat idle in transaction at the pool limit with no CPU "
            "used: stuck, restarted before the next cell" if outcome.stuck else
            f"its database sessions were still busy {SETTLE_S:g} s after the load stopped: "
            "restarted before the next cell")
        self.ctx.observer.note(f"{name}: {cell.restarted}")
        with self.ctx.clock.timing("restart"):
            # Killed, not shut down: a stuck app's graceful shutdown waits for requests that
            # will never finish. Its successor is waited for before the next measured window
            # (`started`): meanwhile the next cell resets, checks and warms up.
            self.ctx.backends.stop(self.running[name], kill=True)
            del self.running[name]
            self._launch(name)
            self.starting.add(name)


class _Settling:
    """One app's settle, running in a thread beside the next cell's check and warmup."""

    def __init__(self, cell: Cell, wait: Callable[[], SettleOutcome]):
        self.cell = cell
        self._outcome: SettleOutcome | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(wait,), name="settle",
                                        daemon=True)
        self._thread.start()

    def _run(self, wait: Callable[[], SettleOutcome]) -> None:
        try:
            self._outcome = wait()
        except Exception as exc:  # noqa: BLE001 - reported on the cell by `settled`
            self._error = exc

    def result(self) -> tuple[SettleOutcome | None, BaseException | None]:
        # The settle gives up after SETTLE_S (plus one PostgreSQL round trip); the margin only
        # guards against a hung connection.
        self._thread.join(timeout=SETTLE_S + 10)
        if self._thread.is_alive():
            return None, TimeoutError("the settle check did not return")
        return self._outcome, self._error


def _overrides(scenario: Scenario, service: services.Service) -> tuple[dict[str, str], ...]:
    # a variant's fixed settings are what makes it that variant: after the scenario's env
    return (scenario.env, service.fixed, scenario.app_env.get(service.name, {}))


def _installed(service: services.Service) -> dict[str, str]:
    """Every distribution of the app's own environment, when it has one."""
    env = service.env()
    return env.versions() if env is not None and env.ready() else {}


def _after_faults(apps: AppSet, cell: Cell) -> None:
    """A restarted PostgreSQL leaves every app's idle pooled connections stale: each would
    answer its next request with HTTP 500, the next cell's check included. Start them afresh."""
    if any(e.kind == "restart_postgres" and e.started_s is not None for e in cell.faults):
        apps.restart_all()


def execute(sf: ScenarioFile, command: list[str], out_dir: str | Path,
            database_url: str | None = None, targets: dict[str, str] | None = None,
            observer: Observer | None = None, with_ceilings: bool = True,
            saved: dict | None = None, stop_rule: StopRule | None = None,
            backends: Backends | None = None, cpu_layout: bool | None = None,
            found: dict[str, services.Service] | None = None,
            environment: dict | None = None,
            sweep_rules: SweepRules | None = None,
            looks: Callable[[int, int], Sequence[int]] | None = None) -> tuple[Run, Path]:
    """Run the plan; returns (run, path). Interrupted propagates after the run is saved.

    The results file exists once something was measured (`saved["path"]` then names it): a run
    that fails before its first measurement leaves nothing behind."""
    from harness.measure import environment as env_mod

    saved = {} if saved is None else saved
    faults.check(sf.scenarios, embedded=not (database_url or os.environ.get("DATABASE_URL")),
                 targets={**sf.targets, **(targets or {})})
    backends = backends or Real()
    observer = observer or Silent()
    out_dir = Path(out_dir)
    found = found if found is not None else services.discover()
    targets = {**sf.targets, **(targets or {})}
    run_id = store.new_run_id()
    path, work = out_dir / f"{run_id}.json", out_dir / run_id
    clock = Clock()
    layout = cpuset.plan(os.cpu_count() or 1, cpu_layout)
    if environment is None:
        used = sorted({a for s in sf.scenarios for a in s.apps})
        environment = env_mod.collect([found[a] for a in used],
                                      database="external" if database_url else "embedded")
    from harness.config import scenarios as scenarios_mod

    run = Run(run_id=run_id, started_at=store.utc_now(), status=RunStatus.INCOMPLETE,
              command=command, scenario_file=sf.path, config=scenarios_mod.config(sf),
              environment=environment, cpu_layout=layout)
    ctx = None
    try:
        with ExitStack() as stack:
            with clock.timing("start"):
                url = stack.enter_context(backends.database(database_url, str(work), layout.db))
                backends.prepare(url, sf.rows)
            ctx = Context(sf, run, path, work, url, backends, observer, clock, stop_rule,
                          layout, saved, sweep_rules, looks)
            # The apps of the last scenario, kept running for the next one when it starts the
            # same apps with the same settings (a start-up and a contract check saved).
            kept_apps = stack.enter_context(ExitStack())
            apps: AppSet | None = None
            for scenario in sf.scenarios:
                if apps is None or not apps.serves(scenario):
                    kept_apps.close()
                    apps = None
                _ceilings(ctx, scenario, with_ceilings)
                if scenario.sweep:  # its searches, then its level (sweep builds on this module)
                    from harness.measure import sweep

                    sweep.run(ctx, scenario, found, targets)
                    continue
                if apps is None:
                    apps = kept_apps.enter_context(AppSet(ctx, scenario, found, targets))
                else:
                    apps.scenario = scenario
                run_levels(ctx, scenario, apps)
                _profiles(ctx, scenario, apps)
        run.status = RunStatus.COMPLETE
    except Interrupted:
        run.status = RunStatus.INTERRUPTED
        raise
    finally:
        run.finished_at = store.utc_now()
        run.overhead = clock.overhead()
        if saved.get("path"):
            store.save(run, path)
    return run, path


def _ceilings(ctx: Context, scenario: Scenario, wanted: bool) -> None:
    from harness.measure import ceilings

    if not wanted:
        return
    if not ceilings.supported(scenario):
        ctx.run.ceilings[scenario.name] = Ceilings(skipped=(
            f"no pgbench equivalent of {scenario.request.method} {scenario.request.path} "
            f"(ceilings cover GET {' and GET '.join(ceilings.QUERIES)})"))
        return
    ctx.observer.note(f"{scenario.name}: measuring the ceilings (pgbench, raw ASGI)")
    with ctx.clock.timing("load"):
        try:
            result = ctx.backends.ceilings(scenario, ctx.url, ctx.sf.rows, str(ctx.work))
        except Interrupted:
            raise
        except Exception as exc:  # noqa: BLE001 - a ceiling is context, not a candidate
            result = Ceilings(error=postgres.redact_text(str(exc).strip()))
    ctx.run.ceilings[scenario.name] = result
    ctx.save()


class Level:
    """Rounds at one connection level, resumable: an adaptive scenario's levels that end on
    their own budget get another turn with what the decided levels left unspent."""

    def __init__(self, ctx: Context, scenario: Scenario, connections: int):
        self.ctx, self.scenario, self.connections = ctx, scenario, connections
        self.measured: list[Cell] = []
        self.active = list(scenario.apps)
        self.load_s, self.round_no = 0.0, 0
        self.stop = LevelStop(scenario=scenario.name, connections=connections, rounds=0,
                              reason=StopReason.FIXED, load_s=0.0)
        ctx.run.levels.append(self.stop)

    @property
    def open(self) -> bool:
        return self.stop.reason is StopReason.BUDGET

    def next_round_s(self) -> float:
        return plan.cell_seconds(self.scenario) * len(self.active)

    def next_step_s(self) -> float:
        """Load time until the verdicts can next change: the rounds up to the next look. A round
        short of it would be spent without changing any decision."""
        s, rounds = self.scenario, 1
        if self.ctx.looks is not None and s.adaptive:
            ahead = [n for n in self.ctx.looks(s.min_repeats, s.max_repeats) if n > self.round_no]
            rounds = ahead[0] - self.round_no if ahead else 1
        return self.next_round_s() * rounds

    def run(self, apps: AppSet, allowance: float) -> None:
        """Rounds until decided, out of rounds, or until the rounds up to the next look would take
        the level's load time past `allowance` (min_repeats rounds always run)."""
        scenario, ctx = self.scenario, self.ctx
        cell_s = plan.cell_seconds(scenario)
        try:
            while True:
                for name in plan.rotated(self.active, self.round_no):
                    label = (f"{scenario.name} {name} c={self.connections} round "
                             f"{self.round_no + 1}"
                             + ("" if scenario.adaptive else f"/{scenario.repeats}"))
                    cell = take(ctx, plan.Cell(scenario, name, self.connections,
                                               self.round_no), apps, label)
                    if cell.load is not None:
                        self.load_s += cell_s
                    self.measured.append(cell)
                self.round_no += 1
                if self._stopped(allowance):
                    break
        except Interrupted:
            self.stop.reason = StopReason.INTERRUPTED
            raise
        if scenario.adaptive:
            s = self.stop
            ctx.observer.note(f"{scenario.name} c={self.connections}: {s.reason.value} after "
                              f"{s.rounds} rounds ({s.load_s:.0f} s of load)"
                              + (f"; undecided: {', '.join(s.undecided)}" if s.undecided
                                 else ""))

    def _stopped(self, allowance: float) -> bool:
        scenario, stop = self.scenario, self.stop
        stop.rounds, stop.load_s = self.round_no, round(self.load_s, 1)
        if not scenario.adaptive:
            stop.reason = StopReason.FIXED
            return self.round_no >= scenario.repeats
        undecided, hopeless = list(scenario.comparisons), list[tuple[str, str]]()
        early = self.round_no < scenario.min_repeats
        if not early and self.ctx.stop_rule is not None:
            undecided, hopeless = self.ctx.stop_rule(scenario, self.measured)
        stop.undecided = [f"{a} vs {b}" for a, b in undecided]
        waiting = [p for p in undecided if p not in hopeless]
        if not early and not undecided:
            stop.reason = StopReason.DECIDED
            return True
        if not early and not waiting:
            stop.reason = StopReason.OUT_OF_REACH
            return True
        if waiting:  # spend the next rounds on the apps the open comparisons need
            needed = {a for pair in waiting for a in pair}
            self.active = [a for a in scenario.apps if a in needed]
        if self.round_no >= scenario.max_repeats:
            stop.reason = StopReason.MAX_REPEATS
            return True
        if not early and self.load_s + self.next_step_s() > allowance:
            stop.reason = StopReason.BUDGET
            return True
        return False


def take(ctx: Context, planned: plan.Cell, apps: AppSet, label: str) -> Cell:
    """Measure one cell and keep it (saved at once, whatever happens next); then let its app
    settle before the next cell."""
    ctx.observer.cell_started(label, plan.cell_seconds(planned.scenario))
    cell = measure(ctx, planned, apps)
    ctx.run.cells.append(cell)
    ctx.save()
    ctx.observer.cell_finished(label, describe(cell))
    apps.settle(planned.app, cell)
    _after_faults(apps, cell)
    if cell.restarted or cell.settle_error:
        ctx.save()
    return cell


def run_levels(ctx: Context, scenario: Scenario, apps: AppSet) -> None:
    """Every level once with its own budget; then, for an adaptive scenario, the levels left
    undecided share what the others did not spend, in order."""
    levels = [Level(ctx, scenario, c) for c in sorted(scenario.connections)]
    for level in levels:
        level.run(apps, scenario.budget or 0.0)
    if not scenario.adaptive:
        return
    spare = (scenario.budget or 0.0) * len(levels) - sum(lv.load_s for lv in levels)
    for level in levels:
        if level.open and spare >= level.next_step_s():
            ctx.observer.note(f"{scenario.name} c={level.connections}: more rounds with "
                              f"{spare:.0f} s the decided levels left unspent")
            before = level.load_s
            level.run(apps, level.load_s + spare)
            spare -= level.load_s - before


def measure(ctx: Context, planned: plan.Cell, apps: AppSet) -> Cell:
    scenario, name = planned.scenario, planned.app
    running = apps.running.get(name)
    cell = Cell(scenario=scenario.name, app=name, connections=planned.connections,
                repeat=planned.repeat, status=CellStatus.FAILED,
                settings=dict(running.settings) if running else {})
    running = _ready(ctx, planned, apps, cell)
    if running is None:
        return _judged(cell, scenario)
    offset = running.log_offset()
    pool_limit = apps.pool_limit(name)
    try:
        if scenario.warmup > 0:
            with ctx.clock.timing("load"):
                _load(ctx, scenario, running, planned.connections, scenario.warmup)
        apps.settled()
        apps.started()
        offset = running.log_offset()
        with ctx.backends.probe(running, ctx.url, pool_limit) as probe, \
                ctx.clock.timing("load"):
            if scenario.timeline is None:
                result = _load(ctx, scenario, running, planned.connections, scenario.duration)
            else:
                result = _over_time(ctx, scenario, planned.connections, running, cell,
                                    scenario.timeline)
        cell.samples, cell.cpu, cell.stuck = probe.samples(), probe.cpu_time(), probe.stuck()
    except wrk.WrkError as exc:
        cell.reason = f"{scenario.driver} failed: {exc}"
        cell.log = _log(running, offset, ctx.work, planned)
        return _judged(cell, scenario)
    cell.status, cell.load = CellStatus.OK, result
    cell.rps, cell.error_rate = rates(result)
    cell.log = _log(running, offset, ctx.work, planned)
    return _judged(cell, scenario)


def _ready(ctx: Context, planned: plan.Cell, apps: AppSet,
           cell: Cell) -> services.Running | None:
    """The app is running, the dataset reset and the scenario's request answered: the app, or
    None with `cell.reason` saying why the cell cannot be measured."""
    name = planned.app
    apps.settled(name)
    apps.started(name)
    running = apps.running.get(name)
    if name in apps.problems or running is None:
        cell.reason = f"not measured: {apps.problems.get(name, 'the app is not running')}"
        return None
    if running.process is not None and running.process.poll() is not None:
        cell.reason = "not measured: the app exited (see its log)"
        return None
    try:
        # A dataset still as the last reset left it (a read-only request) needs none, and then
        # the last app may go on draining its reads; otherwise its last writes must land first.
        with ctx.clock.timing("reset"):
            fresh = ctx.backends.seeded(ctx.url, ctx.sf.rows)
        apps.writes = not fresh
        if not fresh:
            apps.settled()
            with ctx.clock.timing("reset"):
                ctx.backends.reset(ctx.url, ctx.sf.rows)
    except Exception as exc:  # noqa: BLE001 - e.g. dataset.ResetBlocked
        cell.reason = f"not measured: {postgres.redact_text(str(exc))}"
        return None
    with ctx.clock.timing("check"):
        problem = ctx.backends.check_request(running.base_url, planned.scenario.request)
    if problem:
        cell.reason = f"not measured: the scenario's request failed: {problem}"
        return None
    return running


def _load(ctx: Context, scenario: Scenario, running: services.Running, connections: int,
          seconds: float) -> LoadResult:
    return ctx.backends.load(running.base_url + scenario.request.path, scenario.request,
                             connections, scenario.threads, seconds, scenario.timeout,
                             str(ctx.work / "wrk"), ctx.cpus.load, scenario=scenario)


def _profiles(ctx: Context, scenario: Scenario, apps: AppSet) -> None:
    """After the scenario's rounds, one more cell per app at its `profile` level while py-spy
    samples the app. The sampling slows the app: these cells go to `run.profiles`, never to
    `run.cells`, so that no verdict, threshold or chart reads them."""
    if scenario.profile is None:
        return
    cell_s = plan.cell_seconds(scenario)
    for name in scenario.apps:
        label = f"{scenario.name} {name} c={scenario.profile} profile"
        ctx.observer.cell_started(label, cell_s)
        profile, cell = profiled(ctx, plan.Cell(scenario, name, scenario.profile, 0), apps)
        ctx.run.profiles.append(profile)
        ctx.save()
        ctx.observer.cell_finished(label, describe_profile(profile))
        apps.settle(name, cell)
        apps.settled()


def profiled(ctx: Context, planned: plan.Cell, apps: AppSet) -> tuple[Profile, Cell]:
    """One profiled cell: the Profile stored, and the cell (not stored) that settle reads."""
    scenario, name, conns = planned.scenario, planned.app, planned.connections
    profile = Profile(scenario=scenario.name, app=name, connections=conns,
                      rate_hz=profiler.RATE_HZ)
    cell = Cell(scenario=scenario.name, app=name, connections=conns, repeat=planned.repeat,
                status=CellStatus.FAILED)
    running = apps.running.get(name)
    if running is not None and running.process is None:
        profile.error = ("not profiled: the harness did not start this app (a target), so it "
                         "has no process to sample")
        return profile, cell
    running = _ready(ctx, planned, apps, cell)
    if running is None:
        profile.error = (cell.reason or "").replace("not measured", "not profiled", 1)
        return profile, cell
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", scenario.name)
    name_in_run = f"profiles/{safe}-{name}-c{conns}.txt"
    result = warm = None
    try:
        if scenario.warmup > 0:
            with ctx.clock.timing("load"):
                warm = _load(ctx, scenario, running, conns, scenario.warmup)
        apps.settled()
        apps.started()
        with ctx.backends.profile(running, scenario.duration, str(ctx.work / name_in_run),
                                  ctx.cpus.load) as sampling:
            if sampling.error is None:
                with ctx.clock.timing("load"):
                    result = _load(ctx, scenario, running, conns, scenario.duration)
    except wrk.WrkError as exc:
        cell.reason = profile.error = f"{scenario.driver} failed: {exc}"
        return profile, cell
    outcome = sampling.outcome()
    cell.load = result or warm  # some load reached the app: settle lets it drain
    if result is not None:
        cell.status = CellStatus.OK
        profile.rps, profile.error_rate = rates(result)
    profile.seconds = outcome.seconds
    if outcome.samples is None:
        profile.error = sampling.error or outcome.error
    else:
        profile.file, profile.samples = f"{ctx.run.run_id}/{name_in_run}", outcome.samples
    return profile, cell


def describe_profile(p: Profile) -> str:
    if p.samples is None:
        return f"NO PROFILE ({p.error})"
    return (f"{p.samples} stacks sampled over {p.seconds or 0:.1f} s; "
            f"{p.rps or 0:.0f} req/s while sampled (slowed by the sampling)")


def _over_time(ctx: Context, scenario: Scenario, connections: int,
               running: services.Running, cell: Cell, interval: float) -> LoadResult:
    """The measured load with its timeline, and the scenario's faults injected on schedule:
    both timed from `origin`, the moment the load starts (docs/faults.md)."""
    origin = time.monotonic()
    injector = ctx.backends.inject(running, ctx.url, scenario.faults, origin, ctx.cpus.db)
    try:
        with injector:
            result, cell.timeline = ctx.backends.load_over_time(
                running.base_url + scenario.request.path, scenario.request, connections,
                scenario.threads, scenario.duration, scenario.timeout, str(ctx.work / "wrk"),
                ctx.cpus.load, interval, origin)
    finally:
        cell.faults = injector.events()
    return result


def rates(load: LoadResult) -> tuple[float, float]:
    """req/s and the error rate. wrk counts an answer that came after --timeout both in
    `requests` and in `errors.timeout`, and one that never came only in `errors.timeout`: so the
    rate is errors over (answers + failed connects), capped at 1."""
    seconds = load.duration_us / 1e6 or 1.0
    failed = sum(load.errors.values())
    attempts = load.requests + load.errors.get("connect", 0)
    return (round(load.requests / seconds, 2),
            round(min(1.0, failed / attempts), 6) if attempts else 1.0)


def _log(running: services.Running, offset: int, work: Path, planned: plan.Cell) -> LogSummary:
    text = postgres.redact_text(running.read_log(offset))
    found = applog.classify(text)
    out = LogSummary(counts=found["counts"], examples=found["examples"])
    if running.log_path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", planned.scenario.name)
        path = (work / "logs" /
                f"{safe}-{planned.app}-c{planned.connections}-r{planned.repeat}.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out.file = str(path)
    return out


def _judged(cell: Cell, scenario: Scenario) -> Cell:
    cell.thresholds = [ThresholdResult(**v) for v in
                       thresholds.evaluate(scenario.thresholds, cell.ok, cell.metric)]
    return cell


def describe(cell: Cell) -> str:
    if not cell.ok or cell.load is None:
        return f"FAILED ({cell.reason})"
    flags = [t.expr for t in cell.thresholds if not t.ok]

    def ms(us: float | None) -> str:
        return "–" if us is None else f"{us / 1000:.1f} ms"

    text = (f"{cell.rps:.0f} req/s, p50 {ms(cell.latency('p50'))}, p99 {ms(cell.latency('p99'))}, "
            f"errors {cell.error_rate:.1%}")
    if cell.stuck:
        text += "; STUCK (pool at its limit, idle in transaction)"
    return text + (f"; threshold failed: {', '.join(flags)}" if flags else "")
