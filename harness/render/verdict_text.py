"""The words of a verdict: one line per comparison, the "in short" summary, breaking points and
capacity. Shared by every markup format; the decisions themselves are findings."""

from __future__ import annotations

from harness.analysis.findings import (
    BreakingPoint,
    Comparison,
    Group,
    Method,
    Metric,
    NotCompared,
    Problems,
    ScenarioFindings,
    Verdict,
    Warn,
)
from harness.render import units
from harness.render.units import conns

WARNING_TEXT = {Warn.NOISY: "noisy", Warn.FEW_REPEATS: "few repeats", Warn.NO_DATA: "no data"}
CPU_WORDS = {Verdict.FASTER: "cheaper", Verdict.SLOWER: "costlier"}


def side_notes(g: Group | None, app: str) -> list[str]:
    """Why one side of a comparison deserves caution: failed repeats, noise, few repeats."""
    if g is None:
        return []
    notes = []
    if g.n_failed:
        notes.append(f"{g.n_failed} of {g.n_ok + g.n_failed} `{app}` repeats failed")
    words = []
    for w in g.rps.warnings:
        if w is Warn.NOISY and g.rps.cv is not None:
            words.append(f"noisy, CV {g.rps.cv:.0%}")
        else:
            words.append(WARNING_TEXT.get(w, w.value))
    if words:
        notes.append(f"`{app}`: {', '.join(words)}")
    return notes


def failure_reasons(g: Group | None) -> str:
    reasons = sorted({f.reason or "no reason recorded" for f in g.failures}) if g else []
    return "; ".join(reasons)


def _not_compared(s: ScenarioFindings, c: Comparison, what: str) -> str:
    where = f"at {conns(c.connections)}"
    head = f"`{c.candidate}` {where}: {what}not compared"
    if c.not_compared is NotCompared.NOT_RUN:
        return f"{head}: `{c.missing}` was not run {where}."
    if c.not_compared is NotCompared.ALL_FAILED:
        g = s.group(c.missing or "", c.connections)
        return f"{head}: `{c.missing}` failed every repeat ({failure_reasons(g)})."
    if c.not_compared is NotCompared.NO_CPU:
        return f"{head}: `{c.missing}` has no CPU measurement."
    return f"{head}: a repeat served no requests."


def _x(ratio: float | None) -> str:
    """A ratio bound: two decimals, whole numbers once it is huge (a side that served nothing)."""
    if ratio is None:
        return units.NONE
    return f"{ratio:.2f}" if ratio < 100 else f"{ratio:,.0f}"


def _interval(c: Comparison) -> str:
    ci = f"95% CI {_x(c.ci_low)}–{_x(c.ci_high)}"
    if c.method is Method.SEQUENTIAL and c.zero_rounds:
        return f"{_served_nothing(c)}; {ci}, anytime-valid sign test at {c.look} rounds"
    if c.method is Method.SEQUENTIAL:
        return f"{ci}, anytime-valid at {c.look} rounds"
    return ci


def _served_nothing(c: Comparison) -> str:
    return (f"median of the per-round ratios: {c.zero_rounds} of {c.look} rounds served "
            "nothing")


def _rounds(n: int) -> str:
    return f"{n} round" + ("" if n == 1 else "s")


def mde_text(c: Comparison) -> str | None:
    if c.mde is None:
        return None
    if c.mde >= 10:
        return "could not tell apart even tenfold differences"
    return f"could not tell apart differences under {c.mde:.0%}"


def comparison_line(s: ScenarioFindings, c: Comparison) -> str:
    """One comparison, most important first: the ratio and verdict, then the interval, the
    smallest detectable difference when undecided, and cautions about either side."""
    cpu = c.metric is Metric.CPU
    if c.verdict is None:
        return _not_compared(s, c, "CPU per request " if cpu else "")
    where = f"at {conns(c.connections)}"
    notes = [] if cpu else (side_notes(s.group(c.candidate, c.connections), c.candidate)
                            + side_notes(s.group(c.reference, c.connections), c.reference))
    subject = "CPU per request " if cpu else ""
    if c.verdict in (Verdict.FASTER, Verdict.SLOWER):
        if cpu:
            return (f"`{c.candidate}` uses {c.ratio:.2f}× {c.reference}'s CPU per request "
                    f"{where} ({_interval(c)}): {CPU_WORDS[c.verdict]}.")
        if c.zero_rounds and c.ratio is not None and not 0.01 <= c.ratio <= 100:
            # The median round is one in which a side served nothing: no ratio to speak of.
            nothing = c.reference if c.ratio > 1 else c.candidate
            interval = (f"95% CI of the median per-round ratio {_x(c.ci_low)}–{_x(c.ci_high)}, "
                        f"anytime-valid sign test at {c.look} rounds")
            return (f"`{c.candidate}` against {c.reference} {where}: {c.verdict.value} (a side "
                    f"served nothing in {c.zero_rounds} of {c.look} rounds, `{nothing}` in the "
                    f"median one; {'; '.join([interval, *notes])}).")
        if c.ci_low is None:  # all zeros against all positive: certain, not statistical
            return f"`{c.candidate}` serves {units.ratio(c.ratio)} {c.reference} {where}: " \
                   f"{c.verdict.value}."
        return (f"`{c.candidate}` serves {c.ratio:.2f}× {c.reference} {where} "
                f"({'; '.join([_interval(c), *notes])}): {c.verdict.value}.")
    if c.verdict is Verdict.UNDECIDED and c.look is None:
        # Fewer rounds with a value than the first look needs, or zeros mixed with values.
        n = min(c.n_candidate, c.n_reference)
        why = (f"{_rounds(n)} with a value, fewer than the {s.min_repeats or 3} its first "
               "look needs" if n < (s.min_repeats or 3) else
               "some repeats served no requests, which no ratio describes")
        return f"`{c.candidate}` against {c.reference} {where}: {subject}undecided: {why}."
    detail = [units.ratio(c.ratio)]
    if c.ci_low is not None:
        detail.append(_interval(c) + (f", p = {c.p_value:.2g}" if c.p_value is not None else ""))
    elif c.zero_rounds:
        detail.append(f"{_served_nothing(c)}, too few rounds yet for a sign test")
    elif c.method is Method.WELCH:
        detail.append("a single repeat cannot decide")
    if not c.verdict.decided and mde_text(c):
        detail.append(mde_text(c) or "")
    verdict = {
        Verdict.INCONCLUSIVE: "inconclusive: the repeats cannot tell",
        Verdict.UNDECIDED: f"undecided after {_rounds(min(c.n_candidate, c.n_reference))}",
        Verdict.EQUIVALENT: f"equivalent to {c.reference} within ±{s.min_effect:.0%}",
    }.get(c.verdict, c.verdict.value)
    # A candidate may be compared with several references at a level: name the one it was not
    # told apart from (an equivalence names it already).
    against = "" if c.verdict is Verdict.EQUIVALENT else f" against {c.reference}"
    return (f"`{c.candidate}`{against} {where}: {subject}{verdict} "
            f"({'; '.join(detail + notes)}).")


