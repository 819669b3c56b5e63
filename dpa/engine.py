"""The vectorized generator: kernel paths and ``generate``.

``generate(ids, config)`` fills a NumPy structured array with one record per
sample id.  The work is done by compiled kernels (``dpa._core``) that release
the GIL; large requests are split across the worker team (:mod:`dpa._team`).
Every record depends only on its sample id, the config and the seeding
(:class:`dpa.Seeding`), so results are identical for any thread count, block
size, id order or kernel path.

Data path of a call: the arguments are checked (:mod:`dpa._validate`); the
seeding (:meth:`Seeding.from_args`) and config give a cached compiled kernel
(:meth:`Seeding.kernel`); the ids become a range (first, step) or an int64
array; the records are cut into one part per thread and filled in place by
the team, each part by the kernel of the CPU paths in effect.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from . import _core, _team
from ._validate import check_bool, check_ids, check_out, check_positive_int
from .config import AugmentationConfig
from .records import HASH_OFFSET, MAX_SAMPLE_ID, PARAM_DTYPE, PARAM_HASH_DTYPE, record_dtype
from .seeding import SCHEMES, Seeding

__all__ = [
    "MAX_SAMPLE_ID",
    "PARAM_DTYPE",
    "PARAM_HASH_DTYPE",
    "SCHEMES",
    "available_kernel_paths",
    "default_threads",
    "generate",
    "generate_seeded",
    "get_kernel_paths",
    "record_dtype",
    "set_kernel_paths",
]

default_threads = _team.default_threads


# ---- kernel paths ------------------------------------------------------------

_PATH_BITS = {"avx2": _core.PATH_AVX2, "sha-ni": _core.PATH_SHANI, "avx512": _core.PATH_AVX512}
_CPU_PATH_BITS = _core.cpu_paths()


def available_kernel_paths() -> tuple[str, ...]:
    """Accelerated kernel paths this CPU supports, e.g. ``("avx2", "sha-ni", "avx512")``."""
    return tuple(name for name, bit in _PATH_BITS.items() if _CPU_PATH_BITS & bit)


def _parse_paths(paths: str | Iterable[str]) -> int:
    if isinstance(paths, str):
        if paths == "auto":
            return _CPU_PATH_BITS
        if paths == "portable":
            return 0
        names = [p.strip() for p in paths.split(",") if p.strip()]
    elif isinstance(paths, Iterable):
        names = list(paths)
    else:
        raise TypeError(f"paths should be 'auto', 'portable' or an iterable of path names, "
                        f"but got paths={paths!r}")
    bits = 0
    for name in names:
        if name not in _PATH_BITS:
            raise ValueError(
                f"unknown kernel path {name!r}; use 'auto', 'portable' or a subset of "
                f"{sorted(_PATH_BITS)}"
            )
        bits |= _PATH_BITS[name]
    return bits & _CPU_PATH_BITS


_paths = _parse_paths(os.environ.get("DPA_KERNEL_PATHS", "auto"))


def set_kernel_paths(paths: str | Iterable[str] = "auto") -> tuple[str, ...]:
    """Choose the kernel paths used from now on; returns the paths in effect.

    ``"auto"`` (the default) uses every accelerated path the CPU supports;
    ``"portable"`` forces the portable C path; an iterable of names (or a
    comma-separated string) such as ``["avx2"]`` enables just those, where
    supported.  All paths give bit-identical results.  The environment
    variable ``DPA_KERNEL_PATHS`` sets the initial choice with the same syntax.
    """
    global _paths
    _paths = _parse_paths(paths)
    return get_kernel_paths()


def get_kernel_paths() -> tuple[str, ...]:
    """The accelerated paths in use (empty: portable)."""
    return tuple(name for name, bit in _PATH_BITS.items() if _paths & bit)


def kernel_path_bits() -> int:
    """The paths in use as ``_core.PATH_*`` bits (for the compiled functions)."""
    return _paths


# ---- generating --------------------------------------------------------------

#: Below this many records per thread, splitting costs more than it saves.
_MIN_PER_THREAD = 4096


def generate(
    ids: range | np.ndarray | Iterable[int],
    config: AugmentationConfig | None = None,
    *,
    out: np.ndarray | None = None,
    threads: int | None = None,
    hash: bool = False,
    scheme: str = "dpa",
    rank: int | None = None,
    base_seed: int = 0,
    epoch: int = 0,
) -> np.ndarray:
    """generate(ids, config=None, *, out=None, threads=None, hash=False, scheme="dpa", rank=None, base_seed=0, epoch=0)

    Augmentation parameters for many samples, as a structured array.

    Parameters
    ----------
    ids : range, 1-D array of int, or iterable of int
        Sample ids, each in ``[0, 2**63 - 1]``, in any order, duplicates
        allowed.  A ``range`` (any step) is never materialised; an array of
        any integer dtype is used as it is; any other iterable (a list, a
        generator) is read into an array first.
    config : AugmentationConfig, optional
        Ranges and chain depth; DPA's defaults (``"moderate"``) when omitted.
    out : ndarray, optional
        A C-contiguous array of ``record_dtype(hash)`` and shape ``(len(ids),)``
        to fill instead of allocating, so that hot loops reuse one buffer.
        It may share memory with ``ids``: the ids are copied first then.
    threads : int, optional
        Threads to split the work across (default :func:`default_threads`).
        The result does not depend on it.
    hash : bool
        Include DPA's hex digest as the ``hash`` field (``PARAM_HASH_DTYPE``);
        ``scheme="dpa"`` only.
    scheme : str
        ``"dpa"`` (default): DPA 0.2.1's scheme, bit for bit.  ``"philox"``:
        the counter-based ``philox-v1`` scheme, a pure function of
        ``(base_seed, epoch, sample_id)``, many times faster.
    rank, base_seed : int, optional
        With ``scheme="dpa"``, DPA's rank-aware seeding: the chain starts from
        ``sha256(f"{base_seed}:{rank}:{sample_id}")`` as in DPA's
        ``gen_distributed_augmentation_params``.  With ``scheme="philox"``,
        ``base_seed`` is the 64-bit key and ``rank`` must be None.
    epoch : int
        ``scheme="philox"`` only: ``0 <= epoch < 2**32``, a different set of
        parameters per epoch.

    Returns
    -------
    ndarray
        ``out`` if given, else a new array; record ``k`` is sample ``ids[k]``.

    Raises
    ------
    TypeError
        An argument of the wrong type (the message names it).
    ValueError
        An argument of the right type with a wrong value.

    Examples
    --------
    >>> import dpa
    >>> p = dpa.generate(range(1000), dpa.get_preset("mild"))
    >>> p["rotation"][:3]  # doctest: +SKIP
    """
    seeding = Seeding.from_args(scheme, rank, base_seed, epoch)
    return generate_seeded(ids, config, seeding, out=out, threads=threads, hash=hash)


def generate_seeded(ids: Any, config: AugmentationConfig | None, seeding: Seeding, *,
                    out: np.ndarray | None = None, threads: int | None = None,
                    hash: bool = False) -> np.ndarray:
    """generate_seeded(ids, config, seeding, *, out=None, threads=None, hash=False)

    :func:`generate` with its seeding given as a :class:`dpa.Seeding` value:
    what streams, samplers and verification call, so that every path seeds
    records the same way.
    """
    kernel = seeding.kernel(config)
    if check_bool(hash, "hash") and not seeding.has_hash:
        raise ValueError(f"hash=True needs scheme='dpa'; scheme={seeding.scheme!r} has no hash")
    nthreads = None if threads is None else check_positive_int(threads, "threads")
    n, ids_ = check_ids(ids)
    dtype = record_dtype(hash)
    out = np.empty(n, dtype) if out is None else check_out(out, n, dtype)
    if n == 0:
        return out
    if isinstance(ids_, range):
        id_array, first, step = None, ids_[0], ids_.step
    else:
        id_array, first, step = np.ascontiguousarray(ids_), 0, 0
        if np.may_share_memory(id_array, out):  # the ids would be overwritten as read
            id_array = id_array.copy()
    if nthreads is None:  # small calls skip looking up the CPUs
        nthreads = default_threads() if n >= 2 * _MIN_PER_THREAD else 1
    parts = max(1, min(nthreads, n // _MIN_PER_THREAD, _team.MAX_PARTS))
    bounds = [n * k // parts for k in range(parts + 1)]
    _team.fill(kernel, out, bounds, id_array, first, step, HASH_OFFSET if hash else -1, _paths)
    return out
