"""`python -m harness serve`: the database and the services, up until Ctrl-C or SIGTERM."""

import os
import signal
import socket
import tempfile
from contextlib import ExitStack

from harness.errors import EXIT_OK, UsageError

# harness.measure's database and services load when this command runs: the command line
# imports every command's module, and `report` has no use for them (psycopg2, the services).

HELP = "start PostgreSQL and the services until Ctrl-C"


def add_arguments(p):
    from harness.commands.args import app_list

    p.add_argument("--apps", type=app_list, default=None,
                   help="comma-separated subset (default: all but the variants, APP@NAME, "
                   "which get a free port)")
    p.add_argument("--database-url", help="use this server instead of a throwaway cluster "
                   "(default: $DATABASE_URL if set)")
    p.add_argument("--rows", type=int, default=None, help="seeded users (default 1000)")


def from_args(args):
    from harness.measure import dataset, services

    default = sorted(n for n in services.discover() if not services.is_variant(n))
    serve(args.apps or default, args.database_url,
          args.rows or dataset.DEFAULT_ROWS)
    return EXIT_OK


def port_free(port, host=None):
    from harness.measure import services

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host or services.HOST, port))
        except OSError:
            return False
    return True


def serve(app_names, database_url=None, rows=None, out=print):
    from harness.measure import dataset, postgres, services

    rows = dataset.DEFAULT_ROWS if rows is None else rows
    found = services.discover()
    # A variant shares its app's port in service.toml: it gets a free one.
    ports = {name: postgres.free_port() if services.is_variant(name) else found[name].port
             for name in app_names}
    for name in app_names:
        if not services.is_variant(name) and not port_free(found[name].port):
            raise UsageError(f"port {found[name].port} ({name}) is already in use: stop what "
                             "listens there, or leave the app out with --apps")
    with ExitStack() as stack:
        # Logs live while the services do; the directory goes with them.
        log_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="harness-serve-"))
        url = stack.enter_context(postgres.database(database_url, log_dir=log_dir))
        dataset.prepare(url, rows)
        out(f"database   {postgres.redact(url)}  ({rows} users seeded)")
        launched = []
        for name in app_names:
            service = services.with_environment(found[name])
            running = services.launch(service, url, ports[name],
                                      os.path.join(log_dir, f"{name}.log"), (service.fixed,))
            launched.append(running)
        stack.callback(services.stop, *launched)
        for running in launched:
            services.wait_healthy(running, timeout=60)
            out(f"{running.service.name:<14} {running.base_url}  "
                f"({running.service.server_version()}; log {running.log_path})")
        out("ready: Ctrl-C stops everything")
        signal.pause()
