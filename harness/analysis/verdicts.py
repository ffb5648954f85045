"""Comparisons of declared pairs at each level, on throughput and on CPU per request.

The method follows how the level's repeats were collected. A fixed number of repeats (a v1 file,
a scenario without a budget: LevelStop.reason "fixed") is judged by Welch's t on the logs, as
the harness always did. Adaptive rounds stopped once the data looked decided are judged by
harness.analysis.sequential, whose verdicts stay valid under that optional stopping; a fixed-
sample test re-asked after every round would decide wrongly far more often than alpha.

Several runs pooled are not one sequential experiment: the sequential decision reads its
looks from the first values (at most max_n, all from the oldest run), so pooled levels are
judged by Welch on every repeat, and the finding says so. For a decision, one run is the unit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.analysis import stats
from harness.analysis.findings import (
    CellRow,
    Comparison,
    Method,
    Metric,
    NotCompared,
    Verdict,
)
from harness.analysis.groups import Grouped


def compare(grouped: Grouped, scenario: str, connections: int, candidate: str, reference: str,
            metric: Metric, method: Method, *, min_effect: float, alpha: float = stats.ALPHA,
            min_n: int = 3, max_n: int = 30) -> Comparison:
    """candidate against reference at one level; not compared when a side has nothing."""
    cand_key, ref_key = (scenario, candidate, connections), (scenario, reference, connections)
    if method is Method.SEQUENTIAL and grouped.runs_in(cand_key, ref_key) > 1:
        method = Method.WELCH  # pooled runs: see the module's docstring

    def made(verdict: Verdict | None, **fields: Any) -> Comparison:
        return Comparison(scenario, connections, candidate, reference, metric, method, verdict,
                          **fields)

    for name, key in ((candidate, cand_key), (reference, ref_key)):
        if key not in grouped.cells:
            return made(None, not_compared=NotCompared.NOT_RUN, missing=name)
        if not grouped.pool(key).n_ok:
            return made(None, not_compared=NotCompared.ALL_FAILED, missing=name)
    a_pool, b_pool = grouped.pool(cand_key), grouped.pool(ref_key)
    higher = metric is Metric.THROUGHPUT
    with_db = False
    if not higher:
        for name, pool in ((candidate, a_pool), (reference, b_pool)):
            if not pool.has_cpu:
                return made(None, not_compared=NotCompared.NO_CPU, missing=name)
        # Both sides on the same basis: app + PostgreSQL only when every cell measured both.
        with_db = a_pool.db_everywhere and b_pool.db_everywhere
    if method is Method.SEQUENTIAL:
        from harness.analysis import sequential  # only adaptive levels need it

        # In collection order (runs oldest first, then rounds), as the sequential decision needs.
        a_cells, b_cells = grouped.ok(cand_key), grouped.ok(ref_key)
        min_n = max(2, min_n)
        # Adaptive rounds are judged paired by round, as the runner's stopping rule does.
        value = value_of(metric, with_db)
        d = sequential.decide_paired(
            by_round(a_cells, b_cells, value), min_effect=min_effect, alpha=alpha,
            min_n=min_n, max_n=max(min_n, max_n), higher_is_better=higher,
            offset=sequential.THROUGHPUT_OFFSET if higher else 0.0)
        return made(Verdict(d.verdict.value), ratio=d.ratio, ci_low=d.ci_low, ci_high=d.ci_high,
                    n_candidate=d.n_a, n_reference=d.n_b, mde=d.mde, look=d.look,
                    alpha_spent=d.alpha_spent, with_db=with_db, zero_rounds=d.zero_rounds)
    # Each side's logarithms come from its pool: taken once per group and metric, however many
    # pairs the group is in.
    if higher:
        a_logs, b_logs = a_pool.logs("rps"), b_pool.logs("rps")
    else:
        a_logs, b_logs = a_pool.cpu_logs(with_db), b_pool.cpu_logs(with_db)
    r = stats.compare_logs(a_logs, b_logs, min_effect, alpha, higher_is_better=higher)
    if r.ratio is None:
        return made(None, not_compared=NotCompared.NO_REQUESTS, n_candidate=r.n_a,
                    n_reference=r.n_b, warnings=r.warnings, with_db=with_db)
    return made(r.verdict, ratio=r.ratio, ci_low=r.ci_low, ci_high=r.ci_high, p_value=r.p_value,
                n_candidate=r.n_a, n_reference=r.n_b, mde=r.mde, warnings=r.warnings,
                with_db=with_db)


def value_of(metric: Metric, with_db: bool) -> Callable[[CellRow], float | None]:
    if metric is Metric.THROUGHPUT:
        return lambda r: r.rps
    return lambda r: None if r.app_cpu_ms is None else \
        r.app_cpu_ms + (r.db_cpu_ms or 0.0) if with_db else r.app_cpu_ms


def by_round(a_rows: Sequence[CellRow], b_rows: Sequence[CellRow],
             value: Callable[[CellRow], float | None]) -> list[tuple[float, float]]:
    """(a, b) for every round that measured both, in round order."""
    a = {r.repeat: v for r in a_rows if (v := value(r)) is not None}
    b = {r.repeat: v for r in b_rows if (v := value(r)) is not None}
    return [(a[k], b[k]) for k in sorted(a.keys() & b.keys())]
