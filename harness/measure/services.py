"""The apps under apps/: read each one's service.toml, start it, wait until it answers, stop it."""

import http.client
import os
import sys
import time
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import locations
from harness.config import settings
from harness.errors import UsageError
from harness.measure import procs
from harness.measure.postgres import redact_text as postgres_redact

APPS_DIR = locations.APPS_DIR
HOST = "127.0.0.1"
# Variables of the caller's shell that would tune one stack and not the others (gunicorn reads
# GUNICORN_CMD_ARGS, uvicorn UVICORN_*, Python PYTHONDEVMODE...): never passed to an app.
FOREIGN_TUNING = ("GUNICORN_", "UVICORN_", "PYTHON", "DATABASE_URL")


@dataclass(frozen=True)
class Service:
    name: str
    directory: Path
    description: str
    server: str  # the package that serves it (gunicorn, uvicorn)
    port: int  # the port `harness serve` uses
    command: tuple[str, ...]
    knobs: tuple[str, ...]  # environment settings it reads
    packages: tuple[str, ...]  # stack packages whose versions go into results
    reference: bool = False  # a ceiling to compare against, not a candidate

    def argv(self, port, host=HOST):
        fill = {"python": sys.executable, "host": host, "port": str(port)}
        return [part.format(**fill) for part in self.command]

    def server_version(self):
        return f"{self.server} {package_version(self.server)}"


def package_version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def discover(apps_dir=APPS_DIR, reference=False):
    """The candidate apps (folders with a service.toml) by name; `reference=True`: the ceilings."""
    found = {}
    for path in sorted(Path(apps_dir).glob("*/service.toml")):
        service = load(path)
        if service.reference == reference:
            found[service.name] = service
    return found


def load(path):
    try:
        data = tomllib.loads(Path(path).read_text())["service"]
        return Service(
            name=Path(path).parent.name, directory=Path(path).parent,
            description=data["description"], server=data["server"], port=int(data["port"]),
            command=tuple(data["command"]), knobs=tuple(data.get("settings", ())),
            packages=tuple(data.get("packages", ())), reference=bool(data.get("reference")),
        )
    except (OSError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: invalid service declaration ({exc!r})") from None


@dataclass
class Running:
    service: Service
    base_url: str
    settings: dict
    process: Any  # Popen, or None for a service the harness did not start
    log_path: str | None

    def log_offset(self):
        try:
            return os.path.getsize(self.log_path) if self.log_path else 0
        except OSError:
            return 0

    def read_log(self, since=0):
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def launch(service, database_url, port, log_path, overrides=(), cpus=None):
    """Start one app with its resolved settings (on `cpus` if given); returns at once (see
    wait_healthy)."""
    values = settings.resolve(service.knobs, *overrides)
    env = {k: v for k, v in os.environ.items() if k not in settings.DEFAULTS
           and not k.startswith(FOREIGN_TUNING)}
    env.update(values)
    env["DATABASE_URL"] = database_url
    env["PYTHONUNBUFFERED"] = "1"
    proc = procs.start(service.argv(port), cwd=service.directory, env=env, log_path=log_path,
                       **({"cpus": cpus} if cpus else {}))
    return Running(service, f"http://{HOST}:{port}", values, proc, log_path)


def start(service, database_url, port, log_path, overrides=(), ready_timeout=60.0):
    """Start one app and wait for GET /health to answer 200."""
    running = launch(service, database_url, port, log_path, overrides)
    try:
        wait_healthy(running, ready_timeout)
    except BaseException:
        stop(running)
        raise
    return running


def stop(*running):
    """Stop apps together: their graceful shutdowns overlap instead of adding up."""
    procs.stop(*[r.process for r in running if r.process is not None], timeout=15)


def wait_healthy(running, timeout):
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if running.process is not None and running.process.poll() is not None:
            tail = postgres_redact(running.read_log()[-800:]).strip().splitlines()[-3:]
            raise RuntimeError(
                f"{running.service.name} exited during start-up: {' | '.join(tail)}")
        status = health(running.base_url)
        if status == 200:
            return
        last = f"/health answered {status}" if status else "no answer"
        time.sleep(0.1)
    raise RuntimeError(f"{running.service.name} not healthy after {timeout:.0f} s ({last})")


def health(base_url, timeout=2.0):
    """Status of GET /health, or None when nothing answers."""
    host, port = base_url.split("//", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port.rstrip("/")), timeout=timeout)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
