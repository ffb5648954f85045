"""Digests (harness.model.digest): a cache of what the analysis of many runs reads, never
trusted over the results file it was made from."""

import csv
import io
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.analysis import compare as comparison
from harness.analysis.analyze import analyze
from harness.commands import report
from harness.model import digest, store
from harness.model.results import LevelStop, LoadResult, StopReason
from harness.render import csv_export
from tests.fixtures.report import builders as b

V1 = Path(__file__).parent.parent / "fixtures" / "results" / "run-small.json"


def _run(run_id: str, seed: int):
    """A version-2 run with what a digest has to carry: thresholds, app-log counts, settings,
    CPU time, a failed cell, a restart, a stuck repeat, an open-loop Locust cell."""
    rng = random.Random(seed)
    cells = []
    for i in range(4):
        for app in ("a", "b"):
            cells.append(b.cell(
                "s", app, 8, i, rps=rng.uniform(900, 1100), cpu=(1.5, 0.4),
                settings={"WEB_CONCURRENCY": "2", "POOL_SIZE": "5"},
                thresholds=[("p99 < 1s", True, 40.0), ("error_rate < 1%", i != 2, 0.5)],
                log={"pool_timeout": i}, example="QueuePool limit reached",
                latency={"p75": 30.0, "p99.9": 90.0, "max": 120.0}, restarted="stuck" * (i == 1),
                stuck=i == 3))
    cells.append(b.cell("s", "a", 64, 0, failed="wrk: connection refused"))
    locust = b.cell("s", "b", 64, 0, rps=500.0)
    assert isinstance(locust.load, LoadResult)
    locust.load.driver, locust.load.open_loop, locust.load.rate = "locust", True, 500.0
    cells.append(locust)
    return b.run(cells, run_id, started_at=f"2026-12-0{seed}T10:00:00Z",
                 scenarios=[b.scenario("s", thresholds=["p99 < 1s"], budget=60.0)],
                 levels=[LevelStop("s", 8, 4, StopReason.DECIDED, 40.0)])


@pytest.fixture
def history(tmp_path):
    for seed in (1, 2, 3):
        run = _run(f"2026120{seed}T100000Z", seed)
        store.save(run, tmp_path / f"{run.run_id}.json")
    shutil.copy(V1, tmp_path / "20261130T000000Z.json")  # version 1, copied: no digest yet
    return tmp_path


def test_save_writes_the_digest_beside_the_results_file(history):
    assert sorted(p.name for p in (history / digest.DIRECTORY).iterdir()) == [
        ".gitignore", "20261201T100000Z.json", "20261202T100000Z.json", "20261203T100000Z.json"]
    assert (history / digest.DIRECTORY / ".gitignore").read_text().endswith("*\n")
    # The digests' directory is never mistaken for runs.
    assert [p.name for p in store.files([history])] == [
        "20261130T000000Z.json", "20261201T100000Z.json", "20261202T100000Z.json",
        "20261203T100000Z.json"]


def test_a_run_read_through_its_digest_is_the_run(history):
    files = store.files([history])
    cores = store.load_cores(files)  # the v1 file's digest is made here
    assert (history / digest.DIRECTORY / "20261130T000000Z.json").is_file()
    again = store.load_cores(files)  # all four through their digests now
    for path, core, read in zip(files, cores, again, strict=True):
        plain = store.load(path, full=False)
        assert isinstance(read.cells, digest.Cells)
        assert list(read.cells.facts) == [digest.of_cell(c) for c in plain.cells]
        assert list(core.cells.facts) == list(read.cells.facts)
        assert read == plain  # the run's fields, and its cells read from the file when asked
    locust = again[-1].cells.facts[-1]
    assert (locust.driver, locust.open_loop, locust.rate) == ("locust", True, 500.0)
    failed = again[-1].cells.facts[-2]
    assert (failed.requests, failed.driver, failed.app_cpu_s) == (None, None, None)


def test_the_analysis_through_digests_finds_what_it_finds_on_whole_runs(history):
    files = store.files([history])
    whole = sorted((store.load(f, full=False) for f in files), key=lambda r: r.started_at)
    store.load_many([history])  # digests made
    digested = store.load_many([history])
    detail = store.load(files[-1])
    assert analyze(digested, detail) == analyze(whole, detail)
    assert analyze(digested) == analyze(whole)
    assert comparison.compare(digested[:-1], digested[-1]) == \
        comparison.compare(whole[:-1], whole[-1])


def test_a_stale_digest_is_never_trusted(history):
    path = history / "20261201T100000Z.json"
    assert store.load_cores([path])[0].cells.facts[0].rps != 1.0
    raw = json.loads(path.read_bytes())
    raw["cells"][0]["rps"] = 1.0
    path.write_text(json.dumps(raw, indent=1))  # edited by hand: its size and mtime change
    assert store.load_cores([path])[0].cells.facts[0].rps == 1.0
    assert store.load_cores([path])[0].cells.facts[0].rps == 1.0  # and the digest made again


