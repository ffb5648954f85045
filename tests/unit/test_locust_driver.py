"""Locust as a load driver, without running Locust: the rendered locustfile, the command lines,
the parsing of the master's result into the model, the scenario keys, and the dispatch on the
scenario's driver. tests/integration/test_locust.py runs the real master and workers."""

import ast
import json

import pytest

from harness.config import scenarios
from harness.errors import UsageError
from harness.measure import backends, locust_driver
from harness.measure.locust_driver import LocustError
from harness.model.results import LoadResult

APPS = {"flask_sync", "fastapi_async"}


def config_of(text):
    """The CONFIG a rendered locustfile sets, read without running the file."""
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "CONFIG":
            call = node.value
            assert isinstance(call, ast.Call) and ast.unparse(call.func) == "json.loads"
            return json.loads(ast.literal_eval(call.args[0]))
    raise AssertionError("no CONFIG line")


def render(request, **kw):
    args = {"host": "http://127.0.0.1:8000", "users": 12, "rate": None, "timeout": 5.0,
            "nonce": "abc123", "result_path": "/tmp/out.json", **kw}
    return locust_driver.render_locustfile(request, **args)


def test_rendered_locustfile_compiles_and_carries_the_request():
    body = '{"name":"n-{{unique}}","email":"x\'\\"\\n\u00e9@{{unique}}.com"}'
    request = scenarios.Request("POST", "/users", {"Content-Type": "application/json",
                                                   "X-Quote": "a'b\"c"}, body)
    text = render(request, rate=250.0, workers=3)
    compile(text, "locustfile.py", "exec")
    config = config_of(text)
    assert config["workers"] == 3
    assert config["method"] == "POST" and config["path"] == "/users"
    assert config["body"] == body and config["headers"]["X-Quote"] == "a'b\"c"
    assert config["rate"] == 250.0 and config["users"] == 12 and config["timeout"] == 5.0
    assert config["name"] == "POST /users" and config["result_path"] == "/tmp/out.json"
    assert "CONFIG = {}  # @CONFIG@" not in text  # the placeholder line is gone


def test_closed_loop_render_has_no_rate_and_a_get_has_no_body():
    config = config_of(render(scenarios.Request("GET", "/users", {}, None)))
    assert config["rate"] is None and config["body"] is None


def test_render_refuses_a_nonce_that_could_break_out():
    with pytest.raises(ValueError):
        render(scenarios.Request("GET", "/", {}, None), nonce="a'; import os")


def test_master_and_worker_command_lines(monkeypatch):
    monkeypatch.setattr(locust_driver, "executable", lambda: ["locust"])
    master = locust_driver.master_command("f.py", 48, 5.0, 2, "127.0.0.1", 41234, 30)
    assert master[:4] == ["locust", "-f", "f.py", "--master"]
    joined = " ".join(master)
    for part in ("--headless", "--expect-workers 2", "--master-bind-host 127.0.0.1",
                 "--master-bind-port 41234", "-u 48", "-r 480", "-t 5s", "--reset-stats",
                 "--exit-code-on-error 0", "--expect-workers-max-wait 30"):
        assert part in joined
    worker = locust_driver.worker_command("-", "10.0.0.5", 5557)
    assert worker == ["locust", "-f", "-", "--worker", "--master-host", "10.0.0.5",
                      "--master-port", "5557", "--reset-stats", "--loglevel", "INFO"]


def test_percentile_is_the_smallest_bucket_covering_the_rank():
    buckets = [(1.0, 50), (2.0, 40), (10.0, 9), (100.0, 1)]
    assert locust_driver.percentile(buckets, 100, 50) == 1.0
    assert locust_driver.percentile(buckets, 100, 90) == 2.0
    assert locust_driver.percentile(buckets, 100, 99) == 10.0
    assert locust_driver.percentile(buckets, 100, 99.9) == 100.0


def entry(**kw):
    base = {"name": "GET /users", "method": "GET", "num_requests": 100, "num_none_requests": 0,
            "num_failures": 0, "total_response_time": 250.0, "min_response_time": 0.8,
            "max_response_time": 12.3, "total_content_length": 10_000,
            "response_times": {"1.0": 40, "2.5": 50, "12.3": 10},
            "num_reqs_per_sec": {}, "num_fail_per_sec": {}, "start_time": 0,
            "last_request_timestamp": 0}
    return {**base, **kw}


