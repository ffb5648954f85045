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
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
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


def dumps(data: Any) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def render(findings: Findings, cells: bool = False) -> dict[str, str]:
    data = plain(dataclasses.replace(findings, cells=findings.cells if cells else ()))
    if not cells:
        del data["cells"]
    return {NAME: dumps({"findings_version": VERSION, **data})}
