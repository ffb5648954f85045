import json
from pathlib import Path

import pytest

from harness.config.scenarios import Request
from harness.errors import UsageError
from harness.measure import wrk

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wrk"


@pytest.mark.parametrize(("connections", "max_threads", "expected"), [
    (1, 2, 1), (12, 2, 2), (48, 12, 12), (200, 12, 10), (7, 4, 1), (9, 4, 3), (3, 8, 3),
])
def test_threads_divide_connections(connections, max_threads, expected):
    assert wrk.threads_for(connections, max_threads) == expected


def test_lua_string_escapes_everything_unsafe():
    assert wrk.lua_string('a"b\\c') == r'"a\"b\\c"'
    assert wrk.lua_string("x\n1]]") == r'"x\0101]]"'  # \010 then "1": always three digits
    assert wrk.lua_string("é") == r'"\195\169"'


def test_static_request_is_set_once():
    request = Request("GET", "/users?limit=10", {"Accept": "application/json"}, None)
    script = wrk.render_script(request, "/tmp/out.json", "abc")
    assert '\nwrk.method = "GET"\n' in script
    assert '\nwrk.path = "/users?limit=10"\n' in script
    assert "\nwrk.body = nil\n" in script
    assert 'pairs({["Accept"] = "application/json"})' in script
    assert "local body_template = nil" in script  # so request() stays undefined
    assert 'local out_path = "/tmp/out.json"' in script
    assert "@" not in script.replace("@...@", "")  # every placeholder replaced


def test_unique_body_gets_a_request_function():
    body = '{"email":"{{unique}}@example.com"}'
    request = Request("POST", "/users", {"Content-Type": "application/json"}, body)
    script = wrk.render_script(request, "/tmp/out.json", "n0nce")
    assert 'local body_template = "{\\"email\\":\\"{{unique}}@example.com\\"}"' in script
    assert 'local nonce = "n0nce"' in script
    assert 'nonce .. "-" .. thread_id .. "-" .. counter' in script
    assert 'thread:set("thread_id", threads)' in script


def test_placeholder_text_inside_values_is_not_substituted():
    request = Request("POST", "/@PATH@", {}, "@OUT_PATH@ {{unique}}")
    script = wrk.render_script(request, "/tmp/o.json", "n")
    assert 'wrk.path = "/@PATH@"' in script
    assert 'wrk.body = "@OUT_PATH@ {{unique}}"' in script


def test_nonce_must_be_plain():
    with pytest.raises(ValueError, match="nonce"):
        wrk.render_script(Request("GET", "/", {}, None), "/tmp/o.json", "a%b")


def test_command_passes_timeout_and_whole_seconds():
    cmd = wrk.command("http://127.0.0.1:8000/users", 12, 2, 10, 5, "/tmp/s.lua")
    assert cmd == ["wrk", "-t2", "-c12", "-d10s", "--timeout", "5s", "-s", "/tmp/s.lua",
                   "http://127.0.0.1:8000/users"]
    assert wrk.command("http://127.0.0.1:1/", 1, 1, 0.4, 1.5, "s.lua")[3:6] == [
        "-d1s", "--timeout", "2s"]


def test_parse_ok_fixture():
    s = wrk.parse_summary((FIXTURES / "ok.json").read_text())
    assert s["requests"] == 12691 and s["duration_us"] == 1100090
    assert s["errors"] == {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    lat = s["latency_us"]
    assert lat["min"] <= lat["p50"] <= lat["p75"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"]
    assert lat["p99.9"] <= lat["max"]


def test_parse_errors_fixture():
    # 1 in 5 answered 500, 1 in 5 answered after the 1 s timeout, 1 in 5 dropped unanswered.
    s = wrk.parse_summary((FIXTURES / "errors.json").read_text())
    assert s["errors"]["status"] > 0 and s["errors"]["timeout"] > 0 and s["errors"]["read"] > 0
    # wrk counts a late answer both as a request and as a timeout, and keeps it out of latency.
    assert s["requests"] >= s["errors"]["status"] + s["errors"]["timeout"]
    assert s["latency_us"]["max"] < 1_000_000


def test_parse_silent_fixture_has_no_latency():
    # A server that never answers: wrk counts nothing at all, not even timeouts.
    s = wrk.parse_summary((FIXTURES / "silent.json").read_text())
    assert s["requests"] == 0 and sum(s["errors"].values()) == 0
    assert set(s["latency_us"].values()) == {None}


def good():
    return json.loads((FIXTURES / "ok.json").read_text())


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: "not json", "wrk summary is not JSON"),
    (lambda d: [], "wrk summary is not a JSON object"),
    (lambda d: (d.pop("requests"), d)[1], "requests must be a non-negative integer (got None)"),
    (lambda d: d.update(bytes=-1) or d, "bytes must be a non-negative integer (got -1)"),
    (lambda d: (d["errors"].pop("timeout"), d)[1], "errors lacks timeout"),
    (lambda d: d.update(errors=5) or d, "errors lacks connect, read, write, status, timeout"),
    (lambda d: d["errors"].update(read="x") or d, "errors.read must be a non-negative integer"),
    (lambda d: (d["latency_us"].pop("p99.9"), d)[1], "latency_us lacks p99.9"),
    (lambda d: d["latency_us"].update(p50=None) or d, "latency_us must be all numbers or all"),
    (lambda d: d["latency_us"].update(p50="1") or d, "latency_us.p50 must be a non-negative"),
])
def test_parse_rejects_malformed(mutate, message):
    data = mutate(good())
    text = data if isinstance(data, str) else json.dumps(data)
    with pytest.raises(wrk.WrkError, match=message.replace("(", r"\(").replace(")", r"\)")):
        wrk.parse_summary(text)


def test_run_refuses_remote_hosts(tmp_path):
    with pytest.raises(UsageError, match="non-loopback"):
        wrk.run("http://10.1.2.3:8000", Request("GET", "/", {}, None), 1, 1, 1, 1, tmp_path)


def test_run_without_wrk_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match="apt-get install wrk"):
        wrk.run("http://127.0.0.1:8000", Request("GET", "/", {}, None), 1, 1, 1, 1, tmp_path)
