"""How numbers read, in every format: milliseconds, percentages, req/s, connection counts.

"–" stands for a value that was not measured, everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

NONE = "–"


def ms(us: float | None) -> str:
    """A latency stored in µs, as ms with one decimal."""
    return NONE if us is None else f"{us / 1000:.1f}"


def pct(x: float | None, digits: int = 1) -> str:
    return NONE if x is None else f"{x:.{digits}%}"


def num(x: float | None) -> str:
    """Whole numbers without decimals, others with one."""
    if x is None:
        return NONE
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def rps(x: float | None) -> str:
    return NONE if x is None else f"{x:.0f}"


def ratio(x: float | None) -> str:
    return NONE if x is None else f"{x:.2f}×"


def cpu_ms(x: float | None) -> str:
    """CPU-ms per request: two significant decimals below 10."""
    if x is None:
        return NONE
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def conns(n: int | None) -> str:
    return f"{n} connection" + ("" if n == 1 else "s")


def levels(values: Sequence[int | str]) -> str:
    """"1, 12, 48 connections"."""
    words = [str(v) for v in values]
    return f"{', '.join(words)} connection" + ("" if words == ["1"] else "s")


def seconds(x: float | None) -> str:
    return NONE if x is None else f"{x:g} s"


def with_ci(median: float | None, low: float | None, high: float | None, fmt: str,
            scale: float = 1.0) -> str:
    """"822 (805–840)": a median with its CI when it has one."""
    if median is None:
        return NONE
    text = fmt.format(median * scale)
    if low is not None and high is not None:
        text += f" ({fmt.format(low * scale)}–{fmt.format(high * scale)})"
    return text


def threshold_value(value: float, unit: str) -> str:
    """A threshold's measured value in the unit it was written in: "807 ms", "1.2%"."""
    return f"{value:.4g}{'' if unit in ('', '%') else ' '}{unit}"
