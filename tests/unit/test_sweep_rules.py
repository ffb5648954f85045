"""Sweeps: the scenario keys, the coordinate search without processes, a whole sweep run on
fake backends (search, then fresh rounds), and its findings and report section."""

from __future__ import annotations

import json
import math
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest

from harness.analysis import analyze
from harness.analysis import sweep as sweep_analysis
from harness.config import scenarios, settings
from harness.config.sweep import Axis
from harness.errors import UsageError
from harness.measure import runner, search, services
from harness.model import store
from harness.model.results import (
    Candidate,
    CpuTime,
    LoadResult,
    Objective,
    SearchStop,
    StopReason,
    is_search,
)
from harness.render import markdown
from tests.unit.test_runner import Fake, FakeProcess

KNOBS = {"flask_sync": ("WEB_CONCURRENCY", "POOL_SIZE", "MAX_OVERFLOW", "POOL_TIMEOUT",
                        "THREADS", "WORKER_CLASS"),
         "fastapi_sync": ("WEB_CONCURRENCY", "POOL_SIZE", "MAX_OVERFLOW", "POOL_TIMEOUT",
                          "THREADPOOL_SIZE"),
         "fastapi_async": ("WEB_CONCURRENCY", "POOL_SIZE", "MAX_OVERFLOW", "POOL_TIMEOUT",
                           "THREADPOOL_SIZE")}
APPS = tuple(KNOBS)
SCHEMA = json.loads((Path(store.__file__).with_name("results.schema.json")).read_text())


def parse(**item):
    data = {"version": 1, "scenarios": [{
        "name": "sweep", "request": {"path": "/users"}, "apps": list(APPS),
        "connections": [24], "duration": 5, "warmup": 1, **item}]}
    return scenarios.parse(data, "scenarios.yaml", KNOBS)


def error(**item):
    with pytest.raises(UsageError) as e:
        parse(**item)
    assert "\n" not in str(e.value)
    return str(e.value)


# -- the scenario keys ----------------------------------------------------------------------

def test_sweep_keys_parse_into_axes_and_are_recorded_in_the_config():
    sf = parse(sweep={"flask_sync": {"WEB_CONCURRENCY": [1, 2, 4],
                                     "WORKER_CLASS/THREADS": ["sync/1", "gthread/4"]},
                      "fastapi_async": {"POOL_SIZE/MAX_OVERFLOW": [[5, 10], "20/0"]}},
               sweep_budget="2m", sweep_rounds=3)
    (s,) = sf.scenarios
    assert s.sweep["flask_sync"] == (
        Axis(("WEB_CONCURRENCY",), (("1",), ("2",), ("4",))),
        Axis(("WORKER_CLASS", "THREADS"), (("sync", "1"), ("gthread", "4"))))
    assert s.sweep["fastapi_async"] == (
        Axis(("POOL_SIZE", "MAX_OVERFLOW"), (("5", "10"), ("20", "0"))),)
    assert (s.sweep_budget, s.sweep_rounds) == (120.0, 3)
    recorded = scenarios.to_dict(s)
    assert recorded["sweep"]["flask_sync"]["WORKER_CLASS/THREADS"] == ["sync/1", "gthread/4"]
    assert recorded["sweep_budget"] == 120.0 and recorded["sweep_rounds"] == 3
    assert "sweep" not in scenarios.to_dict(parse().scenarios[0])  # others read as before


