"""Which charts a report shows, built from findings: req/s and p99 against connections per
scenario (median, 95% CI band), and medians over runs when there are several."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.analysis.findings import Findings, Group, ScenarioFindings, Summary
from harness.render import svg

MAX_RUN_LABELS = 6  # run ids written under a history chart; the line shows every run


@dataclass(frozen=True)
class Figure:
    name: str  # file name beside report.md
    alt: str
    charts: tuple[svg.Chart, ...]

    def svg(self, standalone: bool = True) -> str:
        return svg.figure(self.charts, standalone=standalone)


METRICS = {  # metric -> (axis label, what, scale from findings units)
    "rps": ("requests/s", "requests/s", 1.0),
    "p99": ("p99 latency (ms)", "p99 latency", 1e-3),  # findings hold µs
}


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))


def _summary(g: Group, metric: str) -> Summary:
    return g.rps if metric == "rps" else g.p99


def against_connections(s: ScenarioFindings) -> list[Figure]:
    """One figure per metric with data: a line per app, its CI as a band."""
    out = []
    log = len(s.levels) > 1 and min(s.levels) > 0  # 1, 12, 48, 200: a log axis spaces them
    ticks = tuple((float(c), str(c)) for c in s.levels)
    for metric, (label, what, scale) in METRICS.items():
        series = []
        for i, app in enumerate(s.apps):
            points, band = [], []
            for g in s.groups:
                d = _summary(g, metric)
                if g.app != app or not d.n or d.median is None:
                    continue
                points.append((float(g.connections), d.median * scale))
                if d.ci_low is not None and d.ci_high is not None:
                    band.append((float(g.connections), d.ci_low * scale, d.ci_high * scale))
            if points:
                series.append(svg.Series(app, points, band, color=i))
        if not series:
            continue  # nothing measured for this metric: no empty chart
        chart = svg.Chart(f"{s.name}: {label} (median, 95% CI band)",
                          svg.Axis("connections", log=log, ticks=ticks), svg.Axis(label, min=0),
                          series)
        out.append(Figure(f"{slug(s.name)}-{metric}.svg", f"{s.name}: {what} against connections",
                          (chart,)))
    return out


def history(findings: Findings) -> dict[str, Figure]:
    """Per scenario, req/s and p99 medians over runs; colour says the app, dash the level."""
    h = findings.history
    if h is None:
        return {}
    n = len(h.run_ids)
    every = max(1, -(-n // MAX_RUN_LABELS))
    ticks = tuple((float(i), h.run_ids[i]) for i in range(0, n, every))
    out = {}
    for scenario, lines in h.scenarios:
        apps = list(dict.fromkeys(line.app for line in lines))
        levels = sorted({line.connections for line in lines})
        charts = []
        for metric, (label, _, scale) in METRICS.items():
            series = []
            for line in lines:
                values = line.rps if metric == "rps" else line.p99
                points = [(float(i), v * scale) for i, v in enumerate(values) if v is not None]
                series.append(svg.Series(f"{line.app} c={line.connections}", points,
                                         color=apps.index(line.app),
                                         dash=levels.index(line.connections)))
            charts.append(svg.Chart(f"{scenario}: {label}, medians over runs",
                                    svg.Axis("run", ticks=ticks, tick_angle=-40),
                                    svg.Axis(label, min=0), series, height=200))
        out[scenario] = Figure(f"{slug(scenario)}-history.svg", f"{scenario}: medians over runs",
                               tuple(charts))
    return out
