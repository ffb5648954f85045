"""The results model: the published schema, the v1 migration, loading errors, round trips.

After an intended model change, regenerate the schema: UPDATE_SCHEMA=1 pytest tests/unit/test_model.py
"""

import json
import os
from pathlib import Path

import jsonschema
import pytest

from harness.errors import UsageError
from harness.model import store
from harness.model.results import CellStatus, RunCore, RunStatus, StopReason

FIXTURES = Path(__file__).parent.parent / "fixtures"
V1 = FIXTURES / "results" / "run-small.json"
SCHEMA_FILE = Path(store.__file__).with_name("results.schema.json")


def test_published_schema_matches_the_model():
    generated = json.dumps(store.schema(), indent=1, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SCHEMA"):
        SCHEMA_FILE.write_text(generated)
    assert SCHEMA_FILE.read_text() == generated


def test_version_1_file_migrates_to_a_valid_version_2_run(tmp_path):
    run = store.load(V1)
    assert run.schema_version == 2 and run.status is RunStatus.COMPLETE
    raw = json.loads(V1.read_text())
    assert len(run.cells) == len(raw["cells"])
    first, old = run.cells[0], raw["cells"][0]
    assert first.load.driver == "wrk" and first.load.requests == old["wrk"]["requests"]
    assert first.samples.series["app_cpu_pct"].peak == old["samples"]["app_cpu_pct"]["peak"]
    assert {lv.reason for lv in run.levels} == {StopReason.FIXED}
    assert any(c.status is CellStatus.FAILED for c in run.cells)
    out = tmp_path / "v2.json"
    store.save(run, out)
    jsonschema.validate(json.loads(out.read_text()), json.loads(SCHEMA_FILE.read_text()))
    assert store.load(out) == run


def test_core_load_leaves_out_the_sampled_series():
    core = store.load(V1, full=False)
    assert type(core) is RunCore and not hasattr(core.cells[0], "samples")
    assert [c.rps for c in core.cells] == [c.rps for c in store.load(V1).cells]


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "not a results file (no schema_version)"),
    (b'{"schema_version": 99}', "schema_version 99 is not supported (this harness reads 1, 2)"),
    (b'{"schema_version": 2, "run_id": 5}', "not a valid version-2 results file: run_id"),
    (b'{"schema_version": 1, "cells": [{"scenario": "s"}]}',
     "not a valid version-1 results file"),
])
def test_bad_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "r.json"
    path.write_bytes(content)
    with pytest.raises(UsageError) as e:
        store.load(path)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_missing_file_and_empty_directory(tmp_path):
    with pytest.raises(UsageError, match="no such results file"):
        store.load(tmp_path / "nope.json")
    with pytest.raises(UsageError, match="no results files"):
        store.latest(tmp_path)


def test_collapsed_stacks_keep_process_frames_whose_command_lines_hold_semicolons(tmp_path):
    from harness.model import stacks

    worker = 'process 12:"python -c from multiprocessing.spawn import spawn_main; spawn_main()"'
    text = (f'process 11:"python -m uvicorn main:app";{worker};run (asyncio/runners.py:118) 7\n'
            f'process 11:"python -m uvicorn main:app";{worker};run (asyncio/runners.py:118) 2\n'
            "main (app.py:3);f (a b.py:9) 1\n"
            "cut short without a count\n")
    path = tmp_path / "p.txt"
    path.write_text(text)
    parsed = stacks.read(path)
    assert parsed == {('process 11:"python -m uvicorn main:app"', worker,
                       "run (asyncio/runners.py:118)"): 9,
                      ("main (app.py:3)", "f (a b.py:9)"): 1}
    assert stacks.total(parsed) == 10
    assert stacks.is_process(worker) and not stacks.is_process("main (app.py:3)")


def test_a_run_with_profiles_round_trips(tmp_path):
    from harness.model.results import Profile

    run = store.load(V1)
    run.profiles = [Profile(scenario="users_list", app="flask_sync", connections=12, rate_hz=100,
                            file=f"{run.run_id}/profiles/users_list-flask_sync-c12.txt",
                            samples=2000, seconds=5.1, rps=300.0, error_rate=0.0),
                    Profile(scenario="users_list", app="fastapi_sync", connections=12,
                            rate_hz=100, error="py-spy could not attach: Permission denied")]
    out = tmp_path / "run.json"
    store.save(run, out)
    jsonschema.validate(json.loads(out.read_text()), json.loads(SCHEMA_FILE.read_text()))
    assert store.load(out) == run
    assert store.load_cores([out])[0].profiles == run.profiles  # through the digest too
