"""The runner's orchestration with fake backends: rounds, adaptive stopping, settle, restart and
failure branches, fast. tests/integration/test_run.py runs the same code on the real processes."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest

from harness.analysis import sequential, stopping
from harness.config import scenarios
from harness.errors import Interrupted
from harness.measure import runner, services
from harness.measure.backends import SettleOutcome
from harness.measure.profiler import Sampled
from harness.model import store
from harness.model.results import (
    Ceilings,
    CpuTime,
    LoadResult,
    RunStatus,
    StopReason,
)

APPS = ("flask_sync", "fastapi_sync", "fastapi_async")
SCHEMA = json.loads((Path(store.__file__).with_name("results.schema.json")).read_text())


def service(name):
    return services.Service(name=name, directory=Path("."), description=f"fake {name}",
                            server="fake-server", port=0, command=("serve",),
                            knobs=("WEB_CONCURRENCY", "POOL_SIZE", "MAX_OVERFLOW"), packages=())


class FakeProcess:
    def __init__(self, pid):
        self.pid = pid

    def poll(self):
        return None


@dataclass
class Fake:
    """Apps with a true throughput and a CV; a database and a load generator in memory."""

    rps: dict[str, float] | Callable[[str, int], float]
    cv: float = 0.02
    broken: set[str] = field(default_factory=set)  # never become healthy
    stuck: set[str] = field(default_factory=set)  # settle finds them stuck
    seen_stuck: set[str] = field(default_factory=set)  # the sampler sees them stuck under load
    settled: list[str] = field(default_factory=list)
    interrupt_after: int | None = None  # raise Interrupted on this load call
    launches: list[str] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    unprofiled: dict[str, str] = field(default_factory=dict)  # app -> why py-spy cannot attach
    profiled: list[tuple[str, float, str]] = field(default_factory=list)  # (app, seconds, out)
    events: list[tuple] = field(default_factory=list)  # launches, waits and loads in order
    read_only: bool = False  # seeded(): the dataset as the last reset left it
    resets: int = 0
    slow_settle: bool = False  # settle() returns only once another app's warmup has run
    warmed: threading.Event = field(default_factory=threading.Event)

    @contextmanager
    def database(self, url, log_dir, cpus):
        yield "postgresql://bench@127.0.0.1:5999/bench"

    def prepare(self, url, rows):
        pass

    def reset(self, url, rows):
        self.resets += 1

    def seeded(self, url, rows):
        return self.read_only and self.resets > 0

    def launch(self, svc, url, log_path, overrides, cpus):
        self.launches.append(svc.name)
        self.events.append(("launch", svc.name))
        port = 9000 + APPS.index(svc.name)
        settings = {"WEB_CONCURRENCY": "2", "POOL_SIZE": "5", "MAX_OVERFLOW": "10"}
        return services.Running(svc, f"http://127.0.0.1:{port}", settings,
                                FakeProcess(port), None)

    def wait_healthy(self, running, timeout, quiet=False):
        self.events.append(("wait", running.service.name, quiet))
        if running.service.name in self.broken:
            raise RuntimeError(f"{running.service.name} not healthy after {timeout:.0f} s")

    def verify(self, base_url):
        return []

    def check_request(self, base_url, request):
        return None

    def stop(self, *running, kill=False):
        self.stopped += [r.service.name for r in running]
        self.killed += [r.service.name for r in running if kill]

    def load(self, url, request, connections, threads, seconds, timeout, workdir, cpus,
             scenario=None):
        app = APPS[int(url.split(":")[2].split("/")[0]) - 9000]
        self.loads.append(app)
        self.events.append(("load", app, seconds))
        if seconds == 1:  # a warmup
            self.warmed.set()
        if self.interrupt_after is not None and len(self.loads) > self.interrupt_after:
            raise Interrupted("SIGINT")
        true = self.rps[app] if isinstance(self.rps, dict) else self.rps(app, connections)
        rate = true * self.rng.lognormvariate(0, self.cv)
        requests = int(rate * seconds)
        return LoadResult(requests=requests, duration_us=int(seconds * 1e6), bytes=requests * 100,
                          errors=dict.fromkeys(("connect", "read", "write", "status", "timeout"),
                                               0),
                          latency_us={k: 1000.0 for k in ("min", "mean", "stdev", "max", "p50",
                                                          "p75", "p90", "p99", "p99.9")},
                          threads=threads, connections=connections, duration_s=seconds,
                          timeout_s=timeout)

    @contextmanager
    def probe(self, running, url, pool_limit):
        yield FakeProbe(running.service.name in self.seen_stuck)

    def settle(self, running, url, timeout, pool_limit, beside=False):
        if self.slow_settle and beside:
            self.warmed.clear()
            self.warmed.wait(2)  # the last cell's settle has no next warmup beside it
            self.events.append(("settled", running.service.name))
        self.settled.append(running.service.name)
        if running.service.name in self.stuck:
            return SettleOutcome(None, stuck=True)
        return SettleOutcome(0.05)

    def ceilings(self, scenario, url, rows, work):
        return Ceilings(seconds=1, pgbench_tps={"12": 40000.0})

    def profile(self, running, seconds, out, cpus):
        app = running.service.name
        self.profiled.append((app, seconds, out))
        return FakeProfiling(self.unprofiled.get(app), self.loads)


@dataclass
class FakeProfiling:
    """py-spy: attaches unless told why not; 'samples' 100 stacks per load it spans."""

    error: str | None
    loads: list[str]
    before: int = 0
    after: int = 0

    def __enter__(self):
        self.before = len(self.loads)
        return self

    def __exit__(self, *exc):
        self.after = len(self.loads)

    def outcome(self):
        if self.error:
            return Sampled(None, None, self.error)
        return Sampled(100 * (self.after - self.before), 5.0)


@dataclass
class FakeProbe:
    is_stuck: bool = False

    def samples(self):
        return None

    def cpu_time(self):
        return CpuTime(wall_s=5.0, app_s=4.0, db_s=1.0, load_s=0.5)

    def stuck(self):
        return self.is_stuck


def scenario_file(**item):
    data = {"version": 1, "scenarios": [{
        "name": "users_list", "request": {"path": "/users"}, "apps": list(APPS),
        "connections": [12], "duration": 5, "warmup": 1, **item}]}
    return scenarios.parse(data, "scenarios.yaml", set(APPS))


def execute(tmp_path, sf, fake, **kw):
    return runner.execute(sf, ["run", "scenarios.yaml"], tmp_path, backends=fake,
                          stop_rule=stopping.pending, found={a: service(a) for a in APPS},
                          environment={"cpus": 2}, cpu_layout=False, **kw)


def levels(run):
    return [(lv.connections, lv.rounds, lv.reason) for lv in run.levels]


def test_fixed_repeats_interleave_rotate_and_store_every_cell(tmp_path):
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600})
    run, path = execute(tmp_path, scenario_file(connections=[1, 12], repeats=2), fake)
    assert run.status is RunStatus.COMPLETE
    assert [(c.connections, c.repeat, c.app) for c in run.cells[:6]] == [
        (1, 0, "flask_sync"), (1, 0, "fastapi_sync"), (1, 0, "fastapi_async"),
        (1, 1, "fastapi_sync"), (1, 1, "fastapi_async"), (1, 1, "flask_sync")]
    assert len(run.cells) == 12 and all(c.ok and c.rps > 0 for c in run.cells)
    assert levels(run) == [(1, 2, StopReason.FIXED), (12, 2, StopReason.FIXED)]
    stored = store.load(path)
    assert stored == run
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)
    assert run.overhead.load_s >= 0 and set(run.overhead.breakdown) >= {"start", "save", "other"}


def test_adaptive_level_stops_when_every_comparison_is_decided(tmp_path):
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600}, cv=0.03)
    run, _ = execute(tmp_path, scenario_file(budget="10m", min_repeats=3), fake)
    # Paired by round, 3 rounds leave 2 degrees of freedom: the second look (4) decides.
    assert levels(run) == [(12, 4, StopReason.DECIDED)]
    assert len(run.cells) == 12 and run.levels[0].undecided == []


def test_adaptive_level_runs_only_the_apps_left_undecided_then_hits_its_budget(tmp_path):
    # flask and async are equal: their comparison cannot be decided in 90 s of load;
    # fastapi_sync is far slower than both, decided at once and not measured again.
    fake = Fake({"flask_sync": 800, "fastapi_sync": 200, "fastapi_async": 800}, cv=0.10)
    run, _ = execute(tmp_path, scenario_file(budget="90s", min_repeats=3), fake)
    (level,) = run.levels
    assert level.reason is StopReason.BUDGET
    assert level.undecided == ["fastapi_async vs flask_sync"]
    assert level.load_s <= 90 and level.rounds == 5  # 4 rounds of 3 apps, 1 of 2
    later = [c.app for c in run.cells if c.repeat >= 4]
    assert later and "fastapi_sync" not in later


def test_levels_left_undecided_get_the_budget_the_decided_ones_did_not_spend(tmp_path):
    # At 1 connection the apps are far apart (decided in 3 rounds, 54 s of its 120 s); at 12
    # flask and async are equal, so that level uses its own budget and then the 66 s left.
    def rps(app, connections):
        if connections == 1:
            return {"flask_sync": 800, "fastapi_sync": 200, "fastapi_async": 400}[app]
        return {"flask_sync": 800, "fastapi_sync": 200, "fastapi_async": 800}[app]

    fake = Fake(rps, cv=0.05)
    run, _ = execute(tmp_path, scenario_file(connections=[1, 12], budget="120s"), fake)
    first, second = run.levels
    assert (first.reason, first.load_s) == (StopReason.DECIDED, 54)
    assert second.reason is StopReason.BUDGET and 120 < second.load_s <= 120 + 66


def test_an_app_that_never_starts_fails_its_cells_and_is_not_waited_for(tmp_path):
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600},
                broken={"fastapi_sync"})
    run, _ = execute(tmp_path, scenario_file(budget="10m"), fake)
    failed = [c for c in run.cells if c.app == "fastapi_sync"]
    assert failed and all(not c.ok and c.reason.startswith("not measured: did not start")
                          for c in failed)
    assert "fastapi_sync" not in fake.loads
    assert run.apps["fastapi_sync"].verification.ok is False
    assert levels(run) == [(12, 4, StopReason.DECIDED)]


def test_a_stuck_app_is_restarted_before_the_next_cell(tmp_path):
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600},
                stuck={"fastapi_sync"})
    run, _ = execute(tmp_path, scenario_file(repeats=2), fake)
    stuck = [c for c in run.cells if c.app == "fastapi_sync"]
    assert all(c.stuck and "stuck, restarted" in c.restarted for c in stuck)
    assert fake.launches.count("fastapi_sync") == 1 + len(stuck)
    assert fake.killed == ["fastapi_sync"] * len(stuck)  # stuck: killed, not shut down
    assert run.overhead.breakdown.get("restart", 0) >= 0


def test_a_restarted_app_starts_during_the_next_warmup_and_is_waited_for_before_its_load(
        tmp_path):
    # Round 1: flask, fastapi_sync (stuck, relaunched), fastapi_async. fastapi_sync's start-up
    # overlaps fastapi_async's reset, check and 1 s warmup, and is waited for (until healthy and
    # quiet) before fastapi_async's measured 5 s: never during a measurement.
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600},
                stuck={"fastapi_sync"})
    execute(tmp_path, scenario_file(repeats=1), fake)
    relaunch = [i for i, e in enumerate(fake.events) if e == ("launch", "fastapi_sync")][1]
    assert fake.events[relaunch:relaunch + 4] == [
        ("launch", "fastapi_sync"), ("load", "fastapi_async", 1.0),
        ("wait", "fastapi_sync", True), ("load", "fastapi_async", 5.0)]


def test_a_restarted_app_is_waited_for_before_its_own_next_cell(tmp_path):
    # fastapi_sync alone: each of its cells follows its own restart.
    fake = Fake({"fastapi_sync": 400}, stuck={"fastapi_sync"})
    execute(tmp_path, scenario_file(repeats=2, apps=["fastapi_sync"]), fake)
    relaunch = [i for i, e in enumerate(fake.events) if e == ("launch", "fastapi_sync")][1]
    assert fake.events[relaunch:relaunch + 3] == [
        ("launch", "fastapi_sync"), ("wait", "fastapi_sync", True),
        ("load", "fastapi_sync", 1.0)]


def test_an_app_seen_stuck_under_load_is_killed_without_waiting_to_settle(tmp_path):
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600},
                seen_stuck={"fastapi_sync"})
    run, _ = execute(tmp_path, scenario_file(repeats=2), fake)
    assert "fastapi_sync" not in fake.settled and fake.settled.count("flask_sync") == 2
    assert fake.killed == ["fastapi_sync", "fastapi_sync"]
    assert all(c.stuck and c.restarted for c in run.cells if c.app == "fastapi_sync")


def test_interrupted_run_keeps_completed_cells(tmp_path):
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600},
                interrupt_after=4)  # two cells done (warmup + load each), the third cut short
    saved: dict = {}
    with pytest.raises(Interrupted):
        execute(tmp_path, scenario_file(repeats=2), fake, saved=saved)
    run = store.load(saved["path"])
    assert run.status is RunStatus.INTERRUPTED and len(run.cells) == 2
    assert run.levels[0].reason is StopReason.INTERRUPTED
    assert set(fake.stopped) == set(APPS)  # every app stopped on the way out


def test_profiled_cells_come_after_the_rounds_and_stay_out_of_the_cells(tmp_path):
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600},
                unprofiled={"fastapi_sync": "py-spy could not sample the app: Permission denied"})
    run, path = execute(tmp_path, scenario_file(connections=[1, 12], repeats=2, profile=12),
                        fake)
    assert len(run.cells) == 12  # the rounds only: no verdict reads a profiled cell
    assert [(p.app, p.connections) for p in run.profiles] == [(a, 12) for a in APPS]
    flask, sync, async_ = run.profiles
    assert flask.file == f"{run.run_id}/profiles/users_list-flask_sync-c12.txt"
    assert flask.samples == 100 and flask.rps > 0 and flask.error is None
    assert (sync.file, sync.samples, sync.rps) == (None, None, None)
    assert sync.error == "py-spy could not sample the app: Permission denied"  # and on it went
    assert async_.samples == 100
    # Each app: its warmup and the profiled load after the 12 cells' warmups and loads; py-spy
    # sampled the scenario's duration into the run's own directory.
    assert fake.loads[24:] == ["flask_sync"] * 2 + ["fastapi_sync"] + ["fastapi_async"] * 2
    assert fake.profiled[0] == ("flask_sync", 5.0, str(path.parent / flask.file))
    assert fake.settled[-3:] == list(APPS)  # each app drains before the next one's cell
    assert store.load(path).profiles == run.profiles
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)


def test_an_app_that_never_started_has_no_profile_and_says_why(tmp_path):
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600},
                broken={"fastapi_sync"})
    run, _ = execute(tmp_path, scenario_file(repeats=1, profile=True), fake)
    sync = next(p for p in run.profiles if p.app == "fastapi_sync")
    assert sync.error.startswith("not profiled: did not start")
    assert [p.app for p in run.profiles if p.samples] == ["flask_sync", "fastapi_async"]


def test_an_interruption_during_a_profiled_cell_stops_the_profiler_and_keeps_the_cells(tmp_path):
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600},
                interrupt_after=7)  # 3 cells (warmup + load each), a warmup, then the profile
    saved: dict = {}
    with pytest.raises(Interrupted):
        execute(tmp_path, scenario_file(repeats=1, profile=12), fake, saved=saved)
    run = store.load(saved["path"])
    assert run.status is RunStatus.INTERRUPTED and len(run.cells) == 3 and run.profiles == []
    assert [app for app, _, _ in fake.profiled] == ["flask_sync"]
    assert set(fake.stopped) == set(APPS)


def test_a_level_stops_when_its_budget_cannot_reach_the_next_look(tmp_path):
    # flask and async are equal: undecided at every look. With looks at 3, 4, 5, 7, 9, 12
    # (3..12 rounds) and 12 s a round of two apps after fastapi_sync is decided, a level whose
    # budget ends between two looks stops at the last look it could reach: a round beyond it
    # would be load spent without a chance to change a verdict.
    fake = Fake({"flask_sync": 800, "fastapi_sync": 200, "fastapi_async": 800}, cv=0.10)
    sf = scenario_file(budget="100s", min_repeats=3, max_repeats=12)
    plain, _ = execute(tmp_path / "plain", sf, fake)
    fake = Fake({"flask_sync": 800, "fastapi_sync": 200, "fastapi_async": 800}, cv=0.10)
    aware, _ = execute(tmp_path / "aware", sf, fake, looks=sequential.looks)
    assert sequential.looks(3, 12) == (3, 4, 5, 7, 9, 12)
    # 4 rounds of 3 apps (72 s), then 12 s rounds: without looks 6 rounds (96 s), with them
    # round 6 is not started, since look 7 needs 2 more rounds (72 + 12 + 24 > 100).
    assert (plain.levels[0].rounds, plain.levels[0].load_s) == (6, 96)
    assert (aware.levels[0].rounds, aware.levels[0].load_s) == (5, 84)
    assert aware.levels[0].reason is StopReason.BUDGET
    assert aware.levels[0].undecided == ["fastapi_async vs flask_sync"]


def test_a_level_stops_when_only_comparisons_out_of_reach_are_left(tmp_path):
    # flask and async are equal at 10% noise: "equivalent within 5%" is out of reach of 16
    # rounds, and the level gives up once that is clear (from 5 rounds), long before its
    # budget or max_repeats; the comparisons with the far slower fastapi_sync are decided.
    fake = Fake({"flask_sync": 800, "fastapi_sync": 200, "fastapi_async": 800}, cv=0.10)
    run, _ = execute(tmp_path, scenario_file(budget="10m", min_repeats=3, max_repeats=16),
                     fake, looks=sequential.looks)
    (level,) = run.levels
    assert level.reason is StopReason.OUT_OF_REACH
    assert level.undecided == ["fastapi_async vs flask_sync"]
    assert 5 <= level.rounds < 16 and level.load_s < 300


def test_an_app_settles_beside_the_next_warmup_and_before_the_next_measured_window(tmp_path):
    # GET /users leaves the dataset as seeded: no reset waits for the last app's reads, and its
    # settle (which here returns only once a warmup ran) ends before the next measured load.
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600},
                read_only=True, slow_settle=True)
    run, _ = execute(tmp_path, scenario_file(repeats=2), fake)
    assert run.status is RunStatus.COMPLETE and all(c.settle_s == 0.05 for c in run.cells)
    assert fake.resets == 1  # the first cell's: then the dataset stayed as it was
    # after the first cell (whose reset said nothing of the request) every settle ran beside
    assert sum(1 for e in fake.events if e[0] == "settled") == len(run.cells) - 1
    loads = [e for e in fake.events if e[0] != "wait"]
    for i, event in enumerate(loads):
        if event[0] == "settled" and i + 1 < len(loads):
            # after the next app's warmup, before its measured window
            assert loads[i - 1][0] == "load" and loads[i - 1][2] == 1
            assert loads[i + 1][0] == "load" and loads[i + 1][2] == 5


def test_a_reset_waits_for_the_last_apps_writes_to_land(tmp_path):
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600})
    run, _ = execute(tmp_path, scenario_file(repeats=2), fake)
    assert run.status is RunStatus.COMPLETE and fake.resets == 6 and len(fake.settled) == 6


def test_the_next_scenario_keeps_the_apps_when_it_would_start_them_alike(tmp_path):
    item = {"request": {"path": "/users"}, "apps": list(APPS), "connections": [12],
            "duration": 5, "warmup": 1, "repeats": 1}
    sf = scenarios.parse({"version": 1, "scenarios": [
        {"name": "first", **item}, {"name": "same", **item},
        {"name": "other_env", **item, "env": {"POOL_SIZE": 7}}]}, "scenarios.yaml", set(APPS))
    fake = Fake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600})
    run, _ = execute(tmp_path, sf, fake, with_ceilings=False)
    assert run.status is RunStatus.COMPLETE and len(run.cells) == 9
    # "same" ran on the apps "first" started; "other_env" needed its own
    assert sorted(fake.launches) == sorted(list(APPS) * 2)
    assert sorted(fake.stopped) == sorted(list(APPS) * 2)
