"""A chart (harness.render.svg.Chart) as text that GitHub draws: a mermaid `xychart-beta` block,
or, for a chart of free (x, y) points, a character plot in a code block.

For pages that show Markdown but no image files, such as a GitHub job summary: GitHub renders
```mermaid blocks there, but neither relative image links nor `data:` images. mermaid's
xychart has lines over one shared x axis, no log scale, no bands and no legend, so:

- lines over positions (levels, percentiles) keep their categories; a line missing a position
  cannot be drawn with a gap, and is named under the chart instead of being drawn wrongly;
- lines over time (resources, soak, faults, runs) are averaged onto one even grid of at most
  MAX_POINTS points over the span every line covers; vertical markers (a fault's time) are
  named under the chart. mermaid spreads a line's values evenly over a numeric x range, adding
  the step to the start until it passes the end: the grid's step is a number that binary
  floating point holds exactly (a multiple of 1/8, or 1/2^k), so that every value lands on
  its own time;
- a log axis is drawn linear, and said so; CI bands are left to the SVG charts;
- each line gets its own colour (set in the block's config), and the line under the chart
  names each colour, which is the legend mermaid lacks;
- charts of free points (the knee: p99 against req/s) are a character plot: one letter per
  line, each point labelled as in the SVG.

Output depends only on the chart (fixed number formatting), like the SVG.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from harness.render import svg

MAX_POINTS = 60  # per mermaid line; mermaid refuses diagrams over 50,000 characters
WIDTH, HEIGHT = 700, 320
COLOR_NAMES = ("blue", "orange", "green", "red", "purple", "brown", "pink", "grey", "olive",
               "cyan")  # svg.PALETTE's, in order
PLOT_W, PLOT_H = 64, 16  # the character plot's size, in characters
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Drawn:
    body: str  # a fenced block: ```mermaid or ```text
    caption: str  # the legend and what the block could not show, one line of Markdown


def exact(v: float) -> str:
    """A value of the grid as a plain decimal (no exponent) that reads back as the same float."""
    text = format(Decimal(repr(v)), "f")
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("", "-0") else text


def grid_step(least: float) -> float:
    """The smallest multiple of 1/8 (or, below 1/8, power of 1/2) that is >= least: a step
    that binary floating point holds exactly."""
    if least >= 0.125:
        return math.ceil(least * 8 - 1e-9) / 8
    step = 0.125
    while step / 2 >= least and step > 2 ** -30:
        step /= 2
    return step


def number(v: float) -> str:
    """Three significant digits, plain decimals (mermaid reads no exponent)."""
    if v == 0 or not math.isfinite(v):
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(v))))
    text = f"{v:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _text(s: str) -> str:
    return s.replace('"', "'")


def draw(chart: svg.Chart) -> list[Drawn]:
    """The chart as blocks with their captions: none when it has no line to draw, several when
    its lines share colours and differ by dash (app and level, app and state): a chart per
    dash, its lines in their own colours, is easier to read than one of a dozen colours."""
    if not any(math.isfinite(x) and math.isfinite(y) for s in chart.series for x, y in s.points):
        return []
    if chart.xy:
        return [plot(chart)]
    return [lines(part) for part in split(chart)]


def _marker(s: svg.Series) -> bool:
    """A vertical line marking a time (a fault), not a line of values."""
    return len(s.points) > 1 and len({x for x, _ in s.points}) == 1


def split(chart: svg.Chart) -> list[svg.Chart]:
    series = [s for s in chart.series if s.points and not _marker(s)]
    markers = [s for s in chart.series if _marker(s)]  # named under the first chart
    if len({s.color for s in series}) == len(series):
        return [chart]
    dashes = sorted({s.dash for s in series})
    groups = [[s for s in series if s.dash == d] for d in dashes]
    if len(groups) == 1 or any(len({s.color for s in g}) < len(g) for g in groups):
        return [chart]
    meaning = dict(chart.styles)
    out = []
    for i, (dash, group) in enumerate(zip(dashes, groups, strict=True)):
        name = meaning.get(dash) or _common_end([s.label for s in group]) or f"style {dash + 1}"
        out.append(dataclasses.replace(chart, title=f"{chart.title}: {name}",
                                       series=group + (markers if i == 0 else [])))
    return out


def _common_end(labels: Sequence[str]) -> str:
    """The words that end every label ("c=12 round 2" of "a c=12 round 2", "b c=12 round 2")."""
    words = [label.split() for label in labels]
    end: list[str] = []
    while all(len(w) > len(end) + 1 for w in words) and len({w[-len(end) - 1] for w in words}) == 1:
        end.insert(0, words[0][-len(end) - 1])
    return " ".join(end)


# -- mermaid xychart ---------------------------------------------------------------------------

def _colors(series: Sequence[svg.Series]) -> list[int]:
    """The SVG's colours when they tell the lines apart, else one palette colour per line."""
    own = [s.color % len(svg.PALETTE) for s in series]
    if len(set(own)) == len(own):
        return own
    return [i % len(svg.PALETTE) for i in range(len(series))]


