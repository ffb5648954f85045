"""Where each stack's CPU goes: py-spy's samples of an app (run.profiles), put in layers.

Each sample is one thread's stack at one instant (py-spy `--idle --native`: every thread, with
its C frames). A sample is

1. garbage collection, when the collector is on the stack (it runs inside whatever allocated);
2. waiting, when the thread is blocked: its innermost C frame is a blocking call (epoll, poll,
   select, a condition variable or lock, the GIL), or, with no C frame that says otherwise,
   its innermost Python frame is a known wait (Condition.wait, a pipe read in
   multiprocessing...). A blocking driver's wait for PostgreSQL (libpq's poll) is waiting too,
   as the async stack's wait for it is its event loop's epoll;
3. otherwise busy, in the layer of the first frame, from the leaf up, that belongs to one:
   server (gunicorn, uvicorn, uvloop, httptools, asyncio, sockets; the C code of the event
   loop and of sockets counts for the driver when a driver called it), routing and validation
   (Flask, Werkzeug, FastAPI, Starlette, AnyIO), serialization (pydantic models, request and
   response alike, JSON, FastAPI's response encoding), ORM (SQLAlchemy, greenlet), driver
   (psycopg2, libpq, asyncpg, SQLAlchemy's DBAPI calls and dialects), or other: the app's own
   modules, and packages not named here. The standard library (threading, contextlib...), the
   interpreter and libc only pass calls through; a stack of nothing else is other too.

Shares of the busy samples per layer, and the share of all samples spent waiting, are typed
findings; so is a flame graph's tree of the busy samples (process frames and line numbers left
out, so that the workers' equal stacks merge; frames under MIN_FLAME_SHARE of the busy samples
left out).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from harness.model import stacks as stacks_mod
from harness.model.results import Profile, Run
from harness.model.stacks import Stacks

MIN_FLAME_SHARE = 0.002  # narrower frames are left out of the flame graph (0.2% of its width)


class Layer(StrEnum):
    SERVER = "server"
    ROUTING = "routing and validation"
    SERIALIZATION = "serialization"
    ORM = "ORM"
    DRIVER = "driver"
    GC = "garbage collection"
    OTHER = "other"
    WAITING = "waiting"


BUSY = (Layer.SERVER, Layer.ROUTING, Layer.SERIALIZATION, Layer.ORM, Layer.DRIVER, Layer.GC,
        Layer.OTHER)

# -- frames -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    name: str  # function or C symbol; "0x..." when py-spy could not resolve it
    where: str  # "package/module.py" (no line), "file.c", or a library "libpq-...so.5"
    python: bool

    @property
    def resolved(self) -> bool:
        return not self.name.startswith("0x")

    @property
    def package(self) -> str:
        """A Python frame's top package or module: sqlalchemy, threading.py, <frozen runpy>."""
        return self.where.split("/", 1)[0]

    @property
    def label(self) -> str:
        """As a flame graph shows it: without the line, unresolved C frames by library."""
        return f"{self.name if self.resolved else '?'} ({self.where})"


def frame(text: str) -> Frame:
    name, sep, where = text.rpartition(" (")
    if not sep:
        return Frame(text, "", False)
    where = where.removesuffix(")")
    python = where.startswith("<") or ".py:" in where or where.endswith(".py")
    file, colon, line = where.rpartition(":")
    if colon and line.isdigit():
        where = file
    return Frame(name, where, python)


# -- waiting ----------------------------------------------------------------------------------

# C functions a blocked thread sits in: the system calls that wait, and the locks (the GIL's
# condition variable included) that a thread waits on.
BLOCKING_C = frozenset((
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect",
    "pselect6", "accept", "accept4", "pthread_cond_wait", "pthread_cond_timedwait",
    "pthread_cond_clockwait", "pthread_mutex_lock", "sem_wait", "sem_timedwait",
    "sem_clockwait", "nanosleep", "clock_nanosleep", "pause", "sigwait", "sigtimedwait",
    "sigwaitinfo", "waitpid", "wait4", "PyThread_acquire_lock_timed", "take_gil"))
# C frames that only pass a call through (a read from a pipe may block): they do not tell
# busy from waiting, the Python frame above them does.
THIN_C = frozenset(("read", "recv", "recvfrom", "recvmsg", "os_read", "os_read_impl",
                    "sock_recv", "sock_recv_impl", "sock_recv_guts", "sock_call",
                    "sock_call_ex", "internal_select", "lock_PyThread_acquire_lock",
                    "_queue_SimpleQueue_get_impl", "_queue_SimpleQueue_get"))
