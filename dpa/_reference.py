"""Pure-Python twin of the compiled kernels, for tests and as documentation.

``params`` is the DPA 0.2.1 algorithm written out with ``hashlib`` and
``random.Random``; ``philox_params`` is the ``philox-v1`` scheme.  They are
what ``dpa._core`` computes, one sample at a time.
It is never used as a silent runtime fallback: the package requires its
compiled extension.

For sample id ``n`` and message prefix ``p`` (empty, or DPA's rank-aware
``"{base_seed}:{rank}:"``):

1. ``h = sha256(p + str(n)).hexdigest()``
2. for ``i`` in ``0 .. depth-1``: ``h = sha256(h + str(fib(i))).hexdigest()``
3. ``seed = int(h, 16) % 2**32``; ``random.Random(seed)`` (MT19937
   ``init_by_array`` with the one-word key ``[seed]``)
4. five ``uniform(low, high) = low + (high - low) * random()`` in field order.
"""

from __future__ import annotations

import hashlib
import random

from .config import FIELDS, AugmentationConfig


def fib(n: int) -> int:
    """Exact ``n``-th Fibonacci number, ``fib(0) = 0``, ``fib(1) = 1``."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def chain_hash(sample_id: int, depth: int, prefix: str = "") -> str:
    """The hex digest at the end of DPA's Fibonacci hash chain."""
    h = hashlib.sha256(f"{prefix}{sample_id}".encode()).hexdigest()
    for i in range(depth):
        h = hashlib.sha256((h + str(fib(i))).encode()).hexdigest()
    return h


def params(sample_id: int, config: AugmentationConfig, prefix: str = "") -> dict:
    """DPA's parameter dict for one sample: five floats and ``hash``."""
    h = chain_hash(sample_id, config.augmentation_depth, prefix)
    rng = random.Random(int(h, 16) % 2**32)
    out = {field: rng.uniform(low, high) for field, (low, high) in zip(FIELDS, config.ranges)}
    out["hash"] = h
    return out


# ---- philox-v1 ---------------------------------------------------------------

_MASK32 = 0xFFFFFFFF


def philox4x32_10(ctr: tuple[int, int, int, int], key: tuple[int, int]) -> tuple[int, ...]:
    """Philox4x32-10 (Salmon et al., SC'11): 4 counter words, 2 key words -> 4 words."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & _MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & _MASK32
        k0 = (k0 + 0x9E3779B9) & _MASK32
        k1 = (k1 + 0xBB67AE85) & _MASK32
    return c0, c1, c2, c3


def philox_params(sample_id: int, config: AugmentationConfig, seed: int = 0, epoch: int = 0) -> dict:
    """The ``philox-v1`` parameters of one sample (five floats, no hash)."""
    key = (seed & _MASK32, seed >> 32)
    words: list[int] = []
    for block in range(3):
        words += philox4x32_10((sample_id & _MASK32, sample_id >> 32, epoch, block), key)
    out = {}
    for k, (field, (low, high)) in enumerate(zip(FIELDS, config.ranges)):
        u = ((words[2 * k] >> 5) * 67108864 + (words[2 * k + 1] >> 6)) / 9007199254740992
        out[field] = float(low) + float(high - low) * u
    return out
