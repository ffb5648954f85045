"""`python -m harness run` end to end: real PostgreSQL, real servers, real wrk, the real CLI."""

import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jsonschema
import psutil
import pytest

from harness.measure import postgres, services
from harness.model import store

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "scenarios" / "tiny.yaml"
SCHEMA = store.schema()  # the published file equals it (tests/unit/test_model.py)


def harness(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw, check=False)


def pg_dirs():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "harness-pg-*")))


def only_run(out):
    files = store.files([out])  # the run's file, not the report's findings.json beside it
    assert len(files) == 1, files
    return files[0], json.loads(files[0].read_text())


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    dirs, t0 = pg_dirs(), time.time()
    proc = harness("run", str(TINY), "--out", str(out), timeout=600)
    return proc, out, (dirs, t0, time.time())


def test_run_writes_results_json_for_every_cell(tiny_run):
    proc, out, _ = tiny_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    _, run = only_run(out)
    assert run["schema_version"] == 2 and run["status"] == "complete"
    jsonschema.validate(run, SCHEMA)
    assert run["finished_at"] >= run["started_at"]
    assert [s["name"] for s in run["config"]["scenarios"]] == ["users_list", "create"]
    # 2 connection levels × 3 apps × 2 repeats, then 1 level × 3 apps × 2 adaptive rounds
    # (the 6 s budget is spent after two rounds of three 2-second cells).
    assert [(lv["scenario"], lv["connections"], lv["rounds"]) for lv in run["levels"]] == [
        ("users_list", 1, 2), ("users_list", 4, 2), ("create", 4, 2)]
    assert [lv["reason"] for lv in run["levels"]][:2] == ["fixed", "fixed"]
    assert run["levels"][2]["reason"] in ("decided", "budget")
    assert len(run["cells"]) == 18
    for cell in run["cells"]:
        assert cell["status"] == "ok", cell.get("reason")
        # Exact CPU time of the app's process tree and of the PostgreSQL backends serving it.
        assert cell["cpu"]["app_s"] > 0 and cell["cpu"]["db_s"] > 0
        assert cell["cpu"]["wall_s"] >= 1
        summary = cell["load"]
        assert summary["driver"] == "wrk"
        assert summary["requests"] > 0 and summary["duration_us"] > 0
        assert set(summary["latency_us"]) >= {"min", "mean", "stdev", "max", "p50", "p75",
                                              "p90", "p99", "p99.9"}
        assert set(summary["errors"]) == {"connect", "read", "write", "status", "timeout"}
        assert cell["error_rate"] == 0.0 and cell["rps"] > 0
        assert all(t["ok"] for t in cell["thresholds"])
        assert cell["samples"]["n"] >= 1
        assert Path(cell["log"]["file"]).exists()
    create = [c for c in run["cells"] if c["scenario"] == "create"]
    # The scenario's env override reached the apps, and it is recorded with each cell.
    assert {c["settings"]["POOL_SIZE"] for c in create} == {"2"}
    assert {c["settings"]["MAX_OVERFLOW"] for c in create} == {"1"}
    flask = next(c for c in run["cells"] if c["app"] == "flask_sync")
    assert flask["settings"]["THREADS"] == "1" and "WEB_CONCURRENCY" in flask["settings"]
    # Apps interleave: the first three cells are three different apps.
    assert len({c["app"] for c in run["cells"][:3]}) == 3


def test_run_records_environment_overhead_and_ceilings(tiny_run):
    _, out, _ = tiny_run
    _, run = only_run(out)
    env = run["environment"]
    assert env["cpus"] == os.cpu_count() and env["postgresql"] and env["wrk"]
    assert env["packages"]["fastapi"] and env["packages"]["flask"] and env["packages"]["gunicorn"]
    assert env["database"] == "embedded"
    assert run["overhead"]["load_s"] > 0 and run["overhead"]["wall_s"] > run["overhead"]["load_s"]
    assert {"start", "reset", "settle", "save"} <= set(run["overhead"]["breakdown"])
    assert run["cpu_layout"]["shared"] is (os.cpu_count() < 4)
    ceiling = run["ceilings"]["users_list"]
    assert ceiling["pgbench_tps"]["1"] > 0 and ceiling["reference_rps"]["4"] > 0
    assert all(a["verification"]["ok"] for a in run["apps"].values())


