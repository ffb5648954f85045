"""Why a stack broke (the mechanism, with its measured numbers, and the mitigations), and which
variants held: the blocks after a scenario's evidence."""

from __future__ import annotations

from harness.analysis.findings import Diagnosis, Held, Mechanism, Outcome, ScenarioFindings
from harness.render import units
from harness.render.document import Block, Heading, Para, Table
from harness.render.document import bullets as _bullets
from harness.render.units import conns

MECHANISM = {
    Mechanism.THREADPOOL_DEADLOCK:
        "**Thread pool / connection pool deadlock.** Each request holds its pooled connection "
        "across two threadpool hops (the `def` endpoint, then the response validation). The "
        "thread tokens go first come, first served: newer requests take the threads and block "
        "in pool checkout for up to POOL_TIMEOUT, while the requests holding the connections "
        "wait for a thread. It can lock up once about threads + pool + overflow requests are in "
        "flight in one worker (fastapi/fastapi #3205).",
    Mechanism.POOL_EXHAUSTED:
        "**Connection pool exhausted.** More requests were in flight than the pool has "
        "connections: the rest waited in pool checkout until POOL_TIMEOUT. The holders kept "
        "completing, so it is queueing, not a deadlock.",
}

# Measured by the `mitigations` scenario (scenarios.yaml, `--tag mitigations`) as variants.
MITIGATIONS = {
    Mechanism.THREADPOOL_DEADLOCK: (
        ("a pool as large as the threadpool (POOL_SIZE + MAX_OVERFLOW ≥ threads), so that every "
         "thread can get a connection: `fastapi_sync@pool-as-threads`"),
        ("bound the requests in flight below the lock-up point, e.g. uvicorn "
         "`--limit-concurrency` (the excess gets 503 at once): `fastapi_sync@limit-concurrency`"),
        ("close the session before FastAPI validates the response (build the response model in "
         "the endpoint, then close): `fastapi_sync@close-early`"),
        ("the async stack (AsyncSession + asyncpg; no threadpool hop holds a connection): "
         "`fastapi_async`"),
    ),
    Mechanism.POOL_EXHAUSTED: (
        "a larger pool (within PostgreSQL's max_connections over all workers)",
        "fewer requests in flight per worker (more workers, or a concurrency limit)",
        "a POOL_TIMEOUT shorter than the client's timeout, so that the excess fails fast",
    ),
}


def section(s: ScenarioFindings) -> list[Block]:
    return _diagnoses(s) + _outcomes(s)


def _diagnoses(s: ScenarioFindings) -> list[Block]:
    if not s.diagnoses:
        return []
    blocks: list[Block] = [Heading(3, f"Why it breaks: {s.name}")]
    for mechanism in Mechanism:
        found = [d for d in s.diagnoses if d.mechanism is mechanism]
        if not found:
            continue
        blocks.append(Para(MECHANISM[mechanism]))
        blocks.append(Table(
            ("app", "conns", "workers", "threads per worker", "pool + overflow",
             "in flight per worker", "lock-up from", "idle in transaction (peak) / pool limit",
             "pool timeouts", "rounds stuck", "req/s (median)"),
            "lrrrrrrrrrr", tuple(_row(d) for d in found)))
        sources = sorted({f"`{d.app}`: {d.threads_source}" for d in found})
        blocks.append(Para("Threads per worker: " + "; ".join(sources) + "."))
        blocks.append(_bullets(list(MITIGATIONS[mechanism]), lead="Mitigations:"))
    return blocks


def _row(d: Diagnosis) -> tuple[str, ...]:
    idle = (f"{units.num(d.idle_in_transaction)} / {units.num(d.pool_limit)}"
            if d.idle_in_transaction is not None else f"{units.NONE} / {units.num(d.pool_limit)}")
    return (f"`{d.app}`", str(d.connections), units.num(d.workers), units.num(d.threads),
            units.num(d.pool), units.num(d.in_flight), units.num(d.lock_up_at), idle,
            str(d.pool_timeouts), f"{d.stuck} of {d.rounds}", units.rps(d.rps.median))


def _outcomes(s: ScenarioFindings) -> list[Block]:
    if not s.outcomes:
        return []
    rows = [_outcome_row(o) for o in s.outcomes]
    levels: dict[str, list[str]] = {}
    for o in s.outcomes:
        if o.held is Held.HELD:
            levels.setdefault(o.app, []).append(str(o.connections))
    held = [f"`{app}` (at {units.levels(c)})" if len({o.connections for o in
            s.outcomes}) > 1 else f"`{app}`" for app, c in levels.items()]
    return [
        Heading(3, f"Which held: {s.name}"),
        Para("Each app and variant at each level. It **held** when every round served "
             "requests with a median error rate under 1% and no pool timeout logged; it **shed** "
             "load when it kept serving but failed more (503s, timeouts); it **collapsed** when "
             "a round served nothing, got stuck or failed. Latency is judged apart, by the "
             "scenario's thresholds."),
        Table(("app", "what it changes", "conns", "outcome", "thresholds missed",
               "req/s median (95% CI)", "error rate (median)", "p99 ms (median)",
               "rounds stuck / failed", "pool timeouts", "idle in transaction (peak)"),
              "llrllrrrrrr", tuple(rows)),
        Para("Held: " + (", ".join(held) if held else "none") + "."),
    ]


def _outcome_row(o: Outcome) -> tuple[str, ...]:
    what = o.description if o.variant_of else "as configured (not a variant)"
    missed = ", ".join(f"`{t}`" for t in o.failing_thresholds) or "none"
    return (f"`{o.app}`", what or units.NONE, conns(o.connections), f"**{o.held.value}**",
            missed, units.with_ci(o.rps.median, o.rps.ci_low, o.rps.ci_high, "{:.0f}"),
            units.pct(o.error_rate.median), units.ms(o.p99.median),
            f"{o.stuck} / {o.failed} of {o.rounds}", str(o.pool_timeouts),
            units.num(o.idle_in_transaction))
