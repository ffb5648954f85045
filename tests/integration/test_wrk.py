"""Real wrk against a tiny loopback server that records what it received."""

import http.server
import json
import re
import shutil
import subprocess
import threading

import pytest

from harness.config.scenarios import Request
from harness.errors import Interrupted
from harness.measure import wrk

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


class Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    disable_nagle_algorithm = True

    def do_GET(self):
        self.record(b"")

    def do_POST(self):
        self.record(self.rfile.read(int(self.headers["Content-Length"])))

    do_PUT = do_POST

    def record(self, body):
        with self.server.lock:
            self.server.seen.append((self.command, self.path, dict(self.headers), body))
        answer = b'{"ok":true}'
        self.send_response(201 if body else 200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.daemon_threads = True
    srv.handle_error = lambda *a: None  # answers to a wrk that was killed
    srv.seen, srv.lock = [], threading.Lock()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def test_counts_match_what_the_server_saw(server, tmp_path):
    request = Request("GET", "/users", {"Accept": "application/json"}, None)
    s = wrk.run(server.url, request, connections=4, max_threads=2, duration=1, timeout=2,
                workdir=tmp_path)
    assert (s.threads, s.connections, s.duration_s, s.timeout_s) == (2, 4, 1, 2)
    assert s.driver == "wrk" and s.requests > 50
    assert sum(s.errors.values()) == 0
    # Requests still in flight when wrk stops reach the server but are not counted by wrk.
    assert s.requests <= len(server.seen) <= s.requests + 4
    assert {(m, p) for m, p, _, _ in server.seen} == {("GET", "/users")}
    assert server.seen[0][2]["Accept"] == "application/json"
    assert 0 < s.latency_us["p50"] <= s.latency_us["max"]
    assert list(tmp_path.iterdir()) == []  # script and summary removed after success


def test_unique_placeholder_gives_every_request_its_own_body(server, tmp_path):
    body = '{"name":"user {{unique}}","email":"{{unique}}@example.com"}'
    request = Request("POST", "/users", {"Content-Type": "application/json"}, body)
    s = wrk.run(server.url, request, connections=4, max_threads=2, duration=1, timeout=2,
                workdir=tmp_path)
    bodies = [json.loads(b) for _, _, _, b in server.seen]
    assert s.requests <= len(bodies) <= s.requests + 4
    emails = [b["email"] for b in bodies]
    assert len(set(emails)) == len(emails)  # distinct, so a UNIQUE column never conflicts
    matches = [re.fullmatch(r"([0-9a-f]+)-(\d+)-(\d+)@example\.com", e) for e in emails]
    assert all(matches)
    assert len({m.group(1) for m in matches}) == 1  # one nonce per run
    assert {m.group(2) for m in matches} == {"1", "2"}  # one id per wrk thread
    assert all(b["name"] == "user " + b["email"].split("@")[0] for b in bodies)


def test_awkward_values_arrive_intact(server, tmp_path):
    body = '{"name":"Zoë \\"quoted\\" back\\\\slash ]] %d"}'
    request = Request("PUT", "/users/1?x=%20", {"X-Note": 'say "hi" \\ ok'}, body)
    wrk.run(server.url, request, connections=1, max_threads=1, duration=1, timeout=1,
            workdir=tmp_path)
    method, path, headers, received = server.seen[0]
    assert (method, path) == ("PUT", "/users/1?x=%20")
    assert headers["X-Note"] == 'say "hi" \\ ok'
    assert received.decode() == body


def test_wrk_failure_is_a_wrk_error(tmp_path):
    with pytest.raises(wrk.WrkError, match="unable to connect"):
        wrk.run("http://127.0.0.1:1", Request("GET", "/", {}, None), 1, 1, 1, 1, tmp_path)


def test_interrupt_kills_wrk(server, tmp_path, monkeypatch):
    started = []

    class Popen(subprocess.Popen):
        def communicate(self, timeout=None):
            started.append(self)
            with pytest.raises(subprocess.TimeoutExpired):
                super().communicate(timeout=0.5)  # wrk is running...
            raise Interrupted  # ...when SIGTERM arrives

    monkeypatch.setattr(wrk.subprocess, "Popen", Popen)
    with pytest.raises(Interrupted):
        wrk.run(server.url, Request("GET", "/", {}, None), 2, 2, 30, 1, tmp_path)
    assert started[0].returncode == -9  # killed and reaped, not left running for 30 s
