"""A rank's share of the parameters: DPA 0.2.1's distributed API and dpa's modes.

DPA's functions (``RankAwareSeedGenerator``, ``gen_distributed_augmentation_params``,
``stream_distributed_augmentation_chain``, ``stream_distributed_augmentation_range``)
keep DPA's names, defaults, ranges and output, bit for bit.  A stream is a
:class:`DistributedParamStream`, a :class:`dpa.ParamStream` whose
``claim``/``generate`` hand arrays to the batch engine without building a
dict per sample.

Beyond DPA, keyword-only choices, each off by default so that the default
output is DPA's: the layout (``split``, ``uneven``, ``shuffle``, ``epoch``,
``start_id``: :class:`~dpa.distributed.RankLayout`) and the seeding
(``scheme``, ``seeding``, ``epoch_params``: :class:`RankSeeding`).

Scheme (``scheme=``)
    ``"dpa"`` (DPA's SHA-256 chain) or ``"philox"`` (the counter-based
    ``philox-v1`` scheme of docs/schemes.md): a sample's parameters are then
    ``dpa.generate([id], config, scheme="philox", base_seed=base_seed,
    epoch=epoch if epoch_params else 0)``, never a function of the rank, so
    ``seeding`` must be ``"sample"`` (its default for philox) and the records
    have no ``hash``.
Seeding (``seeding=``)
    ``"rank"`` (DPA's, the default with ``scheme="dpa"``): the chain starts
    from ``"{base_seed}:{rank}:{sample_id}"``, so a sample's parameters depend
    on the rank that processes it.  ``"sample"``: parameters depend only on
    the sample id and ``base_seed`` (see :meth:`dpa.Seeding.for_rank`); any
    world size, split, order or DataLoader worker count then gives every
    sample the same parameters.
Epochs (``epoch=``, ``epoch_params=``)
    ``epoch`` orders the samples (with ``shuffle``); with ``epoch_params`` the
    parameters vary per epoch too.

Compatibility guarantee: with the defaults (``scheme="dpa"``, ``seeding="rank"``,
``split="contiguous"``, ``uneven="keep"``, ``shuffle=False``,
``epoch_params=False``) every range, record and hash equals DPA 0.2.1's.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import (check_bool, check_choice, check_int, check_instance, check_positive_int,
                         check_range_length, check_sample_id)
from ..config import DEFAULT_CONFIG, AugmentationConfig
from ..engine import generate_seeded
from ..records import records_to_dicts
from ..seeding import SCHEMES, SEEDING_MODES, Seeding
from ..stream import ParamStream
from .errors import SeedGenerationError
from .layout import (
    NON_NEGATIVE,
    SPLIT_MODES,
    UNEVEN_MODES,
    RankLayout,
    check_rank,
    check_world_size,
    non_negative,
)

__all__ = [
    "DistributedParamStream",
    "RankAwareSeedGenerator",
    "RankSeeding",
    "gen_distributed_augmentation_params",
    "seed_prefix",
    "stream_distributed_augmentation_chain",
    "stream_distributed_augmentation_range",
]


def _config(config: Any) -> AugmentationConfig:
    if config is None:
        return DEFAULT_CONFIG
    return check_instance(config, "config", AugmentationConfig, "an AugmentationConfig")


def _chunk_size(chunk_size: Any) -> int | None:
    if chunk_size is None:
        return None
    return check_positive_int(chunk_size, "chunk_size", rule="must be positive")


@dataclass(frozen=True)
class RankSeeding:
    """RankSeeding(scheme="dpa", mode=None, base_seed=0, epoch_params=False)

    How a rank seeds its parameters, epoch by epoch (module docs):
    :meth:`at` gives the :class:`dpa.Seeding` of a rank and epoch.

    ``mode`` is the ``seeding=`` of the distributed API; ``None`` is the
    scheme's default (``"rank"`` for ``"dpa"``, ``"sample"`` for ``"philox"``).
    """

    scheme: str = "dpa"
    mode: str | None = None
    base_seed: int = 0
    epoch_params: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        scheme = check_choice(self.scheme, "scheme", SCHEMES)
        mode = self.mode
        if mode is None:
            mode = "rank" if scheme == "dpa" else "sample"
        set_(self, "mode", check_choice(mode, "seeding", SEEDING_MODES))
        set_(self, "base_seed", non_negative(self.base_seed, "base_seed"))
        set_(self, "epoch_params", check_bool(self.epoch_params, "epoch_params"))
        self.at(0, 0)  # the scheme's own checks (philox: "rank" mode, key < 2**64)

    def at(self, rank: int, epoch: int) -> Seeding:
        """The seeding of ``rank`` in ``epoch`` (the epoch matters with ``epoch_params``)."""
        return Seeding.for_rank(self.scheme, self.mode, rank, self.base_seed,
                                epoch if self.epoch_params else None)

    def to_dict(self) -> dict[str, Any]:
        """``{"scheme", "seeding", "base_seed", "epoch_params"}`` (for checkpoints)."""
        return {"scheme": self.scheme, "seeding": self.mode, "base_seed": self.base_seed,
                "epoch_params": self.epoch_params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RankSeeding:
        """The value :meth:`to_dict` gave."""
        return cls(data["scheme"], data["seeding"], data["base_seed"], data["epoch_params"])


def seed_prefix(
    seeding: str = "rank", rank: int | None = 0, base_seed: int = 0, epoch: int | None = None
) -> bytes:
    """seed_prefix(seeding="rank", rank=0, base_seed=0, epoch=None)

    The bytes the DPA scheme hashes before the decimal sample id in a seeding
    mode: ``Seeding.for_rank("dpa", seeding, rank, base_seed, epoch).prefix``
    (see :meth:`dpa.Seeding.for_rank`).
    """
    return Seeding.for_rank("dpa", seeding, rank, base_seed, epoch).prefix


# ---- streams -------------------------------------------------------------------


class DistributedParamStream(ParamStream):
    """DistributedParamStream(ids, rank, world_size, config=None, chunk_size=None, *, base_seed=0, seeding=None, split="contiguous", uneven="keep", shuffle=False, epoch=0, epoch_params=False, scheme="dpa")

    One rank's share of a distributed generation, as a :class:`dpa.ParamStream`.

    Iterated, it yields DPA's dicts (each with the extra ``rank`` key DPA's
    distributed stream adds), or lists of ``chunk_size`` of them; with
    ``scheme="philox"`` the dicts have ``rank`` but no ``hash``.  Array
    consumers use ``claim()``/``generate()``/``blocks()`` as with any
    ``ParamStream``: :meth:`generate` applies this stream's seeding.

    Build it with :func:`stream_distributed_augmentation_chain` (or
    :meth:`from_layout`); ``ids`` are the rank's ids in order.  The
    attributes ``rank``, ``world_size``, ``split``, ``uneven``, ``shuffle``,
    ``epoch`` (the epoch of the order), ``scheme``, ``seeding`` (the mode),
    ``base_seed``, ``epoch_params`` and ``prefix`` (the DPA scheme's hashed
    prefix; ``None`` with ``scheme="philox"``) describe it; ``layout`` is the
    :class:`~dpa.distributed.RankLayout` the ids came from (``None`` when
    they were given), ``rank_seeding`` the :class:`RankSeeding` and
    ``param_seeding`` this epoch's :class:`dpa.Seeding`.
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
        rank_seeding = RankSeeding(scheme, seeding, base_seed, epoch_params)
        if isinstance(ids, range):
            check_range_length(ids, "ids")
        self.world_size = check_world_size(world_size)
        self.rank = check_rank(rank, self.world_size)
        self.split = check_choice(split, "split", SPLIT_MODES)
        self.uneven = check_choice(uneven, "uneven", UNEVEN_MODES)
        self.shuffle = check_bool(shuffle, "shuffle")
        self.epoch = non_negative(epoch, "epoch")
        self.rank_seeding = rank_seeding
        self.layout: RankLayout | None = None
        super().__init__(ids, _config(config), _chunk_size(chunk_size),
                         param_seeding=rank_seeding.at(self.rank, self.epoch))
        self._dict_extra = {"rank": self.rank}

    @classmethod
    def from_layout(cls, layout: RankLayout, rank_seeding: RankSeeding,
                    config: AugmentationConfig | None = None, chunk_size: int | None = None,
                    epoch: int = 0) -> DistributedParamStream:
        """The stream of ``layout``'s ids in ``epoch``, seeded by ``rank_seeding``."""
        s = rank_seeding
        stream = cls(layout.ids(epoch), layout.rank, layout.world_size, config, chunk_size,
                     base_seed=s.base_seed, seeding=s.mode, split=layout.split,
                     uneven=layout.uneven, shuffle=layout.shuffle, epoch=epoch,
                     epoch_params=s.epoch_params, scheme=s.scheme)
        stream.layout = layout
        return stream

    @property
    def seeding(self) -> str:
        """The seeding mode, ``"rank"`` or ``"sample"``."""
        return self.rank_seeding.mode

    @property
    def base_seed(self) -> int:
        """Seeds the parameters (and the shuffle)."""
        return self.rank_seeding.base_seed

    @property
    def epoch_params(self) -> bool:
        """Whether the parameters vary per epoch."""
        return self.rank_seeding.epoch_params

    @property
    def prefix(self) -> bytes | None:
        """The DPA scheme's hashed message prefix, or None for a scheme without one."""
        return self.param_seeding.prefix if self.scheme == "dpa" else None

    def __repr__(self) -> str:
        return (
            f"DistributedParamStream(rank={self.rank}, world_size={self.world_size}, "
            f"samples={len(self.ids)}, position={self.position}, scheme={self.scheme!r}, "
            f"seeding={self.seeding!r}, split={self.split!r}, uneven={self.uneven!r}, "
            f"shuffle={self.shuffle}, epoch={self.epoch}, chunk_size={self.chunk_size})"
        )


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
    scheme, seeding mode (:class:`RankSeeding`), split, padding, shuffle and
    first id (:class:`~dpa.distributed.RankLayout`).

    Parameters
    ----------
    num_samples : int
        Samples across all ranks, ``>= 0``.
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

    Returns
    -------
    DistributedParamStream
        A :class:`dpa.ParamStream`: ``BatchProcessor.process_stream`` and other
        array consumers take its array path.

    Raises
    ------
    TypeError, ValueError
        A bad argument (``InvalidRankError``, a ``ValueError``, for a rank
        outside ``[0, world_size)``; ``seeding="rank"`` with ``scheme="philox"``;
        a philox ``base_seed >= 2**64`` or epoch ``>= 2**32`` with ``epoch_params``).
    """
    layout = RankLayout(num_samples, rank, world_size, split, uneven, shuffle, base_seed, start_id)
    rank_seeding = RankSeeding(scheme, seeding, base_seed, epoch_params)
    stream = DistributedParamStream.from_layout(layout, rank_seeding, config, chunk_size, epoch)
    if check_bool(verbose, "verbose"):
        ids = stream.ids
        if isinstance(ids, range) and ids.step == 1:
            where = f"samples {ids.start}-{ids.stop - 1}"
        else:
            where = "samples"
        sys.stdout.write(f"Rank {layout.rank}/{layout.world_size}: processing {where} "
                         f"({len(ids)} samples)\n")
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
    """
    start_id = non_negative(start_id, "start_id")
    end_id = check_int(end_id, "end_id")
    if end_id < start_id:
        raise ValueError(
            f"end_id must be >= start_id, but got start_id={start_id}, end_id={end_id}"
        )
    if end_id - 1 > 2**63 - 1:
        raise ValueError(f"sample ids must be at most 2**63-1, but got end_id={end_id}")
    if end_id - start_id > 2**63 - 1:  # more ids than a stream (a range) can count
        raise ValueError(f"end_id - start_id should be at most 2**63-1, but got start_id="
                         f"{start_id}, end_id={end_id}")
    stream = DistributedParamStream(range(start_id, end_id), rank, world_size, config,
                                    chunk_size, base_seed=base_seed)
    if check_bool(verbose, "verbose"):
        sys.stdout.write(
            f"Rank {stream.rank}/{stream.world_size}: processing range {start_id}-{end_id - 1} "
            f"({end_id - start_id} samples)\n"
        )
    return stream


