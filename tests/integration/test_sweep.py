"""A sweep end to end (real PostgreSQL, servers, wrk, the CLI), and the gunicorn worker class
it can search."""

import http.client
import json

import pytest

from harness.measure import postgres, services
from tests.integration.test_run import ROOT, harness, only_run

SWEEP = ROOT / "tests" / "fixtures" / "scenarios" / "sweep.yaml"


def connection_header(running):
    host, port = running.base_url.split("//", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        response.read()
        return response.getheader("Connection")
    finally:
        conn.close()


def start_flask(database_url, tmp_path, **settings):
    flask = services.discover()["flask_sync"]
    return services.start(flask, database_url, postgres.free_port(), str(tmp_path / "f.log"),
                          (settings,))


def test_worker_class_gthread_keeps_connections_alive_where_sync_closes_them(database_url,
                                                                            tmp_path):
    for settings, header in (({}, "close"), ({"WORKER_CLASS": "gthread"}, "keep-alive")):
        running = start_flask(database_url, tmp_path, **settings)
        try:
            assert running.settings["THREADS"] == "1"
            assert running.settings["WORKER_CLASS"] == settings.get("WORKER_CLASS", "sync")
            assert connection_header(running) == header
        finally:
            services.stop(running)


def test_the_sync_worker_with_threads_refuses_to_start(database_url, tmp_path):
    # gunicorn would run gthread instead, and the recorded settings would be wrong.
    with pytest.raises(RuntimeError, match="WORKER_CLASS=sync takes one thread"):
        start_flask(database_url, tmp_path, WORKER_CLASS="sync", THREADS="4")


def test_a_sweep_run_gives_each_stack_its_best_and_the_best_against_best_verdict(tmp_path):
    proc = harness("run", str(SWEEP), "--out", str(tmp_path), "--no-ceilings", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _, run = only_run(tmp_path)
    (record,) = run["sweeps"]
    assert [s["app"] for s in record["searches"]] == ["flask_sync", "fastapi_async"]
    for s in record["searches"]:
        assert s["stop"] == "converged" and len(s["steps"]) == 1
        assert s["best_rps"].split("@")[0] == s["app"] and s["best_cpu"].split("@")[0] == s["app"]
    search_cells = [c for c in run["cells"] if c["scenario"] == "sweep:search"]
    assert len(search_cells) == 4 and all(c["status"] == "ok" for c in search_cells)
    gthread = next(c for c in search_cells if c["app"] == "flask_sync@gthread")
    assert gthread["settings"]["WORKER_CLASS"] == "gthread"
    one = next(c for c in search_cells if c["app"] == "fastapi_async@w1")
    assert one["settings"]["WEB_CONCURRENCY"] == "1"
    # the fresh rounds measured the defaults and the bests, and nothing else
    fresh = {c["app"] for c in run["cells"] if c["scenario"] == "sweep"}
    assert fresh == set(record["apps"]) >= {"flask_sync", "fastapi_async"}
    assert ["fastapi_async", "flask_sync"] in record["comparisons"]
    report = (tmp_path / "report.md").read_text()
    assert "### Best configuration: sweep" in report
    assert "| `flask_sync` | most req/s |" in report
    assert "| `fastapi_async` | most req/s |" in report
    assert "| `fastapi_async` vs `flask_sync` | req/s |" in report
    findings = json.loads((tmp_path / "findings.json").read_text())
    assert findings["scenarios"][0]["sweep"]["stacks"][0]["app"] == "flask_sync"


def test_a_sweep_of_a_setting_the_app_does_not_read_is_refused_before_anything_starts(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SWEEP.read_text().replace("WEB_CONCURRENCY: [1, 2]", "THREADS: [1, 2]"))
    proc = harness("run", str(bad), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        (f"error: {bad}: scenarios[0].sweep.fastapi_async.THREADS: THREADS is not a setting this "
        "app reads; it reads WEB_CONCURRENCY, POOL_SIZE, MAX_OVERFLOW, POOL_TIMEOUT, "
        "THREADPOOL_SIZE")]
