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
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml

from harness.config import thresholds
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
UNIQUE = "{{unique}}"  # replaced by a per-request unique value in wrk's Lua script

TOP_KEYS = ("version", "rows", "targets", "defaults", "scenarios")
REQUEST_KEYS = ("method", "path", "headers", "body")
DEFAULT_KEYS = ("apps", "connections", "threads", "duration", "warmup", "repeats", "timeout",
                "env", "app_env", "thresholds", "tags", "default", "baseline", "comparisons",
                "min_effect", "budget", "min_repeats", "max_repeats")
SCENARIO_KEYS = ("name", "description", "request", *DEFAULT_KEYS)
BUILTIN = {"connections": (1, 12, 24, 48), "threads": 2, "duration": 10.0, "warmup": 2.0,
           "repeats": 3, "timeout": 5.0, "env": {}, "app_env": {}, "thresholds": (),
           "tags": (), "default": True, "baseline": None, "comparisons": None,
           "min_effect": 0.05, "budget": None, "min_repeats": 3, "max_repeats": 30}
# "apps" defaults to every known app, "baseline" to the first of them, "comparisons" to the
# baseline against each other app plus every pair of the others (default_comparisons).

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # also used in file names
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


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

    @property
    def adaptive(self) -> bool:
        return self.budget is not None

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
    source = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise UsageError(f"{source}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{source}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise UsageError(f"{source}{line}: invalid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise UsageError(f"{source}: invalid YAML: {e}") from None
    return parse(data, source, known_apps)


def parse(data, source, known_apps):
    """Validate already-loaded YAML data (a dict) into a ScenarioFile."""
    return _Parser(source, known_apps).file(data)


def default_comparisons(apps, baseline):
    """Today's stack against each candidate, then every pair of candidates (in file order)."""
    others = [a for a in apps if a != baseline]
    pairs = [(a, baseline) for a in others]
    pairs += [(b, a) for i, a in enumerate(others) for b in others[i + 1:]]
    return tuple(pairs)


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
                comparisons=tuple(p for p in s.comparisons if set(p) <= set(kept))))
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
    }


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
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key != "<<":
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}'", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


class _Parser:
    def __init__(self, source, known_apps):
        self.source = source
        self.known_apps = set(known_apps)

    def fail(self, where, allowed, value=dataclasses.MISSING):
        got = "" if value is dataclasses.MISSING else f" (got {_got(value)})"
        raise UsageError(f"{self.source}: {where}: {allowed}{got}")

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
        values = {**BUILTIN, "apps": tuple(sorted(self.known_apps))}
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
        return Scenario(name=name, description=description,
                        request=self.request(item["request"], f"{where}.request"), **values)

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
                    self.fail(f"{where}.{app}", f"unknown app{_suggest(app, self.apps_allowed)}; "
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
        raise AssertionError(key)

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
                path = f"{where}.{key}" if where else str(key)
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
        for i, item in enumerate(items):
            if item in items[:i]:
                self.fail(f"{where}[{i}]", "must not repeat an earlier entry", item)

    def names(self, v, where, allowed, empty):
        items = self.list(v, where, empty)
        for i, item in enumerate(items):
            if not isinstance(item, str) or not _NAME.match(item):
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
            env[name] = str(value)
        return env
