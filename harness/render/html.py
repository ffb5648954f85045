"""report.html: the report as one self-contained page. Charts are inline SVG and the style is
inline CSS: no script, no font, no link to anything, so it reads the same offline or mailed."""

from __future__ import annotations

from html import escape

from harness.analysis.findings import Findings
from harness.render import page, svg
from harness.render.document import (
    Block,
    Bullets,
    Heading,
    Images,
    Links,
    Para,
    Quote,
    Table,
    inline_html,
)

NAME = "report.html"
XML_DECLARATION = svg.XML  # a file's, not inline SVG's
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 75rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; vertical-align: top; }
th { background: #f3f3f3; }
td.r, th.r { text-align: right; }
code { background: #f3f3f3; padding: 0 0.2rem; border-radius: 3px; font-size: 0.9em; }
blockquote { border-left: 4px solid #d62728; margin: 0.8rem 0; padding: 0.2rem 0.8rem;
             background: #fff5f5; }
figure { margin: 0.8rem 0; }
figure svg { max-width: 100%; height: auto; }
"""


def block(b: Block) -> str:
    if isinstance(b, Heading):
        return f"<h{b.level}>{inline_html(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        return f"<p>{inline_html(b.text)}</p>"
    if isinstance(b, Quote):
        return f"<blockquote><p>{inline_html(b.text)}</p></blockquote>"
    if isinstance(b, Bullets):
        items = []
        for item in b.items:
            sub = "".join(f"<li>{inline_html(s)}</li>" for s in item.sub)
            items.append(f"<li>{inline_html(item.text)}" + (f"<ul>{sub}</ul>" if sub else "")
                         + "</li>")
        lead = f"<p>{inline_html(b.lead)}</p>\n" if b.lead else ""
        return lead + "<ul>\n" + "\n".join(items) + "\n</ul>"
    if isinstance(b, Table):
        def cls(i: int) -> str:
            return ' class="r"' if b.align[i] == "r" else ""
        head = "".join(f"<th{cls(i)}>{inline_html(h)}</th>" for i, h in enumerate(b.header))
        rows = "\n".join("<tr>" + "".join(f"<td{cls(i)}>{inline_html(v)}</td>"
                                          for i, v in enumerate(row)) + "</tr>"
                         for row in b.rows)
        return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"
    if isinstance(b, Images):
        return "\n".join(f'<figure role="img" aria-label="{escape(f.alt)}">\n'
                         f"{f.svg(standalone=False)}</figure>" for f in b.figures)
    if isinstance(b, Links):  # inline, folded: the page stays one self-contained file
        lead = f"<p>{inline_html(b.lead)}</p>\n" if b.lead else ""
        return lead + "\n".join(
            f"<details><summary>{inline_html(a.text)}</summary>\n"
            f"{a.content.removeprefix(XML_DECLARATION)}</details>" for a in b.files)
    raise TypeError(f"unknown block {b!r}")


def render(findings: Findings) -> dict[str, str]:
    blocks = page.document(findings)
    title = next((b.text for b in blocks if isinstance(b, Heading)), "Benchmark report")
    body = "\n".join(block(b) for b in blocks)
    return {NAME: (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                   f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
                   f"{body}\n</body>\n</html>\n")}
