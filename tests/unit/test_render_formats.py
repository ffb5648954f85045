"""Every format renders the same findings: HTML self-contained, CSV for pandas, JSON for scripts."""

import csv
import io
import json
import re
from pathlib import Path

from harness.analysis.analyze import analyze
from harness.model import store
from harness.render import csv_export, html, json_export, markdown, summary

FIXTURE = Path(__file__).parent.parent / "fixtures" / "results" / "run-small.json"


def _findings():
    run = store.load(FIXTURE)
    return analyze([run], run)


def test_every_renderer_maps_file_names_to_contents():
    f = _findings()
    assert next(iter(markdown.render(f))) == "report.md"
    assert list(html.render(f)) == ["report.html"]
    assert list(csv_export.render(f)) == ["cells.csv", "groups.csv"]
    assert list(json_export.render(f)) == ["findings.json"]
    assert list(summary.render(f)) == ["summary.md"]


def test_html_is_one_self_contained_page():
    page = html.render(_findings())["report.html"]
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 8  # the charts inline: req/s, p99, knee, spectrum
    assert "<?xml" not in page
    for external in ("<script", "<link", "<img", " src=", "href=", "url(", "@import"):
        assert external not in page
    urls = set(re.findall(r"https?://[^\s\"'<)]+", page))
    # Only the SVG namespace (not fetched) and text quoted from an app log.
    assert urls <= {"http://www.w3.org/2000/svg", "https://sqlalche.me/e/21/3o7r"}
    assert "<h2>Verdict</h2>" in page and "<code>fastapi_async</code>" in page
    assert '<td class="r">1618 (1574–1687)</td>' in page
    assert "<strong>Incomplete" not in page and "&lt;" in page  # "p < 0.05" escaped


def test_csv_has_one_row_per_cell_and_per_group_with_units_in_the_names():
    out = csv_export.render(_findings())
    cells = list(csv.DictReader(io.StringIO(out["cells.csv"])))
    assert len(cells) == 54
    assert list(cells[0])[:8] == ["run_id", "scenario", "app", "connections", "repeat",
                                  "status", "reason", "rps"]
    assert cells[0]["p99_ms"] == "4.647" and cells[0]["app_cpu_ms_per_request"] == ""
    failed = [c for c in cells if c["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["rps"] == "" and failed[0]["reason"].startswith("not")
    groups = list(csv.DictReader(io.StringIO(out["groups.csv"])))
    assert len(groups) == 18
    row = next(g for g in groups if (g["scenario"], g["app"], g["connections"]) ==
               ("user_create", "fastapi_async", "12"))
    assert row["rps_verdict"] == "inconclusive" and row["baseline"] == "flask_sync"
    assert 0.71 < float(row["rps_vs_baseline"]) < 0.73
    assert all(c.endswith(("_ms_median", "_ms_ci_low", "_ms_ci_high", "_ms_cv")) for c in groups[0]
               if c.startswith(("p50", "p90", "p99")))


def test_json_holds_the_findings_with_their_decisions():
    data = json.loads(json_export.render(_findings())["findings.json"])
    assert data["findings_version"] == 1 and "cells" not in data
    users = data["scenarios"][0]
    c = next(c for c in users["comparisons"] if c["candidate"] == "fastapi_async"
             and c["reference"] == "fastapi_sync" and c["connections"] == 12)
    assert (c["verdict"], c["method"], c["metric"]) == ("faster", "welch_log", "rps")
    assert data["layout"] == {"recorded": False, "shared": True, "app": [], "db": [], "load": []}
    assert users["groups"][0]["rps"]["ci_method"] == "t-log"
    with_cells = json.loads(json_export.render(_findings(), cells=True)["findings.json"])
    assert len(with_cells["cells"]) == 54