def result(**kw):
    data = {"stats": [entry()], "errors": [], "window": [1000.0, 1005.0],
            "cpu": {"master": 0.03, "worker-0": 0.41, "worker-1": 0.39},
            "cpu_warning": False, "workers": 2, "reported": 2, "exit_code": 0}
    data.update(kw)
    return data


def parse(data, rate=None):
    return locust_driver.parse_result(data, users=12, seconds=5.0, timeout=5.0, rate=rate,
                                      workers=2)


def test_result_lands_in_the_load_model_with_wrk_meanings():
    load = parse(result())
    assert isinstance(load, LoadResult) and load.driver == "locust"
    assert load.requests == 100 and load.duration_us == 5_000_000 and load.bytes == 10_000
    assert load.threads == 2 and load.connections == 12 and not load.open_loop
    assert load.errors == dict.fromkeys(("connect", "read", "write", "status", "timeout",
                                         "other"), 0)
    lat = load.latency_us
    assert lat["min"] == 800.0 and lat["max"] == 12_300.0 and lat["mean"] == 2500.0
    assert lat["p50"] == 2500.0 and lat["p90"] == 2500.0 and lat["p99"] == 12_300.0
    assert lat["stdev"] > 0
    assert load.generator_cpu == {"master": 0.03, "worker-0": 0.41, "worker-1": 0.39}
    assert load.generator_saturated is False


def test_failures_are_sorted_into_wrk_kinds_and_unanswered_requests_are_not_answers():
    errors = [
        {"method": "GET", "name": "GET /users", "error": "CatchResponseError('status: 500')",
         "occurrences": 7},
        {"method": "GET", "name": "GET /users",
         "error": "CatchResponseError('timeout: Timeout')", "occurrences": 3},
        {"method": "GET", "name": "GET /users",
         "error": "CatchResponseError('connect: ConnectionRefusedError')", "occurrences": 2},
        {"method": "GET", "name": "GET /users",
         "error": "CatchResponseError('read: ConnectionResetError')", "occurrences": 1},
        {"method": "GET", "name": "GET /users", "error": "ZeroDivisionError('x')",
         "occurrences": 1},
    ]
    data = result(stats=[entry(num_requests=106, num_none_requests=6, num_failures=14)],
                  errors=errors)
    load = parse(data)
    assert load.requests == 100  # answers of any status; 6 got none
    assert load.errors == {"connect": 2, "read": 1, "write": 0, "status": 7, "timeout": 3,
                           "other": 1}
    assert load.failures["CatchResponseError('status: 500')"] == 7


def test_a_worker_whose_final_statistics_never_arrived_fails_the_run():
    with pytest.raises(LocustError, match="1 of 2 Locust workers"):
        parse(result(reported=1))


def test_open_loop_result_carries_its_rate():
    load = parse(result(), rate=300.0)
    assert load.open_loop and load.rate == 300.0


def test_a_worker_at_a_full_core_or_locusts_own_warning_flags_a_saturated_generator():
    assert parse(result(cpu={"master": 0.05, "worker-0": 0.97})).generator_saturated is True
    assert parse(result(cpu={}, cpu_warning=True)).generator_saturated is True
    assert parse(result(cpu={}, cpu_warning=False)).generator_saturated is None


def test_no_answer_at_all_gives_null_latencies_as_wrk_does():
    data = result(stats=[entry(num_requests=5, num_none_requests=5, response_times={},
                               total_response_time=0, min_response_time=None,
                               max_response_time=0)])
    load = parse(data)
    assert load.requests == 0 and set(load.latency_us.values()) == {None}


def test_several_entries_are_merged_and_a_missing_window_falls_back_to_the_duration():
    data = result(stats=[entry(), entry(num_requests=50, total_response_time=50.0,
                                        response_times={"1.0": 50}, min_response_time=0.5)],
                  window=[None, None])
    load = parse(data)
    assert load.requests == 150 and load.latency_us["min"] == 500.0
    assert load.duration_us == 5_000_000


@pytest.mark.parametrize("bad", [[], {"stats": "x", "errors": []},
                                 {"stats": [{"num_requests": 1}], "errors": []}])
