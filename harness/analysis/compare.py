"""Regression detection: one run against a window of earlier runs of the same scenarios.

Each (scenario, app, connections) group is judged on req/s, p99 and error rate, each in its bad
direction. Like asv, a change counts only if it is both large enough and significant; the
baseline's spread is every repeat of every baseline run pooled, so one lucky or unlucky run in
the window does not decide alone. Runs from different environments are still compared, but never
silently: the differing keys are listed first in the result and in its Markdown.
"""

from harness.analysis import stats

# Environment keys that change what a measurement means (pyperf refuses to mix these).
ENV_KEYS = ("cpu_model", "cpus", "python", "postgresql", "database")
# Error rates sit near 0, where ratios mean nothing: their change is in absolute terms, 0.1 point.
MIN_ERROR_DELTA = 0.001


def compare(baseline_runs, current, min_effect=stats.MIN_EFFECT, alpha=stats.ALPHA,
            min_error_delta=MIN_ERROR_DELTA):
    """Judge every group of `current` against the pooled repeats of `baseline_runs` (results dicts).

    Returns a JSON-serializable dict: {"current_run", "baseline_runs", "min_effect", "alpha",
    "min_error_delta", "environment_mismatch": [keys], "environment_diff": {key: {"baseline":
    [values], "current": value}}, "counts": {status: n}, "groups": [{"scenario", "app",
    "connections", "status", "rps", "p99", "error_rate", "warnings"}]}, status one of
    "regression", "improvement", "unchanged", "new", "missing". The current run is left out of
    the baseline if it is passed there too (e.g. every file of results/).
    """
    if current.get("run_id") is not None:
        baseline_runs = [r for r in baseline_runs if r.get("run_id") != current["run_id"]]
    base = stats.groups([c for run in baseline_runs for c in run.get("cells") or []])
    cur = stats.groups(current.get("cells") or [])
    groups = []
    for key in list(cur) + [k for k in base if k not in cur]:
        scenario, app, conns = key
        row = {"scenario": scenario, "app": app, "connections": conns}
        if key not in base:
            row["status"] = "new"
        elif key not in cur:
            row["status"] = "missing"
        else:
            row.update(_judge(_ok(base[key]), _ok(cur[key]), min_effect, alpha, min_error_delta))
        groups.append(row)
    diff = environment_diff([r.get("environment") or {} for r in baseline_runs],
                             current.get("environment") or {})
    counts = {}
    for g in groups:
        counts[g["status"]] = counts.get(g["status"], 0) + 1
    return {"current_run": current.get("run_id"),
            "baseline_runs": [r.get("run_id") for r in baseline_runs],
            "min_effect": min_effect, "alpha": alpha, "min_error_delta": min_error_delta,
            "environment_mismatch": list(diff), "environment_diff": diff,
            "config_mismatch": config_diff(baseline_runs, current),
            "counts": counts, "groups": groups}


def config_diff(baseline_runs, current):
    """Scenarios whose resolved configuration (load, request, settings) differs from a baseline
    run's: their numbers answer a different question, so the comparison says so."""
    def by_name(run):
        return {s.get("name"): {k: v for k, v in s.items() if k != "description"}
                for s in (run.get("config") or {}).get("scenarios") or []}

    cur = by_name(current)
    differing = []
    for run in baseline_runs:
        for name, cfg in by_name(run).items():
            if name in cur and cur[name] != cfg and name not in differing:
                differing.append(name)
    return differing


def compared(result):
    """How many groups had both a baseline and a current measurement."""
    return sum(g["status"] not in ("new", "missing") for g in result["groups"])


def candidates(result):
    """Groups judged regressions, as {"scenario", "app", "connections"}: re-measure to confirm."""
    return [{k: g[k] for k in ("scenario", "app", "connections")}
            for g in result["groups"] if g["status"] == "regression"]


