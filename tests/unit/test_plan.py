import itertools

from harness.config import scenarios
from harness.measure import plan

APPS = {"a", "b", "c"}


def scenario_file(**overrides):
    item = {"name": "s", "request": {"path": "/users"}, "apps": ["a", "b", "c"],
            "connections": [12, 1], "repeats": 3, "duration": 10, "warmup": 2, **overrides}
    return scenarios.parse({"version": 1, "scenarios": [item]}, "scenarios.yaml", APPS)


def keys(cells):
    return [(c.app, c.connections, c.repeat) for c in cells]


def test_order_interleaves_apps_in_rounds_per_level_and_rotates_them():
    assert keys(plan.cells(scenario_file())) == [
        ("a", 1, 0), ("b", 1, 0), ("c", 1, 0), ("b", 1, 1), ("c", 1, 1), ("a", 1, 1),
        ("c", 1, 2), ("a", 1, 2), ("b", 1, 2),
        ("a", 12, 0), ("b", 12, 0), ("c", 12, 0), ("b", 12, 1), ("c", 12, 1), ("a", 12, 1),
        ("c", 12, 2), ("a", 12, 2), ("b", 12, 2),
    ]


def test_with_three_apps_no_app_runs_twice_in_a_row():
    cells = plan.cells(scenario_file(repeats=5, connections=[1]))
    assert all(x.app != y.app for x, y in itertools.pairwise(cells))


def test_every_cell_once_and_scenarios_in_file_order():
    data = {"version": 1, "scenarios": [
        {"name": "first", "request": {"path": "/"}, "apps": ["a", "b"], "connections": [1, 2],
         "repeats": 2},
        {"name": "second", "request": {"path": "/"}, "apps": ["c"], "connections": [4],
         "repeats": 1},
    ]}
    cells = plan.cells(scenarios.parse(data, "scenarios.yaml", APPS))
    assert [c.scenario.name for c in cells] == ["first"] * 8 + ["second"]
    assert len({c.key for c in cells}) == len(cells)
    assert cells[-1].key == ("second", "c", 4, 0)


def test_load_seconds():
    assert plan.load_seconds(scenario_file()) == 18 * (10 + 2)


def test_adaptive_estimate_spans_min_repeats_to_the_budget():
    sf = scenario_file(budget="2m", min_repeats=3, max_repeats=30)
    est = plan.estimate(sf)
    # Per level: at least 3 rounds of 3 apps × 12 s; at most the 120 s budget.
    assert (est.min_s, est.max_s) == (2 * 108, 2 * 120)
    assert len(plan.cells(sf)) == 2 * 30 * 3  # the plan lists every round allowed
    tight = plan.estimate(scenario_file(budget="10s", min_repeats=3))
    assert tight.max_s == tight.min_s == 2 * 108  # min_repeats run whatever the budget


def test_a_profile_adds_one_cell_per_app_to_the_estimate():
    plain, profiled = plan.estimate(scenario_file()), plan.estimate(scenario_file(profile=12))
    assert plan.profile_estimate(scenario_file(profile=12).scenarios[0]) == (36.0, 3)
    assert (profiled.min_s - plain.min_s, profiled.max_s - plain.max_s) == (36.0, 36.0)
    assert (profiled.cells_min - plain.cells_min, profiled.cells_max - plain.cells_max) == (3, 3)
