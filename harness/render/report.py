"""Markdown report of one or more runs: the verdict first, then the numbers and evidence behind it.

Several runs are pooled (their repeats of a group are one sample); a history chart shows how they
differ. Every optional field of the results may be missing: its section shrinks or disappears.
Output depends only on the input, so it can be compared against a golden file.
"""

import statistics

from harness.analysis import compare, stats
from harness.model import results
from harness.render import charts

BASELINE = "flask_sync"  # today's stack: every candidate is compared with it
ENV_ORDER = ("cpu_model", "cpus", "memory_gib", "os", "python", "postgresql", "wrk", "database",
             "git_commit", "git_dirty")
STATE_KEYS = ("active", "idle", "idle in transaction")
WARNING_TEXT = {"noisy": "noisy", "few_repeats": "few repeats", "no_data": "no data"}

INTRO = (f"Today's stack is `{BASELINE}`. Each line compares a candidate's requests/s with "
         f"{BASELINE}'s at the same number of connections: the ratio of the geometric means of "
         "their repeats, with its 95% confidence interval. A difference is declared only when it "
         "is significant (p < {alpha:g}) and at least {min_effect:.0%}; \"no detectable "
         "difference\" means the interval rules out a difference of {min_effect:.0%} in at least "
         "one direction; \"inconclusive\" means it does not: more or steadier repeats are needed "
         "before deciding.")

METHODOLOGY = """\
## Methodology

- Each cell (scenario × app × connections × repeat) is one wrk run after a warmup, against a \
freshly reset dataset; repeats of the apps are interleaved so that drift on the machine spreads \
over every app.
- Tables show the median of the repeats. Its 95% CI is distribution-free (order statistics) from \
6 repeats up; with 2–5 repeats no pair of order statistics reaches 95%, so the CI is Student's t \
on the logarithms (it stays positive); one repeat has no CI.
- CV is the repeats' standard deviation over their mean; from {noisy:.0%} up a result is marked \
noisy. Fewer than {few} repeats are marked "few repeats".
- Comparisons use the ratio of geometric means, with a 95% CI and p-value from Welch's t-test on \
the logarithms of the repeats. A candidate is called faster or slower only when p < {alpha:g} and \
the ratio differs from 1 by at least {min_effect:.0%}; a single repeat never decides, and a CI \
reaching past ±{min_effect:.0%} on both sides is inconclusive.
- Failed cells are listed, never averaged in. Latencies are wrk's percentiles; requests that time \
out are counted as errors and are missing from the percentiles.
- A breaking point is the highest connection level up to which every repeat completed and met \
every threshold of the scenario.
"""


def render(runs, out_dir):
    """Markdown for results/report.md from results dicts (or paths to results files); the charts
    are written to out_dir and linked relatively, so the report belongs in out_dir too."""
    runs = [r if isinstance(r, dict) else results.load(r) for r in runs]
    return _Report(runs, out_dir).markdown()


