"""Settings given on the command line (`run --duration 2s --repeats 2 ...`), applied to every
selected scenario through the validation the scenario file's keys get.

A mistake is one line naming the flag, like the file's errors name their key:
`--duration: must be whole seconds >= 1, like 10s, 5m or 10 (wrk's resolution) (got '2.5s')`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

from harness.config import scenarios
from harness.config.scenarios import Scenario, ScenarioFile
from harness.errors import UsageError

# scenario key -> its flag; in the order they are applied and shown
FLAGS = {
    "duration": "--duration",
    "warmup": "--warmup",
    "connections": "--connections",
    "threads": "--threads",
    "repeats": "--repeats",
    "budget": "--budget",
    "min_repeats": "--min-repeats",
    "max_repeats": "--max-repeats",
    "profile": "--profile",
}
HELP = {
    "duration": "measured seconds of each cell, like 10s or 2m",
    "warmup": "warmup before each cell (0 for none)",
    "connections": "comma-separated connection levels, like 1,12,48",
    "threads": "wrk threads (at most; a divisor of each connection count is used)",
    "repeats": "N fixed rounds per level (turns adaptive rounds off)",
    "budget": "adaptive rounds: seconds of load per level; 'null' for fixed repeats",
    "min_repeats": "adaptive rounds: at least this many rounds per level",
    "max_repeats": "adaptive rounds: at most this many rounds per level",
    "profile": "after the rounds at this connection level ('max': the highest), one more cell "
               "per app sampled with py-spy: where its CPU goes ('off': none)",
}
NULL = ("null", "none", "off")
_INT = re.compile(r"^\s*[+-]?\d+\s*$")
_TIME = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|m|h|d)?\s*$")
_TIME_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
SOURCE = "command line"


def _number(text: str) -> Any:
    """What YAML would have read: an int for digits, else the text (which the parser judges)."""
    return int(text) if _INT.match(text) else text


def parse(values: Mapping[str, str | None]) -> dict[str, Any]:
    """Flag values (text as typed; None: not given) -> scenario keys with validated values.

    --repeats N means N fixed rounds: it sets budget to null, and cannot go with --budget."""
    given = {k: v for k, v in values.items() if v is not None}
    for key in given:
        if key not in FLAGS:
            raise AssertionError(key)
    if "repeats" in given and "budget" in given \
            and given["budget"].strip().lower() not in NULL:
        raise UsageError("--repeats and --budget: choose one (--repeats N runs N fixed rounds; "
                         "--budget runs adaptive rounds)")
    checker = scenarios._Parser(SOURCE, ())  # the scenario file's own validation
    out: dict[str, Any] = {}
    for key, flag in FLAGS.items():
        if key not in given:
            continue
        text = given[key]
        raw: Any
        if key == "connections":
            raw = [_number(part) for part in text.split(",")] if text.strip() else []
        elif key in ("budget", "profile") and text.strip().lower() in NULL:
            raw = None
        elif key == "profile" and text.strip().lower() in ("true", "max"):
            raw = True
        else:
            raw = _number(text)
        if key == "profile" and raw is not None and raw is not True \
                and (not isinstance(raw, int) or not 1 <= raw <= scenarios.MAX_CONNECTIONS):
            raise UsageError(f"--profile: must be a connection level, 'max' (each scenario's "
                             f"highest) or 'off' (got {text!r})")
        try:
            out[key] = checker.value(key, raw, flag)
        except UsageError as exc:
            raise UsageError(str(exc).removeprefix(f"{SOURCE}: ")) from None
    if "repeats" in out:
        out["budget"] = None
    if "min_repeats" in out and "max_repeats" in out \
            and out["max_repeats"] < out["min_repeats"]:
        raise UsageError(f"--max-repeats: must be at least --min-repeats ({out['min_repeats']})"
                         f" (got {out['max_repeats']})")
    return out


def apply(sf: ScenarioFile, changes: Mapping[str, Any]) -> ScenarioFile:
    """Every scenario of `sf` with `changes` (validated by parse) in place of its own values."""
    if not changes:
        return sf
    return dataclasses.replace(sf, scenarios=tuple(_apply(s, changes) for s in sf.scenarios))


def _apply(s: Scenario, changes: Mapping[str, Any]) -> Scenario:
    asked = changes.get("profile")
    levels = changes.get("connections", s.connections)
    if asked is True:  # the highest level of each scenario
        changes = {**changes, "profile": max(levels)}
    elif asked is not None and asked not in levels:
        raise UsageError(f"--profile: must be one of the connection levels of scenario {s.name} "
                         f"({', '.join(map(str, levels))}) (got {asked})")
    new = dataclasses.replace(s, **changes)
    if new.max_repeats < new.min_repeats:
        flag = FLAGS["max_repeats" if "max_repeats" in changes else "min_repeats"]
        raise UsageError(f"{flag}: scenario {s.name} would run at most {new.max_repeats} and at "
                         f"least {new.min_repeats} rounds; give --min-repeats and --max-repeats "
                         "together")
    return new


def described(changes: Mapping[str, Any]) -> str:
    """The overrides as flags, for the plan: '--duration 2s --repeats 2'."""
    parts = []
    for key, flag in FLAGS.items():
        if key not in changes or (key == "budget" and "repeats" in changes):
            continue
        value = changes[key]
        if key == "connections":
            text = ",".join(map(str, value))
        elif key in ("duration", "warmup", "budget"):
            text = "null" if value is None else f"{value:g}s"
        elif key == "profile" and value in (None, True):
            text = "off" if value is None else "max"
        else:
            text = str(value)
        parts.append(f"{flag} {text}")
    return " ".join(parts)


def parse_max_time(text: str) -> float:
    """--max-time: a duration like 30h, 2d or 90m (seconds without a unit)."""
    match = _TIME.match(text)
    seconds = float(match.group(1)) * _TIME_UNITS[match.group(2)] if match else math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"--max-time: must be a duration like 30h, 2d or 90m (got {text!r})")
    return seconds
