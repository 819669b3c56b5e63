"""The vectorized generator: record dtypes, kernel paths, threads, ``generate``.

``generate(ids, config)`` fills a NumPy structured array with one record per
sample id.  The work is done by compiled kernels (``dpa._core``) that release
the GIL; large requests are split across persistent worker threads (Python
threads that run the compiled hand-off loop of ``src/team.h``).
Every record depends only on its sample id, the config and the seeding
(``scheme``, ``rank``, ``base_seed``), so results are identical for any
thread count, block size, id order or kernel path.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np

from . import _core
from .chain import fib_strings
from .config import FIELDS, AugmentationConfig

__all__ = [
    "PARAM_DTYPE",
    "PARAM_HASH_DTYPE",
    "SCHEMES",
    "MAX_SAMPLE_ID",
    "generate",
    "record_dtype",
    "available_kernel_paths",
    "get_kernel_paths",
    "set_kernel_paths",
    "default_threads",
]

#: Largest sample id: ids are non-negative int64.
MAX_SAMPLE_ID = 2**63 - 1

#: One record per sample: the id and the five parameters, 48 bytes.
PARAM_DTYPE = np.dtype([("sample_id", "<i8")] + [(f, "<f8") for f in FIELDS])

#: As ``PARAM_DTYPE`` plus DPA's ``hash``: the 64 hex characters of the chain
#: digest, as bytes (``rec["hash"].decode()`` gives DPA's string), 112 bytes.
PARAM_HASH_DTYPE = np.dtype(PARAM_DTYPE.descr + [("hash", "S64")])

_HASH_OFFSET = PARAM_HASH_DTYPE.fields["hash"][1]

#: Seeding schemes ``generate`` accepts.  ``"dpa"``: DPA 0.2.1's SHA-256
#: Fibonacci chain and MT19937, bit for bit.  ``"philox"``: the counter-based
#: ``philox-v1`` scheme (docs/schemes.md), a pure function of
#: ``(base_seed, epoch, sample_id)`` at memory speed.
SCHEMES = ("dpa", "philox")

#: Largest philox seed and epoch.
MAX_PHILOX_SEED = 2**64 - 1
MAX_EPOCH = 2**32 - 1


def record_dtype(hash: bool = False) -> np.dtype:
    """The record dtype ``generate`` returns: ``PARAM_HASH_DTYPE`` if ``hash``."""
    return PARAM_HASH_DTYPE if hash else PARAM_DTYPE


# ---- kernel paths ------------------------------------------------------------

_PATH_BITS = {"avx2": _core.PATH_AVX2, "sha-ni": _core.PATH_SHANI}
_CPU_PATH_BITS = _core.cpu_paths()


def available_kernel_paths() -> tuple[str, ...]:
    """Accelerated kernel paths this CPU supports, e.g. ``("avx2", "sha-ni")``."""
    return tuple(name for name, bit in _PATH_BITS.items() if _CPU_PATH_BITS & bit)


def _parse_paths(paths: str | Iterable[str]) -> int:
    if isinstance(paths, str):
        if paths == "auto":
            return _CPU_PATH_BITS
        if paths == "portable":
            return 0
        names = [p.strip() for p in paths.split(",") if p.strip()]
    else:
        names = list(paths)
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


# ---- threads -----------------------------------------------------------------

#: Below this many records per thread, splitting costs more than it saves.
_MIN_PER_THREAD = 4096


def default_threads() -> int:
    """Threads ``generate`` uses by default.

    ``DPA_NUM_THREADS`` if set, else the number of CPUs this process may run on.
    """
    env = os.environ.get("DPA_NUM_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"DPA_NUM_THREADS should be a positive integer, got {env!r}") from None
        if n < 1:
            raise ValueError(f"DPA_NUM_THREADS should be a positive integer, got {env!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


#: How long an idle worker spins for its next job before it sleeps, in
#: microseconds (``DPA_SPIN_US`` overrides; 0 sleeps at once).  About what
#: waking a sleeping thread costs on a virtual machine, so that back-to-back
#: calls (a batch loop) hand over work in under a microsecond while an idle
#: worker costs at most this much CPU time per call.
_DEFAULT_SPIN_US = 200


def _spin_ns() -> int:
    env = os.environ.get("DPA_SPIN_US")
    if not env:
        return _DEFAULT_SPIN_US * 1000
    try:
        us = int(env)
    except ValueError:
        us = -1
    if us < 0:
        raise ValueError(f"DPA_SPIN_US should be a non-negative integer, got {env!r}")
    return us * 1000


#: Smallest piece, in records, of a call shared by the worker threads.  The
#: threads take guided pieces (half their share of what is left, see
#: ``src/team.h``) down to this size, so that at the end of a call none waits
#: long for another, even when one was descheduled (shared machines): 256
#: records are a few microseconds of philox, well under a millisecond of DPA.
_MIN_PIECE = 256


class _Team:
    """The persistent worker threads that run the parts of a fill job.

    Each worker is a daemon Python thread that lives in the compiled
    ``_core.Team`` loop with the GIL released and is handed jobs through
    shared memory (``src/team.h``), so a call costs microseconds, not a
    Python round trip per thread.  One job runs at a time: a caller that
    finds the team busy (another thread is generating) runs its parts itself,
    which gives the same records.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # held while a job runs or the team grows
        self._team: Any = None
        self._threads: list[threading.Thread] = []

    def _grow(self, workers: int) -> None:
        """Start workers up to ``workers`` and wait until the new ones are in the loop."""
        if len(self._threads) >= workers:
            return
        if self._team is None:
            self._team = _core.Team(_spin_ns())
        while len(self._threads) < workers:
            index = len(self._threads) + 1
            thread = threading.Thread(target=self._team.work, args=(index,),
                                      name=f"dpa-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._team.wait_ready(len(self._threads))

    def fill(self, kernel: Any, out: np.ndarray, bounds: list[int], ids: np.ndarray | None,
             first: int, step: int, hash_offset: int, paths: int) -> None:
        """``_core.fill`` with part ``k`` in worker ``k`` when the team is free."""
        if len(bounds) == 2 or not self._lock.acquire(blocking=False):
            _core.fill(kernel, out, bounds, ids, first, step, hash_offset, paths)
            return
        try:
            self._grow(len(bounds) - 2)
            _core.fill(kernel, out, bounds, ids, first, step, hash_offset, paths, self._team,
                       _MIN_PIECE)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop the workers (at interpreter exit)."""
        with self._lock:
            if self._team is not None:
                self._team.stop()
                for thread in self._threads:
                    thread.join(timeout=5)
                self._team, self._threads = None, []


_team = _Team()
atexit.register(lambda: _team.close())


def _reset_team_after_fork() -> None:
    # A forked child (e.g. a DataLoader worker) inherits the team but not its
    # threads: start afresh there, or its jobs would wait for workers forever.
    global _team
    _team = _Team()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_team_after_fork)


def _check_threads(threads: int | None) -> int:
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads should be a positive integer, but got threads={threads!r}")
    return int(threads)


# ---- ids ---------------------------------------------------------------------


def _check_ids(ids: Any) -> tuple[int, range | np.ndarray]:
    """Validate ``ids``; return ``(count, range_or_int64_array)``."""
    if isinstance(ids, range):
        if len(ids) == 0:
            return 0, ids
        lo, hi = min(ids[0], ids[-1]), max(ids[0], ids[-1])
        if lo < 0:
            raise ValueError(f"sample ids must be non-negative, but the range holds {lo}")
        if hi > MAX_SAMPLE_ID:
            raise ValueError(f"sample ids must be at most 2**63-1, but the range holds {hi}")
        if len(ids) == 1:
            ids = range(ids[0], ids[0] + 1)
        return len(ids), ids
    if isinstance(ids, (bool, int, float, np.generic)) or ids is None:
        raise TypeError(
            f"ids should be a range or a 1-D array of integers, but got {type(ids).__name__}"
        )
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"ids should be 1-D, but got an array of shape {arr.shape}")
    if arr.dtype == np.bool_:
        raise TypeError("ids should be integers, but got a boolean array")
    if arr.dtype.kind == "O" and all(
        isinstance(v, int) and not isinstance(v, bool) for v in arr.tolist()
    ):
        bad = next(v for v in arr.tolist() if not 0 <= v <= MAX_SAMPLE_ID)
        raise ValueError(f"sample ids must be in [0, 2**63-1], but got {bad}")
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            return 0, np.empty(0, np.int64)
        raise TypeError(f"ids should be integers, but got an array of dtype {arr.dtype}")
    if arr.size:
        if arr.dtype.kind == "u" and arr.max() > MAX_SAMPLE_ID:
            raise ValueError(f"sample ids must be at most 2**63-1, but got {int(arr.max())}")
        if arr.dtype.kind == "i" and arr.min() < 0:
            raise ValueError(f"sample ids must be non-negative, but got {int(arr.min())}")
    return arr.shape[0], arr.astype(np.int64, copy=False)


def _check_out(out: Any, n: int, dtype: np.dtype) -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out should be a numpy array, but got {type(out).__name__}")
    if out.dtype != dtype:
        raise ValueError(f"out should have dtype {dtype}, but has {out.dtype}")
    if out.shape != (n,):
        raise ValueError(f"out should have shape ({n},) for {n} ids, but has shape {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError("out should be C-contiguous")
    if not out.flags.writeable:
        raise ValueError("out should be writeable")
    return out


# ---- kernels -----------------------------------------------------------------


@lru_cache(maxsize=64)
def _chain_tails(depth: int) -> tuple[np.ndarray, np.ndarray]:
    return _core.chain_tail_blocks(fib_strings(depth))


@lru_cache(maxsize=256)
def _dpa_kernel(prefix: bytes, config: AugmentationConfig) -> _core.DPAKernel:
    wk, start = _chain_tails(config.augmentation_depth)
    lows, spans = config.lows_and_spans()
    return _core.DPAKernel(prefix, wk, start, lows, spans)


def _check_int(value: Any, name: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} should be an integer, but got {name}={value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} should be >= {minimum}, but got {name}={value}")
    return value


def rank_prefix(rank: int | None, base_seed: int = 0) -> bytes:
    """The message prefix of DPA's rank-aware seeding, ``b"{base_seed}:{rank}:"``.

    ``rank=None`` gives DPA's plain seeding (no prefix); ``base_seed`` then
    must be 0, since DPA only uses it with a rank.
    """
    if rank is None:
        if _check_int(base_seed, "base_seed") != 0:
            raise ValueError("base_seed only applies to rank-aware seeding: pass rank= too")
        return b""
    rank = _check_int(rank, "rank", 0)
    base_seed = _check_int(base_seed, "base_seed", 0)  # DPA: must be non-negative
    return f"{base_seed}:{rank}:".encode()


@lru_cache(maxsize=256)
def _philox_kernel(seed: int, epoch: int, config: AugmentationConfig) -> _core.PhiloxKernel:
    lows, spans = config.lows_and_spans()
    return _core.PhiloxKernel(seed, epoch, lows, spans)


def kernel_for(
    config: AugmentationConfig | None = None,
    *,
    scheme: str = "dpa",
    rank: int | None = None,
    base_seed: int = 0,
    epoch: int = 0,
):
    """The compiled kernel for a config and seeding (validated, cached).

    Every kernel has ``fill(out, start, stop, ids, first, step, hash_offset,
    paths)``; a new
    scheme plugs in here without changing ``generate`` or its callers.
    """
    if config is None:
        config = AugmentationConfig()
    elif not isinstance(config, AugmentationConfig):
        raise TypeError(f"config should be an AugmentationConfig, but got {type(config).__name__}")
    epoch = _check_int(epoch, "epoch", 0)
    if scheme == "dpa":
        if epoch != 0:
            raise ValueError(
                f"epoch applies to scheme='philox'; DPA's scheme has no epochs, but got epoch={epoch}"
            )
        return _dpa_kernel(rank_prefix(rank, base_seed), config)
    if scheme == "philox":
        if rank is not None:
            raise ValueError(
                "rank does not apply to scheme='philox': its parameters depend only on "
                f"(base_seed, epoch, sample_id), but got rank={rank!r}"
            )
        seed = _check_int(base_seed, "base_seed", 0)
        if seed > MAX_PHILOX_SEED:
            raise ValueError(f"base_seed should be < 2**64 for scheme='philox', but got {seed}")
        if epoch > MAX_EPOCH:
            raise ValueError(f"epoch should be < 2**32, but got epoch={epoch}")
        return _philox_kernel(seed, epoch, config)
    raise ValueError(f"unknown scheme {scheme!r}; available: {list(SCHEMES)}")


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
    ids : range or 1-D array of int
        Sample ids, each in ``[0, 2**63 - 1]``, in any order, duplicates
        allowed.  A ``range`` (any step) is never materialised as a list.
    config : AugmentationConfig, optional
        Ranges and chain depth; DPA's defaults (``"moderate"``) when omitted.
    out : ndarray, optional
        A C-contiguous array of ``record_dtype(hash)`` and shape ``(len(ids),)``
        to fill instead of allocating, so that hot loops reuse one buffer.
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

    Examples
    --------
    >>> import dpa
    >>> p = dpa.generate(range(1000), dpa.get_preset("mild"))
    >>> p["rotation"][:3]  # doctest: +SKIP
    """
    kernel = kernel_for(config, scheme=scheme, rank=rank, base_seed=base_seed, epoch=epoch)
    if hash and scheme != "dpa":
        raise ValueError(f"hash=True needs scheme='dpa'; scheme={scheme!r} has no hash")
    return run_kernel(kernel, ids, out=out, threads=threads, hash=hash)


def run_kernel(kernel, ids: Any, *, out: np.ndarray | None = None, threads: int | None = None,
               hash: bool = False) -> np.ndarray:
    """Validate ``ids``, ``out`` and ``threads``, then fill records with ``kernel``.

    The one place that splits work across the worker threads; :func:`generate`
    and the distributed seeding modes (which build their own kernels) call it.
    """
    nthreads = None if threads is None else _check_threads(threads)
    n, ids_ = _check_ids(ids)
    dtype = record_dtype(bool(hash))
    out = np.empty(n, dtype) if out is None else _check_out(out, n, dtype)
    if n == 0:
        return out
    hash_offset = _HASH_OFFSET if hash else -1
    paths = _paths
    if isinstance(ids_, range):
        id_array, first, step = None, ids_[0], ids_.step
    else:
        id_array, first, step = np.ascontiguousarray(ids_), 0, 0

    if nthreads is None:  # small calls skip looking up the CPUs
        nthreads = default_threads() if n >= 2 * _MIN_PER_THREAD else 1
    parts = max(1, min(nthreads, n // _MIN_PER_THREAD, _core.MAX_PARTS))
    bounds = [n * k // parts for k in range(parts + 1)]
    _team.fill(kernel, out, bounds, id_array, first, step, hash_offset, paths)
    return out
