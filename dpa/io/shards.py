"""Writing sharded datasets: one task per shard, the manifest last.

:func:`write_shard` writes one shard with :func:`dpa.io.save_npy` (atomic,
in bounded memory), checksumming the records as they are written, or keeps
a shard already there whose provenance and SHA-256 check out (``--resume``;
also what makes a shard task safe to run twice).  It is a pure function of
the plan and the index, so it is what a Dask worker runs.

:func:`save_dataset` prepares the directory, writes the plan, has a *runner*
write the shards (:class:`LocalRunner`: this process, one after another;
:class:`dpa.dask.ClientRunner`: a Dask cluster), checks that every shard is
on disk, and writes the manifest atomically: a manifest never names a shard
that is missing or was not finished.  The format is :mod:`dpa.io.manifest`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .._validate import check_bool, check_path, check_positive_int
from ..stream import ParamStream
from .errors import DpaIOError, InputError, OutputError, ResumeError, os_message
from .manifest import (MANIFEST_NAME, PLAN_NAME, DatasetPlan, ShardInfo, file_sha256,
                       first_difference, is_dataset_file, manifest_doc, read_plan, shard_name,
                       write_json_atomic)
from .npy import npy_header
from .provenance import read_provenance, resume_conflict
from .save import DEFAULT_MAX_MEMORY_MB, export_batch_size, save_npy
from .files import fsync_dir

__all__ = ["SHARD_BATCH_RECORDS", "DatasetResult", "LocalRunner", "ShardRunner", "WriteOptions",
           "save_dataset", "write_shard"]

#: Records per batch of a shard unless :class:`WriteOptions` says (and the
#: budget allows): each batch is hashed right after it is generated, and a
#: 768 KiB batch of 48-byte records is still in the core's L2 cache then.  A
#: shard task uses 15% less CPU per philox record than with 64 Ki-record
#: batches (58 against 68 ns on the development VM).
SHARD_BATCH_RECORDS = 1 << 14


@dataclass(frozen=True)
class WriteOptions:
    """WriteOptions(max_memory_mb=64, threads=None, direct=None, batch_size=None)

    How each shard is written: :func:`dpa.io.save_npy`'s options of the same
    names.  ``threads=None`` leaves the choice to the runner (all CPUs in
    this process; one per task on a Dask cluster, whose worker threads are
    the parallelism); ``batch_size=None`` is the budget's choice, at most
    :data:`SHARD_BATCH_RECORDS`.
    """

    max_memory_mb: float = DEFAULT_MAX_MEMORY_MB
    threads: int | None = None
    direct: bool | None = None
    batch_size: int | None = None


# ---- one shard -----------------------------------------------------------------


def _kept_shard(path: Path, plan: DatasetPlan, index: int) -> ShardInfo | None:
    """Shard ``index`` as found at ``path``, if it is the one the plan asks for:
    its provenance agrees, and the file's size and SHA-256 are those it records."""
    if path.is_symlink() or not path.is_file():
        return None
    try:
        prov = read_provenance(path)
    except InputError:
        return None
    if prov is None or prov.get("shard") != index:
        return None
    if first_difference(prov, plan.shard_provenance(index)) is not None:
        return None
    sha, nbytes = prov.get("sha256"), prov.get("npy_bytes")
    try:
        if path.stat().st_size != nbytes or file_sha256(path) != sha:
            return None
    except OSError:
        return None
    ids = plan.shard_ids(index)
    return ShardInfo(index, path.name, ids.start, len(ids), nbytes, sha, kept=True)


