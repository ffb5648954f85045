"""Faults injected while a cell's load runs, each at its time (docs/faults.md).

- `restart_postgres`: `pg_ctl restart -m fast` of the harness's own cluster, as its owner, on
  the same port and settings (postmaster.opts). pg_ctl detaches the new postmaster into a
  session of its own, outside every process group the harness started: it is recorded in the
  leftovers registry at once, and the cluster is stopped by its data directory at the end
  (harness.measure.postgres.stop_cluster).
- `terminate_connections`: `pg_terminate_backend` on the app's sessions, matched to the app's
  process tree through their client ports, as the sampler matches them.
- `kill_worker`: SIGKILL to one worker, a child of the app's master process (the oldest).
- `lock_table`: `tc netem` is not available in this kernel, so the database is slowed by
  holding an ACCESS EXCLUSIVE lock on the users table for `hold` seconds: every query on it
  waits, as behind a long migration.

Each fault runs in its own thread, which sleeps until `origin + at` (origin: the monotonic time
at which the measured load started) and records a FaultEvent: when the injection began and
ended, what it did, or why it could not.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import psycopg2

from harness.config.scenarios import Fault
from harness.errors import UsageError
from harness.measure import cpuset, postgres, procs, sampler
from harness.model.results import FaultEvent

APPLICATION = "harness-faults"  # left out of the sampler's sessions (application_name harness%)
RESTART_TIMEOUT_S = 60
LOCK_WAIT_S = 10  # for the lock itself: readers ahead of it finish within milliseconds


class FaultError(RuntimeError):
    """A fault that could not be injected: the reason is recorded, the cell goes on."""


def check(scenarios: Sequence, embedded: bool, targets: dict[str, str]) -> None:
    """Refuse, before anything starts, faults that this run cannot inject: a restart needs the
    harness's own cluster, and the app-side faults need an app the harness started."""
    for s in scenarios:
        kinds = {f.kind for f in s.faults}
        if "restart_postgres" in kinds and not embedded:
            raise UsageError(f"scenario {s.name}: restart_postgres restarts the harness's own "
                             "PostgreSQL; it cannot restart a server given with --database-url")
        external = [a for a in s.apps if a in targets]
        needs_app = kinds & {"kill_worker", "terminate_connections"}
        if needs_app and external:
            raise UsageError(f"scenario {s.name}: {', '.join(sorted(needs_app))} need(s) an "
                             f"app the harness starts; {', '.join(external)} run(s) elsewhere "
                             "(--target / targets)")


class Injector:
    """Context manager around the measured load: each fault in its own thread, at its time."""

    def __init__(self, faults: Sequence[Fault], database_url: str, app_pid: int | None,
                 origin: float, db_cpus: Sequence[int] = ()):
        self.faults = list(faults)
        self.url = database_url
        self.app_pid = app_pid
        self.origin = origin
        self.db_cpus = list(db_cpus)
        self.stop = threading.Event()
        self._events = [FaultEvent(kind=f.kind, at_s=f.at) for f in self.faults]
        self._threads = [threading.Thread(target=self._run, args=(f, e), daemon=True,
                                          name=f"fault-{f.kind}")
                         for f, e in zip(self.faults, self._events, strict=True)]

    def __enter__(self) -> Self:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()  # a fault not yet due is not injected; a held lock is released
        for t in self._threads:
            t.join(timeout=RESTART_TIMEOUT_S + 30)

    def events(self) -> list[FaultEvent]:
        return list(self._events)

    def _now(self) -> float:
        return round(time.monotonic() - self.origin, 3)

    def _run(self, fault: Fault, event: FaultEvent) -> None:
        if self.stop.wait(max(0.0, self.origin + fault.at - time.monotonic())):
            event.error = f"not injected: the load ended before {fault.at:g} s"
            return
        event.started_s = self._now()
        try:
            if fault.kind == "restart_postgres":
                event.detail = restart_postgres(self.url, self.db_cpus)
            elif fault.kind == "terminate_connections":
                event.detail = terminate_connections(self.url, self._app())
            elif fault.kind == "kill_worker":
                event.detail = kill_worker(self._app())
            elif fault.kind == "lock_table":
                event.detail = lock_table(self.url, fault.hold or 0.0, self.stop)
            else:
                raise FaultError(f"unknown fault kind {fault.kind!r}")
        except Exception as exc:  # noqa: BLE001 - a failed injection is recorded, the cell goes on
            event.error = postgres.redact_text(str(exc).strip().splitlines()[0]
                                               if str(exc).strip() else type(exc).__name__)
        event.ended_s = self._now()

    def _app(self) -> int:
        if self.app_pid is None:
            raise FaultError("the app was not started by the harness")
        return self.app_pid


# -- the faults ---------------------------------------------------------------------------------

