"""Scenario files: YAML in, a validated frozen model out (docs/architecture.md "Scenario model").

Every mistake raises UsageError with one line, `file: key.path: what is allowed (got ...)`, so a
typo costs seconds instead of a wasted benchmark run.
"""

import dataclasses
import difflib
import ipaddress
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import yaml

from harness.config import sweep as sweep_mod
from harness.config import thresholds
from harness.config.comparisons import default_comparisons
from harness.config.sweep import Axis
from harness.config.thresholds import Threshold
from harness.errors import UsageError

VERSION = 1
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
BODY_METHODS = ("POST", "PUT", "PATCH")
MAX_CONNECTIONS = 10_000
MAX_THREADS = 256
MAX_REPEATS = 1000
MAX_ROWS = 10_000_000
MAX_SECONDS = 24 * 3600  # any one duration, timeout or budget
DRIVERS = ("wrk", "locust")  # load generators: wrk (closed loop), Locust (closed or open loop)
MAX_RATE = 1_000_000  # requests/s of an open-loop level
MAX_LOCAL_WORKERS = 64  # Locust worker processes started on this machine
MAX_REMOTE_WORKERS = 1000  # ... and waited for from other machines
MAX_LEVELS = 100  # connection levels per scenario
MAX_SCENARIOS = 1000
# Pathological files get one line, not a hang or a traceback: their size, how deep they nest,
# and how many values they hold once aliases are expanded ("billion laughs") are capped.
# PyYAML parses about 50 KB/s of dense flow sequences here, so the caps also bound the time a
# hostile file costs to about two seconds. Real scenario files are a few KB.
MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 64
MAX_NODES = 50_000
# Faults injected during a cell (harness.measure.faults, docs/faults.md).
FAULT_KINDS = ("restart_postgres", "terminate_connections", "kill_worker", "lock_table")
FAULT_KEYS = ("kind", "at", "hold")
MAX_FAULTS = 20
MIN_FAULT_AT = 1.0  # seconds of load before a fault: the throughput it is measured against
DEFAULT_FAULT_TIMELINE = 0.1  # seconds per interval: fine enough to tell a restart from after it
MIN_TIMELINE, MAX_TIMELINE = 0.1, 60.0
MAX_INTERVALS = 20_000  # timeline intervals per cell
# The apps' own settings (harness.config.settings) that take numbers: (lowest, highest).
KNOB_BOUNDS = {"WEB_CONCURRENCY": (1, 256), "POOL_SIZE": (0, 10_000),
               "MAX_OVERFLOW": (-1, 10_000), "POOL_TIMEOUT": (0, MAX_SECONDS),
               "THREADS": (1, 10_000), "THREADPOOL_SIZE": (1, 100_000),
               "POOL_PRE_PING": (0, 1)}
# ... and those that take one of a few words (gunicorn's worker class: apps/flask_sync).
KNOB_CHOICES = {"WORKER_CLASS": ("sync", "gthread")}
UNIQUE = "{{unique}}"  # replaced by a per-request unique value in wrk's Lua script

TOP_KEYS = ("version", "rows", "targets", "defaults", "scenarios")
REQUEST_KEYS = ("method", "path", "headers", "body")
DEFAULT_KEYS = ("apps", "connections", "threads", "duration", "warmup", "repeats", "timeout",
                "env", "app_env", "thresholds", "tags", "default", "baseline", "comparisons",
                "min_effect", "budget", "min_repeats", "max_repeats", "driver",
                "locust_workers", "timeline", "profile")
SCENARIO_KEYS = ("name", "description", "request", *DEFAULT_KEYS, "rate", "faults",
                 *sweep_mod.KEYS)
BUILTIN = {"connections": (1, 12, 24, 48), "threads": 2, "duration": 10.0, "warmup": 2.0,
           "repeats": 3, "timeout": 5.0, "env": {}, "app_env": {}, "thresholds": (),
           "tags": (), "default": True, "baseline": None, "comparisons": None,
           "min_effect": 0.05, "budget": None, "min_repeats": 3, "max_repeats": 30,
           "driver": "wrk", "locust_workers": (1, 0), "timeline": None, "profile": None}
# "apps" defaults to every known app, "baseline" to the first of them, "comparisons" to the
# baseline against each other app plus every pair of the others (default_comparisons).

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # also used in file names
_APP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(@[A-Za-z0-9][A-Za-z0-9_.-]*)?$")  # APP@VARIANT
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


@dataclass(frozen=True)
class Fault:
    """One fault injected into every cell of a scenario, `at` seconds into its measured load."""

    kind: str  # one of FAULT_KINDS
    at: float
    hold: float | None = None  # lock_table: seconds the lock is held


