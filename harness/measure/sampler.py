"""Evidence gathered during a cell, in one 0.5 s loop: exact CPU time of the app's process tree,
of the PostgreSQL backends that served it and of wrk (harness.measure.cputime); the app's RSS;
the app's PostgreSQL sessions by state (matched to the app through its sockets' local ports);
and whether the app looks stuck. After the cell, `settle` waits for the app's queue to drain."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Self

import psycopg2

from harness.measure import cputime, sockdiag
from harness.measure.kept import Kept
from harness.model.results import CpuTime, Samples, SeriesStat

INTERVAL = 0.5
# wrk is saturated when it uses this share of the cores its threads can use.
SATURATED = 0.9

PG_STATES = ("active", "idle", "idle in transaction")
PROFILE_COLUMNS = ["t", "app_cpu_pct", "app_rss_mb", "wrk_cpu_pct", "pg_active", "pg_idle",
                   "pg_idle_in_transaction", "db_cpu_pct"]

# Stuck: the app's pool held at its limit by sessions that wait on the app (idle in
# transaction) or on each other (a lock), none changing state, while the app itself uses no CPU.
# That is the known fastapi_sync deadlock: no request can complete until the app is restarted.
STUCK_AFTER_S = 2.5  # while the load runs: the 6th such sample in a row, at 0.5 s
STUCK_SETTLE_S = 0.5  # after it (within the runner's SETTLE_S)
STUCK_MAX_CPU = 0.05  # of one core, for the whole process tree


@dataclass(frozen=True)
class Session:
    """A client backend of the database, from pg_stat_activity."""

    pid: int
    client_port: int
    state: str | None
    backend_start: float  # epoch seconds
    state_change: float | None
    wait_event_type: str | None


@dataclass(frozen=True)
class SettleResult:
    seconds: float | None  # until the app's sessions were all idle; None: not (timeout or stuck)
    stuck: bool = False  # gave up early: the pool sat at its limit, unchanging, with no app CPU


# A settle beside other apps' load: the app's processes count as idle under this share of a
# core between two snapshots (an idle server's event loop or master uses well under 1%).
IDLE_CPU = 0.2
TICK_S = 1 / os.sysconf("SC_CLK_TCK")  # /proc counts CPU time in clock ticks: one is noise

# The sampler's session: a sample must never hang the loop (or __exit__) on a busy server.
SAMPLER_SESSION: dict[str, Any] = {"application_name": "harness-sampler", "options": "-c statement_timeout=2000"}


class Sampler:
    """Context manager around the load window. Afterwards: `summary()`, `cpu_time()`, `stuck`.

    While it runs, `stuck` turns True (and `stuck_event` is set, `on_stuck` is called once from
    the sampling thread) as soon as the app has looked stuck for STUCK_AFTER_S, so that the
    caller can cut the cell short. `pool_limit` is the most sessions the app can open
    (WEB_CONCURRENCY × (POOL_SIZE + MAX_OVERFLOW)); without it nothing is ever called stuck."""

    def __init__(self, app_pid: int | None, database_url: str, db_port: int,
                 interval: float = INTERVAL, pool_limit: int | None = None,
                 load_names: Collection[str] = ("wrk",), stuck_after: float = STUCK_AFTER_S,
                 on_stuck: Callable[[], None] | None = None, kept: Kept | None = None):
        self.app_pid = app_pid
        self.kept = kept  # a connection kept across windows, else one of its own
        self.database_url = database_url
        self.db_port = db_port
        self.interval = interval
        self.rows: list[dict] = []
        self.meter = cputime.CpuMeter(app_pid, load_names)
        self.watch = StuckWatch(pool_limit, stuck_after) if pool_limit else None
        self.stuck_since: float | None = None  # seconds into the window the stuck streak began
        self.stuck_event = threading.Event()
        self.on_stuck = on_stuck
        self._cpu: CpuTime | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)

    @property
    def stuck(self) -> bool:
        """The app looked stuck at some point of the window."""
        return self.stuck_since is not None

    def __enter__(self) -> Self:
        self._conn = None
        activity, own = [], None
        try:
            if self.kept is not None:
                self._conn = self.kept.get()
            else:
                self._conn = psycopg2.connect(self.database_url, connect_timeout=5,
                                              **SAMPLER_SESSION)
                self._conn.autocommit = True
            activity, own = pg_activity(self._conn), own_backend(self._conn)
        except psycopg2.Error:
            self._close()  # evidence is best effort; the measurement goes on
        first = self.meter.begin([(s.pid, s.backend_start) for s in activity], own)
        self._t0 = first.t
        self._prev = (first.t, *self.meter.totals())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            try:
                self._cpu = self.meter.finish()
            except OSError:
                self._cpu = self.meter.result()
            self._close()

    def cpu_time(self) -> CpuTime | None:
        """Exact CPU seconds over the window (after exit); None without an app process."""
        if self._cpu is None or self.app_pid is None:
            return None
        return self._cpu

    def _close(self) -> None:
        if self._conn is not None and self.kept is None:
            self._conn.close()
        self._conn = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if self._stop.is_set():
                    return
                try:
                    self._sample()
                except psycopg2.Error:
                    if self._conn is not None and self._conn.closed:
                        self._conn = None  # lost: go on with the processes alone
                except OSError:
                    continue  # /proc or a socket vanished mid-sample: skip the point

    def _sample(self) -> None:
        snap = self.meter.scan()
        sessions = None
        if self._conn is not None:
            ports = db_client_ports(snap.app_pids, self.db_port)
            activity = pg_activity(self._conn)
            self.meter.backends([(s.pid, s.backend_start) for s in activity
                                 if s.client_port in ports])
            sessions = app_sessions(activity, ports, snap.app_pids)
        app_s, db_s, load_s = self.meter.totals()
        t0, app0, db0, load0 = self._prev
        self._prev = (snap.t, app_s, db_s, load_s)
        dt = max(snap.t - t0, 1e-6)
        row = {
            "t": round(snap.t - self._t0, 2),
            "app_cpu_pct": round(100 * (app_s - app0) / dt, 1),
            "app_rss_mb": round(snap.app_rss / 2**20, 1),
            "wrk_cpu_pct": (round(100 * (load_s - load0) / dt, 1)
                            if snap.load_threads is not None else None),
            "wrk_threads": snap.load_threads,
            "db_cpu_pct": None if db_s is None or db0 is None else round(100 * (db_s - db0) / dt, 1),
        }
        if sessions is not None:
            states = [s.state for s in sessions]
            row.update({f"pg_{s.replace(' ', '_')}": states.count(s) for s in PG_STATES})
        self.rows.append(row)
        watch = self.watch
        if watch is None or sessions is None or self.stuck_since is not None:
            return
        if watch.update(snap.t, sessions, app_s):
            self.stuck_since = round((watch.since or snap.t) - self._t0, 2)
            self.stuck_event.set()
            if self.on_stuck is not None:
                self.on_stuck()

    def summary(self, cpus: int) -> Samples:
        """Peak and mean of each series, the profile itself, and the load-generator flag.
        `cpus`: the CPUs wrk could use."""
        series = {}
        for key in PROFILE_COLUMNS[1:]:
            values = [r[key] for r in self.rows if r.get(key) is not None]
            if values:
                series[key] = SeriesStat(peak=max(values),
                                         mean=round(sum(values) / len(values), 1))
        wrk_cpu = series["wrk_cpu_pct"].mean if "wrk_cpu_pct" in series else None
        threads = max((r.get("wrk_threads") or 1 for r in self.rows), default=1)
        # wrk runs one event loop per thread (plus a main thread that sleeps).
        usable = 100.0 * min(max(threads - 1, 1), cpus)
        return Samples(
            interval_s=self.interval, n=len(self.rows), series=series,
            wrk_saturated=bool(wrk_cpu is not None and wrk_cpu >= SATURATED * usable),
            profile_columns=list(PROFILE_COLUMNS),
            profile=[[r.get(k) for k in PROFILE_COLUMNS] for r in self.rows])


class StuckWatch:
    """Stuck when, for `after` seconds, the app's sessions are at least `pool_limit`, all idle in
    transaction or waiting on a lock (none idle), none changing state, and the app's process
    tree used under STUCK_MAX_CPU of one core. A pool busy with real queries changes states
    all the time; a long query is "active" without a lock wait: neither is stuck."""

    def __init__(self, pool_limit: int, after: float, max_cpu: float = STUCK_MAX_CPU):
        self.pool_limit = pool_limit
        self.after = after
        self.max_cpu = max_cpu
        self.since: float | None = None
        self._signature: frozenset | None = None
        self._cpu0 = 0.0

    def update(self, t: float, sessions: Iterable[Session], cpu_s: float | None) -> bool:
        """One snapshot at monotonic time `t`, with the app's cumulative CPU seconds."""
        sessions = list(sessions)
        pinned = len(sessions) >= self.pool_limit and all(
            s.state == "idle in transaction"
            or (s.state == "active" and s.wait_event_type == "Lock") for s in sessions)
        signature = frozenset((s.pid, s.state, s.state_change) for s in sessions)
        if not pinned or cpu_s is None or signature != self._signature or self.since is None:
            self.since, self._signature = (t if pinned else None), signature
            self._cpu0 = cpu_s or 0.0
            return False
        elapsed = t - self.since
        if elapsed < self.after:
            return False
        if (cpu_s - self._cpu0) / elapsed >= self.max_cpu:
            self.since, self._cpu0 = t, cpu_s  # the app is working: start over
            return False
        return True


