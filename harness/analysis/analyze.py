"""Runs in, findings out: every decision the report shows is made here, once.

`analyze(runs, detail)` takes runs without their sampled series (store.load_many, fast by the
thousand) and, optionally, the newest run loaded whole for the sampled evidence. Several runs
are pooled: their repeats of a group form one sample. Each scenario's baseline and declared
comparisons come from the run's resolved configuration; a version-1 file has none, and gets the
defaults (the first app against each other, then every pair of the others).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping, Sequence
from itertools import groupby
from operator import attrgetter
from typing import Any

from harness.analysis import (
    breaking,
    charts,
    diagnosis,
    environment,
    evidence,
    faults,
    groups,
    loops,
    profiles,
    soak,
    stats,
    sweep,
    verdicts,
)
from harness.analysis.findings import (
    AppSettings,
    Comparison,
    Findings,
    Group,
    Layout,
    Level,
    Method,
    Metric,
    Noise,
    RunHeader,
    ScenarioFindings,
    VerificationFailure,
)
from harness.analysis.history import history
from harness.config.comparisons import default_comparisons
from harness.model import digest
from harness.model.results import (
    AppInfo,
    CellCore,
    CellStatus,
    Run,
    RunCore,
    StopReason,
    is_search,
)
from harness.model.stacks import Stacks

MAX_FAILURES = 50  # failed cells listed one by one; the rest are counted


def analyze(runs: Sequence[RunCore], detail: Run | None = None, *,
            alpha: float = stats.ALPHA, stacks: Mapping[str, Stacks] | None = None) -> Findings:
    """Findings over `runs` (oldest first); `detail` is the run whose samples are evidence
    (the newest, loaded whole), if any; `stacks` its profiles' collapsed stacks, by file."""
    grouped = groups.group(runs)
    sampled = groups.group([detail]) if detail is not None else None
    # The evidence comes from one run: the one loaded whole, else the newest (its cells read
    # from its results file if it was read through a digest).
    shown = sampled or (groups.group([dataclasses.replace(runs[-1], cells=list(runs[-1].cells))])
                        if runs else None)
    adaptive = {(lv.scenario, lv.connections) for r in runs for lv in r.levels
                if lv.reason is not StopReason.FIXED}
    config = _config(runs)
    # A sweep's search cells (scenario NAME:search) chose configurations: they are listed with
    # the other cells and described in the sweep's findings, not reported as a scenario.
    measured = [name for name in grouped.scenarios if not is_search(name)]
    first = config.get(measured[0], {}) if measured else {}
    order = _apps(grouped.apps, _baseline(first, grouped.apps))
    summaries = {
        key: groups.summarize(key, grouped.pool(key),
                              _whole(sampled.cells.get(key, ())) if sampled else (), alpha)
        for key in grouped.cells}
    info = _app_info(runs)
    cpus = (runs[-1].environment or {}).get("cpus") if runs else None
    scenarios = tuple(
        _scenario(name, config.get(name, {}), grouped, summaries, runs, shown, adaptive, alpha,
                  info, cpus)
        for name in measured)
    cvs = sorted(g.rps.cv for k, g in summaries.items()
                 if g.rps.cv is not None and not is_search(k[0]))
    failures = [f for g in summaries.values() for f in g.failures]
    failures.sort(key=_run_order(runs))
    # a sweep's candidates are listed only when a reported scenario measured them
    reported = {k[1] for k in summaries if not is_search(k[0])}
    info = {a: i for a, i in info.items() if a in reported or not i.variant_of}
    verification = tuple(VerificationFailure(a, tuple(i.verification.failures))
                         for a, i in info.items() if not i.verification.ok)
    envs = [r.environment or {} for r in runs]
    return Findings(
        runs=tuple(_header(r, grouped.scenarios) for r in runs),
        detail_run=detail.run_id if detail is not None else None,
        noise=Noise(len(cvs), statistics.median(cvs), cvs[-1]) if cvs else None,
        environment_diff=environment.diff(envs[:-1], envs[-1]) if len(envs) > 1 else (),
        environments=environment.environments(runs),
        scenarios=scenarios,
        failures=tuple(failures[-MAX_FAILURES:]),
        failures_total=len(failures),
        verification=verification,
        all_verified=bool(info) and not verification
        and all(i.verification.contract for i in info.values()),
        settings=_settings(grouped, order, info),
        layout=Layout.of((detail or runs[-1]).cpu_layout if runs or detail else None),
        history=history(grouped, [r.run_id for r in runs], measured, order)
        if len(runs) > 1 else None,
        cells=grouped.every,
        alpha=alpha, noisy_cv=stats.NOISY_CV, few_repeats=stats.FEW_REPEATS,
        loops=loops.compare(scenarios),
        faults=faults.analyze(detail), soak=soak.analyze(detail),
        profiles=profiles.analyze(detail, stacks or {}),
    )


