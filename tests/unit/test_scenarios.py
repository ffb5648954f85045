import textwrap

import pytest

from harness.config import scenarios
from harness.errors import UsageError

APPS = {"flask_sync", "fastapi_sync", "fastapi_async"}

GOOD = """\
version: 1
rows: 500
targets:
  flask_ext: http://127.0.0.1:9000/
defaults:
  apps: [flask_sync, fastapi_sync, fastapi_async]
  connections: [1, 12]
  threads: 2
  duration: 10s
  warmup: 2
  repeats: 3
  timeout: 1m
  env: {POOL_SIZE: 20}
  app_env: {fastapi_sync: {THREADPOOL_SIZE: 80}}
  thresholds: ["error_rate < 1%", "p99 < 500ms"]
scenarios:
  - name: users_list
    description: GET /users
    request: {path: /users}
  - name: users_create
    request:
      method: post
      path: /users
      body: {name: "user {{unique}}", email: "{{unique}}@example.com"}
    connections: [48, 24]
    apps: [fastapi_async, flask_ext]
    tags: [write]
    default: false
    thresholds: ["rps > 100"]
"""


def load_text(tmp_path, text, name="scenarios.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return scenarios.load(path, APPS)


def error(tmp_path, text):
    with pytest.raises(UsageError) as e:
        load_text(tmp_path, text)
    message = str(e.value)
    assert "\n" not in message
    return message.replace(str(tmp_path) + "/", "")


def with_scenario(extra, request="request: {path: /users}"):
    """A minimal file whose one scenario has `extra` (YAML flow-style lines) appended."""
    lines = "".join(f"    {line}\n" for line in extra.splitlines())
    return f"version: 1\nscenarios:\n  - name: s\n    {request}\n{lines}"


def test_good_file(tmp_path):
    sf = load_text(tmp_path, GOOD)
    assert sf.rows == 500
    assert sf.targets == {"flask_ext": "http://127.0.0.1:9000"}
    listing, create = sf.scenarios
    assert listing.request == scenarios.Request("GET", "/users", {}, None)
    assert listing.apps == ("flask_sync", "fastapi_sync", "fastapi_async")
    assert listing.connections == (1, 12)
    assert (listing.duration, listing.warmup, listing.timeout) == (10.0, 2.0, 60.0)
    assert listing.env == {"POOL_SIZE": "20"}
    assert listing.app_env == {"fastapi_sync": {"THREADPOOL_SIZE": "80"}}
    assert [t.expr for t in listing.thresholds] == ["error_rate < 1%", "p99 < 500ms"]
    assert listing.default is True and listing.tags == ()
    assert create.request.method == "POST"
    assert create.request.body == '{"name":"user {{unique}}","email":"{{unique}}@example.com"}'
    assert create.request.headers == {"Content-Type": "application/json"}
    assert create.apps == ("fastapi_async", "flask_ext")
    assert create.connections == (48, 24)
    assert [t.expr for t in create.thresholds] == ["rps > 100"]
    assert create.default is False and create.tags == ("write",)


def test_builtin_defaults(tmp_path):
    (s,) = load_text(tmp_path, with_scenario("")).scenarios
    assert s.apps == tuple(sorted(APPS))
    assert s.connections == (1, 12, 24, 48)
    assert (s.threads, s.duration, s.warmup, s.repeats, s.timeout) == (2, 10.0, 2.0, 3, 5.0)
    assert s.default is True


def test_string_body_keeps_content_type(tmp_path):
    text = with_scenario("", request='request: {method: PUT, path: /users/1, body: "x", '
                         'headers: {content-type: text/plain}}')
    (s,) = load_text(tmp_path, text).scenarios
    assert s.request.body == "x"
    assert s.request.headers == {"content-type": "text/plain"}


def test_to_dict_is_json_ready(tmp_path):
    import json

    sf = load_text(tmp_path, GOOD)
    d = scenarios.to_dict(sf.scenarios[0])
    assert d["duration"] == 10.0 and d["timeout"] == 60.0
    assert d["thresholds"] == ["error_rate < 1%", "p99 < 500ms"]
    assert d["request"] == {"method": "GET", "path": "/users", "headers": {}, "body": None}
    config = scenarios.config(sf)
    assert json.loads(json.dumps(config)) == config
    assert config["rows"] == 500 and len(config["scenarios"]) == 2


@pytest.mark.parametrize(("extra", "expected"), [
    ("connections: [1, 12, abc]",
     "scenarios.yaml: scenarios[0].connections[2]: must be a positive integer (got 'abc')"),
    ("connections: [0]",
     "scenarios.yaml: scenarios[0].connections[0]: must be a positive integer (got 0)"),
    ("connections: [10001]",
     "scenarios.yaml: scenarios[0].connections[0]: must be at most 10000 (got 10001)"),
    ("connections: []",
     "scenarios.yaml: scenarios[0].connections: must be a non-empty list (got [])"),
    ("connections: 12",
     "scenarios.yaml: scenarios[0].connections: must be a list (got 12)"),
    ("connections: [12, 12]",
     "scenarios.yaml: scenarios[0].connections[1]: must not repeat an earlier entry (got 12)"),
    ("conections: [1]",
     ("scenarios.yaml: scenarios[0].conections: unknown key (did you mean 'connections'?); "
     "allowed keys: name, description, request, apps, connections,")),
    ("apps: [flask]",
     ("scenarios.yaml: scenarios[0].apps[0]: must be one of fastapi_async, fastapi_sync, "
     "flask_sync (did you mean 'flask_sync'?) (got 'flask')")),
    ("apps: []", "scenarios.yaml: scenarios[0].apps: must be a non-empty list (got [])"),
    ("threads: 0", "scenarios.yaml: scenarios[0].threads: must be a positive integer (got 0)"),
    ("repeats: 0", "scenarios.yaml: scenarios[0].repeats: must be a positive integer (got 0)"),
    ("repeats: true",
     "scenarios.yaml: scenarios[0].repeats: must be a positive integer (got True)"),
    ("duration: 0s",
     ("scenarios.yaml: scenarios[0].duration: must be whole seconds >= 1, like 10s, 5m or 10 "
     "(wrk's resolution) (got '0s')")),
    ("duration: 500ms", "scenarios[0].duration: must be whole seconds >= 1"),
    ("duration: -3", "scenarios[0].duration: must be whole seconds >= 1"),
    ("duration: ten", "scenarios[0].duration: must be whole seconds >= 1"),
    ("timeout: 0", "scenarios[0].timeout: must be whole seconds >= 1"),
    ("warmup: -1s", "scenarios[0].warmup: must be whole seconds >= 0"),
    ("env: {POOL_SIZE: [1]}",
     "scenarios.yaml: scenarios[0].env.POOL_SIZE: must be a string or a number (got [1])"),
    ("env: {POOL SIZE: 1}",
     "scenarios[0].env: variable names must be letters, digits and '_' (got 'POOL SIZE')"),
    ("app_env: {fastapi: {X: 1}}",
     "scenarios[0].app_env.fastapi: unknown app (did you mean 'fastapi_sync'?); apps: "),
    ("thresholds: ['p95 < 1s']",
     ("scenarios.yaml: scenarios[0].thresholds[0]: unknown metric 'p95' (did you mean 'p99'?); "
     "metrics: error_rate, rps, p50, p75, p90, p99, p99.9, mean_latency, timeouts")),
    ("thresholds: ['p99 < 500']", "scenarios[0].thresholds[0]: p99 needs a unit: us, ms or s"),
    ("thresholds: ['fast']",
     "scenarios[0].thresholds[0]: must be '<metric> <op> <value>' like 'p99 < 500ms'"),
    ("tags: [a, a]", "scenarios[0].tags[1]: must not repeat an earlier entry (got 'a')"),
    ("default: maybe", "scenarios[0].default: must be true or false (got 'maybe')"),
    ("description: [x]", "scenarios[0].description: must be a string (got ['x'])"),
    ("connections: [1, 12]\nprofile: 24",
     ("scenarios.yaml: scenarios[0].profile: must be true (the highest level) or one of the "
      "scenario's connection levels (1, 12) (got 24)")),
    ("profile: fast", ("scenarios[0].profile: must be true (the highest connection level), "
                       "false, or one of the scenario's connection levels (got 'fast')")),
    ("profile: 0", "scenarios[0].profile: must be true (the highest connection level)"),
])
def test_bad_scenario_values(tmp_path, extra, expected):
    assert expected in error(tmp_path, with_scenario(extra))


@pytest.mark.parametrize(("request_yaml", "expected"), [
    ("request: {method: FETCH, path: /users}",
     ("scenarios.yaml: scenarios[0].request.method: must be one of GET, POST, PUT, PATCH, "
     "DELETE, HEAD (got 'FETCH')")),
    ("request: {path: users}",
     ("scenarios.yaml: scenarios[0].request.path: must start with '/' and contain no spaces "
     "(got 'users')")),
    ("request: {method: GET, path: /users, body: {a: 1}}",
     ("scenarios.yaml: scenarios[0].request.body: only POST, PUT, PATCH requests may have a "
     "body (method is GET)")),
    ("request: {method: POST, path: /users, body: 12}",
     "scenarios[0].request.body: must be a mapping (sent as JSON) or a string (got 12)"),
    ("request: {path: /users, header: {}}",
     ("scenarios[0].request.header: unknown key (did you mean 'headers'?); "
     "allowed keys: method, path, headers, body")),
    ("request: {path: /users, headers: {Content-Length: 3}}",
     "scenarios[0].request.headers.Content-Length: must not be set: wrk computes it"),
    ("request: {path: /users, headers: {'X Y': 1}}",
     "scenarios[0].request.headers: header names must be HTTP tokens (got 'X Y')"),
    ("request: /users", "scenarios[0].request: must be a mapping (got '/users')"),
])
def test_bad_requests(tmp_path, request_yaml, expected):
    assert expected in error(tmp_path, with_scenario("", request=request_yaml))


@pytest.mark.parametrize(("text", "expected"), [
    ("", ("scenarios.yaml: top level must be a mapping with keys version, rows, targets, "
         "defaults, scenarios (got an empty file)")),
    ("- 1\n", "scenarios.yaml: top level must be a mapping"),
    ("scenarios: []\n", "scenarios.yaml: version: required; this harness reads version 1"),
    ("version: 2\nscenarios: []\n",
     "scenarios.yaml: version: unsupported version; supported: 1 (got 2)"),
    ("version: 1\n", "scenarios.yaml: scenarios: must be a non-empty list of scenarios (got None)"),
    ("version: 1\nscenario: []\n",
     ("scenarios.yaml: scenario: unknown key (did you mean 'scenarios'?); allowed keys: version, "
     "rows, targets, defaults, scenarios")),
    ("version: 1\nrows: 0\nscenarios: []\n",
     "scenarios.yaml: rows: must be a positive integer (got 0)"),
    ("version: 1\ndefaults: {name: x}\nscenarios: []\n",
     "scenarios.yaml: defaults.name: unknown key; allowed keys: apps, connections, threads,"),
    ("version: 1\ndefaults: {duration: 5x}\nscenarios: [{name: a, request: {path: /}}]\n",
     "scenarios.yaml: defaults.duration: must be whole seconds >= 1"),
    ("version: 1\ntargets: {ext: 'http://10.0.0.5:8000'}\nscenarios: []\n",
     ("scenarios.yaml: targets.ext: must be a loopback host: 127.0.0.0/8, localhost or [::1], "
     "like http://127.0.0.1:8000 (got 'http://10.0.0.5:8000')")),
    ("version: 1\ntargets: {ext: 'http://127.0.0.1:8000/api'}\nscenarios: []\n",
     "targets.ext: must be a base URL with no path, query or user"),
    ("version: 1\ntargets: {ext: 'https://localhost:8000'}\nscenarios: []\n",
     "targets.ext: must be http://HOST:PORT"),
    ("version: 1\nscenarios: [{request: {path: /}}]\n",
     "scenarios.yaml: scenarios[0].name: required"),
    ("version: 1\nscenarios: [{name: a}]\n", "scenarios.yaml: scenarios[0].request: required"),
    ("version: 1\nscenarios: [{name: 'a b', request: {path: /}}]\n",
     "scenarios[0].name: must be letters, digits, '_', '.' or '-' (got 'a b')"),
    ("version: 1\nscenarios: [{name: a, request: {path: /}}, {name: a, request: {path: /}}]\n",
     "scenarios.yaml: scenarios[1].name: duplicate scenario name (also scenarios[0]) (got 'a')"),
    ("version: 1\nscenarios: [x]\n", "scenarios.yaml: scenarios[0]: must be a mapping (got 'x')"),
])
def test_bad_files(tmp_path, text, expected):
    assert expected in error(tmp_path, text)


def test_yaml_syntax_error_names_the_line(tmp_path):
    message = error(tmp_path, "version: 1\nscenarios:\n  - name: a\n   request: [\n")
    assert message.startswith("scenarios.yaml:4: invalid YAML: ")


def test_duplicate_yaml_key_is_an_error(tmp_path):
    message = error(tmp_path, "version: 1\nrows: 1\nrows: 2\nscenarios: []\n")
    assert message == "scenarios.yaml:3: invalid YAML: duplicate key 'rows'"


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match=r"nope\.yaml: file not found$"):
        scenarios.load(tmp_path / "nope.yaml", APPS)