def _categories(chart: svg.Chart, series: Sequence[svg.Series]) -> list[tuple[float, str]] | None:
    """The tick positions as categories, when every point sits on one of them."""
    ticks = sorted(chart.x.ticks or ())
    if not ticks or len(ticks) > MAX_POINTS:
        return None
    at = {x for x, _ in ticks}
    if all(x in at for s in series for x, _ in s.points):
        return ticks
    return None


def _resample(points: Sequence[tuple[float, float]], grid: Sequence[float]) -> list[float]:
    """Each grid point's value: the mean of the points within half a step of it, or the
    straight line between the points around it when none is (beyond the ends: the end's)."""
    pts = sorted((x, y) for x, y in points if math.isfinite(y))
    xs = [x for x, _ in pts]
    half = (grid[1] - grid[0]) / 2 if len(grid) > 1 else 0.0
    out = []
    for g in grid:
        a, b = bisect.bisect_left(xs, g - half), bisect.bisect_left(xs, g + half)
        if half == 0:
            b = bisect.bisect_right(xs, g)
        if b > a:
            out.append(sum(y for _, y in pts[a:b]) / (b - a))
            continue
        i = bisect.bisect_left(xs, g)  # no point near g: pts[i - 1] < g <= pts[i]
        if 0 < i < len(pts):
            (xa, ya), (xb, yb) = pts[i - 1], pts[i]
            out.append(ya + (yb - ya) * (g - xa) / (xb - xa))
        else:
            out.append(pts[min(i, len(pts) - 1)][1])
    return out


def lines(chart: svg.Chart) -> Drawn:
    notes: list[str] = []
    drawn: list[tuple[svg.Series, list[float]]] = []
    series = [s for s in chart.series if any(math.isfinite(y) for _, y in s.points)]
    cats = _categories(chart, series)
    single: str | None = None  # the one x every line has: bars, not lines
    if cats is not None:
        x_axis = f'x-axis "{_text(chart.x.label)}" [' + ", ".join(
            f'"{_text(label)}"' for _, label in cats) + "]"
        if len(cats) == 1:
            single = f"{chart.x.label}: {cats[0][1]}"
        missing = []
        for s in series:
            by_x = dict(s.points)
            if all(x in by_x for x, _ in cats):
                drawn.append((s, [by_x[x] for x, _ in cats]))
            else:
                missing.append(s.label)
        if missing:
            notes.append("not drawn, a value is missing: " + ", ".join(missing))
    else:
        markers = [s for s in series if _marker(s)]
        series = [s for s in series if s not in markers]
        if markers:
            notes.append("marked in the SVG chart: " + ", ".join(s.label for s in markers))
        if not series:
            return Drawn("", _sentences(notes))
        lo = max(min(x for x, _ in s.points) for s in series)
        hi = min(max(x for x, _ in s.points) for s in series)
        if hi < lo:  # the lines do not overlap in time: the whole span, held at the ends
            lo = min(min(x for x, _ in s.points) for s in series)
            hi = max(max(x for x, _ in s.points) for s in series)
        grid = [lo]
        if hi > lo:
            # About the lines' own spacing at finest (runs are whole numbers, samples about
            # 0.5 s apart), so that the grid does not invent points between them.
            gaps = [b - a for s in series
                    for a, b in itertools.pairwise(sorted({x for x, _ in s.points}))]
            # Lines of one point each (at different x) have no spacing of their own.
            spacing = statistics.median(gaps) if gaps else hi - lo
            step = grid_step(max((hi - lo) / (MAX_POINTS - 1), 0.75 * spacing))
            first = math.ceil(lo / step - 1e-9) * step
            count = math.floor((hi - first) / step + 1e-9) + 1
            grid = [first + i * step for i in range(count)] if count > 1 else grid
        if len(grid) == 1:
            single = f"{chart.x.label}: {number(lo)}"
        drawn = [(s, _resample(s.points, grid)) for s in series]
        x_axis = f'x-axis "{_text(chart.x.label)}" {exact(grid[0])} --> {exact(grid[-1])}'
        if any(sum(grid[0] <= x <= grid[-1] for x, _ in s.points) > len(grid) for s in series):
            notes.append(f"averaged into {len(grid)} points per line")
        if chart.x.ticks:  # what the SVG writes under its x axis (run ids)
            notes.append(f"{chart.x.label} " + ", ".join(
                f"{exact(x)}: {label}" for x, label in chart.x.ticks))
    if not drawn:
        return Drawn("", _sentences(notes))
    colors = _colors([s for s, _ in drawn])
    ys = [v for _, values in drawn for v in values]
    y_axis = f'y-axis "{_text(chart.y.label)}"'
    if chart.y.log:
        notes.append("linear scale here (logarithmic in the SVG chart)")
    elif chart.y.min is not None:
        top = max(ys, default=1.0)
        step = svg.nice_step(top - chart.y.min)
        top = math.ceil(top / step - 1e-9) * step if top > chart.y.min else chart.y.min + 1
        y_axis += f" {number(chart.y.min)} --> {number(top)}"
    palette = ", ".join(svg.PALETTE[c] for c in colors)
    if single is not None:  # a line of one point shows nothing: a bar per line instead
        x_axis = f'x-axis "{_text(single)}" [' + ", ".join(
            f'"{_text(s.label)}"' for s, _ in drawn) + "]"
        plots = ['  bar [' + ", ".join(number(values[0]) for _, values in drawn) + "]"]
        palette = svg.PALETTE[0]
        legend = "Bars: " + ", ".join(s.label for s, _ in drawn) + "."
    else:
        plots = [f'  line "{_text(s.label)}" [' + ", ".join(number(v) for v in values) + "]"
                 for s, values in drawn]
        legend = "Lines: " + ", ".join(f"{s.label} ({COLOR_NAMES[c]})" for (s, _), c in
                                       zip(drawn, colors, strict=True)) + "."
    body = [
        "```mermaid", "---", "config:", "  xyChart:", f"    width: {WIDTH}",
        f"    height: {HEIGHT}", "  themeVariables:", "    xyChart:",
        f'      plotColorPalette: "{palette}"', "---", "xychart-beta",
        f'  title "{_text(chart.title)}"', f"  {x_axis}", f"  {y_axis}", *plots, "```",
    ]
    return Drawn("\n".join(body), " ".join([legend, _sentences(notes)]).strip())


