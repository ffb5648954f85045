"""CPU layout planning, and a process started on a CPU set really pinned there."""

import os
import time

import pytest

from harness.measure import cpuset, cputime, procs


def _check(layout, ids):
    parts = [set(layout.app), set(layout.db), set(layout.load)]
    assert all(parts), layout
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]), layout
    assert parts[0] | parts[1] | parts[2] == set(ids)
    assert len(layout.app) >= len(layout.db) >= len(layout.load)


@pytest.mark.parametrize("n", [1, 2])
def test_below_three_cpus_everything_shares(n):
    for enabled in (None, True, False):
        layout = cpuset.plan(range(n), enabled)
        assert layout.shared and layout.app == layout.db == layout.load == []


def test_three_cpus_separate_only_when_asked():
    assert cpuset.plan(range(3)).shared
    layout = cpuset.plan(range(3), enabled=True)
    assert (layout.shared, layout.app, layout.db, layout.load) == (False, [0], [1], [2])


@pytest.mark.parametrize(("n", "sizes"), [(4, (2, 1, 1)), (5, (3, 1, 1)), (6, (3, 2, 1)),
                                          (8, (4, 2, 2)), (64, (32, 16, 16))])
def test_from_four_cpus_the_app_gets_half_and_postgres_the_odd_one(n, sizes):
    layout = cpuset.plan(range(n))
    assert not layout.shared
    assert (len(layout.app), len(layout.db), len(layout.load)) == sizes
    _check(layout, range(n))
    assert cpuset.plan(range(n), enabled=False).shared


def test_eight_cpus_in_contiguous_blocks():
    layout = cpuset.plan(range(8))
    assert (layout.app, layout.db, layout.load) == ([0, 1, 2, 3], [4, 5], [6, 7])


def test_odd_cpu_sets_use_the_ids_given():
    layout = cpuset.plan({7, 2, 5, 0})
    assert (layout.app, layout.db, layout.load) == ([0, 2], [5], [7])
    layout = cpuset.plan([3, 9, 10, 11, 40, 41])
    assert (layout.app, layout.db, layout.load) == ([3, 9, 10], [11, 40], [41])
    _check(layout, [3, 9, 10, 11, 40, 41])


def test_hyper_threads_of_a_core_stay_with_one_party():
    # Intel numbering: CPU i and i+4 are the two threads of core i.
    cores = {cpu: (0, cpu % 4) for cpu in range(8)}
    layout = cpuset.plan(range(8), cores=cores)
    assert (layout.app, layout.db, layout.load) == ([0, 1, 4, 5], [2, 6], [3, 7])


def test_this_machine_stays_within_the_affinity_of_the_process():
    mine = os.sched_getaffinity(0)
    for layout in (cpuset.plan(), cpuset.plan(64), cpuset.plan(os.cpu_count() or 1)):
        assert set(layout.app) | set(layout.db) | set(layout.load) <= mine
        assert layout.shared == (len(mine) < cpuset.DEFAULT_FROM)


def test_prefix_is_a_taskset_command_or_nothing():
    assert cpuset.prefix([]) == [] and cpuset.prefix(None) == []
    assert cpuset.prefix([3]) == ["taskset", "-c", "3"]
    assert cpuset.prefix([5, 0, 1, 2, 7, 8]) == ["taskset", "-c", "0-2,5,7-8"]


def test_started_process_and_its_children_are_pinned():
    cpu = max(os.sched_getaffinity(0))
    proc = procs.start(["sh", "-c", "sleep 5; true"], cpus=[cpu])
    try:
        # taskset pins itself, then execs sh in place: same pid, pinned before sh runs.
        deadline = time.monotonic() + 5
        while len(tree := cputime.descendants(cputime.scan(), proc.pid)) < 2:
            assert time.monotonic() < deadline, "sh never started sleep"
            time.sleep(0.02)
        assert cputime.read_stat(proc.pid).comm == "sh"
        assert all(os.sched_getaffinity(pid) == {cpu} for pid in tree)
    finally:
        procs.stop(proc, timeout=5)
    unpinned = procs.start(["sleep", "5"])
    try:
        assert os.sched_getaffinity(unpinned.pid) == os.sched_getaffinity(0)
    finally:
        procs.stop(unpinned, timeout=5)
