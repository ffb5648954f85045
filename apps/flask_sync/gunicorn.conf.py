"""gunicorn settings, from the same environment knobs as the other services."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8002")
# One worker per core, like the other stacks; gunicorn itself also honours WEB_CONCURRENCY.
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
# threads=1 is the sync worker, Flask's usual deployment (and faster than gthread here).
threads = int(os.environ.get("THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
accesslog = None  # no per-request access log
loglevel = "warning"
# Long enough that a request queued behind a full pool (POOL_TIMEOUT=30) fails in the app,
# with the pool's error in the log, rather than by gunicorn killing the worker.
timeout = int(float(os.environ.get("POOL_TIMEOUT", "30"))) + 30
