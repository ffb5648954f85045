"""Exact CPU seconds (user + system) over a window, from the kernel's counters in /proc/<pid>/stat.

Sampled percentages miss what happens between two samples; the counters do not. A set's CPU
over the window is the sum of its members' counter deltas, where a member's counter is its own
utime+stime plus cutime+cstime (the whole lifetime of the children it reaped), and:
- a member born during the window counts from 0; one that existed before counts from its value
  at the window start, or, if it was not seen then, from its first reading (one interval lost);
- a member that exits keeps its last reading. If its parent is a member, the parent's cutime
  receives the child's whole lifetime when it reaps it, so the child's last reading is taken
  back there instead of being counted twice: a reaped worker loses nothing. One reaped by init
  (its parent died first) loses at most the interval since its last reading;
- the load generator is reaped by this process, whose own CPU is not wanted: this process's
  cutime is counted only over an interval in which a load process it reaped vanished.
PostgreSQL backends are reaped by the postmaster, which serves everyone: they count by their
own counters only, so one that exits loses at most the interval since its last reading.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

from harness.model.results import CpuTime

TICK = os.sysconf("SC_CLK_TCK")  # the unit of /proc/<pid>/stat's times
PAGE = os.sysconf("SC_PAGE_SIZE")
# A backend's process start and pg_stat_activity.backend_start are taken a few ms apart.
BACKEND_START_TOLERANCE_S = 2.0
POSTGRES_COMM = "postgres"  # backends rewrite their argv title, never their comm

Key = tuple[int, int]  # (pid, start): a pid reused by a new process is another key


@dataclass(frozen=True)
class Stat:
    """The fields of /proc/<pid>/stat used here; times in clock ticks, rss in bytes."""

    pid: int
    comm: str
    ppid: int
    own: int  # utime + stime, all threads, exited ones included
    children: int  # cutime + cstime: children this process reaped, and theirs
    start: int  # ticks after boot
    threads: int
    rss: int

    @property
    def key(self) -> Key:
        return (self.pid, self.start)


def read_stat(pid: int) -> Stat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None  # exited (and reaped) meanwhile
    close = text.rfind(")")  # comm may hold spaces and parentheses
    rest = text[close + 2:].split()
    if len(rest) < 22:
        return None
    return Stat(pid=pid, comm=text[text.find("(") + 1:close], ppid=int(rest[1]),
                own=int(rest[11]) + int(rest[12]), children=int(rest[13]) + int(rest[14]),
                start=int(rest[19]), threads=int(rest[17]), rss=int(rest[21]) * PAGE)


def scan() -> dict[int, Stat]:
    """Every process visible in /proc (one pass: ~1 ms for 100 processes)."""
    out = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None:
                out[stat.pid] = stat
    return out


def descendants(stats: Mapping[int, Stat], root: int) -> list[int]:
    """`root` and every process below it, parents before children."""
    if root not in stats:
        return []
    kids: dict[int, list[int]] = {}
    for s in stats.values():
        kids.setdefault(s.ppid, []).append(s.pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def boot_ticks() -> int:
    """Now, in the unit and origin of Stat.start."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * TICK)


def start_epoch(stat: Stat) -> float:
    """When the process started, in seconds since the epoch."""
    boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    return boot + stat.start / TICK


