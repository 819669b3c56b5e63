"""DPA 0.2.1's ``src/dpa.py``: its public names, signatures, returns and errors.

A DPA user writes ``from dpa.compat.dpa import ...`` where they wrote
``from src.dpa import ...``.  The values are the compiled kernel's (bit for
bit DPA's); lists of dicts are made in blocks from record arrays; files are
DPA's bytes, written atomically; statistics are DPA's exactly.  Where
``dpa.compat`` differs from DPA on purpose, ``docs/compat.md`` says how and
why.  The names come from the modules of this package:

``dpa.params``
    ``fib``, ``gen_augmentation_seed``, ``gen_augmentation_params``.
``_chain``, ``_streaming``
    ``generate_augmentation_chain``, ``stream_augmentation_chain`` and
    ``stream_augmentation_range``, the batched streams and batch helpers.
``_stats``, ``_jsonsave``, ``_jsonload``
    ``compute_statistics``, ``compute_streaming_statistics``; the savers,
    loaders, ``recover_partial_write``, ``resume_streaming_save``.
``_progress``, ``_resources``, ``_memory``, ``_profiling``
    Progress and metadata values, the streaming errors and cleanup helpers,
    DPA's memory estimates, the profiling helpers.

DPA's ``src/dpa.py`` also exposes names of its other modules (the batch
processor, the distributed functions, the profiler); so does this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..config import PRESETS, AugmentationConfig
from ..config import get_preset as _get_preset
from ..params import fib, gen_augmentation_params, gen_augmentation_seed
from ._chain import generate_augmentation_chain
from ._jsonload import load_augmentation_chain, load_augmentation_stream, recover_partial_write
from ._jsonsave import resume_streaming_save, save_augmentation_chain, save_augmentation_stream
from ._memory import (
    estimate_memory_usage,
    estimate_optimal_batch_size,
    format_memory_size,
    get_current_memory_usage,
    get_memory_usage_estimate,
)
from ._profiling import (
    benchmark_augmentation_performance,
    create_performance_profiler,
    get_performance_recommendations,
    profile_augmentation_generation,
)
from ._progress import (
    StreamingMetadata,
    StreamingProgress,
    create_simple_progress_callback,
    create_streaming_metadata,
    create_streaming_progress,
    format_progress_info,
    update_streaming_progress,
)
from ._resources import (
    GeneratorExhaustionError,
    PartialWriteError,
    ResourceCleanupError,
    StreamingContext,
    StreamingError,
    StreamingIOError,
    safe_cleanup_generator,
    safe_close_file,
    with_streaming_context,
)
from ._stats import compute_statistics, compute_streaming_statistics
from ._streaming import (
    convert_stream_to_batches,
    get_batch_metrics,
    get_batch_processing_metrics,
    process_augmentation_batches,
    stream_augmentation_chain,
    stream_augmentation_chain_batched,
    stream_augmentation_chain_with_memory_limit,
    stream_augmentation_range,
    stream_augmentation_range_batched,
)
from .batch import BatchConfig, BatchMetrics, BatchProcessor, BatchStrategy
from .benchmark import (
    BenchmarkRunner,
    PerformanceProfiler,
    benchmark_function,
    measure_memory,
    measure_time,
)
from .distributed import (
    DistributedRangeSplitter,
    RankAwareSeedGenerator,
    gen_distributed_augmentation_params,
    stream_distributed_augmentation_chain,
)

#: The DPA release whose API this module reproduces.
__version__ = "0.2.1"

# DPA's flags for its optional modules: all of them are here.
_BATCH_AVAILABLE = _DISTRIBUTED_AVAILABLE = _BENCHMARK_AVAILABLE = _PSUTIL_AVAILABLE = True

__all__ = [
    "PRESETS",
    "AugmentationConfig",
    "BatchConfig",
    "BatchMetrics",
    "BatchProcessor",
    "BatchStrategy",
    "BenchmarkRunner",
    "DistributedRangeSplitter",
    "GeneratorExhaustionError",
    "PartialWriteError",
    "PerformanceProfiler",
    "RankAwareSeedGenerator",
    "ResourceCleanupError",
    "StreamingContext",
    "StreamingError",
    "StreamingIOError",
    "StreamingMetadata",
    "StreamingProgress",
    "benchmark_augmentation_performance",
    "benchmark_function",
    "compute_statistics",
    "compute_streaming_statistics",
    "convert_stream_to_batches",
    "create_performance_profiler",
    "create_simple_progress_callback",
    "create_streaming_metadata",
    "create_streaming_progress",
    "estimate_memory_usage",
    "estimate_optimal_batch_size",
    "fib",
    "format_memory_size",
    "format_progress_info",
    "gen_augmentation_params",
    "gen_augmentation_seed",
    "gen_distributed_augmentation_params",
    "generate_augmentation_chain",
    "generator_to_list",
    "get_batch_metrics",
    "get_batch_processing_metrics",
    "get_current_memory_usage",
    "get_memory_usage_estimate",
    "get_performance_recommendations",
    "get_preset",
    "list_to_generator",
    "load_augmentation_chain",
    "load_augmentation_stream",
    "measure_memory",
    "measure_time",
    "process_augmentation_batches",
    "profile_augmentation_generation",
    "recover_partial_write",
    "resume_streaming_save",
    "safe_cleanup_generator",
    "safe_close_file",
    "save_augmentation_chain",
    "save_augmentation_stream",
    "stream_augmentation_chain",
    "stream_augmentation_chain_batched",
    "stream_augmentation_chain_with_memory_limit",
    "stream_augmentation_range",
    "stream_augmentation_range_batched",
    "stream_distributed_augmentation_chain",
    "update_streaming_progress",
    "with_streaming_context",
]


def get_preset(preset_name: str) -> AugmentationConfig:
    """get_preset(preset_name)

    The preset ``"mild"``, ``"moderate"`` or ``"aggressive"``.

    Raises
    ------
    ValueError
        ``"Unknown preset 'x'. Available: ['mild', 'moderate', 'aggressive']"``.
    """
    if isinstance(preset_name, str) and preset_name not in PRESETS:
        raise ValueError(f"Unknown preset '{preset_name}'. Available: {list(PRESETS.keys())}")
    return _get_preset(preset_name)


def generator_to_list(param_generator: Any, max_items: int | None = None) -> list[Any]:
    """generator_to_list(param_generator, max_items=None)

    The first ``max_items`` items of an iterable (all of them for None) as a
    list; a dpa stream hands its dicts over in blocks.

    Raises
    ------
    ValueError
        ``"max_items must be non-negative"`` (before anything is consumed).
    """
    if max_items is not None and max_items < 0:
        raise ValueError("max_items must be non-negative")
    if max_items is None:
        return list(param_generator)
    out = []
    for i, item in enumerate(param_generator):
        if i >= max_items:
            break
        out.append(item)
    return out


def list_to_generator(params_list: Any) -> Iterator[Any]:
    """list_to_generator(params_list)

    A generator over the items of ``params_list``.
    """
    yield from params_list
