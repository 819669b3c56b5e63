"""DPA 0.2.1's ``src/distributed.py`` on dpa's engine.

The splitter (``DistributedRangeSplitter``, ``RankRange``), the rank-aware
chain (``RankAwareSeedGenerator``, ``gen_distributed_augmentation_params``)
and the error classes are :mod:`dpa.distributed`'s, which give DPA's ranges,
records, hashes and messages.  The two stream functions return a
:class:`RankStream`: iterated, DPA's generator (dicts with ``rank``, or lists
of ``chunk_size``), with DPA's ``verbose`` lines written as it runs; handed to
dpa's consumers, a :class:`dpa.distributed.DistributedParamStream` whose
records are generated as arrays.
"""

from __future__ import annotations

import logging  # noqa: F401  (DPA's module logs through it; code patches it here)
from typing import Any

from ..config import AugmentationConfig
from ..distributed import (
    DistributedError,
    DistributedParamStream,
    DistributedRangeSplitter,
    InvalidRankError,
    RangeSplittingError,
    RankAwareSeedGenerator,
    RankRange,
    SeedGenerationError,
    gen_distributed_augmentation_params,
)
from ..distributed import stream_distributed_augmentation_chain as _rank_chain
from ..distributed import stream_distributed_augmentation_range as _rank_range
from ._chain import DPAIteration

__all__ = [
    "DistributedError",
    "DistributedRangeSplitter",
    "InvalidRankError",
    "RangeSplittingError",
    "RankAwareSeedGenerator",
    "RankRange",
    "RankStream",
    "SeedGenerationError",
    "gen_distributed_augmentation_params",
    "stream_distributed_augmentation_chain",
    "stream_distributed_augmentation_range",
]


class RankStream(DPAIteration, DistributedParamStream):
    """RankStream(ids, rank, world_size, config=None, chunk_size=None, *, base_seed=0, verbose=False, what="samples")

    One rank's stream as DPA's distributed generator: the rank-aware records
    of ``ids`` (a range) and, with ``verbose``, DPA's lines: the range when
    iteration starts, each sample of a rank with at most 10, and the end.
    ``what`` is ``"samples"`` (``stream_distributed_augmentation_chain``) or
    ``"range"`` (``stream_distributed_augmentation_range``), whose lines differ.
    """

    def __init__(self, ids: range, rank: int, world_size: int,
                 config: AugmentationConfig | None = None, chunk_size: int | None = None, *,
                 base_seed: int = 0, verbose: bool = False, what: str = "samples") -> None:
        super().__init__(ids, rank, world_size, config, chunk_size, base_seed=base_seed)
        self._dpa_init()
        self.verbose = bool(verbose)
        self._dpa_hooked = self.verbose
        self._what = what

    def _span(self) -> str:
        ids = self.ids
        return f"{ids.start}-{ids.stop - 1}"

    def _on_start(self) -> None:
        n = len(self.ids)
        print(f"Rank {self.rank}/{self.world_size}: processing {self._what} {self._span()} "
              f"({n} samples)")
        if n == 0 and self._what == "samples":
            print(f"Rank {self.rank}: no samples to process (empty range)")

    def _on_item(self, index: int, sample_id: int, params: dict[str, Any]) -> None:
        if len(self.ids) <= 10:
            print(f"Rank {self.rank} Sample({sample_id}) -> "
                  f"rotation={params['rotation']:.2f}\u00b0 "
                  f"brightness={params['brightness']:.2f} hash={params['hash'][:8]}...")

    def _on_end(self) -> None:
        n = len(self.ids)
        if self._what == "range":
            print(f"Rank {self.rank}: completed processing range {self._span()}")
        elif n:
            print(f"Rank {self.rank}: completed processing {n} samples")


def stream_distributed_augmentation_chain(
    num_samples: int,
    rank: int,
    world_size: int,
    config: AugmentationConfig | None = None,
    base_seed: int = 0,
    chunk_size: int | None = None,
    verbose: bool = False,
    inclusive_range: bool = True,
) -> RankStream:
    """stream_distributed_augmentation_chain(num_samples, rank, world_size, config=None, base_seed=0, chunk_size=None, verbose=False, inclusive_range=True)

    ``rank``'s contiguous share of ``num_samples`` samples, with DPA's
    rank-aware seeding (``inclusive_range`` has no effect, as in DPA).

    Raises
    ------
    ValueError
        DPA's messages: ``"num_samples must be non-negative"``, ``"rank (2)
        must be < world_size (2)"``, ``"chunk_size must be positive"``, ...
    """
    split = _rank_chain(num_samples, rank, world_size, config, base_seed, chunk_size)
    return RankStream(split.ids, split.rank, split.world_size, split.config, chunk_size,
                      base_seed=base_seed, verbose=verbose)


def stream_distributed_augmentation_range(
    start_id: int,
    end_id: int,
    rank: int,
    world_size: int,
    config: AugmentationConfig | None = None,
    base_seed: int = 0,
    chunk_size: int | None = None,
    verbose: bool = False,
) -> RankStream:
    """stream_distributed_augmentation_range(start_id, end_id, rank, world_size, config=None, base_seed=0, chunk_size=None, verbose=False)

    Ids ``start_id .. end_id - 1``, unsplit, with ``rank``'s seeding (as DPA).
    """
    whole = _rank_range(start_id, end_id, rank, world_size, config, base_seed, chunk_size)
    return RankStream(whole.ids, whole.rank, whole.world_size, whole.config, chunk_size,
                      base_seed=base_seed, verbose=verbose, what="range")
