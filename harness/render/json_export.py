"""findings.json: the findings as plain JSON, for scripts and dashboards.

Every dataclass becomes an object with its field names, enums their values, tuples arrays.
Units are the findings' own (latencies in µs, rates as fractions, CPU in ms per request). A
ratio that is infinite (one side served nothing) is written as null. Per-cell rows are left out
unless asked for: cells.csv has them, and the results files hold everything.
"""

from __future__ import annotations

import dataclasses
import json
import math
from enum import Enum
from typing import Any

from harness.analysis.findings import Findings

NAME = "findings.json"
VERSION = 1  # of this file's layout


def plain(obj: Any) -> Any:
    """JSON-ready data from findings (or any dataclass tree)."""
    kind = type(obj)
    if kind in _AS_IS:  # most of a findings tree (exact types: a StrEnum member is a str too)
        return obj
    if kind is float:
        return obj if math.isfinite(obj) else None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {name: plain(getattr(obj, name)) for name in _names(kind)}
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):  # a named tuple: an object too
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dict):
        return {(k.value if isinstance(k, Enum) else str(k)): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(x) for x in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


_AS_IS = (str, int, bool, type(None))


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: Any) -> tuple[str, ...]:
    """A dataclass's field names, looked up once per class (dataclasses.fields builds a tuple
    of its Field objects at every call)."""
    found = _NAMES.get(cls)
    if found is None:
        found = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return found


def dumps(data: Any) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def render(findings: Findings, cells: bool = False) -> dict[str, str]:
    data = plain(dataclasses.replace(findings, cells=tuple(findings.cells) if cells else ()))
    if not cells:
        del data["cells"]
    return {NAME: dumps({"findings_version": VERSION, **data})}
