"""Writing ``.npy`` files: :func:`save_npy` and the sizes of its batches.

A stream is claimed and generated batch by batch straight into the write
buffers of a :class:`~dpa.io.writer._PartialNpy`; arrays (or an iterable of
them) are copied in.  :func:`export_batch_size` and
:func:`export_buffer_records` size the batches and the two write buffers
within the memory budget.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validate import check_bool, check_number, check_path, check_positive_int
from ..batch import MemoryAwareBatcher
from ..records import record_dtype
from ..stream import ParamStream
from .destination import check_destination, finish_interrupted_commit
from .provenance import array_provenance, finish_provenance, stream_provenance
from .writer import ALIGN, _PartialNpy

__all__ = [
    "DEFAULT_MAX_MEMORY_MB",
    "MAX_BATCH_RECORDS",
    "WRITE_BUFFER_BATCHES",
    "SaveResult",
    "export_batch_size",
    "export_buffer_records",
    "save_npy",
]

#: Default budget for an export's or conversion's batch buffers, in MiB.
DEFAULT_MAX_MEMORY_MB = 64

#: Records per batch never exceed this.  64 Ki records (3 MiB at 48 bytes) is
#: past the size at which larger writes or kernel calls go faster (sequential
#: ``O_DIRECT`` writes reach the disk's speed from 1 MiB), and larger buffers
#: only cost more fresh pages, which on virtual machines cost more than the
#: writes; an interrupt is answered within a few hundredths of a second.
MAX_BATCH_RECORDS = 1 << 16

#: A stream export's write buffers hold up to this many batches (24 MiB of
#: 48-byte records at the largest batch), within the memory budget.
WRITE_BUFFER_BATCHES = 8


# ---- batch sizes -----------------------------------------------------------------


def _budget(max_memory_mb: float) -> int:
    """Bytes of ``max_memory_mb`` left for the two buffers' records (less the
    alignment slack of each)."""
    return int(max_memory_mb * 2**20) - 4 * ALIGN


def export_batch_size(record_bytes: int, max_memory_mb: float = DEFAULT_MAX_MEMORY_MB,
                      total: int | None = None) -> int:
    """export_batch_size(record_bytes, max_memory_mb=64, total=None)

    Records per batch for an export whose buffers may use ``max_memory_mb``.

    The export holds two batch buffers (one filled while the other is
    written), so each record costs ``2 * record_bytes``.  The batch engine's
    memory-optimized sizing decides
    (:meth:`dpa.MemoryAwareBatcher.calculate_optimal_batch_size`, which also
    keeps a margin below the memory the machine has available), within the
    budget.  The result is at least 1, at most :data:`MAX_BATCH_RECORDS` and
    at most ``total``.
    """
    max_memory_mb = check_number(max_memory_mb, "max_memory_mb", positive=True)
    per_record = 2 * record_bytes
    budget = _budget(max_memory_mb)
    if budget < per_record:
        raise ValueError(
            f"max_memory_mb={max_memory_mb} is too small for even one {record_bytes}-byte record"
        )
    batcher = MemoryAwareBatcher(max_memory_mb=max_memory_mb, min_batch_size=1,
                                 max_batch_size=MAX_BATCH_RECORDS, sample_size_bytes=per_record)
    size = int(batcher.calculate_optimal_batch_size())
    size = max(1, min(size, budget // per_record, MAX_BATCH_RECORDS))
    if total is not None:
        size = max(1, min(size, total))
    return size


def export_buffer_records(record_bytes: int, max_memory_mb: float, batch_size: int) -> int:
    """export_buffer_records(record_bytes, max_memory_mb, batch_size)

    Records per write buffer of a stream export: whole batches, up to
    :data:`WRITE_BUFFER_BATCHES` of them, the two buffers within
    ``max_memory_mb``.  Batches are generated into the buffer one after
    another and the buffer is written in one call, so the writer thread is
    handed a buffer (a thread wake-up each way, ~0.1 ms on virtual machines)
    once per several batches, not once per 3 MiB.
    """
    fits = _budget(max_memory_mb) // (2 * record_bytes * batch_size)
    return batch_size * max(1, min(WRITE_BUFFER_BATCHES, fits))


# ---- save ------------------------------------------------------------------------


@dataclass
class SaveResult:
    """What :func:`save_npy` or :func:`convert_json` wrote."""

    path: Path
    count: int
    nbytes: int
    seconds: float
    dtype: np.dtype
    resumed_from: int = 0
    direct_io: bool = False
    batch_size: int = 0
    provenance: dict | None = field(default=None, repr=False)

    @property
    def samples_per_s(self) -> float:
        """Records written per second (resumed records excluded)."""
        done = self.count - self.resumed_from
        return done / self.seconds if self.seconds > 0 else float("inf")


def save_npy(
    source: ParamStream | np.ndarray | Iterable[np.ndarray],
    path: str | os.PathLike,
    *,
    hash: bool = False,
    force: bool = False,
    resume: bool = False,
    max_memory_mb: float = DEFAULT_MAX_MEMORY_MB,
    batch_size: int | None = None,
    threads: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    provenance: dict | Callable[[], dict] | None = None,
    direct: bool | None = None,
    checkpoint_seconds: float = 1.0,
    on_batch: Callable[[np.ndarray], None] | None = None,
) -> SaveResult:
    """save_npy(source, path, *, hash=False, force=False, resume=False, max_memory_mb=64, batch_size=None, threads=None, progress=None, provenance=None, direct=None, checkpoint_seconds=1.0, on_batch=None)

    Write records to a ``.npy`` file atomically, in bounded memory.

    The file is byte-identical to ``numpy.save(path, array)`` of the same
    records.  It is written as ``path + ".partial"`` in the same directory,
    flushed (``fsync``) and renamed into place only when complete, with its
    provenance beside it (``path + ".json"``).  On an exception, including
    ``KeyboardInterrupt``, the temporary files are removed and ``path`` is
    untouched.

    Parameters
    ----------
    source : ParamStream, ndarray or iterable of ndarray
        A dpa stream (e.g. :func:`dpa.stream_augmentation_chain`): its
        remaining ids are claimed and generated batch by batch straight into
        the write buffers.  Or a 1-D array (a memmap is fine), or an iterable
        of 1-D arrays of one dtype; each array is copied before the next is
        requested, so a producer may reuse one buffer.
    path : str or PathLike
        The destination.
    hash : bool
        Stream sources: include DPA's hex digest (``PARAM_HASH_DTYPE``).
    force : bool
        Replace an existing ``path``, and discard an interrupted export's
        partial file instead of refusing.
    resume : bool
        Stream sources: continue the interrupted export of the same records
        whose partial file and journal are beside ``path`` (a process killed
        before it could clean up leaves them); the result is byte-identical to
        an uninterrupted export.  Without a partial file, start afresh.
    max_memory_mb : float
        Budget for the two batch buffers (:func:`export_batch_size`).
    batch_size : int, optional
        Records per batch, overriding the budget's choice.
    threads : int, optional
        Threads for the core kernel (stream sources).
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch (``total`` is None
        when unknown).
    provenance : dict or callable, optional
        Extra provenance keys (a callable is called once the data is written).
    direct : bool, optional
        ``O_DIRECT`` writes: ``None`` uses them where the file system does,
        ``False`` never, ``True`` insists.
    checkpoint_seconds : float
        How often progress is made durable for ``resume`` (``fdatasync`` and
        journal update).
    on_batch : callable, optional
        Called as ``on_batch(records)`` with each batch once it is in the
        write buffers, in file order, e.g. to checksum the data as it is
        written (the sharded export does).  With ``resume``, only the records
        this call writes are passed.  The array is valid during the call only.

    Returns
    -------
    SaveResult

    Raises
    ------
    OutputError
        ``path`` exists (without ``force``), its directory is missing, it cannot
        be written, the disk is full, or a partial file is in the way.
    ResumeError
        The partial file belongs to a different export.
    """
    dest = check_path(path)
    hash = check_bool(hash, "hash")
    force = check_bool(force, "force")
    resume = check_bool(resume, "resume")
    check_number(checkpoint_seconds, "checkpoint_seconds", minimum=0, finite=False)
    max_memory_mb = check_number(max_memory_mb, "max_memory_mb", positive=True)
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    if direct is not None and not isinstance(direct, bool):
        raise TypeError(f"direct should be None or a bool, but got direct={direct!r}")

    if isinstance(source, ParamStream):
        if hash and not source.param_seeding.has_hash:
            raise ValueError(f"hash=True needs scheme='dpa'; the stream's scheme is {source.scheme!r}")
        return _save_stream(source, dest, hash=hash, force=force, resume=resume,
                            max_memory_mb=max_memory_mb, batch_size=batch_size, threads=threads,
                            progress=progress, extra=provenance, direct=direct,
                            checkpoint_seconds=checkpoint_seconds, on_batch=on_batch)
    if resume:
        raise ValueError("resume=True needs a dpa stream source: other sources cannot be replayed")
    if hash:
        raise ValueError("hash=True applies to stream sources; arrays keep their own dtype")
    if isinstance(source, np.ndarray):
        arr = source
        if arr.ndim != 1:
            raise ValueError(f"source array should be 1-D, but has shape {arr.shape}")
        check_destination(dest, force)
        bs = batch_size or export_batch_size(arr.dtype.itemsize, max_memory_mb)
        chunks: Iterable[np.ndarray] = (arr[a:a + bs] for a in range(0, len(arr), bs))
        return _save_arrays(chunks, dest, count=len(arr), dtype=arr.dtype, force=force,
                            max_memory_mb=max_memory_mb, batch_size=bs, progress=progress,
                            extra=provenance, direct=direct, checkpoint_seconds=checkpoint_seconds,
                            on_batch=on_batch)
    if isinstance(source, (str, bytes, dict)) or not isinstance(source, Iterable):
        raise TypeError(
            "source should be a dpa ParamStream, a 1-D array or an iterable of arrays, "
            f"but got {type(source).__name__}"
        )
    check_destination(dest, force)
    return _save_arrays(iter(source), dest, count=None, dtype=None, force=force,
                        max_memory_mb=max_memory_mb, batch_size=batch_size, progress=progress,
                        extra=provenance, direct=direct, checkpoint_seconds=checkpoint_seconds,
                        on_batch=on_batch)


def _save_stream(stream: ParamStream, dest: Path, *, hash: bool, force: bool, resume: bool,
                 max_memory_mb: float, batch_size: int | None, threads: int | None,
                 progress, extra, direct, checkpoint_seconds, on_batch) -> SaveResult:
    ids = stream.ids[stream.position:]
    if not isinstance(ids, range):  # a shuffled or padded distributed stream's int64 ids
        ids = np.ascontiguousarray(ids, dtype=np.int64)
    dtype = record_dtype(hash)
    n = len(ids)
    bs = batch_size or export_batch_size(dtype.itemsize, max_memory_mb, n)
    bs = max(1, min(bs, max(n, 1)))
    prov = stream_provenance(stream, ids, dtype, hash)
    t0 = time.perf_counter()
    if resume:  # killed between renaming the file into place and writing its sidecar?
        final = finish_interrupted_commit(dest, prov)
        if final is not None:
            stream.claim()
            return SaveResult(dest, n, int(final.get("npy_bytes", 0)),
                              time.perf_counter() - t0, dtype, resumed_from=n, batch_size=bs,
                              provenance=final)
    check_destination(dest, force)
    part = _PartialNpy(dest, dtype, n, capacity=bs, provenance=prov, force=force, resume=resume,
                       direct=direct, checkpoint_seconds=checkpoint_seconds,
                       buffer_records=export_buffer_records(dtype.itemsize, max_memory_mb, bs))
    try:
        stream.claim()
        start = part.records_start
        if progress is not None:
            progress(start, n)
        for a in range(start, n, bs):
            b = min(a + bs, n)
            view = part.reserve(b - a)
            stream.generate(ids[a:b], out=view, hash=hash, threads=threads)
            if on_batch is not None:
                on_batch(view)
            del view
            part.commit(b - a)
            if progress is not None:
                progress(b, n)
        nbytes = part.finish(n)
        final = finish_provenance(prov, extra, n, nbytes, len(part.header))
        direct_io = part.direct
        part.commit_file(final, force)
    except BaseException:
        part.abort()
        raise
    return SaveResult(dest, n, nbytes, time.perf_counter() - t0, dtype, resumed_from=start,
                      direct_io=direct_io, batch_size=bs, provenance=final)


def _save_arrays(chunks: Iterator[np.ndarray], dest: Path, *, count: int | None,
                 dtype: np.dtype | None, force: bool, max_memory_mb: float,
                 batch_size: int | None, progress, extra, direct,
                 checkpoint_seconds, on_batch) -> SaveResult:
    t0 = time.perf_counter()
    part: _PartialNpy | None = None
    done = 0
    try:
        for arr in chunks:
            if not isinstance(arr, np.ndarray):
                raise TypeError(f"source should yield numpy arrays, but yielded {type(arr).__name__}")
            if arr.ndim != 1:
                raise ValueError(f"source arrays should be 1-D, but one has shape {arr.shape}")
            if part is None:
                dtype = arr.dtype
                if dtype.hasobject:
                    raise TypeError("arrays holding Python objects cannot be saved as .npy by dpa")
                bs = batch_size or export_batch_size(dtype.itemsize, max_memory_mb)
                part = _PartialNpy(dest, dtype, count, capacity=bs, provenance=None, force=force,
                                   resume=False, direct=direct,
                                   checkpoint_seconds=checkpoint_seconds)
            elif arr.dtype != part.dtype:
                raise ValueError(
                    f"source arrays should share one dtype: {part.dtype} first, then {arr.dtype}"
                )
            part.append(arr)
            if on_batch is not None:
                on_batch(arr)
            done += len(arr)
            if progress is not None:
                progress(done, count)
        if part is None:  # nothing at all: an empty array of the given (or dpa's) dtype
            dtype = dtype if dtype is not None else record_dtype(False)
            part = _PartialNpy(dest, dtype, count, capacity=1, provenance=None, force=force,
                               resume=False, direct=direct, checkpoint_seconds=checkpoint_seconds)
        if count is not None and done != count:
            raise ValueError(f"source yielded {done} records but {count} were announced")
        nbytes = part.finish(done)
        final = finish_provenance(array_provenance(part.dtype), extra, done, nbytes,
                                  len(part.header))
        direct_io = part.direct
        part.commit_file(final, force)
    except BaseException:
        if part is not None:
            part.abort()
        raise
    return SaveResult(dest, done, nbytes, time.perf_counter() - t0, part.dtype,
                      direct_io=direct_io, batch_size=part.capacity, provenance=final)


