"""Generation ahead of the consumer: a stream's records in blocks made in the background.

A batch loop over a dpa stream spends its time in two places: generating
records (the kernels, on the worker team) and the consumer's work on each
batch (a training step, I/O).  Done one after the other, the machine is half
idle: while the consumer works, nobody generates, and the other way round.
Here the records are generated in *blocks*, each on the worker team in the
background (:func:`dpa.engine.generate_background`) while the consumer works
on the batches of the block before it, which are handed out as slices (views)
of that block.  A consumer that waits on something else (a GPU step, I/O)
then overlaps with generation; one that only counts gets all the cores for
generation, and small batches cost a slice, not a kernel call each.

Two readers:

:class:`Ahead`
    Consecutive stream positions (SEQUENTIAL, MEMORY_OPTIMIZED, ADAPTIVE):
    ``take(start, count)`` returns the records of positions ``start ..
    start + count - 1``.  Any position may be asked for (another consumer of
    the stream may move it): a request outside the blocks starts afresh there.
:class:`RoundRobinAhead`
    Round-robin batches ``ids[j::n]`` of a claimed id sequence: several
    batches per block, each batch a row of the block.

Memory is bounded by ``lookahead_bytes`` (default :data:`DEFAULT_LOOKAHEAD_BYTES`,
32 MiB): a reader holds two block arrays of at most a quarter of it each (or
one batch, if a batch is larger) -- the block being handed out and the one
being generated -- and the consumer whatever batches it keeps of the blocks
before (a batch that spans two blocks is a copy).  Blocks start small (about
:data:`FIRST_BLOCK_NS` of work), so that a consumer that stops early has not
paid for much generation ahead, and grow by up to :data:`GROWTH` per block
while that costs the consumer no wait: the next block is generated while the
consumer works through the current one, so a block more than ``c / g`` times
the current one (``c``, ``g``: the consumer's and the generation's time per
record) would make the consumer wait.  Each wait measures ``c / g``; a
consumer slower than generation gets blocks growing by at most that, one
faster than generation (it waits whatever the sizes) blocks growing by
:data:`GROWTH`.

Ownership: a block being generated belongs to the reader until its job is
complete, and nothing of it is handed out before.  Without buffer reuse every
block is a new array (each batch is a view, which refers to its block's
array), and yielded batches stay valid for as long as they are referenced;
a block's memory goes back to the pool of touched pages once the consumer
holds no batch of it, and serves a later block without page faults.  With ``reuse=True`` nothing is allocated per block or
batch: two block buffers take turns, never handed out, and each batch is
copied into one reused batch buffer, so that (as buffer reuse promises) each
batch is overwritten by the next; batches of cheap records large enough that
the copy would cost more than a call (:data:`REUSE_DIRECT_RECORDS`) are
generated straight into that buffer instead.  A reader closed, abandoned, or
interrupted (KeyboardInterrupt) cancels its job; the worker team keeps the
job's array alive until the workers have stopped writing, and nothing the
consumer was given is written after.  In a forked child a block
generated before the fork is regenerated in the child (the parent's workers did
not come along).

Records are those of :func:`dpa.engine.generate_seeded` for the same ids, bit
for bit, whatever the block sizes, the lookahead or the number of threads.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import engine
from .config import AugmentationConfig
from .seeding import Seeding

__all__ = ["DEFAULT_LOOKAHEAD_BYTES", "FIRST_BLOCK_NS", "GROWTH", "Ahead", "RoundRobinAhead"]

#: Bytes of records a reader holds ahead of its consumer, by default.
DEFAULT_LOOKAHEAD_BYTES = 32 << 20
#: The first block is about this much work (nanoseconds, one thread) ...
FIRST_BLOCK_NS = 2_000_000
#: ... and each block after it this many times the one before, up to the bound.
GROWTH = 4
#: Round-robin batches of records costing at least this (ns per record, one
#: thread) are generated from materialised ids (a pass of NumPy is nothing
#: next to such records, and the kernel then sees whole groups of lanes);
#: cheaper records are generated from rows of a range (``engine.IdRows``).
MATERIALIZE_NS = 150.0
#: With buffer reuse, batches of records cheaper than :data:`MATERIALIZE_NS`
#: of at least this many records are generated straight into the reused
#: buffer (copying one from a block would cost more than a call's overhead).
REUSE_DIRECT_RECORDS = 16384


class _Blocks:
    """Outputs and jobs of one reader: new block arrays, or (``reuse``) two
    block buffers taking turns and one batch buffer."""

    def __init__(self, config: AugmentationConfig, seeding: Seeding, hash: bool, reuse: bool,
                 lookahead_bytes: int | None) -> None:
        self.config, self.seeding, self.hash = config, seeding, hash
        self.dtype = engine.record_dtype(hash)
        budget = DEFAULT_LOOKAHEAD_BYTES if lookahead_bytes is None else lookahead_bytes
        self.enabled = budget > 0
        # Blocks of a quarter of the budget: the one handed out and the one
        # being generated, with room for the batches the consumer still holds
        # of the blocks before.
        self.max_block = max(1, budget // (4 * self.dtype.itemsize))
        self.first_block = max(1, int(FIRST_BLOCK_NS / seeding.ns_per_record))
        self.reuse = reuse
        self.direct = REUSE_DIRECT_RECORDS if seeding.ns_per_record < MATERIALIZE_NS \
            else 1 << 62  # reuse: batches this large skip the blocks
        self._ring: list[np.ndarray | None] = [None, None]
        self._batch: np.ndarray | None = None
        self._slot = 0  # the ring buffer of the block handed out now
        self.pending: Any = None  # the Background job of the next block
        self._cancelled: Any = None  # a job cancelled without waiting for it
        self.factor = 1.0  # growth of the next block over the current (see finish)
        self._since = 0.0   # when the current block was handed out
        self._since_cpu = 0.0  # this thread's CPU time then
        self._current = 0   # its records
        self._ahead = 0     # the pending block's records
        # A consumer that keeps its CPU busy gets one worker fewer than the
        # CPUs and helps with the block it waits for; one that sleeps (a GPU
        # step, I/O) gets every CPU for generation (see finish).
        self.helping = False
        self._helped = False  # the pending job has one worker fewer: help it

    def _buffer(self, slot: int, n: int) -> np.ndarray:
        buf = self._ring[slot]
        if buf is None or len(buf) < n:
            buf = self._ring[slot] = engine.records(max(n, self.max_block), self.dtype)
        return buf[:n]

    def out(self, n: int, ahead: bool) -> np.ndarray:
        """An array for ``n`` records: of the current block, or (``ahead``) of the next.

        With reuse, one of the two ring buffers.  Without, a new array: every
        block array has the largest block's capacity (small blocks use a
        prefix), so that a block's memory, once the consumer has dropped
        every batch of it (each view refers to its block's array), serves any
        later block from the pool of touched pages (``engine.records``,
        ``src/pool.h``), whose pages do not fault again.
        """
        if self.reuse:
            return self._buffer(self._slot ^ 1 if ahead else self._slot, n)
        return engine.records(max(n, self.max_block), self.dtype)[:n]

    def batch(self, n: int) -> np.ndarray:
        """Reuse: the one batch buffer, for ``n`` records."""
        buf = self._batch
        if buf is None or len(buf) < n:
            buf = self._batch = engine.records(n, self.dtype)
        return buf[:n]

    def hand_out(self, records: np.ndarray) -> np.ndarray:
        """What the consumer gets of ``records`` (a view of a block): the view,
        or with reuse a copy in the batch buffer."""
        if not self.reuse:
            return records
        buf = self.batch(len(records))
        buf[...] = records
        return buf

    def now(self, ids: Any, out: np.ndarray | None = None) -> np.ndarray:
        """The records of ``ids``, generated now (all threads) into ``out`` or
        the current block's array."""
        block = engine.generate_seeded(ids, self.config, self.seeding,
                                       out=self.out(len(ids), False) if out is None else out,
                                       hash=self.hash)
        if out is None:
            self._since, self._current = time.perf_counter(), len(ids)
            self._since_cpu = time.thread_time()
        return block

    def start(self, ids: Any) -> None:
        """Start generating the next block's records in the background."""
        cpus = engine.default_threads()
        threads = cpus - 1 if self.helping and cpus > 1 else None
        self.pending = engine.generate_background(ids, self.config, self.seeding,
                                                  out=self.out(len(ids), True), hash=self.hash,
                                                  threads=threads)
        self._ahead = len(ids)
        self._helped = threads is not None

    def finish(self) -> np.ndarray:
        """Wait for the next block (it becomes the current one) and return it."""
        pending, self.pending = self.pending, None
        needed = time.perf_counter()
        busy = (time.thread_time() - self._since_cpu) / max(needed - self._since, 1e-9)
        ready = pending.done()
        try:
            block = pending.wait(help=self._helped)
        except BaseException:
            self.pending = pending  # cancelled by wait; a later finish() refills it
            raise
        now = time.perf_counter()
        if not ready:  # the consumer waited: measure c / g
            consumed = max(needed - self._since, 1e-9)  # the consumer, on the current block
            made = max(now - self._since, 1e-9)         # the generation of the next
            c_over_g = (consumed / self._current) / (made / self._ahead)
            self.factor = float(GROWTH) if c_over_g < 0.7 else \
                max(1.0, min(float(GROWTH), 0.9 * c_over_g))
        # A consumer that used its CPU while working on the block keeps it.
        self.helping = busy > 0.5
        self._since, self._current = now, self._ahead
        self._since_cpu = time.thread_time()
        self._slot ^= 1
        return block

    def cancel(self, wait: bool = False) -> None:
        """Stop the next block's job: without ``wait`` at once (safe in
        finalizers), with ``wait`` once no worker writes any more."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.cancel()
            self._cancelled = pending  # a later cancel(wait=True) waits for it
        if wait and self._cancelled is not None:
            self._cancelled.stop()
            self._cancelled = None

    def grow(self, last: int, count: int) -> int:
        """The size of the block after one of ``last`` records, for batches of
        ``count`` (see the module docs)."""
        size = max(count, min(self.max_block, int(self.factor * last)))
        return size // count * count


class Ahead:
    """Ahead(ids, config, seeding, *, hash=False, reuse=False, lookahead_bytes=None)

    Records of consecutive positions of ``ids`` (a range or 1-D int64 array),
    generated in blocks ahead of the consumer (see the module docs).
    ``lookahead_bytes=0`` generates each request when it is made.
    """

    def __init__(self, ids: range | np.ndarray, config: AugmentationConfig, seeding: Seeding,
                 *, hash: bool = False, reuse: bool = False,
                 lookahead_bytes: int | None = None) -> None:
        self._ids = ids
        self._n = len(ids)
        self._blocks = _Blocks(config, seeding, hash, reuse, lookahead_bytes)
        self._reuse = reuse
        self._block = np.empty(0, self._blocks.dtype)
        self._b0 = 0     # the current block holds positions [_b0, _b0 + _blen)
        self._blen = 0
        self._n0 = 0     # the pending block (if any) positions [_n0, _n0 + _nlen)
        self._nlen = 0

    def take(self, start: int, count: int) -> np.ndarray:
        """The records of positions ``start .. start + count - 1`` (within ``ids``)."""
        a = start - self._b0
        if a >= 0 and a + count <= self._blen:
            if self._reuse:
                return self._blocks.hand_out(self._block[a:a + count])
            return self._block[a:a + count]
        return self._miss(start, count)

    def _miss(self, start: int, count: int) -> np.ndarray:
        blocks = self._blocks
        end = start + count
        if not blocks.enabled or (blocks.reuse and count >= blocks.direct):
            return blocks.now(self._ids[start:end], blocks.batch(count) if blocks.reuse
                              else None)
        b_end = self._b0 + self._blen
        if blocks.pending is not None and self._n0 <= end <= self._n0 + self._nlen:
            if self._n0 <= start:  # all of it in the next block
                self._advance(count)
                return blocks.hand_out(self._block[start - self._b0:end - self._b0])
            if self._b0 <= start:  # the end of this block and the start of the next
                out = blocks.batch(count) if blocks.reuse else np.empty(count, blocks.dtype)
                out[:b_end - start] = self._block[start - self._b0:]
                self._advance(count)
                out[b_end - start:] = self._block[:end - self._b0]
                return out
        # Anywhere else: start afresh at `start`, with a small block.
        blocks.cancel(wait=True)
        size = min(self._n - start, blocks.grow(max(1, blocks.first_block // GROWTH), count))
        self._block = blocks.now(self._ids[start:start + size])
        self._b0, self._blen = start, size
        self._start_next(count)
        return blocks.hand_out(self._block[:count])

    def _advance(self, count: int) -> None:
        self._block = self._blocks.finish()
        self._b0, self._blen = self._n0, self._nlen
        self._start_next(count)

    def _start_next(self, count: int) -> None:
        s = self._b0 + self._blen
        if s < self._n:
            size = min(self._n - s, self._blocks.grow(self._blen, count))
            self._blocks.start(self._ids[s:s + size])
            self._n0, self._nlen = s, size

    @property
    def max_block(self) -> int:
        """Records of the largest block (a quarter of the lookahead)."""
        return self._blocks.max_block

    def close(self, wait: bool = True) -> None:
        """Stop generating ahead; with ``wait``, return once no worker writes
        for this reader any more (the blocks handed out stay valid).  Only
        ``wait=False`` is safe in a finalizer."""
        self._blocks.cancel(wait)

    def __del__(self) -> None:
        blocks = getattr(self, "_blocks", None)
        if blocks is not None:
            blocks.cancel()


class RoundRobinAhead:
    """RoundRobinAhead(ids, n, config, seeding, *, hash=False, reuse=False, lookahead_bytes=None)

    Iterates the ``min(n, len(ids))`` round-robin batches of ``ids`` (a range
    or 1-D int64 array): batch ``j`` holds the records of ``ids[j::n]``.
    Consecutive batches are rows of one block, generated ahead (module docs).
    """

    def __init__(self, ids: range | np.ndarray, n: int, config: AugmentationConfig,
                 seeding: Seeding, *, hash: bool = False, reuse: bool = False,
                 lookahead_bytes: int | None = None) -> None:
        self._ids = ids
        self._k = n
        self._blocks = _Blocks(config, seeding, hash, reuse, lookahead_bytes)
        self._rows = isinstance(ids, range) and seeding.ns_per_record < MATERIALIZE_NS
        self._pos: np.ndarray | None = None     # materialised positions (reused)
        self._picked: np.ndarray | None = None  # ids at those positions (reused)

    def _group(self, j0: int, count: int) -> tuple[int, int, Any]:
        """Batches ``j0 .. j1 - 1`` of one length ``m`` as one block's ids:
        ``(j1, m, ids)``, about ``count`` records, at least one batch."""
        total, k = len(self._ids), self._k
        m, r = divmod(total, k)
        length = m + 1 if j0 < r else m
        stop = r if j0 < r else min(k, total)
        j1 = min(stop, j0 + max(1, count // max(1, length)))
        ids = self._ids
        if self._rows:
            return j1, length, engine.IdRows(ids.start + j0 * ids.step, k * ids.step, length,
                                             ids.step, j1 - j0)
        # Positions into two reused buffers (a fresh array per block would
        # pay for its pages while the workers wait for the block's ids): no
        # job reads them any more when the next group is made.
        count = (j1 - j0) * length
        if self._pos is None or len(self._pos) < count:
            self._pos = np.empty(max(count, min(total, self._blocks.max_block)), np.int64)
            self._picked = None
        pos = self._pos[:count]
        np.add(np.arange(j0, j1, dtype=np.int64)[:, None],
               np.arange(0, length * k, k, dtype=np.int64)[None, :],
               out=pos.reshape(j1 - j0, length))
        if isinstance(ids, range):
            if ids.step != 1:
                pos *= ids.step
            if ids.start:
                pos += ids.start
            return j1, length, pos
        if self._picked is None:
            self._picked = np.empty(len(self._pos), np.int64)
        return j1, length, np.take(ids, pos, out=self._picked[:count])

    def __iter__(self) -> Iterator[np.ndarray]:
        blocks = self._blocks
        batches = min(self._k, len(self._ids))
        if batches == 0:
            return
        longest = -(-len(self._ids) // self._k)
        if not blocks.enabled or (blocks.reuse and longest >= blocks.direct):
            for j in range(batches):
                ids = self._ids[j::self._k]
                yield blocks.now(ids, blocks.batch(len(ids)) if blocks.reuse else None)
            return
        j = 0
        target = blocks.grow(max(1, blocks.first_block // GROWTH), 1)
        j1, m, ids = self._group(0, target)
        block = blocks.now(ids)
        try:
            while True:
                if j1 < batches:  # the next group, in the background
                    target = blocks.grow(len(block), 1)
                    n1, m1, ids = self._group(j1, target)
                    blocks.start(ids)
                hand_out = blocks.hand_out
                for t in range(j1 - j):
                    yield hand_out(block[t * m:(t + 1) * m])
                if j1 >= batches:
                    return
                j, j1, m = j1, n1, m1
                block = blocks.finish()
        finally:
            blocks.cancel()

    def close(self, wait: bool = True) -> None:
        """Stop generating ahead; with ``wait``, return once no worker writes
        for this reader any more (only ``wait=False`` is safe in a finalizer)."""
        self._blocks.cancel(wait)