def pg_activity(conn) -> list[Session]:
    """The client backends of the database (the harness's own sessions left out)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pid, client_port, state, extract(epoch FROM backend_start), "
                    "extract(epoch FROM state_change), wait_event_type FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND client_port IS NOT NULL "
                    "AND datname = current_database() AND pid <> pg_backend_pid() "
                    "AND application_name NOT LIKE 'harness%%'")
        rows = cur.fetchall()
    return [Session(pid, port, state, float(start), None if change is None else float(change),
                    wait) for pid, port, state, start, change, wait in rows]


def own_backend(conn) -> tuple[int, float] | None:
    """This connection's backend: (pid, backend_start epoch)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pid, extract(epoch FROM backend_start) FROM pg_stat_activity "
                    "WHERE pid = pg_backend_pid()")
        row = cur.fetchone()
    return None if row is None else (row[0], float(row[1]))


def app_sessions(activity: list[Session], ports: set[int], pids: list[int]) -> list[Session]:
    """The sessions opened by the app, matched through its sockets' local ports.

    Behind a port-forwarding proxy (a database in a container) PostgreSQL sees the proxy's
    ports, and nothing matches: then every non-harness session of the database counts, which
    is the app under load plus the idle pools of the apps waiting for their turn."""
    matched = [s for s in activity if s.client_port in ports]
    if matched or not pids:
        return matched
    return list(activity)