# Python functions that wait (the stack's innermost Python frame): threads waiting for work,
# a process manager waiting for its workers, an event loop with nothing to do.
WAITING_PY = frozenset((
    "Condition.wait", "Event.wait", "Queue.get", "SimpleQueue.get", "Thread.join",
    "Semaphore.acquire", "EpollSelector.select", "PollSelector.select", "SelectSelector.select",
    "_PollLikeSelector.select", "DefaultSelector.select", "Connection._recv",
    "Connection._recv_bytes", "Connection.poll", "Arbiter.sleep", "Arbiter.wait_for_signals",
    "SyncWorker.wait"))
WAITING_PY_AT = {"main": "multiprocessing/resource_tracker.py",  # reads its pipe, forever
                 "Runner.run": "asyncio/runners.py"}  # uvloop idle, seen without C frames


def waiting(frames: Sequence[Frame]) -> bool:
    inner = max((i for i, f in enumerate(frames) if f.python), default=-1)
    below = [f for f in frames[inner + 1:] if f.resolved]
    if below:
        if below[-1].name in BLOCKING_C:
            return True
        if any(f.name not in THIN_C for f in below):
            return False
    if inner < 0:
        return False
    f = frames[inner]
    return f.name in WAITING_PY or WAITING_PY_AT.get(f.name) == f.where


# -- busy layers ------------------------------------------------------------------------------

DRIVER_PY = ("psycopg2", "psycopg", "asyncpg")
# SQLAlchemy functions that are the DBAPI call itself (the driver's C code under them)
DBAPI_CALLS = frozenset(("DefaultDialect.do_execute", "DefaultDialect.do_executemany",
                         "DefaultDialect.do_execute_no_params", "DefaultDialect.do_rollback",
                         "DefaultDialect.do_commit", "DefaultDialect.do_ping",
                         "DefaultDialect.do_close", "CursorFetchStrategy.fetchall",
                         "CursorFetchStrategy.fetchone", "CursorFetchStrategy.fetchmany"))
FRAMEWORK_PY = ("flask", "werkzeug", "fastapi", "starlette", "anyio", "sniffio", "itsdangerous",
                "blinker", "click")
SERIALIZATION_PY = ("pydantic", "pydantic_core", "json", "orjson", "ujson")
SERVER_PY = ("gunicorn", "uvicorn", "h11", "httptools", "uvloop", "asyncio", "selectors.py",
             "socket.py", "socketserver.py", "ssl.py", "multiprocessing", "wsgiref")
# C code by its source file (py-spy names the file when the library has symbols)
SERVER_C = frozenset(("loop.c", "core.c", "linux.c", "stream.c", "loop-watcher.c", "timer.c",
                      "async.c", "queue.h", "tcp.c", "uv-common.c", "threadpool.c", "signal.c",
                      "process.c", "pipe.c", "udp.c", "poll.c", "epoll.c",  # uvloop, libuv
                      "parser.c", "llhttp.c", "api.c", "http.c",  # httptools
                      "_asynciomodule.c", "_asynciomodule.c.h", "selectmodule.c",
                      "selectmodule.c.h", "socketmodule.c", "socketmodule.c.h"))
DRIVER_C = frozenset(("protocol.c", "pgproto.c", "recordobj.c"))  # asyncpg


def frame_layer(f: Frame) -> Layer | None:
    """The layer a frame belongs to, or None for one that only passes a call through
    (threading, contextlib, libc, the interpreter)."""
    where = f.where
    if f.python:
        top = f.package
        if top in DRIVER_PY or f.name in DBAPI_CALLS or where.startswith("sqlalchemy/dialects/"):
            return Layer.DRIVER
        if top in ("sqlalchemy", "flask_sqlalchemy", "greenlet"):
            return Layer.ORM
        if top in SERIALIZATION_PY or where == "fastapi/encoders.py" \
                or f.name == "serialize_response" or where.startswith("flask/json/") \
                or (where == "starlette/responses.py" and f.name.endswith(".render")):
            return Layer.SERIALIZATION
        if top in FRAMEWORK_PY:
            return Layer.ROUTING
        if top in SERVER_PY:
            return Layer.SERVER
        if where.startswith("<"):  # <frozen runpy>, <string>; SQLAlchemy's generated code
            return Layer.ORM if where.startswith("<sqlalchemy") else None
        if top.removesuffix(".py") in sys.stdlib_module_names:
            return None  # threading, contextlib, queue...: calls passing through
        return Layer.OTHER  # the app's own modules, and packages not named above
    if "psycopg2/" in where or where.startswith("libpq") or "asyncpg/" in where \
            or where in DRIVER_C:
        return Layer.DRIVER
    if where.endswith("_cy.c") or "sqlalchemy/" in where or where.startswith("greenlet"):
        return Layer.ORM
    if "pydantic_core/" in where or where in ("_json.c", "_json.cpython") \
            or where.startswith("_json."):
        return Layer.SERIALIZATION
    if where in SERVER_C or "uvloop/" in where or "httptools/" in where:
        return Layer.SERVER
    return None


def is_gc(f: Frame) -> bool:
    return not f.python and (f.name.startswith("gc_collect") or f.where == "gcmodule.c")


