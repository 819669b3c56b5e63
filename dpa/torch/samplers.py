"""Samplers for one rank of a training job, with ``DistributedSampler``'s arguments.

:class:`DistributedIndexSampler` is an index sampler for ``DataLoader(dataset,
sampler=...)``: ``DistributedSampler``'s arguments and meaning (``num_replicas``,
``rank``, ``shuffle``, ``seed``, ``drop_last``, ``set_epoch``, ``len`` =
samples per replica), its order dpa's world-size-invariant shuffle
(:class:`dpa.distributed.RankLayout`).  Each index it yields is a
:class:`SampleKey`, an ``int`` that carries its epoch, so that
:class:`dpa.torch.ParamDataset` gives the sample that epoch's parameters in
any DataLoader worker -- persistent workers included, which never see
``set_epoch`` -- and any ``Dataset`` indexes with it as with an int.

:class:`DistributedParamSampler` is the batch sampler of ``(sample_ids,
params)`` batches (:class:`dpa.torch.ParamBatch`), for
:class:`dpa.torch.ParamBatchDataset`; it takes the same arguments.

Both resume: ``state_dict``/``load_state_dict`` (and, for the index sampler,
a stateful iterator), so torchdata's ``StatefulDataLoader`` resumes mid-epoch
exactly; a state may be loaded at another world size (:mod:`dpa.torch.state`).

Defaults are what a training run expects: new parameters every epoch
(``scheme="philox"``, ``epoch_params=True``); ``scheme="dpa",
epoch_params=False`` gives DPA 0.2.1's fixed parameters.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sized
from typing import Any

from torch.utils.data import Sampler, get_worker_info

from .._validate import check_bool, check_choice, check_instance, check_int, \
    check_non_negative_int, check_positive_int
from ..config import DEFAULT_CONFIG, AugmentationConfig
from ..distributed import UNEVEN_MODES, DistributedParamStream, RankLayout, RankSeeding, from_env
from ..seeding import MAX_PHILOX_KEY
from .params import ParamBatch
from .state import epoch_ids, layout_state, resume_point

__all__ = ["DistributedIndexSampler", "DistributedParamSampler", "SampleKey"]

#: Keys a state saved by an older version may lack, and the value it had.
_STATE_DEFAULTS = {"scheme": "dpa", "start": 0}

#: Old argument names, and their names now (``DistributedSampler``'s).
_RENAMED = {"world_size": "num_replicas", "base_seed": "seed"}


class SampleKey(int):
    """SampleKey(index, epoch)

    A dataset index (an ``int``) that carries the epoch it was drawn in.
    """

    epoch: int

    def __new__(cls, index: int, epoch: int) -> SampleKey:
        key = super().__new__(cls, index)
        key.epoch = epoch
        return key

    def __reduce__(self) -> tuple[Any, ...]:
        return (SampleKey, (int(self), self.epoch))

    def __repr__(self) -> str:
        return f"SampleKey({int(self)}, epoch={self.epoch})"


def _renamed(kwargs: dict[str, Any], current: dict[str, Any], owner: str) -> dict[str, Any]:
    """``current`` with deprecated keywords (``world_size``, ``base_seed``) folded in."""
    for old, value in kwargs.items():
        new = _RENAMED.get(old)
        if new is None:
            raise TypeError(f"{owner}() got an unexpected keyword argument {old!r}")
        if current[new] is not None:
            raise TypeError(f"{owner}() got both {new!r} and its deprecated name {old!r}")
        warnings.warn(f"{owner}: {old}= is deprecated, use {new}= (DistributedSampler's name)",
                      FutureWarning, stacklevel=3)
        current[new] = value
    return current


def _layout(num_samples: Any, num_replicas: Any, rank: Any, shuffle: Any, seed: Any,
            drop_last: Any, split: Any, uneven: Any, start_id: Any) -> RankLayout:
    """The rank's layout from ``DistributedSampler``'s arguments (and dpa's two)."""
    drop_last = check_bool(drop_last, "drop_last")
    if uneven is None:
        uneven = "drop" if drop_last else "pad"
    else:
        uneven = check_choice(uneven, "uneven", UNEVEN_MODES)
        if drop_last and uneven != "drop":
            raise ValueError(f"drop_last=True means uneven='drop', but got uneven={uneven!r}")
    if num_replicas is None and rank is None:
        rank, num_replicas = from_env()[:2]
    elif num_replicas is None or rank is None:
        raise ValueError(
            "pass rank and num_replicas together (or neither, to read them from the "
            f"environment), but got rank={rank!r}, num_replicas={num_replicas!r}"
        )
    seed = check_int(seed, "seed", minimum=0, maximum=MAX_PHILOX_KEY)
    return RankLayout(num_samples, rank, num_replicas, split, uneven, shuffle, seed, start_id)


class _EpochIndices(Iterator[int]):
    """One epoch's indices of a :class:`DistributedIndexSampler`, resumable.

    ``state_dict`` is ``{"yielded": k}``; ``load_state_dict`` moves to the
    ``k``-th index (torchdata's ``StatefulDataLoader`` calls both).
    """

    _CHUNK = 4096

    def __init__(self, sampler: DistributedIndexSampler, start: int, skip: int) -> None:
        self.sampler = sampler
        self.epoch = sampler.epoch
        self.start = start
        self._ids = epoch_ids(sampler.layout, self.epoch, start)
        self._move(skip)

    def _move(self, position: int) -> None:
        self.yielded = min(position, len(self._ids))
        self._chunk: list[int] = []
        self._at = 0

    def __iter__(self) -> _EpochIndices:
        return self

    def __next__(self) -> SampleKey:
        if self._at == len(self._chunk):
            a = self.yielded
            if a >= len(self._ids):
                raise StopIteration
            part = self._ids[a:a + self._CHUNK]
            self._chunk = list(part) if isinstance(part, range) else part.tolist()
            self._at = 0
        key = SampleKey(self._chunk[self._at], self.epoch)
        self._at += 1
        self.yielded += 1
        return key

    def state_dict(self) -> dict[str, Any]:
        return {"yielded": self.yielded}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._move(check_non_negative_int(state["yielded"], "yielded"))


class DistributedIndexSampler(Sampler[int]):
    """DistributedIndexSampler(dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False, *, split="strided", uneven=None)

    ``DistributedSampler`` for dpa: this rank's dataset indices, epoch by epoch.

    Parameters
    ----------
    dataset : Sized or int
        The dataset (its length is used) or the number of samples ``N``.
    num_replicas, rank : int, optional
        World size and this rank; both from :func:`dpa.distributed.from_env`
        when omitted (``torch.distributed`` or torchrun's variables).
    shuffle : bool
        A new order every epoch, keyed by ``(seed, epoch)``.
    seed : int
        The order's key, ``0 <= seed < 2**64``; the same on every rank.
    drop_last : bool
        As ``DistributedSampler``: drop the tail so that every rank has
        ``N // num_replicas`` samples; otherwise (default) pad with the
        order's first samples to ``ceil(N / num_replicas)``.
    split : {"strided", "contiguous"}
        ``"strided"`` (``DistributedSampler``'s: rank ``r`` takes positions
        ``r, r + W, ...``) or DPA's contiguous blocks.
    uneven : {"pad", "drop", "keep"}, optional
        What ``drop_last`` chooses (``"pad"`` or ``"drop"``), or ``"keep"``:
        no padding, every sample exactly once, ranks differing by one.

    Notes
    -----
    ``len(sampler)`` is the samples per replica.  Call :meth:`set_epoch`
    every epoch, as with ``DistributedSampler``.  The indices are
    :class:`SampleKey` values: ints that also carry the epoch.

    The order is a Feistel permutation, not ``torch.randperm``, so it differs
    from ``DistributedSampler``'s; the split, padding and dropping are the
    same (``tests/test_torch_samplers.py`` compares the two unshuffled).
    """

    def __init__(self, dataset: Sized | int, num_replicas: int | None = None,
                 rank: int | None = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, *, split: str = "strided",
                 uneven: str | None = None) -> None:
        n = dataset if isinstance(dataset, int) and not isinstance(dataset, bool) else None
        if n is None:
            if not isinstance(dataset, Sized):
                raise TypeError("dataset should be a sized dataset or a number of samples, but "
                                f"got {type(dataset).__name__}")
            n = len(dataset)
        self.layout = _layout(n, num_replicas, rank, shuffle, seed, drop_last, split, uneven, 0)
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (start, skip) for the next __iter__
        self._iterator: _EpochIndices | None = None

    num_replicas = property(lambda self: self.layout.world_size)
    rank = property(lambda self: self.layout.rank)
    shuffle = property(lambda self: self.layout.shuffle)
    seed = property(lambda self: self.layout.base_seed)
    drop_last = property(lambda self: self.layout.uneven == "drop")

    def __repr__(self) -> str:
        lay = self.layout
        return (f"DistributedIndexSampler(num_samples={lay.num_samples}, num_replicas="
                f"{lay.world_size}, rank={lay.rank}, shuffle={lay.shuffle}, seed={lay.base_seed}, "
                f"uneven={lay.uneven!r}, split={lay.split!r}, epoch={self.epoch})")

    def __len__(self) -> int:
        return len(self.layout)

    def __iter__(self) -> _EpochIndices:
        start, skip = self._resume or (0, 0)
        self._resume = None
        self._iterator = _EpochIndices(self, start, skip)
        return self._iterator

    def set_epoch(self, epoch: int) -> None:
        """set_epoch(epoch)

        Use ``epoch``'s order next.  Call it at the start of every epoch.
        Moving to another epoch drops a pending resume point.
        """
        epoch = check_int(epoch, "epoch", minimum=0, maximum=2**32 - 1)
        if epoch != self.epoch:
            self._resume = None
        self.epoch = epoch

    def state_dict(self) -> dict[str, Any]:
        """The epoch and how far this rank's iteration got, with the layout.

        The position is that of the last iterator made (what the sampler has
        handed out); with DataLoader workers the loader runs ahead, which
        torchdata's ``StatefulDataLoader`` accounts for: use it to resume
        mid-epoch with workers.
        """
        it = self._iterator
        if it is not None and it.epoch == self.epoch:
            start, done = it.start, it.yielded
        else:
            start, done = self._resume or (0, 0)
        return {"epoch": self.epoch, "start": start, "done": done, **layout_state(self.layout)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """load_state_dict(state)

        Resume where :meth:`state_dict` was taken (at another world size
        too, with ``split="strided"``: :mod:`dpa.torch.state`).
        """
        if not isinstance(state, dict):
            raise TypeError(f"state should be a dict, but got {type(state).__name__}")
        state = {**_STATE_DEFAULTS, **state}
        start, skip = resume_point(state, self.layout, 1)
        self.epoch = check_int(state["epoch"], "epoch", minimum=0, maximum=2**32 - 1)
        self._resume = (start, skip)
        self._iterator = None


class DistributedParamSampler(Sampler):
    """DistributedParamSampler(num_samples, batch_size, config=None, *, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False, scheme="philox", seeding=None, epoch_params=True, split="strided", uneven=None, drop_last_batch=False, start_id=0, as_tensors=True, threads=None)

    Batches of ``(sample_ids, params)`` for one rank, epoch by epoch.

    Parameters
    ----------
    num_samples : int
        Samples across all ranks; ids ``start_id .. start_id + num_samples - 1``.
    batch_size : int
        Samples per batch, ``>= 1``.
    config : AugmentationConfig, optional
        DPA's defaults when omitted.
    num_replicas, rank, shuffle, seed, drop_last, split, uneven
        As :class:`DistributedIndexSampler` (``world_size`` and
        ``base_seed`` are deprecated names of ``num_replicas`` and ``seed``).
        ``seed`` also keys the parameters and the pixel noise.
    scheme : {"philox", "dpa"}
        ``"philox"`` (default): ``philox-v1``; a sample's parameters are
        ``dpa.generate([id], config, scheme="philox", base_seed=seed,
        epoch=epoch if epoch_params else 0)``.  ``"dpa"``: DPA's SHA-256 chain.
    seeding : {"sample", "rank"}, optional
        ``"sample"`` (default): parameters depend on the sample id and the
        seed only, the same at any world size.  ``"rank"``: DPA's rank-aware
        seeding (``scheme="dpa"`` only).
    epoch_params : bool
        New parameters every epoch (default).  ``scheme="dpa",
        epoch_params=False`` (with ``seed=0``) gives DPA 0.2.1's parameters.
    drop_last_batch : bool
        Drop this rank's last batch if it is short (``BatchSampler``'s
        ``drop_last``; this argument's name before ``drop_last`` took
        ``DistributedSampler``'s meaning).
    start_id : int
        First sample id.
    as_tensors : bool
        Yield :class:`~dpa.torch.ParamBatch` values (default), or ``(ids,
        records)`` NumPy arrays.
    threads : int, optional
        Threads per batch for the parameters.

    Notes
    -----
    ``len(sampler)`` is this rank's batch count.  Iterated in a DataLoader
    worker it yields only that worker's batches (``i, i + k, ...``), which
    the loader interleaves back into the sampler's order.

    Resuming: :meth:`state_dict` records the epoch and the next batch;
    after :meth:`load_state_dict` iteration starts there (also at another
    world size with ``split="strided"``) until :meth:`set_epoch` moves to
    another epoch.  In the main process the sampler counts the batches it
    handed out; through :class:`~dpa.torch.ParamBatchDataset` and torchdata's
    ``StatefulDataLoader`` the workers' positions are saved instead; with a
    plain DataLoader with workers pass ``state_dict(batches_seen=k)``.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        config: AugmentationConfig | None = None,
        *,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        drop_last: bool = False,
        scheme: str = "philox",
        seeding: str | None = None,
        epoch_params: bool = True,
        split: str = "strided",
        uneven: str | None = None,
        drop_last_batch: bool = False,
        start_id: int = 0,
        as_tensors: bool = True,
        threads: int | None = None,
        **deprecated: Any,
    ) -> None:
        names = _renamed(deprecated, {"num_replicas": num_replicas, "seed": seed},
                         "DistributedParamSampler")
        num_replicas, seed = names["num_replicas"], names["seed"] or 0
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.drop_last_batch = check_bool(drop_last_batch, "drop_last_batch")
        self.as_tensors = check_bool(as_tensors, "as_tensors")
        self.layout = _layout(num_samples, num_replicas, rank, shuffle, seed, drop_last, split,
                              uneven, start_id)
        if seeding is None:
            seeding = "sample"
        self.rank_seeding = RankSeeding(scheme, seeding, self.layout.base_seed, epoch_params)
        self.config = DEFAULT_CONFIG if config is None else check_instance(
            config, "config", AugmentationConfig, "an AugmentationConfig")
        self.threads = None if threads is None else check_positive_int(threads, "threads")
        self.epoch = 0
        self._start = 0  # positions consumed before this layout (a world-size change)
        self._resume = 0  # batch the epoch's iteration starts at (load_state_dict)
        self._next = 0  # batches of this epoch handed out in this process
        self._stream_cache: tuple[tuple[int, int], Any] | None = None

    # The settings, read from the two values.
    num_samples = property(lambda self: self.layout.num_samples)
    rank = property(lambda self: self.layout.rank)
    num_replicas = property(lambda self: self.layout.world_size)
    world_size = num_replicas
    split = property(lambda self: self.layout.split)
    uneven = property(lambda self: self.layout.uneven)
    drop_last = property(lambda self: self.layout.uneven == "drop")
    shuffle = property(lambda self: self.layout.shuffle)
    start_id = property(lambda self: self.layout.start_id)
    scheme = property(lambda self: self.rank_seeding.scheme)
    seeding = property(lambda self: self.rank_seeding.mode)
    seed = property(lambda self: self.rank_seeding.base_seed)
    base_seed = seed
    epoch_params = property(lambda self: self.rank_seeding.epoch_params)

    def __repr__(self) -> str:
        return (
            f"DistributedParamSampler(num_samples={self.num_samples}, batch_size="
            f"{self.batch_size}, num_replicas={self.num_replicas}, rank={self.rank}, scheme="
            f"{self.scheme!r}, seeding={self.seeding!r}, split={self.split!r}, uneven="
            f"{self.uneven!r}, shuffle={self.shuffle}, epoch={self.epoch})"
        )

    @property
    def noise_epoch(self) -> int:
        """The epoch the parameters and the pixel noise are keyed by."""
        return self.epoch if self.epoch_params else 0

    def _stream(self) -> tuple[DistributedParamStream, Any]:
        """This epoch's stream (seeding) and ids, cached per epoch and start."""
        key = (self.epoch, self._start)
        cached = self._stream_cache
        if cached is None or cached[0] != key:
            stream = DistributedParamStream.from_layout(self.layout, self.rank_seeding,
                                                        self.config, epoch=self.epoch)
            ids = epoch_ids(self.layout, self.epoch, self._start) if self._start else stream.ids
            cached = self._stream_cache = (key, (stream, ids))
        return cached[1]

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers started by spawn/forkserver get a pickled copy:
        # send the settings, not the epoch's id array (rebuilt on first use).
        state = self.__dict__.copy()
        state["_stream_cache"] = None
        return state

    def __len__(self) -> int:
        samples = len(self._stream()[1]) if self._start else len(self.layout)
        full, part = divmod(samples, self.batch_size)
        return full + (part > 0 and not self.drop_last_batch)

    @property
    def start_batch(self) -> int:
        """The batch this epoch's iteration starts at (0 unless resumed)."""
        return self._resume

    def batches(self, first: int = 0, step: int = 1) -> Iterator[Any]:
        """Batches ``first, first + step, ...`` of this epoch (a worker's share)."""
        stream, ids = self._stream()
        size, count = self.batch_size, len(self)
        seed, epoch = self.seed, self.noise_epoch
        for k in range(first, count, step):
            records = stream.generate(ids[k * size:(k + 1) * size], threads=self.threads)
            if step == 1:
                self._next = k + 1
            if self.as_tensors:
                yield ParamBatch.from_records(records, seed, epoch)
            else:
                yield records["sample_id"].copy(), records

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        if info is None:
            self._next = self._resume
            return self.batches(self._resume)
        return self.batches(self._resume + info.id, info.num_workers)

    def set_epoch(self, epoch: int) -> None:
        """set_epoch(epoch)

        Use ``epoch``'s order (and parameters, with ``epoch_params``) next.

        Call it at the start of every epoch: without it every epoch repeats
        the same order.  Moving to another epoch clears a resume point.
        """
        epoch = check_int(epoch, "epoch", minimum=0, maximum=2**32 - 1)
        if epoch != self.epoch:
            self._resume = self._next = self._start = 0
        self.epoch = epoch

    # ---- checkpointing -----------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        """What a state applies to besides the layout: seeding, batching, config."""
        return {**self.rank_seeding.to_dict(), "batch_size": self.batch_size,
                "drop_last_batch": self.drop_last_batch, "config": self.config.to_dict()}

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
        return {"epoch": self.epoch, "batch": batch, "start": self._start,
                **layout_state(self.layout), **self._settings()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """load_state_dict(state)

        Resume where :meth:`state_dict` was taken: the next iteration yields
        exactly the batches an uninterrupted run would have yielded next (at
        another world size, the rest of the epoch: :mod:`dpa.torch.state`).

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
        if "drop_last_batch" not in state and "drop_last" in state:  # saved before the rename
            state["drop_last_batch"] = state["drop_last"]
        missing = [k for k in ("epoch", "batch", *mine) if k not in state]
        if missing:
            raise ValueError(f"state is missing {missing}")
        diff = [f"{k}={state[k]!r} (this sampler: {mine[k]!r})"
                for k in mine if state[k] != mine[k]]
        if diff:
            raise ValueError("state was saved with other settings: " + ", ".join(diff))
        epoch = check_int(state["epoch"], "epoch", minimum=0, maximum=2**32 - 1)
        batch = check_int(state["batch"], "batch")
        start, skip = resume_point({**state, "done": batch}, self.layout, self.batch_size)
        self.epoch, self._start, self._stream_cache = epoch, start, None
        count = len(self)
        if not 0 <= skip <= count:
            raise ValueError(f"batch should be in [0, {count}], but got batch={skip}")
        self._resume = self._next = skip

