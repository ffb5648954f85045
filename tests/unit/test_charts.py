"""SVG charts without a plotting library: deterministic, readable. Per scenario: req/s and p99
against connections, p99 against req/s (the knee), the latency spectrum per level on a log
scale, and one typical cell's resources over time."""

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.analysis import charts
from harness.analysis.analyze import analyze
from harness.model import store
from harness.render import figures, svg
from tests.fixtures.report import builders as b

FIXTURE = Path(__file__).parent.parent / "fixtures" / "results" / "run-small.json"
NS = "{http://www.w3.org/2000/svg}"


def _findings():
    run = store.load(FIXTURE)
    return analyze([run], run)


def test_one_throughput_and_one_p99_chart_per_scenario_then_the_knee_and_the_spectrum():
    f = _findings()
    names = {s.name: [c.name for c in figures.scenario(s)] for s in f.scenarios}
    assert names["users_list"] == ["users_list-rps.svg", "users_list-p99.svg",
                                   "users_list-knee.svg", "users_list-spectrum.svg"]
    assert all(s.resources == () for s in f.scenarios)  # a v1 file keeps no profile


def test_rps_and_p99_against_connections():
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
    assert "users_list: requests/s, median (shaded: 95% CI)" in legend
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


def test_log_y_axis_ticks_decades_and_drops_what_it_cannot_place():
    chart = svg.Chart("t", svg.Axis("x"), svg.Axis("ms", log=True),
                      [svg.Series("a", [(0.0, 1.5), (1.0, 0.0), (2.0, 40.0), (3.0, 900.0)])])
    text = svg.figure([chart])
    labels = re.findall(r'dominant-baseline="middle">([\d .]+)</text>', text)
    assert labels[:3] == ["1", "2", "5"] and labels[-1] == "1000"  # 1, 2, 5 per decade
    assert "ms, log scale" in text
    ys = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', text)]
    assert len(ys) == 3  # the zero has no place on a log axis
    logs = [math.log10(v) for v in (1.5, 40.0, 900.0)]
    expected = (logs[1] - logs[0]) / (logs[2] - logs[1])
    assert abs((ys[0] - ys[1]) / (ys[1] - ys[2]) - expected) < 0.01  # spaced by their logs
    five_decades = svg.Chart("t", svg.Axis("x"), svg.Axis("ms", log=True),
                             [svg.Series("a", [(0.0, 0.01), (1.0, 900.0)])])
    labels = re.findall(r'dominant-baseline="middle">([\d .]+)</text>', svg.figure([five_decades]))
    assert labels == ["0.01", "0.1", "1", "10", "100", "1000"]  # 1 alone past four decades


def test_point_labels_legend_styles_and_long_titles():
    chart = svg.Chart("a title long enough to overflow the width of the plot area " * 2,
                      svg.Axis("req/s", min=0), svg.Axis("ms", min=0),
                      [svg.Series("app", [(10.0, 1.0), (20.0, 5.0)], labels=["1", "12"]),
                       svg.Series("app: idle", [(10.0, 2.0), (20.0, 3.0)], dash=1,
                                  in_legend=False)],
                      xy=True, styles=((1, "idle sessions"),))
    text = svg.figure([chart])
    assert re.search(r'font-size="9" fill="#1f77b4">12</text>', text)  # beside its marker
    legend = re.findall(r'dominant-baseline="middle">([a-z :]+)</text>', text)
    assert legend == ["app", "idle sessions"]  # no entry for the line outside the legend
    assert re.search(r'font-weight="bold" font-size="(\d+)"', text)  # set smaller, not cut
    assert re.search(r'text-anchor="middle">0</text>', text)  # the x axis starts at its min


def _cell(app, conns, repeat, rps, ms, profile=None):
    return b.cell("s", app, conns, repeat, rps=rps, p99_ms=ms,
                  latency={"p75": ms * 0.4, "p99.9": ms * 2, "max": ms * 3}, profile=profile)


def _profile(n, cpu, rss, active=1.0):
    return [[0.5 * (i + 1), cpu, rss, 5.0, active, 2.0, 0.0, 10.0] for i in range(n)]


