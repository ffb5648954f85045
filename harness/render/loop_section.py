"""How the load was generated: a scenario's driver and loop in one sentence, each group's mark
in the tables, and the open-loop p99 beside the closed-loop p99 at the same throughput."""

from __future__ import annotations

from harness.analysis import loops
from harness.analysis.findings import Findings, Group, ScenarioFindings
from harness.render import units
from harness.render.document import Block, Heading, Para, Table

DRIVERS = {"wrk": "wrk", "locust": "Locust"}


def marked(f: Findings) -> bool:
    """Mark groups only in a report that has something besides wrk's closed loop."""
    return any(g.open_loop or g.driver != "wrk" for s in f.scenarios for g in s.groups)


def mark(g: Group) -> str:
    """"wrk, closed", "Locust, open 300/s"."""
    driver = DRIVERS.get(g.driver, g.driver)
    if g.open_loop:
        return f"{driver}, open {units.num(g.rate)}/s" if g.rate else f"{driver}, open"
    return f"{driver}, closed"


def describe(s: ScenarioFindings) -> str:
    """One sentence on the load of a scenario that is not wrk's closed loop ('' otherwise)."""
    drivers = sorted({DRIVERS.get(g.driver, g.driver) for g in s.groups})
    open_groups = [g for g in s.groups if g.open_loop]
    if drivers in ([], ["wrk"]) and not open_groups:
        return ""
    text = f"Load from {' and '.join(drivers)}"
    if open_groups:
        rates = dict.fromkeys(f"{units.num(g.rate)} req/s at {units.conns(g.connections)}"
                              for g in open_groups if g.rate)
        text += (", open loop: requests sent on a schedule whatever the answers do ("
                 + "; ".join(rates) + "), latency measured from each request's intended send "
                 "time")
    else:
        text += ", closed loop: each user sends its next request when the answer came"
    return text + "."


def section(f: Findings) -> list[Block]:
    """Open-loop p99 beside closed-loop p99, each open-loop group against the closed-loop group
    of the same request and app with the nearest throughput."""
    if not f.loops:
        return []
    rows = []
    for c in f.loops:
        same = "same" if c.same_throughput else f"{c.throughput_gap:+.0%}"
        closed = (f"{c.closed_scenario} ({DRIVERS.get(c.closed_driver, c.closed_driver)}, "
                  f"{units.conns(c.closed_connections)})")
        opened = f"{c.open_scenario} ({units.num(c.rate)} req/s, {units.conns(c.open_connections)})"
        rows.append((f"`{c.app}`", f"`{c.request}`", closed, units.rps(c.closed_rps),
                     units.ms(c.closed_p99), opened, units.rps(c.open_rps), same,
                     units.ms(c.open_p99)))
    header = ("app", "request", "closed loop", "req/s", "p99 ms", "open loop", "req/s",
              "throughput vs closed", "p99 ms")
    return [Heading(2, "Open loop beside closed loop"),
            Para("A closed loop (wrk, or Locust without a rate) sends the next request on a "
                 "connection only when the answer came: when the service stalls, less is sent "
                 "and the stall's delay is left out of the percentiles. An open loop sends on "
                 "schedule and measures latency from each request's intended send time. Each "
                 "open-loop group is set beside the closed-loop group of the same request and "
                 "app whose req/s is nearest; \"same\" means within "
                 f"{loops.SAME_THROUGHPUT:.0%}."),
            Table(header, "lllrrlrrr", tuple(rows))]
