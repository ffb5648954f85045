"""Evidence from the real database: sessions matched to a process tree, settling, and a stuck
app (real sessions left idle in transaction at the pool limit) told apart from a busy one."""

import subprocess
import sys
import time
from urllib.parse import urlsplit

import psycopg2

from harness.measure import sampler
from harness.measure.kept import Kept


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
        assert sampler.settle(database_url, client.pid, port, timeout=1.0) == \
            sampler.SettleResult(None, stuck=False)
        assert 1.0 <= time.monotonic() - t0 < 5
        client.stdin.write("COMMIT;\n")
        client.stdin.flush()
        seconds = sampler.settle(database_url, client.pid, port, timeout=5.0).seconds
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
        assert summary.series["pg_idle_in_transaction"].peak == 1
        assert summary.series["pg_idle"].peak == 0  # the other client's session is not ours
        assert summary.series["app_rss_mb"].peak > 0
        assert summary.profile_columns[0] == "t" and summary.profile
        assert len(summary.profile[0]) == len(summary.profile_columns)
        assert not s.stuck  # no pool limit given: never called stuck
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
        assert sampler.settle(database_url, app_without_sockets.pid, port,
                              timeout=0.5).seconds is None
        # Beside the next cell's warmup, another app's open transaction is not this app's: only
        # its own sessions and its own CPU count.
        assert sampler.settle(database_url, app_without_sockets.pid, port, timeout=0.5,
                              own_only=True).seconds is not None
        client.stdin.write("COMMIT;\n")
        client.stdin.flush()
        assert sampler.settle(database_url, app_without_sockets.pid, port,
                              timeout=5).seconds is not None
    finally:
        app_without_sockets.kill()
        app_without_sockets.wait()
        client.stdin.close()
        client.wait(timeout=10)


# A fake app with POOL sessions: "stuck" leaves each idle in transaction and sleeps (the
# fastapi_sync deadlock); "progressing" keeps its transactions open too, and as idle, but runs a
# query in each every 0.1 s; "spinning" leaves them idle in transaction and works on the CPU.
# The app's real sockets are what the sampler matches.
POOL = 4
APP = """
import sys, time, psycopg2
url, mode = sys.argv[1], sys.argv[2]
conns = [psycopg2.connect(url) for _ in range(int(sys.argv[3]))]
for c in conns:
    c.cursor().execute("SELECT 1")  # psycopg2 opens the transaction: idle in transaction
print("ready", flush=True)
end = time.monotonic() + 30
while time.monotonic() < end:
    if mode == "progressing":
        for c in conns:
            c.cursor().execute("SELECT 1")
        time.sleep(0.1)
    elif mode == "spinning":
        pass
    else:
        time.sleep(0.1)
"""


