"""Reproducible pixel noise: ``philox-normal-v1`` from the compiled kernel.

The noise of pixel ``j`` of sample ``id`` (``j`` the pixel's index in the
sample's ``(C, H, W)`` order, whatever the memory layout) is a pure function
of ``(seed, epoch, id, j)`` and the sample's noise std: the same binary32
bits in any batch, worker, rank, process or machine (docs/schemes.md, "The
philox-normal-v1 specification").  :func:`pixel_noise` fills a float32 CPU
tensor with it; the transform moves it to the images' device, where adding it
changes nothing about its bits.

The std is the batch's noise parameter rounded to float32 first, so a table
moved to a device as float32 gives the same noise as the float64 table it
came from.

Threads: the fill is a job of dpa's worker team (:mod:`dpa._team`) whose
items are the batch's values in C order (``_core.NoiseKernel``), cut by work
as ``generate`` cuts records (:class:`dpa.engine.WorkSplit`): a fill of fewer
than about 14,000 values runs in the calling thread, a larger one in up to
``threads`` parts (default :func:`dpa.default_threads`), whose threads take
guided pieces of consecutive values (within a row or across rows) until none
is left.  In a DataLoader worker, where the workers are the parallelism, it
runs in one thread.  The GIL is released throughout; a KeyboardInterrupt
stops every thread after its piece (at most about 1 ms of work) and is raised
once none writes into the output any more.  The bits never depend on any of
it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import get_worker_info

from .. import _core
from .._validate import check_int, check_positive_int
from ..engine import WorkSplit, default_threads
from .params import ParamBatch

__all__ = ["NOISE_VERSION", "pixel_noise"]

#: The noise's specification (docs/schemes.md); a change of bits is a new version.
NOISE_VERSION = "philox-normal-v1"

#: How a fill is cut: about 3.5 ns per value (the AVX2 path, one thread; the
#: portable path takes about 15), pieces in multiples of 32 values (the AVX2
#: path's step: they start on its groups when a row's length is a multiple of
#: 32 too; elsewhere the kernel's portable code fills the few values around a
#: cut, with the same bits).
_SPLIT = WorkSplit(3.5, 32)


def pixel_noise(params: ParamBatch, shape: tuple[int, ...] | torch.Size, *,
                out: torch.Tensor | None = None, threads: int | None = None) -> torch.Tensor:
    """pixel_noise(params, shape, *, out=None, threads=None)

    The batch's pixel noise, float32 on the CPU, shape ``(len(params), *shape)``.

    Parameters
    ----------
    params : ParamBatch
        Sample ids, noise stds (``params["noise"]``), seed and epochs.
    shape : tuple of int
        One sample's shape, e.g. ``(C, H, W)``; pixel ``j`` is the ``j``-th
        element in C order.  At most ``2**33`` elements.
    out : Tensor, optional
        A contiguous float32 CPU tensor of the result's shape to fill
        (reused buffers avoid fresh pages on hot paths).
    threads : int, optional
        Threads for a large fill (module docs); the values do not depend on it.

    Returns
    -------
    Tensor
        ``out`` if given.
    """
    if not isinstance(params, ParamBatch):
        raise TypeError(f"params should be a dpa.torch.ParamBatch, but got {type(params).__name__}")
    shape = tuple(check_int(s, "shape", minimum=0) for s in shape)
    n = len(params)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count > _core.NOISE_MAX_PIXELS:
        raise ValueError(f"a sample has at most 2**33 pixels for the noise, but shape={shape} "
                         f"has {count}")
    if threads is None:
        threads = 1 if get_worker_info() is not None else default_threads()
    else:
        threads = check_positive_int(threads, "threads")
    if out is None:
        out = torch.empty((n, *shape), dtype=torch.float32)
    elif (out.dtype != torch.float32 or out.device.type != "cpu" or not out.is_contiguous()
          or tuple(out.shape) != (n, *shape)):
        raise ValueError(f"out should be a contiguous float32 CPU tensor of shape {(n, *shape)}, "
                         f"but got {out.dtype} of shape {tuple(out.shape)} on {out.device}")
    stds = params.table[2].detach().to("cpu", torch.float32).to(torch.float64).numpy()
    if n and not (np.isfinite(stds).all() and (stds >= 0).all()):
        raise ValueError("noise stds should be finite and non-negative, but the batch has "
                         f"{stds[~(np.isfinite(stds) & (stds >= 0))][:3].tolist()}")
    epochs = params.epochs.numpy()
    if n and (epochs.min() < 0 or epochs.max() > 2**32 - 1):
        raise ValueError("noise epochs should lie in [0, 2**32)")
    if not 0 <= params.seed < 2**64:
        raise ValueError(f"the noise seed should lie in [0, 2**64), but is {params.seed}")
    ids = params.sample_ids.numpy()
    if n and ids.min() < 0:
        raise ValueError("sample ids should be non-negative")
    kernel = _core.NoiseKernel(params.seed, np.ascontiguousarray(ids),
                               epochs.astype(np.uint32), stds, out.numpy().reshape(n, count), 0)
    _SPLIT.fill(kernel, kernel.out, n * count, None, 0, 0, -1, threads)
    return out

