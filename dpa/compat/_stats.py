"""DPA 0.2.1's two statistics, bit for bit, over blocks of float arrays.

DPA computes a ``{field: {"mean", "stdev", "min", "max", "count"}}`` block in
two ways, and both are reproduced exactly:

* ``compute_statistics`` (and ``save_augmentation_chain``): ``statistics.mean``
  and ``statistics.stdev``, correctly rounded functions of exact sums.  Here
  :class:`ExactStats`, through dpa.io's exact accumulator (integer sums of the
  float64 bits) when every value is a finite ``float``; otherwise the
  ``statistics`` module itself over the values, so that ints, NaNs and other
  numbers give what DPA gives (an int mean of ints, NaN, an error).
* ``compute_streaming_statistics`` (and ``save_augmentation_stream``):
  Welford's recurrence in float64, in record order.  Here :class:`WelfordStats`,
  the compiled loop ``dpa._core.welford_update`` for arrays of finite floats,
  the same recurrence in Python for other values; min and max keep the first
  of equal values and the values' own objects, as ``min``/``max`` do.

Values reach them as float64 columns (from records or from dicts gathered by
``dpa.compat._jsontext``) or as lists of Python values.
"""

from __future__ import annotations

import math
import statistics
from itertools import islice
from typing import Any

import numpy as np

from .._core import welford_update
from ..config import FIELDS
from ..io import StatsAccumulator
from ._gather import gather_floats, values_of
from ._sources import BLOCK, array_stream, record_blocks

__all__ = ["ExactStats", "WelfordStats", "compute_statistics", "compute_streaming_statistics",
           "empty_stats"]


def empty_stats() -> dict[str, dict[str, Any]]:
    """DPA's statistics of no values (``compute_streaming_statistics`` of nothing)."""
    return {f: {"mean": 0.0, "stdev": 0.0, "min": 0.0, "max": 0.0, "count": 0} for f in FIELDS}


class _Block:
    """Float columns by field name, with ``len`` the record count (what
    dpa.io's accumulator reads from a structured array)."""

    __slots__ = ("columns", "n")

    def __init__(self, columns: list[np.ndarray]) -> None:
        self.columns = dict(zip(FIELDS, columns))
        self.n = len(columns[0])

    def __getitem__(self, field: str) -> np.ndarray:
        return self.columns[field]

    def __len__(self) -> int:
        return self.n


def _finite(columns: list[np.ndarray]) -> bool:
    return all(bool(np.isfinite(c).all()) for c in columns)


class ExactStats:
    """``statistics.mean`` / ``stdev`` / ``min`` / ``max`` of each field, over blocks.

    :meth:`add_arrays` takes float64 columns (exact ``float`` values),
    :meth:`add_values` lists of any Python values; :meth:`result` raises
    ``statistics.StatisticsError`` for no values, as DPA's
    ``compute_statistics`` does.
    """

    def __init__(self) -> None:
        self._acc = StatsAccumulator(FIELDS, "exact")
        self._values: list[list[Any]] | None = None  # per field, once a block is not plain floats
        self._blocks: list[list[np.ndarray]] = []

    def add_arrays(self, columns: list[np.ndarray]) -> None:
        """Add one block: a float64 array of Python ``float`` values per field."""
        if self._values is None and _finite(columns):
            self._acc.add(_Block(columns))
            self._blocks.append(columns)
        else:
            self.add_values([c.tolist() for c in columns])

    def add_values(self, columns: list[list[Any]]) -> None:
        """Add one block of arbitrary values, a list per field."""
        if self._values is None:
            self._values = [[] for _ in FIELDS]
            for block in self._blocks:
                for acc, c in zip(self._values, block):
                    acc.extend(c.tolist())
            self._blocks = []
        for acc, c in zip(self._values, columns):
            acc.extend(c)

    def result(self) -> dict[str, dict[str, Any]]:
        """DPA's ``compute_statistics`` block."""
        if self._values is None:
            if self._acc.count == 0:
                raise statistics.StatisticsError("mean requires at least one data point")
            return self._acc.result()
        out = {}
        for f, values in zip(FIELDS, self._values):
            out[f] = {
                "mean": statistics.mean(values),
                "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
                "min": min(values),
                "max": max(values),
                "count": len(values),
            }
        return out


