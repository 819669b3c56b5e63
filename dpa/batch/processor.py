"""The batch processor: cuts a stream into batches by one of four strategies.

``BatchProcessor(strategy, config).process_stream(stream)`` returns an
iterator of batches.  What a batch is depends on the input (see
:mod:`dpa.batch.sources`): a structured array for a dpa stream (generated
from id ranges, no per-sample object), a view or a gathered copy for an
array or ``np.memmap``, a list of items for any other iterable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .adaptive import AdaptiveController
from .config import (
    DEFAULT_BATCH_SIZE,
    BatchConfig,
    BatchMetrics,
    BatchStrategy,
    InvalidBatchConfigError,
    InvalidBatchConfigTypeError,
    MemoryLimitExceededError,
    check_bool,
    check_callable,
    check_strategy,
)
from .memory import MemoryAwareBatcher, MemorySnapshot, Probe, _check_probe
from .sources import ArraySource, IterableSource, StreamSource, make_source

__all__ = ["BatchProcessor", "BatchIterator"]


class BatchIterator(Iterator):
    """The iterator :meth:`BatchProcessor.process_stream` returns.

    Iterate it for batches (``iter()`` gives the underlying generator, which
    shares its state, so ``for`` loops pay no wrapper).  ``len()`` is the
    number of batches when it is
    known in advance: SEQUENTIAL (``ceil(N / batch_size)``, if ``batch_size``
    is not changed during the run) and ROUND_ROBIN (``min(batch_size, N)``)
    over an input of known length ``N``; otherwise ``len()`` raises
    ``TypeError``.  ``close()`` stops it early.
    """

    def __init__(self, gen: Iterator[Any], length: int | None, source: Any = None) -> None:
        self._gen = gen
        self._length = length
        self._source = source

    def __iter__(self) -> Iterator[Any]:
        # The generator itself, so that ``for`` loops skip this wrapper.
        return self._gen

    def __next__(self) -> Any:
        return next(self._gen)

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError("the number of batches is not known in advance for this "
                            "strategy and input")
        return self._length

    def close(self) -> None:
        """Stop producing batches; returns once no record is generated ahead
        for this iterator any more."""
        self._gen.close()
        close = getattr(self._source, "close", None)
        if close is not None:
            close(wait=True)


class BatchProcessor:
    """BatchProcessor(strategy, config=None, *, probe=None, clock=None)

    Cuts parameter streams into batches.

    Parameters
    ----------
    strategy : BatchStrategy
        The strategy; must equal ``config.strategy`` when a config is given.
    config : BatchConfig, optional
        Default: ``BatchConfig(strategy)``.
    probe : callable, optional
        Memory probe returning a :class:`~dpa.batch.MemorySnapshot` (default:
        psutil, :func:`~dpa.batch.system_probe`).
    clock : callable, optional
        Returns seconds as a float (default ``time.perf_counter``).  ADAPTIVE
        measures the consumer with it, and probes are spaced by it.

    Strategies (N samples, ``batch_size`` b):

    SEQUENTIAL
        Batches of b consecutive samples; the last may be smaller.  A change
        of ``config.batch_size`` takes effect from the next batch.
    ROUND_ROBIN
        b batches; batch ``j`` holds samples ``j, j + b, j + 2b, ...``, so
        sizes differ by at most one.  Over a dpa stream, an array or a
        sequence, across the whole input; over another iterable, within
        windows of ``config.effective_window()`` samples (batch ``j`` of each
        window), memory bounded by a window.
    MEMORY_OPTIMIZED
        Consecutive batches sized by the memory budget: starting at
        ``batch_size`` (at most what fits) or
        :meth:`MemoryAwareBatcher.calculate_optimal_batch_size`,
        then :meth:`MemoryAwareBatcher.adjust_batch_size` at each memory probe
        (at most every ``probe_interval`` seconds), if ``adaptive_sizing``.
    ADAPTIVE
        Consecutive batches sized by an :class:`AdaptiveController`: the time
        from yielding a batch to being asked for the next (plus the time to
        make it) is measured, and the size with the best samples per second
        in ``[min_batch_size, max_batch_size]`` and the memory ceiling is
        searched for and tracked.  Without ``adaptive_sizing``: fixed
        ``batch_size``.

    Batches of dpa streams are new arrays that stay valid after the next
    batch unless ``config.reuse_buffers`` is set.

    Attributes
    ----------
    controller : AdaptiveController or None
        The ADAPTIVE run's controller (inspect ``size``, ``settled``).
    current_batch_size : int or None
        The size asked for the latest batch.
    """

    def __init__(
        self,
        strategy: BatchStrategy,
        config: BatchConfig | None = None,
        *,
        probe: Probe | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        strategy = check_strategy(strategy)
        if config is None:
            config = BatchConfig(strategy=strategy)
        elif not isinstance(config, BatchConfig):
            raise InvalidBatchConfigTypeError(
                f"config should be a BatchConfig, but got config of type {type(config).__name__}"
            )
        elif config.strategy is not strategy:
            raise InvalidBatchConfigError(
                f"strategy should equal config.strategy, but got strategy={strategy}, "
                f"config.strategy={config.strategy}"
            )
        if clock is not None:
            check_callable(clock, "clock", "seconds")
        self.strategy = strategy
        self.config = config
        self._probe = _check_probe(probe)
        self._clock = time.perf_counter if clock is None else clock
        self._memory_batcher = self._make_batcher(config.sample_size_bytes)
        self.controller: AdaptiveController | None = None
        self.current_batch_size: int | None = None
        self._reset_run()

    @property
    def strategy(self) -> BatchStrategy:
        """The strategy; setting anything but a :class:`BatchStrategy` raises
        :class:`InvalidBatchConfigError` (a ``TypeError`` too)."""
        return self._strategy

    @strategy.setter
    def strategy(self, value: BatchStrategy) -> None:
        self._strategy = check_strategy(value)

    def __repr__(self) -> str:
        return f"BatchProcessor({self.strategy}, {self.config!r})"

    # ---- memory --------------------------------------------------------------

    def _make_batcher(self, sample_size_bytes: int | None) -> MemoryAwareBatcher:
        c = self.config
        return MemoryAwareBatcher(
            c.max_memory_mb, c.min_batch_size, max_batch_size=c.max_batch_size,
            sample_size_bytes=sample_size_bytes, probe=self._probe,
        )

    def _snapshot(self, force: bool = False) -> MemorySnapshot:
        """The latest memory snapshot, reading the probe when it is due.

        The probe is read if ``force``, if none was read in this run, or if
        ``probe_interval`` seconds have passed since the last reading;
        ``self._reading`` counts the readings, so callers can tell new ones.
        """
        snap = self._snap
        if force or snap is None or self._clock() - self._snap_time >= self.config.probe_interval:
            snap = self._memory_batcher.snapshot()
            self._snap, self._snap_time = snap, self._clock()
            self._reading += 1
            if snap.rss_mb > self._peak_rss:
                self._peak_rss = snap.rss_mb
        return snap

    def _check_limits(self) -> None:
        """Raise :class:`MemoryLimitExceededError` if a new reading shows a limit exceeded."""
        snap = self._snapshot()
        if self._reading == self._checked:
            return
        self._checked = self._reading
        budget = self._memory_batcher.max_memory_mb
        if snap.rss_mb > budget:
            raise MemoryLimitExceededError(
                f"process RSS {snap.rss_mb:.1f} MB exceeds max_memory_mb={budget:g} "
                f"after {self._batches} batches; raise max_memory_mb or lower the batch size"
            )
        fail = self._memory_batcher.FAIL_ABOVE_PERCENT
        if snap.percent_used > fail:
            raise MemoryLimitExceededError(
                f"machine memory {snap.percent_used:.1f}% used (above {fail:g}%), "
                f"{snap.available_mb:.0f} MB available, after {self._batches} batches"
            )

    def _rss_pressure(self, snap: MemorySnapshot) -> bool:
        """Monitoring only: this process's RSS is near its budget."""
        b = self._memory_batcher
        return self._monitoring and snap.rss_mb > b.RSS_SHRINK_FRACTION * b.max_memory_mb

    def _resize(self, current: int, snap: MemorySnapshot) -> int:
        """MEMORY_OPTIMIZED's next size: ``adjust_batch_size``, and RSS pressure."""
        b = self._memory_batcher
        new = b.adjust_batch_size(current, snap)
        if self._rss_pressure(snap):
            new = min(new, max(b.min_batch_size, int(current * b.SHRINK_FACTOR)))
        return new

    def _ceiling(self, current: int, snap: MemorySnapshot) -> int:
        """ADAPTIVE's ceiling: what fits in the budget, lower under pressure."""
        b = self._memory_batcher
        ceiling = b.calculate_optimal_batch_size(memory_usage=snap)
        if snap.percent_used > b.SHRINK_ABOVE_PERCENT or self._rss_pressure(snap):
            ceiling = min(ceiling, self._resize(current, snap))
        return ceiling

    # ---- metrics -------------------------------------------------------------

    def _reset_run(self) -> None:
        self._batches = 0
        self._samples = 0
        self._peak_rss = 0.0
        self._snap: MemorySnapshot | None = None
        self._reading = 0
        self._checked = 0
        self._monitoring = False
        self._snap_time = 0.0
        self._t_start: float | None = None
        self._t_last = 0.0
        self._live = False  # a run's generator is suspended at a batch

    def get_metrics(self) -> BatchMetrics:
        """get_metrics()

        Metrics of the latest (or current) run.

        Returns
        -------
        BatchMetrics
            Batches, mean size, peak RSS seen, time and throughput.
        """
        if self._t_start is None:
            seconds = 0.0
        else:
            # Runs that time nothing per batch count up to now while they last.
            last = self._clock() if self._live and self.controller is None and \
                not self._monitoring else self._t_last
            seconds = max(0.0, last - self._t_start)
        if self._t_start is not None and self._reading == 0:
            self._snapshot(force=True)  # fixed sizes read no probe while they run
        return BatchMetrics(
            total_batches=self._batches,
            avg_batch_size=self._samples / self._batches if self._batches else 0.0,
            memory_usage_mb=self._peak_rss,
            processing_time_seconds=seconds,
            throughput_samples_per_second=self._samples / seconds if seconds > 0 else 0.0,
        )

    # ---- entry points --------------------------------------------------------

    def process_stream(self, param_generator: Any, *, hash: bool = False) -> BatchIterator:
        """process_stream(param_generator, *, hash=False)

        Batches of a stream, by the processor's strategy.

        Parameters
        ----------
        param_generator : ParamStream, ndarray or iterable
            A dpa stream (``stream_augmentation_chain``, the distributed
            stream): batches are structured arrays of ``dpa.PARAM_DTYPE``
            generated from id ranges, and the stream's ``position`` advances
            with each consecutive batch (ROUND_ROBIN claims the whole
            remainder).  An ndarray or ``np.memmap``: consecutive batches are
            views, round-robin batches gathered copies.  Any other iterable
            (e.g. DPA's generator): lists of its items.
        hash : bool
            dpa streams only: include DPA's hash (``dpa.PARAM_HASH_DTYPE``).

        Returns
        -------
        BatchIterator
            An iterator of batches, with ``len()`` where it is known.

        Raises
        ------
        TypeError
            If the input is not a stream, an array or an iterable.
        """
        return self._start(param_generator, hash, monitor=False)

    def process_with_memory_monitoring(
        self, param_generator: Any, *, hash: bool = False
    ) -> BatchIterator:
        """process_with_memory_monitoring(param_generator, *, hash=False)

        As :meth:`process_stream`, checking memory before making each batch.

        The probe is read before the first batch and then at most every
        ``config.probe_interval`` seconds, before a batch is made.  While
        this process's RSS is above ``RSS_SHRINK_FRACTION`` (90 %) of
        ``max_memory_mb``, MEMORY_OPTIMIZED and ADAPTIVE shrink their batches
        by ``SHRINK_FACTOR`` (0.8) at every reading.

        Raises
        ------
        MemoryLimitExceededError
            When a reading shows this process's RSS above
            ``config.max_memory_mb``, or the machine's memory more than
            ``MemoryAwareBatcher.FAIL_ABOVE_PERCENT`` (95 %) used.  Batches
            already yielded stay valid; no further batch is made.
        """
        return self._start(param_generator, hash, monitor=True)

    def _start(self, stream: Any, hash: Any, monitor: bool) -> BatchIterator:
        hash = check_bool(hash, "hash")
        c = self.config
        source = make_source(stream, hash=hash, reuse=c.reuse_buffers,
                             window=c.effective_window(), lookahead_bytes=c.lookahead_bytes)
        length = None
        if isinstance(source, IterableSource):
            n_items = len(stream) if isinstance(stream, Sequence) else None
        else:
            n_items = source.length
        if n_items is not None:
            if self.strategy is BatchStrategy.ROUND_ROBIN:
                length = min(c.num_batches, n_items)
            elif self.strategy is BatchStrategy.SEQUENTIAL or (
                self.strategy is BatchStrategy.ADAPTIVE and not c.adaptive_sizing
            ):
                size = c.batch_size or DEFAULT_BATCH_SIZE
                length = -(-n_items // size)
        return BatchIterator(self._run(source, monitor), length, source)

    # ---- the loops -----------------------------------------------------------

    def _sample_bytes(self, source: Any) -> int:
        if self.config.sample_size_bytes is not None:
            return self.config.sample_size_bytes
        if isinstance(source, IterableSource):
            return source.estimate_record_bytes()
        return source.record_bytes

    def _run(self, source: StreamSource | ArraySource | IterableSource,
             monitor: bool) -> Iterator[Any]:
        self._reset_run()
        self._monitoring = monitor
        self.controller = None
        c = self.config
        clock = self._clock
        self._t_start = self._t_last = clock()
        self._live = True
        batches = None
        try:
            if self.strategy is BatchStrategy.ROUND_ROBIN:
                self._memory_batcher = self._make_batcher(c.sample_size_bytes)
                if monitor:
                    self._snapshot(force=True)
                batches = iter(source.round_robin(c.num_batches))
                while True:
                    if monitor:
                        self._check_limits()
                    batch = next(batches, None)
                    if batch is None:
                        return
                    n = len(batch)
                    self._batches += 1
                    self._samples += n
                    self.current_batch_size = n
                    yield batch
                    if monitor:
                        self._t_last = clock()
            sizer = self._sizer(source, monitor)
            controller = self.controller
            timed = monitor or controller is not None  # else no clock per batch
            take = source.take
            if sizer is None:  # a fixed size, unmonitored: the lean loop
                while True:
                    size = c.batch_size or DEFAULT_BATCH_SIZE
                    batch = take(size)
                    if batch is None:
                        return
                    self._batches += 1
                    self._samples += len(batch)
                    self.current_batch_size = size
                    yield batch
            while True:
                if monitor:
                    self._check_limits()
                size = sizer()
                batch = take(size)
                if batch is None:
                    return
                n = len(batch)
                self._batches += 1
                self._samples += n
                self.current_batch_size = size
                if timed:
                    t0 = self._t_last
                    yield batch
                    self._t_last = t = clock()
                    if controller is not None:
                        controller.record(n, t - t0)
                else:
                    yield batch
        finally:
            self._live = False
            self._t_last = clock()
            if batches is not None and hasattr(batches, "close"):
                batches.close()
            close = getattr(source, "close", None)
            if close is not None:
                close()  # at once: this may run in a finalizer

    def _sizer(self, source: Any, monitor: bool) -> Callable[[], int] | None:
        """The function giving each batch's size, for the consecutive strategies
        (None: ``config.batch_size``, read at every batch, unmonitored).

        Fixed sizes read no memory probe (unless monitored); MEMORY_OPTIMIZED
        over a dpa stream also keeps its batches within what is efficient to
        generate (``source.efficient_batch``: a lookahead block), never a
        batch so large that making it is mostly touching fresh pages.
        """
        c = self.config
        strategy = self.strategy
        if strategy is BatchStrategy.SEQUENTIAL or (
            strategy is BatchStrategy.ADAPTIVE and not c.adaptive_sizing
        ):
            self._memory_batcher = self._make_batcher(c.sample_size_bytes)
            if not monitor:
                return None
            self._snapshot(force=True)
            config = c

            def fixed() -> int:
                return config.batch_size or DEFAULT_BATCH_SIZE

            return fixed
        self._memory_batcher = self._make_batcher(self._sample_bytes(source))
        snap = self._snapshot(force=True)
        if strategy is BatchStrategy.MEMORY_OPTIMIZED:
            batcher = self._memory_batcher
            fits = batcher.calculate_optimal_batch_size(memory_usage=snap)
            cap = getattr(source, "efficient_batch", None) or fits
            state = [min(cap, fits) if c.batch_size is None else min(c.batch_size, fits),
                     self._reading]
            adaptive = c.adaptive_sizing

            def by_memory() -> int:
                if adaptive:
                    snap = self._snapshot()
                    if self._reading != state[1]:
                        state[0] = min(cap, self._resize(state[0], snap))
                        state[1] = self._reading
                return state[0]

            return by_memory
        initial = c.batch_size or DEFAULT_BATCH_SIZE
        ctl = AdaptiveController(initial, c.min_batch_size, c.max_batch_size)
        ctl.set_limit(self._ceiling(ctl.size, snap))
        self.controller = ctl
        seen = [self._reading]

        def learnt() -> int:
            snap = self._snapshot()
            if self._reading != seen[0]:
                seen[0] = self._reading
                ctl.set_limit(self._ceiling(ctl.size, snap))
            return ctl.next_size()

        return learnt
