"""Parameters on disk: ``.npy`` export, DPA JSON conversion, statistics, provenance.

Layers, in file order:

1. Errors: :class:`DpaIOError` and its kinds, each a one-line message naming
   the file, the record and the field, so the command line can print it as is.
2. ``.npy`` headers: numpy's own header bytes (``numpy.lib.format``), so a file
   written here is byte-identical to ``numpy.save`` of the same array.
3. Provenance: the sidecar ``OUT.npy.json`` beside every ``.npy`` dpa writes.
4. :class:`_PartialNpy`: the temporary file ``OUT.npy.partial`` with its lock
   and resume journal, two page-aligned staging buffers reused for every batch,
   a writer thread (so generating batch ``j + 1`` overlaps writing batch ``j``),
   ``O_DIRECT`` writes where the file system takes them, ``fsync`` and the
   atomic rename into place.
5. :func:`save_npy` (a dpa stream or arrays in), :func:`load`,
   :func:`iter_npy_blocks` (bounded-memory reading), :func:`compute_stats`,
   :func:`verify_npy`.
6. An incremental JSON reader for DPA 0.2.1's files and JSON Lines, and
   :func:`convert_json` on top of it.

Nothing here holds more than a batch: exports and conversions of any size run
in memory set by ``max_memory_mb``, and statistics and verification read
through one reused block.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io as _io
import json
import math
import mmap
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._core import welford_update
from .config import FIELDS, AugmentationConfig
from ._validate import check_int as _check_int
from .engine import generate_seeded
from .records import MAX_SAMPLE_ID, record_dtype
from .seeding import Seeding
from .stream import ParamStream

try:  # POSIX only: without it there is no lock against a second writer.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = [
    "DEFAULT_MAX_MEMORY_MB",
    "DpaIOError",
    "InputError",
    "OutputError",
    "ResumeError",
    "VerificationError",
    "SaveResult",
    "compute_stats",
    "convert_json",
    "export_batch_size",
    "iter_npy_blocks",
    "load",
    "partial_paths",
    "provenance_path",
    "read_config",
    "read_provenance",
    "save_npy",
    "verify_npy",
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

#: ``O_DIRECT`` transfers are multiples of this, at offsets that are too.
_ALIGN = 4096

#: Records per block when reading a ``.npy`` for statistics or verification.
_READ_BLOCK = 1 << 16

#: Records converted from JSON at a time.
_JSON_BATCH = 1 << 14

#: Characters of JSON text read at a time.
_JSON_CHUNK = 1 << 20

PROVENANCE_FORMAT = "dpa-provenance/1"
_JOURNAL_FORMAT = "dpa-partial/1"


# ---- errors ----------------------------------------------------------------------


class DpaIOError(Exception):
    """A problem with a file dpa reads or writes, described in one line.

    ``exit_status`` is what the command line exits with.
    """

    exit_status = 1


class InputError(DpaIOError):
    """An input file is missing, unreadable or malformed (names file, record, field)."""


class OutputError(DpaIOError):
    """The destination cannot be written (exists, bad directory, disk full, ...)."""


class ResumeError(OutputError):
    """An interrupted export cannot be resumed as asked."""


class VerificationError(DpaIOError):
    """A record differs from what the core kernel computes for it.

    Attributes ``index`` (record position), ``field``, ``found`` and
    ``expected`` describe the first mismatch.
    """

    exit_status = 3

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None,
                 found: Any = None, expected: Any = None) -> None:
        super().__init__(message)
        self.index = index
        self.field = field
        self.found = found
        self.expected = expected


def _os_message(exc: OSError) -> str:
    return exc.strerror or str(exc)


# ---- .npy headers ----------------------------------------------------------------


def _npy_header(dtype: np.dtype, count: int) -> bytes:
    """numpy's header for a 1-D C-order array: the bytes ``numpy.save`` writes.

    numpy pads the header so its length does not depend on ``count``; a file
    whose length is not known in advance can have its header rewritten in
    place at the end.
    """
    d = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (count,)}
    buf = _io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, d)
    except ValueError:  # header too long for format 1.0
        buf = _io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, d)
    return buf.getvalue()


def _read_npy_header(f, path: Path) -> tuple[np.dtype, int, int]:
    """``(dtype, count, data offset)`` of a 1-D ``.npy`` open at its start."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise InputError(f"{path}: .npy format version {version} is not supported")
    except (ValueError, EOFError) as exc:
        raise InputError(f"{path}: not a .npy file ({exc})") from None
    if fortran or len(shape) != 1:
        raise InputError(f"{path}: expected a 1-D array of records, but the file holds shape {shape}")
    if dtype.hasobject:
        raise InputError(f"{path}: holds Python objects, which dpa does not read")
    return dtype, int(shape[0]), f.tell()


# ---- provenance ------------------------------------------------------------------


def provenance_path(path: str | os.PathLike) -> Path:
    """The provenance sidecar of ``path``: ``OUT.npy`` -> ``OUT.npy.json``."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def partial_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(OUT.npy.partial, OUT.npy.partial.json)``: an unfinished export and its journal."""
    p = Path(path)
    return p.with_name(p.name + ".partial"), p.with_name(p.name + ".partial.json")


def read_provenance(path: str | os.PathLike) -> dict[str, Any] | None:
    """The provenance dpa recorded beside ``path``, or ``None`` if there is none.

    Raises :class:`InputError` if the sidecar exists but is not dpa's.
    """
    side = provenance_path(path)
    try:
        text = side.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"{side}: cannot read provenance: {_os_message(exc)}") from None
    try:
        prov = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{side}: provenance is not valid JSON ({exc})") from None
    if not isinstance(prov, dict) or prov.get("format") != PROVENANCE_FORMAT:
        raise InputError(f"{side}: not a dpa provenance file (no \"format\": \"{PROVENANCE_FORMAT}\")")
    return prov


def _dpa_version() -> str:
    from . import __version__

    return __version__


def _jsonable(obj: Any) -> Any:
    """``obj`` as JSON would give it back (tuples as lists), for comparisons."""
    return json.loads(json.dumps(obj))


def _descr(dtype: np.dtype) -> str:
    """The dtype as the ``.npy`` header spells it, e.g. ``"[('sample_id', '<i8'), ...]"``."""
    return repr(np.lib.format.dtype_to_descr(dtype))


def _ids_sha256(ids: np.ndarray) -> str:
    """Hex SHA-256 of sample ids as little-endian int64 bytes (``ids_sha256``)."""
    return hashlib.sha256(np.ascontiguousarray(ids, dtype="<i8")).hexdigest()


def _stream_provenance(stream: ParamStream, ids: range | np.ndarray, dtype: np.dtype,
                       hash: bool) -> dict:
    """The provenance of exporting ``ids`` (a range or an int64 array) of ``stream``.

    The seeding keys are the stream's :meth:`~dpa.ParamStream.seeding_provenance`.
    A range of ids is ``start_id``, ``count`` (and ``step`` unless 1); an
    array of ids (a shuffled or padded distributed stream) is ``"ids":
    "sample_id"`` (the ids are the file's own ``sample_id`` column), its
    ``ids_sha256`` and ``count``.
    """
    seeding = dict(stream.seeding_provenance())
    prov: dict[str, Any] = {
        "format": PROVENANCE_FORMAT,
        "producer": "dpa.io.save_npy",
        "scheme": seeding.pop("scheme"),
        "config": stream.config.to_dict(),
    }
    if isinstance(ids, range):
        prov["start_id"] = ids.start
        prov["count"] = len(ids)
        if ids.step != 1:
            prov["step"] = ids.step
    else:
        prov["ids"] = "sample_id"
        prov["ids_sha256"] = _ids_sha256(ids)
        prov["count"] = len(ids)
    prov.update(seeding)
    prov["hash"] = bool(hash)
    prov["fields"] = list(dtype.names)
    prov["dtype"] = _descr(dtype)
    return _jsonable(prov)


#: Provenance keys that must agree for ``--resume`` to continue a partial file.
_RESUME_KEYS = ("scheme", "config", "start_id", "count", "step", "ids", "ids_sha256", "rank",
                "base_seed", "epoch", "prefix", "hash", "dtype")


