"""Each run's own medians per group, for charts and tables over time."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from harness.analysis.findings import History, HistoryLine
from harness.model.results import RunCore


def history(runs: Sequence[RunCore], scenarios: Sequence[str],
            apps: Sequence[str]) -> History:
    """Per scenario, one line per (app, connections): the median req/s and p99 of each run (None
    where the run has no completed repeat). Medians only: a thousand runs stay cheap."""
    index = {r: i for i, r in enumerate(apps)}
    series: dict[str, dict[tuple[str, int], tuple[list, list]]] = {s: {} for s in scenarios}
    n = len(runs)
    for i, run in enumerate(runs):
        per: dict[tuple[str, str, int], tuple[list[float], list[float]]] = {}
        for c in run.cells:
            if c.ok:
                rps, p99 = per.setdefault((c.scenario, c.app, c.connections), ([], []))
                if c.rps is not None:
                    rps.append(c.rps)
                latency = c.latency("p99")
                if latency is not None:
                    p99.append(latency)
        for (scenario, app, conns), (rps, p99) in per.items():
            line = series.setdefault(scenario, {}).setdefault(
                (app, conns), ([None] * n, [None] * n))
            line[0][i] = statistics.median(rps) if rps else None
            line[1][i] = statistics.median(p99) if p99 else None
    out = []
    for scenario, lines in series.items():
        keys = sorted(lines, key=lambda k: (index.get(k[0], len(index)), k[1]))
        out.append((scenario, tuple(HistoryLine(app, conns, tuple(lines[(app, conns)][0]),
                                                tuple(lines[(app, conns)][1]))
                                    for app, conns in keys)))
    return History(tuple(r.run_id for r in runs), tuple(out))
