"""Stopping a process group the harness started, with real processes."""

import os
import sys
import time

from harness.measure import procs

# A leader that forks a worker which exits at once and is never reaped by the leader: a zombie
# in the group, as a killed app server's workers are once re-parented to PID 1.
LEADER = ("import os, time\n"
          "if os.fork() == 0:\n"
          "    os._exit(0)\n"
          "time.sleep(60)\n")


def _stat(pid):
    """(state, process group) from /proc/<pid>/stat; (None, None) once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None, None
    fields = text[text.rfind(b")") + 2:].split()
    return fields[0].decode(), int(fields[2])


def _state(pid):
    return _stat(pid)[0]


def _pgrp(pid):
    return _stat(pid)[1]


def test_a_group_left_with_zombies_only_is_stopped(tmp_path):
    proc = procs.start([sys.executable, "-c", LEADER], log_path=str(tmp_path / "log"))
    try:
        zombies = []
        for _ in range(100):  # until the worker has exited
            zombies = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                       if pid != proc.pid and _pgrp(pid) == proc.pid and _state(pid) == "Z"]
            if zombies:
                break
            time.sleep(0.05)
        assert zombies, "the worker never exited"
        assert procs.group_alive(proc.pid)  # the leader is alive
        procs.stop(proc, timeout=30)
        # the leader is reaped; what may remain of the group is the worker's zombie
        assert proc.returncode is not None
        assert not procs.group_alive(proc.pid)
        assert all(_state(p) in (None, "Z") for p in zombies)
    finally:
        if proc.poll() is None:
            procs.stop(proc, timeout=5, sig=9)



def test_a_zombie_is_not_a_live_member_of_its_group(tmp_path):
    """The leader exits and is not yet reaped: its group holds only a zombie, which holds no
    socket, memory or CPU (a container's bare PID 1 reaps orphans late or never)."""
    proc = procs.start(["true"], log_path=str(tmp_path / "log"))
    try:
        for _ in range(100):
            if _state(proc.pid) == "Z":
                break
            time.sleep(0.05)
        assert _state(proc.pid) == "Z"
        assert not procs.group_alive(proc.pid)
    finally:
        procs.stop(proc, timeout=5)
    assert proc.returncode == 0
