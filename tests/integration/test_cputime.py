"""Exact CPU time against real processes: what the meter reads from /proc equals what the
processes themselves report (getrusage; PostgreSQL's own EXPLAIN ANALYZE timings)."""

import json
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit

import psycopg2

from harness.measure import cputime, sampler

SPIN = """
import resource, sys, time
end = time.process_time() + float(sys.argv[1])
while time.process_time() < end:
    pass
r = resource.getrusage(resource.RUSAGE_SELF)
print(r.ru_utime + r.ru_stime, flush=True)
"""

# An app-like tree: a parent that, once told to go, starts two workers (one exits after 0.3 s,
# before the meter's first reading at 0.5 s; one after 1 s), spins itself, reaps them, and
# reports the CPU its whole tree used since "go". With "orphan", a worker double-forks instead:
# its grandchild outlives its parent and is reaped by init, not by anyone in the tree.
APP = """
import json, os, resource, subprocess, sys, time
SPIN = sys.argv[1]

def spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

def used(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime

print("ready", flush=True)
sys.stdin.readline()
self0, kids0 = used(resource.RUSAGE_SELF), used(resource.RUSAGE_CHILDREN)
if sys.argv[2] == "workers":
    workers = [subprocess.Popen([sys.executable, "-c", SPIN, s], stdout=subprocess.PIPE)
               for s in ("0.3", "1.0")]
    spin(0.2)
    reported = sum(float(w.communicate()[0]) for w in workers)
else:
    middle = os.fork()
    if middle == 0:
        if os.fork() == 0:
            spin(0.8)
            print(json.dumps({"orphan": used(resource.RUSAGE_SELF)}), flush=True)
            os._exit(0)
        time.sleep(0.4)  # long enough for the meter to see the grandchild in the tree
        os._exit(0)
    os.waitpid(middle, 0)
    reported = None
print(json.dumps({"tree": used(resource.RUSAGE_SELF) - self0
                  + used(resource.RUSAGE_CHILDREN) - kids0, "workers": reported}), flush=True)
sys.stdin.readline()
"""

QUERY = ("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) SELECT count(*) "
         "FROM generate_series(1, 3000) a, generate_series(1, 1000) b")

# A database client: one session that works before the window (that CPU must not count) and
# during it, and a second session opened during the window (counted from 0). It reports the
# time PostgreSQL itself says it spent planning and executing the queries of the window.
CLIENT = """
import json, sys, psycopg2
url, query = sys.argv[1], sys.argv[2]

def run(conn):
    with conn.cursor() as cur:
        cur.execute(query)
        plan = cur.fetchone()[0][0]
    return (plan["Planning Time"] + plan["Execution Time"]) / 1000

import os
TICK = os.sysconf("SC_CLK_TCK")

def backend_cpu(conn):
    # The backend's own counters, read here: the reference the meter must match however busy
    # the machine is (under contention a query's wall time exceeds its CPU time).
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK

first = psycopg2.connect(url)
first.autocommit = True
run(first)
print("ready", flush=True)
sys.stdin.readline()
before = backend_cpu(first)
spent = run(first) + run(first)
cpu = backend_cpu(first) - before
second = psycopg2.connect(url)  # new in the window: counted from its start
second.autocommit = True
spent += run(second)
cpu += backend_cpu(second)
print(json.dumps({"query_s": spent, "cpu_s": cpu}), flush=True)
sys.stdin.readline()
"""


def _start(args):
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _go(proc):
    proc.stdin.write("go\n")
    proc.stdin.flush()


def _finish(proc):
    proc.stdin.close()
    proc.wait(timeout=10)


def _close(actual, expected, tolerance=0.05):
    """Both come from the same kernel counters, /proc rounded to clock ticks per process."""
    return abs(actual - expected) <= tolerance + 0.05 * expected


