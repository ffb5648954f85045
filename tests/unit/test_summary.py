"""summary.md: the report for a GitHub job summary, where images cannot be linked. Every chart
is text GitHub draws (mermaid xychart) or a character plot, and the nightly workflow appends
this file to the job summary."""

import dataclasses
import itertools
import re
import subprocess
from pathlib import Path

import yaml

from harness.analysis.analyze import analyze
from harness.commands import report
from harness.model import store
from harness.render import markdown, mermaid, summary, svg
from tests.fixtures.report import builders as b

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "results" / "run-small.json"
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"

# What mermaid's xychart grammar (xychart.jison) accepts, for the statements written here:
# numbers without exponents, quoted texts without quotes inside.
NUMBER = r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)"
TEXT = r'"[^"\n]*"'
STATEMENTS = [
    re.compile(rf"^  title {TEXT}$"),
    re.compile(rf"^  x-axis {TEXT} \[{TEXT}(?:, {TEXT})*\]$"),
    re.compile(rf"^  x-axis {TEXT} {NUMBER} --> {NUMBER}$"),
    re.compile(rf"^  y-axis {TEXT}(?: {NUMBER} --> {NUMBER})?$"),
    re.compile(rf"^  line {TEXT} \[{NUMBER}(?:, {NUMBER})*\]$"),
    re.compile(rf"^  bar \[{NUMBER}(?:, {NUMBER})*\]$"),
]


def _findings(run=None):
    run = run or store.load(FIXTURE)
    return analyze([run], run)


def _blocks(text, kind="mermaid"):
    return re.findall(rf"^```{kind}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def check_xychart(block: str) -> int:
    """Checks a ```mermaid block against the grammar; returns its number of lines/bars."""
    config, _, chart = block.partition("---\nxychart-beta\n")
    assert config.startswith("---\nconfig:\n"), block
    head = yaml.safe_load(config.removeprefix("---\n"))
    palette = head["config"]["themeVariables"]["xyChart"]["plotColorPalette"].split(", ")
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in palette)
    lines = chart.rstrip("\n").split("\n")
    for line in lines:
        assert any(p.match(line) for p in STATEMENTS), line
    x = next(line for line in lines if line.startswith("  x-axis"))
    categories = x.count('", "') + 1 if "[" in x else None
    plots = [line for line in lines if line.startswith(("  line", "  bar"))]
    for plot in plots:
        values = plot[plot.index("[") + 1:-1].split(", ")
        assert categories is None or len(values) == categories, (x, plot)
    assert len(palette) == len(plots)
    return len(plots)


def test_summary_is_the_report_with_every_chart_as_text():
    f = _findings()
    text = summary.render(f)[summary.NAME]
    md = markdown.render(f)["report.md"]
    assert "](" not in text and ".svg" not in text and "data:" not in text  # no image at all
    assert "<svg" not in text
    # Everything else is report.md's text: headings, tables, verdicts.
    strip = [line for line in md.splitlines() if not line.startswith("![")]
    assert [line for line in strip if line.startswith("#")] == [
        line for line in text.splitlines() if line.startswith("#")]
    for line in strip:
        if line.startswith("|"):
            assert line in text
    blocks = _blocks(text)
    # Per scenario: req/s and p99 against connections, and the spectrum at each level (3).
    assert len(blocks) == 2 * (2 + 3)
    assert sum(check_xychart(block) for block in blocks) == 2 * 5 * 3  # three apps each
    assert 'x-axis "percentile" ["p50", "p75", "p90", "p99", "p99.9", "max"]' in text
    assert "Lines: flask_sync (blue), fastapi_sync (orange), fastapi_async (green)." in text
    assert "Linear scale here (logarithmic in the SVG chart)." in text
    plots = _blocks(text, "text")
    assert len(plots) == 2  # the knee of each scenario
    assert "Points: A flask_sync, B fastapi_sync, C fastapi_async" in text
    assert text.splitlines()[2] == summary.NOTE
    assert summary.render(f) == summary.render(_findings())  # deterministic


