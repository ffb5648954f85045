"""The analysis decides on data: verdicts, methods, breaking points, capacity, evidence.

Runs are synthetic (tests/fixtures/report/builders.py) or the stored v1 fixture; assertions
read findings, never sentences.
"""

import random
from pathlib import Path

import pytest

from harness.analysis import analyze as analysis
from harness.analysis import rows, sequential, stats
from harness.analysis.analyze import analyze
from harness.analysis.findings import Method, Metric, NotCompared, Verdict
from harness.model import store
from harness.model.results import AppInfo, CpuLayout, RunStatus, StopReason, Verification
from tests.fixtures.report import builders as b

FIXTURE = Path(__file__).parent.parent / "fixtures" / "results" / "run-small.json"

# The verdicts the report stated on the fixture before the analysis layer (expected.md at
# commit d83910d): candidate -> level -> verdict against flask_sync.
OLD_VERDICTS = {
    ("users_list", "fastapi_sync"): {1: "slower", 12: "slower", 48: "slower"},
    ("users_list", "fastapi_async"): {1: "slower", 12: "slower", 48: "slower"},
    ("user_create", "fastapi_sync"): {1: "slower", 12: "slower", 48: "slower"},
    ("user_create", "fastapi_async"): {1: "slower", 12: "inconclusive", 48: "slower"},
}


def _verdicts(scenario, metric=Metric.THROUGHPUT):
    return {(c.candidate, c.reference, c.connections): c for c in scenario.comparisons
            if c.metric is metric}


def test_the_v1_fixture_states_the_verdicts_it_always_did():
    run = store.load(FIXTURE)
    f = analyze([run], run)
    for s in f.scenarios:
        got = _verdicts(s)
        for (scenario, app), by_level in OLD_VERDICTS.items():
            if scenario == s.name:
                assert {c: got[(app, "flask_sync", c)].verdict.value for c in by_level} == by_level
        # The choice inside a migration, now compared too: async against sync FastAPI.
        assert {got[("fastapi_async", "fastapi_sync", c)].verdict for c in (1, 12, 48)} == \
            {Verdict.FASTER}
        assert {c.method for c in s.comparisons} == {Method.WELCH}  # v1: fixed repeats
        assert s.baseline == "flask_sync" and s.apps[0] == "flask_sync"
        assert not [c for c in s.comparisons if c.metric is Metric.CPU]  # v1 has no CPU time
    inconclusive = _verdicts(f.scenarios[1])[("fastapi_async", "flask_sync", 12)]
    assert inconclusive.mde == pytest.approx(0.67, abs=0.01)
    assert f.noise.groups == 18 and f.noise.median_cv == pytest.approx(0.0187, abs=1e-4)


def test_each_comparison_is_computed_once(monkeypatch):
    calls = []
    real = stats.compare_logs
    monkeypatch.setattr(stats, "compare_logs", lambda *a, **k: calls.append(a) or real(*a, **k))
    run = store.load(FIXTURE)
    f = analyze([run], run)
    assert len(calls) == len(f.comparisons) == 18


def test_baseline_and_pairs_come_from_the_scenario_file():
    rng = random.Random(1)
    values = {app: b.noisy(rng, 4, 1000, 0.02) for app in ("a", "b", "c")}
    cells = b.rounds(values)
    declared = b.scenario(apps=("a", "b", "c"), baseline="b", comparisons=[["c", "a"]])
    s = analyze([b.run(cells, scenarios=[declared])]).scenarios[0]
    assert s.baseline == "b" and s.apps == ("b", "a", "c")
    assert s.pairs == (("c", "a"),)
    v1 = analyze([b.run(cells, scenarios=[b.scenario(apps=("a", "b", "c"))])]).scenarios[0]
    assert v1.baseline == "a"
    assert v1.pairs == (("b", "a"), ("c", "a"), ("c", "b"))  # default_comparisons


