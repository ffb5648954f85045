"""Report rendering against a recorded results file and a golden text.

After an intended change, regenerate the golden: UPDATE_GOLDEN=1 pytest tests/unit/test_report.py
"""

import copy
import json
import os
import re
from pathlib import Path

from harness.render import report

FIXTURES = Path(__file__).parent.parent / "fixtures"
RUN = FIXTURES / "results" / "run-small.json"
GOLDEN = FIXTURES / "report" / "expected.md"


def _run():
    return json.loads(RUN.read_text())


def _section(md, title):
    """The text of one '## title' section, up to the next '## '."""
    start = md.index(f"\n## {title}\n")
    end = md.find("\n## ", start + 1)
    return md[start:end if end != -1 else None]


def test_report_matches_golden(tmp_path):
    md = report.render([_run()], tmp_path)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(md)
    assert md == GOLDEN.read_text()


def test_sections_in_order_and_chart_links_resolve(tmp_path):
    md = report.render([RUN], tmp_path)  # a path is loaded with harness.results.load
    titles = re.findall(r"^## (.+)$", md, flags=re.MULTILINE)
    assert titles == ["Verdict", "users_list", "user_create", "Failures", "Methodology",
                      "Environment", "Settings"]
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links == ["users_list-rps.svg", "users_list-p99.svg",
                     "user_create-rps.svg", "user_create-p99.svg"]
    for link in links:
        assert (tmp_path / link).is_file()
    assert report.render([_run()], tmp_path) == md  # deterministic


def test_verdict_breaking_points_and_evidence(tmp_path):
    md = report.render([_run()], tmp_path)
    verdict = _section(md, "Verdict")
    assert ("- `fastapi_async` serves 0.67× flask_sync at 48 connections (95% CI 0.61–0.73): "
            "slower.") in verdict
    assert "- `fastapi_async` at 12 connections: inconclusive: the repeats cannot tell (0.72×;" in verdict
    assert "`fastapi_async`: noisy, CV 17%" in verdict
    assert ("- `fastapi_sync` meets every threshold up to 12 connections; at 48 connections: "
            "1 of 3 repeats failed (not measured: the app exited (see its log)); "
            "`p99 < 500ms` failed in 2 of 2 measured repeats") in verdict
    assert "app log: pool_timeout ×4." in verdict
    assert "- `flask_sync` meets every threshold up to 48 connections, the highest level tested." \
        in verdict
    users = _section(md, "users_list")
    row = next(line for line in users.splitlines() if line.startswith("| `fastapi_sync` | 48 |"))
    assert "| 2 of 3 |" in row and "few repeats; 1 failed (see Failures)" in row
    assert "| 9 / 0 / 21 | pool_timeout ×4 |" in users
    assert "`fastapi_sync` at 48 connections, pool_timeout: `sqlalchemy.exc.TimeoutError:" in users
    assert "| `flask_sync` | 12 | 1618 | 3.6% | 34.0% |" in users  # % of pgbench, of reference
    assert "### Ceilings" not in _section(md, "user_create")


def test_interrupted_run_says_so_at_the_top(tmp_path):
    run = _run()
    run["status"] = "interrupted"
    run["cells"] = [c for c in run["cells"] if c["scenario"] == "users_list"]
    md = report.render([run], tmp_path)
    head = md.split("\n## ", 1)[0]
    assert "**Incomplete results: run 20261124T210615Z is interrupted.**" in head
    assert "Not measured at all: user_create." in head


def test_verification_failure_single_repeat_and_saturation(tmp_path):
    run = _run()
    run["apps"]["fastapi_sync"]["verification"] = {
        "ok": False, "failures": ["GET /users/999999999: status 500, expected 404"]}
    for c in run["cells"]:
        if c["app"] == "fastapi_sync":
            for k in ("wrk", "rps", "error_rate", "samples", "log"):
                c.pop(k, None)
            c.update(status="failed", reason="not measured: failed contract verification: "
                     "GET /users/999999999: status 500, expected 404")
    run["cells"] = [c for c in run["cells"] if c["app"] == "fastapi_sync" or c["repeat"] == 0]
    run["cells"][0]["samples"]["wrk_saturated"] = True  # users_list flask_sync c=1
    md = report.render([run], tmp_path)
    assert ("- `fastapi_sync` at 1 connection: not compared: `fastapi_sync` failed every repeat "
            "(not measured: failed contract verification:") in md
    assert ("- `fastapi_async` at 1 connection: inconclusive: the repeats cannot tell (0.73×; a single repeat "
            "cannot decide; `fastapi_async`: few repeats; `flask_sync`: few repeats).") in md
    failures = _section(md, "Failures")
    assert ("- `fastapi_sync` was not measured because it failed contract verification:\n"
            "  - GET /users/999999999: status 500, expected 404") in failures
    assert "load generator saturated in 1 of 1 repeats: req/s is a floor" in md
    assert "- `fastapi_sync` breaks already at 1 connection: 3 of 3 repeats failed" in md


