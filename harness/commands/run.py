"""`run`: measure the scenarios of a YAML file, store the results, write the report.

`run()` is a plain function: the CLI wraps it, and `compare --confirm` (or any script) gets the
same pre-run checks by calling `prepare()` and `run()`. `plan_run()` is what `--dry-run` shows:
the selected scenarios with the command line's overrides, the apps and the time estimate,
without starting or building anything.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import errors
from harness.config import overrides as overrides_mod
from harness.config import scenarios

if TYPE_CHECKING:  # the measuring stack loads only when a command measures
    from harness.config.scenarios import Scenario, ScenarioFile
    from harness.measure.plan import Estimate
    from harness.measure.services import Service
    from harness.model.results import Run

HELP = "measure the scenarios of a YAML file; write JSON and a report"
DEFAULT_OUT = "results"
MAX_TIME_S = 24 * 3600.0  # a longer plan needs --max-time
# The harness's own time besides the load, an allowance from runs on 2 cores: a 6-cell trial
# took 9 s besides its 19 s of load (start-up 4 s, stops 2 s, settles 1 s); default runs spend
# 0.17-0.3 s a cell, restarts of the deadlocked app included (benchmarks/results/decisions-*).
# Once: the interpreter, PostgreSQL and the report; per scenario: starting and stopping its
# apps; per cell: the reset, the request check, the settle, the save.
OVERHEAD_FIXED_S = 5.0
OVERHEAD_SCENARIO_S = 5.0
OVERHEAD_CELL_S = 0.4
# A sweep's step stops its configurations and starts the next ones, each verified: 5-13 s on
# 2 cores under load.
OVERHEAD_STEP_S = 8.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario_file")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (scenarios, levels, apps in order, settings, rounds) "
                   "and its time estimate; start nothing")
    p.add_argument("--max-time", default=None, metavar="DURATION",
                   help="run a plan that may take longer than 24 h, up to this (like 30h, 2d)")
    p.add_argument("--app-dir", action="append", default=[], metavar="DIR",
                   help="also an app from this directory (service.toml, requirements.txt, "
                   "code), in its own cached environment; repeatable (docs/own-service.md)")
    p.add_argument("--own-envs", action="store_true",
                   help="run every app in its own cached environment built from its "
                   "requirements.txt (default: only those that ask for one)")
    group = p.add_argument_group(
        "settings for every selected scenario",
        "override the scenario file's values, validated as in the file")
    for key, flag in overrides_mod.FLAGS.items():
        numeric = "repeats" in key or key in ("threads", "profile")
        group.add_argument(flag, dest=f"set_{key}", metavar="N" if numeric else "VALUE",
                           help=overrides_mod.HELP[key])
    p.add_argument("--apps", help="comma-separated subset of the scenario apps")
    p.add_argument("--tag", action="append", default=[],
                   help="run only scenarios with this tag (repeatable), e.g. --tag soak")
    p.add_argument("--scenario", action="append", default=[],
                   help="run only this scenario (repeatable)")
    p.add_argument("--out", default=DEFAULT_OUT, help="results directory (default: results)")
    p.add_argument("--database-url",
                   help="PostgreSQL to use instead of a throwaway cluster (default: $DATABASE_URL)")
    p.add_argument("--target", action="append", default=[], metavar="APP=URL",
                   help="measure an app already running at URL (loopback only); start nothing")
    p.add_argument("--no-ceilings", action="store_true",
                   help="skip the pgbench and raw-ASGI ceilings")
    layout = p.add_mutually_exclusive_group()
    layout.add_argument("--cpu-layout", dest="cpu_layout", action="store_true", default=None,
                        help="pin the apps, PostgreSQL and wrk to disjoint CPUs (default on "
                        "with 4 or more CPUs)")
    layout.add_argument("--no-cpu-layout", dest="cpu_layout", action="store_false",
                        help="let them share every CPU")


def from_args(args: argparse.Namespace) -> int:
    argv = sys.argv[2:] if sys.argv[1:2] == ["run"] else [args.scenario_file]
    apps = [a.strip() for a in args.apps.split(",")] if args.apps else ()
    changes = overrides_mod.parse({k: getattr(args, f"set_{k}") for k in overrides_mod.FLAGS})
    max_time = overrides_mod.parse_max_time(args.max_time) if args.max_time else MAX_TIME_S
    if args.dry_run:
        planned = plan_run(args.scenario_file, apps=apps, tags=args.tag, names=args.scenario,
                           overrides=changes, app_dirs=args.app_dir, own_envs=args.own_envs,
                           targets=args.target, ceilings=not args.no_ceilings)
        print(plan_text(planned))
        check_time(planned, max_time)  # a plan that a real run would refuse: exit 2
        return errors.EXIT_OK
    outcome = run(args.scenario_file, apps=apps, tags=args.tag, names=args.scenario,
                  out=args.out, database_url=args.database_url, targets=args.target,
                  ceilings=not args.no_ceilings, cpu_layout=args.cpu_layout, argv=argv,
                  overrides=changes, app_dirs=args.app_dir, own_envs=args.own_envs,
                  max_time=max_time)
    print(f"results: {outcome.path}\nreport:  {outcome.report}")
    if outcome.failed_thresholds:
        print(f"{outcome.failed_thresholds} threshold check(s) failed "
              f"(exit {errors.EXIT_THRESHOLD})", file=sys.stderr)
        return errors.EXIT_THRESHOLD
    return errors.EXIT_OK


@dataclass
class Planned:
    """What a run would do: the selected scenarios with the overrides applied, and its apps."""

    sf: ScenarioFile
    found: dict[str, Service]  # every known app (those of --app-dir included)
    targets: dict[str, str]  # --target APP=URL
    overrides: dict[str, Any] = field(default_factory=dict)  # validated, as scenario keys
    own_envs: bool = False
    ceilings: bool = True  # pgbench and the raw-ASGI app, before the scenarios they support

    @property
    def used(self) -> list[str]:
        """The apps the selected scenarios measure, in first-use order."""
        return list(dict.fromkeys(a for s in self.sf.scenarios for a in s.apps))

    def estimate(self) -> Estimate:
        """Load time of the cells (the ceilings' comes apart: ceilings_s)."""
        from harness.measure import plan

        return plan.estimate(self.sf)

    def ceilings_s(self) -> dict[str, float]:
        """Load time of the ceilings, by the scenario they are measured for."""
        from harness.measure import ceilings

        if not self.ceilings:
            return {}
        return {s.name: ceilings.load_seconds(s) for s in self.sf.scenarios
                if ceilings.supported(s)}

    def load_s(self) -> tuple[float, float]:
        """Every second of load (min, max): the cells and the ceilings."""
        est, extra = self.estimate(), sum(self.ceilings_s().values())
        return est.min_s + extra, est.max_s + extra

    def overhead(self) -> tuple[float, float]:
        """Allowance for the harness's own time (min, max), seconds."""
        from harness.measure import plan

        est = self.estimate()
        base = OVERHEAD_FIXED_S + OVERHEAD_SCENARIO_S * len(self.sf.scenarios)
        steps = [plan.search_steps(s) for s in self.sf.scenarios if s.sweep]
        return (base + OVERHEAD_CELL_S * est.cells_min
                + OVERHEAD_STEP_S * sum(low for low, _ in steps),
                base + OVERHEAD_CELL_S * est.cells_max
                + OVERHEAD_STEP_S * sum(high for _, high in steps))


def plan_run(scenario_file: str, apps: Iterable[str] = (), tags: Iterable[str] = (),
             names: Iterable[str] = (), overrides: Mapping[str, Any] | None = None,
             app_dirs: Iterable[str | Path] = (), own_envs: bool = False,
             targets: Iterable[str] = (), ceilings: bool = True) -> Planned:
    """The file, the selection, the overrides and the apps, validated: UsageError (one line,
    exit 2) on any mistake. Starts and builds nothing."""
    from harness.measure import services

    found = services.discover(extra=app_dirs)
    # Each app with the settings it reads: a sweep may search only those.
    sf = scenarios.load(scenario_file, {name: s.knobs for name, s in found.items()})
    sf = scenarios.select(sf, tags=tuple(tags), names=tuple(names), apps=tuple(apps),
                          known_apps=set(found))
    sf = overrides_mod.apply(sf, overrides or {})
    parsed = parse_targets(targets, set(found))
    for name in sf.targets:
        if name not in found:
            raise errors.UsageError(f"{scenario_file}: targets.{name}: not an app under "
                                    f"apps/; choose from {', '.join(sorted(found))}")
    check_sweeps(sf, found, parsed)
    return Planned(sf, found, parsed, dict(overrides or {}), own_envs, ceilings)


def check_sweeps(sf: ScenarioFile, found: Mapping[str, Service],
                 targets: Mapping[str, str]) -> None:
    """A swept app is one the harness starts, and a variant keeps the settings that make it
    that variant."""
    for s in sf.scenarios:
        for app, axes in s.sweep.items():
            if app in targets:
                raise errors.UsageError(f"--target {app}: scenario {s.name} sweeps it, which "
                                        "needs restarting it with other settings: leave it "
                                        "out of --target")
            fixed = found[app].fixed
            for axis in axes:
                for setting in axis.settings:
                    if setting in fixed:
                        raise errors.UsageError(
                            f"{sf.path}: scenarios.{s.name}.sweep.{app}.{axis.name}: {app} "
                            f"is a variant that fixes {setting}={fixed[setting]}: sweep its "
                            f"base app ({found[app].variant_of}) instead")


def check_time(planned: Planned, max_time: float = MAX_TIME_S) -> None:
    """Refuse a plan that may take longer than `max_time` (load and the harness's own time)."""
    load = planned.load_s()[1]
    total = load + planned.overhead()[1]
    if total > max_time:
        hours = math.ceil(total / 3600)
        raise errors.UsageError(
            f"the plan may take up to {_duration(total)} ({_duration(load)} of load), over the "
            f"{_duration(max_time)} limit: shorten it (--duration, --repeats, --budget, "
            f"--connections) or allow it with --max-time {hours}h")


@dataclass
class Prepared:
    sf: ScenarioFile
    database_url: str | None
    targets: dict[str, str]
    found: dict[str, Any]  # name -> harness.measure.services.Service
    own_envs: bool = False  # every app started, the ceilings' included, in its own environment


def prepare(scenario_file: str, apps=(), tags=(), names=(), database_url: str | None = None,
            targets=(), out: str | Path = DEFAULT_OUT, *,
            overrides: Mapping[str, Any] | None = None, app_dirs: Iterable[str | Path] = (),
            own_envs: bool = False, max_time: float = MAX_TIME_S, ceilings: bool = True,
            log: Callable[[str], None] | None = None) -> Prepared:
    """Every check that can fail before anything starts: the file, the plan's length, the
    tools, the database, the output directory, the apps' environments (built here when they
    are not cached yet). Raises UsageError (one line, exit 2)."""
    from harness.measure import dataset, postgres

    planned = plan_run(scenario_file, apps, tags, names, overrides, app_dirs, own_envs, targets,
                       ceilings)
    check_time(planned, max_time)
    check_packages(planned)
    sf, parsed = planned.sf, planned.targets
    if shutil.which("wrk") is None:
        raise errors.MissingTool("wrk not found: install it with `sudo apt-get install wrk`")
    check_profiler(planned)
    database_url = database_url or os.environ.get("DATABASE_URL")
    if (parsed or sf.targets) and not database_url:
        raise errors.UsageError("--target: also give --database-url, the database the running "
                                "app uses, so that the resets between cells reach its data")
    if database_url:
        postgres.check_url(database_url)
        dataset.check(database_url)
    else:
        postgres.find_bindir()
    check_out_dir(out)
    found = resolve_environments(planned, log or _stderr)
    return Prepared(sf, database_url, parsed, found, own_envs)


def check_profiler(planned: Planned) -> None:
    """A profile needs py-spy, when some profiled app is one the run starts."""
    from harness.measure import profiler

    started = set(_started(planned))
    wanted = [s.name for s in planned.sf.scenarios
              if s.profile is not None and started & set(s.apps)]
    if wanted and profiler.executable() is None:
        raise errors.MissingTool(f"py-spy not found, needed by the profile of "
                                 f"{', '.join(wanted)}: install it with `pip install py-spy` "
                                 "(requirements.txt has it), or run with --profile off")


def _started(planned: Planned) -> list[str]:
    """The apps the run starts itself (not those already running at a --target URL)."""
    external = {*planned.targets, *planned.sf.targets}
    return [name for name in planned.used if name not in external]


def check_packages(planned: Planned) -> None:
    """An app that runs in the harness's Python must find its packages installed there."""
    if planned.own_envs:
        return
    for name in _started(planned):
        service = planned.found[name]
        missing = service.missing()
        if missing:
            raise errors.UsageError(
                f"{name}: this Python ({sys.executable}) lacks {', '.join(missing)}: install "
                f"them (pip install -r {service.requirements}) or run with --own-envs to give "
                "each app its own cached environment")


def resolve_environments(planned: Planned,
                         log: Callable[[str], None] | None = None) -> dict[str, Service]:
    """Every known app, those the run starts with their interpreter resolved: an own
    environment is built now, or found in the cache."""
    from harness.measure import services

    found = dict(planned.found)
    for name in _started(planned):
        found[name] = services.with_environment(found[name], own=planned.own_envs, log=log)
    if planned.own_envs and planned.ceilings_s():  # the reference app of the ceilings too
        for reference in services.discover(reference=True).values():
            services.with_environment(reference, own=True, log=log)
    return found


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Outcome:
    run: Run
    path: Path
    report: Path
    failed_thresholds: int


def run(scenario_file: str, apps=(), tags=(), names=(), out: str | Path = DEFAULT_OUT,
        database_url: str | None = None, targets=(), ceilings: bool = True,
        cpu_layout: bool | None = None, argv: list[str] | None = None,
        prepared: Prepared | None = None, *, overrides: Mapping[str, Any] | None = None,
        app_dirs: Iterable[str | Path] = (), own_envs: bool = False,
        max_time: float = MAX_TIME_S) -> Outcome:
    from harness.analysis import sequential, stopping
    from harness.analysis import sweep as sweep_rules
    from harness.commands import report
    from harness.commands.progress import Progress
    from harness.measure import plan, postgres, runner, services

    p = prepared or prepare(scenario_file, apps, tags, names, database_url, targets, out,
                            overrides=overrides, app_dirs=app_dirs, own_envs=own_envs,
                            max_time=max_time, ceilings=ceilings)
    command = ["run", *map(postgres.redact_text, argv or [scenario_file])]  # no password
    saved: dict = {}
    progress = Progress(plan.estimate(p.sf).max_s)
    report_path = Path(out) / "report.md"
    own_before, services.OWN_ENVS = services.OWN_ENVS, p.own_envs
    try:
        result, path = runner.execute(
            p.sf, command, out, p.database_url, p.targets, observer=progress,
            with_ceilings=ceilings, saved=saved, stop_rule=stopping.pending,
            cpu_layout=cpu_layout, found=p.found,
            environment=_environment(p), sweep_rules=sweep_rules.Rules(),
            looks=sequential.looks)
    except errors.Interrupted:
        if saved.get("path"):
            print(f"partial results kept: {saved['path']}", file=sys.stderr)
        raise
    finally:
        services.OWN_ENVS = own_before
        progress.close()
        if saved.get("path"):
            report.write_or_warn([saved["path"]], Path(out))
    failed = sum(not t.ok for c in result.cells for t in c.thresholds)
    return Outcome(result, path, report_path, failed)


def parse_targets(values: Iterable[str], known: Collection[str]) -> dict[str, str]:
    targets = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or name not in known:
            raise errors.UsageError(f"--target {value!r}: expected APP=URL with APP one of "
                                    f"{', '.join(sorted(known))}")
        problem = scenarios.base_url_problem(url)
        if problem:
            raise errors.UsageError(f"--target {value!r}: {problem}")
        targets[name] = url
    return targets


def check_out_dir(out: str | Path) -> None:
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise errors.UsageError(f"--out {out}: cannot write results there ({exc.strerror})")


def _environment(p: Prepared) -> dict[str, Any] | None:
    """The run's environment when some app runs in its own environment: the versions of its
    packages come from there, as `app/package`. None: the runner's usual collection."""
    from harness.measure import environment

    used = [p.found[a] for a in dict.fromkeys(a for s in p.sf.scenarios for a in s.apps)]
    own = [s for s in used if s.environment == "own"]
    if not own:
        return None
    collected = environment.collect([s for s in used if s.environment != "own"],
                                    database="external" if p.database_url else "embedded")
    for service in own:
        names = service.packages or tuple(name for name, _ in service.pinned())
        for name in names:
            collected["packages"][f"{service.name}/{name}"] = service.package_version(name)
    return collected


def plan_text(planned: Planned) -> str:
    """The plan as --dry-run prints it: each scenario and level, its apps in order, its
    settings and rounds, the apps' interpreters, and the time estimate."""
    from harness.measure import plan

    sf = planned.sf
    levels = plan.levels(sf)
    lines = [(f"plan: {sf.path}: {len(sf.scenarios)} scenario(s), {len(levels)} level(s), "
              f"{sf.rows} rows")]
    if planned.overrides:
        lines.append(f"command-line settings: {overrides_mod.described(planned.overrides)}")
    for s in sf.scenarios:
        r = s.request
        lines += ["", f"{s.name}: {r.method} {r.path}"]
        if s.description:
            lines.append(f"  {s.description}")
        lines.append(f"  apps: {', '.join(s.apps)} (interleaved, rotated each round); "
                     f"baseline {s.baseline}")
        lines.append(f"  cells: warmup {_duration(s.warmup)} + {_duration(s.duration)} "
                     f"measured, up to {s.threads} wrk thread(s), timeout {_duration(s.timeout)}")
        if s.adaptive:
            lines.append(f"  adaptive: {s.min_repeats}–{s.max_repeats} rounds per level, "
                         f"stopping once every comparison is decided (min effect "
                         f"{s.min_effect:.0%}) or {_duration(s.budget or 0)} of load are spent")
        else:
            lines.append(f"  fixed: {s.repeats} round(s) per level")
        if s.env or s.app_env:
            env = ", ".join(f"{k}={v}" for k, v in s.env.items())
            per_app = "; ".join(f"{a}: " + ", ".join(f"{k}={v}" for k, v in e.items())
                                for a, e in s.app_env.items())
            lines.append(f"  app settings: {'; '.join(x for x in (env, per_app) if x)}")
        if s.thresholds:
            lines.append(f"  thresholds: {', '.join(t.expr for t in s.thresholds)}")
        lines += _sweep_lines(s)
        low, high, cells_low, cells_high = plan.level_estimate(s)
        rounds = (f"{s.min_repeats}–{s.max_repeats} rounds" if s.adaptive
                  else f"{s.repeats} round(s)")
        ceiling = planned.ceilings_s().get(s.name)
        if ceiling is not None:
            lines.append(f"  first the ceilings (pgbench, raw ASGI) at each level: "
                         f"{_duration(ceiling)} of load")
        for c in sorted(s.connections):
            lines.append(f"  c={c:<5} {rounds}, {_range(cells_low, cells_high)} cells, "
                         f"{_range(low, high, _duration)} of load")
        if s.profile is not None:
            seconds, cells = plan.profile_estimate(s)
            lines.append(f"  then a profile at c={s.profile}: {cells} more cells, each app "
                         f"sampled by py-spy (no verdict), {_duration(seconds)} of load")
    lines += ["", "apps:"]
    width = max(len(a) for a in planned.used)
    external = {**planned.sf.targets, **planned.targets}
    for name in planned.used:
        lines.append(f"  {name:<{width}}  {_app_line(planned, name, external)}")
    est = planned.estimate()
    load, over = planned.load_s(), planned.overhead()
    ceilings = " and the ceilings" if planned.ceilings_s() else ""
    lines += ["", (f"estimate: {_range(load[0], load[1], _duration)} of load "
                   f"({_range(est.cells_min, est.cells_max)} cells{ceilings}); with the "
                   f"harness's own time (start-up, resets, checks; allowance) "
                   f"{_range(load[0] + over[0], load[1] + over[1], _duration)}")]
    return "\n".join(lines)


def _sweep_lines(s: Scenario) -> list[str]:
    if not s.sweep:
        return []
    from harness.measure import plan

    low, high = plan.search_estimate(s)
    lines = [(f"  sweep: each app's best settings (most req/s, least CPU per request) by "
             f"coordinate search from its defaults, {s.sweep_rounds} cell(s) per configuration "
             f"per step, within {_duration(s.sweep_budget or 0)} of load per app "
             f"({_range(low, high, _duration)} in all):")]
    for app, axes in s.sweep.items():
        lines.append(f"    {app}: " + "; ".join(
            f"{a.name} {', '.join('/'.join(v) for v in a.values)}" for a in axes))
    lines.append("  then fresh rounds of each app's default and its best configurations "
                 "(the verdicts)")
    return lines


def _app_line(planned: Planned, name: str, external: Mapping[str, str]) -> str:
    service = planned.found[name]
    if name in external:
        return f"already running at {external[name]} (not started)"
    check = ("verified against the users contract" if service.contract
             else "verified by the scenario's own request")
    if service.variant_of:
        changes = [f"{k}={v}" for k, v in service.fixed_settings]
        if service.args:
            changes.append(" ".join(service.args))
        if service.requirements_file != "requirements.txt":
            changes.append(service.requirements_file)
        check += f"; variant of {service.variant_of}: {', '.join(changes) or service.description}"
    if service.environment == "own" or planned.own_envs:
        from harness.measure import envs

        env = envs.locate(envs.Requirements.from_file(service.requirements))
        state = "cached" if env.ready() else "to be built before the run"
        return f"{service.server}, own environment {env.path} ({state}); {check}"
    missing = service.missing()
    lack = f"; LACKS {', '.join(missing)} (see --own-envs)" if missing else ""
    return f"{service.server}, the harness's Python ({sys.executable}){lack}; {check}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _range(low: float, high: float, fmt: Callable[[float], str] = str) -> str:
    return fmt(low) if low == high else f"{fmt(low)}–{fmt(high)}"
