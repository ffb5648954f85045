"""`python -m harness serve`: the database and the services, up until Ctrl-C or SIGTERM."""

import os
import signal
import tempfile
from contextlib import ExitStack

from . import dataset, postgres, services


def serve(app_names, database_url=None, rows=dataset.DEFAULT_ROWS, out=print):
    found = services.discover()
    with ExitStack() as stack:
        # Logs live while the services do; the directory goes with them.
        log_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="harness-serve-"))
        url = stack.enter_context(postgres.database(database_url, log_dir=log_dir))
        dataset.prepare(url, rows)
        out(f"database   {postgres.redact(url)}  ({rows} users seeded)")
        for name in app_names:
            service = found[name]
            log_path = os.path.join(log_dir, f"{name}.log")
            running = services.start(service, url, service.port, log_path)
            stack.callback(services.stop, running)
            out(f"{name:<14} {running.base_url}  ({service.server_version()}; log {log_path})")
        out("ready: Ctrl-C stops everything")
        signal.pause()