def write_shard(directory: str | os.PathLike, plan: DatasetPlan, index: int,
                options: WriteOptions = WriteOptions()) -> ShardInfo:
    """write_shard(directory, plan, index, options=WriteOptions())

    Write shard ``index`` of ``plan`` into ``directory``, or keep it if it is
    there already, complete and unchanged.

    The shard is ``save_npy`` of the plan's stream over the shard's ids
    (atomic: ``shard-K.npy`` appears complete with its provenance, or not at
    all), its SHA-256 computed from the records as they are written and
    recorded in the provenance (``sha256``, with ``shard``).  A shard already
    at its place whose provenance matches and whose bytes hash to what it
    records is kept (``ShardInfo.kept``): a task run twice, or resumed,
    writes nothing twice.  Any other file there (an older layout, a damaged
    or foreign file, a half-written ``.partial``) is replaced.

    Returns the :class:`ShardInfo` the manifest lists.
    """
    path = Path(directory) / shard_name(index)
    kept = _kept_shard(path, plan, index)
    if kept is not None:
        return kept
    ids = plan.shard_ids(index)
    sha = hashlib.sha256(npy_header(plan.dtype, len(ids)))
    batch = options.batch_size or min(SHARD_BATCH_RECORDS, export_batch_size(
        plan.dtype.itemsize, options.max_memory_mb, len(ids)))
    result = save_npy(plan.stream(ids), path, hash=plan.hash, force=True,
                      max_memory_mb=options.max_memory_mb, batch_size=batch,
                      threads=options.threads, direct=options.direct,
                      checkpoint_seconds=math.inf,  # a shard is the unit of --resume
                      on_batch=sha.update,
                      provenance=lambda: {"shard": index, "sha256": sha.hexdigest()})
    return ShardInfo(index, path.name, ids.start, len(ids), result.nbytes, sha.hexdigest())


# ---- runners -------------------------------------------------------------------


class ShardRunner(Protocol):
    """Where shards are written: :class:`LocalRunner`, :class:`dpa.dask.ClientRunner`."""

    #: Shards written at once (the automatic shard size gives each a few).
    parallelism: int
    #: Kernel threads per shard unless :class:`WriteOptions` says.
    task_threads: int | None

    def write_shards(self, directory: Path, plan: DatasetPlan, options: WriteOptions,
                     indices: Iterable[int]) -> Iterator[ShardInfo]:
        """:func:`write_shard` of each index; the results as they complete.

        A failed shard raises (:class:`dpa.io.DpaIOError` naming it)."""
        ...


class LocalRunner:
    """This process writes the shards one after another, each with all its
    kernel threads."""

    parallelism = 1
    task_threads: int | None = None

    def write_shards(self, directory: Path, plan: DatasetPlan, options: WriteOptions,
                     indices: Iterable[int]) -> Iterator[ShardInfo]:
        for index in indices:
            yield write_shard(directory, plan, index, options)


# ---- the directory -------------------------------------------------------------


def _remove_dataset(dest: Path) -> None:
    """Remove a dataset's files: the manifest first, so that the dataset stops
    existing before any shard changes."""
    for name in (MANIFEST_NAME, PLAN_NAME):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dest / name)
    fsync_dir(dest)
    for name in os.listdir(dest):
        if is_dataset_file(name):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                os.unlink(dest / name)
    fsync_dir(dest)


def _interrupted(dest: Path) -> str:
    """How far the interrupted export in ``dest`` got, for messages."""
    try:
        plan = read_plan(dest)
    except InputError:
        plan = None
    done = sum(1 for n in os.listdir(dest) if n.startswith("shard-") and n.endswith(".npy"))
    return f"{done} of {plan.num_shards} shards" if plan is not None else "unknown progress"


