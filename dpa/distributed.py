"""Distributed generation: rank ranges, rank-aware seeding, epochs, ``from_env``.

The DPA 0.2.1 API (``DistributedRangeSplitter``, ``RankAwareSeedGenerator``,
``gen_distributed_augmentation_params``, ``stream_distributed_augmentation_chain``,
``stream_distributed_augmentation_range`` and DPA's exception classes) keeps
DPA's names, defaults, ranges and output, bit for bit.  Everything runs on the
compiled kernel: a stream is a :class:`DistributedParamStream`, a
:class:`dpa.ParamStream` whose ``claim``/``generate`` hand arrays to the batch
engine without building a dict per sample.

Beyond DPA, five choices, each keyword-only and off by default so that the
default output is DPA's:

Scheme (``scheme=``)
    ``"dpa"`` (DPA's SHA-256 chain; everything below) or ``"philox"`` (the
    counter-based ``philox-v1`` scheme of docs/schemes.md): a sample's
    parameters are then ``dpa.generate([id], config, scheme="philox",
    base_seed=base_seed, epoch=epoch if epoch_params else 0)``, never a
    function of the rank, so ``seeding`` must be ``"sample"`` (its default
    for philox) and the records have no ``hash``.  The split, padding and
    shuffle are the same for both schemes.
Seeding (``seeding=``)
    ``"rank"`` (DPA's, the default with ``scheme="dpa"``): the chain starts
    from ``"{base_seed}:{rank}:{sample_id}"``, so a sample's parameters
    depend on the rank that processes it, and changing the world size
    changes them.  ``"sample"``: parameters depend only
    on the sample id and ``base_seed``; with ``base_seed=0`` the chain starts
    from ``"{sample_id}"``, exactly as single-process :func:`dpa.generate`, and
    with ``base_seed=b > 0`` from ``"{b}::{sample_id}"`` (a rank field left
    empty, which no DPA rank-aware message can equal).  Any world size, split,
    order or DataLoader worker count then gives every sample the same
    parameters.
Split (``split=``)
    ``"contiguous"`` (DPA's ranges: the first ``num_samples % world_size`` ranks
    get one sample more) or ``"strided"`` (rank ``r`` takes positions
    ``r, r + world_size, ...``, as PyTorch's ``DistributedSampler`` does).
Uneven sizes (``uneven=``)
    ``"keep"`` (DPA's), ``"pad"`` (every rank short of ``ceil(N / W)`` samples
    gets one more: the sample at position ``(rank - N % W) % N`` of the epoch's
    order, as ``DistributedSampler`` pads with the first samples), or
    ``"drop"`` (every rank keeps its first ``floor(N / W)``).
Epochs (``epoch=``, ``shuffle=``, ``epoch_params=``)
    With ``shuffle=True`` the epoch's order is a pseudo-random permutation of
    the positions ``0 .. N-1`` keyed by ``(base_seed, epoch)`` (a 6-round
    Feistel network with cycle walking; see :func:`shuffle_positions`), applied
    before the split, so each rank computes only its own share.  With
    ``epoch_params=True`` the parameters vary per epoch too: the message
    prefix gains an epoch field (``"{base_seed}:{rank}:{epoch}:"`` for
    ``"rank"`` seeding, ``"{base_seed}::{epoch}:"`` for ``"sample"``); with
    ``scheme="philox"`` the philox epoch is ``epoch`` (else 0).

Compatibility guarantee: with the defaults (``scheme="dpa"``, ``seeding="rank"``,
``split="contiguous"``, ``uneven="keep"``, ``shuffle=False``,
``epoch_params=False``) every range, record and hash equals DPA 0.2.1's.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from . import _core
from . import engine as _engine
from .chain import records_to_dicts
from .config import AugmentationConfig
from .engine import MAX_SAMPLE_ID, SCHEMES
from .stream import ParamStream

__all__ = [
    "SCHEMES",
    "SEEDING_MODES",
    "SPLIT_MODES",
    "UNEVEN_MODES",
    "DistributedError",
    "InvalidRankError",
    "RangeSplittingError",
    "SeedGenerationError",
    "DistributedEnvironmentError",
    "RankRange",
    "DistributedRangeSplitter",
    "RankAwareSeedGenerator",
    "DistributedParamStream",
    "DistEnv",
    "from_env",
    "gen_distributed_augmentation_params",
    "rank_sample_ids",
    "seed_prefix",
    "shuffle_positions",
    "stream_distributed_augmentation_chain",
    "stream_distributed_augmentation_range",
]

#: ``seeding=`` values: DPA's rank-dependent seeding, or world-size-invariant.
SEEDING_MODES = ("rank", "sample")
#: ``split=`` values: DPA's contiguous ranges, or PyTorch's ``rank::world_size``.
SPLIT_MODES = ("contiguous", "strided")
#: ``uneven=`` values: keep DPA's unequal sizes, pad, or drop to equal sizes.
UNEVEN_MODES = ("keep", "pad", "drop")


# ---- errors (DPA's classes) ---------------------------------------------------


class DistributedError(Exception):
    """Base class of the errors of distributed generation (as in DPA)."""


class InvalidRankError(DistributedError, ValueError):
    """A rank outside ``[0, world_size)``.

    Also a ``ValueError``, which is what DPA 0.2.1 raises for a bad rank, so
    code catching either keeps working.
    """


class RangeSplittingError(DistributedError):
    """Range splitting failed (as in DPA)."""


class SeedGenerationError(DistributedError):
    """Seed or parameter generation failed (as in DPA)."""


class DistributedEnvironmentError(DistributedError, RuntimeError):
    """:func:`from_env` found neither torchrun's variables nor ``torch.distributed``."""


