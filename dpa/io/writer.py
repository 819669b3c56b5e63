"""The partial file: one ``.npy`` being written, and its atomic commit.

:class:`_PartialNpy` writes ``OUT.npy.partial`` beside the destination, locked
against a second writer, with its resume journal ``OUT.npy.partial.json``;
bytes go through two page-aligned staging buffers of whole batches (a stream
export's hold up to ``WRITE_BUFFER_BATCHES`` batches each, see
:func:`dpa.io.save.export_buffer_records`), written by one writer thread while
the producer fills the other buffer, with ``O_DIRECT`` where the file system
takes it.  :meth:`_PartialNpy.finish` writes the rest and flushes it (``fsync``);
:meth:`_PartialNpy.commit_file` renames the file into place with its
provenance (never over an existing file without ``force``), and
:meth:`_PartialNpy.abort` removes the temporary files.  The staging buffers
of a finished file are kept for the next one the process writes
(:class:`_BufferPool`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import mmap
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .errors import DpaIOError, OutputError, ResumeError, os_message
from .npy import npy_header
from .provenance import partial_paths, provenance_path, resume_conflict

try:  # POSIX only: without it there is no lock against a second writer.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = ["ALIGN", "JOURNAL_FORMAT", "check_destination"]

#: ``O_DIRECT`` transfers are multiples of this, at offsets that are too.
ALIGN = 4096

JOURNAL_FORMAT = "dpa-partial/1"


# ---- staging buffers kept between files -------------------------------------------


class _BufferPool:
    """Staging buffers kept for the next ``.npy`` this process writes.

    Fresh pages cost far more than reused ones on virtual machines (a fault
    and zeroing per 4 KiB page, about 1.6 ms per MiB on the development VM),
    and a process that writes file after file (a Dask worker writing shards,
    one per thread) would otherwise fault in two new buffers per file.  As
    many buffers are kept as the process had in use at once (two per export
    running at the same time), never more; one that a view still uses is
    never kept (``resize`` raises ``BufferError`` while a buffer is
    exported); a forked child starts with none (anonymous maps are shared
    with the parent).
    """

    def __init__(self) -> None:
        self.reset()

    def take(self, size: int) -> mmap.mmap:
        """The smallest kept buffer of at least ``size`` bytes, or a new one."""
        with self._lock:
            self._out += 1
            self.peak = max(self.peak, self._out)
            fits = [m for m in self._free if len(m) >= size]
            if fits:
                best = min(fits, key=len)
                self._free.remove(best)
                return best
        return mmap.mmap(-1, size)

    def give(self, m: mmap.mmap) -> None:
        """Keep ``m`` for a later file if nothing uses it and the process has
        needed that many; else close it."""
        try:
            m.resize(len(m))  # a no-op that fails while a view of m exists
            free = True
        except (BufferError, OSError, SystemError, TypeError, ValueError):
            free = False
        with self._lock:
            self._out -= 1
            if free and len(self._free) < self.peak:
                self._free.append(m)
                return
        with contextlib.suppress(BufferError):
            m.close()

    def reset(self) -> None:
        """Forget every kept buffer (at the start, and after ``fork`` in the child)."""
        self._free: list[mmap.mmap] = []
        self._out = 0
        self.peak = 0
        self._lock = threading.Lock()


_POOL = _BufferPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL.reset)


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


def check_destination(dest: Path, force: bool) -> None:
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

    Bytes go through two page-aligned staging buffers of ``buffer_records``
    records (whole batches of ``capacity`` records; at least one batch),
    reused for the whole file: the producer fills one (``reserve`` /
    ``commit`` or ``append``) while a writer thread writes the other, one
    write per full buffer.  With ``O_DIRECT`` each write is a multiple of
    4 KiB at an aligned offset; the few bytes past the last aligned boundary
    are carried to the front of the next buffer, and the final ones are
    written through an ordinary descriptor.
    """

    def __init__(self, dest: Path, dtype: np.dtype, count: int | None, *, capacity: int,
                 provenance: dict | None, force: bool, resume: bool, direct: bool | None,
                 checkpoint_seconds: float, buffer_records: int = 0) -> None:
        self.dest = dest
        self.dtype = dtype
        self.itemsize = dtype.itemsize
        self.count = count
        self.header = npy_header(dtype, 0 if count is None else count)
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
                raise OutputError(f"cannot open {self.path}: {os_message(exc)}") from None
        except OSError as exc:
            raise OutputError(f"cannot write {self.dest}: {os_message(exc)}") from None
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
            conflict = resume_conflict(old_prov, self.provenance)
            if conflict is not None:
                raise ResumeError(f"cannot resume {self.dest}: {conflict}; "
                                  "pass --force (force=True) to start over")
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
                    f"cannot open {self.path} with O_DIRECT: {os_message(exc)}"
                ) from None

    def _alloc_buffers(self) -> None:
        size = -(-(2 * ALIGN + self.buffer_records * self.itemsize) // mmap.PAGESIZE) \
            * mmap.PAGESIZE
        self._maps = [_POOL.take(size) for _ in range(2)]
        self._views = [memoryview(m) for m in self._maps]
        self.buffer_bytes = size

    def _buffer(self, i: int) -> memoryview:
        return self._views[i]

    def _seek_resume(self) -> None:
        end = len(self.header) + self.records_start * self.itemsize
        align = ALIGN if self.direct else 1
        self.offset = end // align * align
        carry = os.pread(self.fd, end - self.offset, self.offset)
        os.ftruncate(self.fd, self.offset)
        self.fill = len(carry)
        self._buffer(0)[: self.fill] = carry
        self._write_journal(self.records_start)

    # -- writing -------------------------------------------------------------------

    def reserve(self, k: int) -> np.ndarray:
        """A view of ``k`` records in the current buffer, to fill before :meth:`commit`."""
        if self.fill + k * self.itemsize > self.buffer_bytes - ALIGN:
            self._flush()
        return np.frombuffer(self._maps[self.cur], dtype=self.dtype, count=k, offset=self.fill)

    def commit(self, k: int) -> None:
        """The ``k`` reserved records are filled."""
        self.fill += k * self.itemsize
        if self.fill + self.capacity * self.itemsize > self.buffer_bytes - ALIGN:
            self._flush()

    def append(self, arr: np.ndarray) -> None:
        """Copy records in (split across buffers as needed)."""
        pos = 0
        n = len(arr)
        while pos < n:
            room = (self.buffer_bytes - ALIGN - self.fill) // self.itemsize
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
            raise OutputError(f"cannot write {self.dest}: {os_message(exc)}") from exc

    def _wait(self, i: int) -> None:
        fut = self._pending[i]
        if fut is not None:
            self._pending[i] = None
            with self._writing():
                fut.result()

    def _flush(self) -> None:
        """Hand the aligned part of the current buffer to the writer; switch buffers."""
        total = self.fill
        align = ALIGN if self.direct else 1
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
            "format": JOURNAL_FORMAT,
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
        align = ALIGN if self.direct else 1
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
            header = npy_header(self.dtype, count)
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
            _POOL.give(m)
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
