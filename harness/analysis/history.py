"""Each run's own medians per group, for charts and tables over time."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from harness.analysis.findings import CellRow, History, HistoryLine


def history(rows: Sequence[CellRow], run_ids: Sequence[str], scenarios: Sequence[str],
            apps: Sequence[str]) -> History:
    """Per scenario, one line per (app, connections): the median req/s and p99 of each run (None
    where the run has no completed repeat). Medians only: a thousand runs stay cheap."""
    index = {r: i for i, r in enumerate(run_ids)}
    n = len(run_ids)
    values: dict[tuple[str, str, int], list[tuple[list[float], list[float]]]] = {}
    for r in rows:
        if not r.ok:
            continue
        per_run = values.get((r.scenario, r.app, r.connections))
        if per_run is None:
            per_run = values[(r.scenario, r.app, r.connections)] = [([], []) for _ in range(n)]
        rps, p99 = per_run[index[r.run_id]]
        if r.rps is not None:
            rps.append(r.rps)
        if r.p99_us is not None:
            p99.append(r.p99_us)
    order = {a: i for i, a in enumerate(apps)}
    out = []
    for scenario in scenarios:
        keys = sorted((k for k in values if k[0] == scenario),
                      key=lambda k: (order.get(k[1], len(order)), k[2]))
        lines = []
        for key in keys:
            per_run = values[key]
            lines.append(HistoryLine(
                key[1], key[2], tuple(statistics.median(x) if x else None for x, _ in per_run),
                tuple(statistics.median(y) if y else None for _, y in per_run)))
        out.append((scenario, tuple(lines)))
    return History(tuple(run_ids), tuple(out))
