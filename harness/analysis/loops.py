"""Open loop beside closed loop: each open-loop group with the closed-loop group of the same
request and app whose throughput is nearest, so that their p99 are read at (about) the same
throughput. Closed-loop load slows down when the service stalls and its p99 leaves the stall
out; open-loop load keeps its schedule and counts latency from the intended send time."""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.analysis.findings import Group, LoopComparison, ScenarioFindings

SAME_THROUGHPUT = 0.10  # medians this close (relative) count as the same throughput


def compare(scenarios: Sequence[ScenarioFindings]) -> tuple[LoopComparison, ...]:
    closed = [(s, g) for s in scenarios for g in s.groups
              if not g.open_loop and (g.rps.median or 0) > 0]
    out = []
    for s in scenarios:
        for g in s.groups:
            if not g.open_loop or not (g.rps.median or 0) > 0:
                continue
            same = [(cs, cg) for cs, cg in closed
                    if cg.app == g.app and (cs.method, cs.path) == (s.method, s.path)]
            if not same:
                continue
            cs, cg = min(same, key=lambda p: abs(math.log(_rps(p[1]) / _rps(g))))
            gap = _rps(g) / _rps(cg) - 1
            out.append(LoopComparison(
                request=f"{s.method} {s.path}", app=g.app,
                open_scenario=s.name, open_connections=g.connections, rate=g.rate,
                open_driver=g.driver, open_rps=_rps(g), open_p99=g.p99.median,
                closed_scenario=cs.name, closed_connections=cg.connections,
                closed_driver=cg.driver, closed_rps=_rps(cg), closed_p99=cg.p99.median,
                throughput_gap=gap, same_throughput=abs(gap) <= SAME_THROUGHPUT))
    return tuple(out)


def _rps(g: Group) -> float:
    return float(g.rps.median or 0.0)
