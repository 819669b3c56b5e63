"""Parameter streams: DPA-compatible iteration that also hands out arrays.

A :class:`ParamStream` is a sequence of sample ids with one seeding and
config.  Iterated, it behaves like DPA 0.2.1's generator (one dict per
sample, or lists of dicts with ``chunk_size``); array consumers (the batch
engine, ``.npy`` export) call :meth:`ParamStream.claim` and
:meth:`ParamStream.generate` and never build a per-sample Python object.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ._validate import MAX_SAMPLE_ID, check_instance, check_positive_int, check_range_length
from .config import DEFAULT_CONFIG, AugmentationConfig
from .engine import generate_seeded
from .records import record_dtype, records_to_dicts
from .seeding import Seeding

__all__ = ["ParamStream"]

#: Records generated at a time when iterating dicts.
_DICT_BLOCK = 1024


class ParamStream(Iterator):
    """ParamStream(ids, config=None, chunk_size=None, *, scheme="dpa", rank=None, base_seed=0, epoch=0, param_seeding=None)

    A stream of augmentation parameters over sample ids.

    Parameters
    ----------
    ids : range or 1-D int64 array
        The sample ids, in stream order (non-negative int64).  Streams made
        by :func:`dpa.stream_augmentation_chain` hold a ``range``; a
        distributed stream holds an array when its order is shuffled or padded.
    config : AugmentationConfig, optional
        DPA's defaults when omitted.
    chunk_size : int, optional
        Iterate lists of up to ``chunk_size`` dicts instead of single dicts.
    scheme, rank, base_seed, epoch
        Seeding, as in :func:`dpa.generate`.
    param_seeding : Seeding, optional
        The seeding as a value, instead of the four keywords above.

    Iterating consumes the stream, as DPA's generator does; ``position`` counts
    the samples consumed, and array consumers (the batch engine) move it as
    they take ids.  ``len(stream)`` is the total number of samples.
    """

    def __init__(
        self,
        ids: range | np.ndarray,
        config: AugmentationConfig | None = None,
        chunk_size: int | None = None,
        *,
        scheme: str = "dpa",
        rank: int | None = None,
        base_seed: int = 0,
        epoch: int = 0,
        param_seeding: Seeding | None = None,
    ) -> None:
        if isinstance(ids, range):
            if check_range_length(ids, "ids") and (min(ids[0], ids[-1]) < 0 or max(ids[0], ids[-1]) > MAX_SAMPLE_ID):
                raise ValueError(f"sample ids must be in [0, 2**63-1], but got {ids}")
        elif not (isinstance(ids, np.ndarray) and ids.dtype == np.int64 and ids.ndim == 1):
            raise TypeError(f"ids should be a range or a 1-D int64 array, but got "
                            f"{type(ids).__name__}")
        if chunk_size is not None:
            chunk_size = check_positive_int(chunk_size, "chunk_size", rule="must be positive")
        if config is None:
            config = DEFAULT_CONFIG
        if param_seeding is None:
            param_seeding = Seeding.from_args(scheme, rank, base_seed, epoch)
        else:
            check_instance(param_seeding, "param_seeding", Seeding, "a dpa.Seeding")
            if (scheme, rank, base_seed, epoch) != ("dpa", None, 0, 0):
                raise ValueError("pass the seeding either as param_seeding or as scheme, rank, "
                                 "base_seed and epoch, not both")
        param_seeding.kernel(config)  # checks the config now, not at the first next()
        self.ids = ids
        self.config = config
        self.chunk_size = chunk_size
        self.param_seeding = param_seeding
        self.position = 0
        self._buffer: list[dict[str, Any]] = []  # dicts of positions _buffer_at, ...
        self._buffer_at = 0
        self._dict_extra: dict[str, Any] = {}  # keys every dict gets (the distributed "rank")

    def __repr__(self) -> str:
        return (f"ParamStream(ids={self.ids}, position={self.position}, "
                f"chunk_size={self.chunk_size}, param_seeding={self.param_seeding!r})")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def scheme(self) -> str:
        """The seeding scheme, ``"dpa"`` or ``"philox"``."""
        return self.param_seeding.scheme

    @property
    def remaining(self) -> int:
        """Samples not yet consumed."""
        return len(self.ids) - self.position

    def dtype(self, hash: bool = False) -> np.dtype:
        """The record dtype of :meth:`generate`."""
        return record_dtype(hash)

    def generate(self, ids: Any, out: np.ndarray | None = None, hash: bool = False,
                 threads: int | None = None) -> np.ndarray:
        """Records for ``ids`` (a range or int array) with this stream's seeding.

        Does not consume the stream.  ``hash=True`` needs a scheme with a hash.
        """
        return generate_seeded(ids, self.config, self.param_seeding, out=out, hash=hash,
                               threads=threads)

    def seeding_provenance(self) -> dict[str, Any]:
        """The seeding of this stream's records, as ``.npy`` provenance records it
        (:meth:`dpa.Seeding.to_dict`)."""
        return self.param_seeding.to_dict()

    def skip(self, k: int) -> int:
        """Move past the next ``k`` samples (fewer at the end) without making
        them; the number skipped.  Array consumers that take records of the
        stream's positions themselves move the stream with this."""
        k = min(k, len(self.ids) - self.position)
        self.position += k
        self._buffer = []
        return k

    def claim(self) -> range | np.ndarray:
        """The ids not yet consumed; marks the stream exhausted.

        For array consumers: they generate from the returned ids themselves.
        """
        rest = self.ids[self.position:]
        self.position = len(self.ids)
        self._buffer = []
        return rest

    def blocks(self, block_size: int, hash: bool = False) -> Iterator[np.ndarray]:
        """Claim the rest of the stream and yield it as arrays of ``block_size``."""
        block_size = check_positive_int(block_size, "block_size")
        rest = self.claim()
        for a in range(0, len(rest), block_size):
            yield self.generate(rest[a:a + block_size], hash=hash)

    def _next_dict(self) -> dict[str, Any]:
        if not self._buffer or self._buffer_at != self.position:
            # Nothing generated ahead for this position (array consumers move
            # the position freely): generate from here.
            if self.position >= len(self.ids):
                raise StopIteration
            block = self.ids[self.position:self.position + _DICT_BLOCK]
            records = self.generate(block, hash=self.param_seeding.has_hash, threads=1)
            self._buffer = records_to_dicts(records, **self._dict_extra)
            self._buffer.reverse()
        self.position += 1
        self._buffer_at = self.position
        return self._buffer.pop()

    def __next__(self) -> dict[str, Any] | list[dict[str, Any]]:
        if self.chunk_size is None:
            return self._next_dict()
        chunk = []
        while len(chunk) < self.chunk_size and self.position < len(self.ids):
            chunk.append(self._next_dict())
        if not chunk:
            raise StopIteration
        return chunk