def test_run_writes_a_report_that_report_regenerates(tiny_run, tmp_path):
    _, out, _ = tiny_run
    path, _ = only_run(out)
    report = (out / "report.md").read_text()
    for heading in ("## Verdict", "## users_list", "## create", "## Environment", "## Methodology"):
        assert heading in report
    assert (out / "users_list-rps.svg").exists() and (out / "users_list-p99.svg").exists()
    again = harness("report", str(path), "--out", str(out / "again.md"))
    assert again.returncode == 0, again.stderr
    assert (out / "again.md").read_text() == report


def test_run_leaves_no_process_or_data_directory(tiny_run):
    _, _, (dirs, t0, t1) = tiny_run
    assert pg_dirs() <= dirs
    # What the run started (servers, wrk, postgres, pgbench) would have been reparented away
    # from us: look machine-wide for such processes born during the run.
    def started_by_run(p):
        if not t0 <= p.info["create_time"] <= t1 or p.info["status"] == psutil.STATUS_ZOMBIE:
            return False
        cmd = " ".join(p.info["cmdline"] or [])
        if p.info["name"] == "postgres":
            try:  # a backend of the test session's own cluster, older than the run, is not ours
                if psutil.Process(p.ppid()).create_time() < t0:
                    return False
            except psutil.Error:
                pass
        return (p.info["name"] in ("wrk", "postgres", "pgbench")
                or "uvicorn" in cmd or "gunicorn" in cmd or "harness" in cmd)

    leftovers = [p for p in psutil.process_iter(["create_time", "cmdline", "status", "name"])
                 if started_by_run(p)]
    assert not leftovers, [p.info["cmdline"] for p in leftovers]


def test_sigterm_stops_everything_and_keeps_completed_cells(tmp_path):
    before = pg_dirs()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(TINY), "--out",
                             str(tmp_path), "--no-ceilings"], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    cells = []
    while time.monotonic() < deadline and len(cells) < 2:
        time.sleep(0.5)
        files = list(tmp_path.glob("*.json"))
        if files:
            cells = json.loads(files[0].read_text())["cells"]
    assert len(cells) >= 2, "no cell completed in time"
    started = psutil.Process(proc.pid).children(recursive=True)
    assert started, "the run has no child processes to stop"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    _, run = only_run(tmp_path)
    assert run["status"] == "interrupted" and len(run["cells"]) >= 2
    assert all(c["status"] == "ok" for c in run["cells"])
    alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [p.cmdline() for p in alive]
    assert pg_dirs() <= before
    assert (tmp_path / "report.md").exists()


