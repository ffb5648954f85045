"""gunicorn settings, from the same environment knobs as the other services."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8002")
# One worker per core, like the other stacks; gunicorn itself also honours WEB_CONCURRENCY.
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
# threads=1 is the sync worker, Flask's usual deployment (and faster than gthread here).
threads = int(os.environ.get("THREADS", "1"))
# WORKER_CLASS picks it outright: gthread with one thread keeps connections alive, which the
# sync worker never does.
worker_class = os.environ.get("WORKER_CLASS") or ("gthread" if threads > 1 else "sync")
if worker_class not in ("sync", "gthread"):
    raise SystemExit(f"WORKER_CLASS must be sync or gthread (got {worker_class!r})")
if worker_class == "sync" and threads > 1:
    # gunicorn would quietly run gthread instead: the settings recorded would be wrong.
    raise SystemExit(f"WORKER_CLASS=sync takes one thread, not THREADS={threads}: use gthread")
accesslog = None  # no per-request access log
loglevel = "warning"
# Long enough that a request queued behind a full pool (POOL_TIMEOUT=30) fails in the app,
# with the pool's error in the log, rather than by gunicorn killing the worker.
timeout = int(float(os.environ.get("POOL_TIMEOUT", "30"))) + 30
