"""Command line: one subcommand per module of harness.commands, each a thin wrapper."""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import sys
import tempfile
import traceback
from pathlib import Path

from harness import errors
from harness.measure import procs

COMMANDS = ("serve", "run", "report", "compare")
EPILOG = "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in
                                     errors.EXIT_CODES.items())


class Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, exit 2, like every other usage error.
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(errors.EXIT_USAGE)


def build_parser() -> Parser:
    parser = Parser(prog="python -m harness", description="Decide a Flask to FastAPI "
                    "migration with measurements.", epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"harness.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(func=module.from_args)
    return parser


def main(argv: list[str] | None = None) -> int:
    from harness.measure import leftovers

    args = build_parser().parse_args(argv)
    for line in leftovers.sweep():  # what a SIGKILLed run left behind
        print(line, file=sys.stderr)
    procs.install_signal_handlers()
    watchdog = None
    if args.command != "report":  # the commands that start processes
        procs.REGISTRY = leftovers.Registry()
        watchdog = leftovers.start_watchdog(procs.REGISTRY)
    try:
        return args.func(args)
    except errors.UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return errors.EXIT_USAGE
    except errors.Interrupted as exc:
        print(f"interrupted ({exc}): stopped everything the harness started", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, the traceback in a file
        log = _crash_log()
        print(f"internal error: {type(exc).__name__}: {exc} (traceback: {log})", file=sys.stderr)
        return errors.EXIT_INTERNAL
    finally:
        procs.stop_all()
        if procs.REGISTRY is not None:
            procs.REGISTRY.close()
            procs.REGISTRY = None
        if watchdog is not None:
            os.close(watchdog)  # the watchdog sees the pipe close, finds no registry, exits


def _crash_log() -> Path:
    from harness.measure.postgres import redact_text

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(tempfile.gettempdir()) / f"harness-crash-{stamp}.log"
    path.write_text(redact_text(traceback.format_exc()))
    return path


if __name__ == "__main__":
    sys.exit(main())
