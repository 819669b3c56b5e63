"""What the commands print: tables, cells, the closing summary of a write."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._progress import Progress, format_count
from ..io import SaveResult

__all__ = ["cell", "progress_bar", "summary", "table"]


def table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    """Columns padded to their widest cell; those in ``right`` right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header)] + [line(r) for r in rows])


def cell(value: Any) -> str:
    """A record's value as text: floats exactly (``repr``), bytes as ASCII, a
    subarray (of any size, empty too) as a list, a nested record as a tuple."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return repr(value) if isinstance(value, (float, list, tuple)) else str(value)


def summary(result: SaveResult, unit: str = "samples", note: str = "") -> str:
    """``wrote OUT.npy: N samples, B bytes in S s (R samples/s)``."""
    extra = f", resumed at record {result.resumed_from:,}" if result.resumed_from else ""
    return (f"wrote {result.path}: {result.count:,} {unit}, {result.nbytes:,} bytes in "
            f"{result.seconds:.2f} s ({format_count(result.samples_per_s)} {unit}/s{extra}{note})")


def progress_bar(total: int | None, label: str, quiet: bool, unit: str = "samples") -> Progress:
    """A progress bar on stderr, drawn on a terminal unless ``quiet``."""
    return Progress(total, label, unit=unit, enabled=None if not quiet else False)
