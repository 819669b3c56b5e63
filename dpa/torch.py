"""PyTorch integration: per-rank batches of ``(sample_ids, params)``.

Needs the optional extra: ``pip install 'dpa[torch]'``.  Importing ``dpa``
never imports torch; importing ``dpa.torch`` does.

:class:`DistributedParamSampler` is a batch sampler for one rank of a
``torchrun`` job: each epoch it yields ``(sample_ids, params)`` batches of
that rank's share of the samples (:func:`dpa.distributed.rank_sample_ids`),
``sample_ids`` an int64 tensor and ``params`` a dict of float64 tensors, one
per field.  Iterated inside a DataLoader worker it yields only that worker's
batches, so :class:`ParamBatchDataset` (an ``IterableDataset`` over it) lets
``DataLoader(..., num_workers=k)`` generate batches in ``k`` processes while
the loader still hands them out in order, each exactly once.

Ranks x workers therefore see every sample exactly once per epoch (with
``uneven="keep"``; ``"pad"`` repeats ``(-N) % W`` of them so that every rank
has the same count, ``"drop"`` leaves ``N % W`` out), and with
``seeding="sample"`` every sample's parameters equal single-process
:func:`dpa.generate`'s, whatever the world size or worker count; so do
they with ``scheme="philox"`` (``dpa.generate(ids, config, scheme="philox",
base_seed=base_seed, epoch=epoch if epoch_params else 0)``).  The test
``tests/test_torch.py::test_torchrun_gloo_two_ranks_two_workers`` proves it
with two real processes.

The sampler never touches global RNG state: the epoch's order is a function
of ``(base_seed, epoch)``.  Call :meth:`DistributedParamSampler.set_epoch`
at the start of every epoch, as with ``DistributedSampler``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

try:
    import torch
    from torch.utils.data import IterableDataset, Sampler, get_worker_info
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "dpa.torch needs PyTorch, which is not installed: install the extra with "
        "pip install 'dpa[torch]'"
    ) from exc

from ._validate import (
    check_bool,
    check_instance,
    check_int,
    check_non_negative_int,
    check_positive_int,
)
from .config import DEFAULT_CONFIG, FIELDS, AugmentationConfig
from .distributed import DistributedParamStream, RankLayout, RankSeeding, from_env

__all__ = ["DistributedParamSampler", "ParamBatchDataset", "params_to_tensors"]

#: Keys a state saved by an older version may lack, and the value it had.
_STATE_DEFAULTS = {"scheme": "dpa"}


def params_to_tensors(records: np.ndarray) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """params_to_tensors(records)

    ``(sample_ids, params)`` tensors from records of :func:`dpa.generate`.

    ``sample_ids`` is an int64 tensor; ``params`` maps each field name to a
    float64 tensor.  The five parameter tensors are rows of one ``(5, n)``
    tensor, filled column by column (no per-sample Python loop), so a batch
    crosses process boundaries as two storages.  Records with or without the
    ``hash`` field work (``PARAM_DTYPE`` of either scheme, or
    ``PARAM_HASH_DTYPE``); the hash is not converted.
    """
    n = records.shape[0]
    ids = torch.from_numpy(np.ascontiguousarray(records["sample_id"]))
    table = np.empty((len(FIELDS), n), dtype=np.float64)
    for row, field in enumerate(FIELDS):
        table[row] = records[field]
    values = torch.from_numpy(table)
    return ids, {field: values[row] for row, field in enumerate(FIELDS)}


class DistributedParamSampler(Sampler):
    """DistributedParamSampler(num_samples, batch_size, config=None, *, rank=None, world_size=None, scheme="dpa", seeding="sample", split="strided", uneven="pad", shuffle=True, base_seed=0, epoch_params=False, drop_last=False, start_id=0, as_tensors=True, threads=None)

    Batches of ``(sample_ids, params)`` for one rank, epoch by epoch.

    Parameters
    ----------
    num_samples : int
        Samples across all ranks; ids ``start_id .. start_id + num_samples - 1``.
    batch_size : int
        Samples per batch, ``>= 1``.
    config : AugmentationConfig, optional
        DPA's defaults when omitted.
    rank, world_size : int, optional
        This process's rank and the number of ranks; both from
        :func:`dpa.distributed.from_env` when omitted (pass ``rank=0,
        world_size=1`` for a single process).
    scheme : {"dpa", "philox"}
        ``"dpa"`` (default): DPA's SHA-256 chain.  ``"philox"``: the
        counter-based ``philox-v1`` scheme (docs/schemes.md); a sample's
        parameters are ``dpa.generate([id], config, scheme="philox",
        base_seed=base_seed, epoch=epoch if epoch_params else 0)``.
    seeding : {"sample", "rank"}
        ``"sample"`` (default): parameters depend on the sample id and
        ``base_seed`` only, the same for any world size.  ``"rank"``: DPA's
        rank-aware seeding (``scheme="dpa"`` only: ``ValueError`` with
        philox, which never depends on the rank).
    split : {"strided", "contiguous"}
        How the epoch's order is dealt to ranks (strided as ``DistributedSampler``).
    uneven : {"pad", "drop", "keep"}
        Equalise the ranks' counts by padding (default, as ``DistributedSampler``)
        or dropping, or keep DPA's unequal counts.
    shuffle : bool
        Reshuffle the order every epoch, keyed by ``(base_seed, epoch)``.
    base_seed : int
        Seeds the order and (unless 0 with ``"sample"`` seeding) the
        parameters; with ``scheme="philox"``, the key (below ``2**64``).
    epoch_params : bool
        Vary the parameters per epoch as well (with ``scheme="philox"``:
        the epoch, below ``2**32``, is philox's epoch; without, 0).
    drop_last : bool
        Drop this rank's last batch if it is short (as ``BatchSampler``).
    start_id : int
        First sample id.
    as_tensors : bool
        Yield torch tensors (default), or ``(ids, records)`` NumPy arrays.
    threads : int, optional
        Threads per batch for :func:`dpa.generate`.

    Notes
    -----
    ``len(sampler)`` is this rank's batch count: ``ceil(m / batch_size)``, or
    ``floor`` with ``drop_last``, for the rank's ``m`` samples.

    Iterated in a DataLoader worker (``get_worker_info()`` not ``None``),
    worker ``i`` of ``k`` yields batches ``start + i, start + i + k, ...``;
    the DataLoader polls workers in turn, so the loader's output is the
    same batch sequence as iterating the sampler in the main process.

    Resuming: :meth:`state_dict` records the epoch and the index of the next
    batch; after :meth:`load_state_dict` iteration starts at that batch, for
    every epoch iterated until :meth:`set_epoch` moves to another epoch.  In
    the main process the sampler counts the batches it has handed out.  With
    DataLoader workers the loader prefetches, so pass the count your loop
    consumed: ``sampler.state_dict(batches_seen=k)`` (``k`` counted from
    the start of the epoch, e.g. ``enumerate(loader, sampler.start_batch)``).

    Examples
    --------
    >>> sampler = DistributedParamSampler(1000, 32, rank=0, world_size=1)
    >>> len(sampler)
    32
    >>> for epoch in range(2):
    ...     sampler.set_epoch(epoch)
    ...     for sample_ids, params in sampler:
    ...         pass  # params["rotation"] is a float64 tensor of len(sample_ids)
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        config: AugmentationConfig | None = None,
        *,
        rank: int | None = None,
        world_size: int | None = None,
        scheme: str = "dpa",
        seeding: str = "sample",
        split: str = "strided",
        uneven: str = "pad",
        shuffle: bool = True,
        base_seed: int = 0,
        epoch_params: bool = False,
        drop_last: bool = False,
        start_id: int = 0,
        as_tensors: bool = True,
        threads: int | None = None,
    ) -> None:
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.drop_last = check_bool(drop_last, "drop_last")
        self.as_tensors = check_bool(as_tensors, "as_tensors")
        if rank is None and world_size is None:
            rank, world_size = from_env()[:2]
        elif rank is None or world_size is None:
            raise ValueError(
                "pass rank and world_size together (or neither, to read them from the "
                f"environment), but got rank={rank!r}, world_size={world_size!r}"
            )
        self.layout = RankLayout(num_samples, rank, world_size, split, uneven, shuffle,
                                 base_seed, start_id)
        self.rank_seeding = RankSeeding(scheme, seeding, base_seed, epoch_params)
        self.config = DEFAULT_CONFIG if config is None else check_instance(
            config, "config", AugmentationConfig, "an AugmentationConfig")
        self.threads = None if threads is None else check_positive_int(threads, "threads")
        self.epoch = 0
        self._resume = 0  # batch the epoch's iteration starts at (load_state_dict)
        self._next = 0  # batches of this epoch handed out in this process
        self._stream_cache: tuple[int, DistributedParamStream] | None = None
        self._rank_samples = len(self.layout)

    # The settings, read from the two values.
    num_samples = property(lambda self: self.layout.num_samples)
    rank = property(lambda self: self.layout.rank)
    world_size = property(lambda self: self.layout.world_size)
    split = property(lambda self: self.layout.split)
    uneven = property(lambda self: self.layout.uneven)
    shuffle = property(lambda self: self.layout.shuffle)
    start_id = property(lambda self: self.layout.start_id)
    scheme = property(lambda self: self.rank_seeding.scheme)
    seeding = property(lambda self: self.rank_seeding.mode)
    base_seed = property(lambda self: self.rank_seeding.base_seed)
    epoch_params = property(lambda self: self.rank_seeding.epoch_params)

    def __repr__(self) -> str:
        return (
            f"DistributedParamSampler(num_samples={self.num_samples}, batch_size="
            f"{self.batch_size}, rank={self.rank}, world_size={self.world_size}, scheme="
            f"{self.scheme!r}, seeding={self.seeding!r}, split={self.split!r}, uneven="
            f"{self.uneven!r}, shuffle={self.shuffle}, epoch={self.epoch})"
        )

    # ---- layout ------------------------------------------------------------

    def _stream(self) -> DistributedParamStream:
        """This epoch's stream (ids and seeding), cached per epoch."""
        cached = self._stream_cache
        if cached is None or cached[0] != self.epoch:
            stream = DistributedParamStream.from_layout(self.layout, self.rank_seeding,
                                                        self.config, epoch=self.epoch)
            cached = self._stream_cache = (self.epoch, stream)
        return cached[1]

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers started by spawn/forkserver get a pickled copy:
        # send the settings, not the epoch's id array (rebuilt on first use).
        state = self.__dict__.copy()
        state["_stream_cache"] = None
        return state

    def __len__(self) -> int:
        full, part = divmod(self._rank_samples, self.batch_size)
        return full + (part > 0 and not self.drop_last)

    @property
    def start_batch(self) -> int:
        """The batch this epoch's iteration starts at (0 unless resumed)."""
        return self._resume

    # ---- iteration ---------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        stream = self._stream()
        ids, size, count = stream.ids, self.batch_size, len(self)
        info = get_worker_info()
        first, step = (self._resume, 1) if info is None else (
            self._resume + info.id, info.num_workers)
        if info is None:
            self._next = self._resume
        for k in range(first, count, step):
            records = stream.generate(ids[k * size:(k + 1) * size], threads=self.threads)
            if info is None:
                self._next = k + 1
            if self.as_tensors:
                yield params_to_tensors(records)
            else:
                yield records["sample_id"].copy(), records

    def set_epoch(self, epoch: int) -> None:
        """set_epoch(epoch)

        Use ``epoch``'s order (and parameters, with ``epoch_params``) next.

        Call it at the start of every epoch: without it every epoch repeats
        the same order.  Moving to another epoch clears a resume point.
        """
        epoch = check_non_negative_int(epoch, "epoch", rule="must be non-negative")
        if epoch != self.epoch:
            self._resume = self._next = 0
        self.epoch = epoch

    # ---- checkpointing -----------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        """What a state applies to: the layout, the seeding, the batching and the config."""
        return {**self.layout.to_dict(), **self.rank_seeding.to_dict(),
                "batch_size": self.batch_size, "drop_last": self.drop_last,
                "config": self.config.to_dict()}

    def state_dict(self, batches_seen: int | None = None) -> dict[str, Any]:
        """state_dict(batches_seen=None)

        The epoch and the next batch, with the settings they refer to.

        Parameters
        ----------
        batches_seen : int, optional
            Batches of the current epoch consumed so far, counted from the
            epoch's start.  Defaults to the batches this sampler has handed
            out in this process, which is exact when it is iterated directly
            or by a DataLoader without workers.
        """
        if batches_seen is None:
            batch = self._next
        else:
            batch = check_int(batches_seen, "batches_seen")
            if not 0 <= batch <= len(self):
                raise ValueError(
                    f"batches_seen should be in [0, {len(self)}] for this rank's {len(self)} "
                    f"batches, but got batches_seen={batch}"
                )
        return {"epoch": self.epoch, "batch": batch, **self._settings()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """load_state_dict(state)

        Resume where :meth:`state_dict` was taken: the next iteration yields
        exactly the batches an uninterrupted run would have yielded next.

        A state without ``scheme`` (saved before samplers had one) is taken
        as ``scheme="dpa"``.

        Raises
        ------
        ValueError
            ``state`` was taken with other settings (the message names them).
        """
        if not isinstance(state, dict):
            raise TypeError(f"state should be a dict, but got {type(state).__name__}")
        state = {**_STATE_DEFAULTS, **state}
        mine = self._settings()
        missing = [k for k in ("epoch", "batch", *mine) if k not in state]
        if missing:
            raise ValueError(f"state is missing {missing}")
        diff = [f"{k}={state[k]!r} (this sampler: {mine[k]!r})"
                for k in mine if state[k] != mine[k]]
        if diff:
            raise ValueError("state was saved with other settings: " + ", ".join(diff))
        epoch = check_non_negative_int(state["epoch"], "epoch")
        batch = check_int(state["batch"], "batch")
        self.epoch = epoch
        count = len(self)
        if not 0 <= batch <= count:
            raise ValueError(f"batch should be in [0, {count}], but got batch={batch}")
        self._resume = self._next = batch


class ParamBatchDataset(IterableDataset):
    """ParamBatchDataset(sampler)

    An ``IterableDataset`` of a :class:`DistributedParamSampler`'s batches.

    Use it with ``DataLoader(dataset, batch_size=None, num_workers=k)``:
    each worker generates its share of the batches (sharded with
    ``get_worker_info``) and the loader yields them in the sampler's order.
    ``len(dataset)`` is the rank's batch count.  Do not combine with
    ``persistent_workers=True``: workers would keep the epoch they started
    with.
    """

    def __init__(self, sampler: DistributedParamSampler) -> None:
        if not isinstance(sampler, DistributedParamSampler):
            raise TypeError(
                f"sampler should be a DistributedParamSampler, but got {type(sampler).__name__}"
            )
        self.sampler = sampler

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return iter(self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """Forward to :meth:`DistributedParamSampler.set_epoch`."""
        self.sampler.set_epoch(epoch)
