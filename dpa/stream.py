"""Parameter streams: DPA-compatible iteration that also hands out arrays.

``stream_augmentation_chain`` returns a :class:`ParamStream`.  Iterated, it
behaves like DPA 0.2.1's generator (one dict per sample, or lists of dicts
with ``chunk_size``); it also knows its id range, so array consumers (the
batch engine, ``.npy`` export) call :meth:`ParamStream.claim` and
:meth:`ParamStream.generate` and never build a per-sample Python object.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .chain import records_to_dicts
from .config import AugmentationConfig
from .engine import MAX_SAMPLE_ID, _check_int, generate, kernel_for, record_dtype

__all__ = ["ParamStream", "stream_augmentation_chain"]

#: Records generated at a time when iterating dicts.
_DICT_BLOCK = 1024


class ParamStream(Iterator):
    """A stream of augmentation parameters over a range of sample ids.

    Parameters
    ----------
    ids : range
        The sample ids, in stream order (any non-negative int64 range).
    config : AugmentationConfig, optional
        DPA's defaults when omitted.
    chunk_size : int, optional
        Iterate lists of up to ``chunk_size`` dicts instead of single dicts.
    scheme, rank, base_seed, epoch
        Seeding, as in :func:`dpa.generate`.

    Iterating consumes the stream, as DPA's generator does; ``position`` counts
    the samples consumed.  ``len(stream)`` is the total number of samples.
    """

    def __init__(
        self,
        ids: range,
        config: AugmentationConfig | None = None,
        chunk_size: int | None = None,
        *,
        scheme: str = "dpa",
        rank: int | None = None,
        base_seed: int = 0,
        epoch: int = 0,
    ) -> None:
        if not isinstance(ids, range):
            raise TypeError(f"ids should be a range, but got {type(ids).__name__}")
        if len(ids) and (min(ids[0], ids[-1]) < 0 or max(ids[0], ids[-1]) > MAX_SAMPLE_ID):
            raise ValueError(f"sample ids must be in [0, 2**63-1], but got {ids}")
        if chunk_size is not None and (_check_int(chunk_size, "chunk_size") <= 0):
            raise ValueError(f"chunk_size must be positive, but got chunk_size={chunk_size}")
        self.config = AugmentationConfig() if config is None else config
        # Validates config and seeding now, not at the first next().
        kernel_for(self.config, scheme=scheme, rank=rank, base_seed=base_seed, epoch=epoch)
        self.ids = ids
        self.chunk_size = chunk_size
        self.scheme = scheme
        self.rank = rank
        self.base_seed = base_seed
        self.epoch = epoch
        self.position = 0
        self._buffer: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return (
            f"ParamStream(ids={self.ids}, position={self.position}, "
            f"chunk_size={self.chunk_size}, scheme={self.scheme!r}, rank={self.rank})"
        )

    def __len__(self) -> int:
        return len(self.ids)

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

        Does not consume the stream.
        """
        return generate(ids, self.config, out=out, hash=hash, threads=threads,
                        scheme=self.scheme, rank=self.rank, base_seed=self.base_seed,
                        epoch=self.epoch)

    def seeding_provenance(self) -> dict[str, Any]:
        """The seeding of this stream's records, as recorded in ``.npy`` provenance.

        The keywords of :func:`dpa.generate` that reproduce :meth:`generate`:
        ``{"scheme": ...}``, plus ``rank`` and ``base_seed`` for DPA's
        rank-aware seeding, or ``base_seed`` and ``epoch`` for
        ``scheme="philox"``.  Subclasses whose seeding :func:`dpa.generate`
        cannot express return other keys (see
        :meth:`dpa.distributed.DistributedParamStream.seeding_provenance`).
        """
        prov: dict[str, Any] = {"scheme": self.scheme}
        if self.rank is not None:
            prov["rank"] = self.rank
        if self.rank is not None or self.scheme == "philox":
            prov["base_seed"] = self.base_seed
        if self.scheme == "philox":
            prov["epoch"] = self.epoch
        return prov

    def claim(self) -> range:
        """The ids not yet consumed; marks the stream exhausted.

        For array consumers: they generate from the returned range themselves.
        """
        rest = self.ids[self.position:]
        self.position = len(self.ids)
        self._buffer = []
        return rest

    def blocks(self, block_size: int, hash: bool = False) -> Iterator[np.ndarray]:
        """Claim the rest of the stream and yield it as arrays of ``block_size``."""
        if _check_int(block_size, "block_size") <= 0:
            raise ValueError(f"block_size must be positive, but got block_size={block_size}")
        rest = self.claim()
        for a in range(0, len(rest), block_size):
            yield self.generate(rest[a:a + block_size], hash=hash)

    def _next_dict(self) -> dict[str, Any]:
        if not self._buffer:
            if self.position >= len(self.ids):
                raise StopIteration
            # Records are produced ahead of position; the buffer holds them.
            start = self.position + len(self._buffer)
            block = self.ids[start:start + _DICT_BLOCK]
            with_hash = self.scheme == "dpa"  # DPA's dicts carry the hash
            self._buffer = records_to_dicts(self.generate(block, hash=with_hash, threads=1))
            self._buffer.reverse()
        self.position += 1
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