def _prepare(dest: Path, force: bool, resume: bool) -> DatasetPlan | None:
    """Make ``dest`` ready for an export; the plan to resume, if any.

    A new directory is made (exclusively); an existing one must be a real
    directory holding only dpa's dataset files.  A complete dataset is
    replaced only with ``force``; an interrupted export is continued with
    ``resume`` or discarded with ``force``, and refused otherwise.
    """
    if dest.is_symlink():
        raise OutputError(f"cannot write {dest}: it is a symbolic link; give the directory itself")
    if not dest.exists():
        parent = dest.parent
        if not parent.is_dir():
            raise OutputError(f"cannot write {dest}: directory {parent} does not exist")
        try:
            os.mkdir(dest)
        except OSError as exc:
            raise OutputError(f"cannot create {dest}: {os_message(exc)}") from None
        return None
    if not dest.is_dir():
        raise OutputError(f"cannot write a dataset to {dest}: it exists and is not a directory")
    foreign = sorted(n for n in os.listdir(dest) if not is_dataset_file(n))
    if foreign:
        raise OutputError(f"cannot write a dataset into {dest}: it holds files that are not a "
                          f"dpa dataset's ({foreign[0]!r}...); give a new or empty directory")
    if (dest / MANIFEST_NAME).exists():
        if not force:
            raise OutputError(f"{dest} is a complete dataset; pass --force (force=True) "
                              "to replace it")
        _remove_dataset(dest)
        return None
    if (dest / PLAN_NAME).exists():
        if resume:
            return read_plan(dest)
        if not force:
            raise OutputError(f"{dest} holds an interrupted sharded export "
                              f"({_interrupted(dest)}); rerun with --resume (resume=True) to "
                              "continue it, or pass --force (force=True) to start over")
    _remove_dataset(dest)  # with force, or leftovers of an export that never wrote its plan
    return None


# ---- the dataset ---------------------------------------------------------------


@dataclass
class DatasetResult:
    """What :func:`save_dataset` wrote."""

    path: Path
    count: int
    nbytes: int
    seconds: float
    dtype: np.dtype
    shards: tuple[ShardInfo, ...]
    manifest: dict[str, Any] = field(repr=False)

    @property
    def kept(self) -> int:
        """Shards found complete and kept (``resume``)."""
        return sum(s.kept for s in self.shards)

    @property
    def written(self) -> int:
        """Records written by this call (kept shards excluded)."""
        return sum(s.count for s in self.shards if not s.kept)

    @property
    def samples_per_s(self) -> float:
        """Records written per second (kept shards excluded)."""
        return self.written / self.seconds if self.seconds > 0 else float("inf")


