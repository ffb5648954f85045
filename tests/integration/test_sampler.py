"""Evidence from the real database: sessions matched to a process tree, and settling."""

import subprocess
import time
from urllib.parse import urlsplit

import psycopg2

from harness.measure import sampler


def _psql(database_url):
    """A real client process holding one session, driven through its stdin."""
    return subprocess.Popen(["psql", "-X", "-q", database_url], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)


def _wait_for_state(database_url, proc, port, state):
    conn = psycopg2.connect(database_url)
    conn.autocommit = True  # pg_stat_activity is a snapshot frozen for a transaction's duration
    try:
        for _ in range(100):
            if state in sampler.pg_states(conn, sampler.process_tree(proc.pid), port):
                return
            time.sleep(0.05)
    finally:
        conn.close()
    raise AssertionError(f"psql never reached {state!r}")


def test_settle_waits_for_an_open_transaction_and_gives_up_at_the_timeout(database_url):
    port = urlsplit(database_url).port
    client = _psql(database_url)
    try:
        client.stdin.write("BEGIN; SELECT count(*) FROM users;\n")
        client.stdin.flush()
        _wait_for_state(database_url, client, port, "idle in transaction")
        t0 = time.monotonic()
        assert sampler.settle(database_url, client.pid, port, timeout=1.0) is None
        assert 1.0 <= time.monotonic() - t0 < 5
        client.stdin.write("COMMIT;\n")
        client.stdin.flush()
        seconds = sampler.settle(database_url, client.pid, port, timeout=5.0)
        assert seconds is not None and seconds < 5
    finally:
        client.stdin.close()
        client.wait(timeout=10)


def test_sampler_counts_only_the_sessions_of_its_process_tree(database_url):
    port = urlsplit(database_url).port
    mine, other = _psql(database_url), _psql(database_url)
    try:
        mine.stdin.write("BEGIN; SELECT 1;\n")
        mine.stdin.flush()
        other.stdin.write("SELECT 1;\n")
        other.stdin.flush()
        _wait_for_state(database_url, mine, port, "idle in transaction")
        with sampler.Sampler(mine.pid, database_url, port, interval=0.1) as s:
            time.sleep(0.5)
        summary = s.summary(cpus=2)
        assert summary["pg_idle_in_transaction"]["peak"] == 1
        assert summary["pg_idle"]["peak"] == 0  # the other client's session is not ours
        assert summary["app_rss_mb"]["peak"] > 0
        assert summary["profile_columns"][0] == "t" and summary["profile"]
    finally:
        for p in (mine, other):
            p.stdin.close()
            p.wait(timeout=10)


def test_without_a_matching_socket_settle_watches_the_whole_database(database_url):
    """Behind a container's port proxy no session matches the app's sockets: a transaction
    left open anywhere in the database (but the harness's own) still keeps settle waiting."""
    port = urlsplit(database_url).port
    client = _psql(database_url)
    app_without_sockets = subprocess.Popen(["sleep", "30"])
    try:
        client.stdin.write("BEGIN; SELECT 1;\n")
        client.stdin.flush()
        _wait_for_state(database_url, client, port, "idle in transaction")
        assert sampler.settle(database_url, app_without_sockets.pid, port, timeout=0.5) is None
        client.stdin.write("COMMIT;\n")
        client.stdin.flush()
        assert sampler.settle(database_url, app_without_sockets.pid, port, timeout=5) is not None
    finally:
        app_without_sockets.kill()
        app_without_sockets.wait()
        client.stdin.close()
        client.wait(timeout=10)
