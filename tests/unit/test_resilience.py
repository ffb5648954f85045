"""Faults and soaks without processes: the timeline's parsing, recovery and growth on synthetic
series, and the report's sections."""

import json

import pytest

from harness.analysis import faults, soak
from harness.analysis.soak import SoakFlag
from harness.measure import timeline
from harness.model.results import (
    Cell,
    CellStatus,
    FaultEvent,
    LoadResult,
    Run,
    RunStatus,
    Samples,
    Timeline,
)
from harness.render import resilience
from harness.render.document import Images, Quote, Table

STEP = 0.25


def series(rates, step=STEP, t0=0.1, status_5xx=None):
    """A timeline with one interval per rate (requests/s); 5xx per interval if given."""
    rows = []
    for i, rate in enumerate(rates):
        n = round(rate * step)
        bad = (status_5xx or {}).get(i, 0)
        rows.append([round(t0 + i * step, 3), n, n - bad, 0, 0, bad])
    return Timeline(interval_s=step, rows=rows)


def test_parse_sums_threads_and_fills_gaps():
    # interval 400 (t = 100 s) from two threads, 402 (t = 100.5) from one; origin 99.9
    pairs = [[400 * 8, 3], [400 * 8 + 2, 3], [400 * 8, 2], [400 * 8 + 5, 2], [402 * 8, 1],
             [402 * 8 + 2, 1]]
    tl = timeline.parse(json.dumps(pairs), 0.25, 99.9)
    assert tl.columns == ["t", "responses", "status_2xx", "status_3xx", "status_4xx",
                          "status_5xx"]
    assert tl.rows == [[0.1, 5, 3, 0, 0, 2], [0.35, 0, 0, 0, 0, 0], [0.6, 1, 1, 0, 0, 0]]
    # Given how long the load ran, the intervals without an answer at either end are there.
    tl = timeline.parse(json.dumps(pairs), 0.25, 99.5, span=1.5)
    assert [r[:2] for r in tl.rows] == [[0.0, 0], [0.25, 0], [0.5, 5], [0.75, 0], [1.0, 1],
                                        [1.25, 0], [1.5, 0]]


def test_script_keeps_the_summary_callbacks_and_quotes_the_path():
    lua = timeline.script(0.25, '/tmp/a "b".json')
    assert "timeline_done(summary, latency, requests)" in lua
    assert "local timeline_width = 0.25" in lua
    assert '"/tmp/a \\"b\\".json"' in lua
    with pytest.raises(ValueError):
        timeline.script(0, "/tmp/x")


def test_recovery_after_an_outage():
    # 1000 req/s, nothing from 3.1 s to 4.1 s, 600 for 0.5 s, then 1000 again.
    rates = [1000] * 12 + [0] * 4 + [600] * 2 + [1000] * 12
    tl = series(rates)
    before, back, lowest = faults.recovery(tl, started=3.1, ended=3.35)
    assert before == 1000.0 and lowest == 0.0
    # the first 1 s window at >= 900 req/s starts at the last 600 interval: (600 + 3000) / 4
    assert back == pytest.approx(4.35)
    o = faults.outcome(FaultEvent("restart_postgres", 3.0, 3.1, 3.35), tl)
    assert o.recovery_s == pytest.approx(1.0) and o.degraded_s == pytest.approx(1.25)


def test_a_fault_without_effect_recovers_at_once():
    tl = series([800] * 30)
    o = faults.outcome(FaultEvent("kill_worker", 3.0, 3.0, 3.01), tl)
    assert o.recovery_s == 0.0 and o.before_rps == 800.0


def test_never_recovered_within_the_cell():
    tl = series([800] * 14 + [100] * 16)
    o = faults.outcome(FaultEvent("lock_table", 3.0, 3.6, 5.6), tl)
    assert o.recovery_s is None and o.lowest_rps == 100.0


def test_5xx_are_counted_from_the_fault_to_the_next():
    tl = series([800] * 40, status_5xx={5: 3, 14: 2, 30: 7})
    cell = _cell(tl, [FaultEvent("restart_postgres", 3.0, 3.2, 3.6),
                      FaultEvent("terminate_connections", 7.0, 7.1, 7.15)])
    fc = faults.cell_outcomes("r", cell)
    assert fc.status_5xx_before == 3
    assert [o.status_5xx for o in fc.outcomes] == [2, 7]
    tl.rows[12][5] = 4  # t = 3.1 to 3.35: during the restart
    fc = faults.cell_outcomes("r", cell)
    assert [(o.status_5xx, o.status_5xx_after) for o in fc.outcomes] == [(6, 2), (7, 7)]


def _cell(tl, events, app="flask_sync", repeat=0, errors=None, samples=None):
    load = LoadResult(requests=1, duration_us=10_000_000, bytes=1,
                      errors={"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0,
                              **(errors or {})},
                      latency_us={}, threads=2, connections=12, duration_s=10, timeout_s=5)
    return Cell(scenario="blip", app=app, connections=12, repeat=repeat, status=CellStatus.OK,
                load=load, timeline=tl, faults=events, samples=samples)


