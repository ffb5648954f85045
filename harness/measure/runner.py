"""`python -m harness run`: measure every cell of the plan, storing each one as it completes.

A cell is scenario × app × connections × repeat. Before it the dataset is reset, the app is
checked with the scenario's own request, and a warmup runs at the cell's concurrency.
"""

import os
import re
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2

from harness.commands.progress import Progress
from harness.config import scenarios, thresholds
from harness.errors import Interrupted
from harness.measure import (
    applog,
    ceilings,
    dataset,
    environment,
    plan,
    postgres,
    sampler,
    services,
    verify,
    wrk,
)
from harness.measure.sampler import Sampler
from harness.model import results


class AppSet:
    """The apps of one scenario, started with its settings (or given as external targets)."""

    def __init__(self, scenario, found, targets, database_url, log_dir, run):
        self.scenario, self.found, self.targets = scenario, found, targets
        self.database_url, self.log_dir, self.run = database_url, Path(log_dir), run
        self.running, self.problems = {}, {}

    def __enter__(self):
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Launch every app first, then wait: start-ups overlap instead of adding up.
        try:
            for name in self.scenario.apps:
                self._launch(name)
            for name, running in list(self.running.items()):
                self._verify(name, running)  # its writes are undone by the next cell's reset
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        services.stop(*self.running.values())

    def _entry(self, name):
        service = self.found[name]
        return self.run["apps"].setdefault(name, {
            "description": service.description, "server": service.server_version(),
            "command": list(service.command), "external": name in self.targets,
            "verification": {"ok": True, "failures": []},
        })

    def _launch(self, name):
        service = self.found[name]
        self._entry(name)
        if name in self.targets:
            self.running[name] = services.Running(
                service, self.targets[name].rstrip("/"), {"external": "settings unknown"},
                None, None)
            return
        overrides = (self.scenario.env, self.scenario.app_env.get(name, {}))
        log = self.log_dir / f"{self.scenario.name}-{name}.log"
        self.running[name] = services.launch(service, self.database_url, postgres.free_port(),
                                             str(log), overrides)

    def _verify(self, name, running):
        entry = self._entry(name)
        try:
            services.wait_healthy(running, timeout=10 if running.process is None else 60)
        except RuntimeError as exc:
            self.problems[name] = f"did not start: {exc}"
            entry["verification"] = {"ok": False, "failures": [self.problems[name]]}
            return
        failures = verify.contract(running.base_url)
        if failures:
            self.problems[name] = "failed contract verification: " + "; ".join(failures[:3])
            entry["verification"] = {"ok": False, "failures": failures}

    def settle(self, name, result):
        """After a cell, wait for the app to finish the requests still queued in it; restart it
        if its sessions stay busy, so that its state cannot block or slow the next app's cell."""
        running = self.running.get(name)
        if "wrk" not in result and "wrk failed" not in (result["reason"] or ""):
            return False  # no load reached the app
        if running is None or running.process is None:
            return False
        timeout = float(running.settings.get("POOL_TIMEOUT", 30)) + 10
        try:
            seconds = sampler.settle(self.database_url, running.process.pid, self.db_port,
                                     timeout)
        except psycopg2.Error as exc:
            result["settle_error"] = postgres.redact_text(str(exc).strip())
            return True
        result["settle_s"] = seconds
        if seconds is None:
            result["restarted"] = (f"its database sessions were still busy {timeout:.0f} s "
                                   "after the load stopped: restarted before the next cell")
            services.stop(running)
            del self.running[name]
            self._launch(name)
            self._verify(name, self.running[name])
        return True

    @property
    def db_port(self):
        return urlsplit(self.database_url).port or 5432



