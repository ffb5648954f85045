"""A SIGKILLed harness leaves nothing running: its watchdog stops what it started, and if the
watchdog dies too, the next command cleans up. Real runs, real PostgreSQL and servers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.measure import leftovers

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "scenarios" / "tiny.yaml"


def start_run(out):
    return subprocess.Popen([sys.executable, "-m", "harness", "run", str(TINY), "--out", str(out),
                             "--no-ceilings"], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_a_cell(proc, out, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in out.glob("*.json"):
            try:
                if json.loads(f.read_text())["cells"]:
                    return
            except (ValueError, KeyError):
                pass
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.3)
    raise AssertionError("no cell completed in time")


def started_by(proc):
    """Everything the run started (its process tree) and the registry it keeps."""
    registry = json.loads((leftovers.DIR / f"{proc.pid}.json").read_text())
    tree = psutil.Process(proc.pid).children(recursive=True)
    return tree, registry


def gone(processes, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return []
        time.sleep(0.2)
    return [" ".join(p.cmdline()) for p in alive]


def test_the_watchdog_stops_everything_after_a_sigkill(tmp_path):
    proc = start_run(tmp_path)
    wait_for_a_cell(proc, tmp_path)
    tree, registry = started_by(proc)
    assert len(tree) >= 4 and registry["dirs"] and registry["groups"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not gone(tree)
    assert not any(os.path.exists(d) for d in registry["dirs"])
    assert not (leftovers.DIR / f"{proc.pid}.json").exists()


def test_the_next_command_cleans_up_when_the_watchdog_died_too(tmp_path):
    proc = start_run(tmp_path)
    wait_for_a_cell(proc, tmp_path)
    tree, registry = started_by(proc)
    watchdog = [p for p in tree if "harness.measure.leftovers" in " ".join(p.cmdline())]
    assert len(watchdog) == 1
    watchdog[0].kill()
    watchdog[0].wait(10)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1)
    left = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left, "nothing was left behind: this test shows nothing"
    nxt = subprocess.run([sys.executable, "-m", "harness", "report", str(tmp_path / "none")],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    lines = nxt.stderr.strip().splitlines()
    assert lines[0].startswith(f"cleaned up after an earlier harness (pid {proc.pid}) that was "
                               "killed: stopped ")
    assert not gone(tree)
    assert not any(os.path.exists(d) for d in registry["dirs"])