def test_non_loopback_hosts():
    assert scenarios.is_loopback("127.0.0.1") and scenarios.is_loopback("127.9.9.9")
    assert scenarios.is_loopback("::1") and scenarios.is_loopback("LOCALHOST")
    assert not scenarios.is_loopback("10.0.0.1") and not scenarios.is_loopback("example.com")
    assert scenarios.base_url_problem("http://[::1]:8000") is None


SELECT = """\
version: 1
scenarios:
  - {name: a, request: {path: /}}
  - {name: b, request: {path: /}, tags: [soak], default: false}
  - {name: c, request: {path: /}, tags: [soak, write], apps: [flask_sync]}
"""


def names(sf):
    return [s.name for s in sf.scenarios]


def test_select(tmp_path):
    sf = load_text(tmp_path, SELECT)
    assert names(scenarios.select(sf)) == ["a", "c"]
    assert names(scenarios.select(sf, tags=["soak"])) == ["b", "c"]
    assert names(scenarios.select(sf, tags=["soak"], names=["b"])) == ["b"]
    assert names(scenarios.select(sf, names=["b"])) == ["b"]  # named: runs although not default
    narrowed = scenarios.select(sf, apps=["fastapi_async"])
    assert names(narrowed) == ["a"]  # c has no fastapi_async: dropped
    assert narrowed.scenarios[0].apps == ("fastapi_async",)


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"tags": ["sok"]}, ("scenarios.yaml: unknown tag 'sok' (did you mean 'soak'?); "
                        "tags: soak, write")),
    ({"names": ["z"]}, "scenarios.yaml: unknown scenario 'z'; scenarios: a, b, c"),
    ({"apps": ["flask"]}, ("scenarios.yaml: unknown app 'flask' (did you mean 'flask_sync'?); "
                          "apps: fastapi_async, fastapi_sync, flask_sync")),
    ({"tags": ["write"], "names": ["a"]},
     "scenarios.yaml: no scenario matches the selection (tags ['write'], names ['a'])"),
])
def test_select_errors(tmp_path, kwargs, expected):
    sf = load_text(tmp_path, SELECT)
    with pytest.raises(UsageError) as e:
        scenarios.select(sf, **kwargs)
    assert str(e.value).replace(str(tmp_path) + "/", "") == expected


@pytest.mark.parametrize(("extra", "profile"), [
    ("connections: [1, 12]\nprofile: 12", 12), ("connections: [1, 12]\nprofile: true", 12),
    ("connections: [1, 12]\nprofile: false", None), ("connections: [1, 12]", None)])
def test_profile_is_a_level_of_the_scenario(tmp_path, extra, profile):
    (s,) = load_text(tmp_path, with_scenario(extra)).scenarios
    assert s.profile == profile
    assert scenarios.to_dict(s).get("profile") == profile  # absent when not profiled


def test_profile_in_defaults_must_suit_every_scenario(tmp_path):
    text = ("version: 1\ndefaults: {profile: 12}\nscenarios:\n"
            "  - {name: a, request: {path: /users}, connections: [12]}\n"
            "  - {name: b, request: {path: /users}, connections: [1]}\n")
    assert error(tmp_path, text) == (
        "scenarios.yaml: defaults.profile (for scenarios[1]): must be true (the highest level) "
        "or one of the scenario's connection levels (1) (got 12)")
