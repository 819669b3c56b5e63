"""The errors of distributed generation: DPA 0.2.1's classes, and one of dpa's."""

from __future__ import annotations

__all__ = [
    "DistributedEnvironmentError",
    "DistributedError",
    "InvalidRankError",
    "RangeSplittingError",
    "SeedGenerationError",
]


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
