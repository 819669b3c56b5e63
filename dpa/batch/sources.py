"""What a batch processor reads from: dpa streams, arrays, any iterable.

Each source makes consecutive batches of a requested size (``take``) and
round-robin batches (``round_robin``), in the cheapest way its input allows:

* :class:`StreamSource` (a :class:`dpa.ParamStream`, the distributed stream
  included): structured arrays generated straight from sub-ranges of the
  stream's ids; round-robin batch ``j`` from the arithmetic progression
  ``ids[j::n]``.  No per-sample Python object, nothing beyond the batch.
* :class:`ArraySource` (an ndarray or ``np.memmap``): consecutive batches are
  zero-copy views; round-robin batches are gathered by the compiled
  ``gather_strided`` kernel (GIL released) into C-contiguous arrays.
* :class:`IterableSource` (anything else iterable, e.g. DPA's own generator):
  lists of items, as DPA makes them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

import numpy as np

from .. import _core
from ..lookahead import Ahead, RoundRobinAhead
from ..stream import ParamStream

__all__ = ["StreamSource", "ArraySource", "IterableSource", "make_source"]


class _Buffer:
    """A reusable output buffer that grows to the largest batch asked for."""

    def __init__(self, dtype: np.dtype, row_shape: tuple[int, ...] = ()) -> None:
        self._dtype = dtype
        self._row_shape = row_shape
        self._buf = np.empty((0,) + row_shape, dtype)

    def get(self, n: int) -> np.ndarray:
        if self._buf.shape[0] < n:
            self._buf = np.empty((n,) + self._row_shape, self._dtype)
        return self._buf[:n]


class StreamSource:
    """Batches of a dpa :class:`~dpa.ParamStream` as structured arrays.

    Consecutive batches use the stream's own cursor: each batch takes the
    next ids from ``stream.position`` and advances it, so batches, other
    processors and plain iteration of the stream share the stream as they
    would share DPA's generator, and a consumer that stops early leaves the
    rest to the next.  The records are generated ahead of the consumer, in
    blocks made by the worker team in the background while the consumer works
    on the batches of the block before (:class:`dpa.lookahead.Ahead`, at most
    ``lookahead_bytes`` of records, 32 MiB by default; 0 generates each batch
    when it is asked for); batches are slices (views) of those blocks, and the
    stream's position still advances batch by batch.  A round-robin run
    claims the whole remainder at its first batch, since its batches span it
    (:class:`dpa.lookahead.RoundRobinAhead`).
    """

    kind = "stream"

    def __init__(self, stream: ParamStream, *, hash: bool = False, reuse: bool = False,
                 lookahead_bytes: int | None = None) -> None:
        self.stream = stream
        self.hash = bool(hash)
        self.record_bytes = stream.dtype(self.hash).itemsize
        self._reuse = reuse
        self._lookahead = lookahead_bytes
        self._ahead = Ahead(stream.ids, stream.config, stream.param_seeding, hash=self.hash,
                            reuse=reuse, lookahead_bytes=lookahead_bytes)
        self._records = self._ahead.take
        self._n = len(stream.ids)
        self._rr: RoundRobinAhead | None = None

    @property
    def length(self) -> int:
        """Samples not yet consumed from the stream."""
        return len(self.stream.ids) - self.stream.position

    def take(self, size: int) -> np.ndarray | None:
        """The next ``size`` records (fewer at the end), or None when done."""
        stream = self.stream
        start = stream.position
        if start >= self._n:
            return None
        return self._records(start, stream.skip(size))  # the stream drops what it made ahead

    def round_robin(self, n: int) -> Iterator[np.ndarray]:
        """Batch ``j`` (``j < min(n, length)``): the records of ``ids[j::n]``.

        For a range of ids (the usual case) the ids of each block of batches
        are rows of a range, generated without materialising them.
        """
        stream = self.stream
        self._rr = RoundRobinAhead(stream.claim(), n, stream.config, stream.param_seeding,
                                   hash=self.hash, reuse=self._reuse,
                                   lookahead_bytes=self._lookahead)
        return iter(self._rr)

    @property
    def efficient_batch(self) -> int | None:
        """The largest batch worth generating at once: a lookahead block (None
        with the lookahead off: each batch is then one call, of any size)."""
        return None if self._lookahead == 0 else self._ahead.max_block

    def close(self, wait: bool = False) -> None:
        """Stop generating ahead; with ``wait``, return once no worker writes
        for this source any more (not from a finalizer)."""
        self._ahead.close(wait)
        if self._rr is not None:
            self._rr.close(wait)


class ArraySource:
    """Batches of an array (or ``np.memmap``) along its first axis.

    Consecutive batches are views (zero-copy, valid as long as the array);
    round-robin batches are C-contiguous copies made by the ``nogil``
    ``gather_strided`` kernel, or, for rows that are not packed in C order,
    by NumPy.
    """

    kind = "array"

    def __init__(self, array: np.ndarray, *, reuse: bool = False) -> None:
        if array.ndim < 1:
            raise TypeError("process_stream needs an array of at least 1 dimension, "
                            "but got a 0-d array")
        if array.dtype.hasobject:
            raise TypeError(f"arrays of Python objects are not supported (dtype {array.dtype}); "
                            "pass a list instead")
        self.array = array
        self._n = array.shape[0]
        self.record_bytes = max(1, array.itemsize * int(np.prod(array.shape[1:], dtype=np.int64)))
        self._pos = 0
        self._packed = array.ndim == 1 or array.shape[0] == 0 or array[0].flags.c_contiguous
        self._buffer = _Buffer(array.dtype, array.shape[1:]) if reuse else None

    @property
    def length(self) -> int:
        """Rows this source holds."""
        return self.array.shape[0]

    def take(self, size: int) -> np.ndarray | None:
        """A view of the next ``size`` rows (fewer at the end), or None when done."""
        pos = self._pos
        if pos >= self._n:
            return None
        self._pos = end = min(pos + size, self._n)
        return self.array[pos:end]

    def gather(self, start: int, step: int) -> np.ndarray:
        """Rows ``start, start + step, ...`` as a C-contiguous array."""
        count = len(range(start, self.array.shape[0], step))
        if self._buffer is not None:
            out = self._buffer.get(count)
        else:
            out = np.empty((count,) + self.array.shape[1:], self.array.dtype)
        if self._packed:
            _core.gather_strided(self.array, out, start, step)
        else:
            out[...] = self.array[start::step]
        return out

    def round_robin(self, n: int) -> Iterator[np.ndarray]:
        """Batch ``j`` (``j < min(n, length)``): rows ``j, j + n, ...``."""
        for j in range(min(n, self.array.shape[0])):
            yield self.gather(j, n)


def _item_bytes(item: Any) -> int:
    """Estimate of an item's memory: its size plus its direct contents'."""
    size = sys.getsizeof(item)
    if isinstance(item, dict):
        size += sum(sys.getsizeof(v) for v in item.values())
    elif isinstance(item, (list, tuple)):
        size += sum(sys.getsizeof(v) for v in item)
    return max(1, size)


class IterableSource:
    """Batches of any iterable as lists of its items.

    Consecutive batches consume exactly the items they hold.  Round-robin
    deals a list or tuple (any ``Sequence``) whole; any other iterable, whose
    length is not known in advance, is dealt window by window: ``window``
    items are read, batch ``j`` of the window gets its items ``j, j + n, ...``,
    and only then is the next window read.  Memory is bounded by one window.
    """

    kind = "iterable"

    def __init__(self, iterable: Iterable[Any], *, window: int) -> None:
        self.iterable = iterable
        self.window = window
        self._it: Iterator[Any] | None = None
        self._first: list[Any] = []
        self.record_bytes = 0

    def _iterator(self) -> Iterator[Any]:
        if self._it is None:
            self._it = iter(self.iterable)
        return self._it

    def estimate_record_bytes(self) -> int:
        """Estimated memory of one item (reads the first item ahead if needed)."""
        if not self.record_bytes:
            if not self._first:
                self._first = list(islice(self._iterator(), 1))
            self.record_bytes = _item_bytes(self._first[0]) if self._first else 1
        return self.record_bytes

    def take(self, size: int) -> list[Any] | None:
        """The next ``size`` items as a list (fewer at the end), or None when done."""
        batch, self._first = self._first, []
        batch.extend(islice(self._iterator(), size - len(batch)))
        return batch or None

    def round_robin(self, n: int) -> Iterator[list[Any]]:
        """Deal the items to ``n`` batches: whole for a sequence, else per window."""
        if isinstance(self.iterable, Sequence) and not self._first and self._it is None:
            seq = self.iterable
            for j in range(min(n, len(seq))):
                yield list(seq[j::n])
            return
        while True:
            window = self.take(self.window)
            if window is None:
                return
            for j in range(min(n, len(window))):
                yield window[j::n]


def make_source(
    stream: Any, *, hash: bool = False, reuse: bool = False, window: int,
    lookahead_bytes: int | None = None,
) -> StreamSource | ArraySource | IterableSource:
    """The source for ``stream``: a dpa stream, an array, or an iterable."""
    if isinstance(stream, ParamStream):
        if hash and not stream.param_seeding.has_hash:
            raise ValueError(f"hash=True needs a stream of scheme='dpa'; this stream's scheme "
                             f"{stream.scheme!r} has no hash")
        return StreamSource(stream, hash=hash, reuse=reuse, lookahead_bytes=lookahead_bytes)
    if hash:
        raise TypeError(
            f"hash=True applies to dpa streams (from stream_augmentation_chain), but got "
            f"{type(stream).__name__}"
        )
    if isinstance(stream, np.ndarray):
        return ArraySource(stream, reuse=reuse)
    if isinstance(stream, (str, bytes, bytearray, dict)) or not isinstance(stream, Iterable):
        raise TypeError(
            "process_stream needs a dpa stream, a numpy array or an iterable of samples, "
            f"but got {type(stream).__name__}"
        )
    return IterableSource(stream, window=window)