def test_a_digest_is_bound_to_its_file_version_and_model(history, monkeypatch):
    path = history / "20261202T100000Z.json"
    kept = digest.path_of(path).read_bytes()
    st = os.stat(path)
    assert digest.parse(kept, st) is not None
    for other in ({"st_ino": st.st_ino + 1}, {"st_mtime_ns": st.st_mtime_ns + 1},
                  {"st_size": st.st_size + 1}):
        key = {"st_size": st.st_size, "st_mtime_ns": st.st_mtime_ns, "st_ino": st.st_ino}
        assert digest.parse(kept, SimpleNamespace(**{**key, **other})) is None
    monkeypatch.setattr(digest, "DIGEST_VERSION", digest.DIGEST_VERSION + 1)
    assert digest.parse(kept, st) is None
    monkeypatch.undo()
    monkeypatch.setattr(digest, "FINGERPRINT", digest.FINGERPRINT + ",new_field")
    assert digest.parse(kept, st) is None


@pytest.mark.parametrize("content", [b"", b"{not json", b"[]", b'{"digest_version": 1}',
                                     b"\x00" * 100])
def test_a_broken_digest_is_made_again(history, content):
    path = history / "20261203T100000Z.json"
    expected = store.load(path, full=False)
    digest.path_of(path).write_bytes(content)
    assert store.load_cores([path])[0] == expected
    assert digest.parse(digest.path_of(path).read_bytes(), os.stat(path)) is not None


def test_a_malformed_digest_that_names_its_file_is_made_again(history):
    path = history / "20261203T100000Z.json"
    meta, head, body = digest.path_of(path).read_bytes().splitlines()
    doc = json.loads(body)
    doc["cells"]["rps"] = doc["cells"]["rps"][:-1]  # a column one value short
    digest.path_of(path).write_bytes(b"\n".join([meta, head, json.dumps(doc).encode()]))
    assert store.load_cores([path])[0] == store.load(path, full=False)


def test_a_directory_that_cannot_be_written_goes_without(history, monkeypatch):
    path = history / "20261130T000000Z.json"

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(digest, "atomic_write", refused)
    assert store.load_cores([path])[0] == store.load(path, full=False)
    assert not digest.path_of(path).exists()


def test_latest_and_load_many_order_by_start_time(history):
    assert [r.run_id for r in store.load_many([history])] == [
        "20261124T210615Z", "20261201T100000Z", "20261202T100000Z", "20261203T100000Z"]
    assert store.latest(history).run_id == "20261203T100000Z"


def test_the_report_path_imports_neither_scipy_nor_matplotlib():
    code = ("import sys, harness.commands.report, harness.commands.compare, "
            "harness.analysis.analyze, harness.analysis.sequential, harness.analysis.stopping; "
            "print('scipy' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2]).stdout
    assert out.split() == ["False", "False"]  # scipy alone takes longer than a report may


def test_over_several_runs_cells_csv_lists_the_newest_run_and_groups_csv_pools_them(history):
    runs = store.load_many([history])
    newest = store.load(store.files([history])[-1])
    out = csv_export.render(analyze(runs, newest))
    cells = list(csv.DictReader(io.StringIO(out["cells.csv"])))
    assert {c["run_id"] for c in cells} == {"20261203T100000Z"} and len(cells) == 10
    groups = list(csv.DictReader(io.StringIO(out["groups.csv"])))
    pooled = next(g for g in groups if (g["scenario"], g["app"], g["connections"]) ==
                  ("s", "a", "8"))
    assert pooled["n_ok"] == "12"  # 4 repeats in each of 3 runs
    one = csv_export.render(analyze([newest], newest))["cells.csv"]
    assert one == out["cells.csv"]


def test_one_run_reads_the_same_whole_or_through_its_digest(history):
    path = store.files([history])[-1]
    whole = store.load(path)
    assert analyze(store.load_cores([path]), whole) == analyze([whole], whole)


def test_the_report_command_reads_many_runs_through_their_digests(history, tmp_path):
    shutil.rmtree(history / digest.DIRECTORY)
    written = report.report([str(history)], tmp_path / "out", ("md", "csv"))
    assert {p.name for p in written} >= {"report.md", "cells.csv", "groups.csv"}
    assert len(list((history / digest.DIRECTORY).glob("*.json"))) == 4
    again = report.report([str(history)], tmp_path / "again", ("md", "csv"))
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]


def test_the_analysis_of_many_runs_reads_their_digests_alone(history):
    runs = store.load_many([history])
    detail = store.load(store.files([history])[-1])

    def no_file():
        raise AssertionError("a results file read for a run that has its digest")

    for run in runs:
        assert isinstance(run.cells, digest.Cells)
        run.cells = digest.Cells(run.cells.facts, no_file)
    analyze(runs, detail)
    comparison.compare(runs[:-1], runs[-1])
