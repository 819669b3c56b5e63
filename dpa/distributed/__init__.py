"""Distributed generation: rank layouts, rank-aware seeding, epochs, ``from_env``.

DPA 0.2.1's distributed API (``DistributedRangeSplitter``,
``RankAwareSeedGenerator``, ``gen_distributed_augmentation_params``,
``stream_distributed_augmentation_chain``, ``stream_distributed_augmentation_range``
and DPA's exception classes) keeps DPA's names, defaults, ranges and output,
bit for bit, on the compiled kernel.  Beyond DPA, two values describe a
rank's work:

* :class:`RankLayout` (``layout``): which ids a rank processes in an epoch
  (split, padding, shuffle, first id);
* :class:`RankSeeding` (``streams``): how it seeds them (scheme, seeding
  mode, base seed, per-epoch parameters), giving a :class:`dpa.Seeding` per
  rank and epoch.

Modules: ``errors`` (DPA's exception classes), ``layout``, ``splitter``
(DPA's contiguous split), ``streams`` (the streams and DPA's functions),
``env`` (:func:`from_env`).
"""

from ..seeding import SCHEMES, SEEDING_MODES
from .env import DistEnv, from_env
from .errors import (
    DistributedEnvironmentError,
    DistributedError,
    InvalidRankError,
    RangeSplittingError,
    SeedGenerationError,
)
from .layout import SPLIT_MODES, UNEVEN_MODES, RankLayout, rank_sample_ids, shuffle_positions
from .splitter import DistributedRangeSplitter, RankRange
from .streams import (
    DistributedParamStream,
    RankAwareSeedGenerator,
    RankSeeding,
    gen_distributed_augmentation_params,
    seed_prefix,
    stream_distributed_augmentation_chain,
    stream_distributed_augmentation_range,
)

__all__ = [
    "SCHEMES",
    "SEEDING_MODES",
    "SPLIT_MODES",
    "UNEVEN_MODES",
    "DistEnv",
    "DistributedEnvironmentError",
    "DistributedError",
    "DistributedParamStream",
    "DistributedRangeSplitter",
    "InvalidRankError",
    "RangeSplittingError",
    "RankAwareSeedGenerator",
    "RankLayout",
    "RankRange",
    "RankSeeding",
    "SeedGenerationError",
    "from_env",
    "gen_distributed_augmentation_params",
    "rank_sample_ids",
    "seed_prefix",
    "shuffle_positions",
    "stream_distributed_augmentation_chain",
    "stream_distributed_augmentation_range",
]
