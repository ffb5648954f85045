"""Progress while a run goes: a live line on a terminal, plain lines in CI logs."""

import sys
import time


def _clock(seconds):
    seconds = max(0, int(seconds))
    return f"{seconds // 60:d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total_cells, load_seconds, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total = total_cells
        self.remaining_load = load_seconds
        self.done = 0
        self.t0 = time.monotonic()

    def cell_started(self, cell, load_seconds):
        self._line(f"[{self.done + 1}/{self.total}] {self._label(cell)} …", final=not self.tty)
        self._pending = load_seconds

    def cell_finished(self, cell, summary):
        self.done += 1
        self.remaining_load -= self._pending
        self._line(f"[{self.done}/{self.total}] {self._label(cell)}: {summary}", final=True)

    def note(self, text):
        self._line(text, final=True)

    def _label(self, cell):
        return (f"{cell.scenario.name} {cell.app} c={cell.connections} "
                f"repeat {cell.repeat + 1}/{cell.scenario.repeats}")

    def _line(self, text, final):
        elapsed = time.monotonic() - self.t0
        stamp = f"{_clock(elapsed)} elapsed, ~{_clock(self.remaining_load)} left"
        if self.tty:
            end = "\n" if final else ""
            self.stream.write(f"\r\033[K{text}  ({stamp}){end}")
        else:
            self.stream.write(f"{text}  ({stamp})\n")
        self.stream.flush()
