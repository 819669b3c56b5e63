"""How a sample's parameters are seeded: the :class:`Seeding` value and its schemes.

Every record dpa makes is a pure function of ``(seeding, config, sample id)``.
A :class:`Seeding` names the scheme and holds its keys:

``scheme="dpa"``
    DPA 0.2.1's SHA-256 Fibonacci chain and MT19937, keyed by the message
    ``prefix`` hashed before the decimal sample id: ``b""`` is DPA's plain
    seeding (``gen_augmentation_params``), ``b"{base_seed}:{rank}:"`` DPA's
    rank-aware seeding (``gen_distributed_augmentation_params``), and
    :meth:`Seeding.for_rank` gives the prefixes of dpa's distributed modes.
``scheme="philox"``
    The counter-based ``philox-v1`` scheme (docs/schemes.md), keyed by a
    64-bit ``key`` and a 32-bit ``epoch``.

The value is frozen and hashable: it keys the cache of compiled kernels
(:meth:`Seeding.kernel`), travels with streams and samplers, and is written to
and read from provenance (:meth:`Seeding.to_dict`, :meth:`Seeding.from_dict`),
so that ``verify`` and ``--resume`` recompute records exactly as they were made.

Plug-in by table: :data:`SCHEMES` maps each scheme's name to an object that
checks its keys, builds its compiled kernel and reads and writes its
provenance.  A new scheme is its kernel file in ``src/`` (a plan and a fill
function of the one signature ``dpa_fill_fn``, ``src/fill.h``), its kernel
class in ``_core.pyx`` (a ``_core.Kernel`` that declares the fill function
and its record layout) and an entry here; nothing else names schemes -- the
worker team and ``_core.fill`` only call the kernel's fill function.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from . import _core
from ._validate import check_choice, check_instance, check_int, check_non_negative_int, show
from .config import DEFAULT_CONFIG, AugmentationConfig

__all__ = ["MAX_EPOCH", "MAX_PHILOX_KEY", "SCHEMES", "SEEDING_MODES", "Seeding", "fib_strings"]

#: Largest philox key (``base_seed``) and epoch.
MAX_PHILOX_KEY = 2**64 - 1
MAX_EPOCH = 2**32 - 1

#: ``seeding=`` modes of the distributed API (:meth:`Seeding.for_rank`):
#: DPA's rank-dependent seeding, or world-size-invariant seeding.
SEEDING_MODES = ("rank", "sample")

#: DPA's rank-aware prefix, parsed back from provenance (no leading zeros,
#: so that only prefixes ``f"{base_seed}:{rank}:"`` makes match).
_RANK_PREFIX = re.compile(rb"(0|[1-9][0-9]*):(0|[1-9][0-9]*):")


@dataclass(frozen=True)
class Seeding:
    """Seeding(scheme="dpa", prefix=b"", key=0, epoch=0)

    How records are seeded: a scheme and its keys (see the module docs).

    Parameters
    ----------
    scheme : {"dpa", "philox"}
    prefix : bytes
        ``scheme="dpa"``: ASCII bytes hashed before the decimal sample id.
    key : int
        ``scheme="philox"``: the 64-bit key, ``0 <= key < 2**64``.
    epoch : int
        ``scheme="philox"``: ``0 <= epoch < 2**32``.

    Build one with :meth:`from_args` (the keywords of :func:`dpa.generate`)
    or :meth:`for_rank` (the distributed seeding modes); the fields a scheme
    does not use must keep their defaults.

    Examples
    --------
    >>> Seeding.from_args(rank=1, base_seed=7)
    Seeding(scheme='dpa', prefix=b'7:1:', key=0, epoch=0)
    >>> Seeding.from_args(scheme="philox", base_seed=7, epoch=2).to_dict()
    {'scheme': 'philox', 'base_seed': 7, 'epoch': 2}
    """

    scheme: str = "dpa"
    prefix: bytes = b""
    key: int = 0
    epoch: int = 0

    def __post_init__(self) -> None:
        _scheme(self.scheme).check(self)

    # ---- constructors ---------------------------------------------------------

    @classmethod
    def from_args(cls, scheme: str = "dpa", rank: int | None = None, base_seed: int = 0,
                  epoch: int = 0) -> Seeding:
        """from_args(scheme="dpa", rank=None, base_seed=0, epoch=0)

        The seeding of :func:`dpa.generate`'s keywords.  ``scheme="dpa"``:
        DPA's plain seeding, or with ``rank`` DPA's rank-aware seeding from
        ``base_seed``; ``epoch`` must be 0.  ``scheme="philox"``: key
        ``base_seed`` and ``epoch``; ``rank`` must be None.
        """
        return _scheme(scheme).from_args(rank, base_seed, epoch)

    @classmethod
    def for_rank(cls, scheme: str = "dpa", mode: str | None = None, rank: int = 0,
                 base_seed: int = 0, epoch: int | None = None) -> Seeding:
        """for_rank(scheme="dpa", mode=None, rank=0, base_seed=0, epoch=None)

        The seeding of a distributed seeding ``mode`` (``seeding=`` of
        :mod:`dpa.distributed`); ``epoch`` is given only when the parameters
        vary per epoch (``epoch_params``).

        ``scheme="dpa"``, ``mode="rank"`` (DPA's, the default): prefix
        ``b"{base_seed}:{rank}:"``.  ``mode="sample"``: ``b""`` for
        ``base_seed=0`` (DPA's plain scheme), else ``b"{base_seed}::"``, the
        rank ignored.  With ``epoch``, ``"{epoch}:"`` is appended.  Every
        (mode, rank, base_seed, epoch) gives a different message for every id:
        DPA's messages have two colons and a non-empty rank field, the
        ``"sample"`` ones an empty rank field, the per-epoch ones three colons.

        ``scheme="philox"``: only ``mode="sample"`` (its default; philox never
        depends on the rank), key ``base_seed``, epoch ``epoch or 0``.
        """
        return _scheme(scheme).for_rank(mode, rank, base_seed, epoch)

    # ---- what the scheme knows ------------------------------------------------

    @property
    def has_hash(self) -> bool:
        """Whether records of this scheme can carry a hash (``hash=True``)."""
        return _scheme(self.scheme).has_hash

    @property
    def ns_per_record(self) -> float:
        """About what one record costs one thread, in nanoseconds (work splitting)."""
        return _scheme(self.scheme).ns_per_record

    @property
    def group(self) -> int:
        """Records the scheme's kernel computes together: pieces of a call shared
        by threads are multiples of it."""
        return _scheme(self.scheme).group

    def kernel(self, config: AugmentationConfig | None = None) -> Any:
        """The compiled kernel of this seeding for ``config`` (built once, cached)."""
        if config is None:
            config = DEFAULT_CONFIG
        else:
            check_instance(config, "config", AugmentationConfig, "an AugmentationConfig")
        return _kernel(self, config)

    # ---- provenance -----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The provenance keys of this seeding: the keywords of :func:`dpa.generate`
        where they express it (``scheme``, ``rank``, ``base_seed``, ``epoch``),
        else the DPA scheme's ``prefix`` as an ASCII string."""
        return _scheme(self.scheme).to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Seeding:
        """The seeding a provenance mapping records (its other keys are ignored).

        Raises ``ValueError`` with a message that reads after "provenance "
        (``"has both a prefix and rank; ..."``).
        """
        scheme = data.get("scheme", "dpa")
        try:
            entry = _scheme(scheme)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"seeding is invalid: {exc}") from None
        return entry.from_dict(data)


# ---- the schemes -----------------------------------------------------------------


def fib_strings(depth: int) -> list[bytes]:
    """``str(fib(i)).encode()`` for ``i`` in ``range(depth)``: the chain's suffixes.

    Python limits int-to-decimal conversion (``sys.get_int_max_str_digits``);
    DPA 0.2.1 fails past that limit, and so does this, with ``ValueError``.
    """
    out = []
    a, b = 0, 1
    for i in range(depth):
        try:
            out.append(str(a).encode())
        except ValueError:
            limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else "?"
            raise ValueError(
                f"augmentation_depth={depth} needs fib({i}) in decimal, which has more digits "
                f"than this Python converts (sys.get_int_max_str_digits() = {limit}); "
                "DPA 0.2.1 cannot compute this depth either"
            ) from None
        a, b = b, a + b
    return out


@lru_cache(maxsize=64)
def _chain_tails(depth: int) -> tuple[Any, Any]:
    return _core.chain_tail_blocks(fib_strings(depth))


class _DPAScheme:
    """DPA 0.2.1's scheme: the message prefix is the key."""

    name = "dpa"
    has_hash = True
    #: One thread, SHA-NI and AVX2: about 1.2M records/s at depth 10.
    ns_per_record = 800.0
    #: ``dpa_fill`` hashes first messages and seeds MT19937 for 32 lanes at a
    #: time on AVX2 (``DPA_GROUP`` in ``src/dpa_kernel.c``) and 64 on AVX-512
    #: (``DPA_GROUP_MAX``, four vectors), whatever the call's size: a piece of
    #: 32 runs the AVX-512 path at half its lanes (measured: a 256-id call
    #: split in pieces of 32 made 0.72 of bulk, in pieces of 64 0.79).
    group = 64

    def check(self, s: Seeding) -> None:
        if not isinstance(s.prefix, bytes):
            raise TypeError(f"prefix should be bytes, but got prefix={show(s.prefix)}")
        if not s.prefix.isascii():
            raise ValueError(f"prefix should be ASCII, but got prefix={show(s.prefix)}")
        if s.key != 0 or s.epoch != 0:
            raise ValueError(
                "key and epoch are philox's; scheme='dpa' is keyed by its prefix, but got "
                f"key={show(s.key)}, epoch={show(s.epoch)}"
            )

    def from_args(self, rank: Any, base_seed: Any, epoch: Any) -> Seeding:
        epoch = check_non_negative_int(epoch, "epoch")
        if epoch != 0:
            raise ValueError(
                f"epoch applies to scheme='philox'; DPA's scheme has no epochs, but got epoch={epoch}"
            )
        if rank is None:
            if check_int(base_seed, "base_seed") != 0:
                raise ValueError("base_seed only applies to rank-aware seeding: pass rank= too")
            return Seeding()
        rank = check_non_negative_int(rank, "rank")
        base_seed = check_non_negative_int(base_seed, "base_seed")  # DPA: non-negative
        return Seeding(prefix=f"{base_seed}:{rank}:".encode())

    def for_rank(self, mode: Any, rank: Any, base_seed: Any, epoch: Any) -> Seeding:
        mode = "rank" if mode is None else check_choice(mode, "seeding", SEEDING_MODES)
        base_seed = check_non_negative_int(base_seed, "base_seed", rule="must be non-negative")
        if mode == "rank":
            head = f"{base_seed}:{check_non_negative_int(rank, 'rank', rule='must be non-negative')}:"
        elif base_seed == 0 and epoch is None:
            return Seeding()
        else:
            head = f"{base_seed}::"
        if epoch is not None:
            head += f"{check_non_negative_int(epoch, 'epoch', rule='must be non-negative')}:"
        return Seeding(prefix=head.encode())

    def kernel(self, s: Seeding, config: AugmentationConfig) -> Any:
        wk, start = _chain_tails(config.augmentation_depth)
        lows, spans = config.lows_and_spans()
        return _core.DPAKernel(s.prefix, wk, start, lows, spans)

    def to_dict(self, s: Seeding) -> dict[str, Any]:
        if not s.prefix:
            return {"scheme": "dpa"}
        m = _RANK_PREFIX.fullmatch(s.prefix)
        if m:
            return {"scheme": "dpa", "rank": int(m[2]), "base_seed": int(m[1])}
        return {"scheme": "dpa", "prefix": s.prefix.decode("ascii")}

    def from_dict(self, data: dict[str, Any]) -> Seeding:
        prefix = data.get("prefix")
        if prefix is None:
            try:
                return self.from_args(data.get("rank"), data.get("base_seed", 0), data.get("epoch", 0))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"seeding is invalid: {exc}") from None
        clash = [k for k in ("rank", "base_seed", "epoch") if k in data]
        if clash:
            raise ValueError(f"has both a prefix and {', '.join(clash)}; the prefix alone "
                             "describes the seeding")
        if not isinstance(prefix, str):
            raise ValueError(f"prefix should be a string, but is {show(prefix)}")
        if not prefix.isascii():
            raise ValueError(f"prefix {show(prefix)} is not ASCII")
        return Seeding(prefix=prefix.encode("ascii"))


