"""Results files: one JSON document per run, rewritten atomically as each cell completes."""

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import UsageError

SCHEMA_VERSION = 1


def utc_now():
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id():
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def new(run_id, command, scenario_file, config, environment):
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "started_at": utc_now(),
        "finished_at": None,
        "status": "incomplete",
        "command": command,
        "scenario_file": scenario_file,
        "config": config,
        "environment": environment,
        "apps": {},
        "cells": [],
    }


def save(run, path):
    """Write atomically: a reader (or a crash) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(run, f, indent=1, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path):
    try:
        with open(path) as f:
            run = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such results file") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a results JSON file ({exc})") from None
    if not isinstance(run, dict) or "schema_version" not in run:
        raise UsageError(f"{path}: not a results file (no schema_version)")
    if run["schema_version"] != SCHEMA_VERSION:
        raise UsageError(f"{path}: schema_version {run['schema_version']!r} is not supported "
                         f"(this harness reads {SCHEMA_VERSION})")
    return run


def load_many(paths):
    """Runs from files and directories (every *.json directly inside), oldest first."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.glob("*.json") if not q.name.startswith("."))
        else:
            files.append(p)
    runs = [load(f) for f in files]
    return sorted(runs, key=lambda r: r.get("started_at") or "")


def latest(directory):
    files = [p for p in Path(directory).glob("*.json") if not p.name.startswith(".")]
    if not files:
        raise UsageError(f"{directory}: no results files; run `python -m harness run` first")
    return load_many(files)[-1]
