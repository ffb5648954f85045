"""wrk: the Lua summary script, the command line, the summary it writes, and one bounded run.

wrk's text output hides zero error lines and rounds latencies, so a rendered Lua script
(wrk_summary.lua) writes every count as JSON from done(). wrk takes whole seconds only
(`-d 500ms` and `--timeout 1.5s` are usage errors), so durations are rounded up.
"""

import json
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from harness.config.scenarios import UNIQUE, is_loopback
from harness.errors import Interrupted, MissingTool, UsageError
from harness.measure import procs
from harness.model.results import LoadResult

TEMPLATE = Path(__file__).with_name("wrk_summary.lua")
ERROR_KINDS = ("connect", "read", "write", "status", "timeout")
LATENCY_KEYS = ("min", "mean", "stdev", "max", "p50", "p75", "p90", "p99", "p99.9")
GRACE_S = 10  # beyond duration + timeout before a wrk process counts as hung


class WrkError(RuntimeError):
    """wrk failed or produced no usable summary: the cell fails with this message as reason."""


def threads_for(connections, max_threads):
    """The most threads <= max_threads that split the connections evenly.

    wrk gives each thread connections // threads connections, so `-t12 -c200` opens only 192.
    """
    t = max(1, min(max_threads, connections))
    while connections % t:
        t -= 1
    return t


def whole_seconds(seconds):
    """wrk's resolution: whole seconds, at least one."""
    return max(1, math.ceil(seconds))


def lua_string(text):
    """A Lua string literal for any text: bytes outside printable ASCII become \\ddd escapes."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        else:
            out.append(c if 32 <= b < 127 else f"\\{b:03d}")  # always 3 digits: unambiguous
    return '"' + "".join(out) + '"'


def render_script(request, out_path, nonce):
    """The Lua script for one run: the request, and done() writing the summary to out_path."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", nonce):
        raise ValueError(f"nonce must be letters, digits, '_' or '-' (got {nonce!r})")
    dynamic = request.body is not None and UNIQUE in request.body
    headers = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}"
                        for k, v in request.headers.items())
    values = {
        "OUT_PATH": lua_string(str(out_path)),
        "BODY_TEMPLATE": lua_string(request.body) if dynamic else "nil",
        "NONCE": lua_string(nonce),
        "METHOD": lua_string(request.method),
        "PATH": lua_string(request.path),
        "BODY": "nil" if request.body is None else lua_string(request.body),
        "HEADERS": "{" + headers + "}",
    }
    # One pass, so a value that happens to contain "@PATH@" is never substituted again.
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], TEMPLATE.read_text())


def command(url, connections, threads, duration, timeout, script_path, prefix=()):
    """wrk's argv. --timeout is always explicit: wrk's default (2 s) would hide slow requests.
    `prefix` (e.g. taskset -c 3) places wrk on its own CPUs."""
    return [*prefix, "wrk", f"-t{threads}", f"-c{connections}", f"-d{whole_seconds(duration)}s",
            "--timeout", f"{whole_seconds(timeout)}s", "-s", str(script_path), url]


def parse_summary(text):
    """Validate the JSON written by done(); WrkError names the first problem."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise WrkError(f"wrk summary is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise WrkError("wrk summary is not a JSON object")

    def count(value, where):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
                or value != int(value):
            raise WrkError(f"wrk summary: {where} must be a non-negative integer (got {value!r})")
        return int(value)

    def section(key, fields):
        value = data.get(key)
        missing = [f for f in fields if not isinstance(value, dict) or f not in value]
        if missing:
            raise WrkError(f"wrk summary: {key} lacks {', '.join(missing)}")
        return value

    summary = {k: count(data.get(k), k) for k in ("requests", "duration_us", "bytes")}
    errors = section("errors", ERROR_KINDS)
    summary["errors"] = {k: count(errors[k], f"errors.{k}") for k in ERROR_KINDS}
    latency = section("latency_us", LATENCY_KEYS)
    values = [latency[k] for k in LATENCY_KEYS]
    # All null means no response arrived within the timeout: there is no latency to report.
    if any(v is None for v in values) and any(v is not None for v in values):
        raise WrkError("wrk summary: latency_us must be all numbers or all null")
    for k, v in zip(LATENCY_KEYS, values, strict=True):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
            raise WrkError(f"wrk summary: latency_us.{k} must be a non-negative number (got {v!r})")
    summary["latency_us"] = {k: latency[k] for k in LATENCY_KEYS}
    return summary


def run(url, request, connections, max_threads, duration, timeout, workdir,
        prefix=(), script_suffix="") -> LoadResult:
    """Run wrk once: what it counted, with the threads, connections and whole seconds used.

    `url` may be the service's base URL or the full URL: the script always sends request.path.
    `script_suffix` is Lua appended to the script (harness.measure.timeline counts answers over
    time with it).

    Raises UsageError for a non-loopback URL, MissingTool without wrk, WrkError if wrk fails,
    hangs past duration + timeout + GRACE_S, or writes no summary.
    """
    host = urlsplit(url).hostname
    if not is_loopback(host):
        raise UsageError(f"{url}: refusing to load a non-loopback host ({host}); "
                         "allowed: 127.0.0.0/8, localhost, [::1]")
    if shutil.which("wrk") is None:
        raise MissingTool("wrk not found: install it with `sudo apt-get install wrk`")
    threads = threads_for(connections, max_threads)
    duration_s, timeout_s = whole_seconds(duration), whole_seconds(timeout)
    nonce = secrets.token_hex(6)  # fresh per run: {{unique}} values never repeat across runs
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    out_path = workdir / f"wrk-{nonce}.json"
    script = workdir / f"wrk-{nonce}.lua"
    script.write_text(render_script(request, out_path.resolve(), nonce) + script_suffix)
    argv = command(url, connections, threads, duration_s, timeout_s, script, prefix)
    # Own process group, so stopping it can never reach the harness or the app servers.
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace",
                            start_new_session=True)
    registry = procs.REGISTRY  # recorded, so that a SIGKILLed harness leaves no wrk running
    if registry is not None:
        registry.add_group(proc.pid)
    try:
        stdout, stderr = proc.communicate(timeout=duration_s + timeout_s + GRACE_S)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise WrkError(f"wrk still running {GRACE_S} s after duration + timeout; killed") from None
    except (KeyboardInterrupt, Interrupted):
        _kill(proc)
        raise
    finally:
        if registry is not None:
            registry.drop_group(proc.pid)
    if proc.returncode != 0:
        # e.g. "unable to connect to 127.0.0.1:8000 Connection refused": wrk's own words.
        lines = stderr.strip().splitlines() or stdout.strip().splitlines()
        last = lines[-1] if lines else f"exit code {proc.returncode}"
        raise WrkError(f"wrk failed: {last}")
    try:
        text = out_path.read_text()
    except FileNotFoundError:
        raise WrkError("wrk wrote no summary (did the Lua script fail?): "
                       + (stderr.strip()[-300:] or "no stderr")) from None
    summary = parse_summary(text)
    out_path.unlink()
    script.unlink()  # kept only when something failed, to debug it
    return LoadResult(**summary, threads=threads, connections=connections,
                      duration_s=duration_s, timeout_s=timeout_s, driver="wrk")


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
