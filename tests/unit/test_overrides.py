"""Command-line settings for `run` (harness.config.overrides), the dry run and the guard against
absurd plans (harness.commands.run): nothing here starts a process but the CLI itself."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness.commands import run
from harness.config import overrides, scenarios
from harness.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
APPS = {"a", "b", "c"}


def scenario_file(**changes):
    adaptive = {"name": "reads", "request": {"path": "/users"}, "connections": [1, 12],
                "duration": "5s", "warmup": "1s", "budget": "150s", "min_repeats": 3,
                "max_repeats": 30, **changes}
    fixed = {"name": "soak", "request": {"path": "/users"}, "connections": [200],
             "duration": "5m", "repeats": 1}
    return scenarios.parse({"version": 1, "defaults": {"apps": ["a", "b"]},
                            "scenarios": [adaptive, fixed]}, "scenarios.yaml", APPS)


def flags(**given):
    return overrides.parse({k: given.get(k) for k in overrides.FLAGS})


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60, check=False)


# --- parse: the flags, validated as the file's keys -------------------------------------------

def test_values_are_validated_and_typed_as_in_the_file():
    assert flags(duration="2s", warmup="0", connections="12, 48", threads="4",
                 budget="60s", min_repeats="2", max_repeats="5") == {
        "duration": 2.0, "warmup": 0.0, "connections": (12, 48), "threads": 4,
        "budget": 60.0, "min_repeats": 2, "max_repeats": 5}
    assert flags(duration="2m") == {"duration": 120.0}
    assert flags() == {}


def test_repeats_switches_to_fixed_rounds():
    assert flags(repeats="2") == {"repeats": 2, "budget": None}
    assert flags(repeats="2", budget="null") == {"repeats": 2, "budget": None}
    assert flags(budget="none") == {"budget": None}


@pytest.mark.parametrize("given, message", [
    ({"duration": "2.5s"}, ("--duration: must be whole seconds >= 1, like 10s, 5m or 10 "
                           "(wrk's resolution) (got '2.5s')")),
    ({"duration": "0"}, "--duration: must be whole seconds >= 1"),
    ({"warmup": "soon"}, "--warmup: must be whole seconds >= 0"),
    ({"duration": "25h"}, "--duration: must be at most 24 h"),
    ({"connections": "1,x"}, "--connections[1]: must be a positive integer (got 'x')"),
    ({"connections": "12,12"}, "--connections[1]: must not repeat an earlier entry"),
    ({"connections": "20000"}, "--connections[0]: must be at most 10000"),
    ({"connections": ""}, "--connections: must be a non-empty list"),
    ({"threads": "0"}, "--threads: must be a positive integer (got 0)"),
    ({"repeats": "1e9"}, "--repeats: must be a positive integer (got '1e9')"),
    ({"repeats": "1000000000"}, "--repeats: must be at most 1000"),
    ({"min_repeats": "1"}, "--min-repeats: must be at least 2: a spread needs two rounds"),
    ({"budget": "forever"}, "--budget: must be whole seconds >= 1"),
    ({"repeats": "3", "budget": "60s"}, "--repeats and --budget: choose one"),
    ({"min_repeats": "5", "max_repeats": "4"}, ("--max-repeats: must be at least --min-repeats "
                                               "(5) (got 4)")),
    ({"profile": "soon"}, ("--profile: must be a connection level, 'max' (each scenario's "
                           "highest) or 'off' (got 'soon')")),
    ({"profile": "0"}, "--profile: must be a connection level, 'max'"),
    ({"profile": "20000"}, "--profile: must be a connection level, 'max'"),
])
def test_a_bad_value_is_one_line_naming_the_flag(given, message):
    with pytest.raises(UsageError) as caught:
        flags(**given)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


# --- apply: every selected scenario -----------------------------------------------------------

def test_apply_sets_every_scenario():
    sf = overrides.apply(scenario_file(), flags(duration="2s", warmup="1s", connections="12",
                                                threads="1"))
    for s in sf.scenarios:
        assert (s.duration, s.warmup, s.connections, s.threads) == (2.0, 1.0, (12,), 1)
    assert [s.name for s in sf.scenarios] == ["reads", "soak"]


def test_repeats_makes_adaptive_scenarios_fixed():
    reads, soak = overrides.apply(scenario_file(), flags(repeats="2")).scenarios
    assert not reads.adaptive and reads.repeats == 2 and reads.planned_repeats == 2
    assert not soak.adaptive and soak.repeats == 2


def test_budget_makes_fixed_scenarios_adaptive():
    _, soak = overrides.apply(scenario_file(), flags(budget="30s", max_repeats="4")).scenarios
    assert soak.adaptive and soak.budget == 30.0 and soak.max_repeats == 4


def test_max_repeats_below_a_scenarios_min_repeats_is_refused():
    with pytest.raises(UsageError, match=r"^--max-repeats: scenario reads would run at most 2 "
                                         r"and at least 3 rounds"):
        overrides.apply(scenario_file(), flags(max_repeats="2"))


def test_overridden_values_are_what_the_results_record():
    sf = overrides.apply(scenario_file(), flags(duration="2s", repeats="2"))
    config = scenarios.config(sf)["scenarios"][0]
    assert config["duration"] == 2.0 and config["repeats"] == 2 and config["budget"] is None


def test_profile_is_checked_against_each_scenarios_levels():
    reads, soak = overrides.apply(scenario_file(), flags(profile="max")).scenarios
    assert (reads.profile, soak.profile) == (12, 200)
    with pytest.raises(UsageError, match=r"^--profile: must be one of the connection levels of "
                                         r"scenario soak \(200\) \(got 12\)$"):
        overrides.apply(scenario_file(), flags(profile="12"))
    (reads,) = overrides.apply(scenarios.select(scenario_file(), names=("reads",)),
                               flags(profile="12", connections="12")).scenarios
    assert reads.profile == 12
    # A level the file profiles, taken away by --connections, is a one-line error too.
    with pytest.raises(UsageError, match=r"^scenario reads: profile 12 is not one of its "
                                         r"connection levels \[1\]"):
        overrides.apply(scenario_file(profile=12), flags(connections="1"))
    (reads, _) = overrides.apply(scenario_file(profile=12), flags(profile="off")).scenarios
    assert reads.profile is None


def test_described_gives_the_flags_back():
    assert overrides.described(flags(duration="2s", connections="1,12", repeats="2")) == \
        "--duration 2s --connections 1,12 --repeats 2"
    assert overrides.described(flags(budget="null")) == "--budget null"
    assert overrides.described(flags(profile="max")) == "--profile max"


@pytest.mark.parametrize("text, seconds", [("30h", 108000.0), ("2d", 172800.0),
                                           ("90m", 5400.0), ("600", 600.0)])
def test_max_time(text, seconds):
    assert overrides.parse_max_time(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-1h", "soon", "1w"])
def test_bad_max_time(text):
    with pytest.raises(UsageError, match="^--max-time: must be a duration"):
        overrides.parse_max_time(text)


# --- the plan and the guard -------------------------------------------------------------------

def write(tmp_path, text):
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return str(path)


HUGE = """version: 1
defaults: {apps: [flask_sync, fastapi_sync, fastapi_async], repeats: 1000, duration: 10m}
scenarios:
  - {name: reads, request: {path: /users}, connections: [1, 12]}
