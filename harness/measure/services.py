"""The apps: read each one's service.toml, start it, wait until it answers, stop it.

Apps live in folders under apps/ (the repository's, or those bundled with the installed
package) and in extra directories given on the command line (`run --app-dir DIR`), each holding
one service: service.toml, requirements.txt and its code. An app runs with the harness's own
interpreter (`environment = "harness"`, the default under apps/: its packages are installed beside
the harness) or in a cached environment built from its requirements.txt (`environment = "own"`,
the default for --app-dir; harness.measure.envs).
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import re
import signal
import sys
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import locations
from harness.config import settings
from harness.errors import UsageError
from harness.measure import envs, procs
from harness.measure.postgres import redact_text as postgres_redact

APPS_DIR = locations.APPS_DIR
HOST = "127.0.0.1"
# Variables of the caller's shell that would tune one stack and not the others (gunicorn reads
# GUNICORN_CMD_ARGS, uvicorn UVICORN_*, Python PYTHONDEVMODE...): never passed to an app.
FOREIGN_TUNING = ("GUNICORN_", "UVICORN_", "PYTHON", "DATABASE_URL")
ENVIRONMENTS = ("harness", "own")
KEYS = ("name", "description", "server", "port", "command", "settings", "packages", "reference",
        "environment", "contract", "health")
# A variant ([variants.NAME] in service.toml) is the app run another way: other pinned versions
# (its own requirements file, hence its own environment), another command or module, extra
# server arguments, fixed settings. It is an app of its own, named APP@NAME.
VARIANT_KEYS = ("description", "requirements", "command", "args", "env", "settings", "packages",
                "contract")
VARIANT_SEP = "@"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # as scenario files spell app names
# `run --own-envs` sets this while it runs: every app it starts, the ceilings' reference app
# included, runs in its own environment whatever its service.toml says.
OWN_ENVS = False


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
    environment: str = "harness"  # "harness": the harness's interpreter; "own": a cached env
    contract: bool = True  # implements contract/openapi.yaml: verified against it before a run
    health: str = "/health"  # answers 2xx once the app is ready
    python: str | None = None  # the interpreter, once resolved (with_environment)
    variant_of: str | None = None  # the app this is a variant of (its name is APP@VARIANT)
    requirements_file: str = "requirements.txt"  # beside service.toml
    fixed_settings: tuple[tuple[str, str], ...] = ()  # a variant's (before the scenario's app_env)
    args: tuple[str, ...] = ()  # appended to the command

    @property
    def requirements(self) -> Path:
        return self.directory / self.requirements_file

    @property
    def fixed(self) -> dict[str, str]:
        """The settings this variant fixes."""
        return dict(self.fixed_settings)

    @property
    def own_env(self) -> bool:
        """It runs in its own environment (its service.toml, or `run --own-envs`)."""
        return self.environment == "own" or OWN_ENVS

    def interpreter(self) -> str:
        """The Python that runs the app: {python} in its command."""
        if self.python:
            return self.python
        if self.own_env:
            return str(envs.ensure(envs.Requirements.from_file(self.requirements),
                                   label=self.name).python)
        return sys.executable

    def env(self) -> envs.Env | None:
        """Its own cached environment (built or not), or None when it uses the harness's."""
        if not self.own_env:
            return None
        return envs.locate(envs.Requirements.from_file(self.requirements))

    def argv(self, port: int | str, host: str = HOST) -> list[str]:
        fill = {"python": self.interpreter(), "host": host, "port": str(port)}
        return [part.format(**fill) for part in (*self.command, *self.args)]

    def package_version(self, name: str) -> str | None:
        """The version of a package as this app sees it (its own environment, or the
        harness's)."""
        own = self.env()
        if own is not None:
            return own.version(name)
        return package_version(name)

    def server_version(self) -> str:
        return f"{self.server} {self.package_version(self.server)}"

    def pinned(self) -> list[tuple[str, str]]:
        """(package, version specifier) of each line of its requirements.txt; [] without one."""
        if not self.requirements.is_file():
            return []
        return envs.Requirements.from_file(self.requirements).entries()

    def missing(self) -> list[str]:
        """Its required packages the harness's interpreter lacks (when it runs there)."""
        if self.own_env:
            return []
        return [name for name, _ in self.pinned() if package_version(name) is None]


