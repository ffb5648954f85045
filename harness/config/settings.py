"""Defaults for the environment knobs every app reads, with the same names in all three.

Each app applies the same defaults when run on its own; the harness passes them explicitly so
that every result records the values a cell really ran with.
"""

import os

# SQLAlchemy's own QueuePool defaults: the settings that broke in production.
POOL_DEFAULTS = {"POOL_SIZE": "5", "MAX_OVERFLOW": "10", "POOL_TIMEOUT": "30"}

# One worker process per core for every stack, so each gets the same CPU budget. Measured on
# 2 cores: more workers than cores gains nothing for any stack (docs/settings.md).
WORKERS_DEFAULT = str(os.cpu_count() or 1)

# gunicorn threads per worker: 1 means the sync worker, the usual Flask deployment.
THREADS_DEFAULT = "1"
# WORKER_CLASS (sync or gthread) has no fixed default: it follows THREADS (worker_class below).
# gthread with one thread differs from sync: it keeps connections alive between requests.

# AnyIO's default thread limiter size, which FastAPI uses for `def` endpoints and dependencies.
THREADPOOL_DEFAULT = "40"

DEFAULTS = {
    "WEB_CONCURRENCY": WORKERS_DEFAULT,
    **POOL_DEFAULTS,
    "THREADS": THREADS_DEFAULT,
    "THREADPOOL_SIZE": THREADPOOL_DEFAULT,
}


def resolve(knobs, *overrides):
    """The settings an app runs with: defaults for the knobs it reads, then overrides in order."""
    values = {k: DEFAULTS[k] for k in knobs if k in DEFAULTS}
    for layer in overrides:
        values.update({k: str(v) for k, v in (layer or {}).items()})
    if "WORKER_CLASS" in knobs and "WORKER_CLASS" not in values:
        values["WORKER_CLASS"] = worker_class(values.get("THREADS", THREADS_DEFAULT))
    return values


def worker_class(threads):
    """gunicorn's worker class when none is set: the sync worker for one thread, gthread for
    more (apps/flask_sync/gunicorn.conf.py makes the same choice)."""
    return "sync" if str(threads).strip() == "1" else "gthread"