"""


def test_guard_refuses_a_plan_over_24_hours(tmp_path):
    planned = run.plan_run(write(tmp_path, HUGE))
    with pytest.raises(UsageError) as caught:
        run.check_time(planned)
    # 2 levels × 1000 rounds × 3 apps × (600 s + 2 s warmup) of load, plus the allowance
    assert str(caught.value) == (
        "the plan may take up to 1004.0 h (1003.3 h of load), over the 24.0 h limit: shorten "
        "it (--duration, --repeats, --budget, --connections) or allow it with --max-time 1005h")


def test_guard_counts_the_overhead_allowance_and_max_time_lifts_it(tmp_path):
    planned = run.plan_run(write(tmp_path, HUGE))
    load = planned.estimate().max_s
    assert load == 2 * 1000 * 3 * 602
    low, high = planned.overhead()
    assert low == high == run.OVERHEAD_FIXED_S + run.OVERHEAD_SCENARIO_S \
        + run.OVERHEAD_CELL_S * 6000
    with pytest.raises(UsageError):
        run.check_time(planned, max_time=load + 1)  # the load alone fits, not with the overhead
    run.check_time(planned, max_time=1006 * 3600)


def test_plan_run_applies_overrides_to_the_selection(tmp_path):
    planned = run.plan_run(str(ROOT / "scenarios.yaml"), names=["users_list"],
                           overrides=flags(connections="12", duration="2s", warmup="1s",
                                           repeats="2"))
    (s,) = planned.sf.scenarios
    assert (s.connections, s.duration, s.repeats, s.adaptive) == ((12,), 2.0, 2, False)
    assert planned.estimate().max_s == 3 * 2 * 3  # 3 apps, 2 rounds, 3 s cells
    assert planned.used == ["flask_sync", "fastapi_sync", "fastapi_async"]


PLAN = """version: 1
rows: 500
defaults:
  apps: [flask_sync, fastapi_sync, fastapi_async]
  warmup: 1s
  duration: 5s
  budget: 150s