def confirm(result, recheck):
    """Keep as regressions only the groups that `recheck` (a comparison of a re-measurement
    against the same baseline) flags again; the others become "unconfirmed"."""
    again = {_key(g) for g in candidates(recheck)}
    counts = {}
    for g in result["groups"]:
        if g["status"] == "regression" and _key(g) not in again:
            g["status"] = "unconfirmed"
        counts[g["status"]] = counts.get(g["status"], 0) + 1
    result["counts"] = counts
    result["confirmation_run"] = recheck["current_run"]
    return result


def _key(g):
    return g["scenario"], g["app"], g["connections"]


def _ok(cells):
    return [c for c in cells if c.get("status", "ok") == "ok"]


def _judge(base, cur, min_effect, alpha, min_error_delta):
    def values(metric):
        read = stats.METRICS[metric]
        return [read(c) for c in base], [read(c) for c in cur]

    metrics = {
        "rps": _ratio(*values("rps"), min_effect, alpha, higher_is_better=True),
        "p99": _ratio(*values("p99"), min_effect, alpha, higher_is_better=False),
        "error_rate": _delta(*values("error_rate"), min_error_delta, alpha),
    }
    warnings = []
    judgements = {m["judgement"] for m in metrics.values()}
    if base and not cur:
        warnings.append("all_current_failed")  # it ran before and fails now: that is a regression
        status = "regression"
    elif "worse" in judgements:
        status = "regression"
    elif "better" in judgements:
        status = "improvement"
    elif "inconclusive" in judgements:
        status = "inconclusive"  # too few or too noisy repeats to rule a regression out
    else:
        status = "unchanged"
    return {"status": status, **metrics, "warnings": warnings}


def _ratio(base, cur, min_effect, alpha, higher_is_better):
    """Current over baseline as a ratio (geometric, Welch on logs), judged in the bad direction."""
    base = [v for v in base if v is not None]
    cur = [v for v in cur if v is not None]
    c = stats.compare(cur, base, min_effect, alpha, higher_is_better)
    judgement = {"faster": "better", "slower": "worse",
                 "inconclusive": "inconclusive"}.get(c["verdict"], "unchanged")
    return {"baseline": _median(base), "current": _median(cur),
            "change": None if c["ratio"] is None else c["ratio"] - 1,
            "ci_low": None if c["ci_low"] is None else c["ci_low"] - 1,
            "ci_high": None if c["ci_high"] is None else c["ci_high"] - 1,
            "p_value": c["p_value"], "judgement": judgement,
            "n_baseline": len(base), "n_current": len(cur), "warnings": c["warnings"]}


def _delta(base, cur, min_delta, alpha):
    """Current minus baseline mean (Welch's t on raw values); up is worse."""
    base = [v for v in base if v is not None]
    cur = [v for v in cur if v is not None]
    out = {"baseline": _mean(base), "current": _mean(cur), "change": None, "ci_low": None,
           "ci_high": None, "p_value": None, "judgement": "unchanged",
           "n_baseline": len(base), "n_current": len(cur), "warnings": []}
    test = stats.welch(cur, base)
    if test is None:
        out["warnings"].append("single_sample" if base and cur else "no_data")
        return out
    out.update(change=test["diff"], ci_low=test["ci_low"], ci_high=test["ci_high"],
               p_value=test["p_value"])
    if test["p_value"] < alpha and abs(test["diff"]) >= min_delta:
        out["judgement"] = "worse" if test["diff"] > 0 else "better"
    return out


def environment_diff(base_envs, cur_env):
    """{key: {"baseline": [distinct values], "current": value}} for the ENV_KEYS and package
    versions where any baseline environment differs from the current one."""
    def flat(env):
        out = {k: env.get(k) for k in ENV_KEYS}
        out.update({f"packages.{k}": v for k, v in (env.get("packages") or {}).items()})
        return out

    cur = flat(cur_env)
    bases = [flat(e) for e in base_envs]
    keys = list(ENV_KEYS) + sorted({k for e in [cur, *bases] for k in e} - set(ENV_KEYS))
    diff = {}
    for k in keys:
        seen = []
        for b in bases:
            if b.get(k) not in seen:
                seen.append(b.get(k))
        if any(v != cur.get(k) for v in seen):
            diff[k] = {"baseline": seen, "current": cur.get(k)}
    return diff


