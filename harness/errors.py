"""Errors a user can act on, and the exit codes they map to."""

EXIT_OK = 0
EXIT_REGRESSION = 1  # compare: a confirmed regression
EXIT_USAGE = 2  # bad flag, bad scenario file, missing tool
EXIT_THRESHOLD = 3  # run: a scenario threshold failed
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM


class UsageError(Exception):
    """Bad input the user can fix: printed as one line, exit code 2."""


class MissingTool(UsageError):
    """A required program (wrk, PostgreSQL) is not installed."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwind, stop everything started, keep completed results."""
