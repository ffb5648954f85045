"""Real Locust (a master and worker processes) against a tiny loopback server that records what
it received: the master/worker path on one machine, the open-loop schedule, the documented
command for workers on other machines, clean-up on interruption, and one `harness run` with wrk,
Locust and open-loop cells in one report. About 75 s in all."""

import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from harness.config.scenarios import Request
from harness.errors import Interrupted
from harness.measure import locust_driver, postgres, procs

try:
    locust_driver.executable()
    HAVE_LOCUST = True
except Exception:  # noqa: BLE001 - MissingTool
    HAVE_LOCUST = False
pytestmark = pytest.mark.skipif(not HAVE_LOCUST, reason="locust is not installed")
ROOT = Path(__file__).resolve().parents[2]


class Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Locust's FastHttpUser expects
    disable_nagle_algorithm = True

    def do_GET(self):
        self.record(b"")

    def do_POST(self):
        self.record(self.rfile.read(int(self.headers["Content-Length"])))

    def record(self, body):
        now = time.monotonic()
        with self.server.lock:
            self.server.seen.append((now, self.command, self.path, dict(self.headers), body))
            first = self.server.seen[0][0]
        # With `stall`: every answer asked for between 1 s and 1 s + stall after the first
        # request waits until the stall ends (a service that stops answering for a while).
        start = first + 1.0
        if self.server.stall and start <= now < start + self.server.stall:
            time.sleep(start + self.server.stall - now)
        answer = b'{"ok":true}'
        self.send_response(500 if self.path == "/fail" else 201 if body else 200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.daemon_threads = True
    srv.handle_error = lambda *a: None  # answers to a user that was stopped
    srv.seen, srv.lock, srv.stall = [], threading.Lock(), 0.0
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def locust_processes():
    return [p for p in psutil.Process().children(recursive=True)
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
            and p.name() == "locust"]


def test_master_and_two_workers_count_what_the_server_saw(server, tmp_path):
    body = '{"name":"user {{unique}}","email":"{{unique}}@example.com"}'
    request = Request("POST", "/users", {"Content-Type": "application/json",
                                         "X-Note": 'say "hi"'}, body)
    load = locust_driver.run(server.url + "/users", request, connections=4, seconds=3,
                             timeout=2, workdir=tmp_path, workers=2)
    assert load.driver == "locust" and not load.open_loop and load.rate is None
    assert (load.threads, load.connections, load.duration_s) == (2, 4, 3)
    assert load.requests > 50 and sum(load.errors.values()) == 0
    # Locust resets its statistics once every user runs: the ramp-up is not counted.
    assert load.requests <= len(server.seen)
    assert 1.5e6 < load.duration_us <= 3.5e6
    assert 0 < load.latency_us["p50"] <= load.latency_us["p99"] <= load.latency_us["max"]
    assert set(load.generator_cpu) == {"master", "worker-0", "worker-1"}
    assert all(0 <= v <= 1.5 for v in load.generator_cpu.values())
    bodies = [json.loads(b) for *_, b in server.seen]
    emails = [b["email"] for b in bodies]
    assert len(set(emails)) == len(emails)  # {{unique}} never repeats, across workers too
    assert all(re.fullmatch(r"[0-9a-f]+-[0-9a-f]+-\d+-\d+@example\.com", e) for e in emails)
    assert all(b["name"] == "user " + b["email"].split("@")[0] for b in bodies)
    assert {(m, p) for _, m, p, _, _ in server.seen} == {("POST", "/users")}
    assert server.seen[0][3]["X-Note"] == 'say "hi"'
    assert list(tmp_path.iterdir()) == []  # locustfile, logs and result removed after success
    assert locust_processes() == []


def test_open_loop_rate_is_kept_and_latency_counts_from_the_schedule(server, tmp_path):
    request = Request("GET", "/users", {}, None)
    server.stall = 1.0  # a second without answers, 1 s into the load
    load = locust_driver.run(server.url + "/users", request, connections=20, seconds=5,
                             timeout=5, workdir=tmp_path, workers=1, rate=200)
    assert load.open_loop and load.rate == 200
    achieved = load.requests / (load.duration_us / 1e6)
    assert 170 <= achieved <= 230, achieved
    assert sum(load.errors.values()) == 0
    # While the server stalled, requests kept their schedule: their latency counts from the
    # intended send time, so the stall shows in the tail (a closed loop would hide it).
    assert load.latency_us["max"] >= 500_000


def test_status_errors_are_counted_by_kind(server, tmp_path):
    load = locust_driver.run(server.url + "/fail", Request("GET", "/fail", {}, None),
                             connections=2, seconds=2, timeout=2, workdir=tmp_path, workers=1)
    assert load.requests > 0 and load.errors["status"] == load.requests
    assert load.errors["connect"] == load.errors["timeout"] == 0
    assert any("status: 500" in m for m in load.failures)
    assert load.latency_us["p50"] is not None  # an answer came: it has a latency, as in wrk


def test_workers_started_elsewhere_join_with_the_documented_command(server, tmp_path,
                                                                      monkeypatch):
    """docs/scale.md: `locust -f - --worker --master-host HOST --master-port 5557` on each load
    machine. Here the two "remote" workers run on this machine, against a port of its own."""
    port = postgres.free_port()
    monkeypatch.setenv("LOCUST_MASTER_BIND_HOST", "127.0.0.1")
    monkeypatch.setenv("LOCUST_MASTER_BIND_PORT", str(port))
    remote = [procs.start(locust_driver.worker_command("-", "127.0.0.1", port),
                          log_path=str(tmp_path / f"remote-{i}.log")) for i in range(2)]
    try:
        load = locust_driver.run(server.url + "/users", Request("GET", "/users", {}, None),
                                 connections=2, seconds=2, timeout=2, workdir=tmp_path / "run",
                                 workers=0, remote_workers=2)
    finally:
        procs.stop(*remote, timeout=5)
    assert load.threads == 2 and load.requests > 0
    assert set(load.generator_cpu) == {"master", "worker-0", "worker-1"}


def test_interrupt_stops_master_and_workers(server, tmp_path, monkeypatch):
    real_sleep = time.sleep
    calls = []

    def sleep(seconds):  # the driver's wait loop: SIGTERM arrives two seconds in (once:
        calls.append(seconds)  # procs.install_signal_handlers ignores the later ones)
        if len(calls) == 20:
            raise Interrupted("SIGTERM")
        real_sleep(seconds)

    monkeypatch.setattr(locust_driver.time, "sleep", sleep)
    t0 = time.monotonic()
    with pytest.raises(Interrupted):
        locust_driver.run(server.url + "/users", Request("GET", "/users", {}, None),
                          connections=2, seconds=60, timeout=2, workdir=tmp_path, workers=2)
    assert time.monotonic() - t0 < 15  # not the 60 s of load
    assert locust_processes() == []


def test_missing_locust_is_a_missing_tool(monkeypatch, tmp_path):
    from harness.errors import MissingTool

    monkeypatch.setattr(locust_driver.Path, "exists", lambda self: False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(MissingTool, match="pip install"):
        locust_driver.run("http://127.0.0.1:1/", Request("GET", "/", {}, None), 1, 1, 1,
                          tmp_path)


def test_locust_failure_is_a_locust_error(tmp_path, monkeypatch):
    """A locustfile Locust cannot load: the master exits non-zero, its words in the error."""
    monkeypatch.setattr(locust_driver, "render_locustfile",
                        lambda *a, **kw: "import nonexistent_x\n")
    with pytest.raises(locust_driver.LocustError, match="exit code|nonexistent_x"):
        locust_driver.run("http://127.0.0.1:1/", Request("GET", "/", {}, None), 1, 1, 1,
                          tmp_path)
    assert locust_processes() == []


SCENARIOS = """\
version: 1
rows: 200
defaults:
  apps: [fastapi_async]
  warmup: 0s
  duration: 2s
  repeats: 1
  timeout: 2s
scenarios:
  - name: closed_wrk
    request: {method: GET, path: /users}
    connections: [4]
  - name: closed_locust
    request: {method: GET, path: /users}
    connections: [4]
    driver: locust
    locust_workers: 2
  - name: open
    request: {method: GET, path: /users}
    connections: [20]  # 5 req/s per user: the rate holds with answers up to 200 ms
    driver: locust
    locust_workers: 2
    rate: 100
"""


def test_harness_run_measures_locust_and_open_loop_cells_beside_wrk_ones(tmp_path):
    """The real CLI from scenario file to report: PostgreSQL, a real app, wrk and Locust."""
    scenario = tmp_path / "scenarios.yaml"
    scenario.write_text(SCENARIOS)
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out",
                           str(tmp_path / "out"), "--no-ceilings"], cwd=ROOT,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = (tmp_path / "out").glob("2*.json")
    cells = {c["scenario"]: c for c in json.loads(path.read_text())["cells"]}
    assert {c["status"] for c in cells.values()} == {"ok"}
    assert cells["closed_wrk"]["load"]["driver"] == "wrk"
    assert cells["closed_locust"]["load"]["driver"] == "locust"
    assert cells["closed_locust"]["load"]["threads"] == 2
    assert not cells["closed_locust"]["load"]["open_loop"]
    opened = cells["open"]["load"]
    assert opened["open_loop"] and opened["rate"] == 100
    assert 80 <= cells["open"]["rps"] <= 120
    assert cells["closed_locust"]["cpu"]["load_s"] > 0  # the sampler counted Locust's CPU
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| load |" in report and "Locust, open 100/s" in report and "wrk, closed" in report
    assert "## Open loop beside closed loop" in report
    assert locust_processes() == []
