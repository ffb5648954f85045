"""Errors a user can act on, and the exit codes they map to (documented in --help and README)."""

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug or an unexpected failure: one line, the traceback in a log file
EXIT_USAGE = 2  # bad flag, bad scenario file, missing tool
EXIT_THRESHOLD = 3  # run: a scenario threshold failed
EXIT_REGRESSION = 4  # compare: a regression was confirmed
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_INTERNAL: "internal error (the message names a log with the traceback)",
    EXIT_USAGE: "bad input (flag, scenario file, results file) or a missing tool",
    EXIT_THRESHOLD: "run: a scenario threshold failed",
    EXIT_REGRESSION: "compare: a regression was confirmed",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C, SIGTERM): completed cells are kept",
}


class UsageError(Exception):
    """Bad input the user can fix: printed as one line, exit code 2."""


class MissingTool(UsageError):
    """A required program (wrk, PostgreSQL) is not installed."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwind, stop everything started, keep completed results."""
