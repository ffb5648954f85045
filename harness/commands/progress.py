"""Progress while a run goes: a live line on a terminal that ticks during each cell, plain lines
in CI logs (with a line every 30 s during a long cell, so a soak is visibly alive)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

CI_TICK_S = 30.0


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, max_load_s: float, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.left = max_load_s  # at most: adaptive levels may stop early
        self.done = 0
        self.t0 = time.monotonic()
        self._cell: tuple[str, float, float] | None = None  # label, seconds, started
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
        self._ticker.start()

    def cell_started(self, label: str, seconds: float) -> None:
        with self._lock:
            self._cell = (label, seconds, time.monotonic())
        self._line(f"[{self.done + 1}] {label} …", final=not self.tty)

    def cell_finished(self, label: str, summary: str) -> None:
        with self._lock:
            if self._cell:
                self.left -= self._cell[1]
            self._cell = None
            self.done += 1
        self._line(f"[{self.done}] {label}: {summary}", final=True)

    def note(self, text: str) -> None:
        self._line(text, final=True)

    def close(self) -> None:
        self._stop.set()

    def _tick(self) -> None:
        last_ci = time.monotonic()
        while not self._stop.wait(1.0):
            with self._lock:
                cell = self._cell
            if cell is None:
                continue
            label, seconds, started = cell
            ran = time.monotonic() - started
            if self.tty:
                self._line(f"[{self.done + 1}] {label} {_clock(ran)}/{_clock(seconds)}",
                           final=False)
            elif ran >= CI_TICK_S and time.monotonic() - last_ci >= CI_TICK_S:
                last_ci = time.monotonic()
                self._line(f"[{self.done + 1}] {label}: {_clock(ran)} of {_clock(seconds)}",
                           final=True)

    def _line(self, text: str, final: bool) -> None:
        elapsed = time.monotonic() - self.t0
        stamp = f"{_clock(elapsed)} elapsed, at most ~{_clock(self.left)} of load left"
        with self._lock:
            if self.tty:
                end = "\n" if final else ""
                self.stream.write(f"\r\033[K{text}  ({stamp}){end}")
            else:
                self.stream.write(f"{text}  ({stamp})\n")
            self.stream.flush()
