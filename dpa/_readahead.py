"""Read-ahead for DPA's one-sample calls: ``gen_augmentation_params`` in a loop.

Code written for DPA calls ``gen_augmentation_params(i, config)`` once per
sample, usually for ``i = 0, 1, 2, ...``.  One sample costs the kernel a
dependent chain of 21 SHA-256 compressions and an MT19937 seeding of about
1,250 dependent steps -- several microseconds whatever is done around it --
while the vectorized kernel makes a record in under a microsecond when it
gets many ids at once.  So calls are served from blocks:

* a call whose id follows the previous call's id (``i == last + 1``) and is
  not in the current block fills a new block of consecutive ids starting at
  ``i`` with :func:`dpa.engine.generate_seeded` (all threads), 32 ids first,
  then :data:`GROWTH` times as many per block up to :data:`MAX_BLOCK`; the calls after it
  are served from the block's columns.  Once blocks have that size, the next
  block is generated on the worker team in the background while the loop
  works through the current one (:func:`dpa.engine.generate_background`);
* any other call (random ids) computes its id alone: random ids never pay
  for a block they do not use (a call that leaves a run of consecutive ids
  stops the block being generated for it, at most one block's work).

Every dict equals what :func:`dpa.generate` gives for the id (its values are
the kernel's, converted as :func:`dpa.records.records_to_dicts` converts
them), and each call returns a new dict.  The block lives in a
``threading.local``: threads never share one, so no lock is taken, and a
forked child keeps a copy that is just as valid (a block being generated at
the fork is generated again in the child).  Memory: two buffers of
:data:`MAX_BLOCK` records (112 bytes each) and the Python values of one block
(about 250 bytes a record) per thread, about 2 MB.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .config import FIELDS, AugmentationConfig
from .engine import generate_background, generate_seeded
from .records import PARAM_HASH_DTYPE
from .seeding import Seeding

__all__ = ["MAX_BLOCK", "params"]

#: The largest block of consecutive ids computed at once.
MAX_BLOCK = 4096
#: The first block of a run of consecutive ids.
FIRST_BLOCK = 32
#: Each block of a run is this many times the one before (up to MAX_BLOCK):
#: a run that stops has computed at most about a quarter more ids than it
#: used (doubling wasted up to half: a loop over 50 ids computed 97, one over
#: 200 ids 225, so short loops ran at half the rate of long ones).
GROWTH = 1.25

_PLAIN = Seeding()
_ROTATION, _BRIGHTNESS, _NOISE, _SCALE, _CONTRAST = FIELDS


class _Block(threading.local):
    """This thread's block: records of ids ``base .. base + count - 1`` for ``config``."""

    def __init__(self) -> None:
        self.config: AugmentationConfig | None = None
        self.base = 0
        self.count = 0
        self.size = 0          # the size of the last block, for growth
        self.last = -2         # the previous call's id
        self.columns: tuple[list[Any], ...] = ()
        self.buffers = [np.empty(MAX_BLOCK, PARAM_HASH_DTYPE) for _ in range(2)]
        self.pending: Any = None  # the Background job of ids [pending_base, + MAX_BLOCK)
        self.pending_base = -1


_block = _Block()


def _drop_pending(b: _Block) -> None:
    """Stop the block being generated ahead; its buffer is the job's until then."""
    if b.pending is not None:
        b.pending.stop()
        b.pending = None
        b.pending_base = -1


def _columns(b: _Block, out: np.ndarray, seed_id: int, config: AugmentationConfig) -> None:
    count = len(out)
    if count == 1:  # one row: cheaper than six columns
        row = out.tolist()[0]
        b.columns = tuple([v] for v in row[1:6]) + ([row[6].decode()],)
    else:
        b.columns = tuple(out[f].tolist() for f in FIELDS) + (
            out["hash"].astype("U64").tolist(),)
    b.config, b.base, b.count = config, seed_id, count


def _fill(b: _Block, seed_id: int, config: AugmentationConfig, count: int) -> None:
    if b.pending is not None:
        if seed_id == b.pending_base and config is b.config and count == MAX_BLOCK:
            out = b.pending.wait()
            b.pending = None
            b.buffers.reverse()  # buffers[0]: the block served now
            _columns(b, out, seed_id, config)
            _ahead(b, seed_id + MAX_BLOCK, config)
            return
        _drop_pending(b)
    out = generate_seeded(range(seed_id, seed_id + count), config, _PLAIN, hash=True,
                          out=b.buffers[0][:count])
    _columns(b, out, seed_id, config)
    if count == MAX_BLOCK:
        _ahead(b, seed_id + MAX_BLOCK, config)


def _ahead(b: _Block, start: int, config: AugmentationConfig) -> None:
    """Generate ids ``start ..`` of a long run in the background."""
    if start <= (1 << 63) - MAX_BLOCK:
        b.pending = generate_background(range(start, start + MAX_BLOCK), config, _PLAIN,
                                        hash=True, out=b.buffers[1])
        b.pending_base = start


def params(seed_id: int, config: AugmentationConfig) -> dict[str, Any]:
    """DPA's dict for ``seed_id`` (a checked sample id) and ``config``."""
    b = _block
    k = seed_id - b.base
    if not (0 <= k < b.count and config is b.config):
        if seed_id == b.last + 1 and config is b.config:
            b.size = size = min(MAX_BLOCK, int(GROWTH * b.size) if b.size else FIRST_BLOCK)
            _fill(b, seed_id, config, min(size, (1 << 63) - seed_id))
        else:
            b.size = 0
            _fill(b, seed_id, config, 1)  # checks the config
        k = 0
    b.last = seed_id
    c = b.columns
    return {_ROTATION: c[0][k], _BRIGHTNESS: c[1][k], _NOISE: c[2][k], _SCALE: c[3][k],
            _CONTRAST: c[4][k], "hash": c[5][k]}
