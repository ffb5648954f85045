"""Why a stack broke, and which of its variants held.

A sync stack's requests hold a pooled connection while they wait for something else. When
FastAPI runs `def` endpoints, a request keeps its session's connection across two threadpool
hops (the endpoint, then the response validation), and AnyIO hands the thread tokens out first
come, first served: newer requests take the threads and block in pool checkout (POOL_TIMEOUT),
while the requests that hold the connections wait for a thread. It can lock up once about
threads + pool + overflow requests are in flight in one worker; the evidence is the app's
connections at the pool's limit, "idle in transaction", pool timeouts in its log, and rounds
in which it served nothing (the runner's stuck detector). Without that evidence of held
connections, pool timeouts mean plain exhaustion: more requests than connections, queueing
for POOL_TIMEOUT.

`diagnose` names the mechanism per (app, level) with the measured numbers; `outcomes` says, for
a scenario that measures variants of an app (the `mitigations` scenario), which ones held.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.analysis.findings import Diagnosis, EvidenceRow, Group, Held, Mechanism, Outcome
from harness.model.results import AppInfo

# Starlette before 0.15 ran sync code on asyncio's default executor: min(32, cores + 4) threads.
EXECUTOR_MAX = 32
EXECUTOR_EXTRA = 4


def _int(settings: Mapping[str, str], key: str) -> int | None:
    try:
        return int(settings[key])
    except (KeyError, ValueError):
        return None


def threads(settings: Mapping[str, str], server: str | None,
            cpus: int | None) -> tuple[int | None, str]:
    """Threads per worker that run sync request code, and where the number comes from."""
    if "THREADPOOL_SIZE" in settings:
        return _int(settings, "THREADPOOL_SIZE"), "THREADPOOL_SIZE (AnyIO's thread limiter)"
    if "THREADS" in settings:
        return _int(settings, "THREADS"), "gunicorn THREADS"
    if server and server.startswith("uvicorn") and cpus:
        return (min(EXECUTOR_MAX, cpus + EXECUTOR_EXTRA),
                f"asyncio's default executor, min({EXECUTOR_MAX}, {cpus} cores + {EXECUTOR_EXTRA})")
    return None, "unknown"


def diagnose(group: Group, settings: Mapping[str, str], evidence: EvidenceRow | None,
             info: AppInfo | None, cpus: int | None) -> Diagnosis | None:
    """The mechanism behind a group's pool timeouts or stuck rounds; None without either."""
    timeouts = evidence.log_counts.get("pool_timeout", 0) if evidence else 0
    if not timeouts and not group.stuck:
        return None
    workers = _int(settings, "WEB_CONCURRENCY")
    size, overflow = _int(settings, "POOL_SIZE"), _int(settings, "MAX_OVERFLOW")
    pool = size + overflow if size is not None and overflow is not None else None
    per_worker, source = threads(settings, info.server if info else None, cpus)
    limit = workers * pool if workers and pool is not None else None
    idle_tx = evidence.pg_sessions[2] if evidence and evidence.pg_sessions else None
    held = group.stuck > 0 or (idle_tx is not None and limit is not None and idle_tx >= limit)
    # A worker with one thread holds one connection at most: it cannot lock the pool up.
    deadlock = held and per_worker is not None and per_worker > 1
    return Diagnosis(
        scenario=group.scenario, app=group.app, connections=group.connections,
        mechanism=Mechanism.THREADPOOL_DEADLOCK if deadlock else Mechanism.POOL_EXHAUSTED,
        workers=workers, threads=per_worker, threads_source=source, pool=pool,
        pool_timeout_s=_int(settings, "POOL_TIMEOUT"),
        in_flight=group.connections / workers if workers else None,
        lock_up_at=per_worker + pool if per_worker is not None and pool is not None else None,
        pool_limit=limit, idle_in_transaction=idle_tx, pool_timeouts=timeouts,
        stuck=group.stuck, rounds=group.n_ok + group.n_failed, rps=group.rps)


# A median error rate from which an app that kept serving is said to shed its load
SHED_ERROR_RATE = 0.01


def held(group: Group, pool_timeouts: int) -> Held:
    """Collapsed: a round stuck, failed or served nothing. Shed: it kept serving but failed a
    share of requests (503s, timeouts) or logged pool timeouts. Held: neither; its latency is
    judged by the thresholds, apart."""
    rounds = group.n_ok + group.n_failed
    if not rounds or group.stuck or group.n_failed or not group.rps.n \
            or (group.rps.ci_low is not None and group.rps.ci_low <= 0) \
            or (group.rps.median is not None and group.rps.median <= 0):
        return Held.COLLAPSED
    if pool_timeouts or (group.error_rate.median or 0) >= SHED_ERROR_RATE:
        return Held.SHED
    return Held.HELD


def outcome(group: Group, evidence: EvidenceRow | None, info: AppInfo | None) -> Outcome:
    """Whether an app (a variant) held at one level, and its numbers."""
    rounds = group.n_ok + group.n_failed
    timeouts = evidence.log_counts.get("pool_timeout", 0) if evidence else 0
    idle_tx = evidence.pg_sessions[2] if evidence and evidence.pg_sessions else None
    return Outcome(
        scenario=group.scenario, app=group.app, connections=group.connections,
        variant_of=info.variant_of if info else None,
        description=info.description if info else None,
        rounds=rounds, failed=group.n_failed, stuck=group.stuck, rps=group.rps,
        error_rate=group.error_rate, p99=group.p99, pool_timeouts=timeouts,
        idle_in_transaction=idle_tx, failing_thresholds=group.failing_thresholds,
        held=held(group, timeouts))


def scenario(groups: Sequence[Group], settings: Mapping[tuple[str, int], Mapping[str, str]],
             evidence: Sequence[EvidenceRow], info: Mapping[str, AppInfo],
             cpus: int | None) -> tuple[tuple[Diagnosis, ...], tuple[Outcome, ...]]:
    """A scenario's diagnoses, and its outcomes when it measures variants of an app."""
    rows = {(e.app, e.connections): e for e in evidence}
    found = []
    for g in groups:
        d = diagnose(g, settings.get((g.app, g.connections), {}), rows.get((g.app, g.connections)),
                     info.get(g.app), cpus)
        if d is not None:
            found.append(d)
    variants = any(info.get(g.app) and info[g.app].variant_of for g in groups)
    outs = tuple(outcome(g, rows.get((g.app, g.connections)), info.get(g.app))
                 for g in groups) if variants else ()
    return tuple(found), outs
