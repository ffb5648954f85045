"""`compare`: one run against a window of past runs; with --confirm, re-measure what looks like a
regression before it counts (the same pre-run checks as `run`)."""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

from harness import errors
from harness.model import store

HELP = "regressions of CURRENT against BASELINE history"


def add_arguments(p):
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


def from_args(args) -> int:
    import pydantic_core

    from harness.analysis import compare as comparison
    from harness.render import compare_markdown

    result = compare(args.baseline, args.current, min_effect=args.min_effect,
                     confirm=args.confirm, database_url=args.database_url, out=args.out)
    text = compare_markdown.render(result)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json_out:
        Path(args.json_out).write_bytes(pydantic_core.to_json(result, indent=1) + b"\n")
    return errors.EXIT_REGRESSION if comparison.candidates(result) else errors.EXIT_OK


def compare(baseline: str, current: str, min_effect: float = 0.05, confirm: str | None = None,
            database_url: str | None = None, out: str | None = None):
    from harness.analysis import compare as comparison

    if not (Path(baseline).exists() and Path(current).exists()):
        missing = baseline if not Path(baseline).exists() else current
        raise errors.UsageError(f"{missing}: no such file or directory")
    current_path = Path(current)
    with store.no_gc():  # a thousand past runs: see store.no_gc
        now = store.latest(current_path) if current_path.is_dir() \
            else store.load_cores([current_path])[0]
        past = [r for r in store.load_many([baseline]) if r.run_id != now.run_id]
        if not past:
            raise errors.UsageError(f"{baseline}: holds no run other than the current one")
        result = comparison.compare(past, now, min_effect=min_effect)
    if not comparison.compared(result):
        raise errors.UsageError(f"{current}: shares no (scenario, app, connections) group "
                                f"with {baseline}: nothing to compare")
    flagged = comparison.candidates(result)
    if flagged and confirm:
        recheck = remeasure(confirm, flagged, database_url, out)
        result = comparison.confirm(result, comparison.compare(past, recheck,
                                                               min_effect=min_effect))
    return result


def _key(group) -> tuple[str, str, int]:
    if isinstance(group, dict):
        return group["scenario"], group["app"], group["connections"]
    return group.scenario, group.app, group.connections


def remeasure(scenario_file: str, flagged, database_url: str | None, out_dir: str | None):
    """Run again only the flagged (scenario, app, connections) groups of `scenario_file`, with
    the same checks as `run` before anything starts."""
    from harness.commands import run

    prepared = run.prepare(scenario_file, database_url=database_url,
                           out=out_dir or tempfile.gettempdir())
    wanted: dict[str, dict[str, set[int]]] = {}
    for g in flagged:
        scenario, app, connections = _key(g)
        wanted.setdefault(scenario, {}).setdefault(app, set()).add(connections)
    picked = []
    for s in prepared.sf.scenarios:
        if s.name in wanted:
            apps = tuple(a for a in s.apps if a in wanted[s.name])
            levels = set().union(*wanted[s.name].values())
            conns = tuple(c for c in s.connections if c in levels)
            if apps and conns:
                # Only the flagged groups: a sweep's search is not run again; a
                # confirmation takes no profile.
                picked.append(dataclasses.replace(
                    s, apps=apps, connections=conns, sweep={}, profile=None,
                    comparisons=tuple(p for p in s.comparisons if set(p) <= set(apps))))
    if not picked:
        raise errors.UsageError(f"{scenario_file}: holds none of the flagged scenarios "
                                f"({', '.join(sorted(wanted))})")
    out = out_dir or tempfile.mkdtemp(prefix="harness-confirm-")
    print(f"re-measuring {len(flagged)} flagged group(s) into {out}", file=sys.stderr)
    prepared.sf = dataclasses.replace(prepared.sf, scenarios=tuple(picked))
    outcome = run.run(scenario_file, out=out, ceilings=False, prepared=prepared,
                      argv=["compare", "--confirm", scenario_file])
    return outcome.run
