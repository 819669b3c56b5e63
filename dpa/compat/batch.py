"""DPA 0.2.1's ``src/batch.py``: its batching strategies, as DPA runs them.

A DPA user gets DPA's batches: lists of the stream's items, cut as DPA cuts
them.  SEQUENTIAL and ROUND_ROBIN both make consecutive groups of
``batch_size`` (DPA's ROUND_ROBIN deals nothing out; :mod:`dpa.batch` has the
real round robin of the batching guide).  MEMORY_OPTIMIZED and ADAPTIVE follow
DPA's rules item by item, reading the machine's memory (``MemoryInfo``) where
DPA reads it, so their sizes and errors are DPA's for the same readings.
Over a dpa stream, SEQUENTIAL and ROUND_ROBIN batches are made from blocks of
records generated as arrays, not from the stream's dicts one by one.

``BatchStrategy``, ``BatchMetrics`` and the errors are :mod:`dpa.batch`'s
(``InvalidBatchConfigError`` is also a ``ValueError``; a value of the wrong
type raises its ``TypeError`` subclass).  ``BatchConfig`` has DPA's five
fields and messages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import psutil

from .. import _validate
from ..batch import (
    BatchMetrics,
    BatchProcessingError,
    BatchStrategy,
    InvalidBatchConfigError,
    InvalidBatchConfigTypeError,
    MemoryLimitExceededError,
)
from ..records import records_to_dicts
from ._arith import safe_division
from ._sources import BLOCK, array_stream, dict_extra

__all__ = [
    "BatchConfig",
    "BatchMetrics",
    "BatchProcessingError",
    "BatchProcessor",
    "BatchStrategy",
    "InvalidBatchConfigError",
    "MemoryAwareBatcher",
    "MemoryInfo",
    "MemoryLimitExceededError",
    "get_memory_usage",
    "memory_monitor",
    "safe_division",
]

_MB = 1024 * 1024
_ERRORS = (InvalidBatchConfigTypeError, InvalidBatchConfigError)


def _int(value: Any, name: str) -> int:
    return _validate.check_int(value, name, errors=_ERRORS)


@dataclass
class BatchConfig:
    """BatchConfig(strategy, batch_size=None, max_memory_mb=1000, min_batch_size=1, adaptive_sizing=True)

    DPA's batch configuration.  ``batch_size`` None means 32.

    Raises
    ------
    InvalidBatchConfigError
        DPA's messages, e.g. ``"batch_size (0) must be positive"``,
        ``"batch_size (2) cannot be less than min_batch_size (5)"``,
        ``"max_memory_mb must be positive"``, on construction (as in DPA;
        :class:`dpa.batch.BatchConfig` also checks assignments).  A value of
        the wrong type (a float batch size, a bool) raises its subclass that
        is also a ``TypeError``.
    """

    strategy: BatchStrategy
    batch_size: int | None = None
    max_memory_mb: int = 1000
    min_batch_size: int = 1
    adaptive_sizing: bool = True

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        b, lo = self.batch_size, _int(self.min_batch_size, "min_batch_size")
        if b is not None:
            b = _int(b, "batch_size")
            if b <= 0:
                raise InvalidBatchConfigError(f"batch_size ({b}) must be positive")
            if b < lo:
                raise InvalidBatchConfigError(
                    f"batch_size ({b}) cannot be less than min_batch_size ({lo})")
        _validate.check_number(self.max_memory_mb, "max_memory_mb", finite=False,
                               errors=_ERRORS)
        if not self.max_memory_mb > 0:
            raise InvalidBatchConfigError("max_memory_mb must be positive")
        if lo <= 0:
            raise InvalidBatchConfigError("min_batch_size must be positive")
        _validate.check_bool(self.adaptive_sizing, "adaptive_sizing", errors=_ERRORS)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (``strategy`` as its string value)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["strategy"] = getattr(self.strategy, "value", self.strategy)
        return d


@dataclass
class MemoryInfo:
    """MemoryInfo(available_mb, used_mb, total_mb, percent_used)

    The machine's memory in MiB (psutil's ``virtual_memory``), as DPA reads it.
    """

    available_mb: int
    used_mb: int
    total_mb: int
    percent_used: float

    @classmethod
    def current(cls) -> MemoryInfo:
        """The machine's memory now."""
        m = psutil.virtual_memory()
        return cls(int(m.available / _MB), int(m.used / _MB), int(m.total / _MB), m.percent)


