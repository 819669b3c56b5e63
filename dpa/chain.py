"""DPA 0.2.1's per-sample functions: ``fib``, the hash chain, the parameter dict.

These keep DPA's names and return types (a hex string, a dict of five floats
and ``hash``) for code written against DPA; they run on the compiled kernel,
so each call is one sample of :func:`dpa.generate`.  For many samples use
:func:`dpa.generate`, which returns arrays and builds no dict per sample.
"""

from __future__ import annotations

import sys
from typing import Any

from .config import FIELDS, AugmentationConfig

__all__ = ["fib", "fib_strings", "gen_augmentation_seed", "gen_augmentation_params"]


def fib(n: int) -> int:
    """fib(n)

    The exact ``n``-th Fibonacci number (``fib(0) = 0``, ``fib(1) = 1``), of
    any size.  Negative ``n`` raises ``ValueError``, as in DPA.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n should be an integer, but got n={n!r}")
    if n < 0:
        raise ValueError("n must be non-negative")
    # Fast doubling: fib(2k) = fib(k) * (2 fib(k+1) - fib(k)),
    # fib(2k+1) = fib(k)^2 + fib(k+1)^2.
    a, b = 0, 1
    for bit in bin(n)[2:]:
        a, b = a * (2 * b - a), a * a + b * b
        if bit == "1":
            a, b = b, a + b
    return a


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


def _check_sample_id(seed_id: Any) -> int:
    from .engine import MAX_SAMPLE_ID

    if isinstance(seed_id, bool) or not isinstance(seed_id, int):
        raise TypeError(f"seed_id should be an integer, but got seed_id={seed_id!r}")
    if seed_id < 0:
        raise ValueError(f"seed_id must be non-negative, but got seed_id={seed_id}")
    if seed_id > MAX_SAMPLE_ID:
        raise ValueError(f"seed_id must be at most 2**63-1, but got seed_id={seed_id}")
    return seed_id


def gen_augmentation_seed(seed_id: int, augmentation_depth: int = 10) -> str:
    """gen_augmentation_seed(seed_id, augmentation_depth=10)

    The hex SHA-256 digest at the end of DPA's Fibonacci hash chain.
    """
    from .engine import generate

    config = AugmentationConfig(augmentation_depth=augmentation_depth)
    rec = generate(range(_check_sample_id(seed_id), seed_id + 1), config, hash=True, threads=1)
    return rec["hash"][0].decode()


def records_to_dicts(records) -> list[dict[str, Any]]:
    """DPA's dicts (five floats, and ``hash`` if the records have one)."""
    columns = [records[f].tolist() for f in FIELDS]
    if records.dtype.names and "hash" in records.dtype.names:
        hashes = [h.decode() for h in records["hash"].tolist()]
        return [
            {"rotation": r, "brightness": b, "noise": n, "scale": s, "contrast": c, "hash": h}
            for r, b, n, s, c, h in zip(*columns, hashes)
        ]
    return [
        {"rotation": r, "brightness": b, "noise": n, "scale": s, "contrast": c}
        for r, b, n, s, c in zip(*columns)
    ]


def gen_augmentation_params(
    seed_id: int,
    config: AugmentationConfig | None = None,
    rank: int | None = None,
) -> dict[str, Any]:
    """gen_augmentation_params(seed_id, config=None, rank=None)

    DPA's parameter dict for one sample: ``rotation``, ``brightness``,
    ``noise``, ``scale``, ``contrast`` (floats) and ``hash`` (hex string),
    bit-identical to DPA 0.2.1.  With ``rank``, delegates as DPA does to
    :func:`dpa.distributed.gen_distributed_augmentation_params` (base seed 0,
    world size 1, so only rank 0 is valid, and the dict carries ``rank``).
    """
    from .engine import generate

    seed_id = _check_sample_id(seed_id)
    if rank is not None:
        from .distributed import gen_distributed_augmentation_params

        return gen_distributed_augmentation_params(seed_id, rank, config)
    rec = generate(range(seed_id, seed_id + 1), config, hash=True, threads=1)
    return records_to_dicts(rec)[0]
