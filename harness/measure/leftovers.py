"""Nothing left behind, even when the harness is SIGKILLed (OOM killer, a CI job's hard timeout).

Every process group and temporary directory the harness creates is recorded in a registry file
(one per harness process, under the system's temporary directory). Two things read it:

- a watchdog process started beside the harness, holding the read end of a pipe only the harness
  writes to: when the harness dies, however it dies, the pipe closes and the watchdog stops what
  the registry names, removes its directories, and exits;
- the next harness command, which finds any registry whose owner is gone (the watchdog may have
  been killed with it) and cleans up after it, saying so in one line.

Only what was recorded is touched: a process group counts as ours only while its leader still
has the start time recorded for it, so a recycled PID is never signalled.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.measure import postgres, procs

DIR = Path(tempfile.gettempdir()) / "harness-registry"


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text.rsplit(")", 1)[1].split()[19])


def _alive(pid: int, started: int | None) -> bool:
    return started is not None and start_time(pid) == started


class Registry:
    """This harness process's record of what it started."""

    def __init__(self, directory: Path = DIR):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.pid = os.getpid()
        self.path = directory / f"{self.pid}.json"
        self.data: dict = {"pid": self.pid, "start": start_time(self.pid), "groups": [],
                           "dirs": []}
        self._write()

    def add_group(self, pgid: int) -> None:
        self.data["groups"].append({"pgid": pgid, "start": start_time(pgid)})
        self._write()

    def drop_group(self, pgid: int) -> None:
        self.data["groups"] = [g for g in self.data["groups"] if g["pgid"] != pgid]
        self._write()

    def add_dir(self, path: str) -> None:
        self.data["dirs"].append(str(path))
        self._write()

    def drop_dir(self, path: str) -> None:
        self.data["dirs"] = [d for d in self.data["dirs"] if d != str(path)]
        self._write()

    def close(self) -> None:
        self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)


def clean(data: dict, grace: float = 3.0) -> tuple[int, list[str]]:
    """Stop the recorded process groups whose leaders are still the ones recorded, remove the
    recorded directories. Returns (groups stopped, directories removed)."""
    groups = [g["pgid"] for g in data.get("groups", []) if _alive(g["pgid"], g.get("start"))]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in groups:
            try:
                os.killpg(pgid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + grace
        while sig == signal.SIGTERM and time.monotonic() < deadline and any(
                procs.group_alive(p) for p in groups):
            time.sleep(0.05)
    removed = []
    for d in data.get("dirs", []):
        if os.path.isdir(d):
            # A cluster restarted mid-run (by a fault, or by hand with pg_ctl) runs under a
            # postmaster outside the recorded groups: stop it by its data directory first.
            postgres.stop_cluster(os.path.join(d, "data"), timeout=grace)
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return len(groups), removed


def sweep(directory: Path = DIR) -> list[str]:
    """Clean up after every registered harness process that is gone; one line per such run."""
    said: list[str] = []
    if not directory.is_dir():
        return said
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _alive(data.get("pid", -1), data.get("start")):
            continue  # a harness still running: not ours to touch
        groups, dirs = clean(data)
        path.unlink(missing_ok=True)
        if groups or dirs:
            said.append(f"cleaned up after an earlier harness (pid {data.get('pid')}) that was "
                        f"killed: stopped {groups} process group(s), removed {len(dirs)} "
                        f"director{'y' if len(dirs) == 1 else 'ies'}")
    return said


def start_watchdog(registry: Registry) -> int:
    """A process that cleans up what the registry names once this process is gone. Returns the
    write end of its pipe: keep it open for the life of the harness."""
    read, write = os.pipe()
    os.set_inheritable(read, True)
    subprocess.Popen([sys.executable, "-m", "harness.measure.leftovers", str(read),
                      str(registry.path)], pass_fds=(read,), start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    os.close(read)
    return write


def _watch(fd: int, registry_path: str) -> None:
    """Block until the harness's end of the pipe closes, then clean up what it left."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C to the terminal is the harness's
    while os.read(fd, 1):
        pass
    path = Path(registry_path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # the harness closed its registry: it cleaned up itself
    clean(data)
    path.unlink(missing_ok=True)


if __name__ == "__main__":
    _watch(int(sys.argv[1]), sys.argv[2])