def _config(runs: Sequence[RunCore]) -> dict[str, dict[str, Any]]:
    """Each scenario's resolved configuration; a later run's replaces an earlier one's."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        for s in (run.config or {}).get("scenarios") or []:
            out[s.get("name")] = s
    return out


def _baseline(cfg: dict[str, Any], seen: Sequence[str]) -> str | None:
    apps = cfg.get("apps") or list(seen)
    return cfg.get("baseline") or (apps[0] if apps else None)


def _apps(seen: Sequence[str], baseline: str | None) -> tuple[str, ...]:
    """The baseline first, then the apps in the order the run measured them."""
    return tuple(sorted(seen, key=lambda a: a != baseline))


def _pairs(cfg: dict[str, Any], apps: Sequence[str], baseline: str) -> list[tuple[str, str]]:
    declared = cfg.get("comparisons")
    if declared:
        return [(str(a), str(b)) for a, b in declared]
    return list(default_comparisons(list(cfg.get("apps") or apps), baseline))


def _scenario(name: str, cfg: dict[str, Any], grouped: groups.Grouped,
              summaries: dict[groups.Key, Group], runs: Sequence[RunCore],
              shown: groups.Grouped | None, adaptive: set[tuple[str, int]],
              alpha: float, info: dict[str, AppInfo], cpus: int | None) -> ScenarioFindings:
    seen = [a for a in grouped.apps if any(k[0] == name and k[1] == a for k in grouped.cells)]
    baseline = _baseline(cfg, seen) or ""
    apps = _apps(seen, baseline)
    levels = grouped.levels(name)
    min_effect = float(cfg.get("min_effect", stats.MIN_EFFECT))
    measured_cpu = any(grouped.pool((name, a, conns)).has_cpu for a in apps
                       for conns in levels if (name, a, conns) in grouped.cells)
    # Without CPU time (a v1 file, or not taken) no CPU verdict lines that each say so.
    metrics = (Metric.THROUGHPUT, Metric.CPU) if measured_cpu else (Metric.THROUGHPUT,)
    declared = _pairs(cfg, apps, baseline)
    record = sweep.latest(runs, name)
    # A sweep's fresh rounds also decide each best configuration against its default and the
    # best ones against each other: the pairs its record names.
    pairs = list(dict.fromkeys([*declared, *((str(a), str(b)) for a, b in
                                             (record.comparisons if record else ()))]))
    comparisons: list[Comparison] = []
    for metric in metrics:
        for cand, ref in pairs:
            for conns in levels:
                # Welch's t when every run took a fixed number of repeats at the level; the
                # sequential method as soon as one run stopped its rounds on the data.
                method = Method.SEQUENTIAL if (name, conns) in adaptive else Method.WELCH
                comparisons.append(verdicts.compare(
                    grouped, name, conns, cand, ref, metric, method,
                    min_effect=min_effect, alpha=alpha,
                    min_n=int(cfg.get("min_repeats") or 3),
                    max_n=int(cfg.get("max_repeats") or 30)))
    points = [p for p in (breaking.breaking_point(grouped, name, a, levels) for a in apps) if p]
    group_list = tuple(summaries[(name, a, c)] for a in apps for c in levels
                       if (name, a, c) in summaries)
    found = next((r.ceilings[name] for r in reversed(runs) if name in r.ceilings), None)
    by_key = shown.cells if shown is not None else {}
    rows = [evidence.row(name, a, c, _whole(by_key.get((name, a, c), ())))
            for a in apps for c in levels]
    thresholds = dict.fromkeys(cfg.get("thresholds") or [])
    for a in apps:
        for c in levels:
            if (name, a, c) in grouped.cells:
                thresholds.update(dict.fromkeys(grouped.pool((name, a, c)).checks.everywhere))
    evidence_rows = tuple(r for r in rows if r is not None)
    settings = {(a, c): cells[-1].settings for (sc, a, c), cells in grouped.cells.items()
                if sc == name and cells}
    diagnoses, outcomes = diagnosis.scenario(group_list, settings, evidence_rows, info, cpus)
    if record:  # a sweep's configurations are judged by its own section, not as mitigations
        outcomes = ()
    request = cfg.get("request") or {}
    budgeted = cfg.get("budget") is not None
    return ScenarioFindings(
        name=name, description=cfg.get("description") or "",
        method=request.get("method"), path=request.get("path"),
        duration=cfg.get("duration"), warmup=cfg.get("warmup"),
        repeats=None if budgeted else cfg.get("repeats"), timeout=cfg.get("timeout"),
        budget=cfg.get("budget"), min_repeats=cfg.get("min_repeats") if budgeted else None,
        max_repeats=cfg.get("max_repeats") if budgeted else None,
        baseline=baseline, min_effect=min_effect, apps=apps, levels=tuple(levels),
        thresholds=tuple(thresholds),
        groups=group_list, comparisons=tuple(comparisons), breaking_points=tuple(points),
        capacity=tuple(breaking.capacity(grouped, p, alpha) for p in points)
        if measured_cpu else (),
        ceiling=evidence.ceiling(name, found, group_list) if found else None,
        evidence=evidence_rows,
        stops=_stops(runs, name),
        spectra=charts.spectra(shown, name, apps, levels),
        resources=charts.resources(shown, name, apps, levels),
        diagnoses=diagnoses, outcomes=outcomes,
        sweep=sweep.findings(record, grouped, name, comparisons, declared) if record else None,
    )


def _stops(runs: Sequence[RunCore], scenario: str) -> tuple[Level, ...]:
    """Why each level stopped taking rounds, as the newest run that ran the scenario recorded."""
    for run in reversed(runs):
        levels = [lv for lv in run.levels if lv.scenario == scenario]
        if levels:
            return tuple(Level(lv.connections, lv.rounds, lv.reason, lv.load_s,
                               tuple(lv.undecided))
                         for lv in sorted(levels, key=lambda lv: lv.connections))
    return ()


def _header(run: RunCore, measured: Sequence[str]) -> RunHeader:
    configured = [s.get("name") for s in (run.config or {}).get("scenarios") or []]
    return RunHeader(
        run_id=run.run_id, status=run.status, started_at=run.started_at or None,
        finished_at=run.finished_at, cells=len(run.cells),
        failed=len(run.cells) - list(map(_STATUS, digest.facts(run.cells))).count(CellStatus.OK),
        command=tuple(run.command),
        not_measured=tuple(str(s) for s in configured if s not in measured))


_STATUS = attrgetter("status")


def _whole(cells: Sequence[groups.Cell]) -> list[CellCore]:
    """The cells of a run loaded whole, as the model has them (never digest rows)."""
    return [c for c in cells if isinstance(c, CellCore)]


def _run_order(runs: Sequence[RunCore]):
    index = {r.run_id: i for i, r in enumerate(runs)}
    return lambda f: index.get(f.run_id, 0)


def _app_info(runs: Sequence[RunCore]) -> dict[str, AppInfo]:
    """Each app's description, server and verification, as the newest run recorded them."""
    out: dict[str, AppInfo] = {}
    for run in runs:
        out.update(run.apps)
    return out


