"""`report`: findings from stored results, written as Markdown, HTML, CSV and JSON.

Nothing is measured. Many runs are read through their digests (harness.model.digest: what the
analysis reads, cached beside each results file); the newest is read whole for the evidence
sections.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from harness import errors
from harness.model import store
from harness.model.files import atomic_write

HELP = "render the report (Markdown, HTML, CSV, JSON) from stored results"
DEFAULT_DIR = "results"
# format -> renderer module (harness.render.<module>.render(findings) -> {file name: content})
FORMATS = {"md": "markdown", "html": "html", "csv": "csv_export", "json": "json_export",
           "summary": "summary"}  # summary.md: charts as mermaid, for a GitHub job summary


def add_arguments(p):
    p.add_argument("runs", nargs="*", help="results JSON files or directories "
                   "(default: the newest run in results/)")
    p.add_argument("--out", default=None,
                   help="output directory, or the Markdown file's path (default: beside the "
                   "results)")
    p.add_argument("--format", action="append", choices=sorted(FORMATS), default=None,
                   help="formats to write (repeatable; default: all)")


def from_args(args) -> int:
    written = report(args.runs, args.out, tuple(args.format or FORMATS))
    for path in written:
        if path.suffix in (".md", ".html"):
            print(f"report: {path}")
    return errors.EXIT_OK


def report(paths: list[str] | None = None, out: str | Path | None = None,
           formats: tuple[str, ...] = tuple(FORMATS)) -> list[Path]:
    if paths:
        found = store.files(list(paths))
        if not found:
            raise errors.UsageError(f"{' '.join(paths)}: no results files found")
        first = Path(paths[0])
        default_dir = first if first.is_dir() else first.parent
    else:
        found = store.files([DEFAULT_DIR])
        if not found:
            raise errors.UsageError(f"{DEFAULT_DIR}: no results files; run `python -m harness "
                                    "run` first")
        default_dir = Path(DEFAULT_DIR)
    with store.no_gc():
        if len(found) == 1:
            detail = store.load(found[0])
            return write([detail], detail, out or default_dir, formats, found[0].parent)
        cores = store.load_cores(found)  # through their digests: fast by the thousand
        order = sorted(range(len(found)), key=lambda i: cores[i].started_at or "")
        newest = found[order[-1]]
        detail = store.load(newest)  # the newest, with its sampled evidence
        # No argument: the newest run alone.
        runs = [cores[i] for i in order] if paths else [detail]
        return write(runs, detail, out or default_dir, formats, newest.parent)


def write(runs, detail, out: str | Path, formats: tuple[str, ...] = tuple(FORMATS),
          results_dir: str | Path | None = None) -> list[Path]:
    """Analyse once, render each format, write every file atomically. `results_dir`: where
    the detail run's results file is, which its profiles' stacks are named from."""
    from harness.analysis.analyze import analyze

    out = Path(out)
    md_name = None
    if out.suffix == ".md":
        out, md_name = out.parent, out.name
    out.mkdir(parents=True, exist_ok=True)
    findings = analyze(runs, detail, stacks=profile_stacks(detail, results_dir))
    written = []
    for fmt in formats:
        module = importlib.import_module(f"harness.render.{FORMATS[fmt]}")
        for name, content in module.render(findings).items():
            if fmt == "md" and md_name and name == "report.md":
                name = md_name
            written.append(_atomic_write(out / name, content))
    return written


def profile_stacks(run, results_dir: str | Path | None) -> dict:
    """The collapsed stacks of a run's profiles, by file name; a file that cannot be read is
    left out (the report says so)."""
    from harness.model import stacks

    out = {}
    for p in getattr(run, "profiles", None) or []:
        if p.file and results_dir is not None:
            try:
                out[p.file] = stacks.read(Path(results_dir) / p.file)
            except OSError:
                pass
    return out


def write_or_warn(paths: list, out: Path) -> None:
    """The report of a finished or interrupted run; a failure here must not hide the run's own
    outcome, so it is one line of warning."""
    try:
        runs = [store.load(p) for p in paths]
        write(runs, runs[-1], out, results_dir=Path(paths[-1]).parent)
    except Exception as exc:  # noqa: BLE001
        print(f"warning: report not written: {exc}", file=sys.stderr)


def _atomic_write(path: Path, content: str | bytes) -> Path:
    atomic_write(path, content.encode() if isinstance(content, str) else content)
    return path