def test_a_malformed_scenario_file_is_one_line_and_starts_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("connections: [1, 4]", "connections: [1, four]"))
    proc = harness("run", str(bad), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(bad) in lines[0] and "scenarios[0].connections[1]" in lines[0]
    assert not (tmp_path / "out").exists()


def test_missing_wrk_is_one_line_naming_the_install_command(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no wrk here
    proc = harness("run", str(TINY), "--out", str(tmp_path / "out"), env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: wrk not found: install it with `sudo apt-get install wrk`"
    assert not (tmp_path / "out").exists()


def test_unknown_flag_and_app_are_usage_errors():
    proc = harness("run", str(TINY), "--bogus")
    assert proc.returncode == 2 and "unrecognized arguments: --bogus" in proc.stderr
    proc = harness("serve", "--apps", "django")
    assert proc.returncode == 2 and "unknown app django" in proc.stderr


def test_external_targets_are_measured_but_not_started_or_stopped(database_url, tmp_path):
    """As with `docker compose up`: the services run already; the harness only measures."""
    found = services.discover()
    started = {name: services.start(found[name], database_url, postgres.free_port(),
                                    str(tmp_path / f"{name}.log"))
               for name in ("flask_sync", "fastapi_async")}
    try:
        scenario = tmp_path / "ext.yaml"
        scenario.write_text(TINY.read_text().split("  - name: create")[0].replace(
            "[flask_sync, fastapi_sync, fastapi_async]", "[flask_sync, fastapi_async]"))
        targets = [f"--target={n}={r.base_url}" for n, r in started.items()]
        proc = harness("run", str(scenario), "--out", str(tmp_path / "out"), "--no-ceilings",
                       "--database-url", database_url, *targets, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        _, run = only_run(tmp_path / "out")
        assert run["environment"]["database"] == "external"
        assert all(c["status"] == "ok" for c in run["cells"]) and len(run["cells"]) == 8
        assert all(run["apps"][n]["external"] for n in started)
        for running in started.values():
            assert running.process.poll() is None  # still ours, still up
    finally:
        services.stop(*started.values())


def test_an_app_that_fails_verification_is_not_measured(database_url, tmp_path):
    """Fail closed: a real app on a database without the users table answers /health but not
    the contract; its cells are stored as failed with the reason, the others are measured."""
    with postgres.database(log_dir=str(tmp_path / "pg")) as empty_db:
        broken = services.start(services.discover()["fastapi_async"], empty_db,
                                postgres.free_port(), str(tmp_path / "broken.log"))
        try:
            scenario = tmp_path / "one.yaml"
            scenario.write_text(TINY.read_text().split("  - name: create")[0]
                                .replace("connections: [1, 4]", "connections: [2]")
                                .replace("repeats: 2", "repeats: 1"))
            proc = harness("run", str(scenario), "--out", str(tmp_path / "out"), "--no-ceilings",
                           "--apps", "flask_sync,fastapi_async", "--database-url", database_url,
                           f"--target=fastapi_async={broken.base_url}", timeout=300)
        finally:
            services.stop(broken)
    assert proc.returncode == 3, proc.stderr[-2000:]  # its thresholds cannot pass
    _, run = only_run(tmp_path / "out")
    by_app = {c["app"]: c for c in run["cells"]}
    assert by_app["flask_sync"]["status"] == "ok"
    failed = by_app["fastapi_async"]
    assert failed["status"] == "failed" and "failed contract verification" in failed["reason"]
    assert run["apps"]["fastapi_async"]["verification"]["ok"] is False
    assert "failed contract verification" in (tmp_path / "out" / "report.md").read_text()


def test_a_password_in_the_database_url_appears_nowhere(database_url, tmp_path):
    """The session's cluster trusts every local login, so any password connects — and must not
    be written to results, reports or logs."""
    secret = "pa55-w0rd-never-stored"
    with_password = database_url.replace("bench@", f"bench:{secret}@")
    scenario = tmp_path / "one.yaml"
    scenario.write_text(TINY.read_text().split("  - name: create")[0]
                        .replace("connections: [1, 4]", "connections: [2]")
                        .replace("repeats: 2", "repeats: 1")
                        .replace("[flask_sync, fastapi_sync, fastapi_async]", "[fastapi_async]"))
    out = tmp_path / "out"
    proc = harness("run", str(scenario), "--out", str(out), "--database-url", with_password,
                   timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert secret not in proc.stdout + proc.stderr
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in written) and any(p.suffix == ".log" for p in written)
    for path in written:
        assert secret not in path.read_text(errors="replace"), path
    _, run = only_run(out)
    jsonschema.validate(run, SCHEMA)
    assert "--database-url" in run["command"]


def test_an_unreachable_database_is_one_line_and_leaves_nothing(tmp_path):
    closed = f"postgresql://bench:hunter2@127.0.0.1:{postgres.free_port()}/bench"
    proc = harness("run", str(TINY), "--out", str(tmp_path / "out"), "--database-url", closed)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: DATABASE_URL: cannot connect to "
                                                   "postgresql://bench:***@127.0.0.1:")
    assert "hunter2" not in proc.stderr + proc.stdout
    assert not list((tmp_path / "out").glob("*.json"))


def test_an_unencoded_special_character_in_the_password_is_refused_without_echoing_it(tmp_path):
    url = "postgresql://bench:se#cr/et@127.0.0.1:5432/bench"
    proc = harness("run", str(TINY), "--out", str(tmp_path / "out"), "--database-url", url)
    assert proc.returncode == 2
    assert "percent-encoded" in proc.stderr and "se#cr" not in proc.stderr + proc.stdout


def test_an_output_path_that_is_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "taken").write_text("")
    proc = harness("run", str(TINY), "--out", str(tmp_path / "taken"))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: --out {tmp_path / 'taken'}: cannot write results")


def test_a_target_without_its_database_is_a_usage_error(tmp_path):
    proc = harness("run", str(TINY), "--out", str(tmp_path / "out"),
                   "--target=flask_sync=http://127.0.0.1:8002")
    assert proc.returncode == 2 and "also give --database-url" in proc.stderr
    assert not (tmp_path / "out").exists()
