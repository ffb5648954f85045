"""'Where the CPU goes': a scenario's profiles (harness.analysis.profiles) as a table of layers
per app and a flame graph per app, linked (written beside the report)."""

from __future__ import annotations

from harness.analysis.findings import Findings
from harness.analysis.profiles import BUSY
from harness.render import flamegraph
from harness.render.document import Attachment, Block, Heading, Links, Para, Quote, Table

WIDE = 0.05  # a margin above this is said


def _pct(share: float) -> str:
    return f"{share:.0%}" if share >= 0.005 or share == 0 else "<1%"


def section(f: Findings, scenario: str) -> list[Block]:
    shown = [p for p in f.profiles if p.scenario == scenario]
    if not shown:
        return []
    levels = sorted({p.connections for p in shown})
    at = " and ".join(map(str, levels))
    blocks: list[Block] = [
        Heading(3, f"Where the CPU goes: {scenario}"),
        Para(f"One more cell per app at {at} connections after the rounds, while py-spy "
             f"sampled every thread of its server and workers ({shown[0].rate_hz} times a "
             "second, with C frames). The sampling pauses the app and slows it: these cells "
             "feed no verdict, and their req/s is not the app's. Each layer's share is of the "
             "busy samples (a thread not blocked), from the innermost frame that belongs to a "
             "layer: **server** (gunicorn, uvicorn, uvloop, httptools, asyncio, sockets), "
             "**routing and validation** (Flask, Werkzeug, FastAPI, Starlette, AnyIO), "
             "**serialization** (pydantic models, request and response, and JSON), **ORM** "
             "(SQLAlchemy), **driver** (psycopg2 and libpq, asyncpg, SQLAlchemy's DBAPI "
             "calls, and the socket I/O they start, through uvloop too), **garbage collection**, **other** (the app's own code, other "
             "packages). **Waiting** is the share of all samples whose thread was blocked: "
             "idle worker threads, an event loop with nothing to do, and a blocking driver "
             "waiting for PostgreSQL (an async driver waits in its event loop). Samples are "
             "taken on the clock: a busy thread may be waiting for a CPU the machine's other "
             "processes hold."),
    ]
    rows = []
    for p in shown:
        if p.error is not None:
            continue
        rows.append((p.app, str(p.connections), f"{p.busy:,}",
                     *(_pct(p.share(layer)) for layer in BUSY),
                     _pct(p.waiting), f"{p.rps:.0f}" if p.rps is not None else "–"))
    if rows:
        blocks.append(Table(("app", "connections", "busy samples",
                             *(layer.value for layer in BUSY), "waiting (of all)",
                             "req/s while sampled"),
                            "lr" + "r" * (len(BUSY) + 3), tuple(rows)))
        wide = [f"`{p.app}` ±{p.margin:.0%}" for p in shown
                if p.error is None and p.margin is not None and p.margin > WIDE]
        if wide:
            blocks.append(Para(f"Few busy samples, so a share is uncertain by at least "
                               f"{', '.join(wide)} (95%): py-spy samples every thread and "
                               "falls behind on an app with many, such as a thread pool."))
    for p in shown:
        if p.error is not None:
            blocks.append(Quote(f"No profile of `{p.app}` at {p.connections} connections: "
                                f"{p.error}."))
    files = tuple(Attachment(flamegraph.file_name(p), f"{p.app}: flame graph of its busy "
                             f"samples at {p.connections} connections", content)
                  for p in shown if (content := flamegraph.render(p)))
    if files:
        blocks.append(Links(files, "Flame graphs (a box per frame, as wide as its samples, "
                                   "coloured by layer; open one to read each box's frame):"))
    return blocks