def test_fixed_levels_use_welch_and_adaptive_levels_the_sequential_decision():
    rng = random.Random(2)
    fast, slow = b.noisy(rng, 8, 1200, 0.08), b.noisy(rng, 8, 1000, 0.08)
    cells = b.rounds({"a": slow, "b": fast}, connections=1)
    cells += b.rounds({"a": slow[:3], "b": fast[:3]}, connections=12)
    levels = [b.level("s", 1, 8, StopReason.DECIDED), b.level("s", 12, 3, StopReason.FIXED)]
    s = analyze([b.run(cells, scenarios=[b.scenario()], levels=levels)]).scenarios[0]
    adaptive = s.comparison("b", "a", 1)
    expected = sequential.decide_paired(list(zip(fast, slow, strict=True)), min_effect=0.05,
                                        min_n=3, max_n=30, offset=sequential.THROUGHPUT_OFFSET)
    assert adaptive.method is Method.SEQUENTIAL
    assert (adaptive.verdict.value, adaptive.ratio, adaptive.ci_low, adaptive.look,
            adaptive.alpha_spent, adaptive.mde) == (
        expected.verdict.value, expected.ratio, expected.ci_low, expected.look,
        expected.alpha_spent, expected.mde)
    assert adaptive.p_value is None
    fixed = s.comparison("b", "a", 12)
    assert fixed.method is Method.WELCH
    assert fixed.verdict is stats.compare(fast[:3], slow[:3]).verdict
    assert fixed.p_value is not None and fixed.look is None


def test_pooled_adaptive_runs_are_judged_on_every_repeat():
    rng = random.Random(7)
    runs = [b.run(b.rounds({"a": b.noisy(rng, 12, 1000, 0.05), "b": b.noisy(rng, 12, 900, 0.05)}),
                  f"r{i}", scenarios=[b.scenario()], levels=[b.level("s", 1, 12)])
            for i in range(4)]
    one = analyze(runs[-1:]).scenarios[0].comparison("b", "a", 1)
    pooled = analyze(runs).scenarios[0].comparison("b", "a", 1)
    assert one.method is Method.SEQUENTIAL
    assert pooled.method is Method.WELCH and pooled.n_candidate == 48
    assert pooled.verdict is Verdict.SLOWER


def test_scenario_rounds_bounds_reach_the_sequential_decision():
    rng = random.Random(3)
    a, c = b.noisy(rng, 4, 1000, 0.01), b.noisy(rng, 4, 1000, 0.01)
    cells = b.rounds({"a": a, "b": c})
    cfg = b.scenario(budget=100.0, min_repeats=5, max_repeats=10)
    s = analyze([b.run(cells, scenarios=[cfg], levels=[b.level("s", 1, 4)])]).scenarios[0]
    c1 = s.comparison("b", "a", 1)
    assert c1.verdict is Verdict.UNDECIDED and c1.look is None  # 4 rounds < min_repeats = 5
    assert (s.budget, s.min_repeats, s.max_repeats, s.repeats) == (100.0, 5, 10, None)


def test_undecided_is_kept_apart_from_equivalent_and_states_what_it_could_detect():
    rng = random.Random(4)
    # A/A with 2% noise over 30 rounds: the interval fits inside ±5%.
    same = b.rounds({"a": b.noisy(rng, 30, 1000, 0.02), "b": b.noisy(rng, 30, 1000, 0.02)})
    # Three noisy rounds: nothing can be said, and the line says how little.
    few = b.rounds({"a": b.noisy(rng, 3, 1000, 0.25), "b": b.noisy(rng, 3, 1000, 0.25)},
                   connections=12)
    levels = [b.level("s", 1, 30), b.level("s", 12, 3, StopReason.BUDGET)]
    s = analyze([b.run(same + few, scenarios=[b.scenario()], levels=levels)]).scenarios[0]
    eq, undecided = s.comparison("b", "a", 1), s.comparison("b", "a", 12)
    assert eq.verdict is Verdict.EQUIVALENT and eq.verdict.decided
    assert undecided.verdict is Verdict.UNDECIDED and not undecided.verdict.decided
    assert undecided.mde > 0.2 > eq.mde
    # The same data under fixed repeats: "no detectable difference" and "inconclusive".
    fixed = analyze([b.run(same + few, scenarios=[b.scenario()])]).scenarios[0]
    assert fixed.comparison("b", "a", 1).verdict is Verdict.NO_DIFFERENCE
    inconclusive = fixed.comparison("b", "a", 12)
    assert inconclusive.verdict is Verdict.INCONCLUSIVE and inconclusive.mde > 0.2