def test_knee_as_a_character_plot_with_labelled_points():
    chart = svg.Chart("knee", svg.Axis("requests/s", min=0), svg.Axis("p99 (ms)", min=0),
                      [svg.Series("a", [(100.0, 2.0), (200.0, 8.0), (210.0, 80.0)],
                                  labels=["1", "12", "48"]),
                       svg.Series("b", [(50.0, 3.0), (60.0, 40.0)], labels=["1", "12"])],
                      xy=True)
    (drawn,) = mermaid.draw(chart)
    assert drawn.caption.startswith("Points: A a, B b")
    rows = drawn.body.splitlines()
    assert rows[0] == "```text" and rows[1] == "knee" and rows[2] == "p99 (ms)"
    assert rows[3].startswith("80 ┤") and "A48" in rows[3]  # the top, labelled
    assert any("A12" in r for r in rows) and any("B1" in r for r in rows)
    bottom = next(r for r in rows if "└" in r)
    assert bottom.index("└") == rows[3].index("┤")
    assert rows[-3].split() == ["0", "250"] and rows[-2].strip() == "requests/s"


def _resource_run():
    profile = [[0.5 * (i + 1), 50.0 + i, 100.0, 5.0, 1.0, 2.0, 0.0, 10.0] for i in range(300)]
    cells = [b.cell("s", app, 4, i, rps=rps + i, profile=profile)
             for app, rps in (("a", 100.0), ("b", 90.0)) for i in range(3)]
    return b.run(cells)


def test_time_series_are_averaged_onto_one_grid_and_markers_named():
    text = summary.render(_findings(_resource_run()))[summary.NAME]
    blocks = _blocks(text)
    for block in blocks:
        check_xychart(block)
    cpu = next(block for block in blocks if "CPU, % of one core" in block)
    # 300 samples from 0.5 to 150 s: 120 points in the findings (charts.MAX_POINTS) from 0.75
    # to 149.5 s, then a point every 2.625 s here (149 s / 59 rounded up to a multiple of 1/8).
    assert 'x-axis "seconds into the measured load" 2.625 --> 147' in cpu
    values = [float(v) for v in re.search(r'line "a" \[(.*)\]', cpu).group(1).split(", ")]
    assert len(values) == 56 <= mermaid.MAX_POINTS
    # The sample at t s is 49 + 2t: about 54 at 2.6 s and 343 at 147 s.
    assert abs(values[0] - 54.25) < 1.5 and abs(values[-1] - 343) < 1.5
    assert all(b > a for a, b in itertools.pairwise(values))
    assert "Averaged into 56 points per line." in text
    # Lines told apart by colour (the app) and dash (the state): a chart per state.
    pg = [block for block in blocks if "sessions by state" in block]
    assert [re.search(r'title "(.*)"', block).group(1) for block in pg] == [
        f"s at 4 connections: the app's PostgreSQL sessions by state: {state}"
        for state in ("active sessions", "idle sessions", "idle in transaction")]
    assert all(block.count("  line ") == 2 for block in pg)
    assert "Lines: a: idle in transaction (blue), b: idle in transaction (orange)." in text
    # A single level: one bar per app (a line of one point draws nothing).
    rps = next(block for block in blocks if "requests/s, median" in block)
    assert 'x-axis "connections: 4" ["a", "b"]' in rps and "  bar [101, 91]" in rps
    fault = svg.Chart("faults", svg.Axis("s"), svg.Axis("req/s", min=0), [
        svg.Series("a", [(0.0, 10.0), (1.0, 12.0), (2.0, 11.0)]),
        svg.Series("restart at 1 s", [(1.0, 0.0), (1.0, 12.0)], color=7, dash=1)])
    (drawn,) = mermaid.draw(fault)
    assert drawn.body.count("  line ") == 1
    assert drawn.caption == "Lines: a (blue). Marked in the SVG chart: restart at 1 s."
    locked = dataclasses.replace(fault, series=[
        *fault.series, svg.Series("released at 2 s", [(2.0, 0.0), (2.0, 12.0)], color=7, dash=2)])
    (drawn,) = mermaid.draw(locked)  # markers share a colour: no chart of their own
    assert drawn.caption.endswith("Marked in the SVG chart: restart at 1 s, released at 2 s.")