def data_directory(database_url: str) -> Path:
    """The data directory of the harness's own cluster serving `database_url`; FaultError for
    any other server (the harness restarts only what it created)."""
    conn = psycopg2.connect(database_url, application_name=APPLICATION, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW data_directory")
            row = cur.fetchone()
    finally:
        conn.close()
    datadir = Path(row[0]) if row else None
    if datadir is None or not datadir.parent.name.startswith("harness-pg-") \
            or not (datadir / "postmaster.pid").is_file():
        raise FaultError(f"not the harness's own cluster ({datadir}): not restarted")
    return datadir


def restart_postgres(database_url: str, cpus: Sequence[int] = ()) -> str:
    """`pg_ctl restart -m fast -w` of the harness's cluster; returns what happened."""
    datadir = data_directory(database_url)
    old = postgres.postmaster_pid(datadir)
    user = None
    if os.geteuid() == 0:  # pg_ctl, like postgres, refuses root: run it as the cluster's owner
        user = pwd.getpwuid(datadir.stat().st_uid).pw_name
    log = _stdout_of(old)  # the new postmaster writes where the old one did
    cmd = [*cpuset.prefix(list(cpus)), os.path.join(postgres.find_bindir(), "pg_ctl"),
           "restart", "-D", str(datadir), "-m", "fast", "-w", "-t", str(RESTART_TIMEOUT_S), "-s"]
    t0 = time.monotonic()
    with open(log, "ab") if log else open(os.devnull, "wb") as out:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, user=user,
                              cwd=datadir.parent, timeout=RESTART_TIMEOUT_S + 30, check=False)
    new = postgres.postmaster_pid(datadir)
    if new is not None and procs.REGISTRY is not None:
        procs.REGISTRY.add_group(new)  # its own session: pg_ctl calls setsid()
    if done.returncode != 0 or new is None:
        raise FaultError(f"pg_ctl restart failed (exit {done.returncode}); see the PostgreSQL "
                         "log")
    return (f"restarted PostgreSQL in {time.monotonic() - t0:.2f} s (postmaster {old} -> "
            f"{new})")


def _stdout_of(pid: int | None) -> str | None:
    """The file a process writes its stdout to, if it is a file."""
    if pid is None:
        return None
    try:
        target = os.readlink(f"/proc/{pid}/fd/1")
    except OSError:
        return None
    return target if target.startswith("/") and os.path.isfile(target) else None


def app_sessions(database_url: str, conn, app_pid: int) -> list[sampler.Session]:
    """The app's sessions, matched through the client ports of its process tree (no fallback
    to every session: a fault must not touch the other apps' pools)."""
    ports = sampler.db_client_ports(sampler.process_tree(app_pid), postgres.port_of(database_url))
    return [s for s in sampler.pg_activity(conn) if s.client_port in ports]


def terminate_connections(database_url: str, app_pid: int) -> str:
    conn = psycopg2.connect(database_url, application_name=APPLICATION, connect_timeout=5)
    try:
        conn.autocommit = True
        sessions = app_sessions(database_url, conn, app_pid)
        if not sessions:
            raise FaultError("the app had no database session to terminate")
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                        "FROM unnest(%s::int[]) AS pid", ([s.pid for s in sessions],))
            row = cur.fetchone()
    finally:
        conn.close()
    states = sorted({s.state or "unknown" for s in sessions})
    return f"terminated {row[0] if row else 0} of the app's {len(sessions)} sessions " \
           f"({', '.join(states)})"


def workers(app_pid: int) -> list[int]:
    """The app's worker processes: children of its master, multiprocessing's helper left out."""
    from harness.measure import cputime

    stats = cputime.scan()
    out = []
    for pid, stat in stats.items():
        if stat.ppid != app_pid:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"resource_tracker" in cmdline or b"semaphore_tracker" in cmdline:
            continue
        out.append(pid)
    return sorted(out, key=lambda p: (stats[p].start, p))


def kill_worker(app_pid: int) -> str:
    found = workers(app_pid)
    if not found:
        raise FaultError("the app runs in one process: no worker to kill (WEB_CONCURRENCY=1)")
    victim = found[0]
    os.kill(victim, signal.SIGKILL)
    return f"killed worker {victim} (the oldest of {len(found)}) with SIGKILL"


def lock_table(database_url: str, hold: float, stop: threading.Event) -> str:
    """Hold an ACCESS EXCLUSIVE lock on users for `hold` seconds (less if `stop` is set)."""
    conn = psycopg2.connect(database_url, application_name=APPLICATION, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SET lock_timeout = '{LOCK_WAIT_S}s'")
            t0 = time.monotonic()
            cur.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            waited = time.monotonic() - t0
            stop.wait(hold)
            held = time.monotonic() - t0 - waited
        conn.rollback()
    finally:
        conn.close()
    return (f"held an ACCESS EXCLUSIVE lock on users for {held:.2f} s (granted after "
            f"{waited * 1000:.0f} ms)")
