"""Pure-Python twin of the compiled kernels, for tests and as documentation.

This is the DPA 0.2.1 algorithm written out with ``hashlib`` and
``random.Random``; it is what ``dpa._core`` computes, one sample at a time.
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
