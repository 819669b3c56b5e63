"""DPA's per-sample functions in dpa's API: ``fib``, the hash chain, the parameter dict, streams.

These keep DPA 0.2.1's names and return types (a hex string, a dict of five
floats and ``hash``, a stream of dicts) with dpa's validation; they run on
the compiled kernel, so each call is one sample of :func:`dpa.generate`.  For
many samples use :func:`dpa.generate`, which returns arrays and builds no
dict per sample.  DPA's whole API, with DPA's signatures (``verbose``,
``batch_config``, ``progress_callback``, ...), is :mod:`dpa.compat`.
"""

from __future__ import annotations

from typing import Any

from ._validate import check_int, check_sample_id
from .config import DEFAULT_CONFIG, AugmentationConfig
from .distributed import gen_distributed_augmentation_params, stream_distributed_augmentation_chain
from .distributed.layout import NON_NEGATIVE
from .engine import generate_seeded
from . import _readahead
from .records import MAX_SAMPLE_ID
from .seeding import Seeding
from .stream import ParamStream

__all__ = ["fib", "gen_augmentation_params", "gen_augmentation_seed", "stream_augmentation_chain"]

_PLAIN = Seeding()


def fib(n: int) -> int:
    """fib(n)

    The exact ``n``-th Fibonacci number (``fib(0) = 0``, ``fib(1) = 1``), of
    any size.  Negative ``n`` raises ``ValueError``, as in DPA.
    """
    n = check_int(n, "n", minimum=0, rule=NON_NEGATIVE)
    # Fast doubling: fib(2k) = fib(k) * (2 fib(k+1) - fib(k)),
    # fib(2k+1) = fib(k)^2 + fib(k+1)^2.
    a, b = 0, 1
    for bit in bin(n)[2:]:
        a, b = a * (2 * b - a), a * a + b * b
        if bit == "1":
            a, b = b, a + b
    return a


def _one(seed_id: int, config: AugmentationConfig) -> Any:
    return generate_seeded(range(seed_id, seed_id + 1), config, _PLAIN, hash=True, threads=1)


def gen_augmentation_seed(seed_id: int, augmentation_depth: int = 10) -> str:
    """gen_augmentation_seed(seed_id, augmentation_depth=10)

    The hex SHA-256 digest at the end of DPA's Fibonacci hash chain.
    """
    seed_id = check_sample_id(seed_id, "seed_id", rule=NON_NEGATIVE)
    depth = check_int(augmentation_depth, "augmentation_depth", minimum=1, rule="must be >= 1")
    config = AugmentationConfig(augmentation_depth=depth)
    return _one(seed_id, config)["hash"][0].decode()


def gen_augmentation_params(
    seed_id: int,
    config: AugmentationConfig | None = None,
    rank: int | None = None,
) -> dict[str, Any]:
    """gen_augmentation_params(seed_id, config=None, rank=None)

    DPA's parameter dict for one sample: ``rotation``, ``brightness``,
    ``noise``, ``scale``, ``contrast`` (floats) and ``hash`` (hex string),
    bit-identical to DPA 0.2.1.  Calls with consecutive ids are served from
    blocks computed ahead (``dpa._readahead``): a loop over ids costs about a
    microsecond per call.  With ``rank``, delegates as DPA does to
    :func:`dpa.distributed.gen_distributed_augmentation_params` (base seed 0,
    world size 1, so only rank 0 is valid, and the dict carries ``rank``).
    """
    if rank is None and type(seed_id) is int and 0 <= seed_id <= MAX_SAMPLE_ID:
        return _readahead.params(seed_id, DEFAULT_CONFIG if config is None else config)
    seed_id = check_sample_id(seed_id, "seed_id", rule=NON_NEGATIVE)
    if rank is not None:
        return gen_distributed_augmentation_params(seed_id, rank, config)
    return _readahead.params(seed_id, DEFAULT_CONFIG if config is None else config)


def stream_augmentation_chain(
    num_samples: int,
    config: AugmentationConfig | None = None,
    start_id: int = 0,
    chunk_size: int | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    *,
    scheme: str = "dpa",
    base_seed: int = 0,
    epoch: int = 0,
) -> ParamStream:
    """stream_augmentation_chain(num_samples, config=None, start_id=0, chunk_size=None, rank=None, world_size=None, *, scheme="dpa", base_seed=0, epoch=0)

    Parameters for ids ``start_id .. start_id + num_samples - 1`` as a stream.

    Iterating gives what DPA 0.2.1's generator gives: a dict per sample, or
    lists of ``chunk_size`` dicts (the last may be shorter).  The returned
    :class:`dpa.ParamStream` also hands out structured arrays without building
    dicts (``claim``, ``generate``, ``blocks``).  ``scheme="philox"`` (with
    ``base_seed`` and ``epoch``) streams the counter-based scheme instead;
    its dicts have no ``hash``.

    With ``rank`` and ``world_size``, delegates as DPA 0.2.1 does to
    :func:`dpa.distributed.stream_distributed_augmentation_chain`: the rank's
    share of ids ``0 .. num_samples - 1``, with ``start_id`` as the base seed
    (DPA's quirk, so ``base_seed`` and ``epoch`` must be left at 0).  With
    ``scheme="philox"`` the rank's share of ids ``start_id .. start_id +
    num_samples - 1`` instead, with the philox parameters of ``base_seed``
    and ``epoch`` (the same as without ``rank``, whatever the world size).
    """
    if rank is not None or world_size is not None:
        if rank is None or world_size is None:
            raise ValueError("Both rank and world_size must be specified together")
        if scheme == "philox":
            return stream_distributed_augmentation_chain(
                num_samples, rank, world_size, config, base_seed=base_seed,
                chunk_size=chunk_size, scheme="philox", epoch=epoch, epoch_params=True,
                start_id=start_id,
            )
        if scheme == "dpa" and (base_seed != 0 or epoch != 0):
            raise ValueError(
                "with rank and world_size, scheme='dpa' uses start_id as the base seed (as DPA "
                f"does), so base_seed and epoch must be 0, but got base_seed={base_seed!r}, "
                f"epoch={epoch!r}"
            )
        return stream_distributed_augmentation_chain(
            num_samples, rank, world_size, config, base_seed=start_id, chunk_size=chunk_size,
            scheme=scheme,
        )
    num_samples = check_int(num_samples, "num_samples", minimum=0, rule=NON_NEGATIVE)
    start_id = check_int(start_id, "start_id", minimum=0, rule=NON_NEGATIVE)
    if num_samples > MAX_SAMPLE_ID:  # 2**63 ids: more than a stream (a range) can count
        raise ValueError(f"num_samples should be at most 2**63-1, but got num_samples={num_samples}")
    if start_id + num_samples - 1 > MAX_SAMPLE_ID:
        raise ValueError(
            f"sample ids must be at most 2**63-1, but start_id + num_samples - 1 = "
            f"{start_id + num_samples - 1}"
        )
    return ParamStream(range(start_id, start_id + num_samples), config, chunk_size,
                       scheme=scheme, base_seed=base_seed, epoch=epoch)
