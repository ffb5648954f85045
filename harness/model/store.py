"""Results files: read (any known version), write (atomically, the current version), find.

A reader, or a crash, never sees half a file: every save goes to a temporary file that replaces
the old one. The loader reads `schema_version` first and dispatches: the current version is
parsed and validated in one pass (pydantic's compiled JSON parser), older ones go through
`harness.model.migrate`. A file this harness does not understand is one line of error, exit 2.

Many runs are read through their digests (`harness.model.digest`): beside each results file, a
cache of what an analysis over many runs reads, written with every save and rebuilt from the
results file whenever it is missing or stale.
"""

from __future__ import annotations

import gc
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from harness.errors import UsageError
from harness.model import digest, migrate
from harness.model.files import atomic_write
from harness.model.results import SCHEMA_VERSION, Run, RunCore

_VERSION = re.compile(rb'"schema_version"\s*:\s*(-?\d+)')


@cache
def _adapter(full: bool = True) -> TypeAdapter:
    """pydantic's validator and serializer of whole runs, or (full=False) of runs without their
    sampled series (2-3x faster to parse). Each is built on first use: building takes 0.03 to
    0.1 s, and `compare` reads no whole run, a report of one run no digest."""
    return TypeAdapter(Run if full else RunCore)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def dumps(run: Run) -> bytes:
    return _adapter().dump_json(run, indent=1) + b"\n"


def save(run: Run, path: str | Path) -> None:
    """Write atomically: a reader (or a crash) never sees half a file. Its digest follows, made
    from the bytes written, as a reader would make it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dumps(run)
    st = atomic_write(path, data, durable=True)
    digest.write(path, loads(data, str(path), full=False), st)


def loads(data: bytes, source: str = "<results>", full: bool = True) -> RunCore:
    """A Run from the bytes of a results file of any supported version; with full=False a
    RunCore, which leaves out the cells' sampled time series."""
    adapter = _adapter(full)
    head = _VERSION.search(data[:4096]) or _VERSION.search(data)
    if head is None:
        raise UsageError(f"{source}: not a results file (no schema_version)")
    version = int(head.group(1))
    try:
        if version == SCHEMA_VERSION:
            return adapter.validate_json(data)
        if version in migrate.UPGRADES:
            return adapter.validate_python(migrate.upgrade(json.loads(data), version))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"{source}: not a valid version-{version} results file: {where}: "
                         f"{first['msg']}") from None
    except ValueError as exc:
        raise UsageError(f"{source}: not a results JSON file ({exc})") from None
    raise UsageError(f"{source}: schema_version {version} is not supported (this harness reads "
                     f"{', '.join(map(str, sorted({*migrate.UPGRADES, SCHEMA_VERSION})))})")


def load(path: str | Path, full: bool = True) -> Run:
    """One results file, whole (or, with full=False, without the sampled time series)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such results file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    return loads(data, str(path), full)  # type: ignore[return-value]


def load_cores(paths: Sequence[str | Path]) -> list[RunCore]:
    """Each file's run without its sampled series, in the order given, read through its digest
    (made, or remade, from the file when missing or stale): fast by the thousand. The runs'
    `cells` hold the digest rows (digest.facts) and read the file if indexed or iterated."""
    with no_gc():
        return [_load_core(Path(p)) for p in paths]


@contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused: loading and analysing 10^5 cells makes millions of
    objects, none of them in a cycle, and each collection would scan all of them again. On
    leaving, what was made meanwhile is moved out of the collector's sight (gc.freeze) before
    it runs again, or its next collections would scan it all (0.5 s of `compare` over a
    thousand runs); it is freed as always when released."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()


def _load_core(path: Path) -> RunCore:
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such results file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    with f:
        st = os.fstat(f.fileno())  # the file as opened: a save meanwhile replaces, never edits
        try:
            found = digest.parse(digest.path_of(path).read_bytes(), st)
            if found is not None:
                head, cells = found
                run = _adapter(full=False).validate_json(head)
                run.cells = digest.Cells(cells, lambda: load(path, full=False).cells)
                return run
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            pass  # missing, unreadable or malformed: made again from the results file
        try:
            data = f.read()
        except OSError as exc:
            raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    run = loads(data, str(path), full=False)
    digest.write(path, run, st)
    run.cells = digest.Cells([digest.of_cell(c) for c in run.cells],
                             lambda: load(path, full=False).cells)
    return run


# A run's file is named after its run id (new_run_id): a directory scan takes those only, so the
# report's own JSON (findings.json) or any other file beside the results is never mistaken.
_RUN_FILE = re.compile(r"^\d{8}T\d{6}Z.*\.json$")


def files(paths: list[str | Path]) -> list[Path]:
    """Results files named directly, or every run's file directly inside a named directory."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.glob("*.json") if _RUN_FILE.match(q.name))
        else:
            out.append(p)
    return out


def load_many(paths: list[str | Path], full: bool = False) -> list[RunCore]:
    """Runs from files and directories, oldest first; without their sampled time series unless
    `full` (a report over many runs needs the series of the newest alone), then read through
    their digests (load_cores)."""
    found = files(paths)
    runs = [load(f) for f in found] if full else load_cores(found)
    return sorted(runs, key=lambda r: r.started_at or "")


def latest(directory: str | Path) -> Run:
    """The newest run of a directory, whole."""
    found = files([directory]) if Path(directory).is_dir() else []
    if not found:
        raise UsageError(f"{directory}: no results files; run `python -m harness run` first")
    cores = load_cores(found)
    return load(found[max(range(len(found)), key=lambda i: cores[i].started_at or "")])


def schema() -> dict:
    """The JSON Schema of a results file, generated from the model."""
    out = _adapter().json_schema()
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = f"flask-fastapi-bench results file, schema_version {SCHEMA_VERSION}"
    return out
