"""A batch's parameters as tensors: :class:`ParamBatch`, and how it is collated.

A :class:`ParamBatch` is what every torch-facing class of dpa delivers and
what :func:`dpa.torch.apply_params` takes: the batch's sample ids, its five
parameters and what its pixel noise is keyed by (the seed and each sample's
epoch), so that the noise can be made later, on any device, with the same bits.

``ParamBatch`` unpacks as ``(sample_ids, params)`` -- the pair the batch
sampler has always yielded -- so ``for sample_ids, params in sampler`` keeps
working.  Per-sample items of :class:`dpa.torch.ParamDataset` carry a
:class:`ParamRow`; ``default_collate`` turns a batch's rows back into its
``ParamBatch`` without copying (the row type is registered in torch's
``default_collate_fn_map``, the extension point ``default_collate`` documents),
so the parameters stay batched with any ``collate_fn`` built on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data._utils.collate import default_collate_fn_map

from ..config import FIELDS

__all__ = ["ParamBatch", "ParamRow", "params_to_tensors"]


def _table(records: np.ndarray) -> np.ndarray:
    """The five fields of ``records`` as rows of one ``(5, n)`` float64 array."""
    table = np.empty((len(FIELDS), records.shape[0]), dtype=np.float64)
    for row, field in enumerate(FIELDS):
        table[row] = records[field]
    return table


def params_to_tensors(records: np.ndarray) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """params_to_tensors(records)

    ``(sample_ids, params)`` tensors from records of :func:`dpa.generate`.

    ``sample_ids`` is an int64 tensor; ``params`` maps each field name to a
    float64 tensor, the rows of one ``(5, n)`` tensor (no per-sample Python
    loop).  Records with or without the ``hash`` field work; the hash is not
    converted.  :meth:`ParamBatch.from_records` is the same with the noise
    keys attached.
    """
    ids = torch.from_numpy(np.ascontiguousarray(records["sample_id"]))
    values = torch.from_numpy(_table(records))
    return ids, {field: values[row] for row, field in enumerate(FIELDS)}


class ParamBatch:
    """ParamBatch(sample_ids, table, seed=0, epochs=None)

    The parameters of a batch of samples, and what their pixel noise is keyed by.

    Parameters
    ----------
    sample_ids : Tensor
        int64, shape ``(n,)``, on the CPU (the noise kernel reads them there).
    table : Tensor
        Shape ``(5, n)``: row ``k`` is field ``dpa.FIELDS[k]`` (rotation,
        brightness, noise, scale, contrast).  float64 on the CPU as generated;
        :meth:`to` moves it, as float32 by default, to the images' device.
    seed : int
        The noise key, ``0 <= seed < 2**64`` (the parameters' ``seed``).
    epochs : Tensor, optional
        int64, shape ``(n,)``, on the CPU: each sample's noise epoch (the
        parameters' epoch, 0 when they do not change per epoch); 0 if omitted.

    ``params`` maps each field to its row (views, no copy); ``len(batch)`` is
    ``n``; ``sample_ids, params = batch`` (and ``batch[0]``, ``batch[1]``)
    read it as the pair the batch sampler always yielded.
    """

    __slots__ = ("epochs", "sample_ids", "seed", "table")

    def __init__(self, sample_ids: torch.Tensor, table: torch.Tensor, seed: int = 0,
                 epochs: torch.Tensor | None = None) -> None:
        for name, value in (("sample_ids", sample_ids), ("table", table)):
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{name} should be a torch.Tensor, but got {type(value).__name__}")
        n = sample_ids.shape[0]
        if sample_ids.dtype != torch.int64 or sample_ids.dim() != 1 \
                or sample_ids.device.type != "cpu":
            raise ValueError("sample_ids should be a 1-D int64 CPU tensor, but got "
                             f"{sample_ids.dtype} of shape {tuple(sample_ids.shape)} on "
                             f"{sample_ids.device}")
        if table.dim() != 2 or tuple(table.shape) != (len(FIELDS), n):
            raise ValueError(f"table should have shape ({len(FIELDS)}, {n}), but has shape "
                             f"{tuple(table.shape)}")
        if epochs is None:
            epochs = torch.zeros(n, dtype=torch.int64)
        elif epochs.dtype != torch.int64 or tuple(epochs.shape) != (n,) \
                or epochs.device.type != "cpu":
            raise ValueError(f"epochs should be an int64 CPU tensor of shape ({n},)")
        self.sample_ids = sample_ids
        self.table = table
        self.seed = int(seed)
        self.epochs = epochs

    @classmethod
    def from_records(cls, records: np.ndarray, seed: int = 0, epoch: int = 0) -> ParamBatch:
        """from_records(records, seed=0, epoch=0)

        The batch of records of :func:`dpa.generate`, its noise keyed by
        ``seed`` and ``epoch`` (one epoch for all its samples).
        """
        ids, table = torch.from_numpy(np.ascontiguousarray(records["sample_id"])), \
            torch.from_numpy(_table(records))
        return cls(ids, table, seed, torch.full((ids.shape[0],), int(epoch), dtype=torch.int64))

    @classmethod
    def cat(cls, batches: Sequence[ParamBatch]) -> ParamBatch:
        """cat(batches)

        The batches one after another (one seed; tables on one device).
        """
        seeds = {b.seed for b in batches}
        if len(seeds) != 1:
            raise ValueError(f"batches should share one noise seed, but have seeds {sorted(seeds)}")
        return cls(torch.cat([b.sample_ids for b in batches]),
                   torch.cat([b.table for b in batches], dim=1), seeds.pop(),
                   torch.cat([b.epochs for b in batches]))

    @property
    def params(self) -> dict[str, torch.Tensor]:
        """``{field: table[k]}``, one tensor per field."""
        return {field: self.table[k] for k, field in enumerate(FIELDS)}

    def __getitem__(self, index: int) -> Any:
        """``batch[0]`` is ``sample_ids``, ``batch[1]`` is ``params``: the pair it unpacks as."""
        return (self.sample_ids, self.params)[index]

    def __len__(self) -> int:
        return self.sample_ids.shape[0]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.sample_ids, self.params))

    def __repr__(self) -> str:
        return (f"ParamBatch(n={len(self)}, seed={self.seed}, table={self.table.dtype} on "
                f"{self.table.device})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (ParamBatch, (self.sample_ids, self.table, self.seed, self.epochs))

    def to(self, device: Any = None, dtype: torch.dtype = torch.float32,
           non_blocking: bool = False) -> ParamBatch:
        """to(device=None, dtype=torch.float32, non_blocking=False)

        The same batch with its table as ``dtype`` on ``device`` (the ids and
        epochs, which only the CPU noise kernel reads, stay on the CPU).
        """
        table = self.table.to(device=device, dtype=dtype, non_blocking=non_blocking)
        return ParamBatch(self.sample_ids, table, self.seed, self.epochs)

    def select(self, index: torch.Tensor | Sequence[int]) -> ParamBatch:
        """select(index)

        The samples at positions ``index``, in that order.
        """
        index = torch.as_tensor(index, dtype=torch.int64)
        return ParamBatch(self.sample_ids[index], self.table[:, index.to(self.table.device)],
                          self.seed, self.epochs[index])


class ParamRow:
    """ParamRow(batch, index)

    Sample ``index`` of ``batch``: what :class:`dpa.torch.ParamDataset` gives
    each item, so that collating a batch's items gives back its batch.
    """

    __slots__ = ("batch", "index")

    def __init__(self, batch: ParamBatch, index: int) -> None:
        self.batch = batch
        self.index = index

    def __repr__(self) -> str:
        return f"ParamRow(sample_id={int(self.batch.sample_ids[self.index])})"


def collate_rows(rows: Sequence[ParamRow], *, collate_fn_map: Any = None) -> ParamBatch:
    """The :class:`ParamBatch` of ``rows``: their own batch when they are all
    of it in order (no copy), else the rows gathered from their batches."""
    first = rows[0].batch
    if len(first) == len(rows) and all(r.batch is first and r.index == k
                                       for k, r in enumerate(rows)):
        return first
    parts: list[ParamBatch] = []
    start = 0
    while start < len(rows):  # runs of rows from one batch, gathered at once
        batch, end = rows[start].batch, start + 1
        while end < len(rows) and rows[end].batch is batch:
            end += 1
        parts.append(batch.select([r.index for r in rows[start:end]]))
        start = end
    return parts[0] if len(parts) == 1 else ParamBatch.cat(parts)


# default_collate's documented extension point: rows of one batch collate to it.
default_collate_fn_map[ParamRow] = collate_rows