def execute(sf, command, out_dir, database_url=None, targets=None, progress_stream=None,
            with_ceilings=True, saved=None):
    """Run the plan; returns (run, path). Interrupted propagates after the run is saved.

    The results file exists once something was measured (`saved["path"]` then names it): a run
    that fails before its first measurement leaves nothing behind."""
    saved = {} if saved is None else saved
    out_dir = Path(out_dir)
    found = services.discover()
    targets = {**sf.targets, **(targets or {})}
    run_id = results.new_run_id()
    path, work = out_dir / f"{run_id}.json", out_dir / run_id
    used = sorted({a for s in sf.scenarios for a in s.apps})
    env = environment.collect([found[a] for a in used],
                              database="external" if database_url else "embedded")
    run = results.new(run_id, command, sf.path, scenarios.config(sf), env)
    cells = plan.cells(sf)
    ceiling_s = sum(ceilings.load_seconds(s) for s in sf.scenarios
                    if with_ceilings and ceilings.supported(s))
    progress = Progress(len(cells), plan.load_seconds(sf) + ceiling_s, progress_stream)
    t0 = time.monotonic()
    measured_load = 0.0
    try:
        with ExitStack() as stack:
            url = stack.enter_context(postgres.database(database_url, log_dir=str(work)))
            dataset.prepare(url, sf.rows)
            for scenario in sf.scenarios:
                todo = [c for c in cells if c.scenario is scenario]
                if with_ceilings and not ceilings.supported(scenario):
                    run.setdefault("ceilings", {})[scenario.name] = {"skipped": (
                        f"no pgbench equivalent of {scenario.request.method} "
                        f"{scenario.request.path} (ceilings cover GET "
                        f"{' and GET '.join(ceilings.QUERIES)})")}
                if with_ceilings and ceilings.supported(scenario):
                    progress.note(f"{scenario.name}: measuring the ceilings (pgbench, raw ASGI)")
                    try:
                        result = ceilings.measure(scenario, url, sf.rows, str(work))
                    except (RuntimeError, wrk.WrkError, psycopg2.Error, OSError) as exc:
                        # A ceiling is context, not a candidate: its failure is noted, not fatal.
                        result = {"error": postgres.redact_text(str(exc).strip())}
                    run.setdefault("ceilings", {})[scenario.name] = result
                    measured_load += ceilings.load_seconds(scenario)
                    progress.remaining_load -= ceilings.load_seconds(scenario)
                    results.save(run, path)
                    saved["path"] = path
                with AppSet(scenario, found, targets, url, work / "logs", run) as apps:
                    for cell in todo:
                        progress.cell_started(cell, scenario.warmup + scenario.duration)
                        result = measure(cell, apps, url, sf.rows, work)
                        if result["status"] == "ok":  # only load that really ran counts
                            measured_load += scenario.warmup + scenario.duration
                        run["cells"].append(result)
                        results.save(run, path)  # kept, whatever happens next
                        saved["path"] = path
                        progress.cell_finished(cell, describe(result))
                        if apps.settle(cell.app, result):
                            results.save(run, path)
        run["status"] = "complete"
    except Interrupted:
        run["status"] = "interrupted"
        raise
    finally:
        run["finished_at"] = results.utc_now()
        wall = time.monotonic() - t0
        run["overhead"] = {
            "wall_s": round(wall, 1), "load_s": round(measured_load, 1),
            "overhead_pct": round(100 * (wall - measured_load) / measured_load, 1)
            if measured_load else None,
        }
        if saved.get("path"):
            results.save(run, path)
    return run, path


def measure(cell, apps, url, rows, work):
    scenario, name = cell.scenario, cell.app
    running = apps.running.get(name)
    result = {
        "scenario": scenario.name, "app": name, "connections": cell.connections,
        "repeat": cell.repeat, "status": "failed", "reason": None,
        "settings": dict(running.settings) if running else {},
    }
    if name in apps.problems:
        result["reason"] = f"not measured: {apps.problems[name]}"
        return _judged(result, scenario)
    if running.process is not None and running.process.poll() is not None:
        result["reason"] = "not measured: the app exited (see its log)"
        return _judged(result, scenario)
    try:
        dataset.reset(url, rows)
    except dataset.ResetBlocked as exc:
        result["reason"] = f"not measured: {exc}"
        return _judged(result, scenario)
    problem = verify.scenario_request(running.base_url, scenario.request)
    if problem:
        result["reason"] = f"not measured: the scenario's request failed: {problem}"
        return _judged(result, scenario)
    target = running.base_url + scenario.request.path
    scripts = work / "wrk"
    offset = running.log_offset()
    pid = running.process.pid if running.process is not None else None
    try:
        if scenario.warmup > 0:
            wrk.run(target, scenario.request, cell.connections, scenario.threads,
                    scenario.warmup, scenario.timeout, scripts)
        offset = running.log_offset()
        with Sampler(pid, url, urlsplit(url).port or 5432) as samples:
            summary = wrk.run(target, scenario.request, cell.connections, scenario.threads,
                              scenario.duration, scenario.timeout, scripts)
    except wrk.WrkError as exc:
        result["reason"] = f"wrk failed: {exc}"
        result["log"] = _log(running, offset, work, cell)
        return _judged(result, scenario)
    result.update(status="ok", wrk=summary, **metrics(summary))
    result["samples"] = samples.summary(os.cpu_count() or 1)
    result["log"] = _log(running, offset, work, cell)
    return _judged(result, scenario)


def metrics(summary):
    """req/s and the error rate. wrk counts an answer that came after --timeout both in
    `requests` and in `errors.timeout`, and one that never came only in `errors.timeout`: so the
    rate is errors over (answers + failed connects), capped at 1."""
    seconds = summary["duration_us"] / 1e6 or 1.0
    errors = summary["errors"]
    failed = sum(errors.values())
    attempts = summary["requests"] + errors.get("connect", 0)
    return {"rps": round(summary["requests"] / seconds, 2),
            "error_rate": round(min(1.0, failed / attempts), 6) if attempts else 1.0}


def _log(running, offset, work, cell):
    text = postgres.redact_text(running.read_log(offset))
    out = {"file": None, **applog.classify(text)}
    if running.log_path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", cell.scenario.name)
        path = work / "logs" / f"{safe}-{cell.app}-c{cell.connections}-r{cell.repeat}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out["file"] = str(path)
    return out


def _judged(result, scenario):
    result["thresholds"] = thresholds.evaluate(scenario.thresholds, result)
    return result


def describe(result):
    if result["status"] != "ok":
        return f"FAILED ({result['reason']})"
    lat = result["wrk"]["latency_us"]
    flags = [t["expr"] for t in result["thresholds"] if not t["ok"]]

    def ms(us):
        return "–" if us is None else f"{us / 1000:.1f} ms"

    text = (f"{result['rps']:.0f} req/s, p50 {ms(lat['p50'])}, p99 {ms(lat['p99'])}, "
            f"errors {result['error_rate']:.1%}")
    return text + (f"; threshold failed: {', '.join(flags)}" if flags else "")