class _PhiloxScheme:
    """``philox-v1``: a 64-bit key and a 32-bit epoch."""

    name = "philox"
    has_hash = False
    #: One thread, AVX2: about 65M records/s.
    ns_per_record = 15.0
    #: The AVX2 kernel computes 8 lanes at a time.
    group = 8

    def check(self, s: Seeding) -> None:
        if s.prefix != b"":
            raise ValueError(
                f"prefix is the DPA scheme's key; scheme='philox' has none, but got "
                f"prefix={show(s.prefix)}"
            )
        check_int(s.key, "key", minimum=0, maximum=MAX_PHILOX_KEY)
        check_int(s.epoch, "epoch", minimum=0, maximum=MAX_EPOCH)

    def _key_epoch(self, base_seed: Any, epoch: Any) -> Seeding:
        seed = check_non_negative_int(base_seed, "base_seed")
        if seed > MAX_PHILOX_KEY:
            raise ValueError(f"base_seed should be < 2**64 for scheme='philox', but got {show(seed)}")
        epoch = check_non_negative_int(epoch, "epoch")
        if epoch > MAX_EPOCH:
            raise ValueError(f"epoch should be < 2**32, but got epoch={show(epoch)}")
        return Seeding("philox", key=seed, epoch=epoch)

    def from_args(self, rank: Any, base_seed: Any, epoch: Any) -> Seeding:
        if rank is not None:
            raise ValueError(
                "rank does not apply to scheme='philox': its parameters depend only on "
                f"(base_seed, epoch, sample_id), but got rank={show(rank)}"
            )
        return self._key_epoch(base_seed, epoch)

    def for_rank(self, mode: Any, rank: Any, base_seed: Any, epoch: Any) -> Seeding:
        mode = "sample" if mode is None else check_choice(mode, "seeding", SEEDING_MODES)
        if mode == "rank":
            raise ValueError(
                "seeding='rank' does not apply to scheme='philox': its parameters depend only on "
                "(base_seed, epoch, sample_id), never on the rank; use seeding='sample' (the "
                "default for philox)"
            )
        return self._key_epoch(base_seed, 0 if epoch is None else epoch)

    def kernel(self, s: Seeding, config: AugmentationConfig) -> Any:
        lows, spans = config.lows_and_spans()
        return _core.PhiloxKernel(s.key, s.epoch, lows, spans)

    def to_dict(self, s: Seeding) -> dict[str, Any]:
        return {"scheme": "philox", "base_seed": s.key, "epoch": s.epoch}

    def from_dict(self, data: dict[str, Any]) -> Seeding:
        if "prefix" in data and data["prefix"] is not None:
            raise ValueError("has a prefix, which only scheme 'dpa' hashes, but "
                             "scheme='philox'")
        try:
            return self.from_args(data.get("rank"), data.get("base_seed", 0), data.get("epoch", 0))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"seeding is invalid: {exc}") from None


#: The schemes by name: what ``scheme=`` accepts everywhere.
_TABLE = {s.name: s for s in (_DPAScheme(), _PhiloxScheme())}
SCHEMES: tuple[str, ...] = tuple(_TABLE)


def _scheme(name: Any) -> Any:
    return _TABLE[check_choice(name, "scheme", SCHEMES)]


@lru_cache(maxsize=256)
def _kernel(seeding: Seeding, config: AugmentationConfig) -> Any:
    return _scheme(seeding.scheme).kernel(seeding, config)