def test_cpu_per_request_with_its_verdict_lower_being_better():
    rng = random.Random(5)
    cells = []
    for i in range(6):
        cells.append(b.cell(app="a", repeat=i, rps=1000 * rng.uniform(0.98, 1.02),
                            cpu=(2.0 * rng.uniform(0.97, 1.03), 0.5)))
        cells.append(b.cell(app="b", repeat=i, rps=1000 * rng.uniform(0.98, 1.02),
                            cpu=(1.5 * rng.uniform(0.97, 1.03), 0.5)))
    f = analyze([b.run(cells, scenarios=[b.scenario()])])
    s = f.scenarios[0]
    g = s.group("b", 1)
    assert g.app_cpu_ms.median == pytest.approx(1.5, rel=0.05)
    assert g.db_cpu_ms.median == pytest.approx(0.5, rel=1e-6)
    assert g.requests_per_cpu_s.median == pytest.approx(500, rel=0.05)  # 1000 ms / 2 ms
    cpu = s.comparison("b", "a", 1, Metric.CPU)
    assert cpu.verdict is Verdict.FASTER and cpu.with_db  # cheaper: (1.5+.5)/(2+.5) = 0.8
    assert cpu.ratio == pytest.approx(0.8, rel=0.03)
    assert s.comparison("b", "a", 1).verdict is Verdict.NO_DIFFERENCE
    row = next(r for r in f.cells if r.app == "b")
    assert row.app_cpu_ms == pytest.approx(g.app_cpu_ms.median, rel=0.1)


def test_cpu_without_postgresql_share_on_one_side_compares_the_apps_alone():
    cells = [b.cell(app="a", repeat=i, cpu=(2.0 + i * 0.01, 0.5)) for i in range(3)]
    cells += [b.cell(app="b", repeat=i, cpu=(1.0 + i * 0.01, None)) for i in range(3)]
    cpu = analyze([b.run(cells, scenarios=[b.scenario()])]).scenarios[0].comparison(
        "b", "a", 1, Metric.CPU)
    assert not cpu.with_db
    assert cpu.ratio == pytest.approx(0.5, rel=0.02)


