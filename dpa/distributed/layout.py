"""Which sample ids a rank processes in an epoch: the :class:`RankLayout` value.

The epoch's order lists ``start_id + perm(p)`` for the positions
``p = 0 .. num_samples - 1`` (``perm`` is the identity without ``shuffle``,
else :func:`shuffle_positions` keyed by ``(base_seed, epoch)``); ``split`` and
``uneven`` choose the rank's positions in it:

Split (``split=``)
    ``"contiguous"`` (DPA's ranges: the first ``num_samples % world_size``
    ranks get one sample more) or ``"strided"`` (rank ``r`` takes positions
    ``r, r + world_size, ...``, as PyTorch's ``DistributedSampler`` does).
Uneven sizes (``uneven=``)
    ``"keep"`` (DPA's), ``"pad"`` (every rank short of ``ceil(N / W)``
    samples gets one more: the sample at position ``(rank - N % W) % N`` of
    the epoch's order, as ``DistributedSampler`` pads with the first samples),
    or ``"drop"`` (every rank keeps its first ``floor(N / W)``).

The shuffle is a pseudo-random permutation of ``0 .. N-1`` applied before
the split, so each rank computes only its own share.  Messages keep DPA
0.2.1's wording (``"rank must be non-negative"``), which DPA code matches on.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import _core
from .._validate import (MAX_SAMPLE_ID, check_bool, check_choice, check_int,
                         check_non_negative_int, check_range_length, check_sample_id, show)
from .errors import InvalidRankError

__all__ = [
    "SPLIT_MODES",
    "UNEVEN_MODES",
    "RankLayout",
    "check_rank",
    "check_world_size",
    "contiguous_range",
    "rank_sample_ids",
    "shuffle_positions",
]

#: ``split=`` values: DPA's contiguous ranges, or PyTorch's ``rank::world_size``.
SPLIT_MODES = ("contiguous", "strided")
#: ``uneven=`` values: keep DPA's unequal sizes, pad, or drop to equal sizes.
UNEVEN_MODES = ("keep", "pad", "drop")

#: DPA 0.2.1's wording for a value that must not be negative.
NON_NEGATIVE = "must be non-negative"


def non_negative(value: Any, name: str) -> int:
    """A non-negative integer, with DPA's message (``"epoch must be non-negative"``)."""
    return check_non_negative_int(value, name, rule=NON_NEGATIVE)


def check_world_size(world_size: Any) -> int:
    """``world_size >= 1``, with DPA's message."""
    return check_int(world_size, "world_size", minimum=1, rule="must be >= 1")


def check_rank(rank: Any, world_size: int) -> int:
    """``0 <= rank < world_size``; :class:`InvalidRankError` (a ``ValueError``) if not."""
    rank = check_non_negative_int(rank, "rank", rule=NON_NEGATIVE,
                                  errors=(TypeError, InvalidRankError))
    if rank >= world_size:
        raise InvalidRankError(f"rank ({rank}) must be < world_size ({world_size})")
    return rank


def contiguous_range(total: int, world_size: int, rank: int) -> tuple[int, int]:
    """DPA's contiguous share ``[start, end)`` of ``0 .. total - 1`` for ``rank``.

    Rank ``r`` gets ``total // world_size`` samples, plus one if
    ``r < total % world_size``; as in DPA, a rank beyond the last sample gets
    ``(0, 0)``.  Arguments are valid (checked by the callers).
    """
    if rank >= total:
        return (0, 0)
    base, rem = divmod(total, world_size)
    start = rank * base + min(rank, rem)
    return (start, start + base + (rank < rem))


# ---- the epoch shuffle -----------------------------------------------------------

# The network itself is compiled (dpa/_shuffle.pxi): the round function is
# splitmix64's (bijective) finalizer.
_FEISTEL_ROUNDS = 6  # 4 suffice in theory; 6 keep tiny domains close to uniform