def package_version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def discover(apps_dir: str | Path = APPS_DIR, reference: bool = False,
             extra: Iterable[str | Path] = ()) -> dict[str, Service]:
    """The candidate apps by name: folders of `apps_dir` with a service.toml, then each
    directory of `extra` (one service each, in its own environment unless it says otherwise).
    `reference=True`: the ceilings instead."""
    found: dict[str, Service] = {}
    for path in sorted(Path(apps_dir).glob("*/service.toml")):
        for service in load_all(path):
            if service.reference == reference:
                found[service.name] = service
    for directory in extra:
        for service in load_all(_service_file(directory), environment="own"):
            if service.name in found:
                raise UsageError(f"--app-dir {directory}: an app named '{service.name}' exists "
                                 f"already ({found[service.name].directory}); set another "
                                 "`name` in its service.toml")
            if service.reference == reference:
                found[service.name] = service
    return found


def is_variant(name: str) -> bool:
    return VARIANT_SEP in name


def _service_file(directory: str | Path) -> Path:
    path = Path(directory).expanduser().resolve()
    if not (path / "service.toml").is_file():
        raise UsageError(f"--app-dir {directory}: no service.toml there (see docs/own-service.md)")
    service = load(path / "service.toml", environment="own")
    if service.environment == "own" and not service.requirements.is_file():
        raise UsageError(f"--app-dir {directory}: no requirements.txt beside its service.toml "
                         "(it runs in its own environment, built from that file)")
    return path / "service.toml"


def load_dir(directory: str | Path) -> Service:
    """The one service of an --app-dir directory."""
    return load(_service_file(directory), environment="own")


def load_all(path, environment: str = "harness") -> list[Service]:
    """A service.toml's service, then its variants."""
    service = load(path, environment)
    try:
        tables = tomllib.loads(Path(path).read_text()).get("variants", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: invalid service declaration ({exc!r})") from None
    return [service, *(variant(service, name, table, path) for name, table in tables.items())]


def variant(base: Service, name: str, table: Any, path: Any) -> Service:
    """The service `base` run as its [variants.NAME] table says."""
    where = f"{path}: [variants.{name}]"
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(f"{where}: name: use letters, digits, '_', '.' or '-'")
    if not isinstance(table, dict):
        raise UsageError(f"{where}: must be a table of {', '.join(VARIANT_KEYS)}")
    unknown = sorted(set(table) - set(VARIANT_KEYS))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; allowed keys: "
                         f"{', '.join(VARIANT_KEYS)}")

    def strings(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = table.get(key, default)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{where}: {key}: a list of strings")
        return tuple(value)

    env = table.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, (str, int))
                                            for k, v in env.items()):
        raise UsageError(f"{where}: env: a table of SETTING = value")
    knobs = strings("settings", base.knobs)
    unread = sorted(set(env) - set(knobs))
    if unread:
        raise UsageError(f"{where}: env: {unread[0]} is not among the settings it reads "
                         f"({', '.join(knobs)})")
    requirements = table.get("requirements", base.requirements_file)
    if not isinstance(requirements, str) or not (base.directory / requirements).is_file():
        raise UsageError(f"{where}: requirements: a file beside service.toml "
                         f"(got {requirements!r})")
    contract = table.get("contract", base.contract)
    if not isinstance(contract, bool):
        raise UsageError(f"{where}: contract: true or false")
    description = table.get("description", base.description)
    if not isinstance(description, str):
        raise UsageError(f"{where}: description: text")
    return dataclasses.replace(
        base, name=f"{base.name}{VARIANT_SEP}{name}", description=description,
        command=strings("command", base.command), args=strings("args", ()), knobs=knobs,
        packages=strings("packages", base.packages), contract=contract, variant_of=base.name,
        requirements_file=requirements,
        fixed_settings=tuple((k, str(v)) for k, v in env.items()),
        # other pinned versions need an environment of their own
        environment="own" if requirements != base.requirements_file else base.environment)


