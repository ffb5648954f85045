"""Cached Python environments, one per set of requirements.

An app that runs in its own environment (an `--app-dir` service, or `environment = "own"` in a
service.toml) and, later, each version variant of an app get a virtual environment built from
their requirements. An environment is keyed by the hash of the requirements (with the files they
include through -r/-c) and of the Python it is built for, so that the same requirements are
installed once per machine and different ones never share an environment:

    $XDG_CACHE_HOME/ffbench/envs/<key>/      (default ~/.cache/ffbench/envs/<key>/)
        bin/python ...                       the virtual environment
        requirements.txt                     what was installed
        ffbench-env.json                     written last: the build completed (versions inside)
    $XDG_CACHE_HOME/ffbench/envs/<key>.log   the installer's output

It is built in place under a lock (two runs wanting it wait for one build), with uv when it is
installed and `python -m venv` + pip otherwise. The marker file is written last, so an
interrupted or failed build is removed and redone, never used.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError

MARKER = "ffbench-env.json"
BUILD_TIMEOUT_S = 1800.0
_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)\s*$")
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*?)\s*(;.*)?$")
# Run inside a built environment: the version of every installed distribution.
_VERSIONS = ("import importlib.metadata as m, json; "
             "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")


class EnvError(UsageError):
    """An environment could not be built: one line naming its log."""


def normalize_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): 'Flask_SQLAlchemy' -> 'flask-sqlalchemy'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _lines(text: str) -> list[str]:
    """Requirement lines without blanks, comments and line continuations."""
    text = text.replace("\\\n", "")
    out = []
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line:
            out.append(line)
    return out


@dataclass(frozen=True)
class Requirements:
    """A set of requirements in pip's requirements-file syntax.

    `text` is what gets installed; `base` is the directory its relative references (-r FILE, a
    local path) resolve from; `included` holds the normalised lines of the files it includes, so
    that editing an included file changes the key too. Local packages a requirement points to
    (`./mypkg`) are not hashed: bump a version or the requirements when they change."""

    text: str
    base: Path
    source: Path | None = None  # the file it was read from, installed as is
    included: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (option, lines) per included file

    @classmethod
    def from_file(cls, path: str | Path) -> Requirements:
        path = Path(path).resolve()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{path}: cannot read requirements ({exc.strerror})") from None
        return cls(text=text, base=path.parent, source=path,
                   included=tuple(_included(text, path.parent, {path})))

    @classmethod
    def from_text(cls, text: str, base: str | Path) -> Requirements:
        """Requirements that exist as text only (a variant of an app's requirements)."""
        base = Path(base).resolve()
        return cls(text=text, base=base, included=tuple(_included(text, base, set())))

    def lines(self) -> list[str]:
        return _lines(self.text)

    def entries(self) -> list[tuple[str, str]]:
        """(distribution name, version specifier) of each requirement, those of -r files
        included: [('fastapi', '==0.165.0'), ('uvicorn', '==0.54.0'), ...]."""
        out = []
        for option, lines in (("-r", self.lines()), *self.included):
            if option not in ("-r", "--requirement"):
                continue  # a constraints file installs nothing by itself
            for line in lines:
                if line.startswith("-"):
                    continue
                match = _ENTRY.match(line)
                if match:
                    out.append((match.group(1), match.group(3).replace(" ", "")))
        return out

    def key(self, python: PythonInfo) -> str:
        payload = {"requirements": self.lines(), "included": [list(i) for i in self.included],
                   "python": python.version, "implementation": python.implementation,
                   "machine": python.machine}
        data = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(data).hexdigest()[:16]


def _included(text: str, base: Path, seen: set[Path]) -> list[tuple[str, tuple[str, ...]]]:
    out: list[tuple[str, tuple[str, ...]]] = []
    for line in _lines(text):
        match = _INCLUDE.match(line)
        if not match:
            continue
        path = (base / match.group(2)).resolve()
        if path in seen:
            continue
        try:
            sub = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the requirements it includes "
                             f"({exc.strerror})") from None
        out.append((match.group(1), tuple(_lines(sub))))
        out.extend(_included(sub, path.parent, seen | {path}))
    return out


@dataclass(frozen=True)
class PythonInfo:
    """The interpreter an environment is built from."""

    executable: str
    version: str  # 3.11.7
    implementation: str  # cpython
    machine: str  # x86_64

    @classmethod
    def current(cls) -> PythonInfo:
        return cls(sys.executable, platform.python_version(),
                   sys.implementation.name, platform.machine())

    @classmethod
    def of(cls, executable: str) -> PythonInfo:
        if executable == sys.executable:
            return cls.current()
        code = ("import json, platform, sys; print(json.dumps([platform.python_version(), "
                "sys.implementation.name, platform.machine()]))")
        try:
            out = subprocess.run([executable, "-c", code], capture_output=True, text=True,
                                 timeout=30, check=True).stdout
            version, implementation, machine = json.loads(out)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            raise UsageError(f"{executable}: not a usable Python ({exc})") from None
        return cls(executable, version, implementation, machine)


