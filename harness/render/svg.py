"""Small deterministic SVG line charts: linear or log axes (x and y), CI bands, point labels, a
legend.

Written for the report instead of matplotlib, whose import alone takes about a second. The
output depends only on the input (fixed number formatting, no ids, no dates), so identical
results give byte-identical files and the charts can be golden-tested. A chart is data
(`Chart`, `Series`, `Axis`); `figure` stacks one or more charts into one SVG document. More
kinds of charts (a spectrum, a scatter, time series) are new `Chart`s, not new code paths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")  # matplotlib's tab10, the colours readers know
DASHES = ("", "6 3", "2 3", "6 3 2 3")
FONT = 11
CHAR_W = 6.2  # average glyph width at FONT px, for laying out the legend
BOLD = 1.1  # bold glyphs are about this much wider
XML = '<?xml version="1.0" encoding="utf-8"?>\n'
MAX_MARKERS = 60  # more points than this: a plain line reads better than a string of beads
STYLE_COLOR = 7  # grey: a legend entry for a line style, not a line


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]
    band: Sequence[tuple[float, float, float]] = ()  # (x, low, high): a 95% CI band
    color: int = 0  # index into PALETTE
    dash: int = 0  # index into DASHES
    labels: Sequence[str] = ()  # one per point, written beside its marker
    in_legend: bool = True  # False: the panel's title says what this line is


@dataclass(frozen=True)
class Axis:
    label: str
    log: bool = False
    ticks: Sequence[tuple[float, str]] | None = None  # None: round numbers
    min: float | None = None  # e.g. 0 for req/s (ignored on a log axis)
    tick_angle: int = 0


@dataclass(frozen=True)
class Chart:
    title: str
    x: Axis
    y: Axis
    series: Sequence[Series] = field(default_factory=tuple)
    height: int = 260  # of the plot area
    # True: each point is a measured (x, y) pair, such as (req/s, p99) at one level, and the
    # line only joins them in order; False: lines of values over a shared x (levels, time).
    # The SVG is the same; a renderer that cannot place free points (mermaid) needs to know.
    xy: bool = False
    styles: Sequence[tuple[int, str]] = ()  # (dash, what it means): grey legend entries


def _f(v: float) -> str:
    return f"{v:.1f}"


def nice_step(span: float, count: int = 5) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about `count` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _tick_text(v: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{v:,.{decimals}f}".replace(",", " ") if abs(v) >= 10_000 else f"{v:.{decimals}f}"


class _Scale:
    def __init__(self, lo: float, hi: float, a: float, b: float, log: bool):
        self.log = log
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
        self.a, self.b = a, b

    def __call__(self, v: float) -> float:
        v = math.log10(v) if self.log else v
        if self.hi == self.lo:
            return (self.a + self.b) / 2
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)

    def many(self, vs: Sequence[float]) -> list[float]:
        """[self(v) for v in vs], the same arithmetic in one comprehension (a history chart
        has a point per run)."""
        if self.hi == self.lo:
            return [(self.a + self.b) / 2] * len(vs)
        a, lo, span, width = self.a, self.lo, self.hi - self.lo, self.b - self.a
        return [a + (v - lo) / span * width for v in (map(math.log10, vs) if self.log else vs)]


def _x_range(chart: Chart) -> tuple[float, float]:
    xs = [x for s in chart.series for x, _ in s.points]
    xs += [t for t, _ in chart.x.ticks or ()]
    if chart.x.min is not None and xs and not chart.x.log:
        xs.append(chart.x.min)
    if chart.x.log:
        xs = [x for x in xs if x > 0]
    if not xs:
        return (1.0, 10.0) if chart.x.log else (0.0, 1.0)
    return min(xs), max(xs)


def _log_ticks(ys: Sequence[float]) -> tuple[float, float, list[tuple[float, str]]]:
    """Whole decades around the values, ticks at 1, 2 and 5 times each (1 alone past four
    decades)."""
    lo = 10.0 ** math.floor(math.log10(min(ys, default=1.0)) + 1e-9)
    hi = 10.0 ** math.ceil(math.log10(max(ys, default=10.0)) - 1e-9)
    if hi <= lo:
        hi = lo * 10
    decades = round(math.log10(hi / lo))
    steps = (1,) if decades > 4 else (1, 2, 5)
    ticks = []
    for d in range(decades + 1):
        base = lo * 10 ** d
        for m in steps:
            v = base * m
            if v <= hi * (1 + 1e-9):
                decimals = max(0, -math.floor(math.log10(v) + 1e-9))
                ticks.append((v, _tick_text(v, 10.0 ** -decimals)))
    return lo, hi, ticks


def _y_ticks(chart: Chart) -> tuple[float, float, list[tuple[float, str]]]:
    ys = [y for s in chart.series for _, y in s.points]
    ys += [v for s in chart.series for _, lo, hi in s.band for v in (lo, hi)]
    ys = [y for y in ys if math.isfinite(y)]
    if chart.y.log:
        return _log_ticks([y for y in ys if y > 0])
    lo = chart.y.min if chart.y.min is not None else min(ys, default=0.0)
    hi = max(ys, default=lo + 1.0)
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    step = nice_step(hi - lo)
    top = math.ceil(hi / step - 1e-9) * step
    bottom = math.floor(lo / step + 1e-9) * step if chart.y.min is None else lo
    count = round((top - bottom) / step)
    return bottom, top, [(bottom + i * step, _tick_text(bottom + i * step, step))
                         for i in range(count + 1)]


def _tick_extent(chart: Chart) -> tuple[float, float]:
    """(width, height) of the longest slanted x tick label; (0, 0) for level labels."""
    if not chart.x.tick_angle:
        return 0.0, 0.0
    longest = CHAR_W * max((len(t) for _, t in chart.x.ticks or ()), default=4)
    angle = math.radians(chart.x.tick_angle)
    return longest * abs(math.cos(angle)), longest * abs(math.sin(angle))


def _below(chart: Chart) -> float:
    """Height under the plot area taken by the tick labels, to the axis label's baseline."""
    return 28.0 + _tick_extent(chart)[1] if chart.x.tick_angle else 32.0


