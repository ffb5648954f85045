"""The regression check as Markdown: environment differences first, then one row per group."""

from __future__ import annotations

from harness.analysis.compare import STATUS_ORDER, Change, GroupCheck, Judgement, RegressionCheck
from harness.analysis.findings import Warn
from harness.render.units import NONE

NOTES = {Warn.ALL_CURRENT_FAILED: "every current repeat failed",
         Warn.SINGLE_SAMPLE: "one repeat on a side: no verdict",
         Warn.NO_DATA: "no data", Warn.NON_POSITIVE: "zero values: no ratio"}


def render(result: RegressionCheck) -> str:
    base_ids = ", ".join(f"`{r}`" for r in result.baseline_runs) or "none"
    lines = [f"# Regression check: `{result.current_run}`", "",
             f"Baseline: {len(result.baseline_runs)} run(s), {base_ids}, repeats pooled.", ""]
    if result.environment_diff:
        keys = ", ".join(result.environment_mismatch)
        warning = (f"**Environment differs from the baseline** ({keys}): these numbers compare "
                   "different machines or versions; re-measure the baseline here before trusting "
                   "a verdict.")
        lines += [warning, "", "| key | baseline | current |", "|---|---|---|"]
        for d in result.environment_diff:
            lines.append(f"| {d.key} | {', '.join(map(str, d.baseline))} | {d.current} |")
        lines.append("")
    if result.confirmation_run:
        lines += [(f"Every regression was re-measured (run `{result.confirmation_run}`); "
                   "one not seen again is marked unconfirmed and does not fail the check."), ""]
    if result.config_mismatch:
        lines += [(f"**Configuration differs from the baseline** for "
                   f"{', '.join(result.config_mismatch)}: different load, request or settings "
                   "make a different measurement; compare like with like."), ""]
    lines.append(", ".join(f"{result.counts.get(s, 0)} {s.value}" for s in STATUS_ORDER) + ".")
    rule = (f"A change counts only when it is at least {result.min_effect:.0%} (error rate: "
            f"{result.min_error_delta * 100:g} percentage points) and significant at "
            f"p < {result.alpha:g} (Welch's t, on logs for req/s and p99).")
    header = ("| scenario | app | conns | status | req/s | change (95% CI) | p99 ms "
              "| change (95% CI) | error rate | change | notes |")
    lines += ["", rule, "", header, "|---|---|---:|---|---:|---|---:|---|---:|---|---|"]
    for g in result.groups:
        cells = [g.scenario, g.app, str(g.connections), _status(g)]
        if g.rps is None or g.p99 is None or g.error_rate is None:
            cells += [NONE] * 6 + [""]
        else:
            cells += [_pair(g.rps, "{:.0f}"), _pct_change(g.rps),
                      _pair(g.p99, "{:.1f}", 1e-3), _pct_change(g.p99),
                      _pair(g.error_rate, "{:.2%}"), _point_change(g.error_rate), _notes(g)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _status(g: GroupCheck) -> str:
    return f"**{g.status.value}**" if g.status.value == "regression" else g.status.value


def _pair(m: Change, fmt: str, scale: float = 1.0) -> str:
    def f(v: float | None) -> str:
        return NONE if v is None else fmt.format(v * scale)
    return f"{f(m.baseline)} → {f(m.current)}"


def _pct_change(m: Change) -> str:
    if m.change is None:
        return NONE
    text = f"{m.change:+.1%}"
    if m.ci_low is not None and m.ci_high is not None:
        text += f" ({m.ci_low:+.1%} to {m.ci_high:+.1%})"
    return f"**{text}**" if m.judgement is Judgement.WORSE else text


def _point_change(m: Change) -> str:
    if m.change is None:
        return NONE
    text = f"{m.change * 100:+.2f} pt"
    return f"**{text}**" if m.judgement is Judgement.WORSE else text


def _notes(g: GroupCheck) -> str:
    codes = list(g.warnings) + [w for m in (g.rps, g.p99, g.error_rate) if m for w in m.warnings]
    return "; ".join(NOTES.get(w, w.value) for w in dict.fromkeys(codes))