def test_spectrum_per_level_and_knee_from_the_group_medians():
    cells = [_cell(app, conns, i, rps * conns ** 0.5 * f, ms * conns * f)
             for app, rps, ms in (("a", 100.0, 2.0), ("b", 80.0, 3.0))
             for conns in (1, 4) for i, f in enumerate((0.9, 1.0, 1.1))]
    run = b.run(cells)
    s = analyze([run], run).scenarios[0]
    sp = next(x for x in s.spectra if (x.app, x.connections) == ("b", 4))
    assert sp.n == 3 and sp.run_id == "r1"
    assert [round(v) for v in sp.values] == [3000, 4800, 6000, 12000, 24000, 36000]  # µs
    (fig,) = figures.spectrum(s)
    assert [c.title for c in fig.charts] == [
        "s at 1 connection: latency percentiles, medians of run r1",
        "s at 4 connections: latency percentiles, medians of run r1"]
    assert all(c.y.log for c in fig.charts)
    assert [t for _, t in fig.charts[0].x.ticks] == ["p50", "p75", "p90", "p99", "p99.9", "max"]
    assert fig.charts[1].series[1].points[-1] == (5.0, 36.0)  # ms
    (knee,) = figures.knee(s)
    chart = knee.charts[0]
    assert chart.xy and [line.labels for line in chart.series] == [["1", "4"], ["1", "4"]]
    assert chart.series[0].points == [(100.0, 2.0), (200.0, 8.0)]  # (req/s, p99 ms) medians
    one_level = b.run([_cell("a", 1, i, 100.0, 2.0) for i in range(3)])
    assert figures.knee(analyze([one_level]).scenarios[0]) == []  # a dot is no knee


def test_resources_of_the_median_throughput_repeat_at_the_level_most_apps_sampled():
    cells = []
    for i, rps in enumerate((300.0, 100.0, 200.0)):  # repeat 2 has the median throughput
        cells.append(_cell("a", 1, i, rps, 2.0, _profile(8, 50.0 + i, 100.0 + i)))
        cells.append(_cell("a", 8, i, rps, 2.0, _profile(8, 90.0 + i, 120.0 + i)))
        cells.append(_cell("b", 1, i, rps, 2.0, _profile(8, 40.0 + i, 80.0 + i)))
        cells.append(_cell("b", 8, i, rps, 2.0))  # b at 8 was not sampled
    run = b.run(cells)
    s = analyze([run], run).scenarios[0]
    assert [(r.app, r.connections, r.repeat) for r in s.resources] == [("a", 1, 2), ("b", 1, 2)]
    a = s.resources[0]
    assert a.app_cpu_pct[0] == (0.5, 52.0) and a.app_rss_mb[-1] == (4.0, 102.0)
    assert a.pg_active[0] == (0.5, 1.0) and a.db_cpu_pct[0] == (0.5, 10.0)
    (fig,) = figures.resources(s)
    assert fig.name == "s-resources.svg" and len(fig.charts) == 3
    assert fig.charts[0].title == "s at 1 connection: CPU, % of one core"
    pg = fig.charts[2]
    assert [line.label for line in pg.series][:3] == ["a: active", "a: idle",
                                                      "a: idle in transaction"]
    assert [line.dash for line in pg.series][:3] == [0, 1, 2]
    text = fig.svg()
    for what in ("app CPU", "its PostgreSQL backends&#x27; CPU", "idle sessions"):
        assert f">{what}</text>" in text  # the line styles explained once, in grey
    assert analyze([run]).scenarios[0].resources == s.resources  # the newest run: the same
    core = store.loads(store.dumps(run), full=False)  # as a history reads it: no samples
    assert analyze([core]).scenarios[0].resources == ()
    assert analyze([core, core], run).scenarios[0].resources == s.resources  # from detail


def test_a_long_cell_is_averaged_into_at_most_max_points():
    long = _profile(600, 50.0, 100.0)  # a 5-minute soak sampled every 0.5 s
    long[0][2] = 90.0
    run = b.run([_cell("a", 1, 0, 100.0, 2.0, long)])
    (r,) = analyze([run], run).scenarios[0].resources
    assert len(r.app_rss_mb) == charts.MAX_POINTS
    assert r.app_rss_mb[0] == (1.5, 98.0)  # the first five samples: mean time and value
    assert r.app_rss_mb[-1] == (299.0, 100.0)
