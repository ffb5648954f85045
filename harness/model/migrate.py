"""Older results formats, brought up to the current one (docs/results-format.md has the history).

Each step takes the plain JSON of version N and returns the JSON of version N + 1; nothing
measured is dropped, and a field the old version did not record stays None.
"""

from __future__ import annotations

from typing import Any

STATES = ("active", "idle", "idle_in_transaction")


def v1_to_v2(run: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (to 2026-11): the cell's `wrk` becomes `load` (with its driver), sampled series
    move under `samples.series`, and each level's rounds are recorded as a fixed number."""
    run = dict(run)
    cells = [_cell_v2(c) for c in run.get("cells") or []]
    run["cells"] = cells
    run["schema_version"] = 2
    run.setdefault("status", "incomplete")
    run.setdefault("command", [])
    run.setdefault("scenario_file", "")
    run.setdefault("config", {})
    run.setdefault("environment", {})
    run["ceilings"] = {k: v for k, v in (run.get("ceilings") or {}).items() if isinstance(v, dict)}
    levels: dict[tuple[str, int], dict[str, Any]] = {}
    for c in cells:
        if not isinstance(c.get("connections"), int) or not isinstance(c.get("repeat"), int):
            continue  # malformed: validation of the migrated run names the field
        level = levels.setdefault((c["scenario"], c["connections"]), {
            "scenario": c["scenario"], "connections": c["connections"], "rounds": 0,
            "reason": "fixed", "load_s": 0.0, "undecided": []})
        level["rounds"] = max(level["rounds"], c["repeat"] + 1)
        if c.get("load"):
            level["load_s"] += float(c["load"].get("duration_s") or 0)
    run["levels"] = list(levels.values())
    return run


def _cell_v2(cell: Any) -> Any:
    if not isinstance(cell, dict):
        return cell
    cell = dict(cell)
    cell.setdefault("status", "ok")  # v1 writers before the status field only stored successes
    load = cell.pop("wrk", None)
    cell["load"] = {**load, "driver": "wrk"} if isinstance(load, dict) else None
    cell["thresholds"] = [
        {"expr": t.get("expr", ""), "metric": t.get("metric", ""), "value": t.get("value"),
         "unit": t.get("unit", ""), "ok": bool(t.get("ok"))}
        for t in cell.get("thresholds") or []]
    samples = cell.get("samples")
    if isinstance(samples, dict):
        series = {k: v for k, v in samples.items()
                  if isinstance(v, dict) and {"peak", "mean"} <= set(v)}
        cell["samples"] = {
            "interval_s": samples.get("interval_s", 0.5), "n": samples.get("n", 0),
            "series": series, "wrk_saturated": bool(samples.get("wrk_saturated")),
            "profile_columns": samples.get("profile_columns") or [],
            "profile": samples.get("profile") or [],
        }
    return cell


# version -> the step that brings it to version + 1
UPGRADES = {1: v1_to_v2}


def upgrade(run: dict[str, Any], version: int) -> dict[str, Any]:
    """Apply every step from `version` up to the current version."""
    while version in UPGRADES:
        run = UPGRADES[version](run)
        version += 1
    return run
