"""Collapsed stacks, the profiles' file format: py-spy's `record --format raw`, the folded format
of Brendan Gregg's flamegraph.pl. One line per distinct stack: its frames from the root to the
leaf, separated by ';', a space, and how many samples had that stack.

py-spy starts a stack with one frame per process from the root process down (`--subprocesses`),
`process PID:"COMMAND LINE"`, whose command line may itself hold ';' (`python -c "a; b"`).
Python frames read `function (package/module.py:LINE)`; native ones (`--native`)
`symbol (file.c:LINE)`, `symbol (library.so)` or `0xADDRESS (library.so)`.
"""

from __future__ import annotations

import re
from pathlib import Path

# frames root first -> samples
Stacks = dict[tuple[str, ...], int]

_PROCESS = re.compile(r'process \d+:".*?"(?=;|$)')


def frames(stack: str) -> tuple[str, ...]:
    out = []
    pos = 0
    while stack.startswith("process ", pos) and (m := _PROCESS.match(stack, pos)):
        out.append(m.group())
        pos = m.end() + 1
    rest = stack[pos:]
    return (*out, *rest.split(";")) if rest else tuple(out)


def parse(text: str) -> Stacks:
    """Lines that do not end in a count are skipped (a file cut short by a crash keeps what
    it has); equal stacks add up."""
    out: Stacks = {}
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        key = frames(stack)
        out[key] = out.get(key, 0) + int(count)
    return out


def read(path: str | Path) -> Stacks:
    """The stacks of a file; OSError when it cannot be read."""
    return parse(Path(path).read_text(errors="replace"))


def total(stacks: Stacks) -> int:
    return sum(stacks.values())


def is_process(frame: str) -> bool:
    return frame.startswith("process ") and bool(_PROCESS.fullmatch(frame))