@dataclass(frozen=True)
class Request:
    method: str  # GET, POST, ...
    path: str  # starts with "/"
    headers: dict[str, str]
    body: str | None  # JSON text; "{{unique}}" is replaced per request by wrk


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    request: Request
    connections: tuple[int, ...]
    threads: int  # upper bound; wrk.py picks a divisor of each connection count
    duration: float
    warmup: float
    repeats: int
    timeout: float
    apps: tuple[str, ...]
    env: dict[str, str]  # overrides for every app
    app_env: dict[str, dict[str, str]]  # overrides per app
    tags: tuple[str, ...]
    default: bool  # False: runs only when a --tag selects it
    thresholds: tuple[Threshold, ...]
    baseline: str  # today's stack: the reference of the default comparisons
    comparisons: tuple[tuple[str, str], ...]  # (candidate, reference) pairs to decide
    min_effect: float  # smallest relative difference that counts (0.05 = 5%)
    budget: float | None  # seconds of load per connection level: adaptive rounds; None: fixed
    min_repeats: int  # adaptive rounds: at least this many rounds per level
    max_repeats: int  # ... and at most this many
    driver: str = "wrk"  # the load generator: wrk or locust (harness/measure/locust_driver.py)
    # Open loop: requests/s sent on schedule, whatever the answers do: one rate for every
    # level, or one per level in the order of `connections`. None: closed loop (each
    # connection waits for its answer before sending the next request).
    rate: tuple[float, ...] | None = None
    locust_workers: int = 1  # Locust worker processes the harness starts on this machine
    locust_remote_workers: int = 0  # ... and those the master waits for from other machines
    timeline: float | None = None  # seconds per interval of a throughput time series; None: none
    faults: tuple[Fault, ...] = ()  # injected during each measured cell, in time order
    # The connection level at which each app's processes are sampled with py-spy, in one extra
    # cell per app after that level's rounds (a profile, which feeds no verdict); None: none.
    profile: int | None = None
    # Per app, the settings searched for its best configuration (harness.config.sweep), the
    # load time of each app's search, and the cells of each configuration per step.
    sweep: dict[str, tuple[Axis, ...]] = field(default_factory=dict)
    sweep_budget: float | None = None
    sweep_rounds: int = sweep_mod.DEFAULT_ROUNDS

    @property
    def adaptive(self) -> bool:
        return self.budget is not None

    def __post_init__(self) -> None:
        # Also when --connections or --apps change a sweep scenario.
        if self.sweep and len(self.connections) != 1:
            raise UsageError(f"scenario {self.name}: a sweep searches at one connection level, "
                             f"but its connections are {list(self.connections)}: give one")
        for app in self.sweep:
            if app not in self.apps:
                raise UsageError(f"scenario {self.name}: sweep.{app}: not one of its apps "
                                 f"({', '.join(self.apps)})")
        # Also when --connections replaces the levels of a scenario with one rate per level.
        if self.rate is not None and len(self.rate) not in (1, len(self.connections)):
            raise UsageError(f"scenario {self.name}: rate has {len(self.rate)} values, one per "
                             f"connection level, but its connections are "
                             f"{list(self.connections)}: give one rate, or one per level")
        # Also when --duration shortens a fault scenario's cells.
        for f in self.faults:
            if f.at + (f.hold or 0.0) >= self.duration:
                raise UsageError(
                    f"scenario {self.name}: a {f.kind} fault at {f.at:g} s"
                    + (f" held {f.hold:g} s" if f.hold else "")
                    + f" must end before the {self.duration:g} s duration (leave time to "
                    "recover)")
        # Also when --connections replaces the level a profile was asked for.
        if self.profile is not None and self.profile not in self.connections:
            raise UsageError(f"scenario {self.name}: profile {self.profile} is not one of its "
                             f"connection levels {list(self.connections)}: give --profile with "
                             "one of them")

    @property
    def open_loop(self) -> bool:
        return self.rate is not None

    def rate_at(self, connections: int) -> float | None:
        """The open-loop rate of the level with `connections` users; None: closed loop."""
        if self.rate is None:
            return None
        if len(self.rate) == 1:
            return self.rate[0]
        return self.rate[self.connections.index(connections)]

    @property
    def planned_repeats(self) -> int:
        """Rounds per level in the plan: the fixed repeats, or the most adaptive rounds."""
        return self.max_repeats if self.adaptive else self.repeats


@dataclass(frozen=True)
class ScenarioFile:
    path: str
    rows: int  # dataset size
    scenarios: tuple[Scenario, ...]
    targets: dict[str, str]  # app -> base URL of a service the harness does not start


def load(path, known_apps):
    """Read and validate a scenario file."""
    source = _one_line(str(path))
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{source}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{source}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise UsageError(f"{source}: larger than {MAX_FILE_BYTES // 1024} KB: not a scenario "
                         "file")
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise UsageError(_one_line(f"{source}{line}: invalid YAML: {e.problem or e.context}")) \
            from None
    except yaml.YAMLError as e:
        raise UsageError(_one_line(f"{source}: invalid YAML: {e}")) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as e:
        # A scalar YAML resolves but Python cannot build: 2024-02-30, an int of 5,000 digits.
        raise UsageError(_one_line(f"{source}: invalid YAML value: {_one_line(str(e), 120)}")) \
            from None
    return parse(data, source, known_apps)


def parse(data, source, known_apps):
    """Validate already-loaded YAML data (a dict) into a ScenarioFile."""
    return _Parser(source, known_apps).file(data)