def test_app_tree_and_load_generator_cpu_equal_what_they_report(database_url, tmp_path):
    fake_wrk = tmp_path / "wrk"  # a process named wrk, as the meter finds wrk, that reports
    fake_wrk.symlink_to(sys.executable)
    app = _start([sys.executable, "-c", APP, SPIN, "workers"])
    try:
        with sampler.Sampler(app.pid, database_url, urlsplit(database_url).port) as s:
            _go(app)
            # Reaped by this process, as the harness reaps wrk: its last moments still count.
            load = float(subprocess.run([str(fake_wrk), "-c", SPIN, "0.6"], capture_output=True,
                                        text=True, check=True).stdout)
            reported = json.loads(app.stdout.readline())
        cpu = s.cpu_time()
    finally:
        _finish(app)
    assert reported["tree"] > 1.4 and reported["workers"] > 1.2
    assert _close(cpu.app_s, reported["tree"]), (cpu, reported)
    assert _close(cpu.load_s, load), (cpu, load)
    assert cpu.db_s == 0.0  # a local server, and no session of the app
    assert cpu.wall_s >= 1.0
    samples = s.summary(cpus=2)
    assert samples.series["app_cpu_pct"].peak > 10  # sampled: the busy tree shows (a shared machine)
    assert "wrk_cpu_pct" in samples.series


def test_orphan_that_exits_loses_at_most_one_interval(database_url):
    app = _start([sys.executable, "-c", APP, SPIN, "orphan"])
    interval = 0.2
    try:
        with sampler.Sampler(app.pid, database_url, urlsplit(database_url).port,
                             interval=interval) as s:
            _go(app)
            lines = [json.loads(app.stdout.readline()) for _ in range(2)]
            time.sleep(interval)  # the orphan is gone: nothing more to read
        cpu = s.cpu_time()
    finally:
        _finish(app)
    tree = next(x["tree"] for x in lines if "tree" in x)
    orphan = next(x["orphan"] for x in lines if "orphan" in x)
    assert orphan >= 0.8
    expected = tree + orphan
    assert expected - interval - 0.05 <= cpu.app_s <= expected + 0.05, (cpu, tree, orphan)


def test_postgres_backends_cpu_equals_the_time_postgres_spent(database_url):
    client = _start([sys.executable, "-c", CLIENT, database_url, QUERY])
    try:
        with sampler.Sampler(client.pid, database_url, urlsplit(database_url).port,
                             interval=0.2) as s:
            _go(client)
            line = json.loads(client.stdout.readline())
        cpu = s.cpu_time()
    finally:
        _finish(client)
    reported, own = line["query_s"], line["cpu_s"]
    assert reported > 0.2 and own > 0.2
    # The backends' own counters, read by the client around its queries: the meter found the
    # client's two backends and took the right deltas (one tick of rounding each way).
    assert own - 0.03 <= cpu.db_s <= own + 0.03 + 0.05 * own, (cpu, own)
    # And the queries' wall time bounds their CPU time from above.
    assert cpu.db_s <= reported + 0.03 + 0.05 * reported, (cpu, reported)
    assert cpu.app_s < cpu.db_s  # the client waits on the server


def test_a_pid_is_taken_for_a_backend_only_if_it_is_that_backend(database_url):
    conn = psycopg2.connect(database_url)
    try:
        pid, start = sampler.own_backend(conn)
        assert cputime.backend_stat(pid, start) is not None
        assert cputime.backend_stat(pid, start - 60) is None  # another process with that pid
        assert cputime.backend_stat(os.getpid(), time.time()) is None  # not postgres
    finally:
        conn.close()


def test_embedded_postgres_and_its_backends_run_on_the_cpus_given(tmp_path):
    from harness.measure import postgres

    cpu = max(os.sched_getaffinity(0))
    with postgres.embedded(log_dir=str(tmp_path), cpus=[cpu]) as url:
        conn = psycopg2.connect(url)
        try:
            pid, _ = sampler.own_backend(conn)
            assert os.sched_getaffinity(pid) == {cpu}  # forked by a pinned postmaster
        finally:
            conn.close()
