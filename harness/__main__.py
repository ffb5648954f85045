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

from harness import errors, locations
from harness.measure import procs

COMMANDS = ("serve", "run", "report", "compare")
EPILOG = "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in
                                     errors.EXIT_CODES.items())


class Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, exit 2, like every other usage error.
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(errors.EXIT_USAGE)


def build_parser(argv: list[str] | None = None) -> Parser:
    """The command line's parser. Given the arguments, only the command they name is imported
    and given its options: a command's module loads its own stack (run: the scenario files
    and YAML), and the others are never parsed; the top-level help, asked without a command,
    imports them all for their one-line descriptions."""
    # Installed, the command is ffbench; from a clone, python -m harness.
    prog = "ffbench" if Path(sys.argv[0]).name == "ffbench" else "python -m harness"
    parser = Parser(prog=prog, description="Decide a Flask to FastAPI "
                    "migration with measurements.", epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version, help="print the tool's version and the "
                        "stack versions it measures, then exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    # The command comes first (the top-level options, -h and --version, only print and exit).
    named = argv[0] if argv else None
    for name in COMMANDS:
        if named in COMMANDS and name != named:
            sub.add_parser(name)
            continue
        module = importlib.import_module(f"harness.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(func=module.from_args)
    return parser


class _Version(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            print(version_text())
        except errors.UsageError as exc:  # e.g. an invalid service.toml
            parser.exit(errors.EXIT_USAGE, f"error: {exc}\n")
        parser.exit()


def version_text() -> str:
    """The tool's version, the Python it runs on, and each app's pinned stack."""
    import platform

    from harness.measure import services

    lines = [(f"ffbench {locations.version()} (Python {platform.python_version()}, "
              f"{sys.executable}; apps from {locations.APPS_DIR})")]
    # variants pinning other versions are listed; those only run the app another way are not
    apps = [(s, f" (variant of {s.variant_of})" if s.variant_of else "")
            for s in services.discover().values()
            if not s.variant_of or s.environment == "own"]
    apps += [(s, " (ceiling)") for s in services.discover(reference=True).values()]
    for service, role in apps:
        pins = []
        for name, spec in sorted(service.pinned(), key=lambda p: p[0].lower()):
            installed = service.package_version(name)
            single = spec.startswith("==") and "," not in spec
            shown = spec[2:] if single else spec or "(any version)"
            if installed and installed != shown:
                shown += f" (installed {installed})"
            pins.append(f"{name.lower()} {shown}")
        lack = ("; not installed in this Python: `run --own-envs` builds them"
                if service.missing() else "")
        lines.append(f"  {service.name}{role}: {', '.join(pins) or 'no requirements.txt'}{lack}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from harness.measure import leftovers

    args = build_parser(sys.argv[1:] if argv is None else argv).parse_args(argv)
    for line in leftovers.sweep():  # what a SIGKILLed run left behind
        print(line, file=sys.stderr)
    procs.install_signal_handlers()
    watchdog = None
    if args.command != "report":  # the commands that start processes
        registry = procs.REGISTRY = leftovers.Registry()
        watchdog = leftovers.start_watchdog(registry)
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