def select(sf, tags=(), names=(), apps=(), known_apps=()):
    """The scenarios a run covers.

    No tags: the default scenarios, or the named ones if names are given (naming a scenario runs
    it even if it is not a default one). Tags: scenarios carrying any of them. Names then filter
    by name and apps narrow each scenario's apps; scenarios left without apps are dropped.
    """
    tags, names, apps = tags or (), names or (), apps or ()
    _check_known(sf.path, "tag", tags, {t for s in sf.scenarios for t in s.tags})
    _check_known(sf.path, "scenario", names, [s.name for s in sf.scenarios])
    in_file = {a for s in sf.scenarios for a in s.apps}
    for app in apps:
        if app in {*known_apps, *sf.targets} and app not in in_file:
            raise UsageError(f"{sf.path}: app '{app}' is not in this file's scenarios; "
                             f"they use {', '.join(sorted(in_file))}")
    _check_known(sf.path, "app", apps, in_file)
    chosen = []
    for s in sf.scenarios:
        if tags:
            if not set(tags) & set(s.tags):
                continue
        elif not names and not s.default:
            continue
        if names and s.name not in names:
            continue
        kept = tuple(a for a in s.apps if not apps or a in apps)
        if kept:
            chosen.append(dataclasses.replace(
                s, apps=kept, baseline=s.baseline if s.baseline in kept else kept[0],
                comparisons=tuple(p for p in s.comparisons if set(p) <= set(kept)),
                sweep={a: axes for a, axes in s.sweep.items() if a in kept}))
    if not chosen:
        asked = ", ".join(f"{k} {v}" for k, v in
                          (("tags", tags), ("names", names), ("apps", apps)) if v)
        raise UsageError(f"{sf.path}: no scenario matches the selection ({asked or 'defaults'})")
    return dataclasses.replace(sf, scenarios=tuple(chosen))


def to_dict(scenario):
    """The resolved scenario as plain JSON data (durations in seconds), for the results file."""
    r = scenario.request
    return {
        "name": scenario.name, "description": scenario.description,
        "request": {"method": r.method, "path": r.path, "headers": dict(r.headers),
                    "body": r.body},
        "connections": list(scenario.connections), "threads": scenario.threads,
        "duration": scenario.duration, "warmup": scenario.warmup, "repeats": scenario.repeats,
        "timeout": scenario.timeout, "apps": list(scenario.apps), "env": dict(scenario.env),
        "app_env": {a: dict(e) for a, e in scenario.app_env.items()},
        "tags": list(scenario.tags), "default": scenario.default,
        "thresholds": [t.expr for t in scenario.thresholds],
        "baseline": scenario.baseline,
        "comparisons": [list(p) for p in scenario.comparisons],
        "min_effect": scenario.min_effect, "budget": scenario.budget,
        "min_repeats": scenario.min_repeats, "max_repeats": scenario.max_repeats,
        # Only when not wrk's closed loop, so that a wrk scenario's configuration (which
        # `compare` checks for changes) reads as it did before these keys existed.
        **({"driver": scenario.driver, "locust_workers": {
            "local": scenario.locust_workers, "remote": scenario.locust_remote_workers}}
           if scenario.driver != "wrk" else {}),
        **({"rate": scenario.rate[0] if len(scenario.rate) == 1 else list(scenario.rate)}
           if scenario.rate is not None else {}),
        **_extras(scenario),
    }


def _extras(scenario):
    """Keys only a fault, soak or sweep scenario sets: absent otherwise, so that the
    configuration of every other scenario reads as it did before they existed (compare flags
    changed configs)."""
    out = {}
    if scenario.sweep:
        out.update(sweep=sweep_mod.to_dict(scenario.sweep), sweep_budget=scenario.sweep_budget,
                   sweep_rounds=scenario.sweep_rounds)
    if scenario.timeline is not None:
        out["timeline"] = scenario.timeline
    if scenario.profile is not None:
        out["profile"] = scenario.profile
    if scenario.faults:
        out["faults"] = [{"kind": f.kind, "at": f.at}
                         | ({"hold": f.hold} if f.hold is not None else {})
                         for f in scenario.faults]
    return out


def config(sf):
    """The resolved file as results["config"]."""
    return {"rows": sf.rows, "targets": dict(sf.targets),
            "scenarios": [to_dict(s) for s in sf.scenarios]}


def is_loopback(host):
    """True for localhost, 127.0.0.0/8 and ::1: the harness only loads machines it runs on."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(url):
    """Why `url` is not an acceptable http://LOOPBACK:PORT base URL, or None if it is."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except (ValueError, TypeError):
        return "is not a URL"
    if parts.scheme != "http" or not parts.hostname:
        return "must be http://HOST:PORT"
    if not is_loopback(parts.hostname):
        return "must be a loopback host: 127.0.0.0/8, localhost or [::1]"
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return "must be a base URL with no path, query or user"
    return None


def _check_known(source, kind, asked, existing):
    for item in asked:
        if item not in existing:
            raise UsageError(f"{source}: unknown {kind} '{item}'{_suggest(item, existing)}; "
                             f"{kind}s: {', '.join(sorted(existing)) or '(none)'}")


