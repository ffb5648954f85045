"""Digests: what an analysis over many runs reads of a results file, cached beside it.

A report over a thousand runs reads a hundred thousand cells. Validating each results file into
model objects (pydantic) takes about 6 ms a run, and those objects about 4 KB a cell, while the
analysis of many runs reads a few values per cell. A digest holds exactly those:

- the run's own fields (config, environment, apps, ceilings, levels, ...), as the model has them;
- per cell a `CellDigest`: what the analysis reads of a `CellCore`, flat: its own fields under
  their names (scenario, app, connections, repeat, status, reason, settings, rps, error_rate,
  restarted, stuck, and `log` with its counts and examples, not its file), the expressions of
  its thresholds and the results that failed (a passing result's value is never read), the
  load's p50, p90 and p99 latency, timeouts, requests, driver, open loop and rate, and the
  app's and PostgreSQL's CPU seconds; no settle times, faults, samples or timelines.

`results/.digests/<run-id>.json` is the digest of `results/<run-id>.json`, written by
`store.save` with every save, otherwise on first read. It is a cache: the results file stays the
only source of truth. A digest is used only when it names the results file's current size,
mtime and inode, this DIGEST_VERSION and the model's field names (FINGERPRINT); missing, stale,
unreadable or malformed, it is made again from the results file, validated as always. A
directory that cannot be written to goes without. Bump DIGEST_VERSION when what a digest holds,
or what the model makes of a file (a migration), changes without a field name changing.

A run read through its digest is a `RunCore` whose `cells` are a `Cells` sequence: the digest's
rows (`facts`), and the results file's cells, read only if indexed or iterated. Equal settings,
error counts and log summaries are one shared object across a run's cells: read-only.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, overload

from harness.model import results
from harness.model.files import atomic_write
from harness.model.results import CellCore, CellStatus, LogSummary, RunCore, ThresholdResult

DIGEST_VERSION = 2  # 2: cells by column; thresholds as expressions checked and results failed
DIRECTORY = ".digests"
_IGNORE = "# ffbench: digests of the results files beside this directory (a cache)\n*\n"


class CellDigest(NamedTuple):
    """What the analysis of many runs reads of a CellCore (a named tuple: a thousand runs make
    a hundred thousand). The cell's own fields keep their names; the load's and the CPU time's
    are flattened, None when the cell has no load result (or no CPU time)."""

    scenario: str
    app: str
    connections: int
    repeat: int
    status: CellStatus
    reason: str | None
    settings: dict[str, str]
    rps: float | None
    error_rate: float | None
    p50_us: float | None  # load.latency_us["p50"]
    p90_us: float | None
    p99_us: float | None
    timeouts: int | None  # load.errors["timeout"]
    requests: int | None  # load.requests
    driver: str | None  # load.driver
    open_loop: bool  # load.open_loop
    rate: float | None  # load.rate
    app_cpu_s: float | None  # cpu.app_s
    db_cpu_s: float | None  # cpu.db_s
    thresholds_checked: tuple[str, ...]  # the expressions of `thresholds`, in order
    thresholds_failed: tuple[ThresholdResult, ...]  # the results that are not ok, in order
    log: LogSummary | None  # counts and examples; `file` is left out (None)
    restarted: str | None
    stuck: bool

    @property
    def ok(self) -> bool:
        return self.status is CellStatus.OK

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scenario, self.app, self.connections)


def of_cell(c: CellCore) -> CellDigest:
    load, cpu = c.load, c.cpu
    latency = {} if load is None else load.latency_us
    return CellDigest(
        c.scenario, c.app, c.connections, c.repeat, c.status, c.reason, c.settings, c.rps,
        c.error_rate, latency.get("p50"), latency.get("p90"), latency.get("p99"),
        None if load is None else load.errors.get("timeout", 0),
        None if load is None else load.requests, None if load is None else load.driver,
        load is not None and load.open_loop, None if load is None else load.rate,
        None if cpu is None else cpu.app_s, None if cpu is None else cpu.db_s,
        tuple(t.expr for t in c.thresholds), tuple(t for t in c.thresholds if not t.ok),
        None if c.log is None else LogSummary(None, c.log.counts, c.log.examples),
        c.restarted, c.stuck)


class Cells(Sequence[CellCore]):
    """A run's cells read through its digest: `facts` are the digest's rows; indexing or
    iterating reads the results file (once, without the sampled series) for the cells."""

    __slots__ = ("_cells", "_load", "facts")

    def __init__(self, facts: Sequence[CellDigest], load: Callable[[], Sequence[CellCore]]):
        self.facts = facts
        self._load = load
        self._cells: Sequence[CellCore] | None = None

    def _full(self) -> Sequence[CellCore]:
        if self._cells is None:
            self._cells = self._load()
        return self._cells

    def __len__(self) -> int:
        return len(self.facts)

    @overload
    def __getitem__(self, i: int) -> CellCore: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[CellCore]: ...

    def __getitem__(self, i: int | slice) -> CellCore | Sequence[CellCore]:
        return self._full()[i]

    def __iter__(self) -> Iterator[CellCore]:
        return iter(self._full())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"<{len(self)} cells read through a digest>"


def facts(cells: Sequence[CellCore]) -> Sequence[CellCore | CellDigest]:
    """A run's cells as the analysis reads them: a digest's rows when the run was read through
    one, else the cells themselves."""
    return cells.facts if isinstance(cells, Cells) else cells


def rows(cells: Sequence[CellCore | CellDigest]) -> Sequence[CellDigest]:
    """Cells as digest rows: a run's read through its digest as they are, model cells made
    into rows (of_cell)."""
    if isinstance(cells, Cells):
        return cells.facts
    return [c if isinstance(c, CellDigest) else of_cell(c) for c in cells]


# --- the file ------------------------------------------------------------------------------------

_PARTS = (results.RunCore, results.CellCore, results.LoadResult, results.CpuTime,
          results.LogSummary, results.ThresholdResult, results.AppInfo, results.Verification,
          results.Overhead, results.Ceilings, results.CpuLayout, results.LevelStop, CellStatus,
          results.RunStatus, results.StopReason, results.Sweep, results.Search,
          results.SearchStep, results.Candidate, results.SearchStop)
# The model's version and shape: a new format version, or a field added, renamed or removed
# anywhere a digest reads (an additive change of the format), makes every digest stale.
FINGERPRINT = f"{results.SCHEMA_VERSION};" + ";".join(
    f"{t.__name__}:" + ",".join(f.name for f in dataclasses.fields(t))
    if dataclasses.is_dataclass(t) else f"{t.__name__}:" + ",".join(m.value for m in t)
    for t in _PARTS)


def path_of(results_file: Path) -> Path:
    return results_file.parent / DIRECTORY / results_file.name


def _source(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


# The digest's cells are columns, one per CellDigest field; these are indices into tables of
# what many cells share, and a failed threshold result is [index of its check, value].
_TABLED = ("status", "settings", "log", "thresholds_checked", "thresholds_failed")


def dumps(run: RunCore, st: os.stat_result) -> bytes:
    """The digest of `run`, read from a results file whose stat is `st`: three lines of JSON,
    (1) what it is a digest of: its version, the model's FINGERPRINT, the file's size, mtime
    and inode; (2) the run's own fields, a RunCore without cells for the model's loader to
    validate; (3) the cells, column by column (a CellDigest field each), pointing into tables
    of what many cells share (settings, log summaries, the thresholds checked, the checks)."""
    import pydantic_core

    head = {f.name: getattr(run, f.name) for f in dataclasses.fields(RunCore)}
    head["cells"] = []
    tables: dict[str, dict[str, tuple[int, Any]]] = {
        "settings": {}, "logs": {}, "checked": {}, "checks": {}}

    def at(table: str, value: Any) -> int:
        """The index of `value` in the table; its JSON text is its identity, key order
        included (the report lists settings in the order the run recorded them)."""
        found = tables[table]
        return found.setdefault(json.dumps(value), (len(found), value))[0]

    rows = [c if isinstance(c, CellDigest) else of_cell(c) for c in facts(run.cells)]
    columns: dict[str, list[Any]] = {name: [] for name in CellDigest._fields}
    if rows:
        columns = {name: list(column) for name, column in
                   zip(CellDigest._fields, zip(*rows, strict=True), strict=True)}
    columns["status"] = [s.value for s in columns["status"]]
    columns["settings"] = [at("settings", v) for v in columns["settings"]]
    columns["log"] = [None if v is None else at("logs", [v.counts, v.examples])
                      for v in columns["log"]]
    columns["thresholds_checked"] = [at("checked", list(v)) for v in columns["thresholds_checked"]]
    columns["thresholds_failed"] = [
        [[at("checks", [t.expr, t.metric, t.unit]), t.value] for t in v] if v else None
        for v in columns["thresholds_failed"]]
    meta = {"digest_version": DIGEST_VERSION, "fingerprint": FINGERPRINT,
            "source": _source(st)}
    body: dict[str, Any] = {name: [value for _, value in found.values()]
                            for name, found in tables.items()}
    body["cells"] = columns
    return b"\n".join([json.dumps(meta).encode(), pydantic_core.to_json(head),
                       json.dumps(body, separators=(",", ":")).encode()]) + b"\n"


_STATUS_OF = {s.value: s for s in CellStatus}


def parse(data: bytes, st: os.stat_result) -> tuple[bytes, list[CellDigest]] | None:
    """The run's fields (JSON of a RunCore without cells, for the model's loader to validate)
    and the cells, if `data` is a digest of the results file whose stat is `st`; None if it is
    not (stale, or another version). A malformed digest raises ValueError, KeyError, TypeError
    or IndexError. Parsed by pydantic-core's JSON parser (twice as fast as json's), not
    validated: it was made from a validated run and is bound to that run's file. Column by
    column, the tables' values looked up by mapping in C: no step of Python per cell but for
    a failed threshold."""
    from pydantic_core import from_json

    meta, head, body = data.split(b"\n", 2)
    found = from_json(meta)
    if (found.get("digest_version") != DIGEST_VERSION or found.get("fingerprint") != FINGERPRINT
            or found.get("source") != _source(st)):
        return None
    doc = from_json(body, cache_strings="all")  # one str object per distinct name
    columns = doc["cells"]
    checks = doc["checks"]
    logs: dict[int | None, LogSummary | None] = {
        i: LogSummary(None, counts, examples) for i, (counts, examples) in enumerate(doc["logs"])}
    logs[None] = None
    tables: dict[str, dict[Any, Any]] = {
        "status": _STATUS_OF, "settings": dict(enumerate(doc["settings"])),
        "log": logs, "thresholds_checked": dict(enumerate(map(tuple, doc["checked"])))}
    for name, table in tables.items():
        columns[name] = map(table.__getitem__, columns[name])
    columns["thresholds_failed"] = [
        () if failed is None else
        tuple(ThresholdResult(checks[i][0], checks[i][1], value, checks[i][2], False)
              for i, value in failed)
        for failed in columns["thresholds_failed"]]
    # A column missing raises KeyError, one of the wrong length ValueError.
    return head, list(map(CellDigest._make, zip(*(columns[name] for name in CellDigest._fields),
                                                 strict=True)))


def write(results_file: Path, run: RunCore, st: os.stat_result) -> None:
    """Write the digest of `run` (read from `results_file`, whose stat is `st`) atomically;
    a directory that cannot be written to goes without."""
    target = path_of(results_file)
    try:
        data = dumps(run, st)
        if not target.parent.is_dir():
            target.parent.mkdir(exist_ok=True)  # another reader may be making it too
            (target.parent / ".gitignore").write_text(_IGNORE)
        atomic_write(target, data)
    except OSError:
        pass
