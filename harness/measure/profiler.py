"""py-spy sampling an app's processes while a load runs (scenario key `profile`).

`Recording(pid, out, seconds)` is a context manager around the load: on entering, py-spy starts
and attaches to the app's server process and its workers; on leaving, it is stopped and its
collapsed stacks are in `out`. py-spy runs in its own process group (procs.start), so it is
stopped with everything else on an error, Ctrl-C or SIGTERM, and by the leftovers watchdog
after a SIGKILL.

py-spy is asked for more seconds than the load and stopped with SIGINT when the load ends (on
SIGINT it writes what it has): its samples cover the load even when it runs behind, which it
does on an app with many threads, as it samples every thread each time. Every step is bounded:
ATTACH_S to attach, WRITE_S to write after SIGINT; then the group is killed.
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from subprocess import TimeoutExpired
from typing import Self

from harness.measure import postgres, procs
from harness.model import stacks

RATE_HZ = 100  # samples per second of every thread: py-spy's default
# Every thread, idle ones too (their waiting is a layer of its own), with native frames: the
# C parts of the drivers, the event loop and the garbage collector, and whether a thread is
# blocked in a system call, are visible only there.
FLAGS = ("--subprocesses", "--idle", "--native", "--format", "raw")
ATTACH_S = 10.0
WRITE_S = 15.0
SPARE_S = 60  # asked beyond the load: py-spy stops by itself if it is never told to
READY = "Sampling process"  # py-spy's line once attached


def executable() -> str | None:
    """py-spy beside this Python (a venv's bin/, as requirements.txt installs it), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Sampled:
    samples: int | None  # stacks written; None: no profile
    seconds: float | None  # from attach to stop
    error: str | None = None


class Recording:
    def __init__(self, pid: int, out: str | Path, seconds: float, rate: int = RATE_HZ,
                 cpus: list[int] | None = None):
        self.pid, self.out, self.seconds, self.rate = pid, Path(out), seconds, rate
        self.cpus = cpus
        self.log = self.out.with_suffix(".log")
        self.error: str | None = None  # set on entering when py-spy did not attach
        self._proc = None
        self._t0: float | None = None
        self._result = Sampled(None, None, "not sampled")

    def __enter__(self) -> Self:
        found = executable()
        if found is None:
            self.error = "py-spy not found (pip install py-spy; requirements.txt has it)"
            return self
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.unlink(missing_ok=True)
        self.log.unlink(missing_ok=True)
        argv = [found, "record", "--pid", str(self.pid), "--rate", str(self.rate),
                "--duration", str(int(self.seconds) + SPARE_S), *FLAGS, "-o", str(self.out)]
        self._proc = proc = procs.start(argv, log_path=str(self.log), cpus=self.cpus)
        deadline = time.monotonic() + ATTACH_S
        while time.monotonic() < deadline:
            if READY in self._said():
                self._t0 = time.monotonic()
                return self
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        self.error = "py-spy could not sample the app: " + (
            self._last_line() or f"not attached within {ATTACH_S:.0f} s")
        self._stop()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None or self.error is not None:
            self._result = Sampled(None, None, self.error)
            return
        seconds = round(time.monotonic() - (self._t0 or time.monotonic()), 2)
        if exc[0] is not None:  # an error or an interruption: stopped at once, nothing read
            procs.stop(self._proc, timeout=2)
            return
        self._stop()
        try:
            text = postgres.redact_text(self.out.read_text(errors="replace"))
            self.out.write_text(text)  # no password of a command line left in the stacks
            count = stacks.total(stacks.parse(text))
        except OSError:
            count = 0
        if not count:
            self._result = Sampled(None, seconds, "py-spy wrote no samples: " + (
                self._last_line() or "no message"))
            return
        self._result = Sampled(count, seconds)

    def outcome(self) -> Sampled:
        return self._result

    def _stop(self) -> None:
        """SIGINT (py-spy writes its file), WRITE_S to do so, then the group is stopped."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            procs.signal_group(proc.pid, signal.SIGINT)
            with suppress(TimeoutExpired):  # then killed below
                proc.wait(timeout=WRITE_S)
        procs.stop(proc, timeout=2)

    def _said(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def _last_line(self) -> str:
        lines = [ln.removeprefix("py-spy> ").strip() for ln in self._said().splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith(READY)]
        return postgres.redact_text(lines[-1])[:300] if lines else ""
