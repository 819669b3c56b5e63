"""Datasets that hand out parameters in the DataLoader's workers.

:class:`ParamDataset` wraps a map-style dataset: item ``key`` is
``(dataset[key], params)``, its parameters made in the worker that loads it.
With ``DataLoader(..., batch_size=B)`` the loader calls ``__getitems__`` with
a batch's keys, the parameters of the whole batch come from one kernel call,
and ``default_collate`` gives ``(images, ParamBatch)``
(:mod:`dpa.torch.params`).  The epoch comes with each key from
:class:`~dpa.torch.DistributedIndexSampler` (a :class:`~dpa.torch.SampleKey`),
so persistent workers need no ``set_epoch``; with another sampler it is the
dataset's own :meth:`ParamDataset.set_epoch`, kept in shared memory so that
persistent workers see it too.

:class:`ParamBatchDataset` is the ``IterableDataset`` of a
:class:`~dpa.torch.DistributedParamSampler`'s batches: worker ``i`` of ``k``
makes batches ``i, i + k, ...``.  Its iterator has ``state_dict`` /
``load_state_dict``, so torchdata's ``StatefulDataLoader`` saves each
worker's position and resumes exactly.  Its workers hold a copy of the
sampler, so ``persistent_workers=True``, whose workers never see a later
``set_epoch``, raises ``RuntimeError`` when the second epoch starts rather
than repeat the first epoch's batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from .._validate import check_instance, check_int, check_non_negative_int, check_positive_int
from ..config import DEFAULT_CONFIG, AugmentationConfig
from ..distributed import RankSeeding
from ..engine import generate_seeded
from ..records import PARAM_DTYPE
from ..seeding import MAX_PHILOX_KEY
from .params import ParamBatch, ParamRow, _table
from .samplers import DistributedParamSampler

__all__ = ["ParamBatchDataset", "ParamDataset"]


class ParamDataset(Dataset):
    """ParamDataset(dataset, config=None, *, seed=0, scheme="philox", epoch_params=True, threads=1)

    A map-style dataset whose items carry their augmentation parameters.

    Parameters
    ----------
    dataset : Dataset
        Map-style, indexed by ints ``0 .. len - 1``; the index is the sample id.
    config : AugmentationConfig, optional
        The parameters' ranges; DPA's defaults when omitted.
    seed : int
        Keys the parameters and the pixel noise, ``0 <= seed < 2**64``.
    scheme : {"philox", "dpa"}
        ``"philox"`` (default, ``philox-v1``) or DPA's SHA-256 chain.
    epoch_params : bool
        New parameters every epoch (default).  ``scheme="dpa",
        epoch_params=False, seed=0`` gives DPA 0.2.1's parameters,
        ``dpa.generate(ids, config)``.
    threads : int
        Threads per batch for the parameters (1: the workers are the parallelism).

    Item ``key`` is ``(dataset[key], row)``; collated, a batch is
    ``(collated items, ParamBatch)``.  A sample's parameters are those of
    ``dpa.generate([key], config, scheme=scheme, base_seed=seed,
    epoch=epoch if epoch_params else 0)`` (philox), whatever the batch, worker
    or rank; its noise is keyed by ``seed`` and that epoch.
    """

    def __init__(self, dataset: Any, config: AugmentationConfig | None = None, *, seed: int = 0,
                 scheme: str = "philox", epoch_params: bool = True, threads: int = 1) -> None:
        if not isinstance(dataset, Sized):
            raise TypeError(f"dataset should be a map-style dataset with a length, but got "
                            f"{type(dataset).__name__}")
        self.dataset = dataset
        self.config = DEFAULT_CONFIG if config is None else check_instance(
            config, "config", AugmentationConfig, "an AugmentationConfig")
        seed = check_int(seed, "seed", minimum=0, maximum=MAX_PHILOX_KEY)
        self.rank_seeding = RankSeeding(scheme, "sample", seed, epoch_params)
        self.threads = check_positive_int(threads, "threads")
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    seed = property(lambda self: self.rank_seeding.base_seed)
    scheme = property(lambda self: self.rank_seeding.scheme)
    epoch_params = property(lambda self: self.rank_seeding.epoch_params)

    @property
    def epoch(self) -> int:
        """The epoch of keys that do not carry one (plain ints)."""
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        """set_epoch(epoch)

        The epoch for plain int keys (a sampler other than
        :class:`~dpa.torch.DistributedIndexSampler`): call it before each
        epoch's ``iter(loader)``.  Workers, persistent ones included, read it
        from shared memory.
        """
        self._epoch[0] = check_int(epoch, "epoch", minimum=0, maximum=2**32 - 1)

    def __len__(self) -> int:
        return len(self.dataset)

    def __repr__(self) -> str:
        return (f"ParamDataset({type(self.dataset).__name__} of {len(self)}, scheme="
                f"{self.scheme!r}, seed={self.seed}, epoch_params={self.epoch_params})")

    def params(self, keys: Sequence[int]) -> ParamBatch:
        """params(keys)

        The :class:`ParamBatch` of ``keys`` (each an int or a
        :class:`~dpa.torch.SampleKey`), made by one kernel call per epoch.
        """
        n = len(keys)
        default = self.epoch
        ids = np.fromiter((int(k) for k in keys), dtype=np.int64, count=n)
        if n and (ids.min() < 0 or ids.max() >= len(self)):
            raise IndexError(f"keys should lie in [0, {len(self)}), but got "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        epochs = np.fromiter((getattr(k, "epoch", default) for k in keys), dtype=np.int64, count=n)
        if not self.epoch_params:
            epochs[:] = 0
        groups = np.unique(epochs) if n else np.zeros(0, np.int64)
        if len(groups) <= 1:
            epoch = int(groups[0]) if len(groups) else 0
            records = generate_seeded(ids, self.config, self.rank_seeding.at(0, epoch),
                                      threads=self.threads)
        else:
            records = np.empty(n, PARAM_DTYPE)
            for epoch in groups.tolist():
                mask = epochs == epoch
                records[mask] = generate_seeded(ids[mask], self.config,
                                                self.rank_seeding.at(0, epoch),
                                                threads=self.threads)
        return ParamBatch(torch.from_numpy(ids), torch.from_numpy(_table(records)), self.seed,
                          torch.from_numpy(epochs))

    def __getitem__(self, key: int) -> tuple[Any, ParamRow]:
        batch = self.params([key])
        return self.dataset[int(key)], ParamRow(batch, 0)

    def __getitems__(self, keys: Sequence[int]) -> list[tuple[Any, ParamRow]]:
        batch = self.params(keys)
        plain = [int(k) for k in keys]
        getitems = getattr(self.dataset, "__getitems__", None)
        items = getitems(plain) if getitems is not None else [self.dataset[i] for i in plain]
        return [(item, ParamRow(batch, i)) for i, item in enumerate(items)]


class _WorkerBatches(Iterator[Any]):
    """A worker's batches of a :class:`DistributedParamSampler`, resumable.

    ``state_dict`` is the epoch, this worker's next batch and the sampler's
    settings; ``load_state_dict`` (torchdata's ``StatefulDataLoader``, in the
    worker) moves to that batch after checking the rest.
    """

    def __init__(self, sampler: DistributedParamSampler, first: int, step: int) -> None:
        self.sampler = sampler
        self.epoch = sampler.epoch
        self.step = step
        self._restart(first)

    def _restart(self, first: int) -> None:
        self.next = first
        self._batches = self.sampler.batches(first, self.step)

    def __iter__(self) -> _WorkerBatches:
        return self

    def __next__(self) -> Any:
        batch = next(self._batches)
        self.next += self.step
        return batch

    def state_dict(self) -> dict[str, Any]:
        s = self.sampler
        return {"epoch": self.epoch, "next": self.next, "step": self.step,
                "settings": s.state_dict(0)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        s = self.sampler
        if state["epoch"] != s.epoch:
            raise ValueError(
                f"the loader's state was saved in epoch {state['epoch']}, but the sampler is at "
                f"epoch {s.epoch}: call sampler.set_epoch({state['epoch']}) before iterating"
            )
        if state["step"] != self.step:
            raise ValueError(f"the loader's state was saved with {state['step']} workers, but "
                             f"this loader has {self.step}")
        saved = {k: v for k, v in state["settings"].items() if k not in ("batch",)}
        mine = {k: v for k, v in s.state_dict(0).items() if k not in ("batch",)}
        diff = [f"{k}={saved[k]!r} (this sampler: {mine.get(k)!r})"
                for k in saved if saved[k] != mine.get(k)]
        if diff:
            raise ValueError("the loader's state was saved with other settings: " + ", ".join(diff))
        self._restart(check_non_negative_int(state["next"], "next"))


class _Refuse(Iterator[Any]):
    """An iterator whose first ``next()`` raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __next__(self) -> Any:
        raise self.error


