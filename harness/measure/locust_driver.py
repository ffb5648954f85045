"""Locust as a load driver: the same request model as wrk's, rendered into a locustfile, run
headless as one master with worker processes, its merged statistics parsed into a LoadResult.

Closed loop (no rate): one Locust user per connection sends its next request when the answer
came, as a wrk connection does. Open loop (a rate): each user sends on a schedule and latency is
measured from the intended send time (locustfile.py.tmpl says how). The master starts N local
workers, and may also wait for workers started on other machines (docs/scale.md).

Locust is never imported here: importing it monkey-patches the whole process (gevent). The
harness only starts `locust` processes and reads the JSON file the master writes at the end.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.config.scenarios import Request, is_loopback
from harness.errors import MissingTool, UsageError
from harness.measure import postgres, procs, sampler, wrk
from harness.model.results import LoadResult

TEMPLATE = Path(__file__).with_name("locustfile.py.tmpl")
ERROR_KINDS = (*wrk.ERROR_KINDS, "other")
PERCENTILES = (("p50", 50.0), ("p75", 75.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))
LOCAL_WAIT_S = 30  # local workers must have connected to the master within this
REMOTE_WAIT_S = 120  # ... workers on other machines (started by hand, in a loop)
GRACE_S = 20  # beyond connect wait + duration + timeout before the run counts as hung
REMOTE_PORT = 5557  # Locust's default master port: what remote workers connect to
MAX_FAILURE_MESSAGES = 20


class LocustError(wrk.WrkError):
    """Locust failed or wrote no usable result: the cell fails with this message as reason."""


def executable() -> list[str]:
    """The `locust` command of the harness's own environment (its process name is `locust`,
    which the sampler counts as the load generator's)."""
    beside = Path(sys.executable).with_name("locust")
    found = str(beside) if beside.exists() else shutil.which("locust")
    if found is None:
        raise MissingTool("locust not found: install it with "
                          "`.venv/bin/pip install -r requirements.txt`")
    return [found]