class WelfordStats:
    """DPA's streaming statistics: Welford's recurrence per field, in order."""

    def __init__(self) -> None:
        self.count = 0
        self._mean = [0.0] * len(FIELDS)
        self._m2 = [0.0] * len(FIELDS)
        self._min: list[Any] = [math.inf] * len(FIELDS)
        self._max: list[Any] = [-math.inf] * len(FIELDS)

    def add_arrays(self, columns: list[np.ndarray]) -> None:
        """Add one block: a float64 array of Python ``float`` values per field."""
        if not _finite(columns):
            self.add_values([c.tolist() for c in columns])
            return
        n = float(self.count)
        for j, x in enumerate(columns):
            if not len(x):
                continue
            x = np.ascontiguousarray(x, dtype=np.float64)
            _, self._mean[j], self._m2[j] = welford_update(x, n, self._mean[j], self._m2[j])
            lo, hi = x.min(), x.max()
            # The first of equal values wins, as with min(); only 0.0 and -0.0 differ.
            if lo == 0:
                lo = x[int(np.argmax(x == 0))]
            if hi == 0:
                hi = x[int(np.argmax(x == 0))]
            if lo < self._min[j]:
                self._min[j] = float(lo)
            if hi > self._max[j]:
                self._max[j] = float(hi)
        self.count += len(columns[0])

    def add_values(self, columns: list[list[Any]]) -> None:
        """Add one block of arbitrary values (a list per field), in Python."""
        n0 = self.count
        for j, values in enumerate(columns):
            count, mean, m2 = n0, self._mean[j], self._m2[j]
            lo, hi = self._min[j], self._max[j]
            for value in values:
                count += 1
                lo = min(lo, value)
                hi = max(hi, value)
                delta = value - mean
                mean += delta / count
                m2 += delta * (value - mean)
            self._mean[j], self._m2[j], self._min[j], self._max[j] = mean, m2, lo, hi
        self.count += len(columns[0]) if columns else 0

    def result(self) -> dict[str, dict[str, Any]]:
        """DPA's ``compute_streaming_statistics`` block (zeros for no values)."""
        if self.count == 0:
            return empty_stats()
        n = self.count
        out = {}
        for j, f in enumerate(FIELDS):
            variance = self._m2[j] / (n - 1) if n > 1 else 0.0
            out[f] = {"mean": self._mean[j], "stdev": variance**0.5, "min": self._min[j],
                      "max": self._max[j], "count": n}
        return out


def _add_dicts(acc: ExactStats | WelfordStats, block: list[Any]) -> None:
    columns = gather_floats(block)
    if columns is not None:
        acc.add_arrays(columns)
    else:
        acc.add_values(values_of(block))


def compute_statistics(params_list: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """compute_statistics(params_list)

    DPA's statistics of a list of parameter dicts: per field ``mean`` and
    ``stdev`` (``statistics.mean`` / ``statistics.stdev``, exact; 0.0 for one
    value), ``min``, ``max``, ``count``, equal to DPA's bit for bit.

    Raises
    ------
    statistics.StatisticsError
        For an empty list, as DPA.
    KeyError
        For a dict without one of the five fields.
    """
    items = params_list if isinstance(params_list, list) else list(params_list)
    acc = ExactStats()
    for a in range(0, len(items), BLOCK):
        _add_dicts(acc, items[a:a + BLOCK])
    return acc.result()


def compute_streaming_statistics(param_generator: Any) -> dict[str, dict[str, Any]]:
    """compute_streaming_statistics(param_generator)

    DPA's streaming statistics of the dicts an iterable yields: Welford's
    recurrence in float64 in order (what ``save_augmentation_stream`` writes),
    equal to DPA's bit for bit; zeros and ``count`` 0 for nothing.  The
    iterable is consumed.  A dpa stream is not iterated: its records are
    generated as arrays and summarised by the compiled recurrence.
    """
    acc = WelfordStats()
    stream = array_stream(param_generator)
    if stream is not None:
        for records in record_blocks(stream):
            acc.add_arrays([records[f] for f in FIELDS])
        return acc.result()
    it = iter(param_generator)
    while True:
        block = list(islice(it, BLOCK))
        if not block:
            return acc.result()
        _add_dicts(acc, block)
