"""DPA 0.2.1's contiguous range splitting: ``DistributedRangeSplitter`` and ``RankRange``."""

from __future__ import annotations

from dataclasses import dataclass

from .layout import check_rank, check_world_size, contiguous_range, non_negative

__all__ = ["DistributedRangeSplitter", "RankRange"]


@dataclass
class RankRange:
    """The sample range ``[start_id, end_id)`` assigned to ``rank`` (as in DPA)."""

    start_id: int
    end_id: int
    rank: int
    total_samples: int


class DistributedRangeSplitter:
    """DistributedRangeSplitter(total_samples, world_size)

    DPA 0.2.1's contiguous split of ``0 .. total_samples - 1`` across ranks.

    Rank ``r`` gets ``total_samples // world_size`` samples, plus one if
    ``r < total_samples % world_size``, in rank order.  As in DPA, a rank
    beyond the last sample (more ranks than samples) gets the empty range
    ``(0, 0)``.

    Parameters
    ----------
    total_samples : int
        Samples to split, ``>= 0``.
    world_size : int
        Number of ranks, ``>= 1``.

    Raises
    ------
    ValueError
        ``total_samples`` negative or ``world_size < 1``.
    TypeError
        Either is not an integer.

    Examples
    --------
    >>> DistributedRangeSplitter(10, 4).get_all_ranges()
    [(0, 3), (3, 6), (6, 8), (8, 10)]
    >>> DistributedRangeSplitter(10, 4).get_rank_for_sample(7)
    2
    """

    def __init__(self, total_samples: int, world_size: int) -> None:
        self.total_samples = non_negative(total_samples, "total_samples")
        self.world_size = check_world_size(world_size)
        self._base, self._rem = divmod(self.total_samples, self.world_size)

    def __repr__(self) -> str:
        return (
            f"DistributedRangeSplitter(total_samples={self.total_samples}, "
            f"world_size={self.world_size})"
        )

    def get_rank_range(self, rank: int) -> tuple[int, int]:
        """get_rank_range(rank)

        ``(start_id, end_id)`` of ``rank``, ``end_id`` exclusive.

        Raises
        ------
        InvalidRankError
            (a ``ValueError``) ``rank`` outside ``[0, world_size)``.
        """
        return contiguous_range(self.total_samples, self.world_size,
                                check_rank(rank, self.world_size))

    def get_all_ranges(self) -> list[tuple[int, int]]:
        """``[get_rank_range(r) for r in range(world_size)]``."""
        return [self.get_rank_range(r) for r in range(self.world_size)]

    def get_all_rank_ranges(self) -> list[RankRange]:
        """:class:`RankRange` objects for every rank."""
        return [
            RankRange(start, end, rank, self.total_samples)
            for rank, (start, end) in enumerate(self.get_all_ranges())
        ]

    def validate_ranges(self) -> bool:
        """``True`` if the ranges cover ``0 .. total_samples - 1`` once, in order."""
        expected = 0
        for start, end in self.get_all_ranges():
            if start == end:
                continue
            if start != expected or start > end:
                return False
            expected = end
        return expected == self.total_samples

    def get_rank_for_sample(self, sample_id: int) -> int:
        """get_rank_for_sample(sample_id)

        The rank whose range holds ``sample_id``, in O(1).

        Raises
        ------
        ValueError
            ``sample_id`` negative or ``>= total_samples``.
        """
        sample_id = non_negative(sample_id, "sample_id")
        if sample_id >= self.total_samples:
            raise ValueError(
                f"sample_id ({sample_id}) must be < total_samples ({self.total_samples})"
            )
        base, rem = self._base, self._rem
        # The first ``rem`` ranks hold ``base + 1`` samples each, the rest ``base``.
        head = rem * (base + 1)
        if sample_id < head:
            return sample_id // (base + 1)
        return rem + (sample_id - head) // base
