"""Subcommands that measure and analyse: run, report, compare."""

import sys
from pathlib import Path

from harness import errors

DEFAULT_OUT = "results"


def add_commands(sub):
    p = sub.add_parser("run", help="measure the scenarios of a YAML file; write JSON and a report")
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
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="regenerate the Markdown report from stored results")
    p.add_argument("runs", nargs="*", help="results JSON files or directories "
                   "(default: the newest run in results/)")
    p.add_argument("--out", default=None,
                   help="report path (default: report.md beside the results)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="regressions of CURRENT against BASELINE history")
    p.add_argument("baseline", help="results JSON file or a directory of past runs")
    p.add_argument("current", help="results JSON file (or a directory: its newest run)")
    p.add_argument("--markdown", help="also write the comparison as Markdown to this file")
    p.add_argument("--json", dest="json_out", help="also write the comparison as JSON")
    p.add_argument("--min-effect", type=float, default=0.05,
                   help="smallest change that counts, as a fraction (default 0.05)")
    p.add_argument("--confirm", metavar="SCENARIO_FILE",
                   help="re-measure each flagged cell with this scenario file; only regressions "
                   "seen again count")
    p.add_argument("--database-url", help="with --confirm: the PostgreSQL to measure against")
    p.add_argument("--out", default=None,
                   help="with --confirm: where the re-measurement goes (default: a temporary "
                   "directory)")
    p.set_defaults(func=cmd_compare)


def parse_targets(values, known):
    from harness.config.scenarios import base_url_problem

    targets = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or name not in known:
            raise errors.UsageError(f"--target {value!r}: expected APP=URL with APP one of "
                                    f"{', '.join(sorted(known))}")
        problem = base_url_problem(url)
        if problem:
            raise errors.UsageError(f"--target {value!r}: {problem}")
        targets[name] = url
    return targets


def cmd_run(args):
    import os
    import shutil

    from harness.config import scenarios
    from harness.measure import dataset, postgres, runner, services

    found = services.discover()
    sf = scenarios.load(args.scenario_file, set(found))
    apps = [a.strip() for a in args.apps.split(",")] if args.apps else ()
    sf = scenarios.select(sf, tags=args.tag, names=args.scenario, apps=apps, known_apps=set(found))
    targets = parse_targets(args.target, set(found))
    for name in sf.targets:
        if name not in found:
            raise errors.UsageError(f"{args.scenario_file}: targets.{name}: not an app under "
                                    f"apps/; choose from {', '.join(sorted(found))}")
    # Check the tools, the output directory and the database before anything starts.
    if shutil.which("wrk") is None:
        raise errors.MissingTool("wrk not found: install it with `sudo apt-get install wrk`")
    database_url = args.database_url or os.environ.get("DATABASE_URL")
    if (targets or sf.targets) and not database_url:
        raise errors.UsageError("--target: also give --database-url, the database the running "
                                "app uses, so that the resets between cells reach its data")
    if database_url:
        postgres.check_url(database_url)
        dataset.check(database_url)
    else:
        postgres.find_bindir()
    check_out_dir(args.out)
    argv = sys.argv[2:] if sys.argv[1:2] == ["run"] else [args.scenario_file]
    command = ["run", *map(postgres.redact_text, argv)]  # never a password in results
    saved = {}
    try:
        run, path = runner.execute(sf, command, args.out, database_url, targets,
                                   with_ceilings=not args.no_ceilings, saved=saved)
    except errors.Interrupted:
        if saved.get("path"):
            print(f"partial results kept: {saved['path']}", file=sys.stderr)
        raise
    finally:
        if saved.get("path"):
            _report_or_warn(saved["path"], Path(args.out) / "report.md")
    print(f"results: {path}\nreport:  {Path(args.out) / 'report.md'}")
    failed = [c for c in run["cells"] for t in c.get("thresholds", []) if not t["ok"]]
    if failed:
        print(f"{len(failed)} threshold check(s) failed (exit {errors.EXIT_THRESHOLD})",
              file=sys.stderr)
        return errors.EXIT_THRESHOLD
    return errors.EXIT_OK


def _report_or_warn(results_path, report_path):
    """The report of a finished or interrupted run; a failure here must not hide the run's own
    outcome, so it is one line of warning."""
    from harness.model import results

    try:
        write_report([results.load(results_path)], report_path)
    except Exception as exc:  # noqa: BLE001
        print(f"warning: report not written: {exc}", file=sys.stderr)


def check_out_dir(out):
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise errors.UsageError(f"--out {out}: cannot write results there ({exc.strerror})")


def write_report(runs, path):
    from harness.render import report

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = report.render(runs, path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def cmd_report(args):
    from harness.model import results

    if args.runs:
        runs = results.load_many(args.runs)
        if not runs:
            raise errors.UsageError(f"{' '.join(args.runs)}: no results files found")
        default_dir = Path(args.runs[0]) if Path(args.runs[0]).is_dir() else Path(args.runs[0]).parent
    else:
        runs = [results.latest(DEFAULT_OUT)]
        default_dir = Path(DEFAULT_OUT)
    path = write_report(runs, args.out or default_dir / "report.md")
    print(f"report: {path}")
    return errors.EXIT_OK


def cmd_compare(args):
    import json

    from harness.analysis import compare
    from harness.model import results

    baseline = results.load_many([args.baseline])
    if not baseline:
        raise errors.UsageError(f"{args.baseline}: no results files found")
    current_path = Path(args.current)
    current = results.latest(current_path) if current_path.is_dir() else results.load(current_path)
    baseline = [r for r in baseline if r["run_id"] != current["run_id"]]
    if not baseline:
        raise errors.UsageError(f"{args.baseline}: holds no run other than the current one")
    outcome = compare.compare(baseline, current, min_effect=args.min_effect)
    if not compare.compared(outcome):
        raise errors.UsageError(f"{args.current}: shares no (scenario, app, connections) group "
                                f"with {args.baseline}: nothing to compare")
    flagged = compare.candidates(outcome)
    if flagged and args.confirm:
        recheck = remeasure(args.confirm, flagged, args.database_url, args.out)
        outcome = compare.confirm(outcome, compare.compare(baseline, recheck,
                                                           min_effect=args.min_effect))
    text = compare.render_markdown(outcome)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(outcome, indent=1) + "\n")
    return errors.EXIT_REGRESSION if compare.candidates(outcome) else errors.EXIT_OK


def remeasure(scenario_file, flagged, database_url, out_dir):
    """Run again only the flagged (scenario, app, connections) cells of `scenario_file`."""
    import dataclasses
    import tempfile

    from harness.config import scenarios
    from harness.measure import runner, services

    sf = scenarios.load(scenario_file, set(services.discover()))
    wanted = {}
    for g in flagged:
        wanted.setdefault(g["scenario"], {}).setdefault(g["app"], set()).add(g["connections"])
    picked = []
    for s in sf.scenarios:
        if s.name in wanted:
            apps = tuple(a for a in s.apps if a in wanted[s.name])
            levels = set().union(*wanted[s.name].values())
            conns = tuple(c for c in s.connections if c in levels)
            if apps and conns:
                picked.append(dataclasses.replace(s, apps=apps, connections=conns))
    if not picked:
        raise errors.UsageError(f"{scenario_file}: holds none of the flagged scenarios "
                                f"({', '.join(sorted(wanted))})")
    out = out_dir or tempfile.mkdtemp(prefix="harness-confirm-")
    print(f"re-measuring {len(flagged)} flagged group(s) into {out}", file=sys.stderr)
    run, _ = runner.execute(dataclasses.replace(sf, scenarios=tuple(picked)),
                            ["compare", "--confirm", scenario_file], out, database_url,
                            with_ceilings=False)
    return run