def get_memory_usage() -> MemoryInfo:
    """get_memory_usage()

    ``MemoryInfo.current()``.
    """
    return MemoryInfo.current()


@contextmanager
def memory_monitor(max_memory_mb: int) -> Iterator[MemoryInfo]:
    """memory_monitor(max_memory_mb)

    Yields the machine's memory at the start; on exit raises
    :class:`MemoryLimitExceededError` if the machine's used memory is then
    above ``max_memory_mb`` MiB (DPA's rule: the machine, not this process;
    :func:`dpa.batch.memory_monitor` watches this process).
    """
    initial = get_memory_usage()
    try:
        yield initial
    finally:
        final = get_memory_usage()
        if final.used_mb > max_memory_mb:
            raise MemoryLimitExceededError(
                f"Memory usage ({final.used_mb}MB) exceeded limit ({max_memory_mb}MB)")


class MemoryAwareBatcher:
    """MemoryAwareBatcher(max_memory_mb=1000, min_batch_size=1, adjustment_factor=0.8)

    DPA's batch sizing from the machine's memory.
    """

    #: Fraction of the available memory held back by :meth:`calculate_optimal_batch_size`.
    SAFETY_MARGIN = 0.1

    def __init__(self, max_memory_mb: int = 1000, min_batch_size: int = 1,
                 adjustment_factor: float = 0.8) -> None:
        self.max_memory_mb = max_memory_mb
        self.min_batch_size = min_batch_size
        self._safety_margin = self.SAFETY_MARGIN
        self._adjustment_factor = adjustment_factor

    def calculate_optimal_batch_size(self, sample_size_bytes: int) -> int:
        """The samples of ``sample_size_bytes`` that fit both in 90 % of the
        available memory and in ``max_memory_mb``; at least ``min_batch_size``."""
        if sample_size_bytes <= 0:
            return self.min_batch_size
        info = MemoryInfo.current()
        available = info.available_mb * (1 - self._safety_margin) * _MB
        fits = int(safe_division(available, sample_size_bytes, self.min_batch_size))
        limit = int(safe_division(self.max_memory_mb * _MB, sample_size_bytes,
                                  self.min_batch_size))
        return max(self.min_batch_size, min(fits, limit))

    def monitor_memory_usage(self) -> dict[str, int]:
        """``{"available_mb", "used_mb", "total_mb", "percent_used"}`` now (ints)."""
        info = MemoryInfo.current()
        return {"available_mb": info.available_mb, "used_mb": info.used_mb,
                "total_mb": info.total_mb, "percent_used": int(info.percent_used)}

    def adjust_batch_size(self, current_size: int, memory_usage: dict[str, int]) -> int:
        """DPA's next size: shrink above 80 % used or when less than
        ``max_memory_mb`` is available, grow by 20 % below 50 % used with
        twice ``max_memory_mb`` available, else keep."""
        percent = memory_usage.get("percent_used", 0)
        available = memory_usage.get("available_mb", 0)
        if percent > 80:
            return max(self.min_batch_size, int(current_size * self._adjustment_factor))
        if available < self.max_memory_mb:
            return max(self.min_batch_size, int(current_size * (available / self.max_memory_mb)))
        if percent < 50 and available > self.max_memory_mb * 2:
            return int(current_size * 1.2)
        return current_size