def _settings(grouped: groups.Grouped, order: Sequence[str],
              info: dict[str, AppInfo]) -> tuple[AppSettings, ...]:
    per_app: dict[str, dict[str, dict[str, list[str]]]] = {}  # app -> knob -> value -> scenarios
    for key in grouped.cells:
        scenario, app, _ = key
        if is_search(scenario):
            continue
        # A digest shares one settings object among a run's cells with equal settings: each
        # distinct object is read once, in order of first appearance (groupby steps over a
        # run of the same object in C).
        found = (s for s, _ in groupby(grouped.pool(key).facts("settings", completed=False)))
        for settings in {id(s): s for s in found}.values():
            for k, v in settings.items():
                where = per_app.setdefault(app, {}).setdefault(k, {}).setdefault(v, [])
                if scenario not in where:
                    where.append(scenario)
    apps = [a for a in order if a in per_app or a in info]
    apps += [a for a in info if a not in apps]
    out = []
    for a in apps:
        i = info.get(a)
        out.append(AppSettings(
            app=a, description=i.description if i else None, server=i.server if i else None,
            command=tuple(map(str, i.command)) if i else (), external=bool(i and i.external),
            values={k: {v: tuple(s) for v, s in vals.items()}
                    for k, vals in per_app.get(a, {}).items()},
            packages=dict(i.packages) if i else {}, variant_of=i.variant_of if i else None))
    return tuple(out)
