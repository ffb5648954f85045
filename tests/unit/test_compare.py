import copy
import json
import random

from harness.analysis import compare
from harness.analysis.compare import GroupKey, Judgement, Status
from harness.analysis.findings import Warn
from harness.model import store
from harness.render import compare_json, compare_markdown
from tests.fixtures.report import builders as b


def _run(run_id, rng, rps=1000.0, p99_ms=50.0, noise=0.03, repeats=3, error_rate=0.0,
         groups=(("users_list", "fastapi_async", 12),)):
    """A run with `repeats` cells per group, values drawn with `noise` relative spread."""
    cells = [b.cell(scenario, app, conns, rep, rps=rps * (1 + rng.gauss(0, noise)),
                    p99_ms=p99_ms * (1 + rng.gauss(0, noise)), error_rate=error_rate)
             for scenario, app, conns in groups for rep in range(repeats)]
    run = b.run(cells, run_id, environment=copy.deepcopy(b.ENV))
    return store.loads(store.dumps(run), full=False)  # as `compare` loads them: no samples


def _history(seed, **current):
    rng = random.Random(seed)
    baseline = [_run(f"base{i}", rng) for i in range(5)]
    return baseline, _run("head", rng, **current)


def test_a_20_percent_throughput_drop_is_a_regression():
    baseline, current = _history(1, rps=800.0)
    result = compare.compare(baseline, current)
    (group,) = result.groups
    assert group.status is Status.REGRESSION
    rps = group.rps
    assert rps.judgement is Judgement.WORSE
    assert rps.n_baseline == 15 and rps.n_current == 3  # the whole window, pooled
    assert -0.25 < rps.change < -0.15
    assert rps.ci_low < rps.change < rps.ci_high < -0.05
    assert rps.p_value < 0.05
    assert group.p99.judgement is Judgement.UNCHANGED
    assert compare.candidates(result) == [GroupKey("users_list", "fastapi_async", 12)]
    assert result.environment_mismatch == ()


def test_pure_three_percent_noise_is_not_a_regression():
    for seed in range(20):
        baseline, current = _history(seed)
        result = compare.compare(baseline, current)
        assert [g.status for g in result.groups] in ([Status.UNCHANGED],
                                                     [Status.INCONCLUSIVE]), seed
        assert compare.candidates(result) == []


def test_p99_up_30_percent_is_a_regression_and_a_throughput_gain_an_improvement():
    baseline, current = _history(2, p99_ms=65.0)
    (group,) = compare.compare(baseline, current).groups
    assert group.status is Status.REGRESSION
    assert group.p99.judgement is Judgement.WORSE
    assert 0.2 < group.p99.change < 0.4
    baseline, current = _history(3, rps=1300.0)
    (group,) = compare.compare(baseline, current).groups
    assert (group.status, group.rps.judgement) == (Status.IMPROVEMENT, Judgement.BETTER)


def test_error_rate_rise_is_judged_in_absolute_points():
    baseline, current = _history(4)
    for c in current.cells:
        c.error_rate = 0.02 + 0.001 * c.repeat
    (group,) = compare.compare(baseline, current).groups
    assert group.status is Status.REGRESSION
    assert group.error_rate.judgement is Judgement.WORSE
    assert abs(group.error_rate.change - 0.021) < 1e-9


def test_the_current_run_is_not_its_own_baseline():
    baseline, current = _history(9, rps=800.0)
    result = compare.compare([*baseline, current], current)
    assert result.baseline_runs == ("base0", "base1", "base2", "base3", "base4")
    assert result.groups[0].rps.n_baseline == 15


def test_a_single_current_repeat_gives_no_verdict():
    rng = random.Random(5)
    baseline = [_run(f"base{i}", rng) for i in range(5)]
    current = _run("head", rng, rps=500.0, repeats=1)
    (group,) = compare.compare(baseline, current).groups
    assert group.status is Status.INCONCLUSIVE
    assert Warn.SINGLE_SAMPLE in group.rps.warnings


