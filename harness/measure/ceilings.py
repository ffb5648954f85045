"""The limits of the machine for a scenario: what PostgreSQL does with the scenario's own query
(pgbench), and what Python does with a minimal endpoint (raw ASGI + asyncpg, no ORM)."""

import os
import re
import shutil
import subprocess
import tempfile
from urllib.parse import unquote, urlsplit

from harness.errors import MissingTool
from harness.measure import dataset, postgres, services, wrk
from harness.model.results import Ceilings

# The SQL each benchmarked endpoint runs, as pgbench scripts.
QUERIES = {
    "/users": "SELECT id, name, email, created_at FROM users ORDER BY id LIMIT 100 OFFSET 0;",
    "/users/insert-data-to-test": (
        "INSERT INTO users (name, email) VALUES ('pgbench', "
        "'pg-' || gen_random_uuid() || '@example.com') RETURNING id, name, email, created_at;"),
}
MAX_SECONDS = 3.0  # a ceiling needs a level, not a distribution: short runs keep overhead low


def supported(scenario):
    return scenario.request.method == "GET" and scenario.request.path in QUERIES


def pgbench_binary():
    found = shutil.which("pgbench")
    if found:
        return found
    try:
        candidate = os.path.join(postgres.find_bindir(), "pgbench")
    except MissingTool:  # e.g. measuring containers from a machine without PostgreSQL
        return None
    return candidate if os.path.exists(candidate) else None


def pgbench(url, sql, connections, threads, seconds):
    """Transactions per second of `sql` over `connections` clients, or None if pgbench is absent."""
    binary = pgbench_binary()
    if binary is None:
        return None
    parts = urlsplit(url)
    env = {**os.environ, "PGPASSWORD": unquote(parts.password or "")}
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(sql + "\n")
        script.flush()
        cmd = [binary, "-n", "-h", parts.hostname, "-p", str(parts.port or 5432),
               "-U", unquote(parts.username or "postgres"), "-c", str(connections),
               "-j", str(threads), "-T", str(max(1, round(seconds))), "-f", script.name,
               parts.path.lstrip("/") or "postgres"]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env,
                             timeout=seconds + 60, check=False)
    match = re.search(r"tps = ([\d.]+)", out.stdout)
    return round(float(match.group(1)), 1) if match else None


def load_seconds(scenario):
    """Configured load time of the ceilings: pgbench, then the reference app's warmup and run."""
    seconds = min(scenario.duration, MAX_SECONDS)
    return len(scenario.connections) * (2 * seconds + min(1.0, seconds))


def measure(scenario, url, rows, work) -> Ceilings:
    """pgbench's tps and the reference app's req/s at each connection level."""
    seconds = min(scenario.duration, MAX_SECONDS)
    sql = QUERIES[scenario.request.path]
    out = Ceilings(seconds=seconds, query=sql)
    for c in scenario.connections:
        dataset.reset(url, rows)
        out.pgbench_tps[str(c)] = pgbench(url, sql, c, wrk.threads_for(c, scenario.threads),
                                             seconds)
    reference = services.discover(reference=True).get("reference_asgi")
    if reference is None:
        return out
    log = os.path.join(work, "logs", f"{scenario.name}-reference_asgi.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    running = services.start(reference, url, postgres.free_port(), log,
                             (scenario.env, scenario.app_env.get("reference_asgi", {})))
    try:
        target = running.base_url + scenario.request.path
        for c in scenario.connections:
            dataset.reset(url, rows)
            wrk.run(target, scenario.request, c, scenario.threads, min(1.0, seconds),
                    scenario.timeout, os.path.join(work, "wrk"))
            summary = wrk.run(target, scenario.request, c, scenario.threads, seconds,
                              scenario.timeout, os.path.join(work, "wrk"))
            out.reference_rps[str(c)] = round(
                summary.requests / (summary.duration_us / 1e6 or 1), 1)
    finally:
        services.stop(running)
    return out