class Account:
    """CPU ticks of a changing set of processes since `since` (module docstring: the rules)."""

    def __init__(self, since: int, reapers: Collection[int] = ()):
        self.since = since
        self.reapers = set(reapers)  # count only what they reaped from members (this process)
        self.ticks = 0
        self._known: dict[Key, int] = {}  # values at the window start, for later members
        self._last: dict[Key, Stat] = {}  # members, by their latest reading
        self._reaper_last: dict[int, Stat] = {}

    def start(self, current: Mapping[int, Stat], members: Iterable[int] = ()) -> None:
        """The window starts: `current` are candidates (their values now are their bases),
        `members` are in the set already."""
        for stat in current.values():
            self._known[stat.key] = self._value(stat)
        for pid in members:
            if pid in current:
                self._last[current[pid].key] = current[pid]
        for pid in self.reapers:
            if pid in current:
                self._reaper_last[pid] = current[pid]

    def update(self, current: Mapping[int, Stat], members: Iterable[int] = ()) -> None:
        """A new reading. `current`: the processes alive now (every tracked member that is still
        alive must be in it, or it counts as exited); `members`: pids that join the set."""
        current = dict(current)
        gone = [k for k in self._last if current.get(k[0]) is None
                or current[k[0]].key != k]
        taken_back, reaped_by = 0, dict[int, int]()
        for key in gone:
            reaper = self._reaper_of(key, gone, current)
            if reaper is None:
                continue
            # Read the parent again now that the child is gone: its cutime includes it. If the
            # parent is gone too, the child's last reading stays as its final one.
            fresh = read_stat(reaper)
            if fresh is None or fresh.start != current[reaper].start:
                continue
            current[reaper] = fresh
            value = self._value(self._last[key])
            if reaper in self.reapers:
                reaped_by[reaper] = reaped_by.get(reaper, 0) + value
            else:
                taken_back += value
        for key in gone:
            del self._last[key]
        for pid, value in reaped_by.items():
            before, now = self._reaper_last.get(pid), current.get(pid)
            if before is not None and now is not None and before.start == now.start:
                self.ticks += max(0, now.children - before.children - value)
        for pid in self.reapers:
            if pid in current:
                self._reaper_last[pid] = current[pid]
        for pid in members:
            stat = current.get(pid)
            if stat is not None and stat.key not in self._last:
                self.ticks += self._value(stat) - self._base(stat)
                self._last[stat.key] = stat
        for key, before in list(self._last.items()):
            now = current.get(key[0])
            if now is not None and now is not before and now.key == key:
                self.ticks += self._value(now) - self._value(before)
                self._last[key] = now
        self.ticks -= taken_back

    @property
    def seconds(self) -> float:
        return max(self.ticks, 0) / TICK

    @property
    def pids(self) -> list[int]:
        return [pid for pid, _ in self._last]

    def _value(self, stat: Stat) -> int:
        return stat.children + (0 if stat.pid in self.reapers else stat.own)

    def _base(self, stat: Stat) -> int:
        if stat.key in self._known:
            return self._known[stat.key]
        # Born in the window: from 0. Older but unseen until now: from this first reading.
        return 0 if stat.start >= self.since else self._value(stat)

    def _reaper_of(self, key: Key, gone: list[Key], current: Mapping[int, Stat]) -> int | None:
        """The nearest ancestor alive and counted (through members that exited too, assuming
        each reaped its children before exiting, as servers' masters do)."""
        by_pid = {k[0]: k for k in gone}
        ppid, seen = self._last[key].ppid, set()
        while ppid in by_pid and ppid not in seen:
            seen.add(ppid)
            ppid = self._last[by_pid[ppid]].ppid
        parent = current.get(ppid)
        if parent is None:
            return None
        counted = ppid in self.reapers or (parent.key in self._last and parent.key not in gone)
        return ppid if counted else None


@dataclass(frozen=True)
class Snapshot:
    """One reading of the processes."""

    t: float  # time.monotonic()
    app_pids: list[int]
    app_rss: int  # bytes
    load_threads: int | None  # None: no load generator running


