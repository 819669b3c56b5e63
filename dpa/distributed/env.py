"""This process's rank and world size, from ``torch.distributed`` or the launcher."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import NamedTuple

from .._validate import check_env_int
from .errors import DistributedEnvironmentError, InvalidRankError
from .layout import check_rank

__all__ = ["DistEnv", "from_env"]


class DistEnv(NamedTuple):
    """Rank and world size of this process, and where they came from."""

    rank: int
    world_size: int
    local_rank: int | None
    source: str  # "torch.distributed" or "environment"


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
    local_rank = check_env_int("LOCAL_RANK", environ=environ)
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        world_size = dist.get_world_size()
        return DistEnv(check_rank(dist.get_rank(), world_size), world_size, local_rank,
                       "torch.distributed")
    rank, world_size = (check_env_int("RANK", environ=environ),
                         check_env_int("WORLD_SIZE", environ=environ))
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