def test_a_line_missing_a_level_is_named_not_drawn_wrongly():
    cells = [b.cell("s", "a", c, rps=100.0 * c) for c in (1, 4, 16)]
    cells += [b.cell("s", "b", c, rps=50.0 * c) for c in (1, 4)]
    cells += [b.cell("s", "b", 16, failed="the app exited")]
    text = summary.render(_findings(b.run(cells)))[summary.NAME]
    rps = next(block for block in _blocks(text) if "requests/s, median" in block)
    assert '  line "a" [100, 400, 1600]' in rps and 'line "b"' not in rps
    assert "Lines: a (blue). Not drawn, a value is missing: b." in text


def test_numbers_are_plain_decimals_with_three_significant_digits():
    assert [mermaid.number(v) for v in (0.0, 0.012345, 1.5, 12.34, 1618.4, 123456.0, -2.5)] == [
        "0", "0.0123", "1.5", "12.3", "1618", "123456", "-2.5"]
    assert [mermaid.exact(v) for v in (0.0078125, 147.0, 1e-7, 2.5e16, -0.0)] == [
        "0.0078125", "147", "0.0000001", "25000000000000000", "0"]  # the grid: every digit


def test_the_time_grid_steps_by_values_binary_floating_point_holds_exactly():
    """mermaid places a line's values at start, start + step, ... while <= end: with an exact
    step every value gets its place, the last one included."""
    assert [mermaid.grid_step(x) for x in (0.01, 0.15, 0.5, 0.9, 1.0, 2.52, 7.0)] == [
        0.015625, 0.25, 0.5, 1.0, 1.0, 2.625, 7.0]
    for lo, hi in ((0.5, 9.5), (0.75, 149.75), (-0.08, 7.59), (0.0, 19.0), (3.0, 1800.0)):
        step = mermaid.grid_step((hi - lo) / (mermaid.MAX_POINTS - 1))
        points = [(lo + (hi - lo) * k / 400, 1.0 + k) for k in range(401)]
        chart = svg.Chart("t", svg.Axis("s"), svg.Axis("v"), [svg.Series("a", points)])
        block = mermaid.draw(chart)[0].body
        start, end = (float(v) for v in re.search(r"\" (\S+) --> (\S+)", block).groups())
        values = re.search(r"\[(.*)\]", block.split("line")[1]).group(1).split(", ")
        xs, x = [], start
        while x <= end:  # mermaid's loop, in the same floating point
            xs.append(x)
            x += (end - start) / (len(values) - 1)
        assert len(xs) == len(values) <= mermaid.MAX_POINTS and xs[-1] == end, (lo, hi, step)


def test_an_oversized_summary_keeps_its_text_and_drops_its_charts(monkeypatch):
    monkeypatch.setattr(summary, "MAX_BYTES", 20_000)
    text = summary.render(_findings())[summary.NAME]
    assert "```mermaid" not in text and summary.TOO_BIG in text
    assert "## Verdict" in text and "| `flask_sync` | 1 |" in text


def test_report_writes_summary_md_beside_the_report(tmp_path):
    run = store.load(FIXTURE)
    written = report.write([run], run, tmp_path, ("md", "summary"))
    assert {p.name for p in written} >= {"report.md", "summary.md"}
    assert "summary" in report.FORMATS and report.FORMATS["summary"] == "summary"