class ParamBatchDataset(IterableDataset):
    """ParamBatchDataset(sampler)

    An ``IterableDataset`` of a :class:`DistributedParamSampler`'s batches.

    Use it with ``DataLoader(dataset, batch_size=None, num_workers=k)``
    (or torchdata's ``StatefulDataLoader``, which then resumes exactly):
    each worker generates its share of the batches and the loader yields them
    in the sampler's order.  ``len(dataset)`` is the rank's batch count.
    ``persistent_workers=True`` raises ``RuntimeError`` at the second epoch
    (module docs); use the map-style :class:`ParamDataset` with
    :class:`~dpa.torch.DistributedIndexSampler` for persistent workers.
    """

    def __init__(self, sampler: DistributedParamSampler) -> None:
        if not isinstance(sampler, DistributedParamSampler):
            raise TypeError(
                f"sampler should be a DistributedParamSampler, but got {type(sampler).__name__}"
            )
        self.sampler = sampler
        self._iterated_in_worker = False

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        s = self.sampler
        if info is None:
            s._next = s.start_batch  # noqa: SLF001 - the sampler counts what it hands out
            return _WorkerBatches(s, s.start_batch, 1)
        if self._iterated_in_worker:
            # Raised from the first next(), inside the loader's fetch, so that the
            # loader re-raises it in the main process (not a dead worker).
            return _Refuse(RuntimeError(
                "ParamBatchDataset cannot be used with persistent_workers=True: its workers "
                "hold the sampler they were started with and would repeat that epoch's "
                "batches. Use persistent_workers=False, or the map-style "
                "dpa.torch.ParamDataset with dpa.torch.DistributedIndexSampler, whose keys "
                "carry the epoch"
            ))
        self._iterated_in_worker = True
        return _WorkerBatches(s, s.start_batch + info.id, info.num_workers)

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """Forward to :meth:`DistributedParamSampler.set_epoch`."""
        self.sampler.set_epoch(epoch)
