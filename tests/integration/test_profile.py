"""Profiles end to end: real PostgreSQL, the real apps, wrk and py-spy, through the real CLI.
A tagged scenario gives each stack a profile with its layers and a flame graph, and leaves no
py-spy behind."""

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.analysis import profiles
from harness.measure import profiler
from harness.model import stacks, store

ROOT = Path(__file__).resolve().parents[2]
APPS = ("flask_sync", "fastapi_sync", "fastapi_async")
# Short cells: 5 s of load sampled per app is a few hundred busy samples on 2 cores (3 s once
# left py-spy without a sample under the full suite's load); no warmup (the round before each
# app's profiled cell warms it up).
SCENARIOS = """\
version: 1
rows: 200
defaults: {apps: [flask_sync, fastapi_sync, fastapi_async], threads: 2, timeout: 2s}
scenarios:
  - name: plain
    description: not profiled, not selected
    request: {path: /users}
    connections: [4]
    repeats: 1
  - name: profiled
    description: GET /users, then each app sampled by py-spy
    request: {path: /users}
    connections: [4]
    duration: 5s
    warmup: 0
    repeats: 1
    profile: 4
    tags: [profile]
    default: false
"""


def py_spies(t0):
    return [p for p in psutil.process_iter(["name", "create_time", "status"])
            if p.info["name"] == "py-spy" and p.info["create_time"] >= t0
            and p.info["status"] != psutil.STATUS_ZOMBIE]


@pytest.fixture(scope="module")
def profiled_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("profile")
    (work / "scenarios.yaml").write_text(SCENARIOS)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(work / "scenarios.yaml"),
                           "--tag", "profile", "--no-ceilings", "--out", str(work / "out")],
                          cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=300, check=False)
    return proc, work / "out", t0


def test_a_tagged_run_profiles_every_stack_with_plausible_layers(profiled_run):
    proc, out, _ = profiled_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = store.files([out])
    run = store.load(path)
    assert [c.scenario for c in run.cells] == ["profiled"] * 3  # no profiled cell among them
    assert [(p.app, p.connections) for p in run.profiles] == [(a, 4) for a in APPS]
    raw = json.loads(path.read_text())
    assert raw["config"]["scenarios"][0]["profile"] == 4
    for p in run.profiles:
        assert p.error is None and p.samples > 0 and p.rps > 0, p
        assert p.file == f"{run.run_id}/profiles/profiled-{p.app}-c4.txt"
        found = profiles.profile(p, stacks.read(out / p.file))
        # Every stack serves GET /users through its server and its ORM, and waits somewhere.
        assert found.busy > 20, (p.app, found.busy)
        assert found.share(profiles.Layer.ORM) > 0, (p.app, found.shares)
        assert found.share(profiles.Layer.SERVER) > 0, (p.app, found.shares)
        assert 0 < found.waiting < 1
    report = (out / "report.md").read_text()
    assert "### Where the CPU goes: profiled" in report
    for app in APPS:
        assert f"| {app} | 4 |" in report
        assert (out / f"flame-profiled-{app}-c4.svg").read_text().startswith("<?xml")


def test_no_py_spy_is_left_running(profiled_run):
    _, _, t0 = profiled_run
    assert py_spies(t0) == []


def test_py_spy_that_cannot_attach_says_why_in_one_line(tmp_path):
    t0 = time.time()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid with no process behind it
    with profiler.Recording(gone.pid, tmp_path / "p.txt", 1) as rec:
        pass
    outcome = rec.outcome()
    assert outcome.samples is None and rec.error == outcome.error
    assert outcome.error.startswith("py-spy could not sample the app: ")
    assert "\n" not in outcome.error
    assert py_spies(t0) == []
