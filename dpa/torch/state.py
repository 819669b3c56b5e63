"""Where a rank's epoch resumes: the ids left, at the same or another world size.

An epoch's order is ``start_id + perm(p)`` over the positions ``p = 0 .. N-1``
(:class:`dpa.distributed.RankLayout`), and it does not depend on the world
size.  With ``split="strided"`` rank ``r`` of ``W`` takes positions ``r, r + W,
...``, so after every rank has handed out ``k`` samples the epoch has consumed
exactly the positions ``[0, k * W)``: a prefix of the order, the same for
every rank.  A state therefore records ``start`` (the positions consumed
before the current layout took over, 0 unless the world size changed) and
``yielded`` (the samples this rank has handed out since), and:

* at the same world size (any rank with ``"strided"``, the same rank with
  ``"contiguous"``) iteration skips ``yielded`` samples of the rank's list:
  exactly the uninterrupted run, padding included;
* at another world size (``"strided"`` only) the rest of the epoch,
  positions ``[min(start + yielded * W, N), N)``, is dealt to the new ranks
  as a new layout of those positions, with its own padding or dropping: every
  sample not yet seen is seen once more (``uneven="keep"``), plus repeats to
  even the ranks (``"pad"``), or minus the new remainder (``"drop"``).
  ``"contiguous"`` splits consume no common prefix, so a world-size change is
  a ``ValueError`` there.

Nothing is replayed silently: a state that does not fit (other samples,
order, seed or batching) raises ``ValueError`` naming the difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import check_int, check_non_negative_int
from ..distributed import RankLayout, shuffle_positions

__all__ = ["epoch_ids", "layout_state", "resume_point"]

#: The layout's fields a state must share with the sampler loading it.
_SHARED = ("num_samples", "split", "uneven", "shuffle", "base_seed", "start_id")


def layout_state(layout: RankLayout) -> dict[str, Any]:
    """The layout's fields as a state records them."""
    return layout.to_dict()


def epoch_ids(layout: RankLayout, epoch: int, start: int = 0) -> range | np.ndarray:
    """The ids ``layout``'s rank hands out in ``epoch`` after ``start`` positions.

    ``start == 0`` is the layout's own list (:meth:`RankLayout.ids`); otherwise
    the positions ``[start, N)`` are split as a layout of their own (module docs).
    """
    if start == 0:
        return layout.ids(epoch)
    rest = RankLayout(layout.num_samples - start, layout.rank, layout.world_size, layout.split,
                      layout.uneven, False, 0, 0)
    offsets = rest.ids(0)
    positions = (np.arange(offsets.start, offsets.stop, offsets.step, dtype=np.int64)
                 if isinstance(offsets, range) else offsets) + start
    if layout.shuffle:
        ids = shuffle_positions(positions, layout.num_samples, layout.base_seed, epoch)
    else:
        ids = positions
    return ids + layout.start_id


def resume_point(state: dict[str, Any], layout: RankLayout, per_step: int) -> tuple[int, int]:
    """``(start, skip)``: where ``layout``'s rank resumes the epoch of ``state``.

    ``state`` has the keys of :func:`layout_state` plus ``start`` and ``done``
    (steps handed out since ``start``, each ``per_step`` samples of this rank).
    Returns the positions consumed before the new layout and the steps of the
    rank's list to skip.  Raises ``ValueError`` when the state cannot resume
    on this layout (module docs).
    """
    missing = [k for k in (*_SHARED, "rank", "world_size", "start", "done") if k not in state]
    if missing:
        raise ValueError(f"state is missing {missing}")
    mine = layout.to_dict()
    diff = [f"{k}={state[k]!r} (this sampler: {mine[k]!r})" for k in _SHARED if state[k] != mine[k]]
    if diff:
        raise ValueError("state was saved with other settings: " + ", ".join(diff))
    start = check_int(state["start"], "start", minimum=0, maximum=layout.num_samples)
    done = check_non_negative_int(state["done"], "done")
    world, rank = state["world_size"], state["rank"]
    if world == layout.world_size:
        if layout.split == "contiguous" and rank != layout.rank:
            raise ValueError(
                f"state was saved by rank {rank}; with split='contiguous' each rank has its "
                f"own block of the epoch, so only rank {rank} can resume it (this sampler: "
                f"rank {layout.rank})"
            )
        return start, done
    if layout.split != "strided":
        raise ValueError(
            f"state was saved at world size {world}, and this sampler has world size "
            f"{layout.world_size}: a resume at another world size needs split='strided', "
            "where the ranks together consume a prefix of the epoch's order"
        )
    consumed = min(layout.num_samples, start + done * per_step * world)
    return consumed, 0
