"""Each run's own medians per group, for charts and tables over time."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from harness.analysis.findings import History, HistoryLine
from harness.analysis.groups import Grouped
from harness.analysis.pool import Pool


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
        keys = sorted((k for k in grouped.cells if k[0] == scenario and grouped.pool(k).n_ok),
                      key=lambda k: (order.get(k[1], len(order)), k[2]))
        lines = []
        for key in keys:
            pool = grouped.pool(key)
            lines.append(HistoryLine(key[1], key[2], _per_run(pool, "rps", index, n),
                                     _per_run(pool, "p99_us", index, n)))
        out.append((scenario, tuple(lines)))
    return History(tuple(run_ids), tuple(out))


def _per_run(pool: Pool, name: str, index: dict[str, int],
             n: int) -> tuple[float | None, ...]:
    """Each run's median of a field over its completed repeats in the group. A run's repeats
    are next to each other in its pool: one slice per run, not one step per repeat."""
    ids, column = pool.column("run_id"), pool.column(name)
    some_none = None in column
    values: list[list[float]] = [[] for _ in range(n)]
    at = 0
    for run_id, repeats in groupby(ids):
        end = at + len(list(repeats))
        found = column[at:end]
        values[index[run_id]] += [v for v in found if v is not None] if some_none else found
        at = end
    return tuple(map(_median, values))


def _median(xs: list[float]) -> float | None:
    """statistics.median, as fast on short lists as they come (a thousand runs, a few repeats
    each): the middle value, or the mean of the middle two."""
    if not xs:
        return None
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2
