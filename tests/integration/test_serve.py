"""`python -m harness serve`: the services come up on their documented ports and go away."""

import glob
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from harness.measure import verify

ROOT = Path(__file__).resolve().parents[2]


def test_serve_starts_the_services_on_their_ports_and_sigterm_stops_everything():
    dirs_before = set(glob.glob(os.path.join(tempfile.gettempdir(), "harness-*")))
    proc = subprocess.Popen([sys.executable, "-m", "harness", "serve", "--apps",
                             "fastapi_async,flask_sync", "--rows", "50"], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if line.startswith("ready"):
                break
        assert lines and lines[-1].startswith("ready"), lines
        urls = {ln.split()[0]: ln.split()[1] for ln in lines if ln.split()[0].endswith("_sync")
                or ln.split()[0].endswith("_async")}
        assert urls == {"fastapi_async": "http://127.0.0.1:8000",
                        "flask_sync": "http://127.0.0.1:8002"}
        for url in urls.values():
            status, _, body = verify.request(url, "GET", "/users?limit=100")
            assert status == 200 and len(body) == 50  # --rows reached the seed
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    alive = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [p.cmdline() for p in alive]
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "harness-*"))) <= dirs_before


def test_serve_refuses_an_unknown_app():
    proc = subprocess.run([sys.executable, "-m", "harness", "serve", "--apps", "flask_sync,rails"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "unknown app rails; choose from fastapi_async, fastapi_sync, flask_sync (variants: " \
        "fastapi_sync@close-early," in proc.stderr.strip().splitlines()[-1]


def test_serve_refuses_a_port_in_use_before_starting_anything():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 8000))
        busy.listen()
        proc = subprocess.run([sys.executable, "-m", "harness", "serve", "--apps",
                               "fastapi_async"], cwd=ROOT, capture_output=True, text=True,
                              check=False, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: port 8000 (fastapi_async) is already in use: stop "
                                   "what listens there, or leave the app out with --apps")
