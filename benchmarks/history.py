"""How fast `report` and `compare` are over a long history: 1,000 stored runs, and one.

    .venv/bin/python benchmarks/history.py [SOURCE.json] [--runs 1000] [--as-is] [--repeat 3]
                                           [--out FILE.json]

SOURCE is a results file (default: the version-1 test fixture). It is loaded (a version-1 file
is migrated) and, unless --as-is, given what a default version-2 run records and a version-1
file lacks: exact CPU time per cell, the sampler's profile rows, adaptive levels. It is then
written --runs times into a temporary directory, each copy with its own run id and start time.

Each measurement runs the real command line in a fresh process, as a user would:
  report_many_cold  `python -m harness report DIR --out OUT` (every run: Markdown, HTML, CSV,
               JSON) with no digest yet: the copies were written as bytes, not by `store.save`,
               so this first report makes every run's digest (harness.model.digest); no target
  report_many  the same again, the runs read through their digests, as after `harness run`
  report_one   the same for the newest run alone
  compare      `python -m harness compare DIR NEWEST.json --json OUT` (one run against the rest)
Each is taken --repeat times (the cold one with the digests removed before each); wall_s and
cpu_s are the medians, peak_rss_mb the largest. Figures go to benchmarks/results/
history-<date>.json (history-<date>-<source name>.json for another source, or --out). Wall
seconds include interpreter start-up and imports; CPU seconds (user + system) say the work done
even when the machine is shared and the wall clock waits; peak RSS is that process's maximum
resident set (os.wait4's rusage, the per-child form of getrusage(RUSAGE_CHILDREN).ru_maxrss).
With PYTHONDONTWRITEBYTECODE set (recorded under "machine"), no .pyc is kept and every command
compiles the harness's modules again: about 0.1 s of each figure.
A last in-process pass times the phases of report_many (load, analyse, each renderer) to say
where the time goes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.model import digest, store
from harness.model.results import CpuTime, Run, StopReason

DEFAULT_SOURCE = ROOT / "tests" / "fixtures" / "results" / "run-small.json"
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = {"report_many": (2.0, 300), "report_one": (1.0, None), "compare": (2.0, 300)}
UNTIMED = ("report_many_cold",)  # measured, no target
PROFILE_COLUMNS = ["t", "app_cpu_pct", "app_rss_mb", "wrk_cpu_pct", "pg_active", "pg_idle",
                   "pg_idle_in_transaction"]


def enrich(run: Run, rng: random.Random) -> Run:
    """What a default version-2 run records and a version-1 file lacks, drawn around the
    sampled means the file has: CPU seconds per cell, profile rows, adaptive levels."""
    for c in run.cells:
        if not c.ok or c.load is None:
            continue
        series = c.samples.series if c.samples else {}
        app_pct = series["app_cpu_pct"].mean if "app_cpu_pct" in series else 100.0
        wrk_pct = series["wrk_cpu_pct"].mean if "wrk_cpu_pct" in series else 10.0
        wall = c.load.duration_s
        c.cpu = CpuTime(wall_s=wall, app_s=app_pct / 100 * wall * rng.uniform(0.95, 1.05),
                        db_s=0.25 * app_pct / 100 * wall * rng.uniform(0.9, 1.1),
                        load_s=wrk_pct / 100 * wall)
        if c.samples is not None:
            interval = c.samples.interval_s or 0.5
            means = [series[k].mean if k in series else None for k in PROFILE_COLUMNS[1:]]
            c.samples.profile_columns = PROFILE_COLUMNS
            c.samples.profile = [
                [round((i + 1) * interval, 2),
                 *(None if m is None else round(m * rng.uniform(0.8, 1.2), 1) for m in means)]
                for i in range(int(wall / interval))]
    for lv in run.levels:
        lv.reason = StopReason.DECIDED
    if run.levels:
        run.levels[-1].reason = StopReason.BUDGET
    for s in run.config.get("scenarios") or []:
        s.update(budget=150.0, min_repeats=3, max_repeats=30)
    return run


def make_history(source: Path, n: int, as_is: bool,
                 directory: Path) -> tuple[list[Path], int, Run]:
    run = store.load(source)
    if not as_is:
        run = enrich(run, random.Random(1))
    data = store.dumps(run)
    paths = []
    for i in range(n):
        run_id = f"20270101T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}Z"
        started = f"2027-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        copy = data.replace(run.run_id.encode(), run_id.encode(), 1)
        copy = copy.replace(f'"started_at": "{run.started_at}"'.encode(),
                            f'"started_at": "{started}"'.encode(), 1)
        path = directory / f"{run_id}.json"
        path.write_bytes(copy)
        paths.append(path)
    return paths, len(data), run


def measure_once(args: list[str]) -> dict:
    """Wall seconds and peak RSS of one command in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    return {"command": "python -m harness " + " ".join(args), "exit": proc.returncode,
            "wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            **({"stderr": err.strip()[-500:]} if proc.returncode not in (0, 4) else {})}


def measure(args: list[str], repeat: int, before=None) -> dict:
    """measure_once `repeat` times (calling `before` first each time): median wall and CPU
    seconds, the largest peak RSS, every wall time."""
    taken = []
    for _ in range(repeat):
        if before is not None:
            before()
        taken.append(measure_once(args))
    out = dict(taken[0])
    out.update(exit=max(t["exit"] for t in taken),
               wall_s=round(statistics.median(t["wall_s"] for t in taken), 3),
               cpu_s=round(statistics.median(t["cpu_s"] for t in taken), 3),
               peak_rss_mb=max(t["peak_rss_mb"] for t in taken),
               walls_s=[t["wall_s"] for t in taken])
    return out


def phases(directory: Path, out: Path) -> dict:
    """report_many's steps timed in a fresh process (imports included in the first), in CPU
    seconds of the process: on a shared machine the wall clock also counts waiting for a CPU.
    As in the command, the garbage collector is paused (store.no_gc)."""
    code = f"""
import importlib, json, time
t = time.process_time()
from harness.commands.report import FORMATS
from harness.model import store
from harness.analysis.analyze import analyze
modules = [importlib.import_module("harness.render." + m) for m in FORMATS.values()]
out = {{"import_s": time.process_time() - t}}
with store.no_gc():
    t = time.process_time()
    cores = store.load_many([{str(directory)!r}])
    out["load_cores_s"] = time.process_time() - t
    t = time.process_time()
    detail = store.load(max(store.files([{str(directory)!r}])))
    out["load_newest_whole_s"] = time.process_time() - t
    t = time.process_time()
    findings = analyze(cores, detail)
    out["analyze_s"] = time.process_time() - t
    for m in modules:
        t = time.process_time()
        files = m.render(findings)
        out[m.__name__.rsplit(".", 1)[1] + "_s"] = time.process_time() - t
        out[m.__name__.rsplit(".", 1)[1] + "_bytes"] = sum(len(v) for v in files.values())
print(json.dumps({{k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", nargs="?", default=str(DEFAULT_SOURCE),
                   help="a results file to copy (default: the v1 test fixture)")
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--as-is", action="store_true",
                   help="copy the source unchanged (no synthetic CPU time, profile, levels)")
    p.add_argument("--repeat", type=int, default=3, help="times each command is run (median)")
    p.add_argument("--out", help="where the figures go (default: benchmarks/results/...)")
    args = p.parse_args(argv)
    gc.collect()
    with tempfile.TemporaryDirectory(prefix="harness-history-") as tmp:
        history, out = Path(tmp) / "results", Path(tmp) / "out"
        history.mkdir()
        paths, size, run = make_history(Path(args.source), args.runs, args.as_is, history)
        newest = paths[-1]
        many = ["report", str(history), "--out", str(out / "many")]
        figures = {
            "report_many_cold": measure(many, args.repeat, before=lambda: shutil.rmtree(
                history / digest.DIRECTORY, ignore_errors=True)),
            "report_many": measure(many, args.repeat),
            "report_one": measure(["report", str(newest), "--out", str(out / "one")],
                                  args.repeat),
            "compare": measure(["compare", str(history), str(newest), "--json",
                                str(out / "compare.json")], args.repeat),
        }
        digest_bytes = digest.path_of(newest).stat().st_size
        written = sorted(p.name for p in (out / "many").iterdir()) if (out / "many").is_dir() \
            else []
        report_bytes = (out / "many" / "report.md").stat().st_size if "report.md" in written \
            else None
        breakdown = phases(history, out)
    for name, (wall, rss) in TARGETS.items():
        f = figures[name]
        f["target"] = f"< {wall} s" + (f", < {rss} MB" if rss else "")
        f["met"] = f["exit"] in (0, 4) and f["wall_s"] < wall and (rss is None
                                                                   or f["peak_rss_mb"] < rss)
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "load_avg": os.getloadavg(),
                    "dont_write_bytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))},
        "source": os.path.relpath(args.source, ROOT), "enriched": not args.as_is,
        "source_run": {"run_id": run.run_id, "status": run.status.value,
                       "scenarios": [s.get("name") for s in run.config.get("scenarios") or []],
                       "adaptive_levels": sum(lv.reason.value != "fixed" for lv in run.levels)},
        "runs": args.runs, "repeat": args.repeat, "file_bytes": size,
        "digest_bytes": digest_bytes, "cells_per_run": len(run.cells),
        "measurements": figures, "report_many_files": written,
        "report_many_md_bytes": report_bytes, "report_many_phases_s": breakdown,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if Path(args.source).resolve() == DEFAULT_SOURCE else f"-{Path(args.source).stem}"
    target = Path(args.out) if args.out else \
        RESULTS / f"history-{datetime.now(UTC):%Y-%m-%d}{suffix}.json"
    target.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print(f"written: {os.path.relpath(target, ROOT)}", file=sys.stderr)
    return 0 if all(f["met"] for n, f in figures.items() if n not in UNTIMED) else 1


if __name__ == "__main__":
    sys.exit(main())
