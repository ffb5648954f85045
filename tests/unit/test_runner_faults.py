"""The runner's fault and timeline hooks with fake backends: what is recorded per cell, the apps
restarted after a database restart, and faults refused before anything starts.
tests/integration/test_faults.py runs the same hooks on real processes."""

from __future__ import annotations

import json

import jsonschema
import pytest
from test_runner import APPS, SCHEMA, Fake, execute, scenario_file

from harness.errors import UsageError
from harness.model.results import FaultEvent, Timeline


class FaultFake(Fake):
    """Fake backends that also run a cell over time and 'inject' its faults."""

    def load_over_time(self, url, request, connections, threads, seconds, timeout, workdir,
                       cpus, interval, origin):
        result = self.load(url, request, connections, threads, seconds, timeout, workdir, cpus)
        per = result.requests / (seconds / interval)
        rows = [[round(i * interval, 3), per, per, 0, 0, 0] for i in range(int(seconds / interval))]
        return result, Timeline(interval_s=interval, rows=rows)

    def inject(self, running, url, faults, origin, cpus):
        return FakeInjector([FaultEvent(kind=f.kind, at_s=f.at, started_s=f.at,
                                        ended_s=f.at + (f.hold or 0.2), detail="done")
                             for f in faults])


class FakeInjector:
    def __init__(self, events):
        self._events = events

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def events(self):
        return self._events


def test_a_restart_is_recorded_with_the_timeline_and_every_app_restarted(tmp_path):
    fake = FaultFake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600})
    sf = scenario_file(repeats=1, faults=[{"kind": "restart_postgres", "at": "2s"}])
    run, path = execute(tmp_path, sf, fake)
    assert all(c.ok and c.timeline and c.timeline.interval_s == 0.1 for c in run.cells)
    assert [[(e.kind, e.started_s) for e in c.faults] for c in run.cells] == \
        [[("restart_postgres", 2.0)]] * 3
    # started once, then all three again after each of the three cells
    assert sorted(fake.launches) == sorted(APPS * 4)
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)
    assert run.config["scenarios"][0]["faults"] == [{"kind": "restart_postgres", "at": 2.0}]


def test_app_side_faults_restart_nothing_and_soak_timelines_inject_nothing(tmp_path):
    fake = FaultFake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600})
    sf = scenario_file(repeats=1, faults=[{"kind": "kill_worker", "at": "2s"}])
    run, _ = execute(tmp_path, sf, fake)
    assert sorted(fake.launches) == sorted(APPS)
    assert all(c.faults[0].kind == "kill_worker" for c in run.cells)
    soak = FaultFake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600})
    run, _ = execute(tmp_path / "soak", scenario_file(repeats=1, timeline="1s"), soak)
    assert all(c.timeline.interval_s == 1.0 and c.faults == [] for c in run.cells)


def test_faults_this_run_cannot_inject_are_refused_before_anything_starts(tmp_path):
    fake = FaultFake({"flask_sync": 800, "fastapi_sync": 400, "fastapi_async": 600})
    sf = scenario_file(repeats=1, faults=[{"kind": "restart_postgres", "at": "2s"}])
    with pytest.raises(UsageError, match="cannot restart a server given with --database-url"):
        execute(tmp_path, sf, fake, database_url="postgresql://u@127.0.0.1:5432/db")
    sf = scenario_file(repeats=1, faults=[{"kind": "kill_worker", "at": "2s"}])
    with pytest.raises(UsageError, match="need\\(s\\) an app the harness starts"):
        execute(tmp_path, sf, fake, targets={"flask_sync": "http://127.0.0.1:9"})
    assert fake.launches == [] and fake.loads == []
