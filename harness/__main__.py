"""Command line: serve, run, report, compare."""

import argparse
import sys

from harness import errors
from harness.measure import procs


class Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, exit 2, like every other usage error.
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(errors.EXIT_USAGE)


def app_list(value):
    from harness.measure.services import discover

    known = sorted(discover())
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown app {', '.join(unknown) or repr(value)}; choose from {', '.join(known)}")
    return names


def build_parser():
    parser = Parser(prog="python -m harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("serve", help="start PostgreSQL and the services until Ctrl-C")
    p.add_argument("--apps", type=app_list, default=None,
                   help="comma-separated subset (default: all)")
    p.add_argument("--database-url", help="use this server instead of a throwaway cluster "
                   "(default: $DATABASE_URL if set)")
    p.add_argument("--rows", type=int, default=None, help="seeded users (default 1000)")
    p.set_defaults(func=cmd_serve)

    from harness.commands import cli_run

    cli_run.add_commands(sub)
    return parser


def cmd_serve(args):
    from harness.commands.serve import serve
    from harness.measure import dataset, services

    serve(args.apps or sorted(services.discover()), args.database_url,
          args.rows or dataset.DEFAULT_ROWS)
    return errors.EXIT_OK


def main(argv=None):
    args = build_parser().parse_args(argv)
    procs.install_signal_handlers()
    try:
        return args.func(args)
    except errors.UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return errors.EXIT_USAGE
    except (RuntimeError, OSError) as exc:
        # A process that would not start, a port in use: one line, not a traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except errors.Interrupted as exc:
        print(f"interrupted ({exc}): stopped everything the harness started", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    finally:
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
