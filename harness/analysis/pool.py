"""One group's repeats pooled over every run, column by column.

A thousand runs put seven thousand repeats in a (scenario, app, connections) group. Its summary,
its comparisons (a group takes part in several, on two metrics), its breaking point, its
capacity and the history each walked them again, and every comparison took their logarithms
again. A `Pool` is made once per group (groups.Grouped.pool) and each of them reads it: the
completed repeats' values as columns (taken from the cells' digest rows in one pass, with the
values a CellRow derives: rows.cpu_columns), the measured values and their logarithms once per
metric, the threshold checks tallied once. No CellRow is made but for the failed repeats.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from itertools import chain, compress
from operator import is_not, itemgetter
from typing import Any

from harness.analysis import rows, stats
from harness.analysis.findings import CellRow
from harness.model import digest
from harness.model.digest import CellDigest
from harness.model.results import CellCore, LogSummary, ThresholdResult

_FACTS = CellDigest._fields
_STATUS = itemgetter(_FACTS.index("status"))
_SOME = partial(is_not, None)  # x is not None


@dataclass(frozen=True, slots=True)
class Checks:
    """A group's threshold results, tallied once."""

    everywhere: tuple[str, ...]  # every expression any repeat was checked against, first seen first
    completed: tuple[str, ...]  # those the completed repeats were checked against
    failing: tuple[ThresholdResult, ...]  # the completed repeats' failed checks, in order


class Pool:
    """A group's repeats: their cells (model cells or digest rows) and the run of each, in
    collection order (runs oldest first, then rounds). Read-only; what is derived is derived on
    first use and kept."""

    def __init__(self, run_ids: Sequence[str], cells: Sequence[CellCore | CellDigest]):
        self.n = len(cells)
        self._run_ids = tuple(run_ids)
        self._facts = facts = digest.rows(cells)
        self._ok = ok = tuple(rows.ok_column(map(_STATUS, facts)))
        # Most groups have no failed repeat: their completed repeats are all of them.
        failed = [] if all(ok) else [i for i, o in enumerate(ok) if not o]
        self.failed: list[CellRow] = rows.rows([self._run_ids[i] for i in failed],
                                               [facts[i] for i in failed])
        self.n_ok = self.n - len(failed)
        self._columns: dict[str, tuple] = {}
        self._values: dict[str, list[Any]] = {}
        self._logs: dict[str, stats.LogSample] = {}
        self._cpu_logs: dict[bool, stats.LogSample] = {}

    @cached_property
    def _every(self) -> dict[str, tuple]:
        """Every repeat's digest row fields, column by column, and its CellRow fields that are
        not the same: one pass over the cells on first use (one pass per field costs more: the
        cells lie all over memory)."""
        every = zip(*self._facts, strict=True) if self._facts else ((),) * len(_FACTS)
        out = dict(zip(_FACTS, every, strict=True))
        out["run_id"], out["ok"] = self._run_ids, self._ok
        out["restarted"] = tuple(map(bool, out["restarted"]))
        cpu = rows.cpu_columns(self._ok, out["requests"], out["app_cpu_s"], out["db_cpu_s"])
        out["app_cpu_ms"], out["db_cpu_ms"], out["requests_per_cpu_s"] = map(tuple, cpu)
        return out

    @cached_property
    def stuck(self) -> int:
        """Repeats in which the app was stuck, failed ones too."""
        return sum(self._every["stuck"])

    def column(self, name: str) -> tuple:
        """A CellRow field of the completed repeats (or a CellDigest field: facts)."""
        found = self._columns.get(name)
        if found is None:
            every = self._every[name]
            found = self._columns[name] = tuple(compress(every, self._ok)) if self.failed \
                else every
        return found

    def values(self, name: str) -> list[Any]:
        """The completed repeats' measured values of a CellRow field (None left out): floats,
        ints for the timeouts."""
        found = self._values.get(name)
        if found is None:
            found = self._values[name] = list(filter(_SOME, self.column(name)))
        return found

    def logs(self, name: str) -> stats.LogSample:
        """values(name) on the logarithms, for stats.compare_logs."""
        found = self._logs.get(name)
        if found is None:
            found = self._logs[name] = stats.LogSample.of(self.values(name))
        return found

    @cached_property
    def has_cpu(self) -> bool:
        """A completed repeat measured the app's CPU time."""
        return bool(self.values("app_cpu_ms"))

    @cached_property
    def db_everywhere(self) -> bool:
        """Every completed repeat that measured the app's CPU time measured PostgreSQL's too
        (vacuously, when none did)."""
        app, db = self.column("app_cpu_ms"), self.column("db_cpu_ms")
        if None not in app:
            return None not in db
        return all(d is not None for a, d in zip(app, db, strict=True) if a is not None)

    def cpu(self, with_db: bool) -> list[float]:
        """CPU-ms per request of the completed repeats that measured the app's: the app's, plus
        PostgreSQL's if `with_db`."""
        return self._app_and_db_cpu if with_db else self.values("app_cpu_ms")

    @cached_property
    def _app_and_db_cpu(self) -> list[float]:
        return [a + (d or 0.0) for a, d in zip(self.column("app_cpu_ms"),
                                               self.column("db_cpu_ms"), strict=True)
                if a is not None]

    def cpu_logs(self, with_db: bool) -> stats.LogSample:
        found = self._cpu_logs.get(with_db)
        if found is None:
            found = self._cpu_logs[with_db] = stats.LogSample.of(self.cpu(with_db))
        return found

    @cached_property
    def runs(self) -> frozenset[str]:
        """The runs that measured the group (failed repeats count)."""
        return frozenset(self._run_ids)

    def facts(self, name: str, completed: bool = True) -> tuple:
        """A CellDigest field of the completed repeats (or of every repeat)."""
        return self.column(name) if completed else self._every[name]

    @cached_property
    def checks(self) -> Checks:
        # A digest shares one tuple of expressions among a run's cells checked alike.
        everywhere = dict.fromkeys(chain.from_iterable(self.facts("thresholds_checked", False)))
        completed = dict.fromkeys(chain.from_iterable(self.facts("thresholds_checked"))) \
            if self.failed else everywhere
        return Checks(tuple(everywhere), tuple(completed),
                      tuple(chain.from_iterable(self.facts("thresholds_failed"))))

    @cached_property
    def log_counts(self) -> dict[str, int]:
        return count_logs(self.facts("log", completed=False))


def count_logs(logs: Sequence[LogSummary | None]) -> dict[str, int]:
    """App-log categories summed over the repeats' log summaries, most frequent first (ties by
    name). A digest shares one summary among a run's cells whose counts are equal: each is
    added once, times the number of its cells."""
    present = [log for log in logs if log is not None]
    times = Counter(map(id, present))
    counts: dict[str, int] = {}
    for log in {id(log): log for log in present}.values():
        n = times[id(log)]
        for k, v in log.counts.items():
            counts[k] = counts.get(k, 0) + v * n
    return dict(sorted(((k, v) for k, v in counts.items() if v), key=lambda kv: (-kv[1], kv[0])))