@pytest.mark.parametrize(("item", "message"), [
    ({"sweep": {"flask_sync": {"THREADPOOL_SIZE": [10]}}, "sweep_budget": 60},
     ("scenarios[0].sweep.flask_sync.THREADPOOL_SIZE: THREADPOOL_SIZE is not a setting this app "
     "reads; it reads WEB_CONCURRENCY, POOL_SIZE, MAX_OVERFLOW, POOL_TIMEOUT, THREADS, "
     "WORKER_CLASS")),
    ({"sweep": {"flask_sync": {"WEB_CONCURRENCY": [1, 1000]}}, "sweep_budget": 60},
     "sweep.flask_sync.WEB_CONCURRENCY[1]: must be an integer from 1 to 256 (got 1000)"),
    ({"sweep": {"flask_sync": {"WORKER_CLASS/THREADS": ["sync/4"]}}, "sweep_budget": 60},
     "WORKER_CLASS/THREADS[0]: the sync worker takes one thread"),
    ({"sweep": {"flask_sync": {"WORKER_CLASS": ["sync"], "THREADS": [1, 4]}},
      "sweep_budget": 60}, "sweep WORKER_CLASS and THREADS together"),
    ({"sweep": {"flask_sync": {"WORKER_CLASS": ["eventlet"]}}, "sweep_budget": 60},
     "WORKER_CLASS[0]: must be one of sync, gthread (got 'eventlet')"),
    ({"env": {"WORKER_CLASS": "gevent"}},
     "scenarios[0].env.WORKER_CLASS: must be one of sync, gthread (got 'gevent')"),
    ({"sweep": {"flask_sync": {"POOL_SIZE/MAX_OVERFLOW": ["5"]}}, "sweep_budget": 60},
     "POOL_SIZE/MAX_OVERFLOW[0]: must give 2 value(s) for POOL_SIZE/MAX_OVERFLOW, like N/N"),
    ({"sweep": {"flask_sync": {"WEB_CONCURRENCY": [1, "1"]}}, "sweep_budget": 60},
     "WEB_CONCURRENCY[1]: must not repeat an earlier value"),
    ({"sweep": {"flask_sync": {"WEB_CONCURRENCY": [1, 2]}}},
     "scenarios[0].sweep_budget: required with sweep"),
    ({"sweep_budget": 60}, "scenarios[0].sweep_budget: only used with sweep"),
    ({"sweep": {"flask_sync": {"WEB_CONCURRENCY": [1, 2]}}, "sweep_budget": 60,
      "connections": [12, 24]}, ("scenarios[0].connections: a sweep searches at one connection "
     "level: give one, like [24] (got [12, 24])")),
    ({"sweep": {"flask": {"WEB_CONCURRENCY": [1, 2]}}, "sweep_budget": 60},
     "scenarios[0].sweep.flask: not one of the scenario's apps"),
    ({"sweep": {"flask_sync": {}}, "sweep_budget": 60},
     "sweep.flask_sync: must name at least one setting"),
    ({"sweep": {"flask_sync": {"WEB_CONCURRENCY": [1]}}, "sweep_budget": 60,
      "sweep_rounds": 0}, "scenarios[0].sweep_rounds: must be a positive integer (got 0)"),
])
def test_a_bad_sweep_is_one_line_naming_the_key(item, message):
    assert message in error(**item)


def test_narrowing_a_sweep_scenario_keeps_it_valid():
    sf = parse(sweep={"flask_sync": {"WEB_CONCURRENCY": [1, 2]}}, sweep_budget=60)
    picked = scenarios.select(sf, apps=("fastapi_async", "fastapi_sync"), known_apps=set(APPS))
    assert picked.scenarios[0].sweep == {}
    with pytest.raises(UsageError, match="a sweep searches at one connection level"):
        from harness.config import overrides
        overrides.apply(sf, {"connections": (1, 24)})


def test_worker_class_follows_threads_unless_set():
    knobs = KNOBS["flask_sync"]
    assert settings.resolve(knobs)["WORKER_CLASS"] == "sync"
    assert settings.resolve(knobs, {"THREADS": 4})["WORKER_CLASS"] == "gthread"
    assert settings.resolve(knobs, {"WORKER_CLASS": "gthread"})["WORKER_CLASS"] == "gthread"
    assert "WORKER_CLASS" not in settings.resolve(KNOBS["fastapi_sync"])


# -- the search without processes -----------------------------------------------------------

W = Axis(("WEB_CONCURRENCY",), (("1",), ("2",), ("3",), ("4",)))
P = Axis(("POOL_SIZE", "MAX_OVERFLOW"), (("5", "10"), ("20", "0")))


def walk(axes, default, value):
    """Run the descent to its end on a deterministic landscape; returns the steps' axes."""
    descent = search.Descent(axes, default)
    taken = []
    while (step := descent.next_step()) is not None:
        taken.append(step.axis.name)
        chosen = {}
        for o, line in step.lines.items():
            chosen[o] = max(line, key=lambda p, o=o: value(dict(p), o))
        descent.advance(step, chosen)
        assert len(taken) < 20
    return taken, descent.best