def _panel(chart: Chart, left: float, top: float, width: float) -> list[str]:
    """One chart's plot area at (left, top): title, grid, axes, bands, lines, markers."""
    h = chart.height
    title = chart.title + (" (shaded: 95% CI)" if any(s.band for s in chart.series) else "")
    need = CHAR_W * BOLD * len(title)  # a long title is set smaller, not cut
    size = f' font-size="{max(8, math.floor(FONT * width / need))}"' if need > width else ""
    out = [(f'<text x="{_f(left + width / 2)}" y="{_f(top - 8)}" text-anchor="middle" '
           f'font-weight="bold"{size}>{escape(title)}</text>')]
    x0, x1 = _x_range(chart)
    if not chart.x.log and x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    pad = 0.04 * width
    sx = _Scale(x0, x1, left + pad, left + width - pad, chart.x.log)
    y_lo, y_hi, yticks = _y_ticks(chart)
    sy = _Scale(y_lo, y_hi, top + h, top, chart.y.log)
    for v, text in yticks:
        y = _f(sy(v))
        out.append(f'<line x1="{_f(left)}" y1="{y}" x2="{_f(left + width)}" y2="{y}" '
                   'stroke="#dddddd"/>')
        out.append(f'<text x="{_f(left - 4)}" y="{y}" text-anchor="end" '
                   f'dominant-baseline="middle">{escape(text)}</text>')
    xticks = chart.x.ticks
    if xticks is None:
        step = nice_step(x1 - x0)
        first = math.ceil(x0 / step - 1e-9)
        xticks = [(i * step, _tick_text(i * step, step))
                  for i in range(first, math.floor(x1 / step + 1e-9) + 1)]
    for v, text in xticks:
        if chart.x.log and v <= 0:
            continue
        x = _f(sx(v))
        out.append(f'<line x1="{x}" y1="{_f(top + h)}" x2="{x}" y2="{_f(top + h + 4)}" '
                   'stroke="#333333"/>')
        if chart.x.tick_angle:
            out.append(f'<text x="{x}" y="{_f(top + h + 14)}" text-anchor="end" '
                       f'transform="rotate({chart.x.tick_angle} {x} {_f(top + h + 14)})">'
                       f'{escape(text)}</text>')
        else:
            out.append(f'<text x="{x}" y="{_f(top + h + 16)}" text-anchor="middle">'
                       f'{escape(text)}</text>')
    out.append(f'<rect x="{_f(left)}" y="{_f(top)}" width="{_f(width)}" height="{h}" '
               'fill="none" stroke="#333333"/>')
    label_y = top + h + _below(chart)
    out.append(f'<text x="{_f(left + width / 2)}" y="{_f(label_y)}" text-anchor="middle">'
               f'{escape(chart.x.label)}</text>')
    mid = _f(top + h / 2)
    y_label = chart.y.label + (", log scale" if chart.y.log else "")
    out.append(f'<text x="{_f(left - 52)}" y="{mid}" text-anchor="middle" '
               f'transform="rotate(-90 {_f(left - 52)} {mid})">{escape(y_label)}</text>')
    for s in chart.series:
        color = PALETTE[s.color % len(PALETTE)]
        band = [(x, lo, hi) for x, lo, hi in s.band if (not chart.x.log or x > 0)
                and (not chart.y.log or lo > 0)]
        if band:
            edge = [(sx(x), sy(hi)) for x, _, hi in band]
            edge += [(sx(x), sy(lo)) for x, lo, _ in reversed(band)]
            pts = " ".join(f"{_f(x)},{_f(y)}" for x, y in edge)
            out.append(f'<polygon points="{pts}" fill="{color}" fill-opacity="0.2" '
                       'stroke="none"/>')
    for s in chart.series:
        color = PALETTE[s.color % len(PALETTE)]
        kept = [i for i, (x, y) in enumerate(s.points)
                if (not chart.x.log or x > 0) and (not chart.y.log or y > 0)]
        xy = list(zip(sx.many([s.points[i][0] for i in kept]),
                      sy.many([s.points[i][1] for i in kept]), strict=True))
        if not xy:
            continue
        dash = DASHES[s.dash % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)  # _f's format, inline: many points
        out.append(f'<polyline points="{line}" fill="none" stroke="{color}" '
                   f'stroke-width="1.5"{dash_attr}><title>{escape(s.label)}</title></polyline>')
        if len(xy) <= MAX_MARKERS:
            out += [f'<circle cx="{_f(x)}" cy="{_f(y)}" r="2.5" fill="{color}"/>'
                    for x, y in xy]
        if len(s.labels) == len(s.points):
            out += [f'<text x="{_f(x + 4)}" y="{_f(y - 5)}" font-size="{FONT - 2}" '
                    f'fill="{color}">{escape(s.labels[i])}</text>'
                    for i, (x, y) in zip(kept, xy, strict=True)]
    return out


