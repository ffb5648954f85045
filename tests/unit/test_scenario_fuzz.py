"""Hostile and random scenario files: every one is accepted, or refused with one line (exit 2 at
the command line), never a traceback, a hang, or anything started.

Hypothesis builds documents from the scenario schema (every key, valid values), then mutates
them: values swapped for wrong types, huge or negative numbers, odd strings; keys dropped or
added; the YAML text itself cut, spliced or nested. The in-process part checks over a thousand
documents; a handful go through the real command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.config import scenarios
from harness.errors import UsageError
from harness.measure import procs

ROOT = Path(__file__).resolve().parents[2]
APPS = ("flask_sync", "fastapi_sync", "fastapi_async")
DOCUMENTS = 1000
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: writing is not under test
MAX_LINE = 1200  # an error line is bounded whatever the input

# -- the schema, as strategies ------------------------------------------------------------------

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
names = st.builds(str.__add__, st.sampled_from(ALNUM), st.text(ALNUM + "_.-", max_size=10))
seconds = st.one_of(st.integers(1, 30), st.integers(1, 30).map(lambda s: f"{s}s"),
                    st.sampled_from(["1m", "2m", "1h"]))
times = st.one_of(st.integers(1, 5), st.sampled_from(["1s", "2.5s", "1500ms", "3s"]))
knobs = st.dictionaries(st.sampled_from(sorted(scenarios.KNOB_BOUNDS)), st.integers(0, 8),
                        max_size=3)
threshold = st.sampled_from(["error_rate < 1%", "p99 < 1s", "rps > 100", "timeouts <= 0",
                             "p50 < 500ms"])
request = st.fixed_dictionaries(
    {"path": st.sampled_from(["/users", "/users/1", "/health", "/users/insert-data-to-test"])},
    optional={"method": st.sampled_from(["GET", "get", "POST", "PUT", "HEAD"]),
              "headers": st.dictionaries(st.sampled_from(["Accept", "X-Test"]),
                                         st.sampled_from(["a", "1"]), max_size=2),
              "body": st.sampled_from([{"name": "n {{unique}}",
                                        "email": "{{unique}}@example.com"}, "x"])})
fault = st.one_of(
    st.fixed_dictionaries({"kind": st.sampled_from(["restart_postgres", "kill_worker",
                                                    "terminate_connections"]), "at": times}),
    st.fixed_dictionaries({"kind": st.just("lock_table"), "at": times,
                           "hold": st.sampled_from(["1s", "500ms", 2])}))
common = {
    "apps": st.lists(st.sampled_from(APPS), min_size=1, max_size=3, unique=True),
    "connections": st.lists(st.integers(1, 200), min_size=1, max_size=4, unique=True),
    "threads": st.integers(1, 8), "duration": seconds, "warmup": st.integers(0, 3),
    "repeats": st.integers(1, 5), "timeout": seconds, "env": knobs,
    "app_env": st.dictionaries(st.sampled_from(APPS), knobs, max_size=2),
    "thresholds": st.lists(threshold, max_size=2, unique=True),
    "tags": st.lists(names, max_size=2, unique=True), "default": st.booleans(),
    "min_effect": st.sampled_from(["5%", 0.1, "10%"]),
    "budget": st.sampled_from([None, "60s", 120]),
    "min_repeats": st.integers(2, 4), "max_repeats": st.integers(4, 10),
    "timeline": st.sampled_from([None, "1s", 0.25]),
}
scenario = st.fixed_dictionaries({"name": names, "request": request},
                                 optional={**common, "description": st.text(max_size=20),
                                           "faults": st.lists(fault, max_size=2)})
document = st.fixed_dictionaries(
    {"version": st.just(1), "scenarios": st.lists(scenario, min_size=1, max_size=2)},
    optional={"rows": st.integers(1, 5000), "defaults": st.fixed_dictionaries({}, optional=common)})

# What a mutation puts in place of a value: wrong types, out-of-range and odd values.
weird = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(10**6, 10**40), st.just(-1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["0s", "1e9s", "25h", "99999999999h", "500ms", "-1", "ten", "1:30",
                     "100%", "2024-02-30", "\n", "a\u2028b", "{{unique}}", "*x", "&x y"]),
    st.lists(st.integers(-5, 10**12), max_size=4), st.dictionaries(st.text(max_size=6),
                                                                    st.integers(), max_size=3),
    st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=2), max_leaves=80),
)


def mutate(doc, data):
    """Apply a few mutations at random places of the document (a nested dict/list)."""
    for _ in range(data.draw(st.integers(0, 3), label="mutations")):
        node, path = doc, []
        while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(list(node) if isinstance(node, dict)
                                            else range(len(node))))
            path.append((node, key))
            node = node[key]
        action = data.draw(st.sampled_from(["replace", "drop", "add", "wrap"]))
        if not path:
            if action == "replace":
                doc = data.draw(weird)
            continue
        parent, key = path[-1]
        if action == "replace":
            parent[key] = data.draw(weird)
        elif action == "drop":
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.one_of(names, weird.filter(_hashable)))] = data.draw(weird)
        elif action == "wrap":
            parent[key] = [parent[key]] if data.draw(st.booleans()) else {"x": parent[key]}
    return doc


def _hashable(value):
    try:
        hash(value)
    except TypeError:
        return False
    return True


def text_of(doc, data):
    """The document as YAML; sometimes the text itself is cut, spliced or given aliases."""
    try:
        text = yaml.dump(doc, Dumper=DUMPER, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        text = repr(doc)
    action = data.draw(st.sampled_from(["as is"] * 6 + ["cut", "splice", "alias", "nest"]))
    if action == "cut":
        text = text[:data.draw(st.integers(0, len(text)))]
    elif action == "splice":
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(st.sampled_from(
            ["\t", ":", "- ", "{", "]", "&a ", "*a", "!!python/object:os.system ", "\x00",
             "\ufeff", "---\n", "? ", "<<: *a\n", "%YAML 1.1\n"])) + text[at:]
    elif action == "alias":
        depth = data.draw(st.integers(1, 6))
        lines = ["bomb0: &b0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"bomb{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]" for i in range(1, depth)]
        text = "\n".join(lines) + "\n" + text
    elif action == "nest":
        depth = data.draw(st.integers(1, 100))
        text = text + "deep: " + "[" * depth + "]" * depth + "\n"
    return text


# -- the properties -----------------------------------------------------------------------------

def outcome(path: Path) -> str:
    """'accepted' or 'refused'; anything but a one-line UsageError fails the test."""
    try:
        scenarios.load(path, set(APPS))
    except UsageError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, message
        assert message.startswith(str(path)), message
        assert len(message) <= MAX_LINE, message[:200]
        return "refused"
    return "accepted"


def test_a_thousand_documents_are_accepted_or_refused_in_one_line(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    seen: Counter = Counter()

    @settings(max_examples=DOCUMENTS, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(doc=document, data=st.data())
    def one(doc, data):
        doc = mutate(doc, data)
        path = folder / "scenarios.yaml"
        path.write_text(text_of(doc, data), encoding="utf-8")
        seen[outcome(path)] += 1

    before = set(procs._started)  # the session's own servers, when integration tests ran first
    one()
    total = sum(seen.values())
    print(f"\nscenario fuzz: {total} documents, {seen['accepted']} accepted, "
          f"{seen['refused']} refused in one line")
    assert total >= 1000
    assert seen["accepted"] >= 50 and seen["refused"] >= 300  # both sides were exercised
    assert set(procs._started) == before  # nothing started


BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 10)}]\n"
               for i in range(10))  # "billion laughs": 10^10 values once expanded
HOSTILE = {
    "nested 5000 deep": "version: 1\nscenarios: " + "[" * 5000 + "]" * 5000 + "\n",
    "alias bomb": BOMB,
    "recursive alias": "version: 1\nscenarios: &a [*a]\n",
    "over the size cap": "version: 1\n# " + "x" * (scenarios.MAX_FILE_BYTES + 10) + "\n",
    "impossible date": "version: 1\nrows: 2024-02-30\n",
    "5000-digit int": "version: 1\nrows: " + "9" * 5000 + "\n",
    "a trillion rows": "version: 1\nrows: 1000000000000\n"
                       "scenarios: [{name: a, request: {path: /users}}]\n",
    "a billion repeats": "version: 1\nscenarios: [{name: a, request: {path: /users}, "
                         "repeats: 1000000000}]\n",
    "100000 workers": "version: 1\nscenarios: [{name: a, request: {path: /users}, "
                      "env: {WEB_CONCURRENCY: 100000}}]\n",
    "fault past the end": "version: 1\nscenarios: [{name: a, request: {path: /users}, "
                          "duration: 10s, faults: [{kind: lock_table, at: 8s, hold: 5s}]}]\n",
    "unknown fault": "version: 1\nscenarios: [{name: a, request: {path: /users}, "
                     "faults: [{kind: fire, at: 1s}]}]\n",
    "newline in a key": 'version: 1\n"a\\nb": 1\nscenarios: []\n',
}
CLI = ("nested 5000 deep", "alias bomb", "a trillion rows", "unknown fault")


@pytest.mark.parametrize("name", HOSTILE)
def test_pathological_files_get_one_line(tmp_path, name):
    path = tmp_path / "scenarios.yaml"
    path.write_text(HOSTILE[name])
    assert outcome(path) == "refused"


def _cli(args, tmp):
    """The real command line, with its own temporary directory: what it leaves there shows
    whether it started anything (a cluster's directory, a registry entry)."""
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("name", CLI)
def test_the_command_line_refuses_in_one_line_and_starts_nothing(tmp_path, name):
    scenario_file, out, tmp = tmp_path / "s.yaml", tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    scenario_file.write_text(HOSTILE[name])
    done = _cli(["run", str(scenario_file), "--out", str(out)], tmp)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not out.exists()
    left = [p.name for p in tmp.rglob("*")]
    assert left in ([], ["harness-registry"]), left  # no cluster, no run registered


def test_an_accepted_fault_scenario_plans_without_starting(tmp_path):
    scenario_file, tmp = tmp_path / "s.yaml", tmp_path / "tmp"
    tmp.mkdir()
    scenario_file.write_text(
        "version: 1\nscenarios:\n  - name: blip\n    request: {path: /users}\n"
        "    connections: [12]\n    duration: 8s\n    repeats: 1\n"
        "    faults: [{kind: restart_postgres, at: 3s}, {kind: lock_table, at: 5s, hold: 1s}]\n")
    done = _cli(["run", str(scenario_file), "--dry-run"], tmp)
    assert done.returncode == 0, done.stderr
    assert "blip" in done.stdout
    assert [p.name for p in tmp.rglob("*")] in ([], ["harness-registry"])