class BatchProcessor:
    """BatchProcessor(strategy, config)

    DPA's batch processor: :meth:`process_stream` cuts an iterable of
    parameter dicts into lists.  ``strategy`` may be reassigned; an unknown
    value raises :class:`BatchProcessingError` when batches are asked for,
    as in DPA.

    Raises
    ------
    InvalidBatchConfigError
        ``"strategy must be a BatchStrategy enum, got str"``.
    """

    #: ADAPTIVE keeps this many recent batches' timings.
    HISTORY = 20

    def __init__(self, strategy: BatchStrategy, config: BatchConfig) -> None:
        if not isinstance(strategy, BatchStrategy):
            raise InvalidBatchConfigError(
                f"strategy must be a BatchStrategy enum, got {type(strategy).__name__}")
        self.strategy = strategy
        self.config = config
        self._memory_batcher = MemoryAwareBatcher(max_memory_mb=config.max_memory_mb,
                                                  min_batch_size=config.min_batch_size)
        self._performance_history: list[dict[str, float]] = []
        self._current_batch_size = config.batch_size or 32

    def __repr__(self) -> str:
        return f"BatchProcessor({self.strategy}, {self.config!r})"

    # ---- strategies ----------------------------------------------------------------

    def _consecutive(self, items: Any) -> Iterator[list[Any]]:
        """SEQUENTIAL and ROUND_ROBIN: groups of the size current when the run starts."""
        size = self._current_batch_size
        stream = array_stream(items)
        if stream is not None:
            yield from _record_batches(stream, size)
            return
        batch: list[Any] = []
        for item in items:
            batch.append(item)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _memory_optimized(self, items: Any) -> Iterator[list[Any]]:
        mb = self._memory_batcher
        batch: list[Any] = []
        for item in items:
            if len(batch) % 10 == 0:
                usage = mb.monitor_memory_usage()
                optimal = mb.adjust_batch_size(len(batch), usage)
                if (len(batch) >= optimal or usage.get("percent_used", 0) > 75) and batch:
                    yield batch
                    batch = []
            if len(batch) >= self._current_batch_size * 2:
                yield batch
                batch = []
            batch.append(item)
        if batch:
            yield batch

    def _adaptive(self, items: Any) -> Iterator[list[Any]]:
        mb = self._memory_batcher
        history = self._performance_history
        batch: list[Any] = []
        for item in items:
            start = time.time()
            batch.append(item)
            target = current = self._current_batch_size
            if history:
                recent = history[-5:]
                per_item = sum(p["time_per_item"] for p in recent) / len(recent)
                if per_item > 0.1:
                    target = max(self.config.min_batch_size, current // 2)
                elif per_item < 0.01:
                    target = min(current * 2, 1000)
            size = min(target, mb.adjust_batch_size(target, mb.monitor_memory_usage()))
            if len(batch) >= size:
                spent = time.time() - start
                history.append({"batch_size": len(batch), "processing_time": spent,
                                "time_per_item": spent / len(batch)})
                if len(history) > self.HISTORY:
                    del history[:-self.HISTORY]
                yield batch
                batch = []
        if batch:
            yield batch

    # ---- entry points --------------------------------------------------------------

    def process_stream(self, param_generator: Any) -> Iterator[list[Any]]:
        """process_stream(param_generator)

        Batches (lists) of the items of ``param_generator`` by the strategy.

        Raises
        ------
        BatchProcessingError
            ``"Unknown batch strategy: ..."`` if ``strategy`` was set to
            something else than a :class:`BatchStrategy` (when iterated).
        """
        s = self.strategy
        if s is BatchStrategy.SEQUENTIAL or s is BatchStrategy.ROUND_ROBIN:
            yield from self._consecutive(param_generator)
        elif s is BatchStrategy.MEMORY_OPTIMIZED:
            yield from self._memory_optimized(param_generator)
        elif s is BatchStrategy.ADAPTIVE:
            yield from self._adaptive(param_generator)
        else:
            raise BatchProcessingError(f"Unknown batch strategy: {s}")

    def process_with_memory_monitoring(self, param_generator: Any) -> Iterator[list[Any]]:
        """process_with_memory_monitoring(param_generator)

        As :meth:`process_stream`, reading the machine's memory after each
        batch: above 80 % used the next runs' batch size shrinks.

        Raises
        ------
        MemoryLimitExceededError
            Above 90 % of the machine's memory used.
        """
        for batch in self.process_stream(param_generator):
            usage = self._memory_batcher.monitor_memory_usage()
            percent = usage.get("percent_used", 0)
            if percent > 90:
                raise MemoryLimitExceededError(
                    f"Memory usage ({usage['percent_used']}%) is critically high")
            if percent > 80:
                self._current_batch_size = self._memory_batcher.adjust_batch_size(
                    self._current_batch_size, usage)
            yield batch


def _record_batches(stream: Any, size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` dicts of a dpa stream, made from blocks of records."""
    extra = dict_extra(stream)
    has_hash = stream.param_seeding.has_hash
    rest = stream.claim()
    block = max(size, 256)
    a = 0
    while a < len(rest):
        n = min(block, len(rest) - a)
        n -= n % size if n > size else 0
        dicts = records_to_dicts(stream.generate(rest[a:a + n], hash=has_hash), **extra)
        for b in range(0, len(dicts), size):
            yield dicts[b:b + size]
        a += n
        block = min(block * 4, max(BLOCK, size))