def _legend(series: Sequence[Series], left: float, top: float,
            width: float) -> tuple[list[str], float]:
    """Entries laid out in rows below the plots; returns the markup and its height."""
    first: dict[str, Series] = {}
    for s in series:
        if s.points and s.in_legend:
            first.setdefault(s.label, s)  # the first line drawn with a label shows its style
    entries = list(first.values())
    out: list[str] = []
    x, y = left, top
    for s in entries:
        w = 28 + CHAR_W * len(s.label) + 14
        if x + w > left + width and x > left:
            x, y = left, y + 16
        color = PALETTE[s.color % len(PALETTE)]
        dash = DASHES[s.dash % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{_f(x)}" y1="{_f(y)}" x2="{_f(x + 22)}" y2="{_f(y)}" '
                   f'stroke="{color}" stroke-width="1.5"{dash_attr}/>')
        out.append(f'<text x="{_f(x + 28)}" y="{_f(y)}" dominant-baseline="middle">'
                   f'{escape(s.label)}</text>')
        x += w
    return out, (y - top + 16 if entries else 0)


def figure(charts: Sequence[Chart], width: int = 640, standalone: bool = True) -> str:
    """The charts stacked in one SVG, one shared legend below them. `standalone` adds the XML
    declaration that a .svg file carries and an inline <svg> in HTML must not."""
    # Room on the left for the y labels, and for a first slanted x label that hangs leftwards.
    left = max([70.0, *(_tick_extent(c)[0] - 0.04 * (width - 86) + 4 for c in charts)])
    right = 16.0
    plot_w = width - left - right
    body: list[str] = []
    y = 28.0
    for chart in charts:
        body += _panel(chart, left, y, plot_w)
        y += chart.height + _below(chart) + 40
    styles = [Series(what, [(0.0, 0.0)], color=STYLE_COLOR, dash=dash)
              for c in charts for dash, what in c.styles]
    legend, legend_h = _legend([s for c in charts for s in c.series] + styles, left, y - 12,
                               plot_w)
    height = round(y - 12 + legend_h + 8)
    title = " / ".join(c.title for c in charts)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="{FONT}">')
    parts = [head, f"<title>{escape(title)}</title>",
             f'<rect width="{width}" height="{height}" fill="white"/>', *body, *legend, "</svg>"]
    return (XML if standalone else "") + "\n".join(parts) + "\n"