def test_minimal_results_degrade_gracefully(tmp_path):
    cells = [{"scenario": "s", "app": app, "connections": conns, "rps": rps * f}
             for app, rps in (("flask_sync", 1000.0), ("fastapi_async", 2000.0))
             for conns in (1, 8) for f in (0.98, 1.0, 1.02)]
    md = report.render([{"run_id": "r1", "cells": cells}], tmp_path)
    assert md.startswith("# Benchmark report: run r1\n")
    assert "**Run r1 records no status**" in md
    assert "- `fastapi_async` serves 2.00× flask_sync at 8 connections (95% CI" in md
    assert "Breaking points (no thresholds declared: every repeat completing):" in md
    assert "- `flask_sync` completes every repeat up to 8 connections" in md
    assert "### Evidence" not in md and "### Ceilings" not in md
    assert "No failed cells.\n" in md
    assert "## Environment\n\nNot recorded." in md
    assert "## Settings" not in md
    assert ("| `fastapi_async` | 8 | 3 | 2000 (1903–2102) | 2.0% | 2.00× (1.91–2.09) "
            "| – | – | – | – | – |  |") in md
    assert re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md) == ["s-rps.svg"]  # no empty p99 chart
    empty = report.render([{"run_id": "r0", "status": "complete", "cells": []}], tmp_path / "e")
    assert "**No cells were measured**" in empty


def test_nested_pg_connection_samples_are_read(tmp_path):
    run = _run()
    for c in run["cells"]:
        s = c.get("samples")
        if s:
            for state in ("active", "idle", "idle_in_transaction"):
                s.pop(f"pg_{state}")
            s["pg_connections"] = {"peak": {"active": 7, "idle": 1, "idle in transaction": 3}}
    md = report.render([run], tmp_path)
    assert "| `flask_sync` | 1 | " in md and "| 7 / 1 / 3 | – |" in md


def test_several_runs_are_pooled_with_history_and_environment_warning(tmp_path):
    first = _run()
    second = copy.deepcopy(first)
    second["run_id"] = "20261125T090000Z"
    second["environment"]["packages"]["fastapi"] = "0.166.0"
    for c in second["cells"]:
        if c.get("rps"):
            c["rps"] *= 0.9
    md = report.render([first, second], tmp_path)
    assert md.startswith("# Benchmark report: runs 20261124T210615Z, 20261125T090000Z\n")
    assert "**The runs come from different environments** (packages.fastapi)" in md
    history = _section(md, "History")
    assert "![users_list: medians over runs](users_list-history.svg)" in history
    assert (tmp_path / "users_list-history.svg").is_file()
    assert "| `flask_sync` | 1 | 822 req/s, p99 4.6 ms | 740 req/s, p99 4.6 ms |" in history
    assert "repeat 2 (run 20261125T090000Z): not measured" in _section(md, "Failures")
    row = next(line for line in _section(md, "users_list").splitlines()
               if line.startswith("| `flask_sync` | 1 |"))
    assert "| 6 |" in row  # repeats of both runs pooled
    env = _section(md, "Environment")
    assert "Run `20261124T210615Z`:" in env and "fastapi 0.166.0" in env


def test_zero_throughput_and_missing_baseline_are_not_compared(tmp_path):
    cells = [{"scenario": "s", "app": app, "connections": 4, "status": "ok", "rps": rps}
             for app, rps in (("flask_sync", 100.0), ("flask_sync", 110.0),
                              ("fastapi_async", 0.0), ("fastapi_async", 0.0))]
    cells.append({"scenario": "t", "app": "fastapi_async", "connections": 4, "rps": 5.0})
    md = report.render([{"run_id": "r", "status": "complete", "cells": cells}], tmp_path)
    assert "- `fastapi_async` at 4 connections: not compared: a repeat served no requests." in md
    assert ("- `fastapi_async` at 4 connections: not compared: `flask_sync` was not run at "
            "4 connections.") in md
    assert "In short" not in _section(md, "Verdict")
