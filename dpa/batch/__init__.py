"""Batching of parameter streams: four strategies, memory awareness, array fast paths.

DPA 0.2.1's batch API (``BatchStrategy``, ``BatchConfig``, ``BatchProcessor``
with ``process_stream`` and ``process_with_memory_monitoring``,
``MemoryAwareBatcher``, ``memory_monitor``, ``BatchMetrics`` and the errors),
at array speed, doing what DPA's guide says it does:

* ROUND_ROBIN really deals samples: batch ``j`` of ``n`` holds samples
  ``j, j + n, j + 2n, ...`` (DPA 0.2.1 only grouped consecutively).
* ADAPTIVE really learns: it measures the consumer and searches for the batch
  size with the best samples per second (:class:`AdaptiveController`).
* A dpa stream is batched as structured arrays generated from id ranges; an
  array or ``.npy`` memmap as zero-copy views or ``nogil`` strided gathers;
  any other iterable of dicts as lists of dicts, as DPA does.

See ``docs/batch.md`` for the guide, the exact semantics and the figures.
"""

from .adaptive import AdaptiveController
from .config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_WINDOW,
    BatchConfig,
    BatchMetrics,
    BatchProcessingError,
    BatchStrategy,
    InvalidBatchConfigError,
    InvalidBatchConfigTypeError,
    MemoryLimitExceededError,
)
from .memory import (
    MemoryAwareBatcher,
    MemoryMonitor,
    MemorySnapshot,
    memory_monitor,
    system_probe,
)
from .processor import BatchIterator, BatchProcessor

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_WINDOW",
    "AdaptiveController",
    "BatchConfig",
    "BatchIterator",
    "BatchMetrics",
    "BatchProcessingError",
    "BatchProcessor",
    "BatchStrategy",
    "InvalidBatchConfigError",
    "InvalidBatchConfigTypeError",
    "MemoryAwareBatcher",
    "MemoryLimitExceededError",
    "MemoryMonitor",
    "MemorySnapshot",
    "memory_monitor",
    "system_probe",
]
