"""dpa: deterministic augmentation parameters at array speed.

Every sample's parameters (rotation, brightness, noise, scale, contrast) are
a pure function of its sample id and the config, bit-identical to DPA 0.2.1
("Deterministic Procedural Augmentation"), generated as NumPy structured
arrays by compiled kernels that release the GIL.

Compatibility guarantee: for the same sample id and config, ``dpa`` returns
the same five floats and the same hash as DPA 0.2.1 (SHA-256 per FIPS 180-4,
MT19937 per Matsumoto & Nishimura 1998 as seeded by CPython's
``random.seed``), on every CPU and kernel path.
"""

from . import _startup  # noqa: F401 - first: Ctrl-C while the command line starts is one line
from ._version import __version__
from .config import FIELDS, PRESETS, AugmentationConfig, get_preset
from .records import MAX_SAMPLE_ID, PARAM_DTYPE, PARAM_HASH_DTYPE, record_dtype
from .seeding import SCHEMES, Seeding
from .engine import (
    available_kernel_paths,
    default_threads,
    generate,
    get_kernel_paths,
    set_kernel_paths,
)
from .stream import ParamStream
from .batch import (
    BatchConfig,
    BatchMetrics,
    BatchProcessingError,
    BatchProcessor,
    BatchStrategy,
    InvalidBatchConfigError,
    MemoryAwareBatcher,
    MemoryLimitExceededError,
    memory_monitor,
)
from .distributed import (
    DistributedError,
    DistributedParamStream,
    DistributedRangeSplitter,
    InvalidRankError,
    RangeSplittingError,
    RankAwareSeedGenerator,
    RankRange,
    SeedGenerationError,
    from_env,
    gen_distributed_augmentation_params,
    stream_distributed_augmentation_chain,
    stream_distributed_augmentation_range,
)
from .params import fib, gen_augmentation_params, gen_augmentation_seed, stream_augmentation_chain

__all__ = [
    "BatchConfig",
    "BatchMetrics",
    "BatchProcessingError",
    "BatchProcessor",
    "BatchStrategy",
    "InvalidBatchConfigError",
    "MemoryAwareBatcher",
    "MemoryLimitExceededError",
    "memory_monitor",
    "DistributedError",
    "DistributedParamStream",
    "DistributedRangeSplitter",
    "InvalidRankError",
    "RangeSplittingError",
    "RankAwareSeedGenerator",
    "RankRange",
    "SeedGenerationError",
    "from_env",
    "gen_distributed_augmentation_params",
    "stream_distributed_augmentation_chain",
    "stream_distributed_augmentation_range",
    "FIELDS",
    "MAX_SAMPLE_ID",
    "PARAM_DTYPE",
    "PARAM_HASH_DTYPE",
    "PRESETS",
    "SCHEMES",
    "AugmentationConfig",
    "Seeding",
    "ParamStream",
    "available_kernel_paths",
    "default_threads",
    "fib",
    "gen_augmentation_params",
    "gen_augmentation_seed",
    "generate",
    "get_kernel_paths",
    "get_preset",
    "record_dtype",
    "set_kernel_paths",
    "stream_augmentation_chain",
]