# ---- validation ----------------------------------------------------------------


def _int(value: Any, name: str) -> int:
    """``value`` as an int; ``TypeError`` naming it for anything else (bools too)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} should be an integer, but got {name}={value!r}")
    return int(value)


def _non_negative(value: Any, name: str) -> int:
    value = _int(value, name)
    if value < 0:
        # DPA's message, then the value.
        raise ValueError(f"{name} must be non-negative, but got {name}={value}")
    return value


def _world_size(world_size: Any) -> int:
    world_size = _int(world_size, "world_size")
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, but got world_size={world_size}")
    return world_size


def _rank(rank: Any, world_size: int) -> int:
    rank = _int(rank, "rank")
    if rank < 0:
        raise InvalidRankError(f"rank must be non-negative, but got rank={rank}")
    if rank >= world_size:
        raise InvalidRankError(f"rank ({rank}) must be < world_size ({world_size})")
    return rank


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} should be one of {choices}, but got {name}={value!r}")
    return value


def _scheme_seeding(scheme: Any, seeding: Any) -> tuple[str, str]:
    """Validated ``(scheme, seeding)``; ``seeding=None`` picks the scheme's default.

    ``None`` is ``"rank"`` (DPA's) for ``scheme="dpa"`` and ``"sample"`` for
    ``scheme="philox"``, whose parameters never depend on the rank.
    """
    scheme = _choice(scheme, "scheme", SCHEMES)
    if seeding is None:
        return scheme, "rank" if scheme == "dpa" else "sample"
    seeding = _choice(seeding, "seeding", SEEDING_MODES)
    if scheme == "philox" and seeding == "rank":
        raise ValueError(
            "seeding='rank' does not apply to scheme='philox': its parameters depend only on "
            "(base_seed, epoch, sample_id), never on the rank; use seeding='sample' (the "
            "default for philox)"
        )
    return scheme, seeding


def _config(config: Any) -> AugmentationConfig:
    if config is None:
        return AugmentationConfig()
    if not isinstance(config, AugmentationConfig):
        raise TypeError(
            f"config should be an AugmentationConfig, but got {type(config).__name__}"
        )
    return config


def _sample_id(sample_id: Any) -> int:
    sample_id = _non_negative(sample_id, "sample_id")
    if sample_id > MAX_SAMPLE_ID:
        raise ValueError(f"sample_id must be at most 2**63-1, but got sample_id={sample_id}")
    return sample_id


# ---- range splitting (DPA's) -----------------------------------------------------


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
        self.total_samples = _non_negative(total_samples, "total_samples")
        self.world_size = _world_size(world_size)
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
        rank = _rank(rank, self.world_size)
        if rank >= self.total_samples:  # DPA: no samples, or more ranks than samples
            return (0, 0)
        base, rem = self._base, self._rem
        start = rank * base + min(rank, rem)
        return (start, start + base + (rank < rem))

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
        sample_id = _non_negative(sample_id, "sample_id")
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


# ---- seeding -----------------------------------------------------------------


def seed_prefix(
    seeding: str = "rank", rank: int | None = 0, base_seed: int = 0, epoch: int | None = None
) -> bytes:
    """seed_prefix(seeding="rank", rank=0, base_seed=0, epoch=None)

    The bytes hashed before the decimal sample id, for a seeding mode.

    Parameters
    ----------
    seeding : {"rank", "sample"}
        ``"rank"``: DPA's ``b"{base_seed}:{rank}:"``.  ``"sample"``: ``b""``
        for ``base_seed=0`` (DPA's plain scheme), else ``b"{base_seed}::"``;
        ``rank`` is ignored.
    rank : int
        The rank, for ``"rank"`` seeding.
    base_seed : int
        Non-negative.
    epoch : int, optional
        If given, parameters vary per epoch: ``"{epoch}:"`` is appended
        (``b"{base_seed}:{rank}:{epoch}:"`` or ``b"{base_seed}::{epoch}:"``).

    Every (mode, rank, base_seed, epoch) gives a different message for every
    id: DPA's messages have two colons and a non-empty rank field, the
    ``"sample"`` ones an empty rank field, the per-epoch ones three colons.
    """
    seeding = _choice(seeding, "seeding", SEEDING_MODES)
    base_seed = _non_negative(base_seed, "base_seed")
    if seeding == "rank":
        head = f"{base_seed}:{_non_negative(rank, 'rank')}:"
    elif base_seed == 0 and epoch is None:
        return b""
    else:
        head = f"{base_seed}::"
    if epoch is not None:
        head += f"{_non_negative(epoch, 'epoch')}:"
    return head.encode()


def _generate_prefixed(
    ids: Any,
    config: AugmentationConfig,
    prefix: bytes,
    *,
    out: np.ndarray | None = None,
    threads: int | None = None,
    hash: bool = False,
) -> np.ndarray:
    """:func:`dpa.generate` with an explicit message prefix (any seeding mode)."""
    return _engine.run_kernel(
        _engine._dpa_kernel(prefix, config), ids, out=out, threads=threads, hash=hash
    )


class RankAwareSeedGenerator:
    """RankAwareSeedGenerator(base_seed=0, world_size=1)

    DPA 0.2.1's rank-aware chain hashes.

    :meth:`generate_seed` returns the hex SHA-256 digest at the end of the
    Fibonacci chain started from ``"{base_seed}:{rank}:{sample_id}"``.

    Parameters
    ----------
    base_seed : int
        Non-negative.
    world_size : int
        Number of ranks, ``>= 1``; ``rank`` must be below it.
    """

    def __init__(self, base_seed: int = 0, world_size: int = 1) -> None:
        self.base_seed = _non_negative(base_seed, "base_seed")
        self.world_size = _world_size(world_size)

    def __repr__(self) -> str:
        return f"RankAwareSeedGenerator(base_seed={self.base_seed}, world_size={self.world_size})"

    def generate_seed(self, sample_id: int, rank: int, augmentation_depth: int = 10) -> str:
        """generate_seed(sample_id, rank, augmentation_depth=10)

        The chain digest of ``sample_id`` on ``rank``, as a 64-character hex string.

        Raises
        ------
        ValueError
            ``sample_id`` negative (or above ``2**63 - 1``), ``rank`` outside
            ``[0, world_size)`` (``InvalidRankError``), ``augmentation_depth < 1``.
        """
        sample_id = _sample_id(sample_id)
        rank = _rank(rank, self.world_size)
        depth = _int(augmentation_depth, "augmentation_depth")
        if depth < 1:
            raise ValueError(
                f"augmentation_depth must be >= 1, but got augmentation_depth={depth}"
            )
        rec = _generate_prefixed(
            range(sample_id, sample_id + 1),
            AugmentationConfig(augmentation_depth=depth),
            seed_prefix("rank", rank, self.base_seed),
            hash=True,
            threads=1,
        )
        return rec["hash"][0].decode()


def gen_distributed_augmentation_params(
    sample_id: int,
    rank: int,
    config: AugmentationConfig | None = None,
    base_seed: int = 0,
    world_size: int = 1,
    *,
    scheme: str = "dpa",
    seeding: str | None = None,
    epoch: int | None = None,
) -> dict[str, Any]:
    """gen_distributed_augmentation_params(sample_id, rank, config=None, base_seed=0, world_size=1, *, scheme="dpa", seeding=None, epoch=None)

    One sample's parameters on one rank, as DPA 0.2.1's dict.

    Parameters
    ----------
    sample_id : int
        In ``[0, 2**63 - 1]``.
    rank : int
        In ``[0, world_size)``.
    config : AugmentationConfig, optional
        DPA's defaults when omitted.
    base_seed : int
        Non-negative (with ``scheme="philox"``, the key: below ``2**64``).
    world_size : int
        ``>= 1``; only bounds ``rank``, as in DPA.
    scheme : {"dpa", "philox"}
        ``"dpa"`` (DPA's) or the counter-based ``"philox"``, whose parameters
        are ``dpa.generate([sample_id], config, scheme="philox",
        base_seed=base_seed, epoch=epoch or 0)``, whatever the rank.
    seeding : {"rank", "sample"}, optional
        ``"rank"`` (DPA's, the default with ``scheme="dpa"``) or ``"sample"``
        (rank-independent; see :func:`seed_prefix`; the default, and the only
        mode, with ``scheme="philox"``).
    epoch : int, optional
        Vary the parameters per epoch (see :func:`seed_prefix`); with
        ``scheme="philox"``, the philox epoch (``< 2**32``; 0 when omitted).

    Returns
    -------
    dict
        ``rotation``, ``brightness``, ``noise``, ``scale``, ``contrast``
        (floats), ``hash`` (hex string) and ``rank``, as DPA returns them;
        no ``hash`` with ``scheme="philox"``.

    Raises
    ------
    ValueError
        Negative ``sample_id``; ``world_size < 1``; ``rank`` outside
        ``[0, world_size)`` (``InvalidRankError``); an unknown ``scheme`` or
        ``seeding``; ``seeding="rank"`` with ``scheme="philox"``.
    SeedGenerationError
        Negative ``base_seed`` (DPA raises this error for it too).
    """
    sample_id = _sample_id(sample_id)
    world_size = _world_size(world_size)
    rank = _rank(rank, world_size)
    config = _config(config)
    scheme, seeding = _scheme_seeding(scheme, seeding)
    if _int(base_seed, "base_seed") < 0:
        raise SeedGenerationError(
            "Failed to generate distributed augmentation parameters: "
            f"base_seed must be non-negative, but got base_seed={base_seed}"
        )
    ids = range(sample_id, sample_id + 1)
    if scheme == "philox":
        epoch = 0 if epoch is None else _non_negative(epoch, "epoch")
        rec = _engine.generate(ids, config, scheme="philox", base_seed=base_seed, epoch=epoch,
                               threads=1)
    else:
        rec = _generate_prefixed(ids, config, seed_prefix(seeding, rank, base_seed, epoch),
                                 hash=True, threads=1)
    params = records_to_dicts(rec)[0]
    params["rank"] = rank
    return params


# ---- epoch order and rank shares -----------------------------------------------

# The network itself is compiled (dpa/_shuffle.pxi): the round function is
# splitmix64's (bijective) finalizer.
_FEISTEL_ROUNDS = 6  # 4 suffice in theory; 6 keep tiny domains close to uniform


def _feistel_keys(base_seed: int, epoch: int) -> list[np.uint64]:
    digest = hashlib.sha256(f"dpa-shuffle:{base_seed}:{epoch}".encode()).digest()
    digest += hashlib.sha256(digest).digest()
    return [
        np.uint64(int.from_bytes(digest[8 * i:8 * i + 8], "little"))
        for i in range(_FEISTEL_ROUNDS)
    ]


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
        Size of the permuted domain.
    base_seed, epoch : int
        The key, both non-negative.

    Returns
    -------
    ndarray of int64
    """
    n = _non_negative(n, "n")
    keys = _feistel_keys(_non_negative(base_seed, "base_seed"), _non_negative(epoch, "epoch"))
    if isinstance(positions, range):
        pos = np.arange(positions.start, positions.stop, positions.step, dtype=np.int64)
    else:
        pos = np.asarray(positions, dtype=np.int64)
    if pos.size and (pos.min() < 0 or pos.max() >= n):
        raise ValueError(f"positions must lie in [0, n), but n={n} and they span "
                         f"[{int(pos.min())}, {int(pos.max())}]")
    if n <= 1:
        return pos.copy()
    out = np.empty(pos.shape[0], np.int64)
    return _core.feistel_permute(np.ascontiguousarray(pos), out, n, [int(k) for k in keys])


def _share(num_samples: int, rank: int, world_size: int, split: str, uneven: str
           ) -> tuple[range, int | None]:
    """Rank's positions in the epoch's order: a range, and a padding position or None."""
    n, w = num_samples, world_size
    base, rem = divmod(n, w)
    if split == "contiguous":
        positions = range(*DistributedRangeSplitter(n, w).get_rank_range(rank))
    else:
        positions = range(rank, n, w)
    if uneven == "drop":
        return positions[:base], None
    if uneven == "pad" and n and len(positions) == base and rem:
        return positions, (rank - rem) % n
    return positions, None


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

    The sample ids ``rank`` processes in an epoch, in order.

    The epoch's order lists ``start_id + perm(p)`` for the positions
    ``p = 0 .. num_samples - 1`` (``perm`` is the identity without
    ``shuffle``, else :func:`shuffle_positions` keyed by ``base_seed`` and
    ``epoch``); ``split`` and ``uneven`` choose the rank's positions in it
    (see the module docs).  The ranks' lists together hold every id once
    with ``uneven="keep"``; with ``"pad"`` the ``(-N) % W`` padded ids
    repeat the first ones of the order; with ``"drop"`` the ``N % W``
    dropped ids appear nowhere.

    Returns
    -------
    range or ndarray of int64
        A ``range`` when no shuffle or padding applies, so the kernel's range
        fast path runs; otherwise an int64 array.
    """
    n = _non_negative(num_samples, "num_samples")
    world_size = _world_size(world_size)
    rank = _rank(rank, world_size)
    split = _choice(split, "split", SPLIT_MODES)
    uneven = _choice(uneven, "uneven", UNEVEN_MODES)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle should be a bool, but got shuffle={shuffle!r}")
    epoch = _non_negative(epoch, "epoch")
    base_seed = _non_negative(base_seed, "base_seed")
    start_id = _non_negative(start_id, "start_id")
    if n and start_id + n - 1 > MAX_SAMPLE_ID:
        raise ValueError(
            "sample ids must be at most 2**63-1, but start_id + num_samples - 1 = "
            f"{start_id + n - 1}"
        )
    positions, pad = _share(n, rank, world_size, split, uneven)
    if not shuffle:
        ids = range(start_id + positions.start, start_id + positions.stop, positions.step)
        if pad is None:
            return ids
        return np.append(np.arange(ids.start, ids.stop, ids.step, dtype=np.int64),
                         np.int64(start_id + pad))
    if pad is not None:
        positions = np.append(np.arange(positions.start, positions.stop, positions.step,
                                        dtype=np.int64), np.int64(pad))
    ids = shuffle_positions(positions, n, base_seed, epoch)
    ids += start_id
    return ids


# ---- streams -------------------------------------------------------------------


class DistributedParamStream(ParamStream):
    """One rank's share of a distributed generation, as a :class:`dpa.ParamStream`.

    Iterated, it yields DPA's dicts (each with the extra ``rank`` key DPA's
    distributed stream adds), or lists of ``chunk_size`` of them; with
    ``scheme="philox"`` the dicts have ``rank`` but no ``hash``.  Array
    consumers use ``claim()``/``generate()``/``blocks()`` as with any
    ``ParamStream``: :meth:`generate` applies this stream's scheme and seeding.

    Build it with :func:`stream_distributed_augmentation_chain`; the
    attributes ``scheme``, ``rank``, ``world_size``, ``base_seed``,
    ``seeding``, ``split``, ``uneven``, ``shuffle``, ``epoch`` (the epoch
    of the order), ``epoch_params`` and ``prefix`` (the hashed message
    prefix of the DPA scheme; ``None`` with ``scheme="philox"``, which hashes
    no message) describe it.  With ``scheme="philox"`` the parameters use the
    philox epoch ``epoch if epoch_params else 0``.
    """

    def __init__(
        self,
        ids: range | np.ndarray,
        rank: int,
        world_size: int,
        config: AugmentationConfig | None = None,
        chunk_size: int | None = None,
        *,
        base_seed: int = 0,
        seeding: str | None = None,
        split: str = "contiguous",
        uneven: str = "keep",
        shuffle: bool = False,
        epoch: int = 0,
        epoch_params: bool = False,
        scheme: str = "dpa",
    ) -> None:
        # The parent validates config and chunk_size and sets up iteration.
        super().__init__(range(0), _config(config), chunk_size)
        self.scheme, self.seeding = _scheme_seeding(scheme, seeding)
        self.world_size = _world_size(world_size)
        self.rank = _rank(rank, self.world_size)
        self.base_seed = _non_negative(base_seed, "base_seed")
        self.split = _choice(split, "split", SPLIT_MODES)
        self.uneven = _choice(uneven, "uneven", UNEVEN_MODES)
        self.shuffle = bool(shuffle)
        self.epoch = _non_negative(epoch, "epoch")
        self.epoch_params = bool(epoch_params)
        if self.scheme == "philox":
            self.prefix = None
            # Validates the key (< 2**64) and epoch (< 2**32) now.
            _engine.kernel_for(self.config, scheme="philox", base_seed=self.base_seed,
                               epoch=self._philox_epoch)
        else:
            self.prefix = seed_prefix(
                self.seeding, self.rank, self.base_seed,
                self.epoch if self.epoch_params else None,
            )
        self.ids = ids

    @property
    def _philox_epoch(self) -> int:
        return self.epoch if self.epoch_params else 0

    def __repr__(self) -> str:
        return (
            f"DistributedParamStream(rank={self.rank}, world_size={self.world_size}, "
            f"samples={len(self.ids)}, position={self.position}, scheme={self.scheme!r}, "
            f"seeding={self.seeding!r}, split={self.split!r}, uneven={self.uneven!r}, "
            f"shuffle={self.shuffle}, epoch={self.epoch}, chunk_size={self.chunk_size})"
        )

    def generate(self, ids: Any, out: np.ndarray | None = None, hash: bool = False,
                 threads: int | None = None) -> np.ndarray:
        """Records for ``ids`` (a range or int array) with this stream's scheme and seeding.

        Does not consume the stream.  ``hash=True`` needs ``scheme="dpa"``
        (``ValueError`` otherwise, as :func:`dpa.generate` raises).
        """
        if self.scheme == "philox":
            return _engine.generate(ids, self.config, out=out, threads=threads, hash=hash,
                                    scheme="philox", base_seed=self.base_seed,
                                    epoch=self._philox_epoch)
        return _generate_prefixed(ids, self.config, self.prefix, out=out, threads=threads,
                                  hash=hash)

    def seeding_provenance(self) -> dict[str, Any]:
        """The seeding of this stream's records, as recorded in ``.npy`` provenance.

        ``scheme="philox"``: ``{"scheme": "philox", "base_seed": b, "epoch":
        e}`` with the philox epoch ``e`` (``epoch`` if ``epoch_params``, else
        0; the order's epoch is not a seeding key).  ``scheme="dpa"``: DPA's
        rank-aware seeding without an epoch is ``{"scheme": "dpa", "rank": r,
        "base_seed": b}`` and the empty prefix ``{"scheme": "dpa"}``, as
        :func:`dpa.generate` takes them; any other prefix (``"sample"`` seeding
        with ``base_seed > 0``, ``epoch_params=True``) is recorded as is,
        ``{"scheme": "dpa", "prefix": "<the hashed prefix, ASCII>"}``.
        """
        if self.scheme == "philox":
            return {"scheme": "philox", "base_seed": self.base_seed, "epoch": self._philox_epoch}
        if self.prefix == f"{self.base_seed}:{self.rank}:".encode():
            return {"scheme": "dpa", "rank": self.rank, "base_seed": self.base_seed}
        if self.prefix == b"":
            return {"scheme": "dpa"}
        return {"scheme": "dpa", "prefix": self.prefix.decode("ascii")}

    def _next_dict(self) -> dict[str, Any]:
        params = super()._next_dict()
        params["rank"] = self.rank
        return params


def stream_distributed_augmentation_chain(
    num_samples: int,
    rank: int,
    world_size: int,
    config: AugmentationConfig | None = None,
    base_seed: int = 0,
    chunk_size: int | None = None,
    verbose: bool = False,
    inclusive_range: bool = True,
    *,
    scheme: str = "dpa",
    seeding: str | None = None,
    split: str = "contiguous",
    uneven: str = "keep",
    shuffle: bool = False,
    epoch: int = 0,
    epoch_params: bool = False,
    start_id: int = 0,
) -> DistributedParamStream:
    """stream_distributed_augmentation_chain(num_samples, rank, world_size, config=None, base_seed=0, chunk_size=None, verbose=False, inclusive_range=True, *, scheme="dpa", seeding=None, split="contiguous", uneven="keep", shuffle=False, epoch=0, epoch_params=False, start_id=0)

    ``rank``'s share of ``num_samples`` samples, as a stream.

    With the defaults this is DPA 0.2.1's function: the ids of
    ``DistributedRangeSplitter(num_samples, world_size).get_rank_range(rank)``
    with DPA's rank-aware seeding, iterated as dicts (with a ``rank`` key) or
    lists of ``chunk_size`` dicts.  The keyword-only arguments choose the
    scheme, seeding mode, split, padding and epoch (module docs).

    Parameters
    ----------
    num_samples : int
        Samples across all ranks, ``>= 0``; ids are ``start_id + 0 ..
        start_id + num_samples - 1``.
    rank, world_size : int
        ``0 <= rank < world_size``.
    config : AugmentationConfig, optional
        DPA's defaults when omitted.
    base_seed : int
        Non-negative; seeds the parameters (and the shuffle).  With
        ``scheme="philox"`` it is the philox key, below ``2**64``.
    chunk_size : int, optional
        Iterate lists of up to ``chunk_size`` dicts.
    verbose : bool
        Print the rank's range when the stream is made, as DPA does.
    inclusive_range : bool
        Accepted for DPA compatibility; it has no effect there either.
    scheme : {"dpa", "philox"}
        ``"dpa"`` (default) or ``"philox"``: each id's parameters are then
        ``dpa.generate([id], config, scheme="philox", base_seed=base_seed,
        epoch=epoch if epoch_params else 0)`` on every rank, and the records
        have no ``hash``.
    seeding : {"rank", "sample"}, optional
        ``None`` (default): ``"rank"`` (DPA's) with ``scheme="dpa"``,
        ``"sample"`` with ``scheme="philox"``, which has no rank-aware seeding
        (``"rank"`` raises ``ValueError`` there).  See :func:`seed_prefix`.
    split, uneven, shuffle, epoch, epoch_params, start_id
        See :func:`rank_sample_ids` and :func:`seed_prefix`.

    Returns
    -------
    DistributedParamStream
        A :class:`dpa.ParamStream`: ``BatchProcessor.process_stream`` and other
        array consumers take its array path.

    Raises
    ------
    ValueError
        ``num_samples`` negative, ``world_size < 1``, ``rank`` outside
        ``[0, world_size)`` (``InvalidRankError``), ``chunk_size <= 0``, an
        unknown scheme or mode, ``seeding="rank"`` with ``scheme="philox"``,
        a philox ``base_seed >= 2**64`` (or epoch ``>= 2**32`` with
        ``epoch_params``).
    """
    num_samples = _non_negative(num_samples, "num_samples")
    world_size = _world_size(world_size)
    rank = _rank(rank, world_size)
    scheme, seeding = _scheme_seeding(scheme, seeding)
    if chunk_size is not None and _int(chunk_size, "chunk_size") <= 0:
        raise ValueError(f"chunk_size must be positive, but got chunk_size={chunk_size}")
    ids = rank_sample_ids(
        num_samples, rank, world_size, split=split, uneven=uneven, shuffle=shuffle,
        epoch=epoch, base_seed=base_seed, start_id=start_id,
    )
    stream = DistributedParamStream(
        ids, rank, world_size, config, chunk_size, base_seed=base_seed, seeding=seeding,
        split=split, uneven=uneven, shuffle=shuffle, epoch=epoch, epoch_params=epoch_params,
        scheme=scheme,
    )
    if verbose:
        if isinstance(ids, range) and ids.step == 1:
            where = f"samples {ids.start}-{ids.stop - 1}"
        else:
            where = "samples"
        sys.stdout.write(f"Rank {rank}/{world_size}: processing {where} ({len(ids)} samples)\n")
    return stream


def stream_distributed_augmentation_range(
    start_id: int,
    end_id: int,
    rank: int,
    world_size: int,
    config: AugmentationConfig | None = None,
    base_seed: int = 0,
    chunk_size: int | None = None,
    verbose: bool = False,
) -> DistributedParamStream:
    """stream_distributed_augmentation_range(start_id, end_id, rank, world_size, config=None, base_seed=0, chunk_size=None, verbose=False)

    Ids ``start_id .. end_id - 1`` with ``rank``'s seeding, unsplit (as DPA).

    Unlike :func:`stream_distributed_augmentation_chain` this does not split:
    the whole range is generated with DPA's rank-aware seeding for ``rank``.
    It has no ``scheme=``: philox has no rank-aware seeding, and a philox
    range is ``dpa.stream_augmentation_chain(end_id - start_id, config,
    start_id, scheme="philox", base_seed=..., epoch=...)``.

    Raises
    ------
    ValueError
        ``start_id`` negative, ``end_id < start_id``, ``end_id - 1`` above
        ``2**63 - 1``, bad ``rank``/``world_size``, ``chunk_size <= 0``.
    """
    start_id = _non_negative(start_id, "start_id")
    end_id = _int(end_id, "end_id")
    if end_id < start_id:
        raise ValueError(
            f"end_id must be >= start_id, but got start_id={start_id}, end_id={end_id}"
        )
    if end_id - 1 > MAX_SAMPLE_ID:
        raise ValueError(f"sample ids must be at most 2**63-1, but got end_id={end_id}")
    world_size = _world_size(world_size)
    rank = _rank(rank, world_size)
    if chunk_size is not None and _int(chunk_size, "chunk_size") <= 0:
        raise ValueError(f"chunk_size must be positive, but got chunk_size={chunk_size}")
    if verbose:
        sys.stdout.write(
            f"Rank {rank}/{world_size}: processing range {start_id}-{end_id - 1} "
            f"({end_id - start_id} samples)\n"
        )
    return DistributedParamStream(
        range(start_id, end_id), rank, world_size, config, chunk_size, base_seed=base_seed
    )


# ---- the launcher's environment ----------------------------------------------


class DistEnv(NamedTuple):
    """Rank and world size of this process, and where they came from."""

    rank: int
    world_size: int
    local_rank: int | None
    source: str  # "torch.distributed" or "environment"


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} should be an integer, but got {name}={raw!r}") from None


def from_env(environ: Mapping[str, str] | None = None) -> DistEnv:
    """from_env(environ=None)

    This process's rank and world size, from ``torch.distributed`` or torchrun.

    An initialised ``torch.distributed`` process group is asked first (it is
    only looked at if ``torch.distributed`` is already imported: this never
    imports torch); otherwise the ``RANK`` and ``WORLD_SIZE`` variables that
    torchrun (and most launchers) set.  ``local_rank`` is ``LOCAL_RANK`` when
    set, else ``None``.

    Parameters
    ----------
    environ : mapping, optional
        Variables to read instead of ``os.environ``.

    Returns
    -------
    DistEnv
        ``(rank, world_size, local_rank, source)``.

    Raises
    ------
    DistributedEnvironmentError
        Neither source is there, or only one of ``RANK``/``WORLD_SIZE`` is set.
    ValueError
        A variable is not an integer, or the rank is outside the world.
    """
    environ = os.environ if environ is None else environ
    local_rank = _env_int(environ, "LOCAL_RANK")
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        world_size = dist.get_world_size()
        return DistEnv(_rank(dist.get_rank(), world_size), world_size, local_rank,
                       "torch.distributed")
    rank, world_size = _env_int(environ, "RANK"), _env_int(environ, "WORLD_SIZE")
    if rank is None and world_size is None:
        raise DistributedEnvironmentError(
            "cannot tell this process's rank: neither RANK and WORLD_SIZE are set (torchrun "
            "sets them) nor is torch.distributed initialised; launch with torchrun, call "
            "torch.distributed.init_process_group(), or pass rank= and world_size="
        )
    if rank is None or world_size is None:
        missing = "RANK" if rank is None else "WORLD_SIZE"
        raise DistributedEnvironmentError(
            f"{missing} is not set but {'WORLD_SIZE' if rank is None else 'RANK'} is: "
            "set both, as torchrun does"
        )
    if world_size < 1:
        raise ValueError(f"WORLD_SIZE must be >= 1, but got WORLD_SIZE={world_size}")
    if not 0 <= rank < world_size:
        raise InvalidRankError(
            f"RANK must be in [0, WORLD_SIZE), but got RANK={rank}, WORLD_SIZE={world_size}"
        )
    return DistEnv(rank, world_size, local_rank, "environment")