def test_descent_converges_to_the_best_along_each_axis_for_each_objective():
    default = search.default_point((W, P), {"WEB_CONCURRENCY": "2", "POOL_SIZE": "5",
                                            "MAX_OVERFLOW": "10"})
    assert default == (("WEB_CONCURRENCY", "2"), ("POOL_SIZE", "5"), ("MAX_OVERFLOW", "10"))

    def value(s, objective):
        w, p = int(s["WEB_CONCURRENCY"]), int(s["POOL_SIZE"])
        if objective is Objective.THROUGHPUT:
            return -abs(w - 3) + (p == 20)  # best at 3 workers and the bigger pool
        return -w - p  # least CPU: one worker, the small pool

    taken, best = walk((W, P), default, value)
    assert dict(best[Objective.THROUGHPUT]) == {"WEB_CONCURRENCY": "3", "POOL_SIZE": "20",
                                                "MAX_OVERFLOW": "0"}
    assert dict(best[Objective.CPU]) == {"WEB_CONCURRENCY": "1", "POOL_SIZE": "5",
                                         "MAX_OVERFLOW": "10"}
    # Both axes once; the pool axis moved the throughput choice, so workers were tried again
    # from there; then nothing was left to try.
    assert taken == ["WEB_CONCURRENCY", "POOL_SIZE/MAX_OVERFLOW", "WEB_CONCURRENCY"]


def test_a_step_measures_both_lines_each_configuration_once():
    default = (("WEB_CONCURRENCY", "2"),)
    descent = search.Descent((W,), default)
    step = descent.next_step()
    assert step.lines[Objective.THROUGHPUT] == step.lines[Objective.CPU]
    assert [dict(p)["WEB_CONCURRENCY"] for p in step.points] == ["2", "1", "3", "4"]
    descent.advance(step, {Objective.THROUGHPUT: step.points[2], Objective.CPU: step.points[1]})
    assert descent.next_step() is None  # one axis, tried from both choices


def test_labels_name_what_differs_from_the_defaults_in_file_name_characters():
    default = (("WEB_CONCURRENCY", "2"), ("WORKER_CLASS", "sync"), ("THREADS", "1"),
               ("SESSION_RELEASE", "late"))
    point = (("WEB_CONCURRENCY", "3"), ("WORKER_CLASS", "gthread"), ("THREADS", "4"),
             ("SESSION_RELEASE", "very early!"))
    assert search.label(point, default) == "w3.gthread.t4.session_release-very_early_"
    assert search.label(default, default) == ""


def test_final_rounds_judge_each_best_against_its_default_and_the_bests_together():
    (s,) = parse(sweep={"flask_sync": {"WEB_CONCURRENCY": [1, 2]},
                        "fastapi_async": {"WEB_CONCURRENCY": [1, 2]}},
                 sweep_budget=60).scenarios
    best = {"flask_sync": {Objective.THROUGHPUT: "flask_sync@w3",
                           Objective.CPU: "flask_sync@w1"},
            "fastapi_sync": {o: "fastapi_sync" for o in Objective},
            "fastapi_async": {o: "fastapi_async@w4" for o in Objective}}
    final = search.final(s, best)
    assert final.apps == ("flask_sync", "fastapi_sync", "fastapi_async", "flask_sync@w3",
                          "flask_sync@w1", "fastapi_async@w4")
    assert final.comparisons[:3] == s.comparisons  # default against default
    assert ("flask_sync@w3", "flask_sync") in final.comparisons
    assert ("fastapi_async@w4", "flask_sync@w3") in final.comparisons  # best against best
    assert ("fastapi_async@w4", "flask_sync@w1") in final.cpu_pairs
    assert ("flask_sync@w3", "flask_sync") not in final.cpu_pairs
    assert ("fastapi_async@w4", "fastapi_async") in final.cpu_pairs  # best for both


def test_a_challenger_must_beat_the_current_choice_by_min_effect():
    def c(app, rps, cpu=1.0, meets=True):
        return Candidate(app=app, settings={}, cells=2, failed=0, rps=rps, cpu_ms=cpu,
                         meets=meets)

    line = [c("a", 1000, 2.0), c("a@w3", 1040, 1.0), c("a@w4", 1200, 1.5, meets=False)]
    assert sweep_analysis.choose(Objective.THROUGHPUT, line, 0.05) == "a"  # +4%: kept
    assert sweep_analysis.choose(Objective.CPU, line, 0.05) == "a@w3"
    line[0] = c("a", 1300, meets=False)  # the current choice fails a threshold: replaced
    assert sweep_analysis.choose(Objective.THROUGHPUT, line, 0.05) == "a@w3"
    assert sweep_analysis.choose(Objective.THROUGHPUT, [c("a", None, meets=False)], 0.05) == "a"


# -- a sweep on fake backends ---------------------------------------------------------------

