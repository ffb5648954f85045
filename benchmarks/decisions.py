"""What default runs decided, how long they took and what the harness spent besides the load.

    .venv/bin/python benchmarks/decisions.py RUN.json [RUN.json ...] [--out FILE.json]

Each RUN is a results file of `python -m harness run scenarios.yaml`. Per run: wall time, load
time, the harness's overhead (its share of the load time, and where it went), and the throughput
comparisons with their verdicts, read through the same analysis as the report (each run alone).
Across runs: any comparison "faster" in one and "slower" in another. The figures go to
benchmarks/results/decisions-<date>.json (or --out) and the summary to stdout. Issue 9 asks each
default run to decide at least 80% of its comparisons within 15 minutes, with at most 5%
overhead, and no two runs to contradict each other.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.analysis.analyze import analyze
from harness.analysis.findings import Metric, Verdict
from harness.model import store

DECIDED = (Verdict.FASTER, Verdict.SLOWER, Verdict.EQUIVALENT)


def summarize(path: Path) -> dict:
    run = store.load(path)
    findings = analyze([run], run)
    comparisons = []
    for s in findings.scenarios:
        for c in s.comparisons:
            if c.metric is not Metric.THROUGHPUT:
                continue
            comparisons.append({
                "scenario": s.name, "connections": c.connections, "candidate": c.candidate,
                "reference": c.reference,
                "verdict": c.verdict.value if c.verdict else f"not compared ({c.not_compared})",
                "ratio": c.ratio, "ci": [c.ci_low, c.ci_high], "rounds": c.look,
                "zero_rounds": c.zero_rounds, "mde": c.mde})
    decided = sum(1 for c in comparisons if c["verdict"] in {v.value for v in DECIDED})
    o = run.overhead
    return {
        "run": run.run_id, "file": str(path), "wall_s": o.wall_s if o else None,
        "load_s": o.load_s if o else None, "overhead_pct": o.overhead_pct if o else None,
        "overhead_breakdown_s": o.breakdown if o else None,
        "decided": decided, "comparisons": len(comparisons),
        "decided_pct": round(100 * decided / len(comparisons), 1) if comparisons else None,
        "levels": [{"scenario": lv.scenario, "connections": lv.connections,
                    "rounds": lv.rounds, "reason": lv.reason.value, "load_s": lv.load_s,
                    "undecided": lv.undecided} for lv in run.levels],
        "restarts": sum(1 for c in run.cells if c.restarted),
        "verdicts": comparisons}


def contradictions(runs: list[dict]) -> list[str]:
    seen: dict[tuple, set[str]] = {}
    for r in runs:
        for c in r["verdicts"]:
            key = (c["scenario"], c["connections"], c["candidate"], c["reference"])
            seen.setdefault(key, set()).add(c["verdict"])
    return [f"{k[2]} vs {k[3]} at {k[0]} c={k[1]}" for k, v in seen.items()
            if {"faster", "slower"} <= v]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    runs = [summarize(p) for p in args.runs]
    result = {"date": datetime.date.today().isoformat(), "runs": runs,
              "contradictions": contradictions(runs)}
    out = args.out or (Path(__file__).parent / "results" /
                       f"decisions-{result['date']}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for r in runs:
        undecided = [f"{c['candidate']} vs {c['reference']} at {c['scenario']} "
                     f"c={c['connections']} ({c['ratio']:.2f}x)"
                     for c in r["verdicts"] if c["verdict"] not in {v.value for v in DECIDED}]
        if r["wall_s"] is None:
            print(f"{r['run']}: incomplete (no overhead recorded yet)")
            continue
        print(f"{r['run']}: {r['wall_s'] / 60:.1f} min, overhead {r['overhead_pct']}% "
              f"({r['overhead_breakdown_s']}), decided {r['decided']} of {r['comparisons']} "
              f"({r['decided_pct']}%), restarts {r['restarts']}; undecided: "
              f"{'; '.join(undecided) or 'none'}")
    print(f"contradictions: {result['contradictions'] or 'none'}")
    print(f"figures: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
