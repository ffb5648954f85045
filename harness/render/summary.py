"""summary.md: the report as one self-contained Markdown file, for a GitHub job summary.

The same blocks as report.md (harness.render.page), but each chart is text that GitHub draws
itself (harness.render.mermaid): a job summary shows neither report.md's relative SVG links nor
`data:` images, and it holds at most 1 MiB per step. The charts of an oversized summary are
left out (the text stays whole), which says so.
"""

from __future__ import annotations

from harness.analysis.findings import Findings
from harness.render import markdown, mermaid, page
from harness.render.document import Block, Images, Links

NAME = "summary.md"
MAX_BYTES = 900_000  # GitHub's step summary takes 1 MiB; compare.md is appended to it
NOTE = ("_Charts drawn by GitHub from text (mermaid): lines averaged on an even grid, linear "
        "scales, no confidence bands. report.html and report.md with its SVG charts have them "
        "all._")
TOO_BIG = ("_The charts are left out: with them this summary would exceed GitHub's limit. "
           "report.html has them._")


def images(b: Images) -> str:
    parts = []
    for figure in b.figures:
        for chart in figure.charts:
            for drawn in mermaid.draw(chart):
                parts += [text for text in (drawn.body, drawn.caption) if text]
    return "\n\n".join(parts)


def _text(blocks: list[Block], charts: bool) -> str:
    out = []
    for i, b in enumerate(blocks):
        if isinstance(b, Links):  # a job summary has no files beside it: their names only
            out.append("\n".join([*([b.lead] if b.lead else []),
                                   *(f"- {a.text}: `{a.name}` beside report.md"
                                     for a in b.files)]))
            continue
        if isinstance(b, Images):
            if charts:
                text = images(b)
                if text:
                    out.append(text)
            continue
        out.append(markdown.block(b))
        if i == 0:
            out.append(NOTE if charts else TOO_BIG)
    return "\n\n".join(out) + "\n"


def render(findings: Findings) -> dict[str, str]:
    blocks = page.document(findings)
    text = _text(blocks, charts=True)
    if len(text.encode()) > MAX_BYTES:
        text = _text(blocks, charts=False)
    return {NAME: text}