# ---- signals around the commit ---------------------------------------------------


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the output is renamed into place.

    A signal that arrives meanwhile is handled right after: the destination is
    then either untouched or complete, with its provenance beside it.
    """
    if (threading.current_thread() is threading.main_thread()
            and hasattr(signal, "pthread_sigmask")):
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    else:
        yield


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink_quiet(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
        os.unlink(path)


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while len(data):
        n = os.pwrite(fd, data, offset)
        data = data[n:]
        offset += n


def _check_destination(dest: Path, force: bool) -> None:
    """Refuse a destination that cannot or must not be written, before any work."""
    parent = dest.parent
    if not parent.exists():
        raise OutputError(f"cannot write {dest}: directory {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"cannot write {dest}: {parent} is not a directory")
    if dest.is_dir():
        raise OutputError(f"cannot write {dest}: it is a directory")
    if not force and (dest.exists() or dest.is_symlink()):
        raise OutputError(f"{dest} exists; pass --force (force=True) to replace it")


# ---- the partial file ------------------------------------------------------------


class _PartialNpy:
    """The temporary file of one ``.npy`` being written, and its commit.

    ``OUT.npy.partial`` sits beside the destination and is locked (``flock``)
    while a process writes it; ``OUT.npy.partial.json``, the journal, holds the
    export's provenance and how many records are durably on disk (``fdatasync``
    before every journal update, at most every ``checkpoint_seconds``).  A
    killed export leaves both, and ``resume`` continues from the journal.

    Bytes go through two page-aligned staging buffers, reused for every batch:
    the producer fills one (``reserve`` / ``commit`` or ``append``) while a
    writer thread writes the other.  With ``O_DIRECT`` each write is a
    multiple of 4 KiB at an aligned offset; the few bytes past the last
    aligned boundary are carried to the front of the next buffer, and the
    final ones are written through an ordinary descriptor.
    """

    def __init__(self, dest: Path, dtype: np.dtype, count: int | None, *, capacity: int,
                 provenance: dict | None, force: bool, resume: bool, direct: bool | None,
                 checkpoint_seconds: float, buffer_records: int = 0) -> None:
        self.dest = dest
        self.dtype = dtype
        self.itemsize = dtype.itemsize
        self.count = count
        self.header = _npy_header(dtype, 0 if count is None else count)
        self.capacity = capacity
        # Each of the two buffers holds whole batches: one write per buffer.
        self.buffer_records = max(capacity, buffer_records) // capacity * capacity
        self.provenance = provenance
        self.checkpoint_seconds = checkpoint_seconds
        self.path, self.journal_path = partial_paths(dest)
        self.fd = -1
        self.dfd = -1
        self.records_start = 0
        self.resumed = False
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future | None] = [None, None]
        self._maps: list[mmap.mmap] = []
        self._open(force, resume, direct)

    # -- opening -------------------------------------------------------------------

    def _open(self, force: bool, resume: bool, direct: bool | None) -> None:
        created = False
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            created = True
        except FileExistsError:
            try:
                self.fd = os.open(self.path, os.O_RDWR)
            except OSError as exc:
                raise OutputError(f"cannot open {self.path}: {_os_message(exc)}") from None
        except OSError as exc:
            raise OutputError(f"cannot write {self.dest}: {_os_message(exc)}") from None
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise OutputError(
                        f"another process is writing {self.dest} ({self.path} is locked)"
                    ) from None
            if not created:
                self._adopt_existing(force, resume)
            else:
                self.resumed = False
            if not self.resumed:
                os.ftruncate(self.fd, 0)
            self._open_direct(direct)
            self._alloc_buffers()
            if self.resumed:
                self._seek_resume()
            else:
                self.offset = 0
                self.fill = len(self.header)
                self._buffer(0)[: self.fill] = self.header
                self._write_journal(0)
        except BaseException:
            self._close_fds()
            if created:
                _unlink_quiet(self.path)
                _unlink_quiet(self.journal_path)
            raise
        self.cur = 0
        self._last_checkpoint = time.monotonic()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dpa-writer")

    def _read_journal(self) -> dict | None:
        try:
            journal = json.loads(self.journal_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return journal if isinstance(journal, dict) else {}

    def _adopt_existing(self, force: bool, resume: bool) -> None:
        """A partial file from an earlier run exists: resume it, discard it, or refuse."""
        journal = self._read_journal()
        done = journal.get("records_durable") if journal else None
        old_prov = journal.get("provenance") if journal else None
        total = old_prov.get("count") if isinstance(old_prov, dict) else None
        if resume and self.provenance is not None:
            if journal is None or done is None:
                raise ResumeError(
                    f"cannot resume {self.dest}: {self.journal_path} is missing or unreadable; "
                    "pass --force (force=True) to start over"
                )
            old = old_prov if isinstance(old_prov, dict) else {}
            new = self.provenance
            for key in _RESUME_KEYS:
                if old.get(key) != new.get(key):
                    raise ResumeError(
                        f"cannot resume {self.dest}: the interrupted export has {key}="
                        f"{json.dumps(old.get(key))} but this one has {key}="
                        f"{json.dumps(new.get(key))}; pass --force (force=True) to start over"
                    )
            layout = (journal.get("header_bytes"), journal.get("itemsize"))
            if layout != (len(self.header), self.itemsize):
                raise ResumeError(
                    f"cannot resume {self.dest}: {self.journal_path} describes another layout"
                )
            if not isinstance(done, int) or done < 0 or (self.count is not None and done > self.count):
                raise ResumeError(f"cannot resume {self.dest}: {self.journal_path} is corrupt; "
                                  "pass --force (force=True) to start over")
            size = os.fstat(self.fd).st_size
            need = len(self.header) + done * self.itemsize
            if size < need:
                raise ResumeError(
                    f"cannot resume {self.dest}: {self.path} holds {size} bytes but its journal "
                    f"records {done} records ({need} bytes); pass --force (force=True) to start over"
                )
            if os.pread(self.fd, len(self.header), 0) != self.header:
                raise ResumeError(f"cannot resume {self.dest}: {self.path} has another header")
            self.records_start = done
            self.resumed = True
            return
        if force:
            self.resumed = False
            return
        if isinstance(done, int) and isinstance(total, int):
            what = f"{done:,} of {total:,} records"
        else:
            what = "unknown progress"
        hint = ("rerun with --resume (resume=True) to continue it, or "
                if self.provenance is not None else "")
        raise OutputError(
            f"{self.path} holds an interrupted export ({what}); {hint}"
            "pass --force (force=True) to start over"
        )

    def _open_direct(self, direct: bool | None) -> None:
        flag = getattr(os, "O_DIRECT", 0)
        self.direct = False
        if direct is False or not flag:
            if direct and not flag:
                raise OutputError("O_DIRECT is not available on this platform")
            return
        try:
            self.dfd = os.open(self.path, os.O_WRONLY | flag)
            self.direct = True
        except OSError as exc:
            if direct:
                raise OutputError(
                    f"cannot open {self.path} with O_DIRECT: {_os_message(exc)}"
                ) from None

    def _alloc_buffers(self) -> None:
        size = -(-(2 * _ALIGN + self.buffer_records * self.itemsize) // mmap.PAGESIZE) \
            * mmap.PAGESIZE
        self._maps = [mmap.mmap(-1, size) for _ in range(2)]
        self._views = [memoryview(m) for m in self._maps]
        self.buffer_bytes = size

    def _buffer(self, i: int) -> memoryview:
        return self._views[i]

    def _seek_resume(self) -> None:
        end = len(self.header) + self.records_start * self.itemsize
        align = _ALIGN if self.direct else 1
        self.offset = end // align * align
        carry = os.pread(self.fd, end - self.offset, self.offset)
        os.ftruncate(self.fd, self.offset)
        self.fill = len(carry)
        self._buffer(0)[: self.fill] = carry
        self._write_journal(self.records_start)

    # -- writing -------------------------------------------------------------------

    def reserve(self, k: int) -> np.ndarray:
        """A view of ``k`` records in the current buffer, to fill before :meth:`commit`."""
        if self.fill + k * self.itemsize > self.buffer_bytes - _ALIGN:
            self._flush()
        return np.frombuffer(self._maps[self.cur], dtype=self.dtype, count=k, offset=self.fill)

    def commit(self, k: int) -> None:
        """The ``k`` reserved records are filled."""
        self.fill += k * self.itemsize
        if self.fill + self.capacity * self.itemsize > self.buffer_bytes - _ALIGN:
            self._flush()

    def append(self, arr: np.ndarray) -> None:
        """Copy records in (split across buffers as needed)."""
        pos = 0
        n = len(arr)
        while pos < n:
            room = (self.buffer_bytes - _ALIGN - self.fill) // self.itemsize
            if room <= 0:
                self._flush()
                continue
            k = min(room, n - pos)
            view = np.frombuffer(self._maps[self.cur], dtype=self.dtype, count=k, offset=self.fill)
            view[...] = arr[pos:pos + k]
            del view
            self.fill += k * self.itemsize
            pos += k

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Describe a failed write (disk full, file too large, I/O error) in one line."""
        try:
            yield
        except DpaIOError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write {self.dest}: {_os_message(exc)}") from exc

    def _wait(self, i: int) -> None:
        fut = self._pending[i]
        if fut is not None:
            self._pending[i] = None
            with self._writing():
                fut.result()

    def _flush(self) -> None:
        """Hand the aligned part of the current buffer to the writer; switch buffers."""
        total = self.fill
        align = _ALIGN if self.direct else 1
        whole = total // align * align
        nxt = 1 - self.cur
        self._wait(nxt)  # the next buffer must be written out before it is reused
        tail = total - whole
        if tail:
            self._buffer(nxt)[:tail] = self._buffer(self.cur)[whole:total]
        if whole:
            self._pending[self.cur] = self._executor.submit(self._write, self.cur, whole, self.offset)
            self.offset += whole
        self.cur = nxt
        self.fill = tail

    def _write(self, i: int, nbytes: int, offset: int) -> None:
        """Writer thread: write ``nbytes`` of buffer ``i`` at ``offset``; checkpoint."""
        data = self._buffer(i)[:nbytes]
        if self.direct:
            try:
                _pwrite_all(self.dfd, data, offset)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self.direct = False  # the file system refused O_DIRECT after all
                _pwrite_all(self.fd, data, offset)
        else:
            _pwrite_all(self.fd, data, offset)
        now = time.monotonic()
        if now - self._last_checkpoint >= self.checkpoint_seconds:
            self._last_checkpoint = now
            end = offset + nbytes
            if end >= len(self.header):
                os.fdatasync(self.fd)
                self._write_journal((end - len(self.header)) // self.itemsize)

    def _write_journal(self, records_durable: int) -> None:
        if self.provenance is None:
            return
        journal = {
            "format": _JOURNAL_FORMAT,
            "destination": self.dest.name,
            "provenance": self.provenance,
            "header_bytes": len(self.header),
            "itemsize": self.itemsize,
            "records_durable": records_durable,
        }
        tmp = self._journal_tmp()
        tmp.write_text(json.dumps(journal), encoding="utf-8")
        os.replace(tmp, self.journal_path)

    def finish(self, count: int) -> int:
        """Write what remains, fix the header, ``fsync``; return the file size."""
        with self._writing():
            return self._finish(count)

    def _finish(self, count: int) -> int:
        total = self.fill
        align = _ALIGN if self.direct else 1
        whole = total // align * align
        cur = self.cur
        if whole:
            self._wait(cur)
            self._pending[cur] = self._executor.submit(self._write, cur, whole, self.offset)
        self._wait(0)
        self._wait(1)
        if total > whole:
            _pwrite_all(self.fd, self._buffer(cur)[whole:total], self.offset + whole)
        end = self.offset + total
        if self.count is None:
            header = _npy_header(self.dtype, count)
            if len(header) != len(self.header):  # pragma: no cover - numpy pads to avoid this
                raise OutputError(f"cannot write {self.dest}: the .npy header changed length")
            _pwrite_all(self.fd, memoryview(header), 0)
        os.ftruncate(self.fd, end)
        os.fsync(self.fd)
        return end

    # -- ending --------------------------------------------------------------------

    def commit_file(self, provenance: dict | None, force: bool) -> None:
        """Rename the finished file into place, with its provenance beside it."""
        with self._writing():
            self._commit_file(provenance, force)
        _fsync_dir(self.dest.parent)
        self.close()

    def _commit_file(self, provenance: dict | None, force: bool) -> None:
        side = provenance_path(self.dest)
        side_tmp = side.with_name(side.name + ".partial")
        if provenance is not None:
            with open(side_tmp, "w", encoding="utf-8") as f:
                json.dump(provenance, f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
        with _signals_deferred():
            if force:
                # The old provenance must never describe the new file, even briefly.
                _unlink_quiet(side)
                os.replace(self.path, self.dest)
            else:
                try:
                    os.link(self.path, self.dest)
                except FileExistsError:
                    raise OutputError(
                        f"{self.dest} appeared while it was being written; not replaced "
                        "(pass --force to replace it)"
                    ) from None
                except OSError:  # no hard links here: check, then rename
                    if self.dest.exists():
                        raise OutputError(f"{self.dest} exists; pass --force to replace it") from None
                    os.replace(self.path, self.dest)
                else:
                    os.unlink(self.path)
            if provenance is not None:
                os.replace(side_tmp, side)
            else:
                _unlink_quiet(side)
            _unlink_quiet(self.journal_path)
            _unlink_quiet(self._journal_tmp())

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._close_fds()
        for v in getattr(self, "_views", []):
            v.release()
        self._views = []
        for m in self._maps:
            with contextlib.suppress(BufferError):
                m.close()
        self._maps = []

    def _close_fds(self) -> None:
        for name in ("dfd", "fd"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    def _journal_tmp(self) -> Path:
        return self.journal_path.with_name(self.journal_path.name + ".tmp")

    def abort(self) -> None:
        """Stop writing and remove the temporary files (the destination is untouched).

        A second Ctrl-C during the clean-up waits until it is done.
        """
        with _signals_deferred():
            try:
                self.close()
            finally:
                _unlink_quiet(self.path)
                _unlink_quiet(self.journal_path)
                _unlink_quiet(self._journal_tmp())
                side = provenance_path(self.dest)
                _unlink_quiet(side.with_name(side.name + ".partial"))


# ---- batch sizes -----------------------------------------------------------------


def export_batch_size(record_bytes: int, max_memory_mb: float = DEFAULT_MAX_MEMORY_MB,
                      total: int | None = None) -> int:
    """export_batch_size(record_bytes, max_memory_mb=64, total=None)

    Records per batch for an export whose buffers may use ``max_memory_mb``.

    The export holds two batch buffers (one filled while the other is
    written), so each record costs ``2 * record_bytes``.  When the batch
    engine (:mod:`dpa.batch`) is present its memory-optimized sizing decides
    (``MemoryAwareBatcher.calculate_optimal_batch_size``, which also keeps a
    margin below the memory the machine has available); otherwise the budget
    alone does.  The result is at least 1, at most :data:`MAX_BATCH_RECORDS`
    and at most ``total``.
    """
    if isinstance(max_memory_mb, bool) or not isinstance(max_memory_mb, (int, float)) \
            or not max_memory_mb > 0 or not math.isfinite(max_memory_mb):
        raise ValueError(
            f"max_memory_mb should be a positive number, but got max_memory_mb={max_memory_mb!r}"
        )
    per_record = 2 * record_bytes
    budget = int(max_memory_mb * 2**20) - 4 * _ALIGN
    if budget < per_record:
        raise ValueError(
            f"max_memory_mb={max_memory_mb} is too small for even one {record_bytes}-byte record"
        )
    size = _batch_engine_size(per_record, max_memory_mb)
    if size is None:
        size = budget // per_record
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
    budget = int(max_memory_mb * 2**20) - 4 * _ALIGN
    fits = budget // (2 * record_bytes * batch_size)
    return batch_size * max(1, min(WRITE_BUFFER_BATCHES, fits))


def _batch_engine_size(per_record: int, max_memory_mb: float) -> int | None:
    """The batch engine's memory-optimized batch size, or None without the engine.

    :class:`dpa.batch.MemoryAwareBatcher` fits the batch in the budget and in
    the memory the machine has available, less its safety margin.
    """
    try:
        from .batch import MemoryAwareBatcher

        batcher = MemoryAwareBatcher(max_memory_mb=max_memory_mb, min_batch_size=1,
                                     max_batch_size=MAX_BATCH_RECORDS,
                                     sample_size_bytes=per_record)
        return int(batcher.calculate_optimal_batch_size())
    except ImportError:  # no dpa.batch, or its memory probe lacks psutil
        return None


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


def _check_path(path: Any, name: str = "path") -> Path:
    if isinstance(path, (str, os.PathLike)) and str(path):
        return Path(path)
    raise TypeError(f"{name} should be a path (str or os.PathLike), but got {name}={path!r}")


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
) -> SaveResult:
    """save_npy(source, path, *, hash=False, force=False, resume=False, max_memory_mb=64, batch_size=None, threads=None, progress=None, provenance=None, direct=None, checkpoint_seconds=1.0)

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
    dest = _check_path(path)
    for name, value in (("hash", hash), ("force", force), ("resume", resume)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} should be a bool, but got {name}={value!r}")
    if isinstance(checkpoint_seconds, bool) or not isinstance(checkpoint_seconds, (int, float)) \
            or not checkpoint_seconds >= 0:
        raise ValueError(
            f"checkpoint_seconds should be a non-negative number, but got {checkpoint_seconds!r}"
        )
    if batch_size is not None and _check_int(batch_size, "batch_size") < 1:
        raise ValueError(f"batch_size should be a positive integer, but got batch_size={batch_size}")
    if direct is not None and not isinstance(direct, bool):
        raise TypeError(f"direct should be None or a bool, but got direct={direct!r}")

    if isinstance(source, ParamStream):
        if hash and not source.param_seeding.has_hash:
            raise ValueError(f"hash=True needs scheme='dpa'; the stream's scheme is {source.scheme!r}")
        _check_destination(dest, force)
        return _save_stream(source, dest, hash=hash, force=force, resume=resume,
                            max_memory_mb=max_memory_mb, batch_size=batch_size, threads=threads,
                            progress=progress, extra=provenance, direct=direct,
                            checkpoint_seconds=checkpoint_seconds)
    if resume:
        raise ValueError("resume=True needs a dpa stream source: other sources cannot be replayed")
    if hash:
        raise ValueError("hash=True applies to stream sources; arrays keep their own dtype")
    if isinstance(source, np.ndarray):
        arr = source
        if arr.ndim != 1:
            raise ValueError(f"source array should be 1-D, but has shape {arr.shape}")
        _check_destination(dest, force)
        bs = batch_size or export_batch_size(arr.dtype.itemsize, max_memory_mb)
        chunks: Iterable[np.ndarray] = (arr[a:a + bs] for a in range(0, len(arr), bs))
        return _save_arrays(chunks, dest, count=len(arr), dtype=arr.dtype, force=force,
                            max_memory_mb=max_memory_mb, batch_size=bs, progress=progress,
                            extra=provenance, direct=direct, checkpoint_seconds=checkpoint_seconds)
    if isinstance(source, (str, bytes, dict)) or not isinstance(source, Iterable):
        raise TypeError(
            "source should be a dpa ParamStream, a 1-D array or an iterable of arrays, "
            f"but got {type(source).__name__}"
        )
    _check_destination(dest, force)
    return _save_arrays(iter(source), dest, count=None, dtype=None, force=force,
                        max_memory_mb=max_memory_mb, batch_size=batch_size, progress=progress,
                        extra=provenance, direct=direct, checkpoint_seconds=checkpoint_seconds)


def _extra_provenance(extra: dict | Callable[[], dict] | None) -> dict:
    if extra is None:
        return {}
    value = extra() if callable(extra) else extra
    if not isinstance(value, dict):
        raise TypeError(f"provenance should be a dict, but got {type(value).__name__}")
    return value


def _finish_provenance(base: dict, extra: dict | Callable[[], dict] | None, count: int,
                       nbytes: int, header: int) -> dict:
    prov = dict(base)
    prov.update(_extra_provenance(extra))
    prov["format"] = PROVENANCE_FORMAT
    prov["count"] = count
    prov["npy_header_bytes"] = header
    prov["npy_bytes"] = nbytes
    prov["dpa_version"] = _dpa_version()
    prov["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return _jsonable(prov)


def _save_stream(stream: ParamStream, dest: Path, *, hash: bool, force: bool, resume: bool,
                 max_memory_mb: float, batch_size: int | None, threads: int | None,
                 progress, extra, direct, checkpoint_seconds) -> SaveResult:
    ids = stream.ids[stream.position:]
    if not isinstance(ids, range):  # a shuffled or padded distributed stream's int64 ids
        ids = np.ascontiguousarray(ids, dtype=np.int64)
    dtype = record_dtype(hash)
    n = len(ids)
    bs = batch_size or export_batch_size(dtype.itemsize, max_memory_mb, n)
    bs = max(1, min(bs, max(n, 1)))
    prov = _stream_provenance(stream, ids, dtype, hash)
    t0 = time.perf_counter()
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
            del view
            part.commit(b - a)
            if progress is not None:
                progress(b, n)
        nbytes = part.finish(n)
        final = _finish_provenance(prov, extra, n, nbytes, len(part.header))
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
                 checkpoint_seconds) -> SaveResult:
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
        base = {"format": PROVENANCE_FORMAT, "producer": "dpa.io.save_npy",
                "fields": list(part.dtype.names or []),
                "dtype": _descr(part.dtype)}
        final = _finish_provenance(base, extra, done, nbytes, len(part.header))
        direct_io = part.direct
        part.commit_file(final, force)
    except BaseException:
        if part is not None:
            part.abort()
        raise
    return SaveResult(dest, done, nbytes, time.perf_counter() - t0, part.dtype,
                      direct_io=direct_io, batch_size=part.capacity, provenance=final)


# ---- reading ---------------------------------------------------------------------


def _open_npy(path: Path):
    try:
        return open(path, "rb", buffering=0)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a .npy file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {_os_message(exc)}") from None


def _check_size(path: Path, dtype: np.dtype, count: int, offset: int, size: int) -> None:
    need = offset + count * dtype.itemsize
    if size < need:
        raise InputError(
            f"{path}: truncated: the header announces {count:,} records ({need:,} bytes) "
            f"but the file holds {size:,} bytes"
        )


def load(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """load(path, mmap=True)

    A ``.npy`` of records as an array: read-only memory-mapped by default (no
    memory is used until rows are touched), or read into memory.

    Raises :class:`InputError` for a missing, truncated or non-``.npy`` file,
    or one that is not a 1-D array.
    """
    p = _check_path(path)
    with _open_npy(p) as f:
        dtype, count, offset = _read_npy_header(f, p)
        _check_size(p, dtype, count, offset, os.fstat(f.fileno()).st_size)
    try:
        return np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{p}: cannot load: {exc}") from None


def iter_npy_blocks(path: str | os.PathLike, block_records: int = _READ_BLOCK
                    ) -> Iterator[tuple[int, np.ndarray]]:
    """iter_npy_blocks(path, block_records=65536)

    Yield ``(first_index, records)`` blocks of a ``.npy`` in order, read into
    one reused buffer: memory stays at one block for a file of any size.
    Each block is only valid until the next one is requested (copy it to
    keep it).
    """
    p = _check_path(path)
    if _check_int(block_records, "block_records") < 1:
        raise ValueError(f"block_records should be positive, but got {block_records}")
    with _open_npy(p) as f:
        dtype, count, offset = _read_npy_header(f, p)
        _check_size(p, dtype, count, offset, os.fstat(f.fileno()).st_size)
        with contextlib.suppress(AttributeError, OSError):
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        buf = np.empty(max(1, min(block_records, count)), dtype)
        raw = buf.view(np.uint8) if dtype.itemsize else buf
        f.seek(offset)
        i = 0
        while i < count:
            m = min(len(buf), count - i)
            want = m * dtype.itemsize
            mv = memoryview(raw)[:want]
            got = 0
            while got < want:
                r = f.readinto(mv[got:])
                if not r:
                    raise InputError(f"{p}: truncated at record {i + got // dtype.itemsize}")
                got += r
            yield i, buf[:m]
            i += m


# ---- statistics ------------------------------------------------------------------

#: Every finite double is m * 2**e with an integer |m| < 2**53 and e >= _E0.
_E0 = -1074


#: Values per vectorized step of the exact sums: small enough that the
#: temporaries stay in cache (3x faster than 64 Ki here), far below the 2**25
#: that keeps ``bincount``'s float64 sums exact.
_EXACT_CHUNK = 1 << 14


def _exact_sum(x: np.ndarray) -> int:
    """The exact sum of finite float64 values, as an integer in units of ``2**_E0``.

    Read from the bits, a value is ``m * 2**e`` with an integer
    ``|m| < 2**53`` and ``e >= -1074``.  Values are grouped by exponent with
    ``bincount``, whose float64 sums are exact here: the mantissa is cut into
    27 + 26-bit limbs, so for up to 2**25 values no partial sum reaches 2**53.
    """
    total = 0
    for a in range(0, len(x), _EXACT_CHUNK):
        bits = np.ascontiguousarray(x[a:a + _EXACT_CHUNK], dtype="<f8").view(np.int64)
        field = (bits >> 52) & 0x7FF  # biased exponent; 0 for zeros and subnormals
        m = bits & 0xFFFFFFFFFFFFF
        m |= (field != 0).astype(np.int64) << 52  # the implicit leading bit
        m = np.where(bits < 0, -m, m)
        np.maximum(field, 1, out=field)  # e = field - 1075, and -1074 for subnormals
        base = int(field.min())
        idx = field - base
        width = int(idx.max()) + 1
        base -= 1075 + _E0
        for shift, limb in ((26, m >> 26), (0, m & 0x3FFFFFF)):
            sums = np.bincount(idx, weights=limb.astype(np.float64), minlength=width)
            nz = np.flatnonzero(sums)
            for k, v in zip(nz.tolist(), sums[nz].tolist()):
                total += int(v) << (shift + k + base)
    return total


#: Beyond these magnitudes ``x * x`` under- or overflows and the split below is inexact.
_SQ_LOW, _SQ_HIGH = 2.0**-480, 2.0**500


class _ExactMoments:
    """Sum and sum of squares of float64 values, exactly, in Python integers.

    ``s1`` is the sum in units of ``2**_E0`` (:func:`_exact_sum`).  For the
    squares, each ``x * x`` is split exactly into ``p + err`` (Dekker's
    product with Veltkamp's split, in float64 with no fused operations), and
    both are summed exactly; the rare values whose square would under- or
    overflow go through Python integers instead.  ``s2`` is in units of
    ``2**(2 * _E0)``.
    """

    def __init__(self) -> None:
        self.n = 0
        self.s1 = 0
        self.s2 = 0

    def add(self, x: np.ndarray) -> None:
        for a in range(0, len(x), _EXACT_CHUNK):
            self._add(x[a:a + _EXACT_CHUNK])

    def _add(self, x: np.ndarray) -> None:
        self.s1 += _exact_sum(x)
        ax = np.abs(x)
        safe = ((ax > _SQ_LOW) & (ax < _SQ_HIGH)) | (x == 0)
        xs = x if safe.all() else x[safe]
        c = xs * 134217729.0  # 2**27 + 1
        hi = c - (c - xs)
        lo = xs - hi
        p = xs * xs
        err = ((hi * hi - p) + 2.0 * hi * lo) + lo * lo
        self.s2 += (_exact_sum(p) + _exact_sum(err)) << -_E0
        if xs is not x:
            for v in x[~safe].tolist():
                num, den = v.as_integer_ratio()  # den is a power of two <= 2**-_E0
                self.s2 += (num * num) << (2 * (-_E0 - den.bit_length() + 1))
        self.n += len(x)

    def mean(self) -> float:
        """The mean, correctly rounded (as ``statistics.mean``)."""
        return self.s1 / (self.n << -_E0)

    def stdev(self) -> float:
        """The sample standard deviation, correctly rounded (as ``statistics.stdev``)."""
        n = self.n
        # n * (sum of squared deviations) = n * sum(x**2) - sum(x)**2, in units of 2**(2 * _E0)
        num = n * self.s2 - self.s1 * self.s1
        return _sqrt_ratio(num, (n * (n - 1)) << (-2 * _E0))


def _sqrt_ratio(num: int, den: int) -> float:
    """sqrt(num / den) rounded correctly to a float, for integers num >= 0, den > 0.

    The integer square root is taken with at least 56 significant bits and its
    last bit forced to 1 when the root is inexact (round to odd), so the one
    final rounding, int to float, rounds as the exact root would.
    """
    if num <= 0:
        return 0.0
    shift = max(0, (2 * 58 - (num.bit_length() - den.bit_length())) // 2 + 1)
    scaled = num << (2 * shift)
    root = math.isqrt(scaled // den)
    if root * root * den != scaled:
        root |= 1
    return root / (1 << shift)


class _StatsAccumulator:
    """DPA's per-field statistics over blocks of records.

    ``method="exact"``: what ``statistics.mean`` / ``statistics.stdev`` return
    (DPA's ``compute_statistics``, used by ``save_augmentation_chain``), from
    exact integer sums.  ``method="welford"``: DPA's ``save_augmentation_stream``
    statistics, Welford's recurrence in float64 in record order, replayed
    operation for operation by a compiled loop.
    """

    def __init__(self, fields: Iterable[str], method: str, label: str = "") -> None:
        if method not in ("exact", "welford"):
            raise ValueError(f"method should be 'exact' or 'welford', but got {method!r}")
        self.method = method
        self.label = label
        self.fields = list(fields)
        self.count = 0
        self.min: dict[str, float | None] = {f: None for f in self.fields}
        self.max: dict[str, float | None] = {f: None for f in self.fields}
        self.exact = {f: _ExactMoments() for f in self.fields}
        self.welford = {f: (0, 0.0, 0.0) for f in self.fields}

    def add(self, block: np.ndarray, first_index: int = 0) -> None:
        for f in self.fields:
            x = np.ascontiguousarray(block[f], dtype=np.float64)
            if not len(x):
                continue
            finite = np.isfinite(x)
            if not finite.all():
                k = int(np.argmin(finite))
                raise InputError(f"{self.label}record {first_index + k}: field {f!r} is not a "
                                 f"finite number ({float(x[k])!r})")
            lo, hi = x.min(), x.max()
            # Python's min/max keep the first of equal values: only 0.0 == -0.0 differ.
            if lo == 0:
                lo = x[int(np.argmax(x == 0))]
            if hi == 0:
                hi = x[int(np.argmax(x == 0))]
            cur = self.min[f]
            if cur is None or lo < cur:
                self.min[f] = float(lo)
            cur = self.max[f]
            if cur is None or hi > cur:
                self.max[f] = float(hi)
            if self.method == "exact":
                self.exact[f].add(x)
            else:
                n, mean, m2 = self.welford[f]
                _, mean, m2 = welford_update(x, float(n), mean, m2)
                self.welford[f] = (n + len(x), mean, m2)
        self.count += len(block)

    def result(self) -> dict[str, dict[str, Any]]:
        """``{field: {"mean", "stdev", "min", "max", "count"}}`` as DPA writes it."""
        out = {}
        for f in self.fields:
            n = self.count
            if n == 0:
                out[f] = {"mean": 0.0, "stdev": 0.0, "min": 0.0, "max": 0.0, "count": 0}
                continue
            if self.method == "exact":
                mean = self.exact[f].mean()
                stdev = self.exact[f].stdev() if n > 1 else 0.0
            else:
                _, mean, m2 = self.welford[f]
                variance = m2 / (n - 1) if n > 1 else 0.0
                stdev = variance ** 0.5
            out[f] = {"mean": mean, "stdev": stdev, "min": self.min[f], "max": self.max[f], "count": n}
        return out


def _stats_method_for(prov: dict | None) -> str:
    """DPA's method for a file converted from a DPA JSON file with statistics.

    ``save_augmentation_stream`` (metadata ``"streaming": true``) used Welford's
    recurrence; everything else DPA wrote used the ``statistics`` module.
    """
    source = (prov or {}).get("source") or {}
    meta = source.get("metadata") or {}
    if source.get("statistics") and meta.get("streaming") is True:
        return "welford"
    return "exact"


def compute_stats(path: str | os.PathLike, *, method: str = "auto",
                  fields: Iterable[str] | None = None,
                  block_records: int = _READ_BLOCK) -> dict[str, dict[str, Any]]:
    """compute_stats(path, *, method="auto", fields=None, block_records=65536)

    DPA's statistics block (mean, stdev, min, max, count per field) of a
    ``.npy``, read in blocks: memory stays at one block for any file size.

    Parameters
    ----------
    path : str or PathLike
        A ``.npy`` of records holding some of DPA's five fields.
    method : {"auto", "exact", "welford"}
        ``"exact"``: the values of ``statistics.mean`` and ``statistics.stdev``
        (correctly rounded, as DPA's ``compute_statistics`` and
        ``save_augmentation_chain`` give them), equal bit for bit.
        ``"welford"``: DPA's ``save_augmentation_stream`` statistics (Welford's
        float recurrence in record order), equal bit for bit.  ``"auto"``:
        ``"welford"`` for a file converted from a streaming DPA file that
        carried statistics (from its provenance), else ``"exact"``.
    fields : iterable of str, optional
        Fields to summarise (default: DPA's five, those present).
    block_records : int
        Records read at a time.

    Returns
    -------
    dict
        ``{field: {"mean", "stdev", "min", "max", "count"}}``; for fewer than
        two records ``stdev`` is 0.0, and an empty file gives zeros, as in DPA.
    """
    p = _check_path(path)
    if method == "auto":
        try:
            prov = read_provenance(p)
        except InputError:  # a sidecar that is not dpa's says nothing about the method
            prov = None
        method = _stats_method_for(prov)
    with _open_npy(p) as f:
        dtype, _, _ = _read_npy_header(f, p)
    names = dtype.names or ()
    if fields is None:
        chosen = [x for x in FIELDS if x in names]
        if not chosen:
            raise InputError(f"{p}: holds none of DPA's fields {list(FIELDS)}")
    else:
        chosen = list(fields)
        missing = [x for x in chosen if x not in names]
        if missing:
            raise InputError(f"{p}: has no field(s) {missing}; it has {list(names)}")
        for x in chosen:
            if dtype[x].kind != "f" or dtype[x].shape:
                raise InputError(f"{p}: field {x!r} ({dtype[x]}) is not a float field")
    acc = _StatsAccumulator(chosen, method, f"{p}: ")
    for i, block in iter_npy_blocks(p, block_records):
        acc.add(block, i)
    return acc.result()


# ---- verification ----------------------------------------------------------------


def _first_mismatch(found: np.ndarray, expected: np.ndarray) -> tuple[int, str] | None:
    """Position and field of the first record whose bytes differ, or None."""
    a = found.view(np.uint8).reshape(len(found), found.dtype.itemsize)
    b = expected.view(np.uint8).reshape(len(expected), expected.dtype.itemsize)
    rows = np.flatnonzero((a != b).any(axis=1))
    if not len(rows):
        return None
    i = int(rows[0])
    for name in found.dtype.names:
        if found[name][i].tobytes() != expected[name][i].tobytes():
            return i, name
    return i, found.dtype.names[0]  # pragma: no cover - padding bytes only


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return repr(value.decode("ascii", "replace"))
    return repr(value.item() if isinstance(value, np.generic) else value)


def _mismatch_error(where: str, found: np.ndarray, expected: np.ndarray, first_index: int,
                    first_id: int | range | np.ndarray, hint: str = ""
                    ) -> VerificationError | None:
    """The first mismatch as an error, or None.

    ``first_id`` is the sample id of ``found[0]`` when the ids are consecutive,
    or the block's ids (a range of any step, or an array).
    """
    hit = _first_mismatch(found, expected)
    if hit is None:
        return None
    i, name = hit
    fv, ev = found[name][i], expected[name][i]
    fv = fv.item() if isinstance(fv, np.generic) else fv
    ev = ev.item() if isinstance(ev, np.generic) else ev
    index = first_index + i
    sample_id = int(first_id[i]) if isinstance(first_id, (range, np.ndarray)) else first_id + i
    msg = (f"{where}: record {index} (sample id {sample_id}): field {name!r} is "
           f"{_show(fv)} in the file but {_show(ev)} recomputed")
    if index == 0 and hint:
        msg += f" ({hint})"
    return VerificationError(msg, index=index, field=name, found=fv, expected=ev)


def _config_from(prov: dict, where: str) -> AugmentationConfig:
    cfg = prov.get("config")
    if cfg is None:
        raise InputError(f"{where}: the provenance records no config, so records cannot be recomputed")
    try:
        return AugmentationConfig.from_dict(cfg)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: provenance config is invalid: {exc}") from None


def _recompute_for(prov: dict, config: AugmentationConfig, where: str, with_hash: bool,
                   threads: int | None) -> Callable[[Any, np.ndarray], np.ndarray]:
    """``recompute(ids, out)`` for the seeding a provenance records (:meth:`Seeding.from_dict`)."""
    try:
        seeding = Seeding.from_dict(prov)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: provenance {exc}") from None

    def recompute(ids: Any, out: np.ndarray) -> np.ndarray:
        return generate_seeded(ids, config, seeding, out=out, hash=with_hash, threads=threads)

    return recompute


def verify_npy(path: str | os.PathLike, *, threads: int | None = None,
               progress: Callable[[int, int | None], None] | None = None,
               block_records: int = _READ_BLOCK) -> int:
    """verify_npy(path, *, threads=None, progress=None, block_records=65536)

    Recompute every record of a ``.npy`` dpa wrote from its provenance and
    compare bit for bit.

    The ids are ``start_id`` (and ``step``) of the provenance, or, when it
    records ``"ids": "sample_id"`` (an export of a shuffled or padded
    distributed stream), the file's own ``sample_id`` column, whose SHA-256
    must then equal the provenance's ``ids_sha256``.

    Returns the number of records checked.  Raises :class:`VerificationError`
    naming the first mismatch (record, sample id, field, both values) or an
    id list that is not the one exported, or :class:`InputError` when the
    file has no usable provenance.
    """
    p = _check_path(path)
    side = provenance_path(p)
    prov = read_provenance(p)
    if prov is None:
        raise InputError(
            f"{p}: no provenance ({side.name}), so records cannot be recomputed"
        )
    config = _config_from(prov, str(side))
    start = prov.get("start_id")
    step = prov.get("step", 1)
    ids_from = prov.get("ids")
    want_sha = prov.get("ids_sha256")
    if ids_from is not None:
        if ids_from != "sample_id":
            raise InputError(f"{side}: provenance has ids={json.dumps(ids_from)}; the only "
                             "known value is \"sample_id\" (the file's sample_id column)")
        if not isinstance(want_sha, str) or not re.fullmatch(r"[0-9a-f]{64}", want_sha):
            raise InputError(f"{side}: provenance has \"ids\": \"sample_id\" but no valid "
                             "ids_sha256 (64 lowercase hex digits)")
    elif isinstance(start, bool) or not isinstance(start, int):
        raise InputError(f"{side}: provenance has neither start_id nor ids, so the sample ids "
                         "of the records are unknown")
    elif isinstance(step, bool) or not isinstance(step, int) or step == 0:
        raise InputError(f"{side}: provenance step should be a non-zero integer, but is {step!r}")
    with _open_npy(p) as f:
        dtype, count, _ = _read_npy_header(f, p)
    if prov.get("count") not in (None, count):
        raise InputError(f"{p}: holds {count} records but its provenance says {prov.get('count')}")
    names = dtype.names or ()
    with_hash = "hash" in names
    if dtype != record_dtype(with_hash):
        raise InputError(f"{p}: dtype {dtype} is not one of dpa's record dtypes")
    recompute = _recompute_for(prov, config, str(side), with_hash, threads)
    sha = hashlib.sha256() if ids_from is not None else None
    expected = np.empty(max(1, min(block_records, count)), dtype)
    for i, block in iter_npy_blocks(p, block_records):
        if sha is not None:
            ids = np.ascontiguousarray(block["sample_id"])  # '<i8', as record_dtype has it
            sha.update(ids)
            negative = np.flatnonzero(ids < 0)
            if len(negative):
                k = int(negative[0])
                raise VerificationError(
                    f"{p}: record {i + k}: sample_id {int(ids[k])} is not a sample id "
                    "(negative)", index=i + k, field="sample_id", found=int(ids[k]))
            hint = ""
        else:
            ids = range(start + i * step, start + (i + len(block)) * step, step)
            hint = "is the provenance's start_id right?"
        exp = recompute(ids, expected[:len(block)])
        err = _mismatch_error(str(p), block, exp, i, ids, hint)
        if err is not None:
            raise err
        if progress is not None:
            progress(i + len(block), count)
    if sha is not None and sha.hexdigest() != want_sha:
        raise VerificationError(
            f"{p}: the sample_id column is not the exported id list: its SHA-256 is "
            f"{sha.hexdigest()} but the provenance's ids_sha256 is {want_sha}",
            field="sample_id", found=sha.hexdigest(), expected=want_sha)
    return count


# ---- incremental JSON reading ----------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class _JsonText:
    """A sliding window over a JSON text file: values are decoded one at a time.

    Only the current window (``chunk`` characters, more while a single value
    straddles its end, at most ``max_value`` characters for one value) is in
    memory.  Positions for messages are absolute (line, column).
    """

    def __init__(self, f, path: Path, chunk: int | None = None, max_value: int = 64 << 20) -> None:
        self.f = f
        self.path = path
        self.chunk = _JSON_CHUNK if chunk is None else chunk
        self.max_value = max_value
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.line = 1  # line of buf[0]
        self.col0 = 0  # column (0-based) of buf[0]
        self.dropped = 0  # characters before buf[0]

    def _more(self, want: int | None = None) -> bool:
        """Read another chunk (dropping what was consumed); False at end of file."""
        if self.eof:
            return False
        if self.pos:
            self.dropped += self.pos
            dropped = self.buf[: self.pos]
            nl = dropped.count("\n")
            if nl:
                self.line += nl
                self.col0 = len(dropped) - dropped.rfind("\n") - 1
            else:
                self.col0 += len(dropped)
            self.buf = self.buf[self.pos:]
            self.pos = 0
        try:
            text = self.f.read(max(self.chunk, want or 0))
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.path}: not UTF-8 text ({exc.reason})") from None
        if not text:
            self.eof = True
            return False
        self.buf += text
        return True

    def where(self, pos: int | None = None) -> str:
        pos = self.pos if pos is None else pos
        nl = self.buf.rfind("\n", 0, pos)
        if nl < 0:
            return f"line {self.line}, column {self.col0 + pos + 1}"
        return f"line {self.line + self.buf.count(chr(10), 0, pos)}, column {pos - nl}"

    def peek(self) -> str | None:
        """Skip whitespace; the next character, or None at end of file."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return None

    def expect(self, chars: str, context: str) -> str:
        c = self.peek()
        if c is None:
            raise InputError(f"{self.path}: truncated JSON: the file ends {context}")
        if c not in chars:
            want = " or ".join(repr(x) for x in chars)
            raise InputError(f"{self.path}: invalid JSON at {self.where()}: expected {want} "
                             f"{context}, found {c!r}")
        self.pos += 1
        return c

    def value(self, context: str) -> Any:
        """Decode the JSON value at the current position."""
        if self.peek() is None:
            raise InputError(f"{self.path}: truncated JSON: the file ends {context}")
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # An error in the last few characters may only mean the value goes on
                # in the next chunk; read on before judging.
                near_end = exc.pos >= len(self.buf) - 64 or exc.msg.startswith("Unterminated")
                if near_end and not self.eof and len(self.buf) - self.pos < self.max_value:
                    self._more(len(self.buf) - self.pos)
                    continue
                if near_end and self.eof:
                    raise InputError(f"{self.path}: truncated JSON: the file ends {context} "
                                     f"({self.where(exc.pos)})") from None
                raise InputError(f"{self.path}: invalid JSON at {self.where(exc.pos)}: {exc.msg} "
                                 f"({context})") from None
            # A number at the very end of the window may continue in the next chunk.
            if end >= len(self.buf) and not self.eof and not isinstance(value, (dict, list, str)):
                if self._more():
                    continue
            self.pos = end
            return value

    def array_items(self, context: str) -> Iterator[list]:
        """After ``[``: yield the array's items in lists (many at a time where possible).

        Whole runs of items are decoded with one ``json.loads`` call: the
        window is cut after the last ``}`` that a comma follows, and the run
        is parsed as an array.  If the cut fell inside a string or a nested
        value, parsing fails and the run is decoded item by item instead,
        which also pinpoints any error.
        """
        first = True
        slow_until = -1  # absolute offset up to which items go one by one
        while True:
            c = self.peek()
            if c is None:
                raise InputError(f"{self.path}: truncated JSON: the file ends inside {context}")
            if c == "]":
                self.pos += 1
                return
            if not first:
                if c != ",":
                    raise InputError(f"{self.path}: invalid JSON at {self.where()}: expected ',' "
                                     f"or ']' in {context}, found {c!r}")
                self.pos += 1
                if self.peek() is None:
                    raise InputError(f"{self.path}: truncated JSON: the file ends inside {context}")
            first = False
            if self.dropped + self.pos >= slow_until:
                items = self._bulk()
                if items is not None:
                    yield items
                    continue
                slow_until = self.dropped + self.pos + self.chunk
            yield [self.value(f"inside {context}")]

    def _bulk(self) -> list | None:
        if len(self.buf) - self.pos < self.chunk // 2 and not self.eof:
            self._more()
        end = len(self.buf)
        k = end
        for _ in range(64):
            k = self.buf.rfind(",", self.pos, k)
            if k <= self.pos:
                return None
            j = k - 1
            while j > self.pos and self.buf[j] in " \t\r\n":
                j -= 1
            if self.buf[j] == "}":
                break
        else:
            return None
        try:
            items = json.loads("[" + self.buf[self.pos:j + 1] + "]")
        except (json.JSONDecodeError, RecursionError):
            return None
        self.pos = j + 1
        return items


def _dpa_json_events(f, path: Path) -> Iterator[tuple]:
    """Events of a DPA file: ``("meta", key, value)`` and ``("items", list, None)``."""
    text = _JsonText(f, path)
    c = text.peek()
    if c == "[":
        text.pos += 1
        for items in text.array_items("the top-level array"):
            yield ("items", items, None)
    else:
        text.expect("{", "at the start of the document")
        first = True
        seen = False
        while True:
            c = text.peek()
            if c is None:
                raise InputError(f"{path}: truncated JSON: the top-level object is not closed")
            if c == "}":
                text.pos += 1
                break
            if not first:
                text.expect(",", "between top-level keys")
                if text.peek() != '"':
                    raise InputError(f"{path}: invalid JSON at {text.where()}: expected a key")
            first = False
            key = text.value("at a top-level key")
            if not isinstance(key, str):
                raise InputError(f"{path}: invalid JSON at {text.where()}: expected a key")
            text.expect(":", f"after the key {key!r}")
            if key == "augmentations":
                text.expect("[", "at the 'augmentations' array (it should be an array)")
                seen = True
                for items in text.array_items("the 'augmentations' array"):
                    yield ("items", items, None)
            else:
                yield ("meta", key, text.value(f"in the value of {key!r}"))
        if not seen:
            raise InputError(f"{path}: no 'augmentations' array in the top-level object")
    if text.peek() is not None:
        raise InputError(f"{path}: invalid JSON at {text.where()}: extra data after the document")


def _jsonl_events(f, path: Path, max_line: int = 16 << 20) -> Iterator[tuple]:
    """Events of a JSON Lines file: ``("items", records, line_numbers)``."""
    lines: list[str] = []
    numbers: list[int] = []
    lineno = 0

    def flush() -> Iterator[tuple]:
        try:
            items = json.loads("[" + ",".join(lines) + "]")
            if len(items) == len(lines):
                yield ("items", items, list(numbers))
                return
        except json.JSONDecodeError:
            pass
        items = []
        for text, no in zip(lines, numbers):
            try:
                items.append(json.loads(text))
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}: line {no}: invalid JSON: {exc.msg} (column {exc.colno})"
                ) from None
        yield ("items", items, list(numbers))

    while True:
        try:
            line = f.readline(max_line + 1)
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from None
        if not line:
            break
        lineno += 1
        if len(line) > max_line and not line.endswith("\n"):
            raise InputError(f"{path}: line {lineno} is longer than {max_line} characters")
        if line.strip():
            lines.append(line)
            numbers.append(lineno)
            if len(lines) >= _JSON_BATCH // 4:
                yield from flush()
                lines, numbers = [], []
    if lines:
        yield from flush()


def _detect_format(f, path: Path) -> str:
    """``"dpa"`` (a DPA document or a bare array) or ``"jsonl"``, from the first key."""
    head = f.read(4096)
    f.seek(0)
    stripped = head.lstrip(" \t\r\n")
    if stripped.startswith("["):
        return "dpa"
    if not stripped.startswith("{"):
        if not stripped:
            raise InputError(f"{path}: empty file")
        raise InputError(f"{path}: not JSON: expected '{{' or '[' at the start, found {stripped[:1]!r}")
    m = re.match(r'\{\s*"((?:[^"\\]|\\.)*)"', stripped)
    if m is None or m.group(1) in ("metadata", "augmentations", "statistics"):
        return "dpa"  # a document (the object parser reports what is wrong with it)
    return "jsonl"


_HEX = np.zeros(256, dtype=bool)
_HEX[np.frombuffer(b"0123456789abcdef", np.uint8)] = True


def _records_into(items: list, out: np.ndarray, first_index: int, first_id: int,
                  where: Callable[[int], str]) -> None:
    """Fill ``out`` (len(items) records) from DPA's record dicts, validating."""
    n = len(items)
    if n == 0:
        return
    if not all(type(r) is dict for r in items):
        i = next(k for k, r in enumerate(items) if type(r) is not dict)
        raise InputError(f"{where(i)}: is {type(items[i]).__name__}, not an object")
    out["sample_id"] = np.arange(first_id, first_id + n, dtype=np.int64)
    if "sample_id" in items[0]:
        ids = [r.get("sample_id") for r in items]
        want = range(first_id, first_id + n)
        if ids != list(want):
            i = next(k for k in range(n) if ids[k] != want[k])
            raise InputError(
                f"{where(i)}: sample_id is {ids[i]!r} but --start-id + position gives {want[i]}"
            )
    for name in FIELDS:
        try:
            col = [r[name] for r in items]
        except KeyError:
            i = next(k for k, r in enumerate(items) if name not in r)
            raise InputError(f"{where(i)}: field {name!r} is missing") from None
        kinds = set(map(type, col))
        if not kinds <= {float, int}:
            i = next(k for k, v in enumerate(col) if type(v) not in (float, int))
            raise InputError(f"{where(i)}: field {name!r} is not a number: {col[i]!r}")
        try:
            values = np.array(col, dtype=np.float64)
        except OverflowError:
            i = next(k for k, v in enumerate(col) if abs(v) > 1.7976931348623157e308)
            raise InputError(f"{where(i)}: field {name!r} is out of float range: {col[i]!r}") from None
        finite = np.isfinite(values)
        if not finite.all():
            i = int(np.argmin(finite))
            raise InputError(f"{where(i)}: field {name!r} is not a finite number: {col[i]!r}")
        out[name] = values
    if "hash" in out.dtype.names:
        try:
            col = [r["hash"] for r in items]
        except KeyError:
            i = next(k for k, r in enumerate(items) if "hash" not in r)
            raise InputError(f"{where(i)}: field 'hash' is missing") from None
        bad = None
        if not set(map(type, col)) <= {str} or set(map(len, col)) != {64}:
            bad = next(k for k, v in enumerate(col) if type(v) is not str or len(v) != 64)
        else:
            try:
                raw = "".join(col).encode("ascii")
            except UnicodeEncodeError:
                bad = next(k for k, v in enumerate(col) if not v.isascii())
            else:
                ok = _HEX[np.frombuffer(raw, np.uint8)].reshape(n, 64).all(axis=1)
                if not ok.all():
                    bad = int(np.argmin(ok))
        if bad is not None:
            raise InputError(
                f"{where(bad)}: field 'hash' is not 64 lowercase hex digits: {col[bad]!r}"
            )
        out["hash"] = np.frombuffer(raw, dtype="S64")


def _read_config_arg(config: Any) -> AugmentationConfig | None:
    if config is None or isinstance(config, AugmentationConfig):
        return config
    raise TypeError(f"config should be an AugmentationConfig or None, but got {type(config).__name__}")


def _config_diff(a: AugmentationConfig, b: AugmentationConfig) -> str:
    da, db = a.to_dict(), b.to_dict()
    for k in da:
        if da[k] != db[k]:
            return f"{k}: {json.dumps(_jsonable(da[k]))} vs {json.dumps(_jsonable(db[k]))}"
    return ""


def convert_json(
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    start_id: int = 0,
    config: AugmentationConfig | None = None,
    rank: int | None = None,
    base_seed: int = 0,
    hash: bool | None = None,
    verify: bool = False,
    format: str = "auto",
    force: bool = False,
    max_memory_mb: float = DEFAULT_MAX_MEMORY_MB,
    threads: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    direct: bool | None = None,
) -> SaveResult:
    """convert_json(input, output, *, start_id=0, config=None, rank=None, base_seed=0, hash=None, verify=False, format="auto", force=False, max_memory_mb=64, threads=None, progress=None, direct=None)

    Convert a JSON file DPA 0.2.1 wrote (or JSON Lines) to a ``.npy`` of records.

    The file is read incrementally: memory stays bounded for any file size.
    Records carry no sample id in DPA's files; record ``k`` gets
    ``start_id + k``.  The output is written atomically as by
    :func:`save_npy`, with provenance recording the source file, its
    metadata and its statistics block.

    Parameters
    ----------
    input : str or PathLike
        ``save_augmentation_chain`` or ``save_augmentation_stream`` output
        (a top-level object with ``metadata``, ``augmentations`` and maybe
        ``statistics``), a bare JSON array of records, or JSON Lines (one
        record object per line).
    output : str or PathLike
        The ``.npy`` to write.
    start_id : int
        Sample id of the first record.
    config : AugmentationConfig, optional
        The config the records were generated with; DPA's files carry it in
        ``metadata.config`` (a different one given here is an error).  Needed
        for ``verify`` when the file does not carry it.
    rank, base_seed : int, optional
        DPA's rank-aware seeding, if the records were generated with it (for
        ``verify`` and the provenance).
    hash : bool, optional
        Keep the records' ``hash`` field (``PARAM_HASH_DTYPE``).  Default:
        keep it if the first record has one.
    verify : bool
        Recompute every record with the core kernel and compare bit for bit;
        compare the file's ``statistics`` block with the statistics of the
        records too.  The first mismatch raises :class:`VerificationError` and
        nothing is written.
    format : {"auto", "dpa", "jsonl"}
        Input format; ``"auto"`` looks at the first key.
    force, max_memory_mb, threads, progress, direct
        As in :func:`save_npy`.

    Raises
    ------
    InputError
        Missing file, invalid or truncated JSON, a missing or non-numeric
        field (the message names the record index and field).
    VerificationError
        With ``verify``: the first record or statistic that differs.
    OutputError
        As in :func:`save_npy`.
    """
    src = _check_path(input, "input")
    dest = _check_path(output, "output")
    start_id = _check_int(start_id, "start_id")
    if not 0 <= start_id <= MAX_SAMPLE_ID:
        raise ValueError(f"start_id should be in [0, 2**63-1], but got start_id={start_id}")
    config = _read_config_arg(config)
    if format not in ("auto", "dpa", "jsonl"):
        raise ValueError(f"format should be 'auto', 'dpa' or 'jsonl', but got format={format!r}")
    if hash is not None and not isinstance(hash, bool):
        raise TypeError(f"hash should be None or a bool, but got hash={hash!r}")
    for name, value in (("verify", verify), ("force", force)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} should be a bool, but got {name}={value!r}")
    # Validate the seeding now, not after reading the file.
    seeding = Seeding.from_args("dpa", rank, base_seed)
    try:
        f = open(src, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise InputError(f"{src}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{src}: is a directory") from None
    except OSError as exc:
        raise InputError(f"{src}: cannot read: {_os_message(exc)}") from None
    with f:
        fmt = _detect_format(f, src) if format == "auto" else format
        _check_destination(dest, force)
        state = _ConvertState(src, fmt, start_id, config, seeding, hash, verify, threads)
        events = _dpa_json_events(f, src) if fmt == "dpa" else _jsonl_events(f, src)
        result = save_npy(
            state.arrays(events, progress), dest, force=force, max_memory_mb=max_memory_mb,
            provenance=state.provenance, direct=direct,
        )
    return result


def read_config(path: str | os.PathLike) -> AugmentationConfig:
    """read_config(path)

    The augmentation config a JSON file holds: a mapping of
    ``AugmentationConfig`` fields (as DPA's ``asdict`` writes them), a DPA
    file's ``metadata.config``, or a dpa provenance file's ``config``.  A DPA
    file is read only up to its ``augmentations`` array, so its size does
    not matter.

    Raises :class:`InputError` naming the file for anything else, including
    an invalid config (e.g. ``low >= high``).
    """
    p = _check_path(path)
    try:
        f = open(p, encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {_os_message(exc)}") from None
    top: dict[str, Any] = {}
    with f:
        text = _JsonText(f, p, chunk=1 << 16)
        text.expect("{", "at the start of the config")
        first = True
        while True:
            c = text.peek()
            if c is None:
                raise InputError(f"{p}: truncated JSON: the top-level object is not closed")
            if c == "}":
                break
            if not first:
                text.expect(",", "between keys")
            first = False
            key = text.value("at a key")
            if not isinstance(key, str):
                raise InputError(f"{p}: invalid JSON at {text.where()}: expected a key")
            text.expect(":", f"after the key {key!r}")
            if key == "augmentations":  # the records of a DPA file: the config came before
                break
            top[key] = text.value(f"in the value of {key!r}")
    if isinstance(top.get("metadata"), dict) and "config" in top["metadata"]:
        cfg, where = top["metadata"]["config"], "metadata.config"
    elif "config" in top and top.get("format") == PROVENANCE_FORMAT:
        cfg, where = top["config"], "config"
    else:
        cfg, where = top, "the config"
    if cfg is None:
        raise InputError(f"{p}: {where} is null: the file records no config")
    try:
        return AugmentationConfig.from_dict(cfg)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{p}: {where} is invalid: {exc}") from None


class _ConvertState:
    """Turns parser events into record arrays (one reused buffer), checking as it goes."""

    def __init__(self, src: Path, fmt: str, start_id: int, config: AugmentationConfig | None,
                 seeding: Seeding, hash: bool | None, verify: bool, threads: int | None) -> None:
        self.src = src
        self.fmt = fmt
        self.start_id = start_id
        self.given_config = config
        self.config = config
        self.seeding = seeding
        self.hash = hash
        self.verify = verify
        self.threads = threads
        self.meta: dict[str, Any] = {}
        self.count = 0
        self.buf: np.ndarray | None = None
        self.expected: np.ndarray | None = None
        self.stats: _StatsAccumulator | None = None

    def _where(self, first: int, lines: list[int] | None) -> Callable[[int], str]:
        def where(i: int) -> str:
            if lines is not None:
                return f"{self.src}: line {lines[i]} (record {first + i})"
            return f"{self.src}: record {first + i}"
        return where

    def _on_meta(self, key: str, value: Any) -> None:
        self.meta[key] = value
        if key != "metadata":
            return
        if not isinstance(value, dict):
            raise InputError(f"{self.src}: 'metadata' should be an object")
        cfg = value.get("config")
        if cfg is None:
            return
        try:
            file_config = AugmentationConfig.from_dict(cfg)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{self.src}: metadata.config is invalid: {exc}") from None
        if self.given_config is not None and self.given_config != file_config:
            raise InputError(
                f"{self.src}: metadata.config differs from the config given "
                f"({_config_diff(file_config, self.given_config)})"
            )
        if self.count and self.verify and self.config is None:
            raise InputError(f"{self.src}: metadata comes after the records; pass the config "
                             "(--preset or --config) to verify")
        self.config = file_config

    def _first_batch(self, items: list) -> None:
        first = items[0] if items else {}
        if self.hash is not None:
            want_hash = self.hash
        else:
            want_hash = isinstance(first, dict) and "hash" in first
        dtype = record_dtype(want_hash)
        self.buf = np.empty(_JSON_BATCH, dtype)
        if self.verify:
            if self.config is None:
                raise InputError(f"{self.src}: cannot verify: the file carries no config; pass "
                                 "--preset or --config (config=...)")
            self.expected = np.empty(_JSON_BATCH, dtype)
            # DPA writes the statistics block after the records: gather the
            # records' statistics as they pass, to compare at the end.
            self.stats = _StatsAccumulator(FIELDS, self._stats_method(), f"{self.src}: ")

    def _stats_method(self) -> str:
        meta = self.meta.get("metadata")
        streaming = isinstance(meta, dict) and meta.get("streaming") is True
        return "welford" if streaming else "exact"

    def arrays(self, events: Iterator[tuple], progress) -> Iterator[np.ndarray]:
        pending: list = []
        lines: list[int] | None = [] if self.fmt == "jsonl" else None
        for ev in events:
            if ev[0] == "meta":
                self._on_meta(ev[1], ev[2])
                continue
            pending.extend(ev[1])
            if lines is not None:
                lines.extend(ev[2])
            while len(pending) >= _JSON_BATCH:
                head = lines[:_JSON_BATCH] if lines is not None else None
                yield self._convert(pending[:_JSON_BATCH], head)
                del pending[:_JSON_BATCH]
                if lines is not None:
                    del lines[:_JSON_BATCH]
                if progress is not None:
                    progress(self.count, None)
        if pending or self.buf is None:
            yield self._convert(pending, lines)
        if progress is not None:
            progress(self.count, None)
        self._finish_checks()

    def _convert(self, items: list, lines: list[int] | None) -> np.ndarray:
        if self.buf is None:
            self._first_batch(items)
        n = len(items)
        first_id = self.start_id + self.count
        if n and first_id + n - 1 > MAX_SAMPLE_ID:
            raise InputError(
                f"{self.src}: record {self.count + n - 1} would get a sample id above 2**63-1"
            )
        out = self.buf[:n]
        _records_into(items, out, self.count, first_id, self._where(self.count, lines))
        if self.verify and n:
            exp = generate_seeded(range(first_id, first_id + n), self.config, self.seeding,
                                  out=self.expected[:n], hash="hash" in out.dtype.names,
                                  threads=self.threads)
            hint = "check --start-id and the config" if self.count == 0 else ""
            err = _mismatch_error(str(self.src), out, exp, self.count, first_id, hint)
            if err is not None:
                raise err
        if self.stats is not None:
            self.stats.add(out, self.count)
        self.count += n
        return out

    def _finish_checks(self) -> None:
        meta = self.meta.get("metadata")
        if isinstance(meta, dict):
            declared = meta.get("num_samples")
            if isinstance(declared, int) and not isinstance(declared, bool) and declared != self.count:
                raise InputError(f"{self.src}: metadata.num_samples is {declared} but the file "
                                 f"holds {self.count} records")
        block = self.meta.get("statistics")
        if self.stats is not None and block is not None:
            got = self.stats.result()
            if not isinstance(block, dict):
                raise InputError(f"{self.src}: 'statistics' should be an object")
            for name in FIELDS:
                theirs = block.get(name)
                if not isinstance(theirs, dict):
                    raise InputError(f"{self.src}: statistics.{name} is missing")
                for key in ("mean", "stdev", "min", "max", "count"):
                    if theirs.get(key) != got[name][key] or type(theirs.get(key)) is bool:
                        raise VerificationError(
                            f"{self.src}: statistics.{name}.{key} is {theirs.get(key)!r} in the "
                            f"file but {got[name][key]!r} recomputed ({self.stats.method} method)",
                            field=f"{name}.{key}", found=theirs.get(key), expected=got[name][key],
                        )

    def provenance(self) -> dict:
        try:
            size = self.src.stat().st_size
        except OSError:
            size = None
        meta = self.meta.get("metadata")
        source = {
            "path": str(self.src.resolve()),
            "format": {"dpa": "dpa-json", "jsonl": "json-lines"}[self.fmt],
            "bytes": size,
        }
        if meta is not None:
            source["metadata"] = meta
        if self.meta.get("statistics") is not None:
            source["statistics"] = self.meta["statistics"]
        prov: dict[str, Any] = {
            "producer": "dpa.io.convert_json",
            **self.seeding.to_dict(),
            "config": self.config.to_dict() if self.config is not None else None,
            "start_id": self.start_id,
        }
        names = self.buf.dtype.names if self.buf is not None else ()
        prov["hash"] = "hash" in names
        prov["verified"] = bool(self.verify)
        prov["source"] = source
        return prov
