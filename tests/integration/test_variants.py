"""Variants end to end: the real CLI builds the original versions' environment from PyPI, runs
both variants on real PostgreSQL with wrk, and the report diagnoses the collapse."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from harness.model import store

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "fixtures" / "scenarios" / "variants.yaml"


def test_the_original_versions_collapse_where_the_mitigation_holds(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(SCENARIOS), "--no-ceilings",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900,
        check=False)
    assert proc.returncode == 3, proc.stderr[-3000:]  # the collapse fails its threshold
    (path,) = store.files([tmp_path])
    run = json.loads(path.read_text())
    jsonschema.validate(run, store.schema())
    original = run["apps"]["fastapi_sync@original"]
    assert original["variant_of"] == "fastapi_sync"
    assert original["packages"]["fastapi"] == "0.63.0"
    assert original["packages"]["sqlalchemy"] == "1.4.7"
    # every distribution of its own environment, not only the stack's
    assert original["installed"]["pydantic"] == "1.10.27" and "click" in original["installed"]
    assert run["apps"]["fastapi_sync@close-early"]["installed"] == {}  # the harness's Python
    assert run["apps"]["fastapi_sync@close-early"]["packages"]["fastapi"] != "0.63.0"
    cells = {c["app"]: c for c in run["cells"]}
    # the variant's fixed setting reached the app, after the scenario's env
    assert cells["fastapi_sync@close-early"]["settings"]["SESSION_RELEASE"] == "early"
    assert cells["fastapi_sync@close-early"]["settings"]["WEB_CONCURRENCY"] == "1"
    assert "THREADPOOL_SIZE" not in cells["fastapi_sync@original"]["settings"]
    assert cells["fastapi_sync@close-early"]["rps"] > 0
    assert cells["fastapi_sync@original"]["rps"] == 0 or cells["fastapi_sync@original"]["stuck"]
    report = (tmp_path / "report.md").read_text()
    assert "### Why it breaks: variants" in report
    assert "asyncio's default executor" in report
    assert "### Which held: variants" in report
    held = report[report.index("### Which held"):]
    assert "| `fastapi_sync@original` |" in held and "**collapsed**" in held
    assert "Held: `fastapi_sync@close-early`." in held
