"""A report as a list of blocks, so that its content is laid out once and each markup format
(Markdown, HTML) only decides the syntax; hyperfine's MarkupExporter does the same for tables.

Text inside blocks uses two inline marks, as in Markdown: `code` and **bold**.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from harness.render.figures import Figure


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Quote:
    text: str


@dataclass(frozen=True)
class Item:
    text: str
    sub: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bullets:
    items: tuple[Item, ...]
    lead: str | None = None  # a line introducing the list, with no gap before it


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    align: str  # one letter per column: l or r
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Images:
    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class Attachment:
    name: str  # file name beside the report
    text: str  # what a link to it says
    content: str  # the file: an SVG document


@dataclass(frozen=True)
class Links:
    """Files written beside the report and linked from it (report.html inlines them)."""

    files: tuple[Attachment, ...]
    lead: str | None = None


Block = Heading | Para | Quote | Bullets | Table | Images | Links


def bullets(lines: list[str], lead: str | None = None) -> Bullets:
    return Bullets(tuple(Item(t) for t in lines), lead)


_CODE = re.compile(r"`([^`]*)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def inline_html(text: str) -> str:
    """`code` and **bold** as HTML; everything else escaped."""
    parts = _CODE.split(text)  # odd indexes are code spans
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{escape(part)}</code>")
        else:
            out.append(_BOLD.sub(r"<strong>\1</strong>", escape(part)))
    return "".join(out)
