"""PostgreSQL for a run: a throwaway local cluster by default, or the server in DATABASE_URL."""

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

from harness.errors import MissingTool, UsageError
from harness.measure import procs

INSTALL_HINT = "PostgreSQL not found: install it with `sudo apt-get install postgresql`"
DB_USER = "bench"
DB_NAME = "bench"

# Durability is switched off in the throwaway cluster: it would only add disk noise, equally to
# every stack, and the cluster is deleted at exit anyway.
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "256MB",
    "listen_addresses": "127.0.0.1",
    "log_min_messages": "warning",
}


def find_bindir():
    """Directory holding initdb and postgres: PATH first, then Debian's versioned layout."""
    initdb = shutil.which("initdb")
    if initdb:
        bindir = os.path.dirname(os.path.realpath(initdb))
        if os.path.exists(os.path.join(bindir, "postgres")):
            return bindir
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if candidates:
        return os.path.dirname(candidates[-1])
    raise MissingTool(INSTALL_HINT)


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# user:password@ up to the last "@" of the token (an unencoded "#", "?" or "/" in a password
# still counts as password), and libpq's ?password= / ?sslpassword= parameters.
_PASSWORD_IN_URL = re.compile(r"(\w[\w+.-]*://[^:/@\s]*:)\S*@")
_PASSWORD_PARAM = re.compile(r"([?&](?:ssl)?password=)[^&\s]*", re.IGNORECASE)


def redact_text(text):
    """Any URL's password in free text (argv, logs, error messages) replaced by ***."""
    return _PASSWORD_PARAM.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1***@", text))


def redact(url):
    """DATABASE_URL without its password, safe for logs, results and reports."""
    return redact_text(url)


def version(bindir=None):
    try:
        bindir = bindir or find_bindir()
        out = subprocess.run([os.path.join(bindir, "postgres"), "--version"],
                             capture_output=True, text=True, timeout=10, check=False).stdout
        match = re.search(r"\d+(?:\.\d+)+", out)
        return match.group(0) if match else None
    except (MissingTool, OSError, subprocess.SubprocessError):
        return None


@contextmanager
def database(url=None, log_dir=None, cpus=None):
    """Yield a DATABASE_URL: `url` as given, or a new embedded cluster removed on exit (on
    `cpus` if given: a server of your own is left where it is)."""
    url = url or os.environ.get("DATABASE_URL")
    if url:
        check_url(url)
        yield url
        return
    with embedded(log_dir=log_dir, cpus=cpus) as embedded_url:
        yield embedded_url


def check_url(url):
    shape = "must look like postgresql://user:password@host:port/dbname"
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 — raises on a port that is not a number
    except ValueError:
        parts = None
    authority = url.split("://", 1)[-1]
    if parts is None or ("@" in authority and "@" not in parts.netloc):
        raise UsageError(f"DATABASE_URL: {shape}, with special characters of the password "
                         f"percent-encoded (got {redact(url)!r})")
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise UsageError(f"DATABASE_URL: {shape} (got {redact(url)!r})")


@contextmanager
def embedded(log_dir=None, cpus=None):
    """initdb + postgres in a temporary directory on a free loopback port; all removed on exit.
    With `cpus` the server and every backend it forks run on those CPUs only."""
    bindir = find_bindir()
    user = None
    if os.geteuid() == 0:
        # postgres refuses to run as root: run it as the `postgres` system user.
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise MissingTool("running as root needs a `postgres` user: "
                              "`sudo apt-get install postgresql` creates it") from None
    root = tempfile.mkdtemp(prefix="harness-pg-")
    if procs.REGISTRY is not None:
        procs.REGISTRY.add_dir(root)
    proc = None
    try:
        datadir, sockdir = os.path.join(root, "data"), os.path.join(root, "sock")
        os.makedirs(sockdir)
        if user:
            os.chown(root, user.pw_uid, user.pw_gid)
            os.chown(sockdir, user.pw_uid, user.pw_gid)
        run_as = user.pw_name if user else None
        init = subprocess.run(
            [os.path.join(bindir, "initdb"), "-D", datadir, "-U", DB_USER, "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            capture_output=True, text=True, user=run_as, timeout=120, check=False)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-500:]}")
        port = free_port()
        args = [os.path.join(bindir, "postgres"), "-D", datadir, "-p", str(port), "-k", sockdir]
        for key, value in SERVER_SETTINGS.items():
            args += ["-c", f"{key}={value}"]
        if log_dir:
            os.makedirs(log_dir, exist_ok=True)
        log_path = os.path.join(log_dir or root, "postgres.log")
        proc = procs.start(args, log_path=log_path, user=run_as, cpus=cpus)
        _wait_ready(bindir, port, proc, log_path)
        subprocess.run([os.path.join(bindir, "createdb"), "-h", "127.0.0.1", "-p", str(port),
                        "-U", DB_USER, DB_NAME], check=True, capture_output=True, timeout=30)
        yield f"postgresql://{DB_USER}@127.0.0.1:{port}/{DB_NAME}"
    finally:
        if proc is not None:
            # SIGINT = postgres "fast" shutdown: aborts sessions, exits cleanly.
            procs.stop(proc, timeout=15, sig=signal.SIGINT)
            # A cluster restarted mid-run (harness.measure.faults) runs under a postmaster that
            # pg_ctl detached from our process group: stop whatever serves the data directory.
            stop_cluster(datadir)
        shutil.rmtree(root, ignore_errors=True)
        if procs.REGISTRY is not None:
            procs.REGISTRY.drop_dir(root)


def postmaster_pid(datadir):
    """The pid of the postmaster serving `datadir` (first line of postmaster.pid), if it is a
    running postgres process of that directory; None otherwise (a stale file, a recycled pid)."""
    try:
        with open(os.path.join(datadir, "postmaster.pid")) as f:
            pid = int(f.readline().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except (OSError, ValueError):
        return None
    if not argv or not os.path.basename(argv[0]).startswith(b"postgres") \
            or os.fsencode(str(datadir)) not in argv:
        return None
    return pid


def stop_cluster(datadir, timeout=15.0):
    """Stop the postmaster of `datadir` (fast shutdown, SIGKILL to its group after `timeout`)
    and forget it in the leftovers registry. Nothing to do when none runs."""
    pid = postmaster_pid(datadir)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and postmaster_pid(datadir) == pid:
        time.sleep(0.05)
    if postmaster_pid(datadir) == pid:
        try:
            if os.getpgid(pid) == pid:  # its own group (pg_ctl's setsid): backends included
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if procs.REGISTRY is not None:
        procs.REGISTRY.drop_group(pid)


def _wait_ready(bindir, port, proc, log_path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited at start-up: {_tail(log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
            ready = subprocess.run([os.path.join(bindir, "pg_isready"), "-h", "127.0.0.1",
                                    "-p", str(port), "-U", DB_USER], capture_output=True, check=False)
            if ready.returncode == 0:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"postgres did not accept connections within {timeout:.0f} s")


def _tail(path, n=5):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-n:])
    except OSError:
        return "(no log)"


def port_of(url):
    """The TCP port of a DATABASE_URL (PostgreSQL's 5432 when it names none)."""
    return urlsplit(url).port or 5432