def test_breaking_points_with_their_problems_and_capacity_where_the_app_held():
    def group(app, conns, ok=True, **kw):
        return [b.cell(app=app, connections=conns, repeat=i, cpu=(2.0 + i * 0.1, 1.0),
                       thresholds=[("p99 < 500ms", ok, 800.0 + i if not ok else 40.0)], **kw)
                for i in range(3)]

    cells = group("a", 1) + group("a", 12) + group("b", 1) + group("b", 12, ok=False,
                                                                    log={"pool_timeout": 2})
    cells += [b.cell(app="b", connections=12, repeat=3, failed="the app exited", stuck=True)]
    cells += group("c", 1, ok=False)
    cfg = b.scenario(apps=("a", "b", "c"), thresholds=["p99 < 500ms"])
    s = analyze([b.run(cells, scenarios=[cfg])]).scenarios[0]
    points = {p.app: p for p in s.breaking_points}
    assert (points["a"].last_ok, points["a"].broken_at, points["a"].problems) == (12, None, None)
    broke = points["b"]
    assert (broke.last_ok, broke.broken_at) == (1, 12)
    p = broke.problems
    assert (p.failed, p.total, p.reasons, p.stuck) == (1, 4, ("the app exited",), 1)
    (miss,) = p.thresholds
    assert (miss.expr, miss.failed, miss.measured) == ("p99 < 500ms", 3, 3)
    assert miss.values == ((800.0, "ms"), (801.0, "ms"), (802.0, "ms"))
    assert p.log_counts == {"pool_timeout": 6}
    assert (points["c"].last_ok, points["c"].broken_at) == (None, 1)
    capacity = {c.app: c for c in s.capacity}
    # (app 2.1 + db 1.0) CPU-ms per request at 12 connections: 3.1 cores per 1,000 req/s.
    assert capacity["a"].connections == 12
    assert capacity["a"].cores_per_1000_rps == pytest.approx(3.1) and capacity["a"].with_db
    assert capacity["a"].ci_low < 3.1 < capacity["a"].ci_high
    assert (capacity["b"].connections, capacity["b"].cores_per_1000_rps) == (1, pytest.approx(3.1))
    assert capacity["c"].connections is None and capacity["c"].cores_per_1000_rps is None
    g = s.group("b", 12)
    assert (g.n_ok, g.n_failed, g.stuck) == (3, 1, 1)
    assert g.failing_thresholds == ("p99 < 500ms",)


def test_comparisons_that_cannot_be_made_say_why():
    cells = [b.cell(app="a", connections=1, repeat=i) for i in range(3)]
    cells += [b.cell(app="b", connections=1, repeat=i, failed="not measured: verification")
              for i in range(3)]
    cells += [b.cell(app="a", connections=4, repeat=i) for i in range(3)]
    cells += [b.cell(app="a", connections=8, repeat=i, cpu=(1.0, None)) for i in range(2)]
    cells += [b.cell(app="b", connections=8, repeat=i, rps=0.0 if i else 10.0)
              for i in range(2)]
    s = analyze([b.run(cells, scenarios=[b.scenario()])]).scenarios[0]
    failed = s.comparison("b", "a", 1)
    assert (failed.verdict, failed.not_compared, failed.missing) == (
        None, NotCompared.ALL_FAILED, "b")
    not_run = s.comparison("b", "a", 4)
    assert (not_run.not_compared, not_run.missing) == (NotCompared.NOT_RUN, "b")
    assert s.comparison("b", "a", 8).not_compared is NotCompared.NO_REQUESTS
    no_cpu = s.comparison("b", "a", 8, Metric.CPU)
    assert (no_cpu.not_compared, no_cpu.missing) == (NotCompared.NO_CPU, "b")


def test_evidence_reads_the_series_the_sampler_writes():
    series = {"app_cpu_pct": (190.0, 170.0), "app_rss_mb": (160.0, 150.0),
              "wrk_cpu_pct": (8.0, 5.0), "pg_active": (9.0, 7.0), "pg_idle": (0.0, 0.0),
              "pg_idle_in_transaction": (21.0, 10.0)}
    cells = [b.cell(app="a", repeat=i, series={k: (p + i, m) for k, (p, m) in series.items()},
                    log={"pool_timeout": 1}, example="  QueuePool limit of size 5 reached  ",
                    saturated=i == 0)
             for i in range(2)]
    run = b.run(cells, scenarios=[b.scenario(apps=("a",))])
    s = analyze([run], run).scenarios[0]
    (e,) = s.evidence
    assert (e.app_cpu_pct.peak, e.app_cpu_pct.mean) == (191.0, 170.0)
    assert e.app_rss_mb == 161.0 and e.wrk_cpu_pct.peak == 9.0
    assert e.pg_sessions == (10.0, 1.0, 22.0)
    assert e.log_counts == {"pool_timeout": 2}
    assert e.example == ("pool_timeout", "QueuePool limit of size 5 reached")
    g = s.group("a", 1)
    assert (g.saturated, g.sampled) == (1, 2)
    # Without the run loaded whole there are no samples: the app log still speaks.
    core = store.loads(store.dumps(run), full=False)
    (e,) = analyze([core]).scenarios[0].evidence
    assert e.app_cpu_pct is None and e.log_counts == {"pool_timeout": 2}
    assert analyze([core]).scenarios[0].group("a", 1).sampled == 0


