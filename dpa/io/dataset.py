"""Reading sharded datasets: one lazy array over the shards, verification, statistics.

:class:`Dataset` is a dataset directory (:mod:`dpa.io.manifest`) indexed like
one 1-D array of records: an int gives a record, a slice (any step) or an
array of ints gives a new array, read from the shards it touches, each
memory-mapped on first use.  :func:`load` is :func:`dpa.io.load`: a ``.npy``
as an array, a dataset directory as a :class:`Dataset`.

:func:`verify_dataset` checks every shard against the manifest (present,
SHA-256) and recomputes its records; :func:`dataset_stats_report` is
:func:`dpa.io.stats_report` of all the records in order.  A directory without
its manifest is reported as incomplete and never read.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import check_path
from .errors import InputError, VerificationError
from .manifest import ShardInfo, file_sha256, first_difference, read_manifest
from .npy import READ_BLOCK, iter_npy_blocks
from .npy import load as load_npy
from .provenance import read_provenance, stats_method_for
from .stats import StatsReport, _fields_of, StatsAccumulator
from .verify import verify_npy

__all__ = ["Dataset", "dataset_stats_report", "is_dataset", "load", "verify_dataset"]


def is_dataset(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory (a dataset, or meant as one; a file is not)."""
    return check_path(path).is_dir()


def load(path: str | os.PathLike, mmap: bool = True) -> np.ndarray | Dataset:
    """load(path, mmap=True)

    Records on disk: a ``.npy`` as an array (read-only memory-mapped by
    default, or read into memory), or a dataset directory as a lazy
    :class:`Dataset` (``mmap=False``: all its records read into one array).

    Raises :class:`InputError` for a missing, truncated or non-``.npy`` file,
    or a directory that is not a complete dataset.
    """
    p = check_path(path)
    if not p.is_dir():
        return load_npy(p, mmap)
    ds = Dataset(p)
    return ds if mmap else ds[:]