def _feistel_keys(seed: int, epoch: int) -> list[int]:
    digest = hashlib.sha256(f"dpa-shuffle:{seed}:{epoch}".encode()).digest()
    digest += hashlib.sha256(digest).digest()
    return [int.from_bytes(digest[8 * i:8 * i + 8], "little") for i in range(_FEISTEL_ROUNDS)]


def shuffle_positions(positions: Any, n: int, base_seed: int = 0, epoch: int = 0) -> np.ndarray:
    """shuffle_positions(positions, n, base_seed=0, epoch=0)

    ``perm[positions]`` for a pseudo-random permutation ``perm`` of ``0 .. n-1``.

    ``perm`` depends only on ``(n, base_seed, epoch)``: it is a balanced
    Feistel network (6 rounds, the splitmix64 finalizer as round function,
    round keys from ``sha256(f"dpa-shuffle:{base_seed}:{epoch}")``) on the
    smallest even-bit domain ``>= n``, restricted to ``[0, n)`` by cycle
    walking.  Any subset of positions is computed without the rest, so a
    rank permutes only its own share, and the result is plain integer
    arithmetic: the same on every machine and NumPy version.

    Parameters
    ----------
    positions : range or array of int
        Positions in ``[0, n)``.
    n : int
        Size of the permuted domain, ``0 <= n <= 2**63``.
    base_seed, epoch : int
        The key, both non-negative.

    Returns
    -------
    ndarray of int64
    """
    n = check_int(n, "n", minimum=0, maximum=MAX_SAMPLE_ID + 1)
    keys = _feistel_keys(non_negative(base_seed, "base_seed"), non_negative(epoch, "epoch"))
    if isinstance(positions, range):
        if check_range_length(positions, "positions") and (min(positions[0], positions[-1]) < 0
                               or max(positions[0], positions[-1]) >= n):
            raise ValueError(f"positions must lie in [0, n), but n={n} and they span "
                             f"[{min(positions[0], positions[-1])}, "
                             f"{max(positions[0], positions[-1])}]")
        pos = (np.arange(positions.start, positions.stop, positions.step, dtype=np.int64)
               if len(positions) else np.empty(0, np.int64))
    else:
        raw = np.asarray(positions) if isinstance(positions, np.ndarray) else None
        if raw is not None and raw.dtype.kind == "u" and raw.size and raw.max() > MAX_SAMPLE_ID:
            raise ValueError(f"positions must lie in [0, n), but n={n} and they reach "
                             f"{int(raw.max())}")
        try:
            pos = np.asarray(positions, dtype=np.int64)
        except (OverflowError, ValueError, TypeError):
            raise ValueError("positions should be integers in [0, n), but got positions="
                             f"{show(positions)}") from None
        if pos.ndim != 1:
            raise ValueError(f"positions should be 1-D, but got an array of shape {pos.shape}")
        if pos.size and (pos.min() < 0 or pos.max() >= n):
            raise ValueError(f"positions must lie in [0, n), but n={n} and they span "
                             f"[{int(pos.min())}, {int(pos.max())}]")
    if n <= 1:
        return pos.copy()
    out = np.empty(pos.shape[0], np.int64)
    return _core.feistel_permute(np.ascontiguousarray(pos), out, n, keys)


# ---- the layout --------------------------------------------------------------------


