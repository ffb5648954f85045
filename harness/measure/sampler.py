"""Evidence sampled during a cell: CPU and RSS of the app's process tree, CPU of wrk, and the
app's PostgreSQL connections by state (matched to the app through its sockets' local ports)."""

import threading
import time

import psutil
import psycopg2

INTERVAL = 0.5
# wrk is saturated when it uses this share of the cores its threads can use.
SATURATED = 0.9

PG_STATES = ("active", "idle", "idle in transaction")


class Sampler:
    def __init__(self, app_pid, database_url, db_port, interval=INTERVAL):
        self.app_pid = app_pid
        self.database_url = database_url
        self.db_port = db_port
        self.interval = interval
        self.rows = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self._procs = {}

    def __enter__(self):
        self._conn = None
        try:
            self._conn = psycopg2.connect(self.database_url, application_name="harness-sampler",
                                          connect_timeout=5)
            self._conn.autocommit = True
        except psycopg2.Error:
            self._conn = None  # evidence is best effort; the measurement goes on
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        if self._conn is not None:
            self._conn.close()

    def _loop(self):
        self._cpu(self._tree(), prime=True)
        while not self._stop.wait(self.interval):
            try:
                self.rows.append(self._sample())
            except (psutil.Error, psycopg2.Error, OSError):
                continue  # a process vanished or the query failed mid-sample: skip the point

    def _tree(self):
        return process_tree(self.app_pid) if self.app_pid else []

    def _wrk(self):
        try:
            return [p for p in psutil.Process().children(recursive=True) if p.name() == "wrk"]
        except psutil.Error:
            return []

    def _cpu(self, processes, prime=False):
        """Summed CPU % since the last sample; None until every process has a first reading."""
        total, fresh = 0.0, False
        for proc in processes:
            cached = self._procs.get(proc.pid)
            if cached is None:  # cpu_percent measures between two calls on the same object
                cached = self._procs[proc.pid] = proc
                fresh = True
            try:
                total += cached.cpu_percent(None)
            except psutil.Error:
                pass
        return None if prime or fresh else total

    def _sample(self):
        tree = self._tree()
        rss = 0
        for proc in tree:
            try:
                rss += proc.memory_info().rss
            except psutil.Error:
                pass
        wrk = self._wrk()
        return {
            "t": round(time.monotonic() - self._t0, 2),
            "app_cpu_pct": _round(self._cpu(tree)),
            "app_rss_mb": round(rss / 2**20, 1),
            "wrk_cpu_pct": _round(self._cpu(wrk)) if wrk else None,
            "wrk_threads": sum(p.num_threads() for p in wrk) if wrk else None,
            **self._pg(tree),
        }

    def _pg(self, tree):
        if self._conn is None:
            return {}
        states = pg_states(self._conn, tree, self.db_port)
        return {f"pg_{s.replace(' ', '_')}": states.count(s) for s in PG_STATES}

    def summary(self, cpus):
        """Peak and mean of each series, the profile itself, and the load-generator flag."""
        out = {"interval_s": self.interval, "n": len(self.rows)}
        keys = [k for k in (self.rows[0] if self.rows else {}) if k not in ("t", "wrk_threads")]
        for key in keys:
            values = [r[key] for r in self.rows if r.get(key) is not None]
            if values:
                out[key] = {"peak": max(values), "mean": round(sum(values) / len(values), 1)}
        wrk_cpu = out.get("wrk_cpu_pct", {}).get("mean")
        threads = max((r.get("wrk_threads") or 1 for r in self.rows), default=1)
        # wrk runs one event loop per thread (plus a main thread that sleeps).
        usable = 100.0 * min(max(threads - 1, 1), cpus)
        out["wrk_saturated"] = bool(wrk_cpu is not None and wrk_cpu >= SATURATED * usable)
        out["profile"] = [[r["t"], r.get("app_cpu_pct"), r.get("app_rss_mb"), r.get("wrk_cpu_pct"),
                           r.get("pg_active"), r.get("pg_idle"), r.get("pg_idle_in_transaction")]
                          for r in self.rows]
        out["profile_columns"] = ["t", "app_cpu_pct", "app_rss_mb", "wrk_cpu_pct", "pg_active",
                                  "pg_idle", "pg_idle_in_transaction"]
        return out


def process_tree(pid):
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def pg_states(conn, tree, db_port):
    """States of the PostgreSQL sessions opened by `tree`, matched through its sockets' ports.

    Behind a port-forwarding proxy (a database in a container) PostgreSQL sees the proxy's
    ports, and nothing matches: then every non-harness session of the database counts, which
    is the app under load plus the idle pools of the apps waiting for their turn."""
    ports = set()
    for proc in tree:
        try:
            for c in proc.net_connections(kind="tcp"):
                if c.raddr and c.raddr.port == db_port:
                    ports.add(c.laddr.port)
        except psutil.Error:
            pass
    with conn.cursor() as cur:
        cur.execute("SELECT client_port, state FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND client_port IS NOT NULL "
                    "AND datname = current_database() AND pid <> pg_backend_pid() "
                    "AND application_name NOT LIKE 'harness%%'")
        rows = cur.fetchall()
    matched = [state for port, state in rows if port in ports]
    if matched or not tree:
        return matched
    return [state for _, state in rows]


def settle(database_url, pid, db_port, timeout, interval=0.1, quiet=3):
    """Seconds until the app's sessions are all idle (no transaction open, no query running)
    in `quiet` snapshots in a row after the load stopped, or None if not within `timeout`.
    One idle snapshot is not enough: fast queries leave sessions idle between queued requests."""
    t0 = time.monotonic()
    conn = psycopg2.connect(database_url, application_name="harness-settle", connect_timeout=5)
    try:
        conn.autocommit = True
        idle_since, streak = None, 0
        while True:
            busy = [s for s in pg_states(conn, process_tree(pid), db_port) if s != "idle"]
            now = time.monotonic()
            if busy:
                idle_since, streak = None, 0
            else:
                idle_since = idle_since if idle_since is not None else now
                streak += 1
                if streak >= quiet:
                    return round(idle_since - t0, 2)
            if now - t0 > timeout:
                return None
            time.sleep(interval)
    finally:
        conn.close()


def _round(value):
    return None if value is None else round(value, 1)