def test_malformed_results_raise_locust_error(bad):
    with pytest.raises(LocustError):
        parse(bad)


def test_locust_error_is_a_load_generator_failure_the_runner_records():
    from harness.measure import wrk

    assert issubclass(LocustError, wrk.WrkError)


def test_non_loopback_targets_are_refused_before_anything_starts(tmp_path):
    with pytest.raises(UsageError, match="non-loopback"):
        locust_driver.run("http://10.1.2.3:8000/users", scenarios.Request("GET", "/users", {},
                                                                          None),
                          12, 5, 5, tmp_path)
    assert not list(tmp_path.iterdir())


# -- the scenario keys -------------------------------------------------------------------------


def parse_scenario(**item):
    data = {"version": 1, "scenarios": [{"name": "s", "request": {"path": "/users"},
                                         "apps": ["flask_sync"], "connections": [12, 48],
                                         **item}]}
    return scenarios.parse(data, "scenarios.yaml", APPS).scenarios[0]


def test_wrk_stays_the_default_and_its_config_is_unchanged():
    s = parse_scenario()
    assert s.driver == "wrk" and s.rate is None and not s.open_loop
    assert not {"driver", "rate", "locust_workers"} & set(scenarios.to_dict(s))


def test_locust_scenario_with_one_rate_or_one_per_level():
    s = parse_scenario(driver="locust", rate=300, locust_workers=2)
    assert s.open_loop and s.rate_at(12) == 300.0 and s.rate_at(48) == 300.0
    assert (s.locust_workers, s.locust_remote_workers) == (2, 0)
    d = scenarios.to_dict(s)
    assert d["driver"] == "locust" and d["rate"] == 300.0
    assert d["locust_workers"] == {"local": 2, "remote": 0}
    s = parse_scenario(driver="locust", rate=[100, 400.5],
                       locust_workers={"local": 0, "remote": 3})
    assert s.rate_at(12) == 100.0 and s.rate_at(48) == 400.5
    assert (s.locust_workers, s.locust_remote_workers) == (0, 3)


@pytest.mark.parametrize("item, message", [
    ({"rate": 100}, "rate: needs driver: locust"),
    ({"driver": "locust", "rate": [100]}, "one rate per connection level"),
    ({"driver": "locust", "rate": 0}, "above 0"),
    ({"driver": "locust", "rate": 2_000_000}, "at most 1,000,000"),
    ({"driver": "locust", "rate": True}, "requests per second"),
    ({"driver": "locust", "rate": [100, "x"]}, r"rate\[1\]"),
    ({"driver": "lokust"}, "did you mean 'locust'"),
    ({"locust_workers": 2}, "only used with driver: locust"),
    ({"driver": "locust", "locust_workers": 0}, "positive integer"),
    ({"driver": "locust", "locust_workers": 65}, "at most 64"),
    ({"driver": "locust", "locust_workers": {"local": 0}}, "at least one worker"),
    ({"driver": "locust", "locust_workers": {"local": -1}}, "from 0 to 64"),
    ({"driver": "locust", "locust_workers": {"remote": 1001}}, "from 0 to 1000"),
    ({"driver": "locust", "locust_workers": {"locals": 1}}, "did you mean 'local'"),
])
def test_driver_keys_are_validated_in_one_line(item, message):
    with pytest.raises(UsageError, match=message) as info:
        parse_scenario(**item)
    assert "\n" not in str(info.value) and str(info.value).startswith("scenarios.yaml: ")


def test_new_connection_levels_must_fit_a_per_level_rate():
    import dataclasses

    s = parse_scenario(driver="locust", rate=[100, 200])
    with pytest.raises(UsageError, match="rate has 2 values"):
        dataclasses.replace(s, connections=(1, 12, 48))
    one = parse_scenario(driver="locust", rate=100)
    assert dataclasses.replace(one, connections=(1, 12, 48)).rate_at(1) == 100.0


# -- dispatch ------------------------------------------------------------------------------------