class Dataset:
    """Dataset(path)

    A sharded dataset, indexed like one 1-D array of records, read lazily.

    ``ds[k]`` is record ``k`` (negative counts from the end), ``ds[a:b:c]``
    and ``ds[array_of_ints]`` (or a boolean mask) are new arrays; only the
    shards touched are opened (memory-mapped, read-only), and only the pages
    touched are read.  ``len(ds)``, ``ds.dtype``, ``ds.shape``, ``ds.ids``
    (the sample ids, a range) and ``ds.plan`` describe it; ``ds.blocks()``
    reads it in order in bounded memory; ``np.asarray(ds)`` reads it all.

    Raises :class:`InputError` if the directory holds no complete dataset
    (``"incomplete dataset"`` while the manifest is not written), and, when a
    shard is first touched, if it is missing or does not hold what the
    manifest says (count, dtype).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = check_path(path)
        self.plan, self.shards, self.manifest = read_manifest(self.path)
        self._ends = np.cumsum([s.count for s in self.shards]).tolist()
        self._maps: dict[int, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its open shards (a worker process reopens them), so
        that sending a dataset to another process sends a path, not records."""
        return {**self.__dict__, "_maps": {}}

    # ---- what it is --------------------------------------------------------------

    @property
    def dtype(self) -> np.dtype:
        return self.plan.dtype

    @property
    def shape(self) -> tuple[int]:
        return (self.plan.count,)

    ndim = 1

    @property
    def size(self) -> int:
        return self.plan.count

    @property
    def nbytes(self) -> int:
        """Bytes of the records (headers excluded)."""
        return self.plan.count * self.dtype.itemsize

    @property
    def ids(self) -> range:
        """The sample ids of the records, in order."""
        return self.plan.ids

    def __len__(self) -> int:
        return self.plan.count

    def __repr__(self) -> str:
        return (f"Dataset({str(self.path)!r}, {self.plan.count:,} records in "
                f"{len(self.shards)} shards, ids {self.ids}, scheme {self.plan.seeding.scheme!r})")

    def shard_path(self, index: int) -> Path:
        """The file of shard ``index``."""
        return self.path / self.shards[index].file

    def shard(self, index: int) -> np.ndarray:
        """Shard ``index`` as a read-only memory map (opened once)."""
        arr = self._maps.get(index)
        if arr is None:
            info = self.shards[index]
            path = self.shard_path(index)
            if not path.exists():
                raise InputError(f"{self.path}: shard {index} ({info.file}) is missing")
            arr = load_npy(path, mmap=True)
            if len(arr) != info.count or arr.dtype != self.dtype:
                raise InputError(f"{path}: holds {len(arr):,} records of {arr.dtype} but the "
                                 f"manifest says {info.count:,} of {self.dtype}")
            self._maps[index] = arr
        return arr

    # ---- indexing ----------------------------------------------------------------

    def _locate(self, i: int) -> int:
        """The shard holding record ``i`` (0 <= i < len)."""
        return bisect.bisect_right(self._ends, i)

    def _start(self, s: int) -> int:
        return self._ends[s - 1] if s else 0

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple) and len(key) == 1:
            key = key[0]
        n = len(self)
        if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            i = int(key) + (n if key < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"index {int(key)} is out of bounds for a dataset of {n} records")
            s = self._locate(i)
            return self.shard(s)[i - self._start(s)]
        if isinstance(key, slice):
            r = range(*key.indices(n))
            out = np.empty(len(r), self.dtype)
            if r.step > 0:
                self._fill_range(r, out)
            else:
                self._fill_range(r[::-1], out[::-1])
            return out
        if isinstance(key, (str, bytes)) or key is None or key is Ellipsis:
            raise TypeError("a Dataset is indexed by ints, slices, or arrays of ints or bools; "
                            "for a field, select records first: ds[a:b]['rotation']")
        return self._take(np.asarray(key))

    def _fill_range(self, r: range, out: np.ndarray) -> None:
        """``out[k] = record r[k]`` for a range of positive step."""
        pos, step = 0, r.step
        while pos < len(r):
            i = r[pos]
            s = self._locate(i)
            lo, hi = self._start(s), self._ends[s]
            m = min(len(r) - pos, -(-(hi - i) // step))
            out[pos:pos + m] = self.shard(s)[i - lo:i - lo + (m - 1) * step + 1:step]
            pos += m

    def _take(self, idx: np.ndarray) -> np.ndarray:
        n = len(self)
        if idx.dtype == np.bool_:
            if idx.shape != (n,):
                raise IndexError(f"a boolean index should have shape ({n},), "
                                 f"but has shape {idx.shape}")
            idx = np.flatnonzero(idx)
        elif idx.dtype.kind not in "iu":
            raise IndexError(f"arrays used as indices should hold integers or booleans, "
                             f"not {idx.dtype}")
        idx = idx.astype(np.int64, copy=True)
        idx[idx < 0] += n
        bad = np.flatnonzero((idx < 0) | (idx >= n))
        if len(bad):
            raise IndexError(f"index {int(np.asarray(idx).flat[bad[0]])} is out of bounds "
                             f"for a dataset of {n} records")
        flat = idx.ravel()
        out = np.empty(flat.shape, self.dtype)
        which = np.searchsorted(np.asarray(self._ends), flat, side="right")
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(len(self.shards) + 1))
        for s in np.flatnonzero(np.diff(bounds)).tolist():
            pick = order[bounds[s]:bounds[s + 1]]
            out[pick] = self.shard(s)[flat[pick] - self._start(s)]
        return out.reshape(idx.shape)

    def __iter__(self) -> Iterator[Any]:
        for _, block in self.blocks():
            yield from block.copy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self[:]
        return arr if dtype is None else arr.astype(dtype)

    def blocks(self, block_records: int = READ_BLOCK) -> Iterator[tuple[int, np.ndarray]]:
        """blocks(block_records=65536)

        ``(first_index, records)`` in order, shard after shard, read into one
        reused buffer per shard (:func:`dpa.io.iter_npy_blocks`): memory stays
        at one block.  A block is valid until the next one is requested.
        """
        for s in range(len(self.shards)):
            self.shard(s)  # missing or wrong shards are named before they are read
            first = self._start(s)
            for i, block in iter_npy_blocks(self.shard_path(s), block_records):
                yield first + i, block


# ---- verification and statistics -------------------------------------------------


def _check_shard(ds: Dataset, info: ShardInfo) -> Path:
    """Shard ``info`` is present, its bytes are those the manifest hashed, and its
    provenance describes it as the manifest does; :class:`VerificationError` if not."""
    path = ds.path / info.file
    if path.is_symlink() or not path.is_file():
        raise VerificationError(f"{path}: shard {info.index} is missing "
                                "(the manifest lists it)", index=info.index)
    digest = file_sha256(path)
    if digest != info.sha256:
        raise VerificationError(
            f"{path}: shard {info.index} has changed: its SHA-256 is {digest} but the "
            f"manifest records {info.sha256}", index=info.index, field="sha256",
            found=digest, expected=info.sha256)
    prov = read_provenance(path)
    wrong = ("it has no provenance" if prov is None else
             first_difference(prov, ds.plan.shard_provenance(info.index)))
    if wrong is not None:
        raise VerificationError(f"{path}: shard {info.index} is not the one the manifest "
                                f"describes: {wrong}", index=info.index)
    return path


def verify_dataset(path: str | os.PathLike, *, records: bool = True, threads: int | None = None,
                   progress: Callable[[int, int | None], None] | None = None) -> int:
    """verify_dataset(path, *, records=True, threads=None, progress=None)

    Check a dataset shard by shard against its manifest: each shard is
    present, its SHA-256 is the one recorded, its provenance is the
    manifest's, and (``records``) every record equals the core kernel's
    (:func:`dpa.io.verify_npy`).

    Returns the number of records checked.  Raises
    :class:`VerificationError` naming the first shard that is missing or
    differs (and, for records, the record and field), or :class:`InputError`
    for a directory that is not a complete dataset.
    """
    ds = Dataset(path)
    done = 0
    for info in ds.shards:
        shard = _check_shard(ds, info)
        if records:
            first = done
            verify_npy(shard, threads=threads,
                       progress=None if progress is None else
                       (lambda k, _, first=first: progress(first + k, len(ds))))
        done += info.count
        if progress is not None:
            progress(done, len(ds))
    return done


def dataset_stats_report(path: str | os.PathLike, *, method: str = "auto",
                         fields: Iterable[str] | None = None, verify: bool = False,
                         threads: int | None = None,
                         progress: Callable[[int, int | None], None] | None = None,
                         on_warning: Callable[[str], None] | None = None) -> StatsReport:
    """dataset_stats_report(path, *, method="auto", fields=None, verify=False, threads=None, progress=None, on_warning=None)

    :func:`dpa.io.stats_report` of a dataset: DPA's statistics block of all
    its records in order (the same values, bit for bit, as for a single file
    of the same records), with ``verify`` running :func:`verify_dataset`
    first.  ``on_warning`` is accepted for the same signature; a dataset's
    provenance is its manifest, which is checked, so nothing is warned about.
    """
    ds = Dataset(path)
    verified = verify_dataset(ds.path, threads=threads, progress=progress) if verify else None
    if method == "auto":
        method = stats_method_for(ds.plan.provenance())
    ds.shard(0)
    acc = StatsAccumulator(_fields_of(ds.shard_path(0), fields), method, f"{ds.path}: ")
    for i, block in ds.blocks():
        acc.add(block, i)
    return StatsReport(ds.path, acc.result(), method, (), verified)
