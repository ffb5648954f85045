"""What the runner drives: the database, the apps, the load generator, the sampler.

The runner only talks to a `Backends` object, so that its orchestration (rounds, settle, restart,
failure branches) can be tested fast with fakes (tests/unit/test_runner.py) beside the real-process
tests. `Real` is the one a user runs: PostgreSQL, the app servers under apps/, wrk, /proc.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from harness.config.scenarios import Fault, Request, Scenario
from harness.measure import (
    ceilings,
    cputime,
    dataset,
    locust_driver,
    postgres,
    profiler,
    sampler,
    services,
    verify,
    wrk,
)
from harness.measure.kept import Kept
from harness.model.results import Ceilings, CpuTime, FaultEvent, LoadResult, Samples, Timeline

# The load generators' process names (the sampler counts their CPU): wrk, and Locust's master
# and workers (started as the `locust` script).
LOAD_NAMES = ("wrk", "locust")
# A restarted app is quiet once its process tree uses under 10% of a core over 100 ms (an idle
# server: ~0; a worker still importing: a whole core); waited for at most 3 s.
QUIET_CPU = 0.10
QUIET_WINDOW_S = 0.1
QUIET_MAX_S = 3.0


@dataclass
class SettleOutcome:
    seconds: float | None  # until the app's sessions were idle; None: not within the timeout
    stuck: bool = False  # its pool sat at the limit, idle in transaction, with no CPU used


class Probe(Protocol):
    """Evidence gathered while the load runs."""

    def samples(self) -> Samples | None: ...
    def cpu_time(self) -> CpuTime | None: ...
    def stuck(self) -> bool: ...


class Injected(Protocol):
    """Faults injected while the load runs (harness.measure.faults.Injector)."""

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> Any: ...
    def events(self) -> list[FaultEvent]: ...


class Profiling(Protocol):
    """A sampling profiler around the load (harness.measure.profiler.Recording): `error` once
    entered says it could not start; `outcome()` once left says what it wrote."""

    error: str | None

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> Any: ...
    def outcome(self) -> profiler.Sampled: ...


class Backends(Protocol):
    def database(self, url: str | None, log_dir: str,
                 cpus: list[int]) -> AbstractContextManager[str]: ...
    def prepare(self, url: str, rows: int) -> None: ...
    def reset(self, url: str, rows: int) -> None: ...
    def seeded(self, url: str, rows: int) -> bool: ...
    def launch(self, service: services.Service, url: str, log_path: str,
               overrides: tuple[dict[str, str], ...], cpus: list[int]) -> services.Running: ...
    def wait_healthy(self, running: services.Running, timeout: float,
                     quiet: bool = False) -> None: ...
    def verify(self, base_url: str) -> list[str]: ...
    def check_request(self, base_url: str, request: Request) -> str | None: ...
    def stop(self, *running: services.Running, kill: bool = False) -> None: ...
    def load(self, url: str, request: Request, connections: int, threads: int, seconds: float,
             timeout: float, workdir: str, cpus: list[int],
             scenario: Scenario | None = None) -> LoadResult: ...
    def load_over_time(self, url: str, request: Request, connections: int, threads: int,
                       seconds: float, timeout: float, workdir: str, cpus: list[int],
                       interval: float, origin: float) -> tuple[LoadResult, Timeline]: ...
    def inject(self, running: services.Running, url: str, faults: Sequence[Fault],
               origin: float, cpus: list[int]) -> Injected: ...
    def probe(self, running: services.Running, url: str,
              pool_limit: int | None) -> AbstractContextManager[Probe]: ...
    def settle(self, running: services.Running, url: str, timeout: float,
               pool_limit: int | None, beside: bool = False) -> SettleOutcome:
        """`beside`: while other apps load the database (the next cell's check and warmup)."""
        ...
    def ceilings(self, scenario: Scenario, url: str, rows: int, work: str) -> Ceilings: ...
    def profile(self, running: services.Running, seconds: float, out: str,
                cpus: list[int]) -> Profiling: ...


class Real:
    """PostgreSQL, the real app servers, wrk and the sampler."""

    def __init__(self) -> None:
        # The reset's, the sampler's and the settle's connections, kept across cells while the
        # database is up (harness.measure.kept).
        self._kept: dict[tuple[str, str], Kept] = {}
        self._seeded: dict[tuple[str, int], tuple] = {}  # (url, rows) -> fingerprint after reset

    @contextmanager
    def database(self, url, log_dir, cpus):
        with postgres.database(url, log_dir=log_dir, cpus=cpus or None) as ready:
            try:
                yield ready
            finally:
                for kept in self._kept.values():
                    kept.close()
                self._kept.clear()

    def kept(self, url: str, job: str) -> Kept:
        if (url, job) not in self._kept:
            session = sampler.SAMPLER_SESSION if job == "sampler" else {
                "application_name": f"harness-{job}"}
            self._kept[url, job] = Kept(url, **session)
        return self._kept[url, job]

    def prepare(self, url, rows):
        dataset.prepare(url, rows)

    def reset(self, url, rows):
        conn = self.kept(url, "reset").get()
        dataset.reset(url, rows, conn=conn)
        self._seeded[url, rows] = dataset.fingerprint(conn)

    def seeded(self, url, rows):
        """Whether the dataset is still what this harness's last reset left (so that a
        read-only scenario's cells need no TRUNCATE, which would wait for the last app's
        reads to drain)."""
        before = self._seeded.get((url, rows))
        return before is not None and dataset.fingerprint(self.kept(url, "reset").get()) == before

    def launch(self, service, url, log_path, overrides, cpus):
        return services.launch(service, url, postgres.free_port(), log_path, overrides,
                               cpus=cpus or None)

    def wait_healthy(self, running, timeout, quiet=False):
        """`quiet`: then until its processes stop starting up as well (below QUIET_CPU of a core
        over QUIET_WINDOW_S, for at most QUIET_MAX_S): a server answers as soon as one worker
        is ready, and the others may still be importing."""
        services.wait_healthy(running, timeout)
        if quiet and running.process is not None:
            meter = cputime.CpuMeter(running.process.pid, load_names=())
            meter.begin()
            deadline = time.monotonic() + QUIET_MAX_S
            before = meter.totals()[0]
            while time.monotonic() < deadline:
                time.sleep(QUIET_WINDOW_S)
                meter.scan()
                now = meter.totals()[0]
                if now - before < QUIET_CPU * QUIET_WINDOW_S:
                    return
                before = now

    def verify(self, base_url):
        return verify.contract(base_url)

    def check_request(self, base_url, request):
        return verify.scenario_request(base_url, request)

    def stop(self, *running, kill=False):
        services.stop(*running, kill=kill)

    def load(self, url, request, connections, threads, seconds, timeout, workdir, cpus,
             scenario=None):
        """wrk, unless the scenario names another driver (`driver: locust`)."""
        from harness.measure import cpuset

        if scenario is not None and scenario.driver == "locust":
            return locust_driver.run(url, request, connections, seconds, timeout, workdir,
                                     workers=scenario.locust_workers,
                                     remote_workers=scenario.locust_remote_workers,
                                     rate=scenario.rate_at(connections), cpus=cpus or None)
        return wrk.run(url, request, connections, threads, seconds, timeout, workdir,
                       prefix=cpuset.prefix(cpus))

    def load_over_time(self, url, request, connections, threads, seconds, timeout, workdir,
                       cpus, interval, origin):
        """wrk with answers counted per interval (harness.measure.timeline), from `origin`."""
        from harness.measure import cpuset, timeline

        return timeline.run(url, request, connections, threads, seconds, timeout, workdir,
                            interval, origin=origin, prefix=cpuset.prefix(cpus))

    def inject(self, running, url, faults, origin, cpus):
        from harness.measure.faults import Injector

        pid = running.process.pid if running.process is not None else None
        return Injector(faults, url, pid, origin, cpus)

    @contextmanager
    def probe(self, running, url, pool_limit) -> Iterator[Probe]:
        pid = running.process.pid if running.process is not None else None
        with sampler.Sampler(pid, url, postgres.port_of(url), pool_limit=pool_limit,
                             load_names=LOAD_NAMES, kept=self.kept(url, "sampler")) as s:
            yield _SamplerProbe(s)

    def settle(self, running, url, timeout, pool_limit, beside=False):
        # Two idle snapshots 10 ms apart: wrk has closed its connections, so what is left is
        # the requests in flight, each of which takes its next query within a millisecond; a
        # longer wait was most of the harness's own overhead. Beside the next cell's warmup the
        # wait costs nothing, and 30 ms between snapshots lets the app's CPU time (counted in
        # 10 ms ticks) tell idle from busy.
        result: Any = sampler.settle(url, running.process.pid, postgres.port_of(url), timeout,
                                     pool_limit=pool_limit, interval=0.03 if beside else 0.01,
                                     quiet=2,
                                     kept=self.kept(url, "settle"), own_only=beside)
        return SettleOutcome(result.seconds, result.stuck)

    def ceilings(self, scenario, url, rows, work):
        return ceilings.measure(scenario, url, rows, work)

    def profile(self, running, seconds, out, cpus):
        return profiler.Recording(running.process.pid, out, seconds, cpus=cpus or None)


class _SamplerProbe:
    def __init__(self, s: sampler.Sampler):
        self._s = s

    def samples(self):
        import os

        return self._s.summary(os.cpu_count() or 1)

    def cpu_time(self):
        return self._s.cpu_time()

    def stuck(self):
        return bool(self._s.stuck)
