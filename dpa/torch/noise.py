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

Threads: a fill of at least ``_MIN_THREADED`` values in the main process is
split by rows (or, for fewer rows than threads, by pixel ranges) over
``threads`` threads (default :func:`dpa.default_threads`), each running the
kernel with the GIL released; in a DataLoader worker, where the workers are
the parallelism, it runs in one thread.  The bits never depend on it.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import torch
from torch.utils.data import get_worker_info

from .. import _core
from .._validate import check_int, check_positive_int
from ..engine import default_threads, kernel_path_bits
from .params import ParamBatch

__all__ = ["NOISE_VERSION", "pixel_noise"]

#: The noise's specification (docs/schemes.md); a change of bits is a new version.
NOISE_VERSION = "philox-normal-v1"

#: Below this many values a fill runs in one thread (a handoff costs ~0.1 ms).
_MIN_THREADED = 1 << 19

_pool: tuple[int, ThreadPoolExecutor] | None = None  # (its size, the pool)
_pool_lock = threading.Lock()


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] < workers:
            if _pool is not None:
                _pool[1].shutdown(wait=False)
            _pool = (workers, ThreadPoolExecutor(max_workers=workers,
                                                 thread_name_prefix="dpa-noise"))
        return _pool[1]


def _forget_pool() -> None:  # a forked child has the pool object but not its threads
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _fill(seed: int, ids: np.ndarray, epochs: np.ndarray, stds: np.ndarray, out: np.ndarray,
          threads: int) -> None:
    n, count = out.shape
    paths = kernel_path_bits()
    parts = min(threads, max(1, n * count // (_MIN_THREADED // 2)))
    if parts <= 1:
        _core.noise_fill(seed, ids, epochs, stds, out, 0, paths)
        return
    jobs = []
    if n >= parts:  # by rows
        bounds = [n * k // parts for k in range(parts + 1)]
        for a, b in zip(bounds, bounds[1:]):
            jobs.append((ids[a:b], epochs[a:b], stds[a:b], out[a:b], 0))
    else:  # by pixel ranges of each row, cut at multiples of 32 (the kernel's groups)
        cuts = [min(count, count * k // parts // 32 * 32) for k in range(parts)] + [count]
        for i in range(n):
            for a, b in zip(cuts, cuts[1:]):
                if b > a:
                    jobs.append((ids[i:i + 1], epochs[i:i + 1], stds[i:i + 1],
                                 out[i:i + 1, a:b], a))
    pool = _executor(parts - 1)
    head, rest = jobs[0], jobs[1:]
    futures = [pool.submit(_core.noise_fill, seed, *job[:4], job[4], paths) for job in rest]
    _core.noise_fill(seed, *head[:4], head[4], paths)
    for f in futures:
        f.result()


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
    _fill(params.seed, np.ascontiguousarray(ids), epochs.astype(np.uint32), stds,
          out.numpy().reshape(n, count), threads)
    return out