@dataclass
class SweepFake(Fake):
    """Apps whose true throughput and CPU per request follow their settings."""

    ports: dict[int, tuple[str, dict[str, str]]] = field(default_factory=dict)
    landscape: object = None
    last: int = 0  # requests of the last load: the CPU time the probe reports follows it

    def launch(self, svc, url, log_path, overrides, cpus):
        self.launches.append(svc.name)
        port = 9000 + len(self.ports)
        values = settings.resolve(svc.knobs, *overrides)
        self.ports[port] = (svc.name, values)
        return services.Running(svc, f"http://127.0.0.1:{port}", values, FakeProcess(port), None)

    def load(self, url, request, connections, threads, seconds, timeout, workdir, cpus,
             scenario=None):
        name, values = self.ports[int(url.split(":")[2].split("/")[0])]
        self.loads.append(name)
        if self.interrupt_after is not None and len(self.loads) > self.interrupt_after:
            from harness.errors import Interrupted

            raise Interrupted("SIGINT")
        true = self.landscape(name.split("@")[0], values)
        self.last = int(true * self.rng.lognormvariate(0, self.cv) * seconds)
        return LoadResult(
            requests=self.last, duration_us=int(seconds * 1e6), bytes=self.last * 100,
            errors=dict.fromkeys(("connect", "read", "write", "status", "timeout"), 0),
            latency_us={k: 1000.0 for k in ("min", "mean", "stdev", "max", "p50", "p75",
                                            "p90", "p99", "p99.9")},
            threads=threads, connections=connections, duration_s=seconds, timeout_s=timeout)

    @contextmanager
    def probe(self, running, url, pool_limit):
        workers = int(running.settings["WEB_CONCURRENCY"])
        fake = self

        class Probe:
            def samples(self):
                return None

            def stuck(self):
                return False

            def cpu_time(self):
                # CPU-ms per request 0.2 + 0.1 per worker (app), 0.1 (PostgreSQL)
                return CpuTime(5.0, fake.last * (0.2 + 0.1 * workers) / 1000,
                               fake.last * 0.1 / 1000)

        yield Probe()


def landscape(app, values):
    w = int(values["WEB_CONCURRENCY"])
    base = {"flask_sync": 1600, "fastapi_sync": 600, "fastapi_async": 900}[app]
    return base * {1: 0.6, 2: 1.0, 3: 1.3, 4: 1.1}[w]


def sweep_file(**item):
    return parse(budget="300s", min_repeats=3, max_repeats=12,
                 apps=["flask_sync", "fastapi_async"],
                 **{"sweep": {"flask_sync": {"WEB_CONCURRENCY": [1, 2, 3, 4]},
                              "fastapi_async": {"WEB_CONCURRENCY": [1, 2, 3, 4]}},
                    "sweep_budget": "200s", **item})


def found():
    return {a: services.Service(name=a, directory=Path("."), description=f"fake {a}",
                                server="fake-server", port=0, command=("serve",),
                                knobs=KNOBS[a], packages=()) for a in APPS}


def run_sweep(tmp_path, sf, fake):
    from harness.analysis import stopping

    return runner.execute(sf, ["run", "scenarios.yaml"], tmp_path, backends=fake,
                          stop_rule=stopping.pending, found=found(),
                          environment={"cpus": 2}, cpu_layout=False,
                          sweep_rules=sweep_analysis.Rules())


def test_a_sweep_searches_each_app_then_judges_the_bests_on_fresh_rounds(tmp_path):
    fake = SweepFake({}, cv=0.02, landscape=landscape)
    run, path = run_sweep(tmp_path, sweep_file(), fake)
    (record,) = run.sweeps
    flask, fastapi = record.searches
    assert (flask.best_rps, flask.best_cpu) == ("flask_sync@w3", "flask_sync@w1")
    assert (fastapi.best_rps, fastapi.best_cpu) == ("fastapi_async@w3", "fastapi_async@w1")
    assert flask.stop is SearchStop.CONVERGED and flask.default["WEB_CONCURRENCY"] == "2"
    (step,) = flask.steps  # one axis: tried from the defaults, then converged
    assert [c.app for c in step.candidates] == ["flask_sync", "flask_sync@w1", "flask_sync@w3",
                                                "flask_sync@w4"]
    assert all(c.cells == 2 and c.meets for c in step.candidates)
    search_cells = [c for c in run.cells if is_search(c.scenario)]
    assert len(search_cells) == 2 * 4 * 2 and {c.scenario for c in search_cells} == {
        "sweep:search"}
    # each configuration ran with its settings, recorded per cell
    assert {c.settings["WEB_CONCURRENCY"] for c in search_cells
            if c.app == "flask_sync@w4"} == {"4"}
    assert run.apps["flask_sync@w3"].variant_of == "flask_sync"
    # the fresh rounds: defaults then bests, the search's cells never among them
    assert record.apps == ["flask_sync", "fastapi_async", "flask_sync@w3", "flask_sync@w1",
                           "fastapi_async@w3", "fastapi_async@w1"]
    fresh = [c for c in run.cells if c.scenario == "sweep"]
    assert {c.app for c in fresh} == set(record.apps)
    assert [lv.scenario for lv in run.levels] == ["sweep"]
    assert run.levels[0].reason in (StopReason.DECIDED, StopReason.BUDGET)
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)
    assert store.load(path) == run
    # every configuration started was stopped
    assert sorted(fake.stopped) == sorted(fake.launches)


