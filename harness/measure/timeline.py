"""Throughput over time within one cell, counted by wrk itself.

wrk reports totals only. A Lua `response()` callback, appended to the cell's wrk script, counts
every answer in the wrk thread that received it, in intervals of CLOCK_MONOTONIC read through
LuaJIT's FFI (Debian's wrk is built on LuaJIT), by status class; `done()` collects the threads'
counts (`thread:get`) and writes them as JSON. CLOCK_MONOTONIC is also Python's
`time.monotonic()`, so the intervals line up with the harness's own clock: with the fault
injector's times (harness.measure.faults) and the start of the load.

Why not the alternatives (docs/faults.md): consecutive short wrk runs have wrk's whole-second
resolution and reconnect at every boundary; a poller beside wrk samples what one more client
sees, not the throughput. The callback costs wrk a Lua call and a headers table per answer;
at the 1,000-2,000 req/s these apps serve that is well under 1% of a core.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from harness.measure import wrk
from harness.model.results import TIMELINE_COLUMNS, LoadResult, Timeline

# Appended to wrk_summary.lua: it keeps that script's setup() and done() and adds its own.
LUA = r"""
-- harness/measure/timeline.py: answers per interval of CLOCK_MONOTONIC, by status class.
local timeline_ffi = require("ffi")
timeline_ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } harness_timespec_t;
int clock_gettime(int clk_id, harness_timespec_t *tp);
]]
local timeline_ts = timeline_ffi.new("harness_timespec_t")
local timeline_width = @WIDTH@
local timeline_path = @PATH@

-- In each thread's own Lua state: (interval number * 8 + status class) -> answers; class 0
-- counts every answer.
timeline_counts = {}

function response(status, headers, body)
   timeline_ffi.C.clock_gettime(1, timeline_ts)  -- 1: CLOCK_MONOTONIC
   local now = tonumber(timeline_ts.tv_sec) + tonumber(timeline_ts.tv_nsec) * 1e-9
   local slot = math.floor(now / timeline_width) * 8
   timeline_counts[slot] = (timeline_counts[slot] or 0) + 1
   local class = math.floor(status / 100)
   if class >= 2 and class <= 5 then
      timeline_counts[slot + class] = (timeline_counts[slot + class] or 0) + 1
   end
end

local timeline_threads = {}
local timeline_setup = setup
function setup(thread)
   if timeline_setup then timeline_setup(thread) end
   timeline_threads[#timeline_threads + 1] = thread
end

local timeline_done = done
function done(summary, latency, requests)
   timeline_done(summary, latency, requests)
   local parts = {}
   for _, thread in ipairs(timeline_threads) do
      for key, count in pairs(thread:get("timeline_counts")) do
         parts[#parts + 1] = string.format("[%.0f,%.0f]", key, count)
      end
   end
   local f = assert(io.open(timeline_path, "w"))
   f:write("[" .. table.concat(parts, ",") .. "]\n")
   f:close()
end
"""


def script(interval: float, path: str | Path) -> str:
    """The Lua to append to a wrk script: counts per `interval` seconds, written to `path`."""
    if not (isinstance(interval, (int, float)) and 0 < interval and math.isfinite(interval)):
        raise ValueError(f"interval must be a positive number of seconds (got {interval!r})")
    values = {"WIDTH": repr(float(interval)), "PATH": wrk.lua_string(str(path))}
    return LUA.replace("@WIDTH@", values["WIDTH"]).replace("@PATH@", values["PATH"])


def parse(text: str, interval: float, origin: float, span: float | None = None) -> Timeline:
    """The JSON written by the script -> a Timeline with `t` in seconds from `origin` (a
    time.monotonic() value): one row per interval from the first answer to the last, and with
    `span` (the seconds the load ran) at least from `origin` to `origin + span`: an app that
    answers nothing for a while shows as empty intervals, at the start and the end too."""
    try:
        pairs = json.loads(text)
        counts: dict[int, dict[int, int]] = {}
        for key, count in pairs:
            slot, cls = divmod(int(key), 8)
            row = counts.setdefault(slot, {})
            row[cls] = row.get(cls, 0) + int(count)
    except (ValueError, TypeError) as exc:
        raise wrk.WrkError(f"wrk timeline is not a list of [key, count] pairs: {exc}") from None
    slots = set(counts)
    if span is not None:
        slots |= {math.floor(origin / interval), math.floor((origin + span) / interval)}
    rows: list[list[float]] = []
    if slots:
        for slot in range(min(slots), max(slots) + 1):
            row = counts.get(slot, {})
            rows.append([round(slot * interval - origin, 3), row.get(0, 0),
                         *(row.get(c, 0) for c in (2, 3, 4, 5))])
    return Timeline(interval_s=interval, columns=list(TIMELINE_COLUMNS), rows=rows)


def run(url, request, connections, threads, seconds, timeout, workdir, interval,
        origin=None, prefix=()) -> tuple[LoadResult, Timeline]:
    """wrk.run with the timeline script: its totals, and the answers per `interval` with `t`
    relative to `origin` (default: now, just before wrk starts)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"timeline-{time.monotonic_ns()}.json"
    origin = time.monotonic() if origin is None else origin
    result = wrk.run(url, request, connections, threads, seconds, timeout, workdir,
                     prefix=prefix, script_suffix=script(interval, out.resolve()))
    try:
        text = out.read_text()
    except FileNotFoundError:
        raise wrk.WrkError("wrk wrote no timeline (did the Lua script fail?)") from None
    out.unlink()
    return result, parse(text, interval, origin, span=result.duration_s)
