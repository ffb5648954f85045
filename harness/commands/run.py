"""`run`: measure the scenarios of a YAML file, store the results, write the report.

`run()` is a plain function: the CLI wraps it, and `compare --confirm` (or any script) gets the
same pre-run checks by calling `prepare()` and `run()`.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import errors
from harness.config import scenarios

if TYPE_CHECKING:  # the measuring stack loads only when a command measures
    from harness.config.scenarios import ScenarioFile
    from harness.model.results import Run

HELP = "measure the scenarios of a YAML file; write JSON and a report"
DEFAULT_OUT = "results"


def add_arguments(p):
    p.add_argument("scenario_file")
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


def from_args(args) -> int:
    argv = sys.argv[2:] if sys.argv[1:2] == ["run"] else [args.scenario_file]
    apps = [a.strip() for a in args.apps.split(",")] if args.apps else ()
    outcome = run(args.scenario_file, apps=apps, tags=args.tag, names=args.scenario,
                  out=args.out, database_url=args.database_url, targets=args.target,
                  ceilings=not args.no_ceilings, cpu_layout=args.cpu_layout, argv=argv)
    print(f"results: {outcome.path}\nreport:  {outcome.report}")
    if outcome.failed_thresholds:
        print(f"{outcome.failed_thresholds} threshold check(s) failed "
              f"(exit {errors.EXIT_THRESHOLD})", file=sys.stderr)
        return errors.EXIT_THRESHOLD
    return errors.EXIT_OK


@dataclass
class Prepared:
    sf: ScenarioFile
    database_url: str | None
    targets: dict[str, str]
    found: dict[str, Any]  # name -> harness.measure.services.Service


def prepare(scenario_file: str, apps=(), tags=(), names=(), database_url: str | None = None,
            targets=(), out: str | Path = DEFAULT_OUT) -> Prepared:
    """Every check that can fail before anything starts: the file, the tools, the database,
    the output directory. Raises UsageError (one line, exit 2)."""
    from harness.measure import dataset, postgres, services

    found = services.discover()
    sf = scenarios.load(scenario_file, set(found))
    sf = scenarios.select(sf, tags=tags, names=names, apps=apps, known_apps=set(found))
    parsed = parse_targets(targets, set(found))
    for name in sf.targets:
        if name not in found:
            raise errors.UsageError(f"{scenario_file}: targets.{name}: not an app under "
                                    f"apps/; choose from {', '.join(sorted(found))}")
    if shutil.which("wrk") is None:
        raise errors.MissingTool("wrk not found: install it with `sudo apt-get install wrk`")
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
    return Prepared(sf, database_url, parsed, found)


@dataclass
class Outcome:
    run: Run
    path: Path
    report: Path
    failed_thresholds: int


def run(scenario_file: str, apps=(), tags=(), names=(), out: str | Path = DEFAULT_OUT,
        database_url: str | None = None, targets=(), ceilings: bool = True,
        cpu_layout: bool | None = None, argv: list[str] | None = None,
        prepared: Prepared | None = None) -> Outcome:
    from harness.analysis import stopping
    from harness.commands import report
    from harness.commands.progress import Progress
    from harness.measure import plan, postgres, runner

    p = prepared or prepare(scenario_file, apps, tags, names, database_url, targets, out)
    command = ["run", *map(postgres.redact_text, argv or [scenario_file])]  # no password
    saved: dict = {}
    progress = Progress(plan.estimate(p.sf).max_s)
    report_path = Path(out) / "report.md"
    try:
        result, path = runner.execute(
            p.sf, command, out, p.database_url, p.targets, observer=progress,
            with_ceilings=ceilings, saved=saved, stop_rule=stopping.undecided,
            cpu_layout=cpu_layout, found=p.found)
    except errors.Interrupted:
        if saved.get("path"):
            print(f"partial results kept: {saved['path']}", file=sys.stderr)
        raise
    finally:
        progress.close()
        if saved.get("path"):
            report.write_or_warn([saved["path"]], Path(out))
    failed = sum(not t.ok for c in result.cells for t in c.thresholds)
    return Outcome(result, path, report_path, failed)


def parse_targets(values, known) -> dict[str, str]:
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