def test_new_missing_and_all_failed_groups():
    rng = random.Random(6)
    a, bb, c = ("s", "flask_sync", 1), ("s", "flask_sync", 12), ("s", "fastapi_async", 12)
    baseline = [_run(f"base{i}", rng, groups=(a, bb)) for i in range(3)]
    current = _run("head", rng, groups=(a, c))
    current.cells = [b.cell(*a, x.repeat, failed="app exited") if x.connections == 1 else x
                     for x in current.cells]
    result = compare.compare(baseline, current)
    status = {g.key: g for g in result.groups}
    assert status[a].status is Status.REGRESSION
    assert status[a].warnings == (Warn.ALL_CURRENT_FAILED,)
    assert status[bb].status is Status.MISSING
    assert status[c].status is Status.NEW and status[c].rps is None
    assert result.counts == {Status.REGRESSION: 1, Status.NEW: 1, Status.MISSING: 1}
    assert compare.candidates(result) == [GroupKey("s", "flask_sync", 1)]


def test_environment_mismatch_is_reported_not_silent():
    baseline, current = _history(7)
    current.environment["cpus"] = 4
    current.environment["packages"]["fastapi"] = "0.166.0"
    baseline[0].environment["postgresql"] = "16.4"
    result = compare.compare(baseline, current)
    assert result.environment_mismatch == ("cpus", "postgresql", "packages.fastapi")
    diff = {d.key: d for d in result.environment_diff}
    assert (diff["cpus"].baseline, diff["cpus"].current) == ((2,), 4)
    assert (diff["postgresql"].baseline, diff["postgresql"].current) == (("16.4", "15.18"),
                                                                         "15.18")
    md = compare_markdown.render(result)
    assert "**Environment differs from the baseline** (cpus, postgresql, packages.fastapi)" in md
    assert "| packages.fastapi | 0.165.0 | 0.166.0 |" in md


def test_json_keeps_its_layout_and_markdown_shows_each_group():
    baseline, current = _history(8, rps=800.0)
    result = compare.compare(baseline, current)
    data = json.loads(compare_json.render(result))
    assert data["current_run"] == "head" and data["counts"] == {"regression": 1}
    (group,) = data["groups"]
    assert group["status"] == "regression" and group["rps"]["judgement"] == "worse"
    assert set(group["rps"]) == {"baseline", "current", "change", "ci_low", "ci_high",
                                 "p_value", "judgement", "n_baseline", "n_current", "warnings"}
    assert data["environment_diff"] == {} and data["environment_mismatch"] == []
    md = compare_markdown.render(result)
    assert md.startswith("# Regression check: `head`\n")
    assert "Baseline: 5 run(s), `base0`, `base1`, `base2`, `base3`, `base4`, repeats pooled." in md
    assert ("1 regression, 0 unconfirmed, 0 improvement, 0 inconclusive, 0 unchanged, 0 new, "
            "0 missing.") in md
    row = next(line for line in md.splitlines() if line.startswith("| users_list"))
    assert "| **regression** |" in row
    assert "→" in row and "**-2" in row  # the worse change is bold


def test_a_regression_not_seen_again_on_re_measurement_is_unconfirmed():
    rng = random.Random(7)
    baseline = [_run(f"base{i}", rng) for i in range(5)]
    result = compare.compare(baseline, _run("head", rng, rps=800.0))
    assert compare.candidates(result)
    fluke = compare.confirm(result, compare.compare(baseline, _run("again", rng, rps=1000.0)))
    assert [g.status for g in fluke.groups] == [Status.UNCONFIRMED]
    assert compare.candidates(fluke) == [] and fluke.confirmation_run == "again"
    assert "unconfirmed" in compare_markdown.render(fluke)
    assert json.loads(compare_json.render(fluke))["confirmation_run"] == "again"
    assert compare.candidates(result)  # the first result is left as it was
    real = compare.confirm(result, compare.compare(baseline, _run("again", rng, rps=790.0)))
    assert [g.status for g in real.groups] == [Status.REGRESSION]
    assert compare.candidates(real)


def test_a_different_scenario_configuration_is_reported():
    rng = random.Random(3)
    baseline = [_run("base", rng)]
    current = _run("head", rng)
    baseline[0].config = {"scenarios": [{"name": "users_list", "duration": 10}]}
    current.config = {"scenarios": [{"name": "users_list", "duration": 5}]}
    result = compare.compare(baseline, current)
    assert result.config_mismatch == ("users_list",)
    assert "**Configuration differs from the baseline** for users_list" in \
        compare_markdown.render(result)
    assert compare.compared(result) == 1
    current.config = {"scenarios": [{"name": "users_list", "duration": 10, "profile": 12}]}
    assert compare.compare(baseline, current).config_mismatch == ()  # no number changes
    elsewhere = _run("other", rng, groups=(("insert", "flask_sync", 200),))
    assert compare.compared(compare.compare(baseline, elsewhere)) == 0