def db_client_ports(pids: Iterable[int], db_port: int) -> set[int]:
    """Local ports of the TCP connections that the processes `pids` hold to port `db_port`:
    each process's socket inodes, matched in the kernel's TCP sockets (sock_diag, else
    /proc/<pid>/net/tcp*).

    The sockets are listed only when a process holds one not seen before. /proc/net/tcp lists
    every socket of the host (after a cell, thousands of wrk's in TIME_WAIT) and reading it cost
    35 ms, twice a second during the load, on the CPUs the app is measured on; sock_diag leaves
    TIME_WAIT out (harness.measure.sockdiag), but the apps' pooled connections and wrk's
    keep-alive ones mostly last the whole cell anyway."""
    pids = list(pids)
    if not pids:
        return set()
    inodes = set()
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # exited, or not ours to read
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    known = _KNOWN.setdefault(db_port, {})
    unknown = inodes - known.keys()
    if unknown:
        if len(known) > _KNOWN_MAX:
            known.clear()
        found: dict[str, int | None] = {}
        try:
            found.update(sockdiag.tcp_sockets(db_port))
        except sockdiag.Unavailable:
            for table in ("tcp", "tcp6"):
                found.update(sockets(_read(f"/proc/{pids[0]}/net/{table}"), db_port))
        if unknown - found.keys():  # e.g. an event loop's socketpair: not TCP at all
            found.update(dict.fromkeys(_UNIX_INODE.findall(_read(f"/proc/{pids[0]}/net/unix"))))
            for table in ("udp", "udp6"):
                found.update(sockets(_read(f"/proc/{pids[0]}/net/{table}"), db_port))
        # A socket in no table is not connected yet (libpq creates its socket, then connects
        # it): asked about again next time rather than taken for one that is not the database's.
        known.update((inode, found[inode]) for inode in unknown if inode in found)
    return {port for inode in inodes if (port := known.get(inode)) is not None}


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


