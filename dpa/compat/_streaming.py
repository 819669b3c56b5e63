"""DPA 0.2.1's stream functions: plain, chunked, distributed and batched streams.

``stream_augmentation_chain`` chooses as DPA does: with ``rank`` and
``world_size`` the rank's distributed stream (``start_id`` is its base seed,
DPA's rule), with ``batch_config`` batches of DPA's batch processor, else a
:class:`~dpa.compat._chain.ChainStream`.  Arguments are checked when the
function is called (DPA checks them at the first ``next()``), with DPA's
messages.  The batched helpers (``stream_augmentation_chain_batched``,
``process_augmentation_batches``, ``convert_stream_to_batches``,
``get_batch_metrics``, ...) are generators and wrap failures in
``BatchProcessingError`` as DPA does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil

from .._validate import check_int
from ..config import DEFAULT_CONFIG, AugmentationConfig
from .batch import BatchConfig, BatchMetrics, BatchProcessingError, BatchProcessor, BatchStrategy
from ._chain import ChainStream
from ._progress import (ProgressCallback, create_streaming_metadata, create_streaming_progress,
                        format_progress_info, update_streaming_progress)
from .distributed import stream_distributed_augmentation_chain

__all__ = [
    "convert_stream_to_batches",
    "get_batch_metrics",
    "get_batch_processing_metrics",
    "process_augmentation_batches",
    "stream_augmentation_chain",
    "stream_augmentation_chain_batched",
    "stream_augmentation_chain_with_memory_limit",
    "stream_augmentation_range",
    "stream_augmentation_range_batched",
]

_NON_NEGATIVE = "must be non-negative"
_MONITORED = (BatchStrategy.MEMORY_OPTIMIZED, BatchStrategy.ADAPTIVE)
_STRATEGIES = {s.value: s for s in BatchStrategy}


def _check_rank(rank: Any, world_size: Any) -> None:
    if rank is None or world_size is None:
        raise ValueError("Both rank and world_size must be specified together")
    rank = check_int(rank, "rank", minimum=0, rule=_NON_NEGATIVE)
    world_size = check_int(world_size, "world_size", minimum=1, rule="must be >= 1")
    if rank >= world_size:
        raise ValueError(f"rank ({rank}) must be < world_size ({world_size})")


def stream_augmentation_chain(
    num_samples: int,
    config: AugmentationConfig | None = None,
    start_id: int = 0,
    chunk_size: int | None = None,
    batch_config: BatchConfig | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    verbose: bool = False,
    progress_callback: ProgressCallback | None = None,
) -> Iterator[Any]:
    """stream_augmentation_chain(num_samples, config=None, start_id=0, chunk_size=None, batch_config=None, rank=None, world_size=None, verbose=False, progress_callback=None)

    DPA's parameter stream of ids ``start_id .. start_id + num_samples - 1``:
    dicts, or lists of ``chunk_size`` dicts, with DPA's ``verbose`` lines
    and ``progress_callback(progress, metadata)`` calls.  With ``rank`` and
    ``world_size``: the rank's share of ids ``0 .. num_samples - 1``, seeded
    with ``start_id`` as the base seed, as DPA delegates.  With
    ``batch_config``: :func:`stream_augmentation_chain_batched`.

    Raises
    ------
    ValueError
        DPA's messages (``"num_samples must be non-negative"``,
        ``"chunk_size and batch_config are mutually exclusive"``, ...).
    """
    num_samples = check_int(num_samples, "num_samples", minimum=0, rule=_NON_NEGATIVE)
    start_id = check_int(start_id, "start_id", minimum=0, rule=_NON_NEGATIVE)
    distributed = rank is not None or world_size is not None
    if distributed:
        _check_rank(rank, world_size)
    if chunk_size is not None and batch_config is not None:
        raise ValueError("chunk_size and batch_config are mutually exclusive")
    if distributed:
        if batch_config is not None:
            raise ValueError("batch_config is not yet supported with distributed streaming")
        if progress_callback is not None:
            raise ValueError("progress_callback is not yet supported with distributed streaming")
        return stream_distributed_augmentation_chain(num_samples, rank, world_size, config,
                                                     base_seed=start_id, chunk_size=chunk_size,
                                                     verbose=verbose)
    if batch_config is not None:
        return stream_augmentation_chain_batched(num_samples, batch_config, config, start_id,
                                                 verbose, progress_callback)
    if chunk_size is not None:
        check_int(chunk_size, "chunk_size", minimum=1, rule="must be positive")
    return ChainStream(start_id, num_samples, config, chunk_size, verbose, progress_callback)


def _check_range(start_id: Any, end_id: Any) -> int:
    start_id = check_int(start_id, "start_id", minimum=0, rule=_NON_NEGATIVE)
    end_id = check_int(end_id, "end_id")
    if end_id < start_id:
        raise ValueError(f"end_id must be >= start_id, but got start_id={start_id}, "
                         f"end_id={end_id}")
    return end_id - start_id


def stream_augmentation_range(
    start_id: int,
    end_id: int,
    config: AugmentationConfig | None = None,
    chunk_size: int | None = None,
    batch_config: BatchConfig | None = None,
    rank: int | None = None,
    world_size: int | None = None,
) -> Iterator[Any]:
    """stream_augmentation_range(start_id, end_id, config=None, chunk_size=None, batch_config=None, rank=None, world_size=None)

    ``stream_augmentation_chain(end_id - start_id, config, start_id, ...)``.
    """
    n = _check_range(start_id, end_id)
    return stream_augmentation_chain(n, config, start_id, chunk_size, batch_config, rank,
                                     world_size, verbose=False)


def _batches(processor: BatchProcessor, items: Any) -> Iterator[list[Any]]:
    if processor.strategy in _MONITORED:
        return processor.process_with_memory_monitoring(items)
    return processor.process_stream(items)


def _default_batch_config(batch_config: BatchConfig | None) -> BatchConfig:
    if batch_config is None:
        return BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=32)
    return batch_config


def stream_augmentation_chain_batched(
    num_samples: int,
    batch_config: BatchConfig | None = None,
    config: AugmentationConfig | None = None,
    start_id: int = 0,
    verbose: bool = False,
    progress_callback: ProgressCallback | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """stream_augmentation_chain_batched(num_samples, batch_config=None, config=None, start_id=0, verbose=False, progress_callback=None)

    Batches of DPA's batch processor over the stream of ids ``start_id ..
    start_id + num_samples - 1`` (default: SEQUENTIAL batches of 32), with
    DPA's ``verbose`` lines and callbacks.  MEMORY_OPTIMIZED and ADAPTIVE
    run with memory monitoring, as in DPA.

    Raises
    ------
    BatchProcessingError
        ``"Batch processing failed: ..."`` for any failure while batching.
    """
    num_samples = check_int(num_samples, "num_samples", minimum=0, rule=_NON_NEGATIVE)
    start_id = check_int(start_id, "start_id", minimum=0, rule=_NON_NEGATIVE)
    batch_config = _default_batch_config(batch_config)
    config = DEFAULT_CONFIG if config is None else config
    source = ChainStream(start_id, num_samples, config)
    processor = BatchProcessor(batch_config.strategy, batch_config)
    progress = create_streaming_progress(estimated_total=num_samples, start_id=start_id)
    metadata = create_streaming_metadata(total_samples=num_samples, config=config,
                                         start_id=start_id, chunk_size=batch_config.batch_size)
    if verbose:
        sys.stdout.write(f"Starting batched stream generation: {num_samples} samples from ID "
                         f"{start_id} using {batch_config.strategy.value} strategy\n")
    # DPA divides by batch_size here, which fails for None; 32 is what None means.
    every = max(1, (num_samples // (batch_config.batch_size or 32) or 32) // 20)
    count = done = 0
    try:
        for batch in _batches(processor, source):
            count += 1
            done += len(batch)
            update_streaming_progress(progress, done, start_id + done - 1)
            if verbose:
                if num_samples > 100 and count % every == 0:
                    sys.stdout.write(f"Batch progress: {format_progress_info(progress)} "
                                     f"(batch #{count}, size: {len(batch)})\n")
                elif num_samples <= 100:
                    sys.stdout.write(f"Batch #{count}: {len(batch)} samples\n")
            if progress_callback:
                progress_callback(progress, metadata)
            yield batch
        if verbose:
            mean = done / count if count else 0.0
            sys.stdout.write(f"Batched stream generation completed: "
                             f"{format_progress_info(progress)} ({count} batches, "
                             f"avg size: {mean:.1f})\n")
    except Exception as exc:
        raise BatchProcessingError(f"Batch processing failed: {exc}") from exc


def stream_augmentation_range_batched(
    start_id: int, end_id: int, batch_config: BatchConfig | None = None,
    config: AugmentationConfig | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """stream_augmentation_range_batched(start_id, end_id, batch_config=None, config=None)

    ``stream_augmentation_chain_batched(end_id - start_id, batch_config, config, start_id)``.
    """
    n = _check_range(start_id, end_id)
    return stream_augmentation_chain_batched(n, batch_config, config, start_id)


def process_augmentation_batches(
    param_generator: Any,
    batch_config: BatchConfig | None = None,
    processor_func: Callable[[list[dict[str, Any]]], Any] | None = None,
    verbose: bool = False,
) -> Iterator[Any]:
    """process_augmentation_batches(param_generator, batch_config=None, processor_func=None, verbose=False)

    ``processor_func(batch)`` of each batch of ``param_generator`` (the
    batches themselves without a function), as DPA yields them.
    """
    batch_config = _default_batch_config(batch_config)
    processor = BatchProcessor(batch_config.strategy, batch_config)
    if verbose:
        sys.stdout.write(
            f"Starting batch processing using {batch_config.strategy.value} strategy\n")
    count = 0
    try:
        for batch in _batches(processor, param_generator):
            count += 1
            if verbose and count % 10 == 0:
                sys.stdout.write(f"Processed {count} batches (current batch size: "
                                 f"{len(batch)})\n")
            yield batch if processor_func is None else processor_func(batch)
        if verbose:
            sys.stdout.write(f"Batch processing completed: {count} batches processed\n")
    except Exception as exc:
        raise BatchProcessingError(f"Batch processing failed: {exc}") from exc


def get_batch_metrics(param_generator: Any, batch_config: BatchConfig | None = None
                      ) -> BatchMetrics:
    """get_batch_metrics(param_generator, batch_config=None)

    Batch ``param_generator`` to the end and report DPA's metrics: batches,
    mean size, this process's RSS in MiB afterwards, wall time, throughput.
    """
    batch_config = _default_batch_config(batch_config)
    processor = BatchProcessor(batch_config.strategy, batch_config)
    start = time.time()
    sizes: list[int] = []
    try:
        for batch in _batches(processor, param_generator):
            sizes.append(len(batch))
        seconds = time.time() - start
        total = sum(sizes)
        try:
            rss = psutil.Process().memory_info().rss / (1024 * 1024)
        except (AttributeError, OSError):
            rss = 0
        return BatchMetrics(
            total_batches=len(sizes),
            avg_batch_size=total / len(sizes) if sizes else 0,
            memory_usage_mb=rss,
            processing_time_seconds=seconds,
            throughput_samples_per_second=total / seconds if seconds > 0 else 0,
        )
    except Exception as exc:
        raise BatchProcessingError(f"Failed to collect batch metrics: {exc}") from exc


def stream_augmentation_chain_with_memory_limit(
    num_samples: int,
    max_memory_mb: int = 1000,
    config: AugmentationConfig | None = None,
    start_id: int = 0,
    verbose: bool = False,
    progress_callback: ProgressCallback | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """stream_augmentation_chain_with_memory_limit(num_samples, max_memory_mb=1000, config=None, start_id=0, verbose=False, progress_callback=None)

    MEMORY_OPTIMIZED batches within ``max_memory_mb`` (DPA's convenience).
    """
    if not max_memory_mb > 0:
        raise ValueError("max_memory_mb must be positive")
    batch_config = BatchConfig(strategy=BatchStrategy.MEMORY_OPTIMIZED,
                               max_memory_mb=max_memory_mb, min_batch_size=1,
                               adaptive_sizing=True)
    return stream_augmentation_chain(num_samples, config, start_id, batch_config=batch_config,
                                     verbose=verbose, progress_callback=progress_callback)


def convert_stream_to_batches(
    param_generator: Any,
    batch_strategy: str = "sequential",
    batch_size: int = 32,
    max_memory_mb: int = 1000,
) -> Iterator[list[dict[str, Any]]]:
    """convert_stream_to_batches(param_generator, batch_strategy="sequential", batch_size=32, max_memory_mb=1000)

    Batches of an iterable by a strategy named as a string.

    Raises
    ------
    ValueError
        ``"Invalid batch_strategy: ..."`` for another name.
    """
    if batch_strategy not in _STRATEGIES:
        raise ValueError(f"Invalid batch_strategy: {batch_strategy}. Must be one of "
                         f"{list(_STRATEGIES)}")
    batch_config = BatchConfig(strategy=_STRATEGIES[batch_strategy], batch_size=batch_size,
                               max_memory_mb=max_memory_mb, min_batch_size=1,
                               adaptive_sizing=True)
    processor = BatchProcessor(batch_config.strategy, batch_config)
    return _batches(processor, param_generator)


def get_batch_processing_metrics(
    num_samples: int,
    config: AugmentationConfig | None = None,
    batch_strategies: list[str] | None = None,
    verbose: bool = False,
) -> dict[str, BatchMetrics]:
    """get_batch_processing_metrics(num_samples, config=None, batch_strategies=None, verbose=False)

    :func:`get_batch_metrics` of each strategy (default: all four) over a
    fresh stream of ``num_samples``; a strategy that fails is left out.
    """
    if batch_strategies is None:
        batch_strategies = list(_STRATEGIES)
    results: dict[str, BatchMetrics] = {}
    for strategy in batch_strategies:
        if verbose:
            print(f"Benchmarking {strategy} strategy...")
        try:
            stream = stream_augmentation_chain(num_samples, config=config, verbose=False)
            batches = convert_stream_to_batches(stream, batch_strategy=strategy, batch_size=32,
                                                max_memory_mb=1000)
            metrics = get_batch_metrics(batches)
        except Exception as exc:
            if verbose:
                print(f"  {strategy}: failed with error: {exc}")
            continue
        results[strategy] = metrics
        if verbose:
            print(f"  {strategy}: {metrics.throughput_samples_per_second:.1f} samples/sec, "
                  f"avg batch size: {metrics.avg_batch_size:.1f}")
    return results