def test_stop_reasons_cpu_layout_and_verification():
    levels = [b.level("s", 12, 30, StopReason.MAX_REPEATS, ["b vs a"]), b.level("s", 1, 3)]
    apps = {"a": AppInfo("A", "gunicorn", ["x"]),
            "b": AppInfo("B", "uvicorn", ["y"], verification=Verification(False, ["500"]))}
    run = b.run([b.cell(app="a"), b.cell(app="a", connections=12)], scenarios=[b.scenario()],
                levels=levels, apps=apps)
    f = analyze([run])
    stops = f.scenarios[0].stops
    assert [(lv.connections, lv.rounds, lv.reason) for lv in stops] == [
        (1, 3, StopReason.DECIDED), (12, 30, StopReason.MAX_REPEATS)]
    assert stops[1].undecided == ("b vs a",)
    assert (f.layout.recorded, f.layout.shared) == (False, True)
    assert [(v.app, v.failures) for v in f.verification] == [("b", ("500",))]
    assert not f.all_verified
    pinned = b.run([b.cell(app="a")], layout=CpuLayout(False, [0, 1], [2], [3]))
    layout = analyze([pinned]).layout
    assert (layout.recorded, layout.shared, layout.app, layout.load) == (True, False, (0, 1), (3,))


def test_many_runs_are_pooled_with_a_compact_history():
    rng = random.Random(6)
    runs = []
    for i in range(60):
        cells = b.rounds({"a": b.noisy(rng, 3, 1000, 0.03), "b": b.noisy(rng, 3, 900, 0.03)})
        cells.append(b.cell(app="b", connections=12, failed="app exited"))
        env = dict(b.ENV, python="3.12.1" if i >= 50 else "3.11.7")
        runs.append(b.run(cells, f"r{i:03d}", scenarios=[b.scenario()], environment=env,
                          status=RunStatus.INTERRUPTED if i == 7 else RunStatus.COMPLETE))
    f = analyze(runs)
    assert f.pooled and len(f.runs) == 60
    assert f.scenarios[0].group("a", 1).rps.n == 180
    assert f.failures_total == 60 and len(f.failures) == analysis.MAX_FAILURES
    assert f.failures[-1].run_id == "r059"
    assert [d.key for d in f.environment_diff] == ["python"]
    assert [(e.run_ids[0], len(e.run_ids)) for e in f.environments] == [("r000", 50),
                                                                        ("r050", 10)]
    (scenario, lines) = f.history.scenarios[0]
    assert scenario == "s" and len(f.history.run_ids) == 60
    assert [(line.app, line.connections) for line in lines] == [("a", 1), ("b", 1)]
    assert all(len(line.rps) == 60 and None not in line.rps for line in lines)
    assert len(f.cells) == 60 * 7


def test_cpu_per_request_a_column_at_a_time_is_the_cell_by_cell_arithmetic():
    rng = random.Random(7)
    n = [rng.randint(1, 5000) for _ in range(200)]
    app = [rng.uniform(0.0, 9.0) for _ in n]
    db = [rng.choice([0.0, -0.0, rng.uniform(0.0, 2.0)]) for _ in n]
    fast = rows.cpu_columns([True] * len(n), n, app, db)
    # A failed cell at the end takes the cell-by-cell path for all of them.
    slow = rows.cpu_columns([True] * len(n) + [False], n + [1], app + [1.0], db + [1.0])
    assert [list(map(repr, c[:-1])) for c in slow] == [list(map(repr, c)) for c in fast]