# ---- one sample ----------------------------------------------------------------


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
        self.base_seed = non_negative(base_seed, "base_seed")
        self.world_size = check_world_size(world_size)

    def __repr__(self) -> str:
        return f"RankAwareSeedGenerator(base_seed={self.base_seed}, world_size={self.world_size})"

    def generate_seed(self, sample_id: int, rank: int, augmentation_depth: int = 10) -> str:
        """generate_seed(sample_id, rank, augmentation_depth=10)

        The chain digest of ``sample_id`` on ``rank``, as a 64-character hex string.
        """
        sample_id = check_sample_id(sample_id, rule=NON_NEGATIVE)
        rank = check_rank(rank, self.world_size)
        depth = check_int(augmentation_depth, "augmentation_depth", minimum=1, rule="must be >= 1")
        seeding = Seeding.for_rank("dpa", "rank", rank, self.base_seed)
        rec = generate_seeded(range(sample_id, sample_id + 1),
                              AugmentationConfig(augmentation_depth=depth), seeding,
                              hash=True, threads=1)
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
    seeding : {"rank", "sample"}, optional
        The seeding mode (:class:`RankSeeding`).
    epoch : int, optional
        Vary the parameters per epoch (:meth:`dpa.Seeding.for_rank`); with
        ``scheme="philox"``, the philox epoch (``< 2**32``; 0 when omitted).

    Returns
    -------
    dict
        ``rotation``, ``brightness``, ``noise``, ``scale``, ``contrast``
        (floats), ``hash`` (hex string) and ``rank``, as DPA returns them;
        no ``hash`` with ``scheme="philox"``.

    Raises
    ------
    SeedGenerationError
        Negative ``base_seed`` (DPA raises this error for it too).
    """
    sample_id = check_sample_id(sample_id, rule=NON_NEGATIVE)
    world_size = check_world_size(world_size)
    rank = check_rank(rank, world_size)
    config = _config(config)
    if check_int(base_seed, "base_seed") < 0:
        raise SeedGenerationError(
            "Failed to generate distributed augmentation parameters: "
            f"base_seed must be non-negative, but got base_seed={base_seed}"
        )
    param_seeding = Seeding.for_rank(scheme, seeding, rank, base_seed, epoch)
    rec = generate_seeded(range(sample_id, sample_id + 1), config, param_seeding,
                          hash=param_seeding.has_hash, threads=1)
    return records_to_dicts(rec, rank=rank)[0]
