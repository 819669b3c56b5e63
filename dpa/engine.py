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
from ._validate import (check_bool, check_env_int, check_id_range, check_ids, check_int, check_out,
                        check_positive_int)
from .config import DEFAULT_CONFIG, AugmentationConfig
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
    "generate_background",
    "generate_seeded",
    "get_kernel_paths",
    "record_dtype",
    "set_kernel_paths",
    "set_pool_limit",
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


# ---- how a call is cut into work -------------------------------------------------

#: A thread is given a part of a call only if the part is at least this much
#: work (nanoseconds, from the scheme's cost per record): waking a worker that
#: spins costs about a microsecond, and the caller never waits for one that
#: sleeps (``src/team.h``), but a part must pay for the handover and for the
#: last piece's imbalance.
_MIN_PART_NS = 25_000
#: Smallest guided piece, in nanoseconds of work (then rounded up to the
#: kernel's group of records).
_MIN_PIECE_NS = 4_000
#: Largest guided piece, in nanoseconds of work.  It bounds how long a
#: KeyboardInterrupt waits for the pieces running when it arrives, and how
#: long one participant may still be working when the others have run out of
#: pieces (a caller that joins a job late, a thread descheduled mid-piece).
_MAX_PIECE_NS = 1_000_000
#: A caller waiting for a background job is woken this long (nanoseconds of
#: work per thread) before the job's end, and spins from then: waking a
#: sleeping thread costs tens of microseconds on a virtual machine, which
#: would otherwise leave the workers idle at every block of a stream.
_NOTIFY_NS = 200_000


