"""Batch strategies, the validated batch configuration, metrics and errors.

Every field of :class:`BatchConfig` is checked when the config is built and
again whenever a field is assigned; a bad value raises
:class:`InvalidBatchConfigError` naming the field and quoting the value, in
the pattern ``"batch_size should be a positive integer, but got
batch_size=0"``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from .. import _validate

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_WINDOW",
    "BatchStrategy",
    "BatchConfig",
    "BatchMetrics",
    "BatchProcessingError",
    "MemoryLimitExceededError",
    "InvalidBatchConfigError",
    "InvalidBatchConfigTypeError",
]

#: Batch size (batch count for ROUND_ROBIN, starting size for ADAPTIVE) when
#: ``batch_size`` is None, as in DPA 0.2.1.
DEFAULT_BATCH_SIZE = 32

#: Samples per round-robin window over an iterable of unknown length, when
#: ``window_size`` is None (rounded up to a multiple of the batch count).
DEFAULT_WINDOW = 8192


class BatchStrategy(Enum):
    """How a stream is cut into batches.

    SEQUENTIAL
        Consecutive groups of ``batch_size`` samples; the last may be smaller.
    ROUND_ROBIN
        ``batch_size`` is the number of batches: batch ``j`` holds samples
        ``j, j + n, j + 2n, ...`` of the stream (or of each window, over an
        iterable of unknown length).
    MEMORY_OPTIMIZED
        Consecutive groups whose size comes from the memory budget and the
        memory available, re-evaluated as memory changes.
    ADAPTIVE
        Consecutive groups whose size is learnt from the consumer's
        throughput (samples per second).
    """

    SEQUENTIAL = "sequential"
    ROUND_ROBIN = "round_robin"
    MEMORY_OPTIMIZED = "memory_optimized"
    ADAPTIVE = "adaptive"


class BatchProcessingError(Exception):
    """Base class of the batch engine's errors."""


class MemoryLimitExceededError(BatchProcessingError):
    """A memory limit was exceeded.

    Raised by :meth:`BatchProcessor.process_with_memory_monitoring` (before a
    batch is made) and by :func:`memory_monitor` (on exit, or from
    ``check()``); see their documentation for which limit applies when.
    """


class InvalidBatchConfigError(BatchProcessingError, ValueError):
    """A batch configuration value is invalid; the message names the field."""


class InvalidBatchConfigTypeError(InvalidBatchConfigError, TypeError):
    """A batch configuration value of the wrong type: also a ``TypeError``."""


# ---- validation (the checkers of dpa._validate, with the batch engine's errors) ----

#: The batch engine's errors: DPA's class, and a ``TypeError`` for a wrong type.
ERRORS = (InvalidBatchConfigTypeError, InvalidBatchConfigError)


def check_int(value: Any, name: str, *, minimum: int = 1, optional: bool = False) -> int | None:
    """``value`` as an int ``>= minimum`` (None allowed if ``optional``)."""
    if value is None and optional:
        return None
    return _validate.check_int(value, name, minimum=minimum, errors=ERRORS)