def stream_augmentation_chain(
    num_samples: int,
    config: AugmentationConfig | None = None,
    start_id: int = 0,
    chunk_size: int | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    *,
    scheme: str = "dpa",
    base_seed: int = 0,
    epoch: int = 0,
) -> ParamStream:
    """stream_augmentation_chain(num_samples, config=None, start_id=0, chunk_size=None, rank=None, world_size=None, *, scheme="dpa", base_seed=0, epoch=0)

    Parameters for ids ``start_id .. start_id + num_samples - 1`` as a stream.

    Iterating gives what DPA 0.2.1's generator gives: a dict per sample, or
    lists of ``chunk_size`` dicts (the last may be shorter).  The returned
    :class:`ParamStream` also hands out structured arrays without building
    dicts (``claim``, ``generate``, ``blocks``).  ``scheme="philox"`` (with
    ``base_seed`` and ``epoch``) streams the counter-based scheme instead;
    its dicts have no ``hash``.

    With ``rank`` and ``world_size``, delegates as DPA 0.2.1 does to
    :func:`dpa.distributed.stream_distributed_augmentation_chain`: the rank's
    share of ids ``0 .. num_samples - 1``, with ``start_id`` as the base seed
    (DPA's quirk, so ``base_seed`` and ``epoch`` must be left at 0).  With
    ``scheme="philox"`` the rank's share of ids ``start_id .. start_id +
    num_samples - 1`` instead, with the philox parameters of ``base_seed``
    and ``epoch`` (the same as without ``rank``, whatever the world size).
    """
    if rank is not None or world_size is not None:
        if rank is None or world_size is None:
            raise ValueError("Both rank and world_size must be specified together")
        from .distributed import stream_distributed_augmentation_chain

        if scheme == "philox":
            return stream_distributed_augmentation_chain(
                num_samples, rank, world_size, config, base_seed=base_seed,
                chunk_size=chunk_size, scheme="philox", epoch=epoch, epoch_params=True,
                start_id=start_id,
            )
        if scheme == "dpa" and (base_seed != 0 or epoch != 0):
            raise ValueError(
                "with rank and world_size, scheme='dpa' uses start_id as the base seed (as DPA "
                f"does), so base_seed and epoch must be 0, but got base_seed={base_seed!r}, "
                f"epoch={epoch!r}"
            )
        return stream_distributed_augmentation_chain(
            num_samples, rank, world_size, config, base_seed=start_id, chunk_size=chunk_size,
            scheme=scheme,
        )
    num_samples = _check_int(num_samples, "num_samples")
    if num_samples < 0:
        raise ValueError(f"num_samples must be non-negative, but got num_samples={num_samples}")
    start_id = _check_int(start_id, "start_id")
    if start_id < 0:
        raise ValueError(f"start_id must be non-negative, but got start_id={start_id}")
    if start_id + num_samples - 1 > MAX_SAMPLE_ID:
        raise ValueError(
            f"sample ids must be at most 2**63-1, but start_id + num_samples - 1 = "
            f"{start_id + num_samples - 1}"
        )
    return ParamStream(
        range(start_id, start_id + num_samples), config, chunk_size,
        scheme=scheme, base_seed=base_seed, epoch=epoch,
    )
