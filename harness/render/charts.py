"""SVG charts beside the report: throughput and p99 against connections, and history over runs.

Rendering is deterministic (fixed hash salt, no date, text kept as text) so that identical results
give byte-identical files, which keeps reports diffable and charts golden-testable.
"""

import functools
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: the harness runs headless

from matplotlib.figure import Figure

from harness.analysis import stats

RC = {"svg.hashsalt": "harness", "svg.fonttype": "none", "font.size": 9}
METRICS = {  # metric -> (axis label, scale from results units)
    "rps": ("requests/s", 1.0),
    "p99": ("p99 latency (ms)", 1e-3),  # results hold µs
}
STYLES = ["-", "--", ":", "-."]


def _styled(fn):
    # Fonts and SVG options are read from rcParams both when artists are made and when saved.
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(RC):
            return fn(*args, **kwargs)
    return wrapper


@_styled
def render_charts(summary, out_dir):
    """One SVG per scenario and metric (req/s, p99) against connections: a line per app, its 95%
    CI as a band. summary is stats.summarize()'s list. Returns {scenario: [file names in out_dir]}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for scenario, rows in _by_scenario(summary).items():
        for metric, (label, scale) in METRICS.items():
            fig = Figure(figsize=(6.4, 3.6))
            ax = fig.add_subplot()
            levels = sorted({r["connections"] for r in rows})
            for app, app_rows in _by_app(rows).items():
                pts = [(r["connections"], r[metric]) for r in app_rows if r[metric]["n"]]
                if not pts:
                    continue
                xs = [x for x, _ in pts]
                line = ax.plot(xs, [d["median"] * scale for _, d in pts], marker="o", label=app)[0]
                band = [(x, d) for x, d in pts if d["ci_low"] is not None]
                if band:
                    ax.fill_between([x for x, _ in band], [d["ci_low"] * scale for _, d in band],
                                    [d["ci_high"] * scale for _, d in band],
                                    color=line.get_color(), alpha=0.2, linewidth=0)
            _connections_axis(ax, levels)
            ax.set_ylabel(label)
            ax.set_ylim(bottom=0)
            ax.set_title(f"{scenario}: {label} (median, 95% CI band)")
            ax.grid(True, alpha=0.3)
            if not ax.lines:
                continue  # nothing measured for this metric: no empty chart
            ax.legend()
            name = f"{_slug(scenario)}-{metric}.svg"
            _save(fig, out_dir / name)
            files.setdefault(scenario, []).append(name)
    return files


@_styled
def render_history(runs, out_dir):
    """Per scenario, one SVG with req/s and p99 medians over runs (in the order given), a line per
    app and connection level. runs are results dicts. Returns {scenario: [file name]}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    per_run = [stats.summarize(run.get("cells") or []) for run in runs]
    labels = [run.get("run_id") or f"run {i + 1}" for i, run in enumerate(runs)]
    series = {}  # scenario -> (app, connections) -> metric -> [(run index, median)]
    for i, summary in enumerate(per_run):
        for r in summary:
            line = series.setdefault(r["scenario"], {})
            by_metric = line.setdefault((r["app"], r["connections"]), {})
            for metric in METRICS:
                if r[metric]["n"]:
                    by_metric.setdefault(metric, []).append((i, r[metric]["median"]))
    files = {}
    for scenario, lines in series.items():
        fig = Figure(figsize=(7.2, 7.0))
        axes = fig.subplots(2, 1, sharex=True)
        # Colour says the app (as in the other charts), line style the connection level.
        apps = list(dict.fromkeys(app for app, _ in lines))
        levels = sorted({conns for _, conns in lines})
        for ax, (metric, (label, scale)) in zip(axes, METRICS.items()):
            for (app, conns), by_metric in lines.items():
                pts = by_metric.get(metric, [])
                if pts:
                    ax.plot([x for x, _ in pts], [y * scale for _, y in pts], marker="o",
                            color=f"C{apps.index(app) % 10}",
                            linestyle=STYLES[levels.index(conns) % len(STYLES)],
                            label=f"{app} c={conns}")
            ax.set_ylabel(label)
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
        axes[0].set_title(f"{scenario}: medians over runs")
        axes[-1].set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        if axes[0].lines:
            axes[0].legend(fontsize=7, ncol=len(apps), loc="upper center",
                           bbox_to_anchor=(0.5, -0.02), frameon=False)
        fig.tight_layout()
        name = f"{_slug(scenario)}-history.svg"
        _save(fig, out_dir / name)
        files[scenario] = [name]
    return files


def _connections_axis(ax, levels):
    # Connection levels grow geometrically (1, 12, 48, 200): a log axis spaces them evenly.
    if len(levels) > 1 and min(levels) > 0:
        ax.set_xscale("log")
    ax.set_xticks(levels, [str(c) for c in levels])
    ax.minorticks_off()
    ax.set_xlabel("connections")


def _save(fig, path):
    fig.savefig(path, format="svg", metadata={"Date": None})


def _by_scenario(summary):
    out = {}
    for r in summary:
        out.setdefault(r["scenario"], []).append(r)
    return out


def _by_app(rows):
    out = {}
    for r in rows:
        out.setdefault(r["app"], []).append(r)
    return out


def _slug(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))
