"""Each cell's values as a findings.CellRow: what the analysis reads and cells.csv lists, with
its CPU per request (app, PostgreSQL) and requests per CPU-second derived once.

Column by column: a run read through its digest has a hundred cells, a thousand runs a hundred
thousand. The rows of every cell (Findings.cells) are made when first read: a report over many
runs reads those of one run (cells.csv), and the groups' pools take their columns from the
cells' digest rows directly (harness.analysis.pool).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from operator import add, is_, mul, truediv
from typing import overload

from harness.analysis.findings import CellRow
from harness.model import digest
from harness.model.digest import CellDigest
from harness.model.results import CellStatus, RunCore

TEXT = {s: s.value for s in CellStatus}  # Enum.value is a Python property: 10^5 calls
_ROW = CellRow._make


def ok_column(status: Iterable[CellStatus]) -> list[bool]:
    return list(map(is_, status, repeat(CellStatus.OK)))


def cpu_columns(ok: Sequence[bool], requests: Sequence[int | None],
                app_s: Sequence[float | None], db_s: Sequence[float | None],
                ) -> tuple[list[float | None], list[float | None], list[float | None]]:
    """CPU-ms per request of the app and of PostgreSQL, and requests per CPU-second, of each
    completed cell whose app's CPU time was measured (None otherwise)."""
    if all(ok) and None not in app_s and None not in db_s and None not in requests:
        # Every cell completed and measured both: the same arithmetic, a column at a time (in
        # C). `db or 0.0` in the loop below only differs from `db` at -0.0, where the sum is
        # not positive either way.
        ns: Sequence[int] = requests  # type: ignore[assignment]
        apps: Sequence[float] = app_s  # type: ignore[assignment]
        dbs: Sequence[float] = db_s  # type: ignore[assignment]
        if min(ns, default=1) > 0:
            per_request = list(map(truediv, repeat(1000.0), ns))
            total = list(map(add, apps, dbs))
            if min(total, default=1.0) > 0:
                return (list(map(mul, apps, per_request)), list(map(mul, dbs, per_request)),
                        list(map(truediv, ns, total)))
    app_ms: list[float | None] = []
    db_ms: list[float | None] = []
    per_cpu_s: list[float | None] = []
    for measured, n, app_cpu, db_cpu in zip(ok, requests, app_s, db_s, strict=True):
        a = d = per = None
        if measured and app_cpu is not None and n is not None:
            if n > 0:
                a = app_cpu * (1000.0 / n)
                d = None if db_cpu is None else db_cpu * (1000.0 / n)
            spent = app_cpu + (db_cpu or 0.0)
            per = n / spent if spent > 0 else None
        app_ms.append(a)
        db_ms.append(d)
        per_cpu_s.append(per)
    return app_ms, db_ms, per_cpu_s


def rows(run_ids: Iterable[str], facts: Sequence[CellDigest]) -> list[CellRow]:
    """The rows of cells (digest rows), each of the run named beside it."""
    if not facts:
        return []
    f = dict(zip(CellDigest._fields, zip(*facts, strict=True), strict=True))
    ok = ok_column(f["status"])
    app_ms, db_ms, per_cpu_s = cpu_columns(ok, f["requests"], f["app_cpu_s"], f["db_cpu_s"])
    return list(map(_ROW, zip(
        run_ids, f["scenario"], f["app"], f["connections"], f["repeat"],
        map(TEXT.__getitem__, f["status"]), f["reason"], f["rps"], f["error_rate"], f["p50_us"],
        f["p90_us"], f["p99_us"], f["timeouts"], f["requests"], app_ms, db_ms, per_cpu_s,
        map(bool, f["restarted"]), f["stuck"], ok, strict=True)))


def run_rows(run: RunCore) -> list[CellRow]:
    facts = digest.rows(run.cells)
    return rows(repeat(run.run_id, len(facts)), facts)


class CellRows(Sequence[CellRow]):
    """Every cell's row of `runs`, in run order, made on first read; `of_run` makes those of
    one run alone."""

    __slots__ = ("_rows", "_runs")

    def __init__(self, runs: Sequence[RunCore]):
        self._runs = runs
        self._rows: list[CellRow] | None = None

    def _all(self) -> list[CellRow]:
        if self._rows is None:
            self._rows = [r for run in self._runs for r in run_rows(run)]
        return self._rows

    def of_run(self, run_id: str) -> list[CellRow]:
        return [r for run in self._runs if run.run_id == run_id for r in run_rows(run)]

    def __len__(self) -> int:
        return sum(len(run.cells) for run in self._runs)

    @overload
    def __getitem__(self, i: int) -> CellRow: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[CellRow]: ...

    def __getitem__(self, i: int | slice) -> CellRow | Sequence[CellRow]:
        return self._all()[i]

    def __iter__(self) -> Iterator[CellRow]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"<rows of {len(self)} cells>"