def save_dataset(source: ParamStream, directory: str | os.PathLike, *, hash: bool = False,
                 shard_records: int | None = None, force: bool = False, resume: bool = False,
                 options: WriteOptions = WriteOptions(), runner: ShardRunner | None = None,
                 progress: Callable[[int, int, int, int], None] | None = None) -> DatasetResult:
    """save_dataset(source, directory, *, hash=False, shard_records=None, force=False, resume=False, options=WriteOptions(), runner=None, progress=None)

    Write a stream's records as a sharded dataset: a directory of ``.npy``
    shards and a manifest written last (:mod:`dpa.io.manifest`).

    The records are those :func:`dpa.io.save_npy` writes for the same stream
    into one file, equal record for record; read them back with
    :func:`dpa.io.load` (one lazy array) or any shard alone with ``np.load``.

    Parameters
    ----------
    source : ParamStream
        Its remaining ids, which must be a ``range`` (any step).
    directory : str or PathLike
        The dataset's directory: made if missing; an existing one must hold
        nothing but a dataset's files.  On a cluster, every worker must see it
        under this path (a shared file system).
    hash : bool
        Include DPA's hex digest (``scheme="dpa"`` only).
    shard_records : int, optional
        Records per shard.  Default: the plan's when resuming, else about four
        equal shards per thread of the runner, each at least about a second of
        one thread's work while every thread gets one, between 64 Ki and 8 Mi
        records (:meth:`DatasetPlan.auto_shard_records`).
    force : bool
        Replace a complete dataset, or discard an interrupted export.
    resume : bool
        Continue an interrupted export of the same records: shards whose
        provenance and SHA-256 check out are kept, the others written.
        Without an interrupted export there, start afresh.
    options : WriteOptions
        How each shard is written (memory, threads, ``O_DIRECT``, batch size).
    runner : ShardRunner, optional
        Who writes the shards: :class:`LocalRunner` (default, this process) or
        :class:`dpa.dask.ClientRunner` (a Dask cluster).
    progress : callable, optional
        Called as ``progress(records_done, records_total, shards_done,
        shards_total)`` at the start and after each shard.

    Returns
    -------
    DatasetResult

    Raises
    ------
    OutputError
        The directory cannot be used (see above), or a shard could not be
        written (the message names it; the finished shards stay for
        ``resume``).
    ResumeError
        The interrupted export has other parameters.
    """
    dest = check_path(directory, "directory")
    hash, force, resume = (check_bool(hash, "hash"), check_bool(force, "force"),
                           check_bool(resume, "resume"))
    if not isinstance(source, ParamStream):
        raise TypeError(f"source should be a dpa ParamStream, but got {type(source).__name__}")
    ids = source.ids[source.position:]
    if not isinstance(ids, range):
        raise TypeError("a sharded export needs a stream over a range of ids; this stream "
                        "holds an id array (export it with save_npy)")
    if hash and not source.param_seeding.has_hash:
        raise ValueError(f"hash=True needs scheme='dpa'; the stream's scheme is {source.scheme!r}")
    if shard_records is not None:
        shard_records = check_positive_int(shard_records, "shard_records")
    if not isinstance(options, WriteOptions):
        raise TypeError(f"options should be a WriteOptions, but got {type(options).__name__}")
    runner = LocalRunner() if runner is None else runner
    if options.threads is None and runner.task_threads is not None:
        options = dataclasses.replace(options, threads=runner.task_threads)
    export_batch_size(source.dtype(hash).itemsize, options.max_memory_mb)  # checks the budget

    old = _prepare(dest, force, resume)
    size = shard_records or (old.shard_records if old is not None else
                             DatasetPlan.auto_shard_records(len(ids), runner.parallelism,
                                                            source.param_seeding.ns_per_record))
    plan = DatasetPlan(ids, source.config, source.param_seeding, hash, size)
    if old is not None:
        conflict = resume_conflict(old.provenance(), plan.provenance())
        if conflict is None and old.shard_records != size:
            conflict = (f"the interrupted export has shard_records={old.shard_records} but "
                        f"this one has shard_records={size}")
        if conflict is not None:
            raise ResumeError(f"cannot resume {dest}: {conflict}; pass --force (force=True) "
                              "to start over")
    write_json_atomic(dest / PLAN_NAME, plan.to_dict(), replace=True)
    source.claim()

    t0 = time.perf_counter()
    total, nshards = plan.count, plan.num_shards
    done: dict[int, ShardInfo] = {}
    records = 0
    if progress is not None:
        progress(0, total, 0, nshards)
    where = Path(os.path.abspath(dest))  # as the workers see it: their cwd is not ours
    try:
        for info in runner.write_shards(where, plan, options, range(nshards)):
            done[info.index] = info
            records += info.count
            if progress is not None:
                progress(records, total, len(done), nshards)
    except DpaIOError as exc:
        raise OutputError(f"{exc}; the {len(done)} finished shards of {dest} are kept: rerun "
                          "with --resume (resume=True) to finish it") from exc
    shards = [done[i] for i in range(nshards)]
    _check_on_disk(dest, shards)
    manifest = manifest_doc(plan, shards)
    write_json_atomic(dest / MANIFEST_NAME, manifest, replace=False)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dest / PLAN_NAME)
    fsync_dir(dest)
    nbytes = sum(s.nbytes for s in shards)
    return DatasetResult(dest, total, nbytes, time.perf_counter() - t0, plan.dtype,
                         tuple(shards), manifest)


def _check_on_disk(dest: Path, shards: list[ShardInfo]) -> None:
    """Every shard the manifest will name is a file of the size reported for it
    (the workers wrote where this process reads: a shared file system)."""
    for s in shards:
        path = dest / s.file
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise OutputError(f"{path}: reported written but {os_message(exc).lower()} here; do "
                              "the workers share this directory (same path, shared file "
                              "system)?") from None
        if size != s.nbytes:
            raise OutputError(f"{path}: reported as {s.nbytes:,} bytes but {size:,} here")