class CpuMeter:
    """CPU seconds of the app's process tree, of the PostgreSQL backends that served it and of
    the load generator, from `begin()` to `finish()`. Passive: the caller reads at its own pace
    (the Sampler's loop); the shorter the interval, the less an exiting backend can lose."""

    def __init__(self, app_pid: int | None, load_names: Collection[str] = ("wrk",)):
        self.app_pid = app_pid
        self.load_names = set(load_names)
        self.me = os.getpid()
        self.t0: float | None = None
        self.t1: float | None = None

    def begin(self, backends: Iterable[tuple[int, float]] = (),
              own_backend: tuple[int, float] | None = None) -> Snapshot:
        """Start the window. `backends`: (pid, backend_start epoch) of every client backend now,
        so that one matched later counts from here; `own_backend`: the caller's own session,
        whose /proc entry proves that the server is local (else db_s is None)."""
        since = boot_ticks()
        self.t0 = time.monotonic()
        stats = scan()
        self.app = Account(since)
        self.app.start(stats, self._app_pids(stats))
        self.load = Account(since, reapers=[self.me])
        self.load.start(stats, self._load_pids(stats))
        self.local = own_backend is not None and backend_stat(*own_backend) is not None
        self.db = Account(since) if self.local else None
        if self.db is not None:
            found = {pid: backend_stat(pid, at) for pid, at in backends}
            self.db.start({pid: s for pid, s in found.items() if s is not None})
        return self._snapshot(stats)

    def scan(self) -> Snapshot:
        """Read the app's tree and the load generator."""
        stats = scan()
        self.app.update(stats, self._app_pids(stats))
        self.load.update(stats, self._load_pids(stats))
        return self._snapshot(stats)

    def backends(self, matched: Iterable[tuple[int, float]] = ()) -> None:
        """Read the backends tracked so far and those newly `matched` to the app (pid,
        backend_start epoch); a pid that is not that backend on this machine is ignored."""
        if self.db is None:
            return
        current = {}
        for pid in self.db.pids:
            stat = read_stat(pid)
            if stat is not None:
                current[pid] = replace(stat, children=0)
        new = []
        for pid, at in matched:
            if pid not in current:
                stat = backend_stat(pid, at)
                if stat is not None:
                    current[pid] = stat
                    new.append(pid)
        self.db.update(current, new)

    def totals(self) -> tuple[float, float | None, float]:
        """CPU seconds so far: app, database (None: not a local server), load generator."""
        return (self.app.seconds, None if self.db is None else self.db.seconds,
                self.load.seconds)

    def finish(self) -> CpuTime:
        """End the window: a last reading of everything tracked."""
        self.scan()
        self.backends()
        self.t1 = time.monotonic()
        return self.result()

    def result(self) -> CpuTime:
        app, db, load = self.totals()
        end = self.t1 if self.t1 is not None else time.monotonic()
        return CpuTime(wall_s=round(end - (self.t0 or end), 3), app_s=round(app, 2),
                       db_s=None if db is None else round(db, 2), load_s=round(load, 2))

    def _app_pids(self, stats: Mapping[int, Stat]) -> list[int]:
        return descendants(stats, self.app_pid) if self.app_pid else []

    def _load_pids(self, stats: Mapping[int, Stat]) -> list[int]:
        return [p for p in descendants(stats, self.me)[1:] if stats[p].comm in self.load_names]

    def _snapshot(self, stats: Mapping[int, Stat]) -> Snapshot:
        app = self._app_pids(stats)
        loads = self._load_pids(stats)
        return Snapshot(t=time.monotonic(), app_pids=app,
                        app_rss=sum(stats[p].rss for p in app),
                        load_threads=sum(stats[p].threads for p in loads) if loads else None)


def backend_stat(pid: int, backend_start: float) -> Stat | None:
    """The /proc reading of PostgreSQL backend `pid` if it runs on this machine: a postgres
    process started when pg_stat_activity says the backend started. A server in a container or
    on another host has its own pids: a local pid that matches both is not a coincidence."""
    stat = read_stat(pid)
    if stat is None or stat.comm != POSTGRES_COMM:
        return None
    if abs(start_epoch(stat) - backend_start) > BACKEND_START_TOLERANCE_S:
        return None
    return replace(stat, children=0)  # a backend forks nothing of its own
