"""A sweep scenario, measured: each swept app's search for its best configurations, then fresh
rounds that judge them.

The search (harness.measure.search) runs step by step: the step's configurations are started
together, measured `sweep_rounds` times in interleaved, rotated rounds, stopped, and the
injected rules choose. Its cells are ordinary cells of scenario `NAME:search`, apps APP@LABEL,
with their settings. Then the scenario's own level measures every app's default and its best
configurations in adaptive rounds, as any scenario's level: these fresh rounds, never the
search's cells, give the gaps and verdicts, so that choosing the best on noisy data does not
bias them (docs/statistics.md).
"""

from __future__ import annotations

import dataclasses

from harness.config import settings as settings_mod
from harness.config.scenarios import Scenario
from harness.errors import Interrupted
from harness.measure import plan, runner, search, services
from harness.model.results import Cell, Objective, Search, SearchStep, SearchStop, Sweep
from harness.model.results import search_scenario as search_name

STOPPED = {SearchStop.CONVERGED: "converged", SearchStop.BUDGET: "stopped on its budget",
           SearchStop.INTERRUPTED: "interrupted"}


def run(ctx: runner.Context, scenario: Scenario, found: dict[str, services.Service],
        targets: dict[str, str]) -> Sweep:
    rules = ctx.sweep_rules
    if rules is None:
        raise RuntimeError("a sweep scenario needs its decision rules (sweep_rules)")
    record = Sweep(scenario=scenario.name, connections=scenario.connections[0])
    ctx.run.sweeps.append(record)
    made: dict[str, services.Service] = {}  # every configuration started, by name
    best: dict[str, dict[Objective, str]] = {}
    for app in scenario.apps:
        if app in scenario.sweep:
            best[app] = _search(ctx, scenario, found[app], record, made)
        else:
            best[app] = {o: app for o in Objective}
    plan_ = search.final(scenario, best)
    record.apps = list(plan_.apps)
    record.comparisons = [list(p) for p in plan_.comparisons]
    record.cpu_pairs = [list(p) for p in plan_.cpu_pairs]
    ctx.save()
    fresh = dataclasses.replace(scenario, apps=plan_.apps, comparisons=plan_.comparisons)
    cpu_pairs = set(plan_.cpu_pairs)

    def stop_rule(s: Scenario, cells: list[Cell]) -> tuple[runner.Pairs, runner.Pairs]:
        return rules.undecided(s, cells, cpu_pairs), []

    ctx.observer.note(f"{scenario.name}: fresh rounds of {', '.join(plan_.apps)}")
    judged = dataclasses.replace(ctx, stop_rule=stop_rule)
    with runner.AppSet(judged, fresh, {**found, **made}, targets) as apps:
        runner.run_levels(judged, fresh, apps)
    return record


def candidate(base: services.Service, scenario: Scenario, point: search.Point,
              default: search.Point) -> services.Service:
    """The app run at `point`: a generated variant whose fixed settings are the base app's
    own, its overrides in this scenario (app_env), then the point's."""
    fixed = {**base.fixed, **scenario.app_env.get(base.name, {}), **dict(point)}
    described = ", ".join(f"{k}={v}" for k, v in point)
    return dataclasses.replace(
        base, name=f"{base.name}{services.VARIANT_SEP}{search.label(point, default)}",
        variant_of=base.name, description=f"{base.description} ({described}; sweep)",
        fixed_settings=tuple(fixed.items()))


def _search(ctx: runner.Context, scenario: Scenario, base: services.Service, record: Sweep,
            made: dict[str, services.Service]) -> dict[Objective, str]:
    """Coordinate descent over the app's axes within its budget; each objective's choice."""
    assert ctx.sweep_rules is not None
    resolved = settings_mod.resolve(base.knobs, scenario.env, base.fixed,
                                    scenario.app_env.get(base.name, {}))
    axes = scenario.sweep[base.name]
    default = search.default_point(axes, resolved)
    budget = scenario.sweep_budget or 0.0
    found = Search(app=base.name, default=dict(default), budget_s=budget)
    record.searches.append(found)
    descent = search.Descent(axes, default)
    names = {default: base.name}
    cell_s = plan.cell_seconds(scenario)
    rounds = scenario.sweep_rounds
    first_round = 0
    try:
        while (step := descent.next_step()) is not None:
            points = step.points
            if found.load_s + cell_s * len(points) * rounds > budget:
                found.stop = SearchStop.BUDGET
                break
            for p in points:
                if p not in names:
                    made_ = candidate(base, scenario, p, default)
                    names[p] = made_.name
                    made[made_.name] = made_
            apps = [names[p] for p in points]
            # The step as a scenario of its own: its configurations, fixed rounds, its name
            # NAME:search (its cells are never pooled with the fresh rounds).
            measured = dataclasses.replace(
                scenario, name=search_name(scenario.name), apps=tuple(apps), comparisons=(),
                baseline=apps[0], sweep={}, budget=None, repeats=rounds)
            cells = _measure(ctx, measured, {base.name: base, **made}, first_round,
                             step.axis.name)
            summary, chosen = ctx.sweep_rules.step(
                measured, cells, {o: [names[p] for p in line] for o, line in step.lines.items()},
                {names[p]: dict(p) for p in points})
            load_s = sum(cell_s for c in cells if c.load is not None)
            point_of = {n: p for p, n in names.items()}
            found.steps.append(SearchStep(
                axis=list(step.axis.settings), first_round=first_round, rounds=rounds,
                load_s=load_s, candidates=summary,
                from_rps=names[descent.best[Objective.THROUGHPUT]],
                from_cpu=names[descent.best[Objective.CPU]],
                best_rps=chosen[Objective.THROUGHPUT], best_cpu=chosen[Objective.CPU]))
            found.load_s = round(found.load_s + load_s, 1)
            first_round += rounds
            descent.advance(step, {o: point_of[chosen[o]] for o in Objective})
            ctx.save()
        else:
            found.stop = SearchStop.CONVERGED
    except Interrupted:
        found.stop = SearchStop.INTERRUPTED
        raise
    finally:
        found.best_rps = names[descent.best[Objective.THROUGHPUT]]
        found.best_cpu = names[descent.best[Objective.CPU]]
    ctx.observer.note(f"{scenario.name} {base.name}: search {STOPPED[found.stop]} after "
                      f"{len(found.steps)} step(s), {found.load_s:.0f} s of load; best for "
                      f"req/s {found.best_rps}, for CPU per request {found.best_cpu}")
    ctx.save()
    return {Objective.THROUGHPUT: found.best_rps, Objective.CPU: found.best_cpu}


def _measure(ctx: runner.Context, step: Scenario, found: dict[str, services.Service],
             first_round: int, axis: str) -> list[Cell]:
    """One step: its configurations started together, its rounds interleaved (rotated,
    numbered on from the search's earlier steps), then stopped."""
    conns, rounds = step.connections[0], step.repeats
    cells = []
    with runner.AppSet(ctx, step, found, {}) as running:
        for r in range(first_round, first_round + rounds):
            for name in plan.rotated(step.apps, r):
                label = (f"{step.name} {axis} {name} c={conns} round "
                         f"{r - first_round + 1}/{rounds}")
                cells.append(runner.take(ctx, plan.Cell(step, name, conns, r), running, label))
    return cells