def test_a_search_stops_before_a_step_that_would_pass_its_budget(tmp_path):
    fake = SweepFake({}, cv=0.02, landscape=landscape)
    # one step of 4 configurations × 2 rounds × 6 s = 48 s: 40 s allow none
    run, _ = run_sweep(tmp_path, sweep_file(sweep_budget="40s"), fake)
    flask = run.sweeps[0].searches[0]
    assert flask.stop is SearchStop.BUDGET and flask.steps == []
    assert flask.best_rps == flask.best_cpu == "flask_sync"
    assert run.sweeps[0].apps == ["flask_sync", "fastapi_async"]
    report = markdown.render(analyze.analyze([run], run))["report.md"]
    assert "| `flask_sync` | most req/s | the default | – | – | – | not searched: its budget " \
           "held no step |" in report


def test_findings_and_report_give_each_best_its_gap_and_the_verdicts_side_by_side(tmp_path):
    fake = SweepFake({}, cv=0.02, landscape=landscape)
    run, _ = run_sweep(tmp_path, sweep_file(), fake)
    f = analyze.analyze([run], run)
    (s,) = f.scenarios  # the search is no scenario of its own
    assert s.name == "sweep"
    flask = s.sweep.stacks[0]
    assert flask.throughput.best.app == "flask_sync@w3"
    gap = flask.throughput.gap
    assert gap.verdict.value == "faster" and math.isclose(gap.ratio, 1.3, rel_tol=0.05)
    assert flask.cpu.gap.verdict.value == "faster"  # less CPU per request: better
    assert flask.default.settings == {"WEB_CONCURRENCY": "2"}
    (rps_pair, cpu_pair) = s.sweep.pairs
    assert (rps_pair.candidate, rps_pair.reference) == ("fastapi_async", "flask_sync")
    assert rps_pair.defaults.verdict.value == "slower"
    assert (rps_pair.bests.candidate, rps_pair.bests.reference) == ("fastapi_async@w3",
                                                                    "flask_sync@w3")
    assert cpu_pair.bests.reference == "flask_sync@w1"
    report = markdown.render(f)["report.md"]
    assert "### Best configuration: sweep" in report
    assert "`flask_sync@w3`" in report and "WEB_CONCURRENCY=3" in report
    assert "best against best" in report.lower()
    # candidates of the search only are no app of the settings appendix
    assert all(a.app != "flask_sync@w4" for a in f.settings)


def test_a_search_cell_that_fails_a_threshold_is_never_chosen(tmp_path):
    def broken_at_four(app, values):
        return 0.0 if values["WEB_CONCURRENCY"] == "4" else landscape(app, values)

    fake = SweepFake({}, cv=0.02, landscape=broken_at_four, rng=random.Random(3))
    run, _ = run_sweep(tmp_path, sweep_file(thresholds=["rps > 100"]), fake)
    (step,) = run.sweeps[0].searches[0].steps
    four = next(c for c in step.candidates if c.app == "flask_sync@w4")
    assert not four.meets and run.sweeps[0].searches[0].best_rps == "flask_sync@w3"



def test_when_nothing_meets_the_thresholds_the_default_stays_and_the_report_says_so(tmp_path):
    fake = SweepFake({}, cv=0.02, landscape=landscape)
    run, _ = run_sweep(tmp_path, sweep_file(thresholds=["rps > 100000"]), fake)
    assert run.sweeps[0].searches[0].best_rps == "flask_sync"
    report = markdown.render(analyze.analyze([run], run))["report.md"]
    assert "| `flask_sync` | most req/s | the default | – | – | – | no configuration tried met " \
           "every threshold: the default stays |" in report


