"""Which charts a report shows, built from findings. Per scenario: req/s and p99 against
connections (median, 95% CI band); p99 against req/s, each point a level (the knee); the latency
spectrum p50 to max of each level, on a log scale; and the resources of one typical cell per app
over time (CPU, RSS, PostgreSQL sessions by state). With several runs, medians over runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from harness.analysis.findings import (
    PERCENTILES,
    Findings,
    Group,
    Points,
    Resources,
    ScenarioFindings,
    Summary,
)
from harness.render import svg, units

MAX_RUN_LABELS = 6  # run ids written under a history chart; the line shows every run
SMALL = 150  # plot height of a panel in a stack of several


@dataclass(frozen=True)
class Figure:
    name: str  # file name beside report.md
    alt: str
    charts: tuple[svg.Chart, ...]

    def svg(self, standalone: bool = True) -> str:
        return (svg.XML if standalone else "") + self._drawn

    @cached_property
    def _drawn(self) -> str:
        """Drawn once: report.md writes the figure as a file, report.html inlines it."""
        return svg.figure(self.charts, standalone=False)


METRICS = {  # metric -> (axis label, what, scale from findings units)
    "rps": ("requests/s", "requests/s", 1.0),
    "p99": ("p99 latency (ms)", "p99 latency", 1e-3),  # findings hold µs
}


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))


def _summary(g: Group, metric: str) -> Summary:
    return g.rps if metric == "rps" else g.p99


def scenario(s: ScenarioFindings) -> list[Figure]:
    """Every chart of a scenario's section, in the order shown."""
    return against_connections(s) + knee(s) + spectrum(s) + resources(s)


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
        chart = svg.Chart(f"{s.name}: {label}, median",
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


def knee(s: ScenarioFindings) -> list[Figure]:
    """p99 against req/s, a line per app through its levels in order: where the line turns up,
    more connections buy latency, not throughput. Drawn when an app has two levels or more."""
    series = []
    for i, app in enumerate(s.apps):
        groups = [g for g in s.groups if g.app == app and g.rps.median is not None
                  and g.p99.median is not None]
        if groups:
            series.append(svg.Series(
                app, [(g.rps.median or 0.0, (g.p99.median or 0.0) * 1e-3) for g in groups],
                color=i, labels=[str(g.connections) for g in groups]))
    if not any(len(line.points) > 1 for line in series):
        return []
    chart = svg.Chart(f"{s.name}: p99 against requests/s (medians; points labelled with "
                      "their connections)", svg.Axis("requests/s", min=0),
                      svg.Axis("p99 latency (ms)", min=0), series, xy=True)
    return [Figure(f"{slug(s.name)}-knee.svg", f"{s.name}: p99 latency against requests/s, "
                   "each point a level", (chart,))]


def spectrum(s: ScenarioFindings) -> list[Figure]:
    """A panel per level: each app's p50, p75, p90, p99, p99.9 and max (medians over the
    repeats), on a log scale so that the tail and the body are both readable."""
    recorded = {i for sp in s.spectra for i, v in enumerate(sp.values) if v}
    ticks = tuple((float(i), name) for i, name in enumerate(PERCENTILES) if i in recorded)
    charts = []
    for conns in s.levels:
        series, runs = [], set()
        for i, app in enumerate(s.apps):
            sp = next((x for x in s.spectra if x.app == app and x.connections == conns), None)
            if sp is None:
                continue
            points = [(float(k), v * 1e-3) for k, v in enumerate(sp.values) if v]
            if points:
                series.append(svg.Series(app, points, color=i))
                runs.add(sp.run_id)
        if series:
            charts.append(svg.Chart(
                f"{s.name} at {units.conns(conns)}: latency percentiles, medians of run "
                f"{', '.join(sorted(runs))}",
                svg.Axis("percentile", ticks=ticks), svg.Axis("latency (ms)", log=True),
                series, height=SMALL))
    if not charts:
        return []
    return [Figure(f"{slug(s.name)}-spectrum.svg", f"{s.name}: latency percentiles p50 to max "
                   "per app and level, log scale", tuple(charts))]


Panel = tuple[str, str, list[svg.Series], tuple[tuple[int, str], ...]]


def _resource_panels(rs: tuple[Resources, ...], apps: tuple[str, ...]) -> list[Panel]:
    """(title, y label, lines, line styles) of each panel with data."""
    panels: list[Panel] = []

    def lines(pairs: list[tuple[str, str, int, Points]]) -> list[svg.Series]:
        # The legend names each app once (its colour) and each dash once (in grey); each
        # line's own label (a tooltip, and mermaid's legend) names both.
        return [svg.Series(label, list(points), color=apps.index(r_app), dash=dash,
                           in_legend=label == r_app)
                for r_app, label, dash, points in pairs if points]

    cpu = lines([(r.app, r.app, 0, r.app_cpu_pct) for r in rs]
                + [(r.app, f"{r.app}: PostgreSQL", 1, r.db_cpu_pct) for r in rs])
    db = any(r.db_cpu_pct for r in rs)
    panels.append(("CPU, % of one core", "CPU %", cpu,
                   ((0, "app CPU"), (1, "its PostgreSQL backends' CPU")) if db else ()))
    panels.append(("app RSS (MB)", "MB", lines([(r.app, r.app, 0, r.app_rss_mb) for r in rs]),
                   ()))
    panels.append(("the app's PostgreSQL sessions by state", "sessions",
                   lines([(r.app, f"{r.app}: {state}", dash, points) for r in rs
                          for state, dash, points in (("active", 0, r.pg_active),
                                                      ("idle", 1, r.pg_idle),
                                                      ("idle in transaction", 2,
                                                       r.pg_idle_in_transaction))]),
                   ((0, "active sessions"), (1, "idle sessions"), (2, "idle in transaction"))))
    return [p for p in panels if p[2]]


def resources(s: ScenarioFindings) -> list[Figure]:
    """Stacked panels of one cell per app over time: CPU, RSS, PostgreSQL sessions by state."""
    rs = s.resources
    if not rs:
        return []
    apps = tuple(dict.fromkeys((*s.apps, *(r.app for r in rs))))
    conns = rs[0].connections
    charts = []
    for title, label, series, styles in _resource_panels(rs, apps):
        charts.append(svg.Chart(f"{s.name} at {units.conns(conns)}: {title}",
                                svg.Axis("seconds into the measured load"),
                                svg.Axis(label, min=0), series, height=SMALL, styles=styles))
    if not charts:
        return []
    return [Figure(f"{slug(s.name)}-resources.svg",
                   f"{s.name}: CPU, RSS and PostgreSQL sessions over time at "
                   f"{units.conns(conns)}, the median-throughput round of each app in run "
                   f"{rs[0].run_id}", tuple(charts))]
