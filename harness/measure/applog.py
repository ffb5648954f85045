"""Classify an app server's stderr: what went wrong during a cell, with one example line each.

The text is cut into events: a traceback (with its chained tracebacks and the log line that
announced it) is one event, any other line is its own event. An event counts once per category
it shows, so a pool timeout traceback counts as one pool_timeout and one server_error.
"""

import re

CATEGORIES = ("pool_timeout", "worker_timeout", "worker_restart", "connection_error",
              "server_error")
EXAMPLE_CHARS = 300

POOL_TIMEOUT = re.compile(r"QueuePool limit of size|sqlalchemy\.exc\.TimeoutError")
CONNECTION_ERROR = re.compile(
    r"OperationalError|ConnectionDoesNotExistError|TooManyConnectionsError|too many clients"
    r"|Connection refused|server closed the connection unexpectedly")
WORKER_TIMEOUT = re.compile(r"WORKER TIMEOUT")
# A request that raised: Flask, uvicorn, and gunicorn's own handler (e.g. a worker abort).
HEADER = re.compile(r"Exception on \S+ \[[A-Z]+\]|Exception in ASGI application"
                    r"|Error handling request")
TRACEBACK = re.compile(r"^Traceback \(most recent call last\):")
CHAINED = re.compile(r"^(During handling of the above exception|The above exception was the "
                     r"direct cause)")
# "pkg.mod.SomeError: message" or "SystemExit: 1", flush left: the end of a traceback.
EXCEPTION = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?::(?:\s.*)?)?$")
# gunicorn: a worker died (boots after the first of these are restarts); uvicorn: the same.
GUNICORN_DEATH = re.compile(r"WORKER TIMEOUT|Worker \(pid:\d+\) (?:was sent (?!SIGTERM)|exited "
                            r"with code)|Autorestarting worker")
GUNICORN_BOOT = re.compile(r"Booting worker with pid")
UVICORN_DIED = re.compile(r"Child process \[\d+\] died")


def classify(text):
    """{"counts": {category: n} (every category, 0 included), "examples": {category: line}}."""
    counts, examples = dict.fromkeys(CATEGORIES, 0), {}

    def note(category, line):
        counts[category] += 1
        examples.setdefault(category, line.strip()[:EXAMPLE_CHARS])

    for lines, exceptions in _events(text.splitlines()):
        if exceptions or HEADER.search(lines[0]):
            note("server_error", exceptions[-1] if exceptions else lines[0])
        for category, pattern in (("pool_timeout", POOL_TIMEOUT),
                                  ("connection_error", CONNECTION_ERROR),
                                  ("worker_timeout", WORKER_TIMEOUT)):
            # Prefer the exception line that surfaced last, then any matching line.
            hit = next((x for x in reversed(exceptions) if pattern.search(x)), None) \
                or next((x for x in lines if pattern.search(x)), None)
            if hit:
                note(category, hit)
    for line in _restarts(text.splitlines()):
        note("worker_restart", line)
    return {"counts": counts, "examples": examples}


def _events(lines):
    """Yield (lines, exception lines) per event; exception lines are empty outside tracebacks."""
    i = 0
    while i < len(lines):
        line = lines[i]
        if not (HEADER.search(line) or TRACEBACK.match(line)):
            yield [line], []
            i += 1
            continue
        start, exceptions = i, []
        if not TRACEBACK.match(line):  # a header: its traceback may follow after blank lines
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            if i >= len(lines) or not TRACEBACK.match(lines[i]):
                yield [line], []
                continue
        while i < len(lines) and TRACEBACK.match(lines[i]):
            i += 1
            while i < len(lines) and not EXCEPTION.match(lines[i]) \
                    and not TRACEBACK.match(lines[i]):
                i += 1  # frames
            if i < len(lines) and EXCEPTION.match(lines[i]):
                exceptions.append(lines[i])
                i += 1
            # The message may go on (indented or blank lines) and a chained traceback follow.
            j = i
            while j < len(lines) and (not lines[j].strip() or lines[j][:1].isspace()
                                      or CHAINED.match(lines[j])):
                j += 1
            if j < len(lines) and TRACEBACK.match(lines[j]) \
                    and any(CHAINED.match(x) for x in lines[i:j]):
                i = j
        yield lines[start:i], exceptions


def _restarts(lines):
    """The line explaining each worker restart: gunicorn boots after a death, uvicorn's died."""
    cause = None  # boots before the first death are the initial workers
    for line in lines:
        if GUNICORN_DEATH.search(line):
            cause = line
        elif GUNICORN_BOOT.search(line) and cause:
            yield cause
        elif UVICORN_DIED.search(line):
            yield line