class WorkSplit:
    """WorkSplit(ns, grain)

    How a fill of records (or any kernel's items) that cost ``ns``
    nanoseconds each, ``grain`` at a time (the kernel's group), is cut into
    parts and guided pieces by the constants above.  :class:`_Plan` is one for
    a scheme's records; ``dpa.torch.noise`` has one for the pixel noise.
    """

    __slots__ = ("part_records", "chunk", "max_chunk", "grain", "notify_records")

    def __init__(self, ns: float, grain: int) -> None:
        self.grain = grain
        self.part_records = max(1, int(_MIN_PART_NS / ns))
        self.chunk = max(1, -(-int(_MIN_PIECE_NS / ns) // grain)) * grain
        self.max_chunk = max(self.chunk, int(_MAX_PIECE_NS / ns) // grain * grain)
        self.notify_records = int(_NOTIFY_NS / ns)

    def parts(self, n: int, threads: int | None) -> int:
        """Parts of a call of ``n`` records: one per thread, each worth a part."""
        most = n // self.part_records
        if most < 2:
            return 1
        if threads is None:
            threads = default_threads()
        return max(1, min(threads, most, _team.MAX_PARTS))

    def layout(self, rows: tuple[int, int] = (0, 0)) -> tuple[int, ...]:
        """``(chunk, max_chunk, grain, row_len, row_step)`` for ``_core.fill``:
        the team's guided pieces, and the rows of :class:`IdRows` ids."""
        return (self.chunk, self.max_chunk, self.grain) + rows

    def fill(self, kernel: Any, out: np.ndarray, n: int, ids: np.ndarray | None, first: int,
             step: int, hash_offset: int, threads: int | None,
             rows: tuple[int, int] = (0, 0)) -> None:
        """Fill records ``0 .. n-1`` of ``out`` with ``kernel`` and the paths in
        effect: in this thread if the call is one part, else on the team, one
        part per thread (the arguments as ``_core.fill``'s)."""
        parts = self.parts(n, threads)
        if parts == 1:
            _core.fill(kernel, out, n, ids, first, step, hash_offset, _paths, None, 0,
                       self.max_chunk, self.grain, *rows)
        else:
            _team.fill(kernel, out, [n * k // parts for k in range(parts + 1)], ids, first,
                       step, hash_offset, _paths, *self.layout(rows))


class _Plan(WorkSplit):
    """What a call needs of one (seeding, config): the compiled kernel and how
    to cut records into parts and pieces, built once per pair (see :func:`plan`)."""

    __slots__ = ("seeding", "config", "kernel", "has_hash")

    def __init__(self, seeding: Seeding, config: AugmentationConfig) -> None:
        self.seeding = seeding
        self.config = config
        self.kernel = seeding.kernel(config)
        self.has_hash = seeding.has_hash
        super().__init__(seeding.ns_per_record, seeding.group)


class IdRows:
    """IdRows(first, step, row_len, row_step, rows)

    Sample ids laid out in rows, never materialised: record ``j`` of row ``r``
    (record ``r * row_len + j``) is sample ``first + r * row_step + j * step``.
    Round-robin batches of a range are rows of one such job.  Accepted as
    ``ids`` by :func:`generate_seeded` and :func:`generate_background`
    (internal; the batch engine makes them).
    """

    __slots__ = ("first", "step", "row_len", "row_step", "rows")

    def __init__(self, first: int, step: int, row_len: int, row_step: int, rows: int) -> None:
        if row_len < 1 or rows < 1:
            raise ValueError(f"IdRows needs row_len and rows >= 1, got {row_len}, {rows}")
        last_col = first + (row_len - 1) * step
        corners = (first, last_col, first + (rows - 1) * row_step,
                   last_col + (rows - 1) * row_step)
        if min(corners) < 0 or max(corners) > MAX_SAMPLE_ID:
            raise ValueError("IdRows holds sample ids outside [0, 2**63-1]")
        # A step that is never used may not fit in int64: make it harmless.
        self.first, self.step, self.row_len, self.row_step, self.rows = (
            first, step if row_len > 1 else 1, row_len, row_step if rows > 1 else 0, rows)

    def __len__(self) -> int:
        return self.row_len * self.rows


#: Plans by identity of (seeding, config): a lookup costs a dict probe, not
#: hashing the values.  Each entry holds its seeding and config, so their ids
#: stay theirs; bounded, cleared when full.
_PLANS: dict[tuple[int, int], _Plan] = {}
_MAX_PLANS = 256


def plan(seeding: Seeding, config: AugmentationConfig | None) -> _Plan:
    """The cached :class:`_Plan` of ``seeding`` and ``config`` (None: DPA's defaults)."""
    if config is None:
        config = DEFAULT_CONFIG
    p = _PLANS.get((id(seeding), id(config)))
    if p is None or p.config is not config or p.seeding is not seeding:
        p = _Plan(seeding, config)  # checks the config
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        _PLANS[(id(seeding), id(config))] = p
    return p


#: Seedings of ``generate``'s keywords, for keywords of exact types (a bool
#: equals an int as a key, and must still be refused by the checks).
_SEEDINGS: dict[tuple[Any, ...], Seeding] = {}


def _seeding(scheme: Any, rank: Any, base_seed: Any, epoch: Any) -> Seeding:
    if type(scheme) is str and type(base_seed) is int and type(epoch) is int \
            and (rank is None or type(rank) is int):
        key = (scheme, rank, base_seed, epoch)
        seeding = _SEEDINGS.get(key)
        if seeding is None:
            seeding = Seeding.from_args(scheme, rank, base_seed, epoch)
            if len(_SEEDINGS) >= _MAX_PLANS:
                _SEEDINGS.clear()
            _SEEDINGS[key] = seeding
        return seeding
    return Seeding.from_args(scheme, rank, base_seed, epoch)


# ---- generating --------------------------------------------------------------


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
    return generate_seeded(ids, config, _seeding(scheme, rank, base_seed, epoch), out=out,
                           threads=threads, hash=hash)


def _prepare(ids: Any, config: AugmentationConfig | None, seeding: Seeding,
             out: np.ndarray | None, threads: Any, hash: Any) -> tuple[Any, ...]:
    """Check a call's arguments: ``(plan, n, id_array, first, step, rows, out,
    hash_offset, threads)``, ``out`` allocated if not given."""
    p = plan(seeding, config)
    if hash is False:
        hash_offset, dtype = -1, PARAM_DTYPE
    elif check_bool(hash, "hash"):
        if not p.has_hash:
            raise ValueError(f"hash=True needs scheme='dpa'; scheme={seeding.scheme!r} has "
                             "no hash")
        hash_offset, dtype = HASH_OFFSET, PARAM_HASH_DTYPE
    else:
        hash_offset, dtype = -1, PARAM_DTYPE
    if threads is not None:
        threads = check_positive_int(threads, "threads")
    rows = (0, 0)
    if type(ids) is range:
        n, first, step = check_id_range(ids)
        id_array = None
    elif type(ids) is IdRows:
        n, first, step, id_array = len(ids), ids.first, ids.step, None
        rows = (ids.row_len, ids.row_step)
    else:
        n, ids_ = check_ids(ids)
        if isinstance(ids_, range):
            _, first, step = check_id_range(ids_)
            id_array = None
        else:
            id_array, first, step = np.ascontiguousarray(ids_), 0, 0
    out = records(n, dtype) if out is None else check_out(out, n, dtype)
    if id_array is not None and n and np.may_share_memory(id_array, out):
        id_array = id_array.copy()  # the ids would be overwritten as they are read
    return p, n, id_array, first, step, rows, out, hash_offset, threads


def generate_seeded(ids: Any, config: AugmentationConfig | None, seeding: Seeding, *,
                    out: np.ndarray | None = None, threads: int | None = None,
                    hash: bool = False) -> np.ndarray:
    """generate_seeded(ids, config, seeding, *, out=None, threads=None, hash=False)

    :func:`generate` with its seeding given as a :class:`dpa.Seeding` value:
    what streams, samplers and verification call, so that every path seeds
    records the same way.
    """
    if type(ids) is range and out is None and hash is False and threads is None:
        # The lean path of a small call of a range: one part, nothing else to check.
        p = plan(seeding, config)
        n, first, step = check_id_range(ids)
        if n < 2 * p.part_records:
            out = records(n, PARAM_DTYPE)
            if n:
                _core.fill(p.kernel, out, n, None, first, step, -1, _paths, None, 0,
                           p.max_chunk, p.grain)
            return out
    p, n, id_array, first, step, rows, out, hash_offset, threads = _prepare(
        ids, config, seeding, out, threads, hash)
    if n == 0:
        return out
    p.fill(p.kernel, out, n, id_array, first, step, hash_offset, threads, rows)
    return out


def generate_background(ids: Any, config: AugmentationConfig | None, seeding: Seeding, *,
                        out: np.ndarray | None = None, threads: int | None = None,
                        hash: bool = False) -> _team.Background:
    """generate_background(ids, config, seeding, *, out=None, threads=None, hash=False)

    Start :func:`generate_seeded` on the worker team and return at once.

    The workers (``threads``, default :func:`default_threads`, fewer for a
    small call) fill ``out`` while the caller goes on; ``.wait()`` on the
    returned :class:`dpa._team.Background` blocks until every record is
    written and returns the array, ``.done()`` says whether it is, and
    ``.cancel()`` stops the workers early.  Until ``wait`` returned, ``out``
    belongs to the job: the caller must not hand it out, and ids given as an
    array must not change.  The records are those :func:`generate_seeded`
    gives, bit for bit.
    """
    p, n, id_array, first, step, rows, out, hash_offset, threads = _prepare(
        ids, config, seeding, out, threads, hash)
    if threads is None:
        threads = default_threads()
    workers = max(1, min(threads, n // p.part_records, _team.MAX_PARTS - 1))
    return _team.start(p.kernel, out, workers if n else 0, id_array, first, step,
                       hash_offset, _paths, p.layout(rows), workers * p.notify_records)


# ---- result arrays ------------------------------------------------------------------


def _initial_pool_limit() -> int:
    """``DPA_POOL_MB`` MiB if set, else 1 GiB or an eighth of the machine's memory."""
    mb = check_env_int("DPA_POOL_MB", 0, "a non-negative integer")
    if mb is not None:
        return mb << 20
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        physical = 8 << 30
    return min(1 << 30, physical // 8)


_pool_limit = _initial_pool_limit()
_core.pool_set_limit(_pool_limit)


def set_pool_limit(nbytes: int) -> int:
    """set_pool_limit(nbytes)

    Bound the memory kept for new result arrays; returns the previous bound.

    A result array of at least 1 MiB that :func:`generate` allocates (no
    ``out=``) comes from a pool of mappings whose pages were touched before:
    when such an array and all its views are gone, its memory is kept, up to
    ``nbytes`` in all (oldest first out), for the next result of about the
    same size, which then costs no page faults.  ``0`` keeps nothing (every
    large result is fresh memory).  The initial bound is ``DPA_POOL_MB``
    MiB, or else 1 GiB or an eighth of the machine's memory, whichever is
    smaller.  An array is never reused while it is alive.
    """
    global _pool_limit
    nbytes = check_int(nbytes, "nbytes", minimum=0)
    previous, _pool_limit = _pool_limit, nbytes
    _core.pool_set_limit(nbytes)
    return previous


def records(n: int, dtype: np.dtype) -> np.ndarray:
    """A new record array of ``n`` records of ``dtype`` (what ``generate``
    returns): from the pool of touched pages when large (:func:`set_pool_limit`)."""
    if n * dtype.itemsize >= _core.POOL_MIN_BYTES and _pool_limit:
        return _core.empty_pooled(n, dtype)
    return _core.empty_records(n, dtype)
