"""The diagnosis of a broken pool and the outcome of each variant, on synthetic groups."""

import pytest

from harness.analysis import diagnosis
from harness.analysis.findings import EvidenceRow, Group, Held, Mechanism, Summary
from harness.model.results import AppInfo

SYNC = {"WEB_CONCURRENCY": "2", "POOL_SIZE": "5", "MAX_OVERFLOW": "10", "POOL_TIMEOUT": "30",
        "THREADPOOL_SIZE": "40"}


def group(app="fastapi_sync", conns=200, rps=300.0, stuck=0, failed=0, errors=0.0, n=3,
          failing=()):
    s = Summary(n=n, median=rps, ci_low=rps * 0.9 if rps else 0.0, ci_high=rps * 1.1)
    return Group(scenario="mitigations", app=app, connections=conns, n_ok=n - failed,
                 n_failed=failed, failures=(), rps=s, p50=Summary(n), p90=Summary(n),
                 p99=Summary(n, median=500_000.0), error_rate=Summary(n, median=errors),
                 timeouts=None, app_cpu_ms=Summary(0), db_cpu_ms=Summary(0),
                 requests_per_cpu_s=Summary(0), failing_thresholds=tuple(failing), restarted=0,
                 stuck=stuck, saturated=0, sampled=n)


def evidence(app="fastapi_sync", idle_tx=30.0, pool_timeouts=0):
    return EvidenceRow(scenario="mitigations", app=app, connections=200, app_cpu_pct=None,
                       app_rss_mb=None, wrk_cpu_pct=None, pg_sessions=(0.0, 0.0, idle_tx),
                       log_counts={"pool_timeout": pool_timeouts} if pool_timeouts else {},
                       example=None)


def info(server="uvicorn 0.54.0", variant_of=None):
    return AppInfo(description="d", server=server, command=[], variant_of=variant_of)


def test_a_stuck_sync_fastapi_is_the_threadpool_deadlock_with_its_numbers():
    d = diagnosis.diagnose(group(rps=0.0, stuck=3), SYNC, evidence(), info(), cpus=2)
    assert d is not None and d.mechanism is Mechanism.THREADPOOL_DEADLOCK
    assert (d.workers, d.threads, d.pool, d.in_flight, d.lock_up_at, d.pool_limit) == \
        (2, 40, 15, 100.0, 55, 30)
    assert d.stuck == 3 and d.rounds == 3 and d.idle_in_transaction == 30.0


def test_without_threadpool_size_uvicorn_runs_sync_code_on_asyncio_default_executor():
    settings = {k: v for k, v in SYNC.items() if k != "THREADPOOL_SIZE"}
    d = diagnosis.diagnose(group(conns=48, rps=0.0, stuck=2), settings, evidence(), info(),
                           cpus=2)
    assert d is not None and d.threads == 6 and d.lock_up_at == 21
    assert "min(32, 2 cores + 4)" in d.threads_source


def test_pool_timeouts_without_held_connections_are_exhaustion_not_a_deadlock():
    d = diagnosis.diagnose(group(app="fastapi_async"), SYNC, evidence("fastapi_async", 12.0, 4),
                           info(), cpus=2)
    assert d is not None and d.mechanism is Mechanism.POOL_EXHAUSTED and d.pool_timeouts == 4
    # one thread per worker holds one connection at most: never the deadlock
    flask = {**SYNC, "THREADS": "1"}
    del flask["THREADPOOL_SIZE"]
    d = diagnosis.diagnose(group(app="flask_sync", stuck=1), flask, evidence("flask_sync"),
                           info("gunicorn 23"), cpus=2)
    assert d is not None and d.mechanism is Mechanism.POOL_EXHAUSTED


def test_a_healthy_group_has_no_diagnosis():
    assert diagnosis.diagnose(group(), SYNC, evidence(idle_tx=30.0), info(), cpus=2) is None


@pytest.mark.parametrize("g, timeouts, expected", [
    (group(), 0, Held.HELD),
    (group(failing=("p99 < 1s",)), 0, Held.HELD),  # latency is judged apart
    (group(errors=0.64), 0, Held.SHED),
    (group(), 3, Held.SHED),
    (group(rps=0.0, stuck=1), 0, Held.COLLAPSED),
    (group(failed=1), 0, Held.COLLAPSED),
])
def test_outcomes(g, timeouts, expected):
    assert diagnosis.held(g, timeouts) is expected


def test_outcomes_only_for_scenarios_that_measure_variants_and_the_report_says_which_held():
    groups = [group(rps=0.0, stuck=3), group(app="fastapi_sync@pool-as-threads")]
    settings = {("fastapi_sync", 200): SYNC, ("fastapi_sync@pool-as-threads", 200): SYNC}
    apps = {"fastapi_sync": info(), "fastapi_sync@pool-as-threads": info(
        variant_of="fastapi_sync")}
    found, outs = diagnosis.scenario(groups, settings, [evidence()], apps, cpus=2)
    assert [d.app for d in found] == ["fastapi_sync"]
    assert [o.held for o in outs] == [Held.COLLAPSED, Held.HELD]
    _, none = diagnosis.scenario(groups[:1], settings, [evidence()], {"fastapi_sync": info()}, 2)
    assert none == ()
