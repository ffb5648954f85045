"""What a result was measured on: hardware, OS, versions of every stack package and tool."""

import os
import platform
import re
import subprocess
from pathlib import Path

from harness import locations
from harness.measure import postgres
from harness.measure.services import package_version

HARNESS_PACKAGES = ("psycopg2-binary", "pyyaml", "pydantic", "numpy", "scipy")


def collect(service_list, database="embedded"):
    packages = sorted({p for s in service_list for p in s.packages} | set(HARNESS_PACKAGES))
    return {
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib(),
        "os": os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: package_version(name) for name in packages},
        "postgresql": postgres.version(),
        "wrk": wrk_version(),
        "database": database,
        **git_state(),
    }


def cpu_model():
    try:
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib():
    try:
        text = Path("/proc/meminfo").read_text()
        kib = int(re.search(r"^MemTotal:\s+(\d+)", text, re.MULTILINE).group(1))
        return round(kib / 2**20, 1)
    except (OSError, AttributeError):
        return None


def os_name():
    try:
        text = Path("/etc/os-release").read_text()
        match = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', text, re.MULTILINE)
        if match:
            return match.group(1)
    except OSError:
        pass
    return platform.platform()


def wrk_version():
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"wrk\s+\S*?(\d+\.\d+\.\d+)", out.stdout + out.stderr)
    return match.group(1) if match else None


def git_state():
    root = locations.ROOT

    def git(*args):
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                 timeout=5, check=False)
            return out.stdout.strip() if out.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(dirty) if dirty is not None else None}
