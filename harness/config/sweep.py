"""Sweeps: the settings a scenario searches, per app, for each stack's best configuration.

```yaml
sweep:
  flask_sync:
    WEB_CONCURRENCY: [1, 2, 3, 4]
    WORKER_CLASS/THREADS: [sync/1, gthread/1, gthread/4]   # moved together
sweep_budget: 150s    # load time of each app's search
sweep_rounds: 2       # cells of each configuration per step of the search
```

Each key is an *axis*: one setting, or several joined by '/' that move together (a pool's size
and overflow, a worker class and its threads), each value then giving one part per setting.
The search itself is harness.measure.search; this module only validates what it is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

MAX_AXES = 8  # per app
MAX_VALUES = 16  # per axis
MAX_ROUNDS = 20
DEFAULT_ROUNDS = 2
SEP = "/"
KEYS = ("sweep", "sweep_budget", "sweep_rounds")
_SETTING = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Axis:
    """Settings moved together, and the values they take (one part per setting each)."""

    settings: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]

    @property
    def name(self) -> str:
        return SEP.join(self.settings)


Fail = Callable[..., NoReturn]  # (where, allowed[, value]): raises UsageError


def parse(data: Any, where: str, apps: tuple[str, ...], knobs: Mapping[str, tuple[str, ...]],
          external: set[str], fail: Fail, check: Callable[[str, Any, str], None],
          mapping: Callable[[Any, str], dict]) -> dict[str, tuple[Axis, ...]]:
    """`sweep:` as {app: axes}. `knobs`: the settings each app reads (service.toml), when
    known; `check(setting, value, where)` validates one value as `env` does; `external`: apps
    the harness does not start, which cannot be restarted with other settings."""
    out = {}
    for app, axes in mapping(data, where).items():
        here = f"{where}.{app}"
        if app not in apps:
            fail(here, f"not one of the scenario's apps ({', '.join(apps)}): a sweep searches "
                 "the apps it measures")
        if app in external:
            fail(here, "an app already running (targets) cannot be restarted with other "
                 "settings: sweep only apps the harness starts")
        axes = mapping(axes, here)
        if not axes:
            fail(here, "must name at least one setting, like {WEB_CONCURRENCY: [1, 2, 4]}")
        if len(axes) > MAX_AXES:
            fail(here, f"at most {MAX_AXES} settings (or groups of them) per app", len(axes))
        seen: set[str] = set()
        parsed = []
        for key, values in axes.items():
            axis = _axis(key, values, f"{here}.{key}", knobs.get(app), fail, check)
            for setting in axis.settings:
                if setting in seen:
                    fail(f"{here}.{key}", f"{setting} is swept twice: each setting belongs to "
                         "one key")
                seen.add(setting)
            parsed.append(axis)
        if {"WORKER_CLASS", "THREADS"} <= seen and not any(
                {"WORKER_CLASS", "THREADS"} <= set(a.settings) for a in parsed):
            fail(here, "sweep WORKER_CLASS and THREADS together, as WORKER_CLASS/THREADS: "
                 "[sync/1, gthread/4]: the sync worker takes one thread only")
        out[app] = tuple(parsed)
    return out


def _axis(key: Any, values: Any, where: str, knobs: tuple[str, ...] | None, fail: Fail,
          check: Callable[[str, Any, str], None]) -> Axis:
    if not isinstance(key, str) or not key:
        fail(where, "must be a setting name, or several joined by '/'", key)
    settings = tuple(part.strip() for part in key.split(SEP))
    for setting in settings:
        if not _SETTING.match(setting):
            fail(where, "setting names are letters, digits and '_'", setting)
        if knobs is not None and setting not in knobs:
            fail(where, f"{setting} is not a setting this app reads; it reads "
                 f"{', '.join(knobs)}")
    if len(set(settings)) != len(settings):
        fail(where, "names a setting twice", key)
    if not isinstance(values, list) or not values:
        fail(where, "must be a non-empty list of values", values)
    if len(values) > MAX_VALUES:
        fail(where, f"at most {MAX_VALUES} values", len(values))
    parsed: list[tuple[str, ...]] = []
    for i, value in enumerate(values):
        parts = _parts(value, len(settings))
        if parts is None:
            example = SEP.join(["N"] * len(settings))
            fail(f"{where}[{i}]", f"must give {len(settings)} value(s) for {key}, like "
                 f"{example}" if len(settings) > 1 else "must be a number or a word", value)
        for setting, part in zip(settings, parts, strict=True):
            check(setting, part, f"{where}[{i}]")
        spelled = tuple(str(p).strip() for p in parts)
        if spelled in parsed:
            fail(f"{where}[{i}]", "must not repeat an earlier value", value)
        parsed.append(spelled)
    if settings == ("WORKER_CLASS", "THREADS") or settings == ("THREADS", "WORKER_CLASS"):
        for i, spelled in enumerate(parsed):
            got = dict(zip(settings, spelled, strict=True))
            if got["WORKER_CLASS"] == "sync" and got["THREADS"] != "1":
                fail(f"{where}[{i}]", "the sync worker takes one thread: sync/1, or gthread "
                     "with more threads", SEP.join(spelled))
    return Axis(settings, tuple(parsed))


def _parts(value: Any, n: int) -> list[Any] | None:
    """One part per setting: a lone value for one setting; 'a/b' or [a, b] for several."""
    scalar = (str, int, float)
    if n == 1:
        return [value] if isinstance(value, scalar) and not isinstance(value, bool) else None
    parts = value.split(SEP) if isinstance(value, str) else value
    if not isinstance(parts, list) or len(parts) != n or any(
            isinstance(p, bool) or not isinstance(p, scalar) for p in parts):
        return None
    return parts


def to_dict(sweep: Mapping[str, tuple[Axis, ...]]) -> dict[str, dict[str, list[str]]]:
    """As the results file records it: each axis's values spelled as in a scenario file."""
    return {app: {a.name: [SEP.join(v) for v in a.values] for a in axes}
            for app, axes in sweep.items()}