@dataclass(frozen=True)
class Env:
    key: str
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def log(self) -> Path:
        return self.path.with_name(self.path.name + ".log")

    @property
    def marker(self) -> Path:
        return self.path / MARKER

    def ready(self) -> bool:
        """Completely built, and its interpreter still runs from here."""
        return self.marker.is_file() and os.access(self.python, os.X_OK)

    def info(self) -> dict[str, Any]:
        try:
            data = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def versions(self) -> dict[str, str]:
        """Installed distributions, by normalised name."""
        return dict(self.info().get("packages") or {})

    def version(self, name: str) -> str | None:
        return self.versions().get(normalize_name(name))


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/ffbench/envs, or ~/.cache/ffbench/envs."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "ffbench" / "envs"


def locate(requirements: Requirements, python: str | None = None,
           cache: str | Path | None = None) -> Env:
    """Where the environment for these requirements lives (built or not); changes nothing."""
    info = PythonInfo.of(python or sys.executable)
    key = requirements.key(info)
    return Env(key, Path(cache or cache_dir()) / key)


def find_uv() -> str | None:
    """The uv binary: on PATH, or installed as the `uv` package in the harness's environment."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError, AttributeError):
        return None


def ensure(requirements: Requirements, python: str | None = None,
           cache: str | Path | None = None, label: str = "",
           log: Callable[[str], None] | None = None, use_uv: bool | None = None) -> Env:
    """The environment for `requirements`, built first if it is not in the cache.

    `python` is the interpreter to build from (default: the harness's), `label` names what needs
    it in messages, `log` receives one line when a build starts and one when it ends, `use_uv`
    forces (True) or forbids (False) uv; by default uv is used when it is installed. A failed
    build raises EnvError (one line, naming the installer's log) and leaves nothing behind."""
    python = python or sys.executable
    env = locate(requirements, python, cache)
    if env.ready():
        return env
    env.path.parent.mkdir(parents=True, exist_ok=True)
    with open(env.path.with_name(env.key + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run building it: wait, then use its build
        if env.ready():
            return env
        uv = find_uv() if use_uv in (None, True) else None
        if use_uv and uv is None:
            raise EnvError("uv was asked for but is not installed (pip install uv)")
        name = label or str(requirements.source or "requirements")
        say = log or (lambda _line: None)
        say(f"{name}: building its environment with {'uv' if uv else 'venv + pip'} in "
            f"{env.path} (once; cached)")
        t0 = time.monotonic()
        try:
            _build(env, requirements, python, uv)
        except EnvError as exc:
            shutil.rmtree(env.path, ignore_errors=True)
            raise EnvError(f"{name}: {exc}") from None
        except BaseException:
            shutil.rmtree(env.path, ignore_errors=True)
            raise
        say(f"{name}: environment ready in {time.monotonic() - t0:.0f} s")
    return env


def _build(env: Env, requirements: Requirements, python: str, uv: str | None) -> None:
    if env.path.exists():
        shutil.rmtree(env.path)  # what an interrupted build left (uv refuses an existing dir)
    copy = env.path / "requirements.txt"  # written once the venv exists
    source = requirements.source or copy
    steps: list[tuple[str, list[str]]]
    if uv:
        steps = [("uv venv", [uv, "venv", "--quiet", "--python", python, str(env.path)]),
                 ("uv pip", [uv, "pip", "install", "--python", str(env.python),
                             "-r", str(source)])]
    else:
        steps = [("venv", [python, "-m", "venv", str(env.path)]),
                 ("pip", [str(env.python), "-m", "pip", "install",
                          "--disable-pip-version-check", "--no-input", "-r", str(source)])]
    child_env = {k: v for k, v in os.environ.items()
                 if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    with open(env.log, "w") as out:
        for what, step in steps:
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            try:
                proc = subprocess.run(step, cwd=requirements.base, env=child_env, stdout=out,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      timeout=BUILD_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                raise EnvError(f"building {env.path} took over {BUILD_TIMEOUT_S:.0f} s; "
                               f"log: {env.log}") from None
            if proc.returncode != 0:
                raise EnvError(f"building the environment failed ({what} exited "
                               f"{proc.returncode}: {_last_line(env.log)}); log: {env.log}")
            if not copy.exists() and env.path.is_dir():
                copy.write_text(requirements.text)
    versions = subprocess.run([str(env.python), "-c", _VERSIONS], capture_output=True,
                              text=True, timeout=60, check=True).stdout
    marker = {"key": env.key, "python": python, "installer": "uv" if uv else "pip",
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "requirements": requirements.lines(),
              "packages": {normalize_name(k): v for k, v in json.loads(versions).items()}}
    tmp = env.marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n")
    tmp.replace(env.marker)


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
    except OSError:
        return "no output"
    errors = [ln for ln in lines if ln.startswith("ERROR") or "error:" in ln.lower()]
    return (errors or [ln for ln in lines if ln] or ["no output"])[-1][:200]