def test_real_backend_dispatches_load_on_the_scenario_driver(monkeypatch):
    calls = []
    monkeypatch.setattr(backends.wrk, "run", lambda *a, **kw: calls.append(("wrk", a, kw)))
    monkeypatch.setattr(backends.locust_driver, "run",
                        lambda *a, **kw: calls.append(("locust", a, kw)))
    real = backends.Real()
    request = scenarios.Request("GET", "/users", {}, None)
    real.load("http://127.0.0.1:1/users", request, 12, 2, 5, 5, "/tmp/w", [])
    wrk_scenario = parse_scenario()
    real.load("http://127.0.0.1:1/users", request, 12, 2, 5, 5, "/tmp/w", [],
              scenario=wrk_scenario)
    open_loop = parse_scenario(driver="locust", rate=[100, 200],
                               locust_workers={"local": 2, "remote": 1})
    real.load("http://127.0.0.1:1/users", request, 48, 2, 5, 5, "/tmp/w", [1],
              scenario=open_loop)
    assert [c[0] for c in calls] == ["wrk", "wrk", "locust"]
    kw = calls[2][2]
    assert kw == {"workers": 2, "remote_workers": 1, "rate": 200.0, "cpus": [1]}


# -- in the report: each group's driver and loop, open-loop p99 beside closed-loop p99 --------


def report_of(cells_and_scenarios):
    import dataclasses as dc
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures" / "report"))
    import builders

    from harness.analysis.analyze import analyze
    from harness.render import markdown

    cells = []
    for kw in cells_and_scenarios:
        kw = dict(kw)
        driver, rate = kw.pop("driver", "wrk"), kw.pop("rate", None)
        saturated = kw.pop("generator_saturated", None)
        c = builders.cell(**kw)
        c.load = dc.replace(c.load, driver=driver, open_loop=rate is not None, rate=rate,
                            generator_saturated=saturated)
        cells.append(c)
    run = builders.run(cells, scenarios=[builders.scenario("closed", apps=["a"]),
                                         builders.scenario("open", apps=["a"]),
                                         builders.scenario("other", apps=["a"])])
    findings = analyze([run], run)
    return findings, markdown.render(findings)


def loop_cells():
    cells = []
    for r in range(3):
        cells.append({"scenario": "closed", "app": "a", "connections": 12, "repeat": r,
                      "rps": 1000.0 + r, "p99_ms": 40.0})
        cells.append({"scenario": "closed", "app": "a", "connections": 1, "repeat": r,
                      "rps": 400.0 + r, "p99_ms": 5.0})
        cells.append({"scenario": "open", "app": "a", "connections": 48, "repeat": r,
                      "rps": 980.0 + r, "p99_ms": 900.0, "driver": "locust", "rate": 1000.0})
    return cells


def test_open_loop_group_is_set_beside_the_closed_loop_group_of_nearest_throughput():
    findings, _ = report_of(loop_cells())
    (c,) = findings.loops
    assert (c.open_scenario, c.closed_scenario, c.closed_connections) == ("open", "closed", 12)
    assert c.same_throughput and c.rate == 1000.0 and c.open_driver == "locust"
    assert c.open_p99 == 900_000 and c.closed_p99 == 40_000
    open_group = next(g for s in findings.scenarios for g in s.groups if g.open_loop)
    assert (open_group.driver, open_group.rate) == ("locust", 1000.0)


def test_report_marks_each_group_and_shows_both_p99():
    _, text = report_of(loop_cells())
    page = text["report.md"]
    assert "## Open loop beside closed loop" in page and "| load |" in page
    assert "Locust, open 1000/s" in page and "wrk, closed" in page
    assert "open loop: requests sent on a schedule" in page
    row = next(line for line in page.splitlines() if line.startswith("| `a` | `GET /users`"))
    assert "40.0" in row and "900.0" in row and "same" in row


def test_wrk_only_report_has_no_load_column_or_loop_section():
    cells = [c for c in loop_cells() if c["scenario"] == "closed"]
    findings, text = report_of(cells)
    page = text["report.md"]
    assert findings.loops == () and "Open loop beside" not in page and "| load |" not in page


def test_the_drivers_own_saturation_judgement_counts_for_locust_cells():
    cells = [{"scenario": "open", "app": "a", "connections": 4, "repeat": r, "rps": 100.0,
              "driver": "locust", "rate": 100.0, "generator_saturated": r == 0,
              "series": {}} for r in range(3)]
    findings, _ = report_of(cells)
    (g,) = findings.scenarios[0].groups
    assert (g.saturated, g.sampled) == (1, 3)
