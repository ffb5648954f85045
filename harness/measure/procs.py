"""Start and stop the processes the harness owns, each in its own process group.

Only processes started here are ever signalled, by process group id, so nothing else on the
machine is touched. SIGTERM is turned into `Interrupted` so that every `with` block unwinds.
"""

import os
import signal
import subprocess
import sys
import time
from typing import Any

from harness.errors import Interrupted
from harness.measure import cpuset

_started: dict[int, subprocess.Popen] = {}
# Set by the CLI (harness.measure.leftovers.Registry): every process group started here is
# recorded, so that a watchdog or the next run can stop it if this process is SIGKILLed.
REGISTRY: Any = None


def start(cmd, *, cwd=None, env=None, log_path=None, user=None, cpus=None):
    """Start `cmd` in a new session (its own process group); output goes to `log_path`. With
    `cpus` it runs on those CPUs only, and so do its threads and children (taskset)."""
    cmd = [*cpuset.prefix(cpus), *cmd] if cpus else cmd
    # The child keeps its own copy of the descriptor; ours is closed right after the fork.
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, user=user,
        )
    finally:
        if log_path:
            log.close()
    _started[proc.pid] = proc
    if REGISTRY is not None:
        REGISTRY.add_group(proc.pid)
    return proc


def stop(*processes, timeout=10.0, sig=signal.SIGTERM):
    """Signal each whole process group, wait for every member, SIGKILL what is left."""
    for proc in processes:
        _signal(proc.pid, sig)  # start_new_session makes the leader's pid the group id
    deadline = time.monotonic() + timeout
    # uvicorn/gunicorn workers outlive their master by a moment: wait for the whole group.
    while time.monotonic() < deadline and any(group_alive(p.pid) for p in processes):
        for proc in processes:
            proc.poll()
        time.sleep(0.05)
    for proc in processes:
        if group_alive(proc.pid):
            _signal(proc.pid, signal.SIGKILL)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        _started.pop(proc.pid, None)
        if REGISTRY is not None:
            REGISTRY.drop_group(proc.pid)


def signal_group(pgid, sig):
    """Signal a process group started here, e.g. SIGINT to let py-spy write its file."""
    _signal(pgid, sig)


def _signal(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def stop_all():
    """Whatever is still running (after an error or a signal): the newest first."""
    for proc in reversed(list(_started.values())):
        try:
            stop(proc, timeout=5)
        except Exception as exc:  # noqa: BLE001 — keep stopping the others
            print(f"warning: could not stop pid {proc.pid}: {exc}", file=sys.stderr)


def group_alive(pgid):
    """True while a process of the group is more than a zombie.

    A worker whose master was killed is re-parented to PID 1 and stays a zombie until PID 1
    reaps it: at once under an init, never under a container's bare PID 1 (here: every kill of
    a stuck app waited out its full 2 s). A zombie holds no socket, memory or CPU: it is gone."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = list(os.scandir("/proc"))
    except OSError:
        return True  # no /proc to tell zombies apart: the group still has members
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                text = f.read()
        except OSError:
            continue  # exited meanwhile
        state, _ppid, pgrp = text[text.rfind(b")") + 2:].split(maxsplit=3)[:3]
        if int(pgrp) == pgid and state != b"Z":
            return True
    return False


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def install_signal_handlers():
    """Ctrl-C, SIGTERM and SIGHUP (a closed terminal) raise Interrupted in the main thread.

    The first one starts the clean-up; later ones are ignored so that they cannot cut it short
    (every stop is bounded by its own timeout, so the clean-up always ends)."""

    def handler(signum, frame):
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signal.Signals(signum).name)

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)
