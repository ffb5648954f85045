"""report.md: the report as Markdown, with its charts as SVG files beside it."""

from __future__ import annotations

from harness.analysis.findings import Findings
from harness.render import page
from harness.render.document import Block, Bullets, Heading, Images, Links, Para, Quote, Table

NAME = "report.md"
_ALIGN = {"l": "---", "r": "---:"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def block(b: Block) -> str:
    if isinstance(b, Heading):
        return f"{'#' * b.level} {b.text}"
    if isinstance(b, Para):
        return b.text
    if isinstance(b, Quote):
        return f"> {b.text}"
    if isinstance(b, Bullets):
        lines = [b.lead] if b.lead else []
        for item in b.items:
            lines.append(f"- {item.text}")
            lines += [f"  - {s}" for s in item.sub]
        return "\n".join(lines)
    if isinstance(b, Table):
        lines = ["| " + " | ".join(b.header) + " |",
                 "|" + "".join(f"{_ALIGN[a]}|" for a in b.align)]
        lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in b.rows]
        return "\n".join(lines)
    if isinstance(b, Images):
        return "\n".join(f"![{f.alt}]({f.name})" for f in b.figures)
    if isinstance(b, Links):
        lines = [b.lead] if b.lead else []
        return "\n".join(lines + [f"- [{a.text}]({a.name})" for a in b.files])
    raise TypeError(f"unknown block {b!r}")


def render(findings: Findings) -> dict[str, str]:
    """{"report.md": text, "<chart>.svg": svg, ...}: the charts and flame graphs are linked by
    relative name, so every file belongs in the same directory."""
    blocks = page.document(findings)
    out = {NAME: "\n\n".join(block(b) for b in blocks) + "\n"}
    for b in blocks:
        if isinstance(b, Images):
            out.update({f.name: f.svg() for f in b.figures})
        if isinstance(b, Links):
            out.update({a.name: a.content for a in b.files})
    return out