def render_locustfile(request: Request, *, host: str, users: int, rate: float | None,
                      timeout: float, nonce: str, result_path: str | Path,
                      workers: int = 1) -> str:
    """The locustfile of one run: the template with its CONFIG line set."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", nonce):
        raise ValueError(f"nonce must be letters, digits, '_' or '-' (got {nonce!r})")
    config = {
        "host": host, "method": request.method, "path": request.path,
        "name": f"{request.method} {request.path}", "headers": dict(request.headers),
        "body": request.body, "users": users, "rate": rate, "timeout": timeout,
        "nonce": nonce, "result_path": str(result_path), "workers": workers,
    }
    # repr() of a str is always a valid Python literal, whatever the request holds.
    line = f"CONFIG = json.loads({json.dumps(config)!r})"
    template = TEMPLATE.read_text()
    marker = "CONFIG = {}  # @CONFIG@"
    if template.count(marker) != 1:
        raise AssertionError(f"{TEMPLATE.name} must hold the line {marker!r} once")
    return template.replace(marker, line)


def spawn_rate(users: int) -> int:
    """Users started per second: all of them within about 0.1 s, as wrk opens its connections."""
    return max(10, users * 10)


def master_command(locustfile: str | Path, users: int, seconds: float, expect_workers: int,
                   bind_host: str, bind_port: int, wait: float) -> list[str]:
    """The master: headless, waits for `expect_workers`, runs `seconds`, exit 0 even when
    requests failed (failures are data: the error rate), statistics reset once every user runs."""
    return [*executable(), "-f", str(locustfile), "--master", "--headless",
            "--master-bind-host", bind_host, "--master-bind-port", str(bind_port),
            "--expect-workers", str(expect_workers),
            "--expect-workers-max-wait", str(int(wait)),
            "-u", str(users), "-r", str(spawn_rate(users)), "-t", f"{math.ceil(seconds)}s",
            "--reset-stats", "--only-summary", "--exit-code-on-error", "0", "--loglevel", "INFO"]


def worker_command(locustfile: str | Path, master_host: str, master_port: int) -> list[str]:
    """A worker. On another machine, `locustfile` may be "-": it is fetched from the master."""
    return [*executable(), "-f", str(locustfile), "--worker", "--master-host", master_host,
            "--master-port", str(master_port), "--reset-stats", "--loglevel", "INFO"]


def percentile(histogram: Sequence[tuple[float, int]], total: int, p: float) -> float:
    """The smallest bucket value with at least p% of `total` at or below it (sorted buckets)."""
    rank = max(1, math.ceil(total * p / 100.0))
    seen = 0
    for value, count in histogram:
        seen += count
        if seen >= rank:
            return value
    return histogram[-1][0]


def latency_us(entry: Mapping[str, Any]) -> dict[str, float | None]:
    """wrk's latency keys, in µs, from one merged entry: min, max and mean from Locust's exact
    sums, stdev and the percentiles from its histogram (3 significant digits, see the
    template). All None when no answer came (as wrk reports it)."""
    answered = entry["num_requests"] - entry["num_none_requests"]
    buckets = sorted((float(k), int(v)) for k, v in entry["response_times"].items() if v)
    if answered <= 0 or not buckets:
        return dict.fromkeys(wrk.LATENCY_KEYS)
    n = sum(c for _, c in buckets)
    mean = entry["total_response_time"] / answered
    variance = sum(c * (v - mean) ** 2 for v, c in buckets) / n
    out: dict[str, float | None] = {
        "min": entry["min_response_time"], "mean": mean, "stdev": math.sqrt(variance),
        "max": entry["max_response_time"],
    }
    for key, p in PERCENTILES:
        out[key] = percentile(buckets, n, p)
    return {k: None if out[k] is None else round(float(out[k] or 0.0) * 1000, 1)
            for k in wrk.LATENCY_KEYS}  # ms -> µs


def error_kind(message: str) -> str:
    """The kind of a failure message written by the locustfile ("status: 500" wrapped in
    CatchResponseError(...)); any other message is "other"."""
    m = re.search(r"""(?:^|['"(])(connect|read|write|status|timeout|other):""", message)
    return m.group(1) if m else "other"


def merge(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One entry from Locust's per-name entries (the harness sends one name, but be safe)."""
    merged: dict[str, Any] = {"num_requests": 0, "num_none_requests": 0, "num_failures": 0,
                              "total_response_time": 0.0, "total_content_length": 0,
                              "min_response_time": None, "max_response_time": None,
                              "response_times": {}}
    for e in entries:
        for k in ("num_requests", "num_none_requests", "num_failures", "total_response_time",
                  "total_content_length"):
            merged[k] += e[k]
        for k, pick in (("min_response_time", min), ("max_response_time", max)):
            if e.get(k) is not None:
                merged[k] = e[k] if merged[k] is None else pick(merged[k], e[k])
        for bucket, count in e["response_times"].items():
            merged["response_times"][bucket] = merged["response_times"].get(bucket, 0) + count
    return merged


def parse_result(data: Any, *, users: int, seconds: float, timeout: float,
                 rate: float | None, workers: int) -> LoadResult:
    """The master's result file as a LoadResult, with wrk's meanings: `requests` counts the
    answers (any status), `errors` the failures by kind, latency only over answered requests."""
    if not isinstance(data, dict) or not isinstance(data.get("stats"), list) \
            or not isinstance(data.get("errors"), list):
        raise LocustError("locust result: not an object with stats and errors")
    reported = data.get("reported")
    if isinstance(reported, int) and reported < workers:
        raise LocustError(f"the final statistics of {workers - reported} of {workers} Locust "
                          "workers did not reach the master: their counts would be short")
    try:
        entry = merge(data["stats"])
        latency = latency_us(entry)
    except (KeyError, TypeError, ValueError) as e:
        raise LocustError(f"locust result: malformed stats ({e!r})") from None
    errors = dict.fromkeys(ERROR_KINDS, 0)
    messages: dict[str, int] = {}
    for item in data["errors"]:
        message, count = str(item.get("error")), int(item.get("occurrences") or 0)
        errors[error_kind(message)] += count
        messages[message] = messages.get(message, 0) + count
    top = dict(sorted(messages.items(), key=lambda kv: -kv[1])[:MAX_FAILURE_MESSAGES])
    t0, t1 = (data.get("window") or [None, None])[:2]
    window = (t1 - t0) if isinstance(t0, (int, float)) and isinstance(t1, (int, float)) \
        and t1 > t0 else seconds
    cpu = {str(k): float(v) for k, v in (data.get("cpu") or {}).items()}
    saturated = bool(data.get("cpu_warning")) or any(v >= sampler.SATURATED
                                                     for v in cpu.values())
    return LoadResult(
        requests=int(entry["num_requests"] - entry["num_none_requests"]),
        duration_us=round(window * 1e6), bytes=int(entry["total_content_length"]),
        errors=errors, latency_us=latency, threads=workers, connections=users,
        duration_s=seconds, timeout_s=timeout, driver="locust", open_loop=rate is not None,
        rate=rate, failures=top, generator_cpu=cpu or None,
        generator_saturated=saturated if cpu or data.get("cpu_warning") else None)


def run(url: str, request: Request, connections: int, seconds: float, timeout: float,
        workdir: str | Path, *, workers: int = 1, remote_workers: int = 0,
        rate: float | None = None, cpus: Sequence[int] | None = None) -> LoadResult:
    """Run Locust once: a master and `workers` local worker processes (and, with
    `remote_workers`, that many more started elsewhere), `connections` users, `seconds` of load.

    Every process is in its own process group, recorded for the leftovers registry, and stopped
    on success, on error and on Ctrl-C/SIGTERM; the whole run is bounded in time.
    Raises UsageError for a non-loopback URL, MissingTool without locust, LocustError if Locust
    fails, hangs, or writes no result."""
    parts = urlsplit(url)
    if not is_loopback(parts.hostname):
        raise UsageError(f"{url}: refusing to load a non-loopback host ({parts.hostname}); "
                         "allowed: 127.0.0.0/8, localhost, [::1]")
    executable()  # MissingTool before anything is written or started
    total = workers + remote_workers
    if total < 1:
        raise ValueError("at least one worker is needed")
    nonce = secrets.token_hex(6)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    result_path = (workdir / f"locust-{nonce}.json").resolve()
    locustfile = workdir / f"locust-{nonce}.py"
    locustfile.write_text(render_locustfile(
        request, host=f"{parts.scheme}://{parts.netloc}", users=connections, rate=rate,
        timeout=timeout, nonce=nonce, result_path=result_path, workers=total))
    if remote_workers:  # a fixed, documented port that workers elsewhere can be told
        bind_host = os.environ.get("LOCUST_MASTER_BIND_HOST", "127.0.0.1")
        bind_port = int(os.environ.get("LOCUST_MASTER_BIND_PORT", REMOTE_PORT))
        wait = REMOTE_WAIT_S
    else:
        bind_host, bind_port, wait = "127.0.0.1", postgres.free_port(), LOCAL_WAIT_S
    logs = [workdir / f"locust-{nonce}-master.log"]
    started = []
    try:
        master = procs.start(master_command(locustfile, connections, seconds, total, bind_host,
                                            bind_port, wait),
                             log_path=str(logs[0]), cpus=list(cpus) if cpus else None)
        started.append(master)
        # Local workers reach the master where it listens (all interfaces: over loopback).
        here = "127.0.0.1" if bind_host in ("0.0.0.0", "*", "", "::") else bind_host
        for i in range(workers):
            logs.append(workdir / f"locust-{nonce}-worker-{i + 1}.log")
            started.append(procs.start(worker_command(locustfile, here, bind_port),
                                       log_path=str(logs[-1]), cpus=list(cpus) if cpus else None))
        deadline = time.monotonic() + wait + seconds + timeout + GRACE_S
        while master.poll() is None:
            if time.monotonic() > deadline:
                raise LocustError(f"locust still running {GRACE_S} s after its duration; killed "
                                  f"(see {logs[0]})")
            time.sleep(0.1)
        # The workers got "quit" from the master: give them a moment to leave on their own.
        end = time.monotonic() + 5
        while time.monotonic() < end and any(p.poll() is None for p in started[1:]):
            time.sleep(0.05)
    finally:  # also on LocustError, Ctrl-C and SIGTERM (Interrupted)
        procs.stop(*started, timeout=5)
    if master.returncode != 0:
        raise LocustError(f"locust failed (exit code {master.returncode}): "
                          f"{_last_line(logs[0])} (see {logs[0]})")
    try:
        data = json.loads(result_path.read_text())
    except FileNotFoundError:
        raise LocustError(f"locust wrote no result: {_last_line(logs[0])}") from None
    except ValueError as e:
        raise LocustError(f"locust result is not JSON: {e}") from None
    result = parse_result(data, users=connections, seconds=seconds, timeout=timeout, rate=rate,
                          workers=total)
    for path in (result_path, locustfile, *logs):  # kept only when something failed
        path.unlink(missing_ok=True)
    return result


def _last_line(path: Path) -> str:
    """The master log's last error, or its last line: Locust's own words."""
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    errors = [ln for ln in lines if "ERROR" in ln or "Error" in ln]
    return (errors or lines or ["no output"])[-1][-300:]