# A line of /proc/net/tcp*, udp*: sl, local and remote address:port (hex), st, tx:rx, tr:when,
# retrnsmt, uid, timeout, inode; and the inode field of /proc/net/unix (after Num, RefCount,
# Protocol, Flags, Type, St).
_INET_LINE = re.compile(r"^ *\d+: [0-9A-F]+:([0-9A-F]{4}) [0-9A-F]+:([0-9A-F]{4}) \S+ \S+ \S+ "
                        r"\S+ +\d+ +\d+ +(\d+)", re.MULTILINE)
_UNIX_INODE = re.compile(r"^\S+: \S+ \S+ \S+ \S+ \S+ +(\d+)", re.MULTILINE)


def sockets(table: str, db_port: int) -> dict[str, int | None]:
    """{inode: local port of a connection to `db_port`, or None} for every socket of a
    /proc/net/tcp*/udp* table, in one regex pass (the table can hold thousands of wrk's
    sockets in TIME_WAIT). PostgreSQL's own side of a connection has the port as its local one:
    None."""
    port = f"{db_port:04X}"
    return {inode: int(local, 16) if remote == port else None
            for local, remote, inode in _INET_LINE.findall(table)}


# Socket inode -> local port of its connection to the database (None: not one), per database
# port. Socket inodes are numbered from a counter and not reused while the harness runs.
_KNOWN: dict[int, dict[str, int | None]] = {}
_KNOWN_MAX = 200_000


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    return cputime.descendants(cputime.scan(), pid)


def pg_states(conn, pids: Iterable[int], db_port: int) -> list[str | None]:
    """States of the PostgreSQL sessions opened by the processes `pids` (see app_sessions)."""
    pids = list(pids)
    ports = db_client_ports(pids, db_port)
    return [s.state for s in app_sessions(pg_activity(conn), ports, pids)]


def settle(database_url: str, pid: int, db_port: int, timeout: float,
           pool_limit: int | None = None, *, interval: float = 0.1, quiet: int = 3,
           stuck_after: float = STUCK_SETTLE_S, kept: Kept | None = None,
           own_only: bool = False) -> SettleResult:
    """After the load: seconds until the app's sessions are all idle (no transaction open, no
    query running) in `quiet` snapshots in a row; or, given the app's `pool_limit`, a stuck
    result as soon as its pool has sat at the limit for `stuck_after` s (StuckWatch) instead of
    waiting for the `timeout`. One idle snapshot is not enough: fast queries leave sessions
    idle between queued requests. On `kept`'s connection when given, else on a new one.

    `own_only`: other apps are loading the database meanwhile (the next cell's check and
    warmup), so only sessions matched to the app's own sockets count, never the whole database
    (app_sessions' fallback behind a proxy), and idle also means the app's processes used
    under IDLE_CPU of a core between the snapshots."""
    t0 = time.monotonic()
    if kept is not None:
        conn = kept.get()
    else:
        conn = psycopg2.connect(database_url, application_name="harness-settle",
                                connect_timeout=5)
        conn.autocommit = True
    try:
        meter = cputime.CpuMeter(pid, load_names=())
        meter.begin()
        watch = StuckWatch(pool_limit, stuck_after) if pool_limit else None
        idle_since, streak = None, 0
        cpu_then, then = meter.totals()[0], time.monotonic()
        while True:
            snap = meter.scan()
            ports = db_client_ports(snap.app_pids, db_port)
            activity = pg_activity(conn)
            sessions = ([s for s in activity if s.client_port in ports] if own_only
                        else app_sessions(activity, ports, snap.app_pids))
            now = time.monotonic()
            cpu_now = meter.totals()[0]
            busy = own_only and cpu_now - cpu_then > IDLE_CPU * max(now - then, interval) + TICK_S
            cpu_then, then = cpu_now, now
            if busy or any(s.state != "idle" for s in sessions):
                idle_since, streak = None, 0
            else:
                idle_since = idle_since if idle_since is not None else now
                streak += 1
                if streak >= quiet:
                    return SettleResult(round(idle_since - t0, 2))
            if watch is not None and watch.update(now, sessions, meter.totals()[0]):
                return SettleResult(None, stuck=True)
            if now - t0 > timeout:
                return SettleResult(None)
            time.sleep(interval)
    finally:
        if kept is None:
            conn.close()
