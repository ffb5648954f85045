import copy
import json
import re
from pathlib import Path

from harness.analysis import stats
from harness.render import charts

FIXTURE = Path(__file__).parent.parent / "fixtures" / "results" / "run-small.json"


def _run():
    return json.loads(FIXTURE.read_text())


def test_one_throughput_and_one_p99_chart_per_scenario(tmp_path):
    files = charts.render_charts(stats.summarize(_run()["cells"]), tmp_path)
    assert files == {"users_list": ["users_list-rps.svg", "users_list-p99.svg"],
                     "user_create": ["user_create-rps.svg", "user_create-p99.svg"]}
    svg = (tmp_path / "users_list-rps.svg").read_text()
    assert svg.startswith("<?xml")
    for app in ("flask_sync", "fastapi_sync", "fastapi_async"):
        assert f">{app}<" in svg  # legend text kept as text (svg.fonttype none)
    assert "users_list: requests/s" in svg
    assert len(re.findall(r'id="\w*PolyCollection_\d+"', svg)) == 3  # one CI band per app
    assert "<dc:date>" not in svg


def test_charts_are_byte_identical_across_renders(tmp_path):
    summary = stats.summarize(_run()["cells"])
    charts.render_charts(summary, tmp_path / "a")
    charts.render_charts(summary, tmp_path / "b")
    for name in sorted(p.name for p in (tmp_path / "a").iterdir()):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_single_repeat_groups_draw_a_line_without_band(tmp_path):
    cells = [c for c in _run()["cells"] if c["repeat"] == 0 and c["scenario"] == "users_list"]
    files = charts.render_charts(stats.summarize(cells), tmp_path)
    svg = (tmp_path / files["users_list"][0]).read_text()
    assert "PolyCollection" not in svg
    assert ">fastapi_async<" in svg


def test_all_failed_app_is_left_out_and_empty_summary_gives_nothing(tmp_path):
    cells = [dict(c, status="failed", reason="boom") if c["app"] == "fastapi_sync" else c
             for c in _run()["cells"]]
    files = charts.render_charts(stats.summarize(cells), tmp_path)
    assert ">fastapi_sync<" not in (tmp_path / files["users_list"][0]).read_text()
    assert charts.render_charts([], tmp_path / "empty") == {}


def test_no_chart_for_a_metric_nothing_measured(tmp_path):
    cells = [{"scenario": "s", "app": "a", "connections": c, "rps": 100.0} for c in (1, 2)]
    assert charts.render_charts(stats.summarize(cells), tmp_path) == {"s": ["s-rps.svg"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s-rps.svg"]


def test_history_chart_per_scenario_over_runs(tmp_path):
    first = _run()
    second = copy.deepcopy(first)
    second["run_id"] = "20261125T090000Z"
    for c in second["cells"]:
        if c.get("rps"):
            c["rps"] *= 0.8
    files = charts.render_history([first, second], tmp_path / "a")
    assert files == {"users_list": ["users_list-history.svg"],
                     "user_create": ["user_create-history.svg"]}
    svg = (tmp_path / "a" / "users_list-history.svg").read_text()
    assert "20261124T210615Z" in svg and "20261125T090000Z" in svg
    assert ">fastapi_async c=48<" in svg
    charts.render_history([first, second], tmp_path / "b")
    assert (tmp_path / "a" / "users_list-history.svg").read_bytes() == \
        (tmp_path / "b" / "users_list-history.svg").read_bytes()