def _run(cells, cfg):
    return Run(run_id="20260101T000000Z", started_at="x", status=RunStatus.COMPLETE,
               command=[], scenario_file="s.yaml", config={"scenarios": [cfg]},
               environment={}, cells=cells)


def test_summaries_and_the_report_section():
    cfg = {"name": "blip", "timeline": 0.25,
           "faults": [{"kind": "kill_worker", "at": 3.0}, {"kind": "lock_table", "at": 5.0,
                                                           "hold": 1.0}]}
    outage = series([1000] * 12 + [0] * 4 + [1000] * 20, status_5xx={13: 2})
    cells = [
        _cell(outage, [FaultEvent("kill_worker", 3.0, 3.0, 3.0),
                       FaultEvent("lock_table", 5.0, 5.0, 6.0)], errors={"read": 4}),
        _cell(series([500] * 36), [FaultEvent("kill_worker", 3.0, 3.0, 3.0, error=None),
                                   FaultEvent("lock_table", 5.0, None, None,
                                              error="could not lock")],
              app="fastapi_async"),
    ]
    (ff,) = faults.analyze(_run(cells, cfg))
    by = {(s.app, s.kind): s for s in ff.summaries}
    kill = by[("flask_sync", "kill_worker")]
    assert kill.injected == 1 and kill.status_5xx == 2 and kill.connection_errors == 4
    assert kill.recovery_s == pytest.approx(1.1) and kill.failed_requests
    assert kill.shared_cells
    quiet = by[("fastapi_async", "kill_worker")]
    assert quiet.recovery_s == 0.0 and not quiet.failed_requests
    assert by[("fastapi_async", "lock_table")].not_injected == ("could not lock",)

    from harness.analysis.findings import Findings, Layout

    f = Findings(runs=(), detail_run=None, noise=None, environment_diff=(), environments=(),
                 scenarios=(), failures=(), failures_total=0, verification=(),
                 all_verified=True, settings=(), layout=Layout(False, True), history=None,
                 cells=(), faults=(ff,))
    blocks = resilience.section(f, "blip")
    table = next(b for b in blocks if isinstance(b, Table))
    assert table.header[0] == "app" and len(table.rows) == 4
    row = next(r for r in table.rows if r[0] == "`flask_sync`" and r[1] == "kill_worker")
    assert row[4:8] == ("2 (2)", "4", "0", "1.10 s") and row[-1].startswith("**yes**")
    images = [b for b in blocks if isinstance(b, Images)]
    assert images and images[0].figures[0].svg().startswith("<?xml")
    assert any("could not lock" in getattr(b, "text", "") or any(
        "could not lock" in i.text for i in getattr(b, "items", ())) for b in blocks)


def test_soak_flags_growth_and_errors():
    cfg = {"name": "soak", "timeline": 1.0}
    profile = [[t * 0.5, 10.0, 100.0 + t * (0.5 if grow else 0.0), None, None, None, None, None]
               for grow in (True,) for t in range(100)]
    samples = Samples(interval_s=0.5, n=100, profile_columns=["t", "app_cpu_pct", "app_rss_mb",
                                                               "wrk_cpu_pct", "pg_active",
                                                               "pg_idle",
                                                               "pg_idle_in_transaction",
                                                               "db_cpu_pct"],
                      profile=profile)
    flat = Samples(interval_s=0.5, n=2, profile_columns=samples.profile_columns,
                   profile=[[0.5, 1, 80.0, None, None, None, None, None],
                            [1.0, 1, 81.0, None, None, None, None, None]])
    tl = series([900] * 50, step=1.0, status_5xx={10: 1})
    cells = [_cell(tl, [], app="flask_sync", samples=samples),
             _cell(series([700] * 50, step=1.0), [], app="fastapi_async", samples=flat,
                   errors={"timeout": 2})]
    for c in cells:
        c.scenario = "soak"
    (so,) = soak.analyze(_run(cells, cfg))
    grow, quiet = so.cells
    assert grow.longest_silence_s == 0
    assert grow.rss_growth > 0.4 and grow.flags == (SoakFlag.RSS_GROWTH, SoakFlag.ERRORS)
    assert grow.errors == {"non_2xx": 1}
    assert quiet.flags == (SoakFlag.ERRORS,) and quiet.errors == {"timeout": 2}
    stalled = soak.over_time("r", _cell(series([700] * 20 + [0] * 5 + [700] * 25, step=1.0), []))
    assert stalled.longest_silence_s == 5.0 and stalled.flags == ()
    assert quiet.rss_growth == pytest.approx(81 / 80 - 1, abs=1e-3)
    blocks = resilience.soak(so)
    assert isinstance(blocks[1], Quote) and "RSS grew" in blocks[1].text
    (images,) = [b for b in blocks if isinstance(b, Images)]
    assert [f.name for f in images.figures] == ["soak-rss-over-time.svg",
                                                "soak-rps-over-time.svg"]