# -- the plan -------------------------------------------------------------------------------

def test_the_plan_counts_the_searches_and_the_fresh_rounds_of_up_to_two_bests_per_app():
    from harness.measure import plan

    (s,) = sweep_file().scenarios  # 6 s cells; 2 apps swept, first step 4 × 2 cells each
    low, high, cells_low, cells_high = plan.level_estimate(s)
    # least: each first step (48 s) and 3 rounds of the 2 defaults; most: both budgets, and
    # the fresh rounds' 300 s with up to 6 configurations
    assert (low, high) == (2 * 48 + 3 * 6 * 2, 2 * 200 + 300)
    assert (cells_low, cells_high) == (16 + 6, 400 // 6 + 300 // 6)


def test_the_dry_run_shows_what_each_app_sweeps(tmp_path):
    from harness.commands import run

    planned = run.plan_run(str(Path(__file__).parents[2] / "scenarios.yaml"), tags=["sweep"])
    text = run.plan_text(planned)
    assert "flask_sync: WEB_CONCURRENCY 1, 2, 3, 4; WORKER_CLASS/THREADS sync/1, gthread/1, " \
           "gthread/4" in text
    assert "then fresh rounds of each app's default and its best configurations" in text


def test_a_variant_keeps_the_settings_that_make_it_that_variant(tmp_path):
    from harness.commands import run

    path = tmp_path / "s.yaml"
    path.write_text("version: 1\nscenarios:\n  - name: s\n    request: {path: /users}\n"
                    "    apps: [fastapi_sync@pool-as-threads]\n    connections: [24]\n"
                    "    sweep: {fastapi_sync@pool-as-threads: {POOL_SIZE: [5, 10]}}\n"
                    "    sweep_budget: 60s\n")
    with pytest.raises(UsageError, match="is a variant that fixes POOL_SIZE=30: sweep its base "
                                         r"app \(fastapi_sync\) instead"):
        run.plan_run(str(path))


def test_once_the_choices_part_each_step_measures_both_lines_and_the_report_says_from_where(
        tmp_path):
    fake = SweepFake({}, cv=0.02, landscape=landscape)
    sf = sweep_file(sweep={"flask_sync": {"WEB_CONCURRENCY": [1, 2, 3, 4],
                                          "POOL_SIZE/MAX_OVERFLOW": ["5/10", "15/0"]}},
                    sweep_budget="300s")
    run, _ = run_sweep(tmp_path, sf, fake)
    _first, second = run.sweeps[0].searches[0].steps
    assert (second.from_rps, second.from_cpu) == ("flask_sync@w3", "flask_sync@w1")
    assert [c.app for c in second.candidates] == [
        "flask_sync@w3", "flask_sync@w3.p15.o0", "flask_sync@w1", "flask_sync@w1.p15.o0"]
    report = markdown.render(analyze.analyze([run], run))["report.md"]
    assert ("POOL_SIZE/MAX_OVERFLOW: from `flask_sync@w3` for req/s: **5/10 → " in report)
    assert "; from `flask_sync@w1` for CPU: **5/10 → " in report


def test_an_interrupted_search_is_recorded_and_stops_every_configuration(tmp_path):
    from harness.errors import Interrupted

    fake = SweepFake({}, cv=0.02, landscape=landscape, interrupt_after=5)  # in the 3rd cell
    saved: dict = {}
    with pytest.raises(Interrupted):
        runner.execute(sweep_file(), ["run"], tmp_path, backends=fake, found=found(),
                       environment={"cpus": 2}, cpu_layout=False, saved=saved,
                       sweep_rules=sweep_analysis.Rules())
    run = store.load(saved["path"])
    (search_,) = run.sweeps[0].searches
    assert search_.stop is SearchStop.INTERRUPTED and search_.best_rps == "flask_sync"
    assert len(run.cells) == 2
    assert sorted(fake.stopped) == sorted(fake.launches)


def test_the_regression_check_leaves_the_search_out(tmp_path):
    from harness.analysis import compare

    fake = SweepFake({}, cv=0.02, landscape=landscape)
    before, _ = run_sweep(tmp_path / "a", sweep_file(), fake)
    after, _ = run_sweep(tmp_path / "b", sweep_file(), fake)
    result = compare.compare([before], after)
    assert result.groups and not any(is_search(g.scenario) for g in result.groups)
