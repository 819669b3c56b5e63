"""DPA 0.2.1's streaming progress and metadata values, and their helpers.

``StreamingMetadata`` describes a streaming operation, ``StreamingProgress``
counts its samples; DPA's streaming functions update a progress value and
hand both to a ``progress_callback(progress, metadata)``.  Same fields,
defaults, methods and messages as DPA (``"start_id must be non-negative"``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._validate import check_int
from ..config import AugmentationConfig

__all__ = [
    "ProgressCallback",
    "StreamingMetadata",
    "StreamingProgress",
    "create_simple_progress_callback",
    "create_streaming_metadata",
    "create_streaming_progress",
    "format_progress_info",
    "update_streaming_progress",
]


def _non_negative(value: Any, name: str, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    return check_int(value, name, minimum=0, rule="must be non-negative")


def _positive(value: Any, name: str, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    return check_int(value, name, minimum=1, rule="must be positive")


@dataclass
class StreamingMetadata:
    """StreamingMetadata(total_samples=None, config=None, start_id=0, chunk_size=None, buffer_size=1000)

    What a streaming operation works on: ``total_samples`` (None when
    unknown), the config, the first id, the chunk and buffer sizes.
    """

    total_samples: int | None = None
    config: AugmentationConfig | None = None
    start_id: int = 0
    chunk_size: int | None = None
    buffer_size: int = 1000


@dataclass
class StreamingProgress:
    """StreamingProgress(samples_processed=0, current_sample_id=0, estimated_total=None, start_time=0.0)

    How far a streaming operation is; ``start_time`` is a ``time.time()``.
    """

    samples_processed: int = 0
    current_sample_id: int = 0
    estimated_total: int | None = None
    start_time: float = 0.0

    def progress_percentage(self) -> float | None:
        """Percent of ``estimated_total`` done, or None when the total is unknown."""
        if self.estimated_total is None:
            return None
        return (self.samples_processed / self.estimated_total) * 100

    def elapsed_time(self) -> float:
        """Seconds since ``start_time``."""
        return time.time() - self.start_time

    def estimated_time_remaining(self) -> float | None:
        """Seconds left at the rate so far, or None when it cannot be told."""
        if self.estimated_total is None or self.samples_processed == 0:
            return None
        elapsed = self.elapsed_time()
        if elapsed <= 0:
            return None
        rate = self.samples_processed / elapsed
        return (self.estimated_total - self.samples_processed) / rate if rate > 0 else None


#: ``progress_callback(progress, metadata)`` of DPA's streaming functions.
ProgressCallback = Callable[[StreamingProgress, StreamingMetadata], None]


def create_streaming_metadata(
    total_samples: int | None = None,
    config: AugmentationConfig | None = None,
    start_id: int = 0,
    chunk_size: int | None = None,
    buffer_size: int = 1000,
) -> StreamingMetadata:
    """create_streaming_metadata(total_samples=None, config=None, start_id=0, chunk_size=None, buffer_size=1000)

    A checked :class:`StreamingMetadata`.

    Raises
    ------
    ValueError
        A negative ``start_id`` or ``total_samples``, a ``chunk_size`` or
        ``buffer_size`` below 1 (DPA's messages).
    """
    start_id = _non_negative(start_id, "start_id")
    total_samples = _non_negative(total_samples, "total_samples", optional=True)
    chunk_size = _positive(chunk_size, "chunk_size", optional=True)
    buffer_size = _positive(buffer_size, "buffer_size")
    return StreamingMetadata(total_samples, config, start_id, chunk_size, buffer_size)


def create_streaming_progress(estimated_total: int | None = None, start_id: int = 0
                              ) -> StreamingProgress:
    """create_streaming_progress(estimated_total=None, start_id=0)

    A :class:`StreamingProgress` at 0 samples, started now.
    """
    estimated_total = _non_negative(estimated_total, "estimated_total", optional=True)
    start_id = _non_negative(start_id, "start_id")
    return StreamingProgress(0, start_id, estimated_total, time.time())


def update_streaming_progress(progress: StreamingProgress, samples_processed: int,
                              current_sample_id: int) -> None:
    """update_streaming_progress(progress, samples_processed, current_sample_id)

    Set the counts of ``progress`` (both non-negative).
    """
    progress.samples_processed = _non_negative(samples_processed, "samples_processed")
    progress.current_sample_id = _non_negative(current_sample_id, "current_sample_id")


def format_progress_info(progress: StreamingProgress) -> str:
    """format_progress_info(progress)

    ``"25/100 (25.0%) elapsed: 0.1s ETA: 0.3s"`` (the total, percentage and
    ETA only when known).
    """
    total = progress.estimated_total
    parts = [f"{progress.samples_processed}/{total}" if total is not None
             else f"{progress.samples_processed}"]
    percentage = progress.progress_percentage()
    if percentage is not None:
        parts.append(f"({percentage:.1f}%)")
    parts.append(f"elapsed: {progress.elapsed_time():.1f}s")
    eta = progress.estimated_time_remaining()
    if eta is not None:
        parts.append(f"ETA: {eta:.1f}s")
    return " ".join(parts)


def create_simple_progress_callback(verbose: bool = True) -> ProgressCallback:
    """create_simple_progress_callback(verbose=True)

    A callback writing ``"[processing N samples] <progress>"`` (or
    ``"[streaming] ..."`` when the total is unknown) to stdout, if ``verbose``.
    """

    def progress_callback(progress: StreamingProgress, metadata: StreamingMetadata) -> None:
        if verbose:
            operation = "streaming"
            if metadata.total_samples is not None:
                operation = f"processing {metadata.total_samples} samples"
            sys.stdout.write(f"[{operation}] {format_progress_info(progress)}\n")

    return progress_callback