scenarios:
  - name: reads
    description: the list
    request: {path: /users}
    connections: [1, 48]
  - name: insert
    request: {path: /users/insert-data-to-test}
    connections: [200]
    repeats: 2
    budget: null
    app_env: {flask_sync: {THREADS: 4}}
  - name: soak
    request: {path: /users}
    connections: [200]
    default: false
"""


def test_dry_run_prints_the_plan_and_estimate_and_starts_nothing(tmp_path):
    proc = cli("run", write(tmp_path, PLAN), "--dry-run", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    head, reads, insert, apps, estimate = proc.stdout.split("\n\n")
    assert head == f"plan: {tmp_path / 'plan.yaml'}: 2 scenario(s), 3 level(s), 500 rows"
    assert reads.splitlines() == [
        "reads: GET /users",
        "  the list",
        ("  apps: flask_sync, fastapi_sync, fastapi_async (interleaved, rotated each round); "
        "baseline flask_sync"),
        "  cells: warmup 1 s + 5 s measured, up to 2 wrk thread(s), timeout 5 s",
        ("  adaptive: 3–30 rounds per level, stopping once every comparison is decided (min "
        "effect 5%) or 2.5 min of load are spent"),
        "  first the ceilings (pgbench, raw ASGI) at each level: 14 s of load",
        "  c=1     3–30 rounds, 9–25 cells, 54 s–2.5 min of load",
        "  c=48    3–30 rounds, 9–25 cells, 54 s–2.5 min of load"]
    assert insert.splitlines()[3:] == [
        "  fixed: 2 round(s) per level",
        "  app settings: flask_sync: THREADS=4",
        "  first the ceilings (pgbench, raw ASGI) at each level: 7 s of load",
        "  c=200   2 round(s), 6 cells, 36 s of load"]
    assert apps.splitlines()[0] == "apps:"
    assert apps.splitlines()[1].startswith("  flask_sync     gunicorn, the harness's Python (")
    assert apps.splitlines()[1].endswith("verified against the users contract")
    # cells 144–336 s and ceilings 21 s of load; allowance 5 + 2 × 5 + 1 s per cell
    assert estimate == ("estimate: 2.8 min–6.0 min of load (24–56 cells and the ceilings); with "
                        "the harness's own time (start-up, resets, checks; allowance) "
                        "3.2 min–6.6 min\n")
    assert not (tmp_path / "out").exists()  # nothing written, not even the results folder


def test_dry_run_of_the_default_file():
    proc = cli("run", "scenarios.yaml", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("plan: scenarios.yaml: ") and "\nestimate: " in proc.stdout


def test_dry_run_of_a_short_trial(tmp_path):
    proc = cli("run", "scenarios.yaml", "--scenario", "users_list", "--connections", "12",
               "--duration", "2s", "--warmup", "1s", "--repeats", "2", "--no-ceilings",
               "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "command-line settings: --duration 2s --warmup 1s --connections 12 --repeats 2\n" \
        in proc.stdout
    assert "  fixed: 2 round(s) per level\n" in proc.stdout
    assert "  c=12    2 round(s), 6 cells, 18 s of load\n" in proc.stdout
    assert "estimate: 18 s of load (6 cells)" in proc.stdout


def test_cli_bad_flag_value_is_one_line_exit_2():
    proc = cli("run", "scenarios.yaml", "--duration", "2.5s", "--dry-run")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        ("error: --duration: must be whole seconds >= 1, like 10s, 5m or 10 (wrk's resolution) "
        "(got '2.5s')")]


def test_cli_refuses_an_absurd_plan_unless_max_time_allows_it(tmp_path):
    path = write(tmp_path, HUGE)
    proc = cli("run", path, "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: the plan may take up to ") and "--max-time 1005h" in line
    assert not (tmp_path / "out").exists()
    dry = cli("run", path, "--dry-run")
    assert dry.returncode == 2 and dry.stdout.startswith("plan: ")  # shown, and refused
    allowed = cli("run", path, "--dry-run", "--max-time", "1100h")
    assert allowed.returncode == 0, allowed.stderr


def test_help_lists_the_new_flags():
    proc = cli("run", "--help")
    for flag in ("--dry-run", "--max-time", "--app-dir", "--own-envs", *overrides.FLAGS.values()):
        assert flag in proc.stdout