def _short_verdict(c: Comparison) -> str:
    if c.verdict in (Verdict.FASTER, Verdict.SLOWER):
        return f"{c.verdict.value} than {c.reference}"
    return {Verdict.INCONCLUSIVE: f"inconclusive against {c.reference} (too few or too noisy "
                                  "repeats)",
            Verdict.UNDECIDED: f"undecided against {c.reference} within the budget",
            Verdict.EQUIVALENT: f"equivalent to {c.reference}",
            }.get(c.verdict, "not detectably different")  # type: ignore[arg-type]


def in_short(s: ScenarioFindings) -> str:
    """Per declared pair, the levels where the candidate is faster, slower or not different."""
    parts = []
    for cand, ref in s.pairs:
        by_verdict: dict[str, list[str]] = {}
        for c in s.comparisons:
            if (c.metric, c.candidate, c.reference) == (Metric.THROUGHPUT, cand, ref) \
                    and c.verdict is not None:
                by_verdict.setdefault(_short_verdict(c), []).append(str(c.connections))
        said = [f"{v} at {units.levels(levels)}" for v, levels in by_verdict.items()]
        if said:
            parts.append(f"`{cand}` is " + "; ".join(said))
    return "; ".join(parts)


def problems_text(p: Problems) -> list[str]:
    """What broke at a level, most direct cause first."""
    out = []
    if p.failed:
        reasons = "; ".join(r or "no reason recorded" for r in p.reasons)
        out.append(f"{p.failed} of {p.total} repeats failed ({reasons})")
    for t in p.thresholds:
        values = ", ".join(units.threshold_value(v, u) for v, u in t.values)
        if values and t.failed > len(t.values):
            values += ", …"
        out.append(f"`{t.expr}` failed in {t.failed} of {t.measured} measured repeats"
                   + (f" ({values})" if values else ""))
    if p.stuck:
        out.append(f"stuck in {p.stuck} of {p.total} repeats (nothing served while the pool "
                   "sat at its limit)")
    if p.log_counts:
        out.append("app log: " + ", ".join(f"{k} ×{n}" for k, n in p.log_counts.items()))
    return out


def breaking_head(s: ScenarioFindings) -> str:
    if s.thresholds:
        return f"Breaking points (every threshold: {', '.join(f'`{e}`' for e in s.thresholds)}):"
    return "Breaking points (no thresholds declared: every repeat completing):"


def breaking_line(s: ScenarioFindings, b: BreakingPoint) -> str:
    kept = "meets every threshold" if s.thresholds else "completes every repeat"
    if b.broken_at is None or b.problems is None:
        return f"`{b.app}` {kept} up to {conns(b.highest)}, the highest level tested."
    start = (f"{kept} up to {conns(b.last_ok)}; at {conns(b.broken_at)}"
             if b.last_ok is not None else f"breaks already at {conns(b.broken_at)}")
    return f"`{b.app}` {start}: {'; '.join(problems_text(b.problems))}."


def capacity_lines(s: ScenarioFindings) -> list[str]:
    out = []
    for c in s.capacity:
        if c.connections is None:
            out.append(f"`{c.app}`: no level met every threshold.")
        elif c.cores_per_1000_rps is None:
            out.append(f"`{c.app}`: CPU not measured at {conns(c.connections)}.")
        else:
            ci = (f" ({c.ci_low:.2f}–{c.ci_high:.2f})" if c.ci_low is not None
                  and c.ci_high is not None else "")
            what = "app + PostgreSQL CPU" if c.with_db else "the app's CPU alone"
            out.append(f"`{c.app}`: {c.cores_per_1000_rps:.2f} cores{ci} per 1,000 req/s, at "
                       f"{conns(c.connections)} ({what}).")
    return out