def load(path, environment: str = "harness") -> Service:
    """One service.toml; `environment` is the default of its `environment` key."""
    try:
        data = tomllib.loads(Path(path).read_text())["service"]
        unknown = sorted(set(data) - set(KEYS))
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}; allowed keys: {', '.join(KEYS)}")
        name = data.get("name", Path(path).parent.name)
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"name {name!r}: use letters, digits, '_', '.' or '-' (set `name`)")
        environment = data.get("environment", environment)
        if environment not in ENVIRONMENTS:
            raise ValueError(f"environment {environment!r}: choose {' or '.join(ENVIRONMENTS)}")
        health = data.get("health", "/health")
        if not isinstance(health, str) or not health.startswith("/"):
            raise ValueError(f"health {health!r}: a path starting with '/'")
        contract = data.get("contract", True)
        if not isinstance(contract, bool):
            raise TypeError(f"contract {contract!r}: true or false")
        return Service(
            name=name, directory=Path(path).parent, description=data["description"],
            server=data["server"], port=int(data["port"]), command=tuple(data["command"]),
            knobs=tuple(data.get("settings", ())), packages=tuple(data.get("packages", ())),
            reference=bool(data.get("reference")), environment=environment, contract=contract,
            health=health,
        )
    except (OSError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: invalid service declaration ({exc!r})") from None


def with_environment(service: Service, own: bool = False,
                     log: Callable[[str], None] | None = None) -> Service:
    """The service with its interpreter resolved: its own environment built (or found in the
    cache) when it has one or `own` asks for one, else the harness's interpreter."""
    if own and service.environment != "own":
        if not service.requirements.is_file():
            raise UsageError(f"{service.name}: no requirements.txt in {service.directory} to "
                             "build its own environment from")
        service = dataclasses.replace(service, environment="own")
    if service.environment != "own":
        return dataclasses.replace(service, python=sys.executable)
    env = envs.ensure(envs.Requirements.from_file(service.requirements), label=service.name,
                      log=log)
    return dataclasses.replace(service, python=str(env.python))


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
    """Start one app and wait for its health check (GET /health by default) to answer 2xx."""
    running = launch(service, database_url, port, log_path, overrides)
    try:
        wait_healthy(running, ready_timeout)
    except BaseException:
        stop(running)
        raise
    return running


def stop(*running, kill=False):
    """Stop apps together: their graceful shutdowns overlap instead of adding up. `kill`: at
    once, for an app that is stuck and would never finish shutting down."""
    processes = [r.process for r in running if r.process is not None]
    if kill:
        procs.stop(*processes, timeout=2, sig=signal.SIGKILL)
    else:
        procs.stop(*processes, timeout=15)


def wait_healthy(running, timeout):
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if running.process is not None and running.process.poll() is not None:
            tail = postgres_redact(running.read_log()[-800:]).strip().splitlines()[-3:]
            raise RuntimeError(
                f"{running.service.name} exited during start-up: {' | '.join(tail)}")
        status = health(running.base_url, path=running.service.health)
        if status is not None and 200 <= status < 300:
            return
        last = f"{running.service.health} answered {status}" if status else "no answer"
        time.sleep(0.025)  # a refused connection on loopback costs well under a millisecond
    raise RuntimeError(f"{running.service.name} not healthy after {timeout:.0f} s ({last})")


def health(base_url, timeout=2.0, path="/health"):
    """Status of GET `path` (the app's health check), or None when nothing answers."""
    host, port = base_url.split("//", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port.rstrip("/")), timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
