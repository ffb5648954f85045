"""SVG charts without a plotting library: deterministic, readable, one per scenario and metric."""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.analysis.analyze import analyze
from harness.model import store
from harness.render import figures, svg
from tests.fixtures.report import builders as b

FIXTURE = Path(__file__).parent.parent / "fixtures" / "results" / "run-small.json"
NS = "{http://www.w3.org/2000/svg}"


def _findings():
    run = store.load(FIXTURE)
    return analyze([run], run)


def test_one_throughput_and_one_p99_chart_per_scenario():
    f = _findings()
    charts = {s.name: figures.against_connections(s) for s in f.scenarios}
    assert {k: [c.name for c in v] for k, v in charts.items()} == {
        "users_list": ["users_list-rps.svg", "users_list-p99.svg"],
        "user_create": ["user_create-rps.svg", "user_create-p99.svg"]}
    text = charts["users_list"][0].svg()
    assert text.startswith("<?xml")
    root = ET.fromstring(text.split("?>", 1)[1])  # well-formed XML
    legend = [t.text for t in root.iter(f"{NS}text")]
    for app in ("flask_sync", "fastapi_sync", "fastapi_async"):
        assert app in legend  # text kept as text
    assert "users_list: requests/s (median, 95% CI band)" in legend
    assert len(root.findall(f"{NS}polygon")) == 3  # one CI band per app
    assert len(root.findall(f"{NS}polyline")) == 3
    assert "<dc:date>" not in text and "id=" not in text  # nothing that changes between renders
    inline = charts["users_list"][0].svg(standalone=False)
    assert inline.startswith("<svg") and inline == text.removeprefix(svg.XML)


def test_charts_are_byte_identical_across_renders():
    first = [c.svg() for s in _findings().scenarios for c in figures.against_connections(s)]
    again = [c.svg() for s in _findings().scenarios for c in figures.against_connections(s)]
    assert first == again


def test_connections_axis_is_logarithmic_and_labelled_with_the_levels():
    chart = svg.Chart("t", svg.Axis("connections", log=True,
                                    ticks=((1.0, "1"), (10.0, "10"), (100.0, "100"))),
                      svg.Axis("requests/s", min=0),
                      [svg.Series("a", [(1.0, 10.0), (10.0, 20.0), (100.0, 30.0)])])
    text = svg.figure([chart])
    xs = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', text)]
    assert abs((xs[1] - xs[0]) - (xs[2] - xs[1])) < 0.2  # evenly spaced decades
    labels = re.findall(r">(\d+)</text>", text)
    assert {"1", "10", "100"} <= set(labels)
    assert "0" in labels  # the y axis starts at zero


def test_round_y_ticks():
    assert svg.nice_step(1000) == 200
    assert svg.nice_step(7) == 2
    assert svg.nice_step(0.03) == 0.01
    assert svg.nice_step(0) == 1.0


def test_single_repeat_groups_draw_a_line_without_band_and_no_empty_chart():
    cells = [b.cell("s", app, conns, rps=rps) for app, rps in (("a", 100.0), ("b", 200.0))
             for conns in (1, 8)]
    s = analyze([b.run(cells)]).scenarios[0]
    charts = figures.against_connections(s)
    text = charts[0].svg()
    assert "<polygon" not in text and text.count("<polyline") == 2
    no_latency = [b.cell("s", "a", 1, rps=10.0)]
    for c in no_latency:
        c.load.latency_us = {}
    s = analyze([b.run(no_latency)]).scenarios[0]
    assert [c.name for c in figures.against_connections(s)] == ["s-rps.svg"]


def test_history_charts_stack_two_panels_and_label_at_most_a_few_runs():
    runs = [b.run(b.rounds({"a": [100.0 + i] * 3, "b": [90.0] * 3}), f"r{i:03d}")
            for i in range(100)]
    (fig,) = figures.history(analyze(runs)).values()
    text = fig.svg()
    assert fig.name == "s-history.svg" and len(fig.charts) == 2
    labels = [t for t in re.findall(r">(r\d{3})</text>", text)]
    assert 2 <= len(labels) <= 2 * figures.MAX_RUN_LABELS and labels[0] == "r000"  # per panel
    assert "<circle" not in text  # a hundred points: lines without markers
    assert text.count("<polyline") == 4  # two lines in each of two panels