def _median(xs):
    return stats.describe(xs)["median"]


def _mean(xs):
    return stats.describe(xs)["mean"]


# -- Markdown ---------------------------------------------------------------------------------

STATUS_ORDER = ("regression", "unconfirmed", "improvement", "inconclusive", "unchanged", "new",
                "missing")


def render_markdown(result):
    """The comparison as Markdown: environment differences first, then one row per group."""
    base_ids = ", ".join(f"`{r}`" for r in result["baseline_runs"]) or "none"
    lines = [f"# Regression check: `{result['current_run']}`", "",
             f"Baseline: {len(result['baseline_runs'])} run(s), {base_ids}, repeats pooled.", ""]
    if result["environment_mismatch"]:
        keys = ", ".join(result["environment_mismatch"])
        warning = (f"**Environment differs from the baseline** ({keys}): these numbers compare "
                   "different machines or versions; re-measure the baseline here before trusting "
                   "a verdict.")
        lines += [warning, "", "| key | baseline | current |", "|---|---|---|"]
        for k, v in result["environment_diff"].items():
            lines.append(f"| {k} | {', '.join(map(str, v['baseline']))} | {v['current']} |")
        lines.append("")
    if result.get("confirmation_run"):
        lines += [(f"Every regression was re-measured (run `{result['confirmation_run']}`); "
                   "one not seen again is marked unconfirmed and does not fail the check."), ""]
    if result.get("config_mismatch"):
        lines += [(f"**Configuration differs from the baseline** for "
                   f"{', '.join(result['config_mismatch'])}: different load, request or settings "
                   "make a different measurement; compare like with like."), ""]
    counts = result["counts"]
    lines.append(", ".join(f"{counts.get(s, 0)} {s}" for s in STATUS_ORDER) + ".")
    rule = (f"A change counts only when it is at least {result['min_effect']:.0%} (error rate: "
            f"{result['min_error_delta'] * 100:g} percentage points) and significant at "
            f"p < {result['alpha']:g} (Welch's t, on logs for req/s and p99).")
    header = ("| scenario | app | conns | status | req/s | change (95% CI) | p99 ms "
              "| change (95% CI) | error rate | change | notes |")
    lines += ["", rule, "", header, "|---|---|---:|---|---:|---|---:|---|---:|---|---|"]
    for g in result["groups"]:
        cells = [g["scenario"], g["app"], str(g["connections"]), _status(g["status"])]
        if g["status"] in ("new", "missing"):
            cells += ["–"] * 6 + [""]
        else:
            rps, p99, err = g["rps"], g["p99"], g["error_rate"]
            cells += [_pair(rps, "{:.0f}"), _pct_change(rps),
                      _pair(p99, "{:.1f}", 1e-3), _pct_change(p99),
                      _pair(err, "{:.2%}"), _point_change(err), _notes(g)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _status(status):
    return f"**{status}**" if status == "regression" else status


def _pair(m, fmt, scale=1.0):
    def f(v):
        return "–" if v is None else fmt.format(v * scale)
    return f"{f(m['baseline'])} → {f(m['current'])}"


def _pct_change(m):
    if m["change"] is None:
        return "–"
    text = f"{m['change']:+.1%}"
    if m["ci_low"] is not None:
        text += f" ({m['ci_low']:+.1%} to {m['ci_high']:+.1%})"
    return f"**{text}**" if m["judgement"] == "worse" else text


def _point_change(m):
    if m["change"] is None:
        return "–"
    text = f"{m['change'] * 100:+.2f} pt"
    return f"**{text}**" if m["judgement"] == "worse" else text


NOTES = {"all_current_failed": "every current repeat failed",
         "single_sample": "one repeat on a side: no verdict",
         "no_data": "no data", "non_positive": "zero values: no ratio"}


def _notes(g):
    codes = g["warnings"] + [w for m in ("rps", "p99", "error_rate") for w in g[m]["warnings"]]
    return "; ".join(NOTES.get(w, w) for w in dict.fromkeys(codes))