def check_number(value: Any, name: str, *, positive: bool = True) -> float:
    """``value`` as a finite float, ``> 0`` (or ``>= 0`` if not ``positive``)."""
    return _validate.check_number(value, name, positive=positive,
                                  minimum=None if positive else 0, errors=ERRORS)


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is a bool (``numpy.bool_`` included)."""
    return _validate.check_bool(value, name, errors=ERRORS)


def check_callable(value: Any, name: str, what: str) -> Any:
    """``value`` if it is callable (``what`` says what it should return)."""
    if not callable(value):
        raise InvalidBatchConfigTypeError(
            f"{name} should be a callable returning {what}, but got {name}={value!r}")
    return value


def check_at_most(low: int, low_name: str, high: int | None, high_name: str) -> None:
    """``low <= high`` (no bound if ``high`` is None), naming both."""
    if high is not None and low > high:
        raise InvalidBatchConfigError(
            f"{low_name} should be at most {high_name}, but got {low_name}={low}, "
            f"{high_name}={high}"
        )


def check_strategy(value: Any, name: str = "strategy") -> BatchStrategy:
    """``value`` if it is a :class:`BatchStrategy` (``InvalidBatchConfigTypeError`` if not)."""
    if not isinstance(value, BatchStrategy):
        hint = ""
        if isinstance(value, str) and value in {s.value for s in BatchStrategy}:
            hint = f" (use BatchStrategy({value!r}))"
        raise InvalidBatchConfigTypeError(
            f"{name} should be a BatchStrategy such as BatchStrategy.SEQUENTIAL, but got "
            f"{name}={value!r} of type {type(value).__name__}{hint}"
        )
    return value


@dataclass
class BatchConfig:
    """BatchConfig(strategy, batch_size=None, max_memory_mb=1000, min_batch_size=1, adaptive_sizing=True, max_batch_size=None, sample_size_bytes=None, window_size=None, reuse_buffers=False, probe_interval=0.05, lookahead_bytes=None)

    How a :class:`BatchProcessor` cuts a stream into batches.

    Parameters
    ----------
    strategy : BatchStrategy
        The batching strategy.
    batch_size : int, optional
        SEQUENTIAL: samples per batch.  ROUND_ROBIN: the number of batches.
        ADAPTIVE: the starting size.  MEMORY_OPTIMIZED: the starting size
        (default: the size the memory budget allows).  None means
        ``DEFAULT_BATCH_SIZE`` (32) except for MEMORY_OPTIMIZED.
    max_memory_mb : float
        The memory budget in MiB (1 MB = 2**20 bytes here).  Batches are sized
        so that ``batch size * sample_size_bytes`` fits in it (MEMORY_OPTIMIZED,
        and the ceiling of ADAPTIVE); monitoring compares this process's RSS
        with it.
    min_batch_size : int
        The smallest batch the sizing strategies make (a stream's last batch
        may still be smaller).  Not applied to ROUND_ROBIN, whose batch sizes
        follow from the batch count.
    adaptive_sizing : bool
        MEMORY_OPTIMIZED: re-evaluate the size as memory changes (else once,
        at the start).  ADAPTIVE: learn the size (else a fixed ``batch_size``).
    max_batch_size : int, optional
        The largest batch the sizing strategies make (default: no limit but
        the memory budget).
    sample_size_bytes : int, optional
        The memory one sample costs the consumer (e.g. its decoded image);
        default: the record size (48 bytes for ``dpa.PARAM_DTYPE``, 112 with
        the hash; an array's row size; an estimate of the first item's size
        for other iterables).
    window_size : int, optional
        ROUND_ROBIN over an iterable of unknown length: samples per window
        (at least ``batch_size``); batches are dealt within each window, so
        memory is bounded by one window.  Default: ``DEFAULT_WINDOW`` (8192)
        rounded up to a multiple of the batch count.
    reuse_buffers : bool
        Opt in to writing generated and gathered batches into one reused
        buffer: faster, but each yielded array is overwritten by the next.
        Default False: every yielded array stays valid.
    probe_interval : float
        Seconds between memory probes (a probe costs ~0.1 ms); 0 probes
        before every batch.
    lookahead_bytes : int, optional
        dpa streams: bytes of records generated ahead of the consumer, in
        blocks made by the worker team in the background while the consumer
        works on the batch before (:mod:`dpa.lookahead`).  None: 32 MiB
        (``dpa.lookahead.DEFAULT_LOOKAHEAD_BYTES``); at least one batch is
        always held; 0: each batch is generated when it is asked for.

    Raises
    ------
    InvalidBatchConfigError
        If a value is invalid, on construction or on assignment.

    Examples
    --------
    >>> BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=0)
    Traceback (most recent call last):
    ...
    dpa.batch.config.InvalidBatchConfigError: batch_size should be a positive integer, but got batch_size=0
    """

    strategy: BatchStrategy
    batch_size: int | None = None
    max_memory_mb: float = 1000
    min_batch_size: int = 1
    adaptive_sizing: bool = True
    max_batch_size: int | None = None
    sample_size_bytes: int | None = None
    window_size: int | None = None
    reuse_buffers: bool = False
    probe_interval: float = 0.05
    lookahead_bytes: int | None = None

    def __post_init__(self) -> None:
        self._validate()
        object.__setattr__(self, "_ready", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if not self.__dict__.get("_ready") or name not in self.__dataclass_fields__:
            object.__setattr__(self, name, value)
            return
        old = getattr(self, name)
        object.__setattr__(self, name, value)
        try:
            self._validate()
        except InvalidBatchConfigError:
            object.__setattr__(self, name, old)
            raise

    def _validate(self) -> None:
        set_ = object.__setattr__
        set_(self, "strategy", check_strategy(self.strategy))
        set_(self, "batch_size", check_int(self.batch_size, "batch_size", optional=True))
        mm = self.max_memory_mb
        check_number(mm, "max_memory_mb")
        if isinstance(mm, numbers.Integral):
            set_(self, "max_memory_mb", int(mm))
        else:
            set_(self, "max_memory_mb", float(mm))
        set_(self, "min_batch_size", check_int(self.min_batch_size, "min_batch_size"))
        set_(self, "adaptive_sizing", check_bool(self.adaptive_sizing, "adaptive_sizing"))
        set_(self, "max_batch_size",
             check_int(self.max_batch_size, "max_batch_size", optional=True))
        set_(self, "sample_size_bytes",
             check_int(self.sample_size_bytes, "sample_size_bytes", optional=True))
        set_(self, "window_size", check_int(self.window_size, "window_size", optional=True))
        set_(self, "reuse_buffers", check_bool(self.reuse_buffers, "reuse_buffers"))
        set_(self, "probe_interval",
             check_number(self.probe_interval, "probe_interval", positive=False))
        set_(self, "lookahead_bytes",
             check_int(self.lookahead_bytes, "lookahead_bytes", minimum=0, optional=True))
        lo, hi, bs = self.min_batch_size, self.max_batch_size, self.batch_size
        check_at_most(lo, "min_batch_size", hi, "max_batch_size")
        if self.strategy is BatchStrategy.ROUND_ROBIN:
            n = self.num_batches
            if self.window_size is not None and self.window_size < n:
                raise InvalidBatchConfigError(
                    f"window_size should be at least batch_size (the number of round-robin "
                    f"batches), but got window_size={self.window_size}, batch_size={n}"
                )
        elif bs is not None:
            if bs < lo:
                raise InvalidBatchConfigError(
                    f"batch_size should be at least min_batch_size, but got batch_size={bs}, "
                    f"min_batch_size={lo}"
                )
            check_at_most(bs, "batch_size", hi, "max_batch_size")

    @property
    def num_batches(self) -> int:
        """ROUND_ROBIN's batch count: ``batch_size`` or ``DEFAULT_BATCH_SIZE``."""
        return DEFAULT_BATCH_SIZE if self.batch_size is None else self.batch_size

    def effective_window(self) -> int:
        """ROUND_ROBIN's window over iterables of unknown length, in samples."""
        if self.window_size is not None:
            return self.window_size
        n = self.num_batches
        return n * max(1, -(-DEFAULT_WINDOW // n))

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (``strategy`` as its string value)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["strategy"] = self.strategy.value
        return d


@dataclass
class BatchMetrics:
    """BatchMetrics(total_batches, avg_batch_size, memory_usage_mb, processing_time_seconds, throughput_samples_per_second)

    What a :class:`BatchProcessor` run did (DPA 0.2.1's fields).

    Attributes
    ----------
    total_batches : int
        Batches yielded.
    avg_batch_size : float
        Samples per batch.
    memory_usage_mb : float
        The highest RSS of this process seen by the memory probe during the
        run (probed at the start and at every probe), in MiB.
    processing_time_seconds : float
        Wall time from the first request for a batch to the latest.
    throughput_samples_per_second : float
        Samples yielded per second of ``processing_time_seconds``.
    """

    total_batches: int = 0
    avg_batch_size: float = 0.0
    memory_usage_mb: float = 0.0
    processing_time_seconds: float = 0.0
    throughput_samples_per_second: float = 0.0

    @property
    def total_samples(self) -> int:
        """Samples yielded: ``total_batches * avg_batch_size``."""
        return round(self.total_batches * self.avg_batch_size)
