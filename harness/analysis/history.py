"""Each run's own medians per group, for charts and tables over time."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from harness.analysis.findings import History, HistoryLine
from harness.analysis.groups import Grouped


def history(grouped: Grouped, run_ids: Sequence[str], scenarios: Sequence[str],
            apps: Sequence[str]) -> History:
    """Per scenario, one line per (app, connections) with a completed repeat: the median req/s
    and p99 of each run (None where the run has no completed repeat). Medians only, from the
    groups' completed rows: a thousand runs stay cheap."""
    index = {r: i for i, r in enumerate(run_ids)}
    n = len(run_ids)
    order = {a: i for i, a in enumerate(apps)}
    out = []
    for scenario in scenarios:
        keys = sorted((k for k in grouped.cells if k[0] == scenario and grouped.ok(k)),
                      key=lambda k: (order.get(k[1], len(order)), k[2]))
        lines = []
        for key in keys:
            rps: list[list[float]] = [[] for _ in range(n)]
            p99: list[list[float]] = [[] for _ in range(n)]
            for r in grouped.ok(key):
                i = index[r.run_id]
                if r.rps is not None:
                    rps[i].append(r.rps)
                if r.p99_us is not None:
                    p99[i].append(r.p99_us)
            lines.append(HistoryLine(
                key[1], key[2], tuple(statistics.median(x) if x else None for x in rps),
                tuple(statistics.median(y) if y else None for y in p99)))
        out.append((scenario, tuple(lines)))
    return History(tuple(run_ids), tuple(out))