class _Report:
    def __init__(self, runs, out_dir):
        self.runs = runs
        self.cells = [c for run in runs for c in run.get("cells") or []]
        self.summary = stats.summarize(self.cells)
        self.group = {(g["scenario"], g["app"], g["connections"]): g for g in self.summary}
        self.cell_groups = stats.groups(self.cells)
        self.config = {s.get("name"): s for run in runs
                       for s in (run.get("config") or {}).get("scenarios") or []}
        self.scenarios = list(dict.fromkeys(g["scenario"] for g in self.summary))
        apps = list(dict.fromkeys(g["app"] for g in self.summary))
        self.apps = sorted(apps, key=lambda a: a != BASELINE)  # baseline first, then run order
        self.app_info = {}
        for run in runs:
            for name, info in (run.get("apps") or {}).items():
                self.app_info.setdefault(name, {}).update(info or {})
        self.charts = charts.render_charts(self.summary, out_dir) if self.summary else {}
        self.history = charts.render_history(runs, out_dir) if len(runs) > 1 else {}

    def markdown(self):
        parts = [self.title(), self.verdict()]
        parts += [self.scenario_section(s) for s in self.scenarios]
        parts += [self.failures(), self.history_section(), self.methodology(),
                  self.environment(), self.settings()]
        return "\n\n".join(p.strip("\n") for p in parts if p) + "\n"

    # -- title and status --------------------------------------------------------------------

    def title(self):
        ids = ", ".join(run.get("run_id") or "?" for run in self.runs) or "no runs"
        lines = [f"# Benchmark report: {'runs' if len(self.runs) > 1 else 'run'} {ids}", ""]
        for run in self.runs:
            status = run.get("status")
            if not status:
                lines += [(f"> **Run {run.get('run_id')} records no status**: it may not have "
                          "finished."), ""]
            elif status != "complete":
                lines += [(f"> **Incomplete results: run {run.get('run_id')} is {status}.** It "
                          "stopped before every cell ran; the numbers below cover only the cells "
                          "that finished."), ""]
            todo = [s.get("name") for s in (run.get("config") or {}).get("scenarios") or []
                    if s.get("name") not in self.scenarios]
            if todo:
                lines += [f"> Not measured at all: {', '.join(todo)}.", ""]
        if not self.cells:
            lines += ["> **No cells were measured**: there is nothing to compare.", ""]
        diff = self._environment_diff()
        if diff:
            lines += [(f"> **The runs come from different environments** ({', '.join(diff)}): "
                      "their repeats are pooled below; read the comparison with care."), ""]
        for run in self.runs:
            cells = run.get("cells") or []
            failed = sum(c.get("status", "ok") != "ok" for c in cells)
            span = " to ".join(t for t in (run.get("started_at"), run.get("finished_at")) if t)
            command = " ".join(run.get("command") or [])
            status = run.get("status") or "status not recorded"
            lines.append(f"- Run `{run.get('run_id')}`: {status}"
                         + (f", {span}" if span else "")
                         + f", {len(cells)} cells ({failed} failed)"
                         + (f", `{command}`" if command else "") + ".")
        if len(self.runs) > 1:
            lines.append(f"- The repeats of these {len(self.runs)} runs are pooled in the tables "
                         "and verdicts below (n counts them all); the History section shows each "
                         "run on its own.")
        lines += self._noise()
        return "\n".join(lines)

    def _noise(self):
        """How repeatable this run was: the yardstick for trusting every number below."""
        cvs = sorted(g["rps"]["cv"] for g in self.group.values() if g["rps"]["cv"] is not None)
        if not cvs:
            return []
        median = statistics.median(cvs)
        verdict = "within" if median <= 0.05 else "above"
        return [(f"- Noise: the median coefficient of variation of req/s across {len(cvs)} "
                f"groups of repeats is {median:.1%} ({verdict} the 5% this harness aims for); "
                f"the widest is {cvs[-1]:.1%}.")]

    def _environment_diff(self):
        envs = [run.get("environment") or {} for run in self.runs]
        return compare.environment_diff(envs[:-1], envs[-1]) if len(envs) > 1 else {}

    # -- verdict -------------------------------------------------------------------------------

    def verdict(self):
        lines = ["## Verdict", "", INTRO.format(alpha=stats.ALPHA, min_effect=stats.MIN_EFFECT)]
        for scenario in self.scenarios:
            lines += ["", f"### {scenario}", ""]
            short = self._in_short(scenario)
            if short:
                lines += [f"In short: {short}.", ""]
            lines += self._ratios(scenario) or [f"- No candidate to compare with {BASELINE}."]
            lines += ["", *self._breaking_points(scenario)]
        return "\n".join(lines)

    def _in_short(self, scenario):
        """Per candidate, the connection levels where it is faster, slower or not different."""
        parts = []
        for app in self.apps:
            if app == BASELINE:
                continue
            by_verdict = {}
            for conns in self._levels(scenario):
                base = self._values(scenario, BASELINE, conns)
                cand = self._values(scenario, app, conns)
                c = stats.compare(cand, base)
                if c["ratio"] is not None:
                    by_verdict.setdefault(c["verdict"], []).append(str(conns))
            said = [f"{v} than {BASELINE} at {_levels(levels)}" if v in ("faster", "slower")
                    else f"inconclusive (too few or too noisy repeats) at {_levels(levels)}"
                    if v == "inconclusive" else f"not detectably different at {_levels(levels)}"
                    for v, levels in by_verdict.items()]
            if said:
                parts.append(f"`{app}` is " + "; ".join(said))
        return "; ".join(parts)

    def _ratios(self, scenario):
        lines = []
        for app in self.apps:
            if app == BASELINE:
                continue
            for conns in self._levels(scenario):
                lines.append(f"- {self._ratio_line(scenario, app, conns)}")
        return lines

    def _ratio_line(self, scenario, app, conns):
        where = f"at {_conns(conns)}"
        cand, base = self.group.get((scenario, app, conns)), self.group.get((scenario, BASELINE,
                                                                             conns))
        for name, g in ((app, cand), (BASELINE, base)):
            if g is None:
                return f"`{app}` {where}: not compared: `{name}` was not run {where}."
            if not g["n_ok"]:
                return (f"`{app}` {where}: not compared: `{name}` {self._not_measured(name, g)}.")
        c = stats.compare(self._values(scenario, app, conns), self._values(scenario, BASELINE,
                                                                           conns))
        if c["ratio"] is None:  # a side served 0 req/s in some repeat: no ratio to speak of
            return f"`{app}` {where}: not compared: a repeat served no requests."
        notes = self._side_notes(cand, app) + self._side_notes(base, BASELINE)
        if c["verdict"] in ("no detectable difference", "inconclusive"):
            detail = [f"{c['ratio']:.2f}×"]
            if c["ci_low"] is not None:
                detail.append(f"95% CI {c['ci_low']:.2f}–{c['ci_high']:.2f}, "
                              f"p = {c['p_value']:.2g}")
            else:
                detail.append("a single repeat cannot decide")
            verdict = ("inconclusive: the repeats cannot tell" if c["verdict"] == "inconclusive"
                       else c["verdict"])
            return f"`{app}` {where}: {verdict} ({'; '.join(detail + notes)})."
        ci = f"95% CI {c['ci_low']:.2f}–{c['ci_high']:.2f}"
        return (f"`{app}` serves {c['ratio']:.2f}× {BASELINE} {where} "
                f"({'; '.join([ci, *notes])}): {c['verdict']}.")

    def _side_notes(self, g, app):
        notes = []
        if g["n_failed"]:
            notes.append(f"{g['n_failed']} of {g['n_ok'] + g['n_failed']} `{app}` repeats failed")
        words = [WARNING_TEXT.get(w, w) for w in g["rps"]["warnings"]]
        if "noisy" in g["rps"]["warnings"]:
            words[words.index("noisy")] = f"noisy, CV {g['rps']['cv']:.0%}"
        if words:
            notes.append(f"`{app}`: {', '.join(words)}")
        return notes

    def _not_measured(self, app, g):
        reasons = sorted({f["reason"] or "no reason recorded" for f in g["failures"]})
        return f"failed every repeat ({'; '.join(reasons)})"

    def _breaking_points(self, scenario):
        exprs = self._threshold_exprs(scenario)
        head = (f"Breaking points (every threshold: {', '.join(f'`{e}`' for e in exprs)}):"
                if exprs else "Breaking points (no thresholds declared: every repeat completing):")
        lines = [head]
        kept = "meets every threshold" if exprs else "completes every repeat"
        for app in self.apps:
            levels = [c for c in self._levels(scenario) if (scenario, app, c) in self.cell_groups]
            if not levels:
                continue
            last_ok = None
            for conns in levels:
                problems = self._problems(self.cell_groups[(scenario, app, conns)])
                if problems:
                    break
                last_ok = conns
            else:
                lines.append(f"- `{app}` {kept} up to {_conns(levels[-1])}, the highest level "
                             "tested.")
                continue
            start = (f"{kept} up to {_conns(last_ok)}; at {_conns(conns)}"
                     if last_ok is not None else f"breaks already at {_conns(conns)}")
            lines.append(f"- `{app}` {start}: {'; '.join(problems)}.")
        return lines

    def _problems(self, cells):
        """What broke in one group of repeats, most direct cause first; [] if nothing did."""
        out = []
        failed = [c for c in cells if c.get("status", "ok") != "ok"]
        ok = [c for c in cells if c.get("status", "ok") == "ok"]
        if failed:
            reasons = sorted({c.get("reason") or "no reason recorded" for c in failed})
            out.append(f"{len(failed)} of {len(cells)} repeats failed ({'; '.join(reasons)})")
        exprs = list(dict.fromkeys(t.get("expr") for c in ok for t in c.get("thresholds") or []))
        for expr in exprs:
            bad = [t for c in ok for t in c.get("thresholds") or []
                   if t.get("expr") == expr and not t.get("ok")]
            if bad:
                values = ", ".join(_value(t) for t in bad if t.get("value") is not None)
                out.append(f"`{expr}` failed in {len(bad)} of {len(ok)} measured repeats"
                           + (f" ({values})" if values else ""))
        if out:
            counts = _log_counts(cells)
            if counts:
                out.append("app log: " + ", ".join(f"{k} ×{n}" for k, n in counts.items()))
        return out

    def _threshold_exprs(self, scenario):
        declared = (self.config.get(scenario) or {}).get("thresholds") or []
        seen = [t.get("expr") for c in self.cells if c.get("scenario") == scenario
                for t in c.get("thresholds") or []]
        return list(dict.fromkeys([*declared, *seen]))

    # -- per scenario --------------------------------------------------------------------------

    def scenario_section(self, scenario):
        lines = [f"## {scenario}", ""]
        cfg = self.config.get(scenario) or {}
        about = _describe_scenario(cfg)
        if about:
            lines += [about, ""]
        for name in self.charts.get(scenario, []):
            what = "requests/s" if name.endswith("-rps.svg") else "p99 latency"
            lines.append(f"![{scenario}: {what} against connections]({name})")
        if self.charts.get(scenario):
            lines.append("")
        lines += self._table(scenario)
        lines += self._evidence(scenario)
        lines += self._ceilings(scenario)
        return "\n".join(lines)

    def _table(self, scenario):
        lines = [(f"| app | conns | n | req/s median (95% CI) | CV | vs {BASELINE} (95% CI) | "
                 "p50 ms | p90 ms | p99 ms (95% CI) | errors | timeouts | notes |"),
                 "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for app in self.apps:
            for conns in self._levels(scenario):
                g = self.group.get((scenario, app, conns))
                if g is None:
                    continue
                rps = g["rps"]
                n = f"{g['n_ok']}" + (f" of {g['n_ok'] + g['n_failed']}" if g["n_failed"] else "")
                cv = "–" if rps["cv"] is None else f"{rps['cv']:.1%}"
                if "noisy" in rps["warnings"]:
                    cv += " noisy"
                row = [f"`{app}`", str(conns), n, _with_ci(rps, "{:.0f}"), cv,
                       self._relative(scenario, app, conns),
                       *(_ms(g[p]["median"]) for p in ("p50", "p90")),
                       _with_ci(g["p99"], "{:.1f}", 1e-3),
                       _pct(g["error_rate"]["median"], 2), _num(g["timeouts"]),
                       "; ".join(self._notes(g))]
                lines.append("| " + " | ".join(row) + " |")
        return lines

    def _relative(self, scenario, app, conns):
        if app == BASELINE:
            return "1 (baseline)"
        base = self._values(scenario, BASELINE, conns)
        cand = self._values(scenario, app, conns)
        c = stats.compare(cand, base)
        if c["ratio"] is None:
            return "–"
        if c["ci_low"] is None:
            return f"{c['ratio']:.2f}×"
        return f"{c['ratio']:.2f}× ({c['ci_low']:.2f}–{c['ci_high']:.2f})"

    def _notes(self, g):
        notes = []
        if "few_repeats" in g["rps"]["warnings"]:
            notes.append("few repeats")
        if g["n_failed"]:
            notes.append(f"{g['n_failed']} failed (see Failures)")
        for p in ("p50", "p90", "p99"):
            if "noisy" in g[p]["warnings"]:
                notes.append(f"{p} noisy (CV {g[p]['cv']:.0%})")
        cells = self._ok_cells(g)
        saturated = sum(bool((c.get("samples") or {}).get("wrk_saturated")) for c in cells)
        if saturated:
            notes.append(f"load generator saturated in {saturated} of {len(cells)} repeats: "
                         "req/s is a floor")
        failing = list(dict.fromkeys(t.get("expr") for c in cells for t in c.get("thresholds") or []
                                     if not t.get("ok")))
        notes += [f"fails `{e}`" for e in failing]
        stuck = sum(bool(c.get("restarted")) for c in cells)
        if stuck:
            notes.append(f"still busy after the load stopped in {stuck} of {len(cells)} repeats "
                         "(restarted)")
        return notes

    def _evidence(self, scenario):
        rows, quotes = [], []
        for app in self.apps:
            for conns in self._levels(scenario):
                g = self.group.get((scenario, app, conns))
                cells = self.cell_groups.get((scenario, app, conns), [])
                samples = [c["samples"] for c in cells if c.get("samples")]
                counts = _log_counts(cells)
                if not samples and not counts:
                    continue
                pg = _pg_peaks(samples)
                rows.append("| " + " | ".join([
                    f"`{app}`", str(conns), _peak_mean(samples, "app_cpu_pct"),
                    _peak(samples, "app_rss_mb"), _peak_mean(samples, "wrk_cpu_pct"),
                    " / ".join(_num(pg.get(k)) for k in STATE_KEYS) if pg else "–",
                    ", ".join(f"{k} ×{n}" for k, n in counts.items()) or "–"]) + " |")
                if counts and g is not None:
                    top = next(iter(counts))
                    line = _log_example(cells, top)
                    if line:
                        quotes.append(f"- `{app}` at {_conns(conns)}, {top}: `{line}`")
        if not rows:
            return []
        lines = ["", f"### Evidence: {scenario}", "",
                 ("Peaks across the repeats of each group (mean of the repeats' means in "
                 "brackets), sampled while wrk ran."), "",
                 ("| app | conns | app CPU % | app RSS MB peak | wrk CPU % | "
                 "PG connections peak: active / idle / idle in transaction | app log |"),
                 "|---|---:|---:|---:|---:|---:|---|", *rows]
        if quotes:
            lines += ["", "Representative app log lines:", "", *quotes]
        return lines

    def _ceilings(self, scenario):
        ceiling = {}
        for run in self.runs:
            ceiling = ((run.get("ceilings") or {}).get(scenario)) or ceiling
        if not ceiling:
            return []
        if ceiling.get("skipped") or ceiling.get("error"):
            why = ceiling.get("skipped") or f"measuring them failed: {ceiling['error']}"
            return ["", f"### Ceilings: {scenario}", "", f"Not measured: {why}."]
        pg = _by_level(ceiling.get("pgbench_tps"))
        ref = _by_level(ceiling.get("reference_rps"))
        lines = ["", f"### Ceilings: {scenario}", ""]
        if pg:
            levels = ", ".join(f"{v:.0f} tps at {_conns(k)}" for k, v in sorted(pg.items()) if v)
            lines.append(f"- PostgreSQL running the same query (pgbench): {levels}.")
        if ref:
            levels = ", ".join(f"{v:.0f} req/s at {_conns(k)}" for k, v in sorted(ref.items()))
            lines.append(f"- Reference service (raw ASGI + asyncpg, no ORM): {levels}.")
        lines += ["", "| app | conns | req/s | % of pgbench | % of reference |",
                  "|---|---:|---:|---:|---:|"]
        for app in self.apps:
            for conns in self._levels(scenario):
                g = self.group.get((scenario, app, conns))
                if g is None or g["rps"]["median"] is None:
                    continue
                rps = g["rps"]["median"]
                lines.append(f"| `{app}` | {conns} | {rps:.0f} | "
                             f"{_pct(rps / pg[conns] if pg.get(conns) else None, 1)} | "
                             f"{_pct(rps / ref[conns] if ref.get(conns) else None, 1)} |")
        return lines

    # -- failures and history ------------------------------------------------------------------

    def failures(self):
        lines = ["## Failures", ""]
        many = len(self.runs) > 1
        for run in self.runs:
            for c in run.get("cells") or []:
                if c.get("status", "ok") != "ok":
                    where = f" (run {run.get('run_id')})" if many else ""
                    lines.append(f"- {c.get('scenario')} / `{c.get('app')}` / "
                                 f"{_conns(c.get('connections'))}, repeat {c.get('repeat')}"
                                 f"{where}: {c.get('reason') or 'no reason recorded'}")
        for app, info in self.app_info.items():
            v = info.get("verification")
            if isinstance(v, dict) and v.get("ok") is False:
                failures = v.get("failures") or []
                lines.append(f"- `{app}` was not measured because it failed contract "
                             f"verification{':' if failures else '.'}")
                lines += [f"  - {f}" for f in failures[:5]]
                if len(failures) > 5:
                    lines.append(f"  - … and {len(failures) - 5} more")
        if len(lines) == 2:
            verified = self.app_info and all(
                (i.get("verification") or {}).get("ok") for i in self.app_info.values())
            lines.append("No failed cells" + ("; every app passed contract verification."
                                              if verified else "."))
        return "\n".join(lines)

    def history_section(self):
        if not self.history:
            return ""
        ids = [run.get("run_id") or "?" for run in self.runs]
        lines = ["## History", "", "Medians of each run, in the order given: "
                 + ", ".join(f"`{i}`" for i in ids) + "."]
        for scenario, names in self.history.items():
            lines += ["", f"### {scenario}", ""]
            lines += [f"![{scenario}: medians over runs]({n})" for n in names]
            lines += ["", "| app | conns | " + " | ".join(ids) + " |",
                      "|---|---:|" + "---:|" * len(ids)]
            per_run = [{(g["app"], g["connections"]): g for g in
                        stats.summarize(run.get("cells") or []) if g["scenario"] == scenario}
                       for run in self.runs]
            keys = list(dict.fromkeys(k for r in per_run for k in r))
            keys.sort(key=lambda k: (self.apps.index(k[0]) if k[0] in self.apps else 99, k[1]))
            for app, conns in keys:
                cells = []
                for r in per_run:
                    g = r.get((app, conns))
                    if g is None or g["rps"]["median"] is None:
                        cells.append("–")
                    else:
                        p99 = _ms(g["p99"]["median"])
                        cells.append(f"{g['rps']['median']:.0f} req/s, p99 {p99} ms")
                lines.append(f"| `{app}` | {conns} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    # -- methodology, environment, settings ----------------------------------------------------

    def methodology(self):
        return METHODOLOGY.format(alpha=stats.ALPHA, min_effect=stats.MIN_EFFECT,
                                  noisy=stats.NOISY_CV, few=stats.FEW_REPEATS)

    def environment(self):
        lines = ["## Environment", ""]
        diff = self._environment_diff()
        shown = self.runs[-1:] if not diff else self.runs
        for run in shown:
            env = run.get("environment") or {}
            if len(shown) > 1:
                lines += [f"Run `{run.get('run_id')}`:", ""]
            if not env:
                lines += ["Not recorded.", ""]
                continue
            lines += ["| key | value |", "|---|---|"]
            keys = [k for k in ENV_ORDER if k in env]
            keys += sorted(k for k in env if k not in ENV_ORDER and k != "packages")
            lines += [f"| {k} | {_cell(env[k])} |" for k in keys]
            packages = env.get("packages") or {}
            if packages:
                listed = ", ".join(f"{k} {v}" for k, v in sorted(packages.items()))
                lines.append(f"| packages | {_cell(listed)} |")
            overhead = run.get("overhead") or {}
            if overhead.get("overhead_pct") is not None:
                lines.append(f"| harness overhead | {overhead['overhead_pct']}% of "
                             f"{overhead.get('load_s')} s of load ({overhead.get('wall_s')} s "
                             "wall) |")
            lines.append("")
        return "\n".join(lines)

    def settings(self):
        per_app = {}  # app -> knob -> value -> [scenarios]
        for c in self.cells:
            for k, v in (c.get("settings") or {}).items():
                scen = per_app.setdefault(c.get("app"), {}).setdefault(k, {}).setdefault(v, [])
                if c.get("scenario") not in scen:
                    scen.append(c.get("scenario"))
        apps = [a for a in self.apps if a in per_app or a in self.app_info]
        apps += [a for a in self.app_info if a not in apps]
        if not apps:
            return ""
        lines = ["## Settings", ""]
        knobs = list(dict.fromkeys(k for a in apps for k in per_app.get(a, {})))
        if knobs:
            lines += ["| setting | " + " | ".join(f"`{a}`" for a in apps) + " |",
                      "|---|" + "---|" * len(apps)]
            for k in knobs:
                row = []
                for a in apps:
                    values = per_app.get(a, {}).get(k, {})
                    if len(values) > 1:
                        row.append(", ".join(f"{v} ({', '.join(s)})" for v, s in values.items()))
                    else:
                        row.append(next(iter(values), "–"))
                lines.append(f"| {k} | " + " | ".join(map(_cell, row)) + " |")
            lines.append("")
        for a in apps:
            info = self.app_info.get(a) or {}
            bits = [info.get("description"), info.get("server") and f"server {info['server']}",
                    info.get("external") and "external target (settings unknown)"]
            command = info.get("command")
            if command:
                bits.append(f"command `{' '.join(map(str, command))}`")
            text = "; ".join(b for b in bits if b)
            lines.append(f"- `{a}`" + (f": {text}." if text else "."))
        return "\n".join(lines)

    # -- helpers -------------------------------------------------------------------------------

    def _levels(self, scenario):
        return sorted({k[2] for k in self.group if k[0] == scenario}, key=lambda c: c or 0)

    def _values(self, scenario, app, conns):
        return [c["rps"] for c in self._ok_cells(self.group.get((scenario, app, conns)))
                if c.get("rps") is not None]

    def _ok_cells(self, g):
        if g is None:
            return []
        cells = self.cell_groups.get((g["scenario"], g["app"], g["connections"]), [])
        return [c for c in cells if c.get("status", "ok") == "ok"]


def _describe_scenario(cfg):
    req = cfg.get("request") or {}
    bits = []
    if req.get("method") and req.get("path"):
        bits.append(f"`{req['method']} {req['path']}`")
    if cfg.get("description"):
        bits.append(cfg["description"])
    timing = []
    if cfg.get("duration") is not None:
        timing.append(f"{cfg['duration']:g} s per repeat")
    if cfg.get("warmup"):
        timing.append(f"after a {cfg['warmup']:g} s warmup")
    if cfg.get("repeats") is not None:
        timing.append(f"{cfg['repeats']} repeat{'s' if cfg['repeats'] != 1 else ''} per run")
    if cfg.get("timeout") is not None:
        timing.append(f"wrk timeout {cfg['timeout']:g} s")
    text = ": ".join(bits[:2]) if bits else ""
    if timing:
        text += (". " if text else "") + ", ".join(timing)
    return text + "." if text else ""


def _log_counts(cells):
    """Log categories summed over the repeats, most frequent first (ties by name)."""
    counts = {}
    for c in cells:
        for k, n in ((c.get("log") or {}).get("counts") or {}).items():
            counts[k] = counts.get(k, 0) + n
    return dict(sorted(((k, n) for k, n in counts.items() if n), key=lambda kv: (-kv[1], kv[0])))


def _log_example(cells, category):
    for c in cells:
        line = ((c.get("log") or {}).get("examples") or {}).get(category)
        if line:
            return line.strip().replace("`", "'")[:300]
    return None


def _pg_peaks(samples):
    """Peak connections per state over the repeats, from either sampler layout."""
    out = {}
    for s in samples:
        nested = ((s.get("pg_connections") or {}).get("peak")) or {}
        for state in STATE_KEYS:
            flat = s.get("pg_" + state.replace(" ", "_"))
            value = flat.get("peak") if isinstance(flat, dict) else nested.get(state)
            if value is not None:
                out[state] = max(out.get(state, value), value)
    return out


def _peak(samples, key):
    peaks = [s[key]["peak"] for s in samples if isinstance(s.get(key), dict)
             and s[key].get("peak") is not None]
    return _num(max(peaks)) if peaks else "–"


def _peak_mean(samples, key):
    means = [s[key]["mean"] for s in samples if isinstance(s.get(key), dict)
             and s[key].get("mean") is not None]
    peak = _peak(samples, key)
    return peak + (f" ({_num(sum(means) / len(means))})" if means else "")


def _with_ci(d, fmt, scale=1.0):
    if d["median"] is None:
        return "–"
    text = fmt.format(d["median"] * scale)
    if d["ci_low"] is not None:
        text += f" ({fmt.format(d['ci_low'] * scale)}–{fmt.format(d['ci_high'] * scale)})"
    return text


def _value(t):
    unit = t.get("unit") or ""
    return f"{t['value']:.4g}{'' if unit in ('', '%') else ' '}{unit}"


def _levels(levels):
    return f"{', '.join(levels)} connection" + ("" if levels == ["1"] else "s")


def _conns(n):
    return f"{n} connection" + ("" if n == 1 else "s")


def _cell(value):
    return str(value).replace("|", "\\|")


def _ms(us):
    return "–" if us is None else f"{us / 1000:.1f}"


def _pct(x, digits):
    return "–" if x is None else f"{x:.{digits}%}"


def _num(x):
    if x is None:
        return "–"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def _by_level(values):
    """{connections: value} from a stored mapping (JSON keys are strings) or a single number."""
    if isinstance(values, dict):
        return {int(k): v for k, v in values.items() if v is not None}
    return {}