def _suggest(word, options):
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _got(value):
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (sys.get_int_max_str_digits)
        return "a number of thousands of digits"
    return _one_line(text if len(text) <= 60 else text[:57] + "...")


def _one_line(text, limit=500):
    """Error text on one line: control characters escaped, at most `limit` characters."""
    text = re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]",
                  lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _key(key):
    """A mapping key as part of a key path: itself when short and plain, else shortened."""
    text = key if isinstance(key, str) else repr(key)
    return _one_line(text, 40)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one), nesting
    deeper than MAX_DEPTH (PyYAML's composer recurses: 5,000 levels exhaust Python's stack), and
    documents of more than MAX_NODES values once aliases are expanded (an alias bomb is a few
    lines of YAML that expand to billions of values, and so does any walk over them)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark)
            if self._nodes > MAX_NODES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_NODES:,} values", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        if node is not None:
            _expanded_size(node)
        return node

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key != "<<":
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{_key(key)}'", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def _expanded_size(root):
    """How many values the document holds, and how deep it nests, with every alias expanded:
    ComposerError past MAX_NODES or MAX_DEPTH, or on an alias to an enclosing node (a recursive
    structure). Linear in the document's own size (each node is measured once), and iterative:
    aliases can nest a document far deeper than Python's stack."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth), expanded
    entered: set[int] = set()  # on the current path, not yet measured
    stack = [(root, False)]

    def fail(problem, node):
        raise yaml.composer.ComposerError(None, None, problem, node.start_mark)

    while stack:
        node, finish = stack.pop()
        key = id(node)
        children = _children(node)
        if finish:
            values = 1 + sum(measured[id(c)][0] for c in children)
            depth = 1 + max((measured[id(c)][1] for c in children), default=0)
            if values > MAX_NODES:
                fail(f"more than {MAX_NODES:,} values once aliases are expanded", node)
            if depth > MAX_DEPTH:
                fail(f"nested deeper than {MAX_DEPTH} levels once aliases are expanded", node)
            measured[key] = (values, depth)
            entered.discard(key)
        elif key not in measured:
            if key in entered:
                fail("an alias refers to a node that contains it", node)
            entered.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in measured)
    return measured[id(root)][0]


def _children(node):
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


class _Parser:
    def __init__(self, source, known_apps):
        """known_apps: the apps' names, or {name: the settings it reads} (then a sweep's
        settings are checked against them)."""
        self.source = source
        self.known_apps = set(known_apps)
        self.knobs = dict(known_apps) if isinstance(known_apps, Mapping) else {}

    def fail(self, where, allowed, value=dataclasses.MISSING):
        got = "" if value is dataclasses.MISSING else f" (got {_got(value)})"
        raise UsageError(_one_line(f"{self.source}: {_one_line(where, 200)}: {allowed}{got}",
                                   1000))

    # -- structure ---------------------------------------------------------------------------

    def file(self, data):
        if not isinstance(data, dict):
            what = "an empty file" if data is None else type(data).__name__
            raise UsageError(f"{self.source}: top level must be a mapping with keys "
                             f"{', '.join(TOP_KEYS)} (got {what})")
        self.keys(data, TOP_KEYS, "")
        if "version" not in data:
            self.fail("version", f"required; this harness reads version {VERSION}")
        if data["version"] != VERSION or isinstance(data["version"], bool):
            self.fail("version", f"unsupported version; supported: {VERSION}", data["version"])
        rows = self.positive_int(data.get("rows", 1000), "rows", MAX_ROWS)
        targets = self.targets(data.get("targets", {}))
        self.apps_allowed = sorted(self.known_apps | set(targets))
        defaults = self.mapping(data.get("defaults", {}), "defaults")
        self.keys(defaults, DEFAULT_KEYS, "defaults")
        resolved = {k: self.value(k, v, f"defaults.{k}") for k, v in defaults.items()}
        items = data.get("scenarios")
        if not isinstance(items, list) or not items:
            self.fail("scenarios", "must be a non-empty list of scenarios", items)
        if len(items) > MAX_SCENARIOS:
            self.fail("scenarios", f"at most {MAX_SCENARIOS} scenarios in one file", len(items))
        scenarios, seen = [], {}
        for i, item in enumerate(items):
            s = self.scenario(item, f"scenarios[{i}]", resolved)
            if s.name in seen:
                self.fail(f"scenarios[{i}].name",
                          f"duplicate scenario name (also scenarios[{seen[s.name]}])", s.name)
            seen[s.name] = i
            scenarios.append(s)
        return ScenarioFile(path=self.source, rows=rows, scenarios=tuple(scenarios),
                            targets=targets)

    def scenario(self, item, where, defaults):
        item = self.mapping(item, where)
        self.keys(item, SCENARIO_KEYS, where)
        for key in ("name", "request"):
            if key not in item:
                self.fail(f"{where}.{key}", "required")
        name = item["name"]
        if not isinstance(name, str) or not _NAME.match(name):
            self.fail(f"{where}.name", "must be letters, digits, '_', '.' or '-'", name)
        description = item.get("description", "")
        if not isinstance(description, str):
            self.fail(f"{where}.description", "must be a string", description)
        # by default every app, not its variants (APP@NAME, harness.measure.services)
        values = {**BUILTIN, "apps": tuple(sorted(a for a in self.known_apps if "@" not in a))}
        values.update(defaults)
        values.update({k: self.value(k, v, f"{where}.{k}") for k, v in item.items()
                       if k in DEFAULT_KEYS})
        # Own copies: scenarios sharing the defaults must not share mutable dicts.
        values["env"] = dict(values["env"])
        values["app_env"] = {app: dict(env) for app, env in values["app_env"].items()}
        if not values["apps"]:
            self.fail(f"{where}.apps", "no apps are known; list some in apps or targets")
        self.resolve_comparisons(values, where)
        if values["max_repeats"] < values["min_repeats"]:
            self.fail(f"{where}.max_repeats", f"must be at least min_repeats "
                      f"({values['min_repeats']})", values["max_repeats"])
        self.resolve_driver(values, item, where)
        faults = self.faults(item.get("faults", []), f"{where}.faults")
        self.check_faults(faults, values, where)
        for key, given in (("faults", faults), ("timeline", values["timeline"])):
            if given and values["driver"] != "wrk":
                self.fail(f"{where}.{key}", f"needs driver: wrk, whose script counts the "
                          f"answers over time (driver is {values['driver']})")
        self.resolve_profile(values, "profile" in item, where)
        if faults and values["timeline"] is None:
            values["timeline"] = DEFAULT_FAULT_TIMELINE  # recovery is read from it
        self.resolve_sweep(values, item, where, faults)
        if values["timeline"] is not None \
                and values["duration"] / values["timeline"] > MAX_INTERVALS:
            self.fail(f"{where}.timeline", f"at most {MAX_INTERVALS:,} intervals per cell: at "
                      f"least {values['duration'] / MAX_INTERVALS:g} s for a "
                      f"{values['duration']:g} s duration", values["timeline"])
        return Scenario(name=name, description=description,
                        request=self.request(item["request"], f"{where}.request"),
                        faults=faults, **values)

    def faults(self, v, where):
        """[{kind, at, hold}]: faults injected during each measured cell, sorted by time."""
        items = self.list(v, where, empty=True)
        if len(items) > MAX_FAULTS:
            self.fail(where, f"at most {MAX_FAULTS} faults per scenario", len(items))
        out = []
        for i, item in enumerate(items):
            here = f"{where}[{i}]"
            item = self.mapping(item, here)
            self.keys(item, FAULT_KEYS, here)
            for key in ("kind", "at"):
                if key not in item:
                    self.fail(f"{here}.{key}", "required; a fault is like {kind: "
                              "restart_postgres, at: 5s}")
            kind = item["kind"]
            if kind not in FAULT_KINDS:
                self.fail(f"{here}.kind", f"must be one of {', '.join(FAULT_KINDS)}"
                          f"{_suggest(kind, FAULT_KINDS)}", kind)
            at = self.time(item["at"], f"{here}.at", minimum=MIN_FAULT_AT)
            hold = None
            if kind == "lock_table":
                if "hold" not in item:
                    self.fail(f"{here}.hold", "required for lock_table: how long the lock is "
                              "held, like 3s")
                hold = self.time(item["hold"], f"{here}.hold", minimum=0.1)
            elif "hold" in item:
                self.fail(f"{here}.hold", f"only lock_table faults take a hold time (kind is "
                          f"{kind})")
            out.append(Fault(kind=kind, at=at, hold=hold))
        return tuple(sorted(out, key=lambda f: f.at))

    def check_faults(self, faults, values, where):
        """Every fault ends within the measured load, with time left to see it recover."""
        duration = values["duration"]
        for f in faults:
            if f.at + (f.hold or 0.0) >= duration:
                self.fail(f"{where}.faults", f"a {f.kind} fault at {f.at:g} s"
                          + (f" held {f.hold:g} s" if f.hold else "")
                          + f" must end before the {duration:g} s duration (leave time to "
                          "recover)")

    def resolve_sweep(self, values, item, where, faults):
        """`sweep`, `sweep_budget` and `sweep_rounds` (harness.config.sweep)."""
        if "sweep" not in item:
            for key in ("sweep_budget", "sweep_rounds"):
                if key in item:
                    self.fail(f"{where}.{key}", "only used with sweep")
            return
        if faults:
            self.fail(f"{where}.sweep", "not with faults: a fault scenario measures recovery, "
                      "a sweep the best settings")
        if len(values["connections"]) != 1:
            self.fail(f"{where}.connections", "a sweep searches at one connection level: give "
                      "one, like [24]", list(values["connections"]))
        external = {a for a in values["apps"] if a in self.apps_allowed
                    and a not in self.known_apps}
        values["sweep"] = sweep_mod.parse(
            item["sweep"], f"{where}.sweep", values["apps"], self.knobs, external, self.fail,
            self.setting, self.mapping)
        if "sweep_budget" not in item:
            self.fail(f"{where}.sweep_budget", "required with sweep: seconds of load each "
                      "app's search may take, like 150s")
        values["sweep_budget"] = self.seconds(item["sweep_budget"], f"{where}.sweep_budget",
                                              minimum=1)
        values["sweep_rounds"] = self.positive_int(
            item.get("sweep_rounds", sweep_mod.DEFAULT_ROUNDS), f"{where}.sweep_rounds",
            sweep_mod.MAX_ROUNDS)

    def resolve_driver(self, values, item, where):
        """The load generator's settings: `rate` (open loop) and `locust_workers` need Locust;
        one rate per connection level."""
        driver = values["driver"]
        values["locust_workers"], values["locust_remote_workers"] = values["locust_workers"]
        if driver != "locust" and "locust_workers" in item:
            self.fail(f"{where}.locust_workers", f"only used with driver: locust (driver is "
                      f"{driver})")
        rate = item.get("rate")
        if rate is None:
            values["rate"] = None
            return
        if driver != "locust":
            self.fail(f"{where}.rate", "needs driver: locust (wrk is closed-loop: each "
                      "connection waits for its answer; the open-loop schedule runs in Locust)")
        conns = values["connections"]
        if not isinstance(rate, list):
            values["rate"] = (self.rate(rate, f"{where}.rate"),)
            return
        if len(rate) != len(conns):
            self.fail(f"{where}.rate", f"must be one number, or a list with one rate per "
                      f"connection level ({len(conns)}: {list(conns)})", rate)
        values["rate"] = tuple(self.rate(r, f"{where}.rate[{i}]") for i, r in enumerate(rate))

    def resolve_profile(self, values, own, where):
        """`profile: true` is the scenario's highest level; a number must be one of its
        levels (given in defaults, it must suit every scenario that takes it)."""
        asked, conns = values["profile"], values["connections"]
        if asked is True:
            values["profile"] = max(conns)
        elif asked is not None and asked not in conns:
            self.fail(f"{where}.profile" if own else f"defaults.profile (for {where})",
                      f"must be true (the highest level) or one of the scenario's connection "
                      f"levels ({', '.join(map(str, conns))})", asked)

    def rate(self, v, where):
        allowed = f"must be requests per second, a number above 0 and at most {MAX_RATE:,}"
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or not 0 < v <= MAX_RATE:
            self.fail(where, allowed, v)
        return float(v)

    def resolve_comparisons(self, values, where):
        """The baseline (default: the first app) and the pairs to decide, all among the apps."""
        apps = values["apps"]
        if values["baseline"] is None:
            values["baseline"] = apps[0]
        elif values["baseline"] not in apps:
            self.fail(f"{where}.baseline", f"must be one of the scenario's apps "
                      f"({', '.join(apps)}){_suggest(values['baseline'], apps)}",
                      values["baseline"])
        if values["comparisons"] is None:
            values["comparisons"] = default_comparisons(apps, values["baseline"])
        for i, pair in enumerate(values["comparisons"]):
            for app in pair:
                if app not in apps:
                    self.fail(f"{where}.comparisons[{i}]", f"'{app}' is not one of the "
                              f"scenario's apps ({', '.join(apps)}){_suggest(app, apps)}")

    def request(self, data, where):
        data = self.mapping(data, where)
        self.keys(data, REQUEST_KEYS, where)
        method = data.get("method", "GET")
        if not isinstance(method, str) or method.upper() not in METHODS:
            self.fail(f"{where}.method", f"must be one of {', '.join(METHODS)}", method)
        method = method.upper()
        path = data.get("path")
        if not isinstance(path, str) or not path.startswith("/") or re.search(r"\s", path):
            self.fail(f"{where}.path", "must start with '/' and contain no spaces", path)
        headers = {}
        for name, value in self.mapping(data.get("headers", {}), f"{where}.headers").items():
            if not isinstance(name, str) or not _HEADER_NAME.match(name):
                self.fail(f"{where}.headers", "header names must be HTTP tokens", name)
            if name.lower() == "content-length":
                self.fail(f"{where}.headers.{name}", "must not be set: wrk computes it")
            if isinstance(value, bool) or not isinstance(value, (str, int, float)) \
                    or re.search(r"[\r\n]", str(value)):
                self.fail(f"{where}.headers.{name}", "must be a one-line string", value)
            headers[name] = str(value)
        body = data.get("body")
        if body is not None:
            if method not in BODY_METHODS:
                self.fail(f"{where}.body", f"only {', '.join(BODY_METHODS)} requests may have "
                          f"a body (method is {method})")
            if isinstance(body, (dict, list)):
                body = json.dumps(body, separators=(",", ":"))
            elif not isinstance(body, str):
                self.fail(f"{where}.body", "must be a mapping (sent as JSON) or a string", body)
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"  # the apps speak JSON
        return Request(method=method, path=path, headers=headers, body=body)

    def targets(self, data):
        targets = {}
        for name, url in self.mapping(data, "targets").items():
            if not isinstance(name, str) or not _NAME.match(name):
                self.fail("targets", "app names must be letters, digits, '_', '.' or '-'", name)
            problem = base_url_problem(url) if isinstance(url, str) else "must be a string"
            if problem:
                self.fail(f"targets.{name}", f"{problem}, like http://127.0.0.1:8000", url)
            targets[name] = url.rstrip("/")
        return targets

    # -- values ------------------------------------------------------------------------------

    def value(self, key, v, where):
        """Validate one key shared by defaults and scenarios."""
        if key == "apps":
            return self.names(v, where, self.apps_allowed, empty=False)
        if key == "connections":
            items = self.list(v, where, empty=False)
            if len(items) > MAX_LEVELS:
                self.fail(where, f"at most {MAX_LEVELS} connection levels", len(items))
            conns = tuple(self.positive_int(c, f"{where}[{i}]", MAX_CONNECTIONS)
                          for i, c in enumerate(items))
            self.unique(conns, where)
            return conns
        if key in ("threads", "repeats", "min_repeats", "max_repeats"):
            limit = MAX_THREADS if key == "threads" else MAX_REPEATS
            value = self.positive_int(v, where, limit)
            if key == "min_repeats" and value < 2:
                self.fail(where, "must be at least 2: a spread needs two rounds", v)
            return value
        if key == "baseline":
            return self.names([v], where, self.apps_allowed, empty=False)[0]
        if key == "comparisons":
            return self.comparisons(v, where)
        if key == "min_effect":
            return self.fraction(v, where)
        if key == "timeline":  # null: no time series
            return None if v is None else self.time(v, where, minimum=MIN_TIMELINE,
                                                    maximum=MAX_TIMELINE)
        if key == "budget":  # null: a fixed number of repeats, overriding a default budget
            return None if v is None else self.seconds(v, where, minimum=1)
        if key in ("duration", "timeout"):
            return self.seconds(v, where, minimum=1)
        if key == "warmup":
            return self.seconds(v, where, minimum=0)
        if key == "env":
            return self.env(v, where)
        if key == "app_env":
            envs = self.mapping(v, where)
            for app in envs:
                if app not in self.apps_allowed:
                    self.fail(f"{where}.{_key(app)}", f"unknown app{_suggest(app, self.apps_allowed)}; "
                              f"apps: {', '.join(self.apps_allowed)}")
            return {app: self.env(e, f"{where}.{app}") for app, e in envs.items()}
        if key == "thresholds":
            items = self.list(v, where, empty=True)
            parsed = []
            for i, expr in enumerate(items):
                try:
                    parsed.append(thresholds.parse(expr))
                except ValueError as e:
                    self.fail(f"{where}[{i}]", str(e))
            return tuple(parsed)
        if key == "tags":
            return self.names(v, where, None, empty=True)
        if key == "default":
            if not isinstance(v, bool):
                self.fail(where, "must be true or false", v)
            return v
        if key == "driver":
            if v not in DRIVERS:
                self.fail(where, f"must be one of {', '.join(DRIVERS)}{_suggest(v, DRIVERS)}", v)
            return v
        if key == "locust_workers":
            return self.locust_workers(v, where)
        if key == "profile":  # true: the highest level, resolved with the scenario's levels
            if v is None or v is False:
                return None
            if v is True or (isinstance(v, int) and not isinstance(v, bool)
                             and 1 <= v <= MAX_CONNECTIONS):
                return v
            self.fail(where, "must be true (the highest connection level), false, or one of "
                      "the scenario's connection levels", v)
        raise AssertionError(key)

    def locust_workers(self, v, where):
        """N local worker processes, or {local: N, remote: M}: the master also waits for M
        workers started on other machines (docs/scale.md). (local, remote), at least one."""
        if isinstance(v, dict):
            self.keys(v, ("local", "remote"), where)
            local = v.get("local", 0)
            remote = v.get("remote", 0)
            for key, n, most in (("local", local, MAX_LOCAL_WORKERS),
                                 ("remote", remote, MAX_REMOTE_WORKERS)):
                if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= most:
                    self.fail(f"{where}.{key}", f"must be an integer from 0 to {most}", n)
        else:
            local, remote = self.positive_int(v, where, MAX_LOCAL_WORKERS), 0
        if local + remote < 1:
            self.fail(where, "needs at least one worker (local or remote)", v)
        return (local, remote)

    def comparisons(self, v, where):
        """["a vs b", ...] (or [[a, b], ...]): a candidate against its reference."""
        pairs = []
        for i, item in enumerate(self.list(v, where, empty=False)):
            parts = item.split(" vs ") if isinstance(item, str) else item
            if not isinstance(parts, list | tuple) or len(parts) != 2 \
                    or not all(isinstance(p, str) for p in parts):
                self.fail(f"{where}[{i}]", "must be 'CANDIDATE vs REFERENCE', like "
                          "'fastapi_async vs flask_sync'", item)
            a, b = (p.strip() for p in parts)
            for app in (a, b):
                if app not in self.apps_allowed:
                    self.fail(f"{where}[{i}]", f"unknown app '{app}'"
                              f"{_suggest(app, self.apps_allowed)}; apps: "
                              f"{', '.join(self.apps_allowed)}")
            if a == b:
                self.fail(f"{where}[{i}]", "must compare two different apps", item)
            pairs.append((a, b))
        self.unique(pairs, where)
        return tuple(pairs)

    def fraction(self, v, where):
        """A relative size: 5% or 0.05, strictly between 0 and 1."""
        allowed = "must be a percentage like 5% or a fraction like 0.05, above 0 and below 1"
        if isinstance(v, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*", v)):
            value = float(m.group(1)) / 100
        elif isinstance(v, int | float) and not isinstance(v, bool):
            value = float(v)
        else:
            self.fail(where, allowed, v)
        if not 0 < value < 1:
            self.fail(where, allowed, v)
        return value

    def keys(self, data, allowed, where):
        for key in data:
            if key not in allowed:
                path = f"{where}.{_key(key)}" if where else _key(key)
                self.fail(path, f"unknown key{_suggest(key, allowed)}; "
                          f"allowed keys: {', '.join(allowed)}")

    def mapping(self, v, where):
        if not isinstance(v, dict):
            self.fail(where, "must be a mapping", v)
        return v

    def list(self, v, where, empty):
        if not isinstance(v, list):
            self.fail(where, "must be a list", v)
        if not v and not empty:
            self.fail(where, "must be a non-empty list", v)
        return v

    def unique(self, items, where):
        seen = set()
        for i, item in enumerate(items):
            if item in seen:
                self.fail(f"{where}[{i}]", "must not repeat an earlier entry", item)
            seen.add(item)

    def names(self, v, where, allowed, empty):
        items = self.list(v, where, empty)
        pattern = _NAME if allowed is None else _APP  # apps: APP or APP@VARIANT
        for i, item in enumerate(items):
            if not isinstance(item, str) or not pattern.match(item):
                self.fail(f"{where}[{i}]", "must be letters, digits, '_', '.' or '-'", item)
            if allowed is not None and item not in allowed:
                self.fail(f"{where}[{i}]", f"must be one of {', '.join(allowed)}"
                          f"{_suggest(item, allowed)}", item)
        self.unique(items, where)
        return tuple(items)

    def positive_int(self, v, where, maximum=None):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            self.fail(where, "must be a positive integer", v)
        if maximum is not None and v > maximum:
            self.fail(where, f"must be at most {maximum}", v)
        return v

    def seconds(self, v, where, minimum):
        """A duration in whole seconds: wrk's -d and --timeout take nothing finer."""
        allowed = f"must be whole seconds >= {minimum}, like 10s, 5m or 10 (wrk's resolution)"
        if isinstance(v, str) and (m := _DURATION.match(v)):
            seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            seconds = float(v)
        else:
            self.fail(where, allowed, v)
        if not math.isfinite(seconds) or seconds < minimum or seconds != int(seconds):
            self.fail(where, allowed, v)
        if seconds > MAX_SECONDS:
            self.fail(where, f"must be at most {MAX_SECONDS // 3600} h", v)
        return seconds

    def env(self, v, where):
        env = {}
        for name, value in self.mapping(v, where).items():
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                self.fail(where, "variable names must be letters, digits and '_'", name)
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                self.fail(f"{where}.{name}", "must be a string or a number", value)
            self.setting(name, value, f"{where}.{name}")
            env[name] = str(value)
        return env

    def setting(self, name, value, where):
        """One value of an app setting: within bounds, or among its choices."""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.fail(where, "must be a string or a number", value)
        if name in KNOB_BOUNDS:
            self.knob(name, value, where)
        elif name in KNOB_CHOICES and (not isinstance(value, str)
                                       or value.strip() not in KNOB_CHOICES[name]):
            self.fail(where, f"must be one of {', '.join(KNOB_CHOICES[name])}", value)

    def knob(self, name, value, where):
        """A setting the apps read as a number (harness.config.settings): within bounds, so
        that `WEB_CONCURRENCY: 100000` cannot fork a machine to death."""
        low, high = KNOB_BOUNDS[name]
        decimal = name == "POOL_TIMEOUT"
        number = value
        if isinstance(value, str):
            try:
                number = float(value) if decimal else int(value.strip())
            except ValueError:
                number = None
        if isinstance(number, float) and not decimal:
            number = None
        if number is None or not math.isfinite(number) or not low <= number <= high:
            self.fail(where, f"must be {'a number' if decimal else 'an integer'} from {low} "
                      f"to {high}", value)

    def time(self, v, where, minimum, maximum=MAX_SECONDS):
        """A point in time or a length with millisecond resolution: 5s, 2.5s, 500ms or 5."""
        allowed = f"must be a time >= {minimum:g} s, like 5s, 2.5s or 500ms"
        if isinstance(v, str) and (m := _DURATION.match(v)):
            seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            seconds = float(v)
        else:
            self.fail(where, allowed, v)
        if not math.isfinite(seconds) or seconds < minimum:
            self.fail(where, allowed, v)
        if seconds > maximum:
            self.fail(where, f"must be at most {maximum:g} s", v)
        return round(seconds, 3)