def classify(frames: Sequence[Frame]) -> Layer:
    """The layer of one sample (frames root first, process frames left out)."""
    if any(is_gc(f) for f in frames):
        return Layer.GC
    if waiting(frames):
        return Layer.WAITING
    # The framework's code inside FastAPI's response encoding (ModelField.validate...) is
    # serialization: the same work Flask's app does itself with pydantic.
    encoding = max((i for i, f in enumerate(frames) if f.name == "serialize_response"),
                   default=len(frames))
    transport = False  # inside the event loop's or a socket's C code: its caller decides
    for i in range(len(frames) - 1, -1, -1):
        f = frames[i]
        layer = frame_layer(f)
        if layer is Layer.SERVER and not f.python:
            transport = True  # a write to PostgreSQL through uvloop is the driver's
            continue
        if layer is not None:
            if transport and layer is not Layer.DRIVER:
                return Layer.SERVER
            return Layer.SERIALIZATION if layer is Layer.ROUTING and i > encoding else layer
    return Layer.SERVER if transport else Layer.OTHER


def samples(raw: Stacks) -> Iterable[tuple[tuple[Frame, ...], int]]:
    """Each distinct stack as frames (process frames left out) with its count."""
    for stack, count in raw.items():
        yield tuple(frame(t) for t in stack if not stacks_mod.is_process(t)), count


# -- flame graph ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlameNode:
    name: str  # "function (package/module.py)", "symbol (file.c)", "? (library.so)"
    samples: int  # this frame and everything it called
    layer: Layer | None  # the frame's own layer (its colour); None: passes calls through
    children: tuple[FlameNode, ...] = ()


def flame(busy: Iterable[tuple[tuple[Frame, ...], int]], total: int) -> FlameNode:
    """A tree of the stacks, children in name order (a deterministic picture), frames under
    MIN_FLAME_SHARE of `total` left out."""
    tree: dict = {}
    layers: dict[str, Layer | None] = {}
    for frames, count in busy:
        node = tree
        for f in frames:
            label = f.label
            layers.setdefault(label, Layer.GC if is_gc(f) else frame_layer(f))
            entry = node.setdefault(label, [0, {}])
            entry[0] += count
            node = entry[1]
    least = total * MIN_FLAME_SHARE

    def build(children: dict) -> tuple[FlameNode, ...]:
        return tuple(FlameNode(name, n, layers[name], build(sub))
                     for name, (n, sub) in sorted(children.items()) if n >= least)

    return FlameNode("all", total, None, build(tree))


# -- findings ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppProfile:
    """One app's profile at one level."""

    scenario: str
    app: str
    connections: int
    rate_hz: int
    seconds: float | None
    rps: float | None  # while sampled: slowed by the sampling
    samples: int  # every thread's stacks, waiting ones included
    busy: int  # samples not waiting
    shares: tuple[tuple[Layer, float], ...]  # of the busy samples, in BUSY order
    waiting: float  # share of all samples
    flame: FlameNode | None  # the busy samples
    file: str | None  # the collapsed stacks, relative to the results directory
    error: str | None = None  # why there is no profile

    def share(self, layer: Layer) -> float:
        return dict(self.shares).get(layer, 0.0)

    @property
    def margin(self) -> float | None:
        """The widest 95% margin of a busy share, were the samples independent (they are not:
        one slow call spans several, so the true margin is wider)."""
        return 1.96 * 0.5 / math.sqrt(self.busy) if self.busy else None


def profile(p: Profile, raw: Stacks | None) -> AppProfile:
    """The layers of one app's samples; `raw` None: its file could not be read."""
    error = p.error
    if error is None and raw is None:
        error = f"its stacks ({p.file}) could not be read"
    counts = dict.fromkeys(Layer, 0)
    busy_stacks = []
    for frames, count in samples(raw or {}):
        layer = classify(frames)
        counts[layer] += count
        if layer is not Layer.WAITING:
            busy_stacks.append((frames, count))
    total = sum(counts.values())
    busy = total - counts[Layer.WAITING]
    if error is None and not total:
        error = "no samples"
    return AppProfile(
        scenario=p.scenario, app=p.app, connections=p.connections, rate_hz=p.rate_hz,
        seconds=p.seconds, rps=p.rps, samples=total, busy=busy,
        shares=tuple((layer, counts[layer] / busy if busy else 0.0) for layer in BUSY),
        waiting=counts[Layer.WAITING] / total if total else 0.0,
        flame=flame(busy_stacks, busy) if busy else None, file=p.file, error=error)


def analyze(run: Run | None, stacks: Mapping[str, Stacks]) -> tuple[AppProfile, ...]:
    """Every profile of the run, in the order taken; `stacks` by Profile.file (those read)."""
    if run is None:
        return ()
    return tuple(profile(p, stacks.get(p.file) if p.file else None) for p in run.profiles)
