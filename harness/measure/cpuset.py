"""Where the app, PostgreSQL and the load generator run: disjoint CPU sets, or all shared.

Sizes: the app gets about half the CPUs (rounded up), since it is what is measured; the rest is
split between PostgreSQL and the load generator, PostgreSQL taking the odd one: per request it
parses, plans and runs a query (typically a third to a half of the app's CPU here), while wrk, an
event loop in C, spends an order of magnitude less. Every party keeps at least one CPU, so
separating needs 3. It is on by default from 4: on fewer, the app would be left with a single
core, so everything shares the CPUs (and the report says that wrk shares them with the app).

Hyper-threads of one physical core are kept together (ordered by package and core id), so that
two parties do not compete for one core's execution units.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterable, Mapping

from harness.errors import MissingTool
from harness.model.results import CpuLayout

DEFAULT_FROM = 4  # CPUs from which the layout is on unless disabled
MINIMUM = 3  # one CPU per party


def plan(cpus: int | Iterable[int] | None = None, enabled: bool | None = None, *,
         cores: Mapping[int, tuple[int, int]] | None = None) -> CpuLayout:
    """The layout over `cpus`: None for the CPUs this process may use (what a run uses), an int
    n for at most n of them (the lowest: os.cpu_count() may exceed a container's share), or
    explicit CPU ids (planning for another machine, tests). `enabled` None: on from
    DEFAULT_FROM CPUs. `cores` maps a CPU to its (package, core) to keep hyper-threads
    together: read from sysfs for this machine's CPUs; explicit ids count as one core each
    unless given."""
    if cpus is None or isinstance(cpus, int):
        ids = sorted(os.sched_getaffinity(0))[:cpus]
        cores = topology(ids) if cores is None else cores
    else:
        ids = sorted(set(cpus))
    on = len(ids) >= DEFAULT_FROM if enabled is None else enabled
    if not on or len(ids) < MINIMUM:
        return CpuLayout(shared=True)
    cores = cores or {}
    order = sorted(ids, key=lambda c: (cores.get(c, (-1, c)), c))
    n = len(order)
    app = min(math.ceil(n / 2), n - 2)
    db = math.ceil((n - app) / 2)
    return CpuLayout(shared=False, app=sorted(order[:app]), db=sorted(order[app:app + db]),
                     load=sorted(order[app + db:]))


def topology(ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """(package, core) of each CPU from sysfs; empty if any is missing (then none is used)."""
    out = {}
    for cpu in ids:
        base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
        try:
            with open(f"{base}/physical_package_id") as p, open(f"{base}/core_id") as c:
                out[cpu] = (int(p.read()), int(c.read()))
        except (OSError, ValueError):
            return {}
    return out


def cpu_list(cpus: Iterable[int]) -> str:
    """taskset's list syntax, with ranges: [0, 1, 2, 5] -> "0-2,5"."""
    ids = sorted(set(cpus))
    parts, i = [], 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(parts)


def prefix(cpus: Iterable[int] | None) -> list[str]:
    """The argv prefix that runs a command on `cpus` (empty for none: no pinning). taskset sets
    the affinity and then execs the command, so the pid, its threads and its children are all
    pinned from their first instruction (preexec_fn would be unsafe: the harness has threads)."""
    cpus = list(cpus or ())
    if not cpus:
        return []
    if shutil.which("taskset") is None:
        raise MissingTool("taskset not found: install it with `sudo apt-get install util-linux`")
    return ["taskset", "-c", cpu_list(cpus)]