def _app(database_url, mode, sessions=POOL):
    proc = subprocess.Popen([sys.executable, "-c", APP, database_url, mode, str(sessions)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _stop(proc):
    proc.kill()
    proc.wait(timeout=10)


def _watch(database_url, proc, seconds, pool_limit=POOL):
    with sampler.Sampler(proc.pid, database_url, urlsplit(database_url).port, interval=0.1,
                         pool_limit=pool_limit, stuck_after=0.6) as s:
        s.stuck_event.wait(seconds)
    return s


def test_a_stuck_app_is_recognised_while_the_load_runs(database_url):
    app = _app(database_url, "stuck")
    try:
        t0 = time.monotonic()
        s = _watch(database_url, app, seconds=5)
        assert s.stuck and 0.6 <= time.monotonic() - t0 < 2
        assert s.stuck_since is not None and s.stuck_since < 0.5
        samples = s.summary(cpus=2)
        assert samples.series["pg_idle_in_transaction"].peak == POOL
        # On average, as the watch judges it: one 10 ms clock tick charged in a 0.1 s sample
        # already reads 7-10% (it did under the full CI suite's load).
        assert samples.series["app_cpu_pct"].mean < 100 * sampler.STUCK_MAX_CPU
    finally:
        _stop(app)


def test_a_progressing_app_a_working_app_or_a_pool_below_its_limit_is_not_stuck(database_url):
    for mode, limit in (("progressing", POOL), ("spinning", POOL), ("stuck", POOL + 1)):
        app = _app(database_url, mode)
        try:
            s = _watch(database_url, app, seconds=1.2, pool_limit=limit)
            assert not s.stuck, mode
            series = s.summary(cpus=2).series
            assert series["pg_idle_in_transaction"].peak == POOL, mode  # all at once, at times
            if mode == "progressing":  # told apart by its sessions' state changes alone
                assert series["app_cpu_pct"].mean < 100 * sampler.STUCK_MAX_CPU
            if mode == "spinning":  # told apart by its CPU alone
                assert series["app_cpu_pct"].mean > 2 * 100 * sampler.STUCK_MAX_CPU  # shared CPU
        finally:
            _stop(app)


def test_settle_gives_up_on_a_stuck_app_within_seconds(database_url):
    port = urlsplit(database_url).port
    app = _app(database_url, "stuck")
    try:
        t0 = time.monotonic()
        result = sampler.settle(database_url, app.pid, port, timeout=30, pool_limit=POOL)
        assert result == sampler.SettleResult(None, stuck=True)
        assert sampler.STUCK_SETTLE_S <= time.monotonic() - t0 < sampler.STUCK_SETTLE_S + 1.5
        # Below the pool limit it is not the deadlock: settle waits until its timeout.
        result = sampler.settle(database_url, app.pid, port, timeout=0.5, pool_limit=POOL + 1)
        assert result == sampler.SettleResult(None, stuck=False)
    finally:
        _stop(app)


def test_a_connection_opened_after_a_lookup_is_found_by_the_next_one(database_url):
    """The connection table is read again only for sockets not seen before: a session opened
    between two lookups is found, one closed is gone."""
    port = urlsplit(database_url).port
    first = _psql(database_url)
    second = None
    try:
        before = set()
        for _ in range(100):  # until psql has connected; asked again and again meanwhile
            before = sampler.db_client_ports([first.pid], port)
            if before:
                break
            time.sleep(0.01)
        assert len(before) == 1
        second = _psql(database_url)
        both = before
        for _ in range(100):  # until psql has connected
            both = sampler.db_client_ports([first.pid, second.pid], port)
            if len(both) == 2:
                break
            time.sleep(0.05)
        assert len(both) == 2 and before < both
        first.stdin.close()
        first.wait(timeout=10)
        assert sampler.db_client_ports([first.pid, second.pid], port) == both - before
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.stdin.close()
                p.wait(timeout=10)


def test_a_kept_connection_is_reused_and_opened_again_once_its_session_is_gone(database_url):
    kept = Kept(database_url, "harness-kept-test")
    try:
        conn = kept.get()
        pid = conn.get_backend_pid()
        assert kept.get() is conn  # the same session, cell after cell
        killer = psycopg2.connect(database_url)
        killer.autocommit = True
        try:
            with killer.cursor() as cur:  # what a fault (or a restart) does to the session
                cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        finally:
            killer.close()
        again = kept.get()
        assert again.get_backend_pid() != pid
        with again.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        kept.close()
    assert conn.closed


def test_the_dataset_counts_as_seeded_until_a_write_lands(database_url):
    from harness.measure.backends import Real

    real = Real()
    with real.database(database_url, None, []) as url:
        real.reset(url, 1000)
        assert real.seeded(url, 1000)
        conn = psycopg2.connect(url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM users")  # reads change nothing
                assert real.seeded(url, 1000)
                cur.execute("UPDATE users SET name = name WHERE id = 7")  # same values
                assert not real.seeded(url, 1000)
                real.reset(url, 1000)
                assert real.seeded(url, 1000)
                cur.execute("INSERT INTO users (name, email) VALUES ('x', 'x@example.com')")
                assert not real.seeded(url, 1000)
        finally:
            conn.close()
        real.reset(url, 1000)


def test_beside_other_load_an_app_busy_on_its_cpu_is_not_settled(database_url):
    port = urlsplit(database_url).port
    spinning = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert sampler.settle(database_url, spinning.pid, port, timeout=0.5,
                              own_only=True).seconds is None
    finally:
        spinning.kill()
        spinning.wait()
