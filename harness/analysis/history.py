"""Each run's own medians per group, for charts and tables over time."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

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
        keys = sorted((k for k in grouped.cells if k[0] == scenario and grouped.pool(k).n_ok),
                      key=lambda k: (order.get(k[1], len(order)), k[2]))
        lines = []
        for key in keys:
            pool = grouped.pool(key)
            runs = _runs(pool.column("run_id"), index)
            lines.append(HistoryLine(key[1], key[2], _per_run(pool.column("rps"), runs, n),
                                     _per_run(pool.column("p99_us"), runs, n)))
        out.append((scenario, tuple(lines)))
    return History(tuple(run_ids), tuple(out))


def _runs(ids: Sequence[str], index: dict[str, int]) -> list[tuple[int, int, int]]:
    """(run's index, start, end) of each run's repeats in a pool's columns: a run's repeats are
    next to each other, one slice per run rather than one step per repeat."""
    out = []
    at = 0
    for run_id, repeats in groupby(ids):
        end = at + len(list(repeats))
        out.append((index[run_id], at, end))
        at = end
    return out


def _per_run(column: tuple, runs: list[tuple[int, int, int]],
             n: int) -> tuple[float | None, ...]:
    """Each run's median of a column (None where the run has no value)."""
    some_none = None in column
    values: list[list[float]] = [[] for _ in range(n)]
    for i, start, end in runs:
        found = column[start:end]
        values[i] += [v for v in found if v is not None] if some_none else found
    return tuple(map(_median, values))


def _median(xs: list[float]) -> float | None:
    """statistics.median, as fast on short lists as they come (a thousand runs, a few repeats
    each): the middle value, or the mean of the middle two."""
    if not xs:
        return None
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2