def _job_summary(tmp_path, files):
    results = tmp_path / "results"
    results.mkdir()
    for name, content in files.items():
        (results / name).write_text(content)
    out = tmp_path / "step-summary"
    out.write_text("")
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["benchmark"]["steps"]
    (script,) = [s["run"] for s in steps if s.get("name") == "Job summary"]
    subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, check=True,
                   env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(out)})
    return out.read_text()


def test_the_nightly_job_summary_shows_summary_md_not_the_svg_links(tmp_path):
    shown = _job_summary(tmp_path, {"report.md": "![chart](a.svg)\n",
                                    "summary.md": "```mermaid\nxychart-beta\n```\n",
                                    "compare.md": "# compare\n"})
    assert "```mermaid" in shown and "# compare" in shown and "a.svg" not in shown


def test_the_job_summary_falls_back_to_report_md_and_says_what_is_missing(tmp_path):
    shown = _job_summary(tmp_path, {"report.md": "# report\n"})
    assert "# report" in shown and "_results/compare.md was not written._" in shown
    assert "summary" not in shown


def test_history_a_chart_per_level_a_point_per_run():
    def history(n):
        runs = [b.run([b.cell("s", app, c, i, rps=rps * c + r) for app, rps in (("a", 100.0),
                                                                                 ("b", 80.0))
                       for c in (1, 8) for i in range(3)],
                      f"r{r:02d}", started_at=f"2026-12-01T00:{r:02d}:00Z") for r in range(n)]
        text = summary.render(analyze(runs, runs[-1]))[summary.NAME]
        return text[text.index("## History"):]

    few = history(5)  # every run labelled: the run ids are the categories
    blocks = _blocks(few)
    titles = [re.search(r'title "(.*)"', block).group(1) for block in blocks]
    assert titles == ["s: requests/s, medians over runs: c=1",
                      "s: requests/s, medians over runs: c=8",
                      "s: p99 latency (ms), medians over runs: c=1",
                      "s: p99 latency (ms), medians over runs: c=8"]
    assert 'x-axis "run" ["r00", "r01", "r02", "r03", "r04"]' in blocks[0]
    assert '  line "a c=1" [100, 101, 102, 103, 104]' in blocks[0]
    assert "Lines: a c=8 (blue), b c=8 (orange).\n" in few
    many = history(13)  # some runs labelled: a point per run all the same, numbered
    block = _blocks(many)[0]
    assert 'x-axis "run" 0 --> 12' in block and block.count(", ") > 12 * 2
    assert "Run 0: r00, 3: r03, 6: r06, 9: r09, 12: r12." in many


def test_lines_sharing_colours_split_by_dash_named_by_what_their_labels_share():
    soak = svg.Chart("soak: RSS (MB) over time", svg.Axis("s"), svg.Axis("MB", min=0), [
        svg.Series(f"{app} c=12 round {r + 1}", [(float(t), 100.0 + t) for t in range(10)],
                   color=i, dash=r) for r in range(2) for i, app in enumerate(("a", "b"))])
    drawn = mermaid.draw(soak)
    assert [re.search(r'title "(.*)"', d.body).group(1) for d in drawn] == [
        "soak: RSS (MB) over time: c=12 round 1", "soak: RSS (MB) over time: c=12 round 2"]
    assert drawn[1].caption == "Lines: a c=12 round 2 (blue), b c=12 round 2 (orange)."
    assert mermaid._common_end(["a x", "b y"]) == ""


def test_lines_of_one_point_each_at_different_x_are_drawn():
    # e.g. a history where each app was measured in a different run: no spacing to read.
    from harness.render import mermaid
    from harness.render.svg import Axis, Chart, Series

    chart = Chart(title="t", x=Axis("run"), y=Axis("req/s"),
                  series=(Series("a", ((1.0, 10.0),)), Series("b", ((2.0, 12.0),))))
    assert mermaid.draw(chart)