def _sentences(notes: Sequence[str]) -> str:
    return " ".join(f"{n[0].upper()}{n[1:]}." for n in notes)


# -- character plot ----------------------------------------------------------------------------

def _span(values: Sequence[float], floor: float | None) -> tuple[float, float]:
    lo = floor if floor is not None else min(values)
    hi = max(values)
    if hi <= lo:
        return lo, lo + (abs(lo) or 1.0)
    step = svg.nice_step(hi - lo)
    return lo, math.ceil(hi / step - 1e-9) * step


def plot(chart: svg.Chart) -> Drawn:
    """Free points as letters on a grid of characters, each followed by its label where there
    is room: a scatter that any Markdown page shows."""
    def finite(p: tuple[float, float]) -> bool:
        return math.isfinite(p[0]) and math.isfinite(p[1])

    series = [s for s in chart.series if any(map(finite, s.points))][:len(LETTERS)]
    xs = [x for s in series for x, y in s.points if finite((x, y))]
    ys = [y for s in series for x, y in s.points if finite((x, y))]
    x0, x1 = _span(xs, chart.x.min)
    y0, y1 = _span(ys, chart.y.min)
    grid = [[" "] * PLOT_W for _ in range(PLOT_H)]
    owner = [[-1] * PLOT_W for _ in range(PLOT_H)]
    for i, s in enumerate(series):
        for j, (x, y) in enumerate(s.points):
            if not finite((x, y)):
                continue
            c = round((x - x0) / (x1 - x0) * (PLOT_W - 1))
            r = PLOT_H - 1 - round((y - y0) / (y1 - y0) * (PLOT_H - 1))
            if not (0 <= c < PLOT_W and 0 <= r < PLOT_H):
                continue
            grid[r][c] = "*" if owner[r][c] not in (-1, i) else LETTERS[i]
            owner[r][c] = i
            label = s.labels[j] if len(s.labels) == len(s.points) else ""
            room = range(c + 1, c + 1 + len(label))
            if label and room.stop <= PLOT_W and all(grid[r][k] == " " for k in room):
                for k, ch in zip(room, label, strict=True):
                    grid[r][k] = ch
                    owner[r][k] = i
    top, bottom = number(y1), number(y0)
    pad = max(len(top), len(bottom))
    rows = [chart.y.label]
    for r, cells in enumerate(grid):
        tick = top if r == 0 else bottom if r == PLOT_H - 1 else ""
        rows.append(f"{tick:>{pad}} {'┤' if tick else '│'}" + "".join(cells).rstrip())
    rows.append(" " * pad + " └" + "─" * PLOT_W)
    left, right = number(x0), number(x1)
    rows.append(" " * (pad + 2) + left + " " * max(1, PLOT_W - len(left) - len(right)) + right)
    rows.append(" " * (pad + 2) + chart.x.label.center(PLOT_W).rstrip())
    body = "```text\n" + chart.title + "\n" + "\n".join(rows) + "\n```"
    legend = ", ".join(f"{LETTERS[i]} {s.label}" for i, s in enumerate(series))
    return Drawn(body, f"Points: {legend} (* where two lines meet).")