@dataclass(frozen=True)
class RankLayout:
    """RankLayout(num_samples, rank=0, world_size=1, split="contiguous", uneven="keep", shuffle=False, base_seed=0, start_id=0)

    One rank's share of ``num_samples`` samples, epoch by epoch (module docs).

    Parameters
    ----------
    num_samples : int
        Samples across all ranks, ``>= 0``; ids ``start_id .. start_id +
        num_samples - 1``.
    rank, world_size : int
        ``0 <= rank < world_size``.
    split : {"contiguous", "strided"}
    uneven : {"keep", "pad", "drop"}
    shuffle : bool
        Permute the order every epoch, keyed by ``(base_seed, epoch)``.
    base_seed : int
        The shuffle's key.
    start_id : int
        The first sample id.

    The ranks' lists together hold every id once with ``uneven="keep"``;
    with ``"pad"`` the ``(-N) % W`` padded ids repeat the first ones of the
    order; with ``"drop"`` the ``N % W`` dropped ids appear nowhere.
    """

    num_samples: int
    rank: int = 0
    world_size: int = 1
    split: str = "contiguous"
    uneven: str = "keep"
    shuffle: bool = False
    base_seed: int = 0
    start_id: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "num_samples", non_negative(self.num_samples, "num_samples"))
        set_(self, "world_size", check_world_size(self.world_size))
        set_(self, "rank", check_rank(self.rank, self.world_size))
        set_(self, "split", check_choice(self.split, "split", SPLIT_MODES))
        set_(self, "uneven", check_choice(self.uneven, "uneven", UNEVEN_MODES))
        set_(self, "shuffle", check_bool(self.shuffle, "shuffle"))
        set_(self, "base_seed", non_negative(self.base_seed, "base_seed"))
        set_(self, "start_id", check_sample_id(self.start_id, "start_id", rule=NON_NEGATIVE))
        last = self.start_id + self.num_samples - 1
        if self.num_samples and last > MAX_SAMPLE_ID:
            raise ValueError(
                f"sample ids must be at most 2**63-1, but start_id + num_samples - 1 = {last}"
            )
        share = -(-self.num_samples // self.world_size)  # the largest rank's, padded
        if share > MAX_SAMPLE_ID:  # more ids than one rank's stream (a range) can count
            raise ValueError(
                f"num_samples should be at most 2**63-1 per rank, but num_samples="
                f"{self.num_samples} with world_size={self.world_size} gives a rank {share} ids"
            )

    def _positions(self) -> tuple[range, int | None]:
        """The rank's positions in the epoch's order, and a padding position or None."""
        n, w = self.num_samples, self.world_size
        base, rem = divmod(n, w)
        if self.split == "contiguous":
            positions = range(*contiguous_range(n, w, self.rank))
        else:
            positions = range(self.rank, n, w)
        if self.uneven == "drop":
            return positions[:base], None
        if self.uneven == "pad" and n and len(positions) == base and rem:
            return positions, (self.rank - rem) % n
        return positions, None

    def __len__(self) -> int:
        """Samples this rank processes per epoch."""
        positions, pad = self._positions()
        return len(positions) + (pad is not None)

    def ids(self, epoch: int = 0) -> range | np.ndarray:
        """The sample ids of this rank in ``epoch``, in order.

        A ``range`` when no shuffle or padding applies (so the kernel's range
        fast path runs), otherwise an int64 array.
        """
        epoch = non_negative(epoch, "epoch")
        start = self.start_id
        positions, pad = self._positions()
        if not self.shuffle:
            ids = range(start + positions.start, start + positions.stop, positions.step)
            if pad is None:
                return ids
            return np.append(np.arange(ids.start, ids.stop, ids.step, dtype=np.int64),
                             np.int64(start + pad))
        if pad is not None:
            positions = np.append(np.arange(positions.start, positions.stop, positions.step,
                                            dtype=np.int64), np.int64(pad))
        ids = shuffle_positions(positions, self.num_samples, self.base_seed, epoch)
        ids += start
        return ids

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (for checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RankLayout:
        """The layout :meth:`to_dict` gave."""
        return cls(**data)


def rank_sample_ids(
    num_samples: int,
    rank: int,
    world_size: int,
    *,
    split: str = "contiguous",
    uneven: str = "keep",
    shuffle: bool = False,
    epoch: int = 0,
    base_seed: int = 0,
    start_id: int = 0,
) -> range | np.ndarray:
    """rank_sample_ids(num_samples, rank, world_size, *, split="contiguous", uneven="keep", shuffle=False, epoch=0, base_seed=0, start_id=0)

    The sample ids ``rank`` processes in ``epoch``, in order:
    ``RankLayout(num_samples, rank, world_size, split, uneven, shuffle,
    base_seed, start_id).ids(epoch)``.
    """
    layout = RankLayout(num_samples, rank, world_size, split, uneven, shuffle, base_seed, start_id)
    return layout.ids(epoch)
