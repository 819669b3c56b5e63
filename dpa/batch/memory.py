"""Memory probes, the memory-aware batch sizer and the memory monitor.

Everything here reads memory through a *probe*: a callable returning a
:class:`MemorySnapshot` (or a mapping with its fields).  The default,
:func:`system_probe`, asks psutil for this process's resident set size (RSS)
and the machine's available memory; tests and unusual environments (cgroup
limits, GPU memory) pass their own, so every branch can be driven without
touching psutil.

Two limits, two different numbers:

* ``max_memory_mb`` is a budget in MiB.  Batch sizing keeps
  ``batch size * sample_size_bytes`` within it
  (:meth:`MemoryAwareBatcher.calculate_optimal_batch_size`), and the monitors
  compare **this process's RSS** with it: :func:`memory_monitor` raises
  :class:`MemoryLimitExceededError` on exit when the peak RSS it saw exceeded
  the budget (or at once, from ``check()``), and
  :meth:`BatchProcessor.process_with_memory_monitoring` raises it before
  making a batch when the RSS exceeds the budget.
  Under monitoring, batches also shrink (by ``SHRINK_FACTOR`` per probe)
  once the RSS passes ``RSS_SHRINK_FRACTION`` (90 %) of the budget.
* The **machine's** memory (``percent_used``, ``available_mb``) drives
  sizing: batches shrink above ``SHRINK_ABOVE_PERCENT`` (80 %), halve above
  ``HALVE_ABOVE_PERCENT`` (90 %), grow gently below ``GROW_BELOW_PERCENT``
  (50 %), and never need more than the available memory less a safety margin.
  Only ``process_with_memory_monitoring`` raises for it, when the machine is
  above ``FAIL_ABOVE_PERCENT`` (95 %) used: other processes can cause that,
  but going on invites the out-of-memory killer.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Union

from .config import (
    InvalidBatchConfigError,
    MemoryLimitExceededError,
    check_at_most,
    check_callable,
    check_int,
    check_number,
)

__all__ = [
    "MIB",
    "MemorySnapshot",
    "Probe",
    "system_probe",
    "MemoryAwareBatcher",
    "MemoryMonitor",
    "memory_monitor",
]

#: Bytes per MB in this module (MiB, as psutil and DPA count).
MIB = 1 << 20

#: Size of one record of ``dpa.PARAM_DTYPE``: the default ``sample_size_bytes``.
_RECORD_BYTES = 48


@dataclass(frozen=True)
class MemorySnapshot:
    """Memory at one instant, in MiB.

    Attributes
    ----------
    rss_mb : float
        Resident set size of this process.
    available_mb : float
        Memory the machine can give without swapping (psutil's ``available``).
    used_mb : float
        Memory the machine uses (psutil's ``used``).
    total_mb : float
        The machine's physical memory.
    percent_used : float
        The machine's memory in use, in percent (psutil's ``percent``).
    """

    rss_mb: float
    available_mb: float
    used_mb: float
    total_mb: float
    percent_used: float

    @classmethod
    def coerce(cls, value: Any) -> MemorySnapshot:
        """A snapshot from a snapshot or a mapping of its fields.

        A mapping may leave out ``rss_mb`` (then 0), ``used_mb`` and
        ``total_mb`` (then derived from the others where possible).
        """
        if isinstance(value, MemorySnapshot):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(
                f"a memory probe should return a MemorySnapshot or a mapping, but returned "
                f"{type(value).__name__}"
            )
        try:
            pct = float(value["percent_used"])
            avail = float(value["available_mb"])
        except KeyError as e:
            raise ValueError(f"memory usage mapping lacks {e.args[0]!r}") from None
        total = float(value.get("total_mb", 0.0)) or (
            avail / (1 - pct / 100) if pct < 100 else avail)
        used = float(value.get("used_mb", total - avail))
        return cls(float(value.get("rss_mb", 0.0)), avail, used, total, pct)

    def as_dict(self) -> dict[str, float]:
        """The fields as a dict (DPA's ``monitor_memory_usage`` keys plus ``rss_mb``)."""
        return asdict(self)


#: A memory probe: returns a snapshot (or a mapping of its fields).
Probe = Callable[[], Union[MemorySnapshot, Mapping[str, float]]]

_process = None
_process_pid = -1


def system_probe() -> MemorySnapshot:
    """This process's RSS and the machine's memory, from psutil (~0.1 ms)."""
    global _process, _process_pid
    import psutil

    pid = os.getpid()
    if _process_pid != pid:  # first call, or a forked child
        _process, _process_pid = psutil.Process(pid), pid
    rss = _process.memory_info().rss
    vm = psutil.virtual_memory()
    return MemorySnapshot(
        rss_mb=rss / MIB,
        available_mb=vm.available / MIB,
        used_mb=vm.used / MIB,
        total_mb=vm.total / MIB,
        percent_used=float(vm.percent),
    )


def _check_probe(probe: Any) -> Probe:
    if probe is None:
        return system_probe
    return check_callable(probe, "probe", "a MemorySnapshot")


class MemoryAwareBatcher:
    """MemoryAwareBatcher(max_memory_mb=1000, min_batch_size=1, *, max_batch_size=None, sample_size_bytes=None, safety_margin=0.1, probe=None)

    Sizes batches from the memory budget and the memory available.

    Parameters
    ----------
    max_memory_mb : float
        The budget a batch may use, in MiB (and the RSS limit of monitoring).
    min_batch_size : int
        Sizes never go below this.
    max_batch_size : int, optional
        Sizes never go above this (default: only the budget limits them).
    sample_size_bytes : int, optional
        Memory per sample; default 48, the size of a ``dpa.PARAM_DTYPE`` record.
    safety_margin : float
        Fraction of the available memory left untouched, in ``[0, 1)``.
    probe : callable, optional
        Returns a :class:`MemorySnapshot` (default :func:`system_probe`).

    Notes
    -----
    Thresholds on the machine's ``percent_used`` (class attributes, may be
    overridden per instance): ``GROW_BELOW_PERCENT = 50``,
    ``SHRINK_ABOVE_PERCENT = 80``, ``HALVE_ABOVE_PERCENT = 90``,
    ``FAIL_ABOVE_PERCENT = 95`` (used by monitoring only); the growth and
    shrink factors are ``GROW_FACTOR = 1.2`` and ``SHRINK_FACTOR = 0.8``.
    """

    GROW_BELOW_PERCENT = 50.0
    SHRINK_ABOVE_PERCENT = 80.0
    HALVE_ABOVE_PERCENT = 90.0
    FAIL_ABOVE_PERCENT = 95.0
    GROW_FACTOR = 1.2
    SHRINK_FACTOR = 0.8
    #: Under :meth:`BatchProcessor.process_with_memory_monitoring`, the
    #: fraction of ``max_memory_mb`` this process's RSS may reach before the
    #: sizing strategies shrink their batches by ``SHRINK_FACTOR``.
    RSS_SHRINK_FRACTION = 0.9

    def __init__(
        self,
        max_memory_mb: float = 1000,
        min_batch_size: int = 1,
        *,
        max_batch_size: int | None = None,
        sample_size_bytes: int | None = None,
        safety_margin: float = 0.1,
        probe: Probe | None = None,
    ) -> None:
        self.max_memory_mb = check_number(max_memory_mb, "max_memory_mb")
        self.min_batch_size = check_int(min_batch_size, "min_batch_size")
        self.max_batch_size = check_int(max_batch_size, "max_batch_size", optional=True)
        check_at_most(self.min_batch_size, "min_batch_size", self.max_batch_size,
                      "max_batch_size")
        self.sample_size_bytes = check_int(
            _RECORD_BYTES if sample_size_bytes is None else sample_size_bytes,
            "sample_size_bytes")
        margin = check_number(safety_margin, "safety_margin", positive=False)
        if margin >= 1:
            raise InvalidBatchConfigError(
                f"safety_margin should be in [0, 1), but got safety_margin={safety_margin!r}")
        self.safety_margin = margin
        self.probe = _check_probe(probe)

    def __repr__(self) -> str:
        return (
            f"MemoryAwareBatcher(max_memory_mb={self.max_memory_mb:g}, "
            f"min_batch_size={self.min_batch_size}, max_batch_size={self.max_batch_size}, "
            f"sample_size_bytes={self.sample_size_bytes}, safety_margin={self.safety_margin:g})"
        )

    def snapshot(self) -> MemorySnapshot:
        """Read the probe now."""
        return MemorySnapshot.coerce(self.probe())

    def monitor_memory_usage(self) -> dict[str, float]:
        """monitor_memory_usage()

        Current memory, as a dict.

        Returns
        -------
        dict
            ``available_mb``, ``used_mb``, ``total_mb``, ``percent_used`` (the
            machine; DPA's keys) and ``rss_mb`` (this process), as floats.
        """
        return self.snapshot().as_dict()

    def _clamp(self, size: int) -> int:
        if self.max_batch_size is not None:
            size = min(size, self.max_batch_size)
        return max(self.min_batch_size, size)

    def _fit(self, snap: MemorySnapshot, sample_size_bytes: int) -> int:
        """Samples whose memory fits in the budget and in the available memory."""
        room_mb = min(self.max_memory_mb, snap.available_mb * (1 - self.safety_margin))
        return max(0, math.floor(room_mb * MIB / sample_size_bytes))

    def calculate_optimal_batch_size(
        self,
        sample_size_bytes: int | None = None,
        memory_usage: MemorySnapshot | Mapping[str, float] | None = None,
    ) -> int:
        """calculate_optimal_batch_size(sample_size_bytes=None, memory_usage=None)

        The largest batch whose samples fit in memory.

        ``floor(min(max_memory_mb, available_mb * (1 - safety_margin)) MiB /
        sample_size_bytes)``, clamped to ``[min_batch_size, max_batch_size]``.

        Parameters
        ----------
        sample_size_bytes : int, optional
            Memory per sample (default: the batcher's ``sample_size_bytes``).
        memory_usage : MemorySnapshot or mapping, optional
            The memory to size for (default: read the probe now).

        Returns
        -------
        int
            The batch size; never below ``min_batch_size``.
        """
        size = self.sample_size_bytes if sample_size_bytes is None else check_int(
            sample_size_bytes, "sample_size_bytes")
        snap = self.snapshot() if memory_usage is None else MemorySnapshot.coerce(memory_usage)
        return self._clamp(self._fit(snap, size))

    def adjust_batch_size(
        self,
        current_size: int,
        memory_usage: MemorySnapshot | Mapping[str, float] | None = None,
    ) -> int:
        """adjust_batch_size(current_size, memory_usage=None)

        The next batch size, given the current one and the memory now.

        By the machine's ``percent_used``: above ``HALVE_ABOVE_PERCENT``
        (90) the size halves; above ``SHRINK_ABOVE_PERCENT`` (80) it shrinks
        by ``SHRINK_FACTOR`` (0.8); below
        ``GROW_BELOW_PERCENT`` (50) it grows by ``GROW_FACTOR`` (1.2, at
        least +1); in between it stays.  The result never exceeds what fits
        (:meth:`calculate_optimal_batch_size` for the same memory) and is
        clamped to ``[min_batch_size, max_batch_size]``.

        Parameters
        ----------
        current_size : int
            The current batch size (positive).
        memory_usage : MemorySnapshot or mapping, optional
            Memory as :meth:`monitor_memory_usage` returns it (``percent_used``
            and ``available_mb`` required); default: read the probe now.

        Returns
        -------
        int
            The adjusted batch size.

        Examples
        --------
        >>> b = MemoryAwareBatcher(max_memory_mb=500, min_batch_size=2)
        >>> [b.adjust_batch_size(20, {"percent_used": p, "available_mb": a})
        ...  for p, a in [(30, 350), (60, 200), (85, 75), (95, 25)]]
        [24, 20, 16, 10]
        """
        current = check_int(current_size, "current_size")
        snap = self.snapshot() if memory_usage is None else MemorySnapshot.coerce(memory_usage)
        pct = snap.percent_used
        if pct > self.HALVE_ABOVE_PERCENT:
            new = current // 2
        elif pct > self.SHRINK_ABOVE_PERCENT:
            new = int(current * self.SHRINK_FACTOR)
        elif pct < self.GROW_BELOW_PERCENT:
            new = max(current + 1, int(current * self.GROW_FACTOR))
        else:
            new = current
        new = min(new, self._fit(snap, self.sample_size_bytes))
        return self._clamp(new)


class MemoryMonitor:
    """The object :func:`memory_monitor` yields: this process's memory against a limit.

    Every ``get_*`` call reads the probe and updates the peak; so do the
    start and the end of the ``with`` block and, if the monitor was created
    with an ``interval``, a background thread every ``interval`` seconds.
    The peak is the highest RSS of those readings.
    """

    def __init__(self, max_memory_mb: float, probe: Probe | None = None) -> None:
        self.max_memory_mb = check_number(max_memory_mb, "max_memory_mb")
        self.probe = _check_probe(probe)
        self._lock = threading.Lock()
        self._peak_mb = 0.0
        self._last: MemorySnapshot | None = None
        self._closed = False

    def sample(self) -> MemorySnapshot:
        """Read the probe now; update the peak (after exit: the last reading)."""
        if self._closed and self._last is not None:
            return self._last
        snap = MemorySnapshot.coerce(self.probe())
        with self._lock:
            self._last = snap
            self._peak_mb = max(self._peak_mb, snap.rss_mb)
        return snap

    def get_usage_mb(self) -> float:
        """This process's RSS now, in MiB."""
        return self.sample().rss_mb

    def get_usage_percent(self) -> float:
        """This process's RSS now, in percent of ``max_memory_mb``."""
        return 100.0 * self.sample().rss_mb / self.max_memory_mb

    def get_peak_usage_mb(self) -> float:
        """The highest RSS seen so far (this reading included), in MiB."""
        self.sample()
        return self._peak_mb

    def get_available_mb(self) -> float:
        """The machine's available memory now, in MiB."""
        return self.sample().available_mb

    def check(self) -> None:
        """Raise :class:`MemoryLimitExceededError` if the RSS now exceeds the limit."""
        rss = self.get_usage_mb()
        if rss > self.max_memory_mb:
            raise MemoryLimitExceededError(
                f"process RSS {rss:.1f} MB exceeds max_memory_mb={self.max_memory_mb:g}"
            )


@contextmanager
def memory_monitor(
    max_memory_mb: float = 1000,
    *,
    probe: Probe | None = None,
    interval: float | None = None,
) -> Iterator[MemoryMonitor]:
    """memory_monitor(max_memory_mb=1000, *, probe=None, interval=None)

    Watch this process's memory (RSS) against ``max_memory_mb`` in a block.

    Parameters
    ----------
    max_memory_mb : float
        The limit, in MiB.
    probe : callable, optional
        Returns a :class:`MemorySnapshot` (default :func:`system_probe`).
    interval : float, optional
        If given, a background thread also reads the probe every ``interval``
        seconds, so that the peak catches spikes between explicit readings.

    Yields
    ------
    MemoryMonitor
        With ``get_usage_percent()`` (RSS in percent of the limit),
        ``get_peak_usage_mb()``, ``get_usage_mb()``, ``get_available_mb()``
        and ``check()``.

    Raises
    ------
    MemoryLimitExceededError
        On leaving the block normally, if the peak RSS seen exceeded
        ``max_memory_mb`` (an exception already leaving the block is not
        masked); and from ``monitor.check()`` if the RSS exceeds it then.

    Examples
    --------
    >>> with memory_monitor(max_memory_mb=100_000) as m:
    ...     _ = bytearray(1 << 20)
    >>> m.get_peak_usage_mb() > 0
    True
    """
    if interval is not None:
        interval = check_number(interval, "interval")
    monitor = MemoryMonitor(max_memory_mb, probe)
    monitor.sample()
    stop = threading.Event()
    thread = None
    if interval is not None:
        def run() -> None:
            while not stop.wait(interval):
                monitor.sample()

        thread = threading.Thread(target=run, name="dpa-memory-monitor", daemon=True)
        thread.start()
    ok = False
    try:
        yield monitor
        ok = True
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        monitor.sample()
        monitor._closed = True
    if ok and monitor._peak_mb > monitor.max_memory_mb:
        raise MemoryLimitExceededError(
            f"peak process RSS {monitor._peak_mb:.1f} MB exceeded "
            f"max_memory_mb={monitor.max_memory_mb:g}"
        )
