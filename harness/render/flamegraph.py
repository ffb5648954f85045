"""A flame graph as SVG, from a profile's tree of busy samples (harness.analysis.profiles).

Each frame is a box as wide as its share of the samples, its callers below it (the root at the
bottom), its callees above, side by side in name order: the same tree always gives the same
bytes. A box's colour is its frame's layer; frames that only pass calls through (threading,
contextlib, libc, the interpreter) are grey. Hovering a box shows its frame and samples (an
SVG <title>), when the file is opened on its own.
"""

from __future__ import annotations

from html import escape

from harness.analysis.profiles import BUSY, AppProfile, FlameNode
from harness.render import svg
from harness.render.figures import slug

WIDTH = 1200
ROW = 16  # height of one frame
PAD = 10
CHAR_W = 6.0  # average glyph width at FONT_SIZE
FONT_SIZE = 10
MIN_LABEL_W = 24  # narrower boxes carry no text
# Layer colours: server, routing and validation, serialization, ORM, driver, GC, other
COLORS = dict(zip(BUSY, svg.PALETTE, strict=False))
PASS_THROUGH = "#d9d9d9"


def depth(node: FlameNode) -> int:
    return 1 + max((depth(c) for c in node.children), default=0)


def render(p: AppProfile, standalone: bool = True) -> str:
    """The profile's flame graph; an empty string when it has none."""
    root = p.flame
    if root is None or root.samples <= 0:
        return ""
    rows = depth(root)
    top = 44  # title and legend
    height = top + rows * ROW + PAD
    scale = (WIDTH - 2 * PAD) / root.samples
    boxes: list[str] = []

    def draw(node: FlameNode, x: float, level: int) -> None:
        w = node.samples * scale
        y = top + (rows - 1 - level) * ROW
        color = COLORS.get(node.layer, PASS_THROUGH) if node.layer else PASS_THROUGH
        share = node.samples / root.samples
        tip = f"{node.name}: {node.samples} samples ({share:.1%} of busy)"
        boxes.append(f'<g><title>{escape(tip)}</title>'
                     f'<rect x="{x:.2f}" y="{y}" width="{max(w - 0.5, 0.1):.2f}" '
                     f'height="{ROW - 1}" fill="{color}" fill-opacity="0.75"/>')
        if w >= MIN_LABEL_W:
            chars = int((w - 4) / CHAR_W)
            text = node.name if len(node.name) <= chars else node.name[:max(chars - 2, 1)] + ".."
            boxes.append(f'<text x="{x + 2:.2f}" y="{y + ROW - 4}">{escape(text)}</text>')
        boxes.append("</g>")
        for child in node.children:
            draw(child, x, level + 1)
            x += child.samples * scale

    draw(root, PAD, 0)
    title = (f"{p.app}, {p.scenario} at {p.connections} connections: {root.samples} busy "
             f"samples (waiting, {p.waiting:.0%} of all samples, left out)")
    legend, x = [], float(PAD)
    for layer in (*BUSY, None):
        name = "passes calls through" if layer is None else layer.value
        color = PASS_THROUGH if layer is None else COLORS[layer]
        legend.append(f'<rect x="{x:.1f}" y="24" width="10" height="10" fill="{color}" '
                      f'fill-opacity="0.75"/><text x="{x + 14:.1f}" y="33">{escape(name)}</text>')
        x += 24 + len(name) * CHAR_W
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="{FONT_SIZE}">')
    parts = [head, f"<title>{escape(title)}</title>",
             f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
             f'<text x="{PAD}" y="16" font-size="12" font-weight="bold">{escape(title)}</text>',
             *legend, *boxes, "</svg>"]
    return (svg.XML if standalone else "") + "\n".join(parts) + "\n"


def file_name(p: AppProfile) -> str:
    return f"flame-{slug(p.scenario)}-{slug(p.app)}-c{p.connections}.svg"

