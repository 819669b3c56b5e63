"""A one-line progress bar for the command line: count, rate, ETA.

dpa ships its own (about sixty lines) rather than depending on tqdm or rich:
the commands only need one bar on stderr, redrawn at most ten times a second,
and a dependency would be a second install for that.  The bar draws only when
its stream is a terminal, so logs and pipes stay clean.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress", "format_count", "format_duration"]


def format_count(n: float) -> str:
    """``1234567`` -> ``"1.23M"``; small numbers as they are."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}"
    return f"{n:.0f}" if float(n).is_integer() else f"{n:.1f}"


def format_duration(seconds: float) -> str:
    """``75.2`` -> ``"0:01:15"``."""
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """Progress(total, label="", *, unit="samples", enabled=None, stream=sys.stderr)

    A progress bar on one terminal line.

    Parameters
    ----------
    total : int or None
        The count at completion; ``None`` when unknown (no bar, no ETA).
    label : str
        Shown before the bar.
    unit : str
        What is counted, for the rate.
    enabled : bool, optional
        Draw or not; by default only when ``stream`` is a terminal.
    stream : file
        Where to draw (stderr).
    """

    def __init__(self, total: int | None, label: str = "", *, unit: str = "samples",
                 enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total = total
        self.label = label
        self.unit = unit
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._width = 0

    def __call__(self, done: int, total: int | None = None) -> None:
        """Record that ``done`` items are complete; redraw at most 10 times a second."""
        if total is not None:
            self.total = total
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last_draw < 0.1 and done != self.total:
            return
        self._last_draw = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [self.label] if self.label else []
        if self.total:
            frac = min(1.0, done / self.total)
            filled = int(frac * 24)
            parts.append(f"[{'#' * filled}{'.' * (24 - filled)}] {frac:6.1%}")
            parts.append(f"{done:,}/{self.total:,}")
        else:
            parts.append(f"{done:,}")
        parts.append(f"{format_count(rate)} {self.unit}/s")
        if self.total and rate > 0:
            parts.append(f"ETA {format_duration((self.total - done) / rate)}")
        line = "  ".join(parts)
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        """Erase the bar."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
