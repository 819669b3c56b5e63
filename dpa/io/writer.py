"""The partial file: one ``.npy`` being written, and its atomic commit.

:class:`_PartialNpy` writes ``OUT.npy.partial`` beside the destination:
created exclusively (never through a link, :mod:`dpa.io.files`), locked
against a second writer, with its resume journal ``OUT.npy.partial.json``
(:mod:`dpa.io.journal`), which only ever claims flushed bytes.  Bytes go
through two page-aligned staging buffers of whole batches (a stream export's
hold up to ``WRITE_BUFFER_BATCHES`` batches each, see
:func:`dpa.io.save.export_buffer_records`), written by one writer thread
while the producer fills the other buffer, with ``O_DIRECT`` where the file
system takes it.  :meth:`_PartialNpy.finish` writes the rest and flushes it
(``fsync``); :meth:`_PartialNpy.commit_file` renames the file into place (a
rename: never over a file that appeared meanwhile without ``force``) with its
provenance, and flushes the directory; :meth:`_PartialNpy.abort` removes the
temporary files; the staging buffers go back to :data:`dpa.io.buffers.POOL`
for the next file the process writes.  An existing partial file is resumed only if it is a regular
file of one link, owned by this user, whose journal matches; otherwise it is
refused, or with ``force`` unlinked (never written: it may be another name of
a finished file) and created anew.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .buffers import POOL
from .destination import fcntl, lock, sidecar_bytes, signals_deferred, temporary_paths
from .errors import DpaIOError, OutputError, ResumeError, os_message
from .files import (check_free_space, fsync_dir, is_regular, link_error, open_dir, refuse_link,
                    rename_noreplace, same_inode, unlink_quiet, write_new_file)
from .journal import journal_bytes, journal_tmp, read_journal, write_journal
from .npy import npy_header
from .provenance import partial_paths, provenance_path, resume_conflict, sidecar_tmp

__all__ = ["ALIGN", "fcntl"]

#: ``O_DIRECT`` transfers are multiples of this, at offsets that are too.
ALIGN = 4096

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while len(data):
        n = os.pwrite(fd, data, offset)
        data = data[n:]
        offset += n


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
        self.dirfd = -1
        self.records_start = 0
        self.resumed = False
        self._claimed = 0
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future | None] = [None, None]
        self._maps: list[mmap.mmap] = []
        self._open(force, resume, direct)

    # -- opening -------------------------------------------------------------------

    def _open(self, force: bool, resume: bool, direct: bool | None) -> None:
        for path in temporary_paths(self.dest):
            refuse_link(path)
        created = self._acquire()
        try:
            if not created:
                if self._adopt_existing(force, resume):
                    self.resumed = True
                else:  # never write a partial file we did not create: another name, new inode
                    try:
                        os.unlink(self.path)
                    except OSError as exc:
                        raise OutputError(f"cannot remove {self.path}: {os_message(exc)}") from None
                    self._close_fds()
                    if not self._acquire():
                        raise OutputError(f"another process is writing {self.dest} "
                                          f"({self.path} was created meanwhile)")
                    created = True
            self.dirfd = open_dir(self.dest.parent)
            if self.count is not None:
                have = min(os.fstat(self.fd).st_size, self._end(self.count)) if self.resumed else 0
                check_free_space(self.dest, self._end(self.count) - have)
            self._open_direct(direct)
            self._alloc_buffers()
            if self.resumed:
                self._seek_resume()
            else:
                self.offset = 0
                self.fill = len(self.header)
                self._buffer(0)[: self.fill] = self.header
                self._write_journal(0)  # claims nothing: a kill now is resumed from record 0
        except BaseException:
            if created:
                self._remove_own()
            self._close_fds()
            raise
        self.cur = 0
        self._last_checkpoint = time.monotonic()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dpa-writer")

    def _end(self, records: int) -> int:
        """File size holding ``records`` records."""
        return len(self.header) + records * self.itemsize

    def _acquire(self) -> bool:
        """Open ``OUT.npy.partial`` (created exclusively if absent, never through a
        link) and lock it; return whether it was created.  The name must still
        point at the locked file once the lock is held, so two processes never
        both think they own it."""
        for _ in range(8):
            created = True
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                             0o644)
            except FileExistsError:
                created = False
                try:
                    fd = os.open(self.path, os.O_RDWR | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        raise link_error(self.path) from None
                    raise OutputError(f"cannot open {self.path}: {os_message(exc)}") from None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise link_error(self.path) from None
                raise OutputError(f"cannot write {self.dest}: {os_message(exc)}") from None
            ok = False
            try:
                lock(fd, self.dest, self.path)
                st = os.fstat(fd)
                try:
                    current = os.lstat(self.path)
                except FileNotFoundError:
                    continue
                if not same_inode(st, current):
                    continue
                if not is_regular(st):
                    raise OutputError(f"{self.path} is not a regular file; remove it")
                ok = True
            finally:
                if not ok:
                    os.close(fd)
            self.fd = fd
            return created
        raise OutputError(f"cannot lock {self.path}: it keeps being replaced")  # pragma: no cover

    def _adopt_existing(self, force: bool, resume: bool) -> bool:
        """A partial file from an earlier run is open and locked: whether to
        resume it (True) or discard it (False); or refuse."""
        st = os.fstat(self.fd)
        foreign = self._foreign(st)
        journal = None if foreign else read_journal(self.journal_path)
        if resume and self.provenance is not None:
            if foreign:
                raise ResumeError(f"cannot resume {self.dest}: {foreign}; "
                                  "pass --force (force=True) to start over")
            if journal is None:  # killed before its first checkpoint: nothing is claimed
                return False
            return self._check_resumable(journal, st.st_size)
        if force:
            return False
        done = journal.get("records_durable") if journal else None
        old_prov = journal.get("provenance") if journal else None
        total = old_prov.get("count") if isinstance(old_prov, dict) else None
        if isinstance(done, int) and isinstance(total, int):
            what = f"{done:,} of {total:,} records"
        else:
            what = "unknown progress"
        hint = ("rerun with --resume (resume=True) to continue it, or "
                if self.provenance is not None and not foreign else "")
        raise OutputError(
            f"{self.path} holds an interrupted export ({what}); {hint}"
            "pass --force (force=True) to start over"
        )

    def _foreign(self, st: os.stat_result) -> str | None:
        """Why the existing partial file is not one dpa may write in place, or None."""
        if st.st_nlink != 1:
            return f"{self.path} has {st.st_nlink} names (another name is a finished file)"
        with contextlib.suppress(OSError):
            if same_inode(st, os.stat(self.dest)):
                return f"{self.path} is {self.dest} itself"
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            return f"{self.path} belongs to another user"
        return None

    def _check_resumable(self, journal: dict, size: int) -> bool:
        if not journal:
            raise ResumeError(
                f"cannot resume {self.dest}: {self.journal_path} is unreadable; "
                "pass --force (force=True) to start over"
            )
        conflict = resume_conflict(journal.get("provenance"), self.provenance)
        if conflict is not None:
            raise ResumeError(f"cannot resume {self.dest}: {conflict}; "
                              "pass --force (force=True) to start over")
        layout = (journal.get("header_bytes"), journal.get("itemsize"))
        if layout != (len(self.header), self.itemsize):
            raise ResumeError(
                f"cannot resume {self.dest}: {self.journal_path} describes another layout"
            )
        done = journal.get("records_durable")
        if (isinstance(done, bool) or not isinstance(done, int) or done < 0
                or (self.count is not None and done > self.count)):
            raise ResumeError(f"cannot resume {self.dest}: {self.journal_path} is corrupt; "
                              "pass --force (force=True) to start over")
        if done == 0:
            return False
        need = self._end(done)
        if size < need:  # the journal only claims flushed bytes: something else cut the file
            raise ResumeError(
                f"cannot resume {self.dest}: {self.path} holds {size} bytes but its journal "
                f"records {done} records ({need} bytes); pass --force (force=True) to start over"
            )
        if os.pread(self.fd, len(self.header), 0) != self.header:
            raise ResumeError(f"cannot resume {self.dest}: {self.path} has another header")
        self.records_start = self._claimed = done
        return True

    def _open_direct(self, direct: bool | None) -> None:
        flag = getattr(os, "O_DIRECT", 0)
        self.direct = False
        if direct is False or not flag:
            if direct and not flag:
                raise OutputError("O_DIRECT is not available on this platform")
            return
        try:
            dfd = os.open(self.path, os.O_WRONLY | flag | _NOFOLLOW | _CLOEXEC)
        except OSError as exc:
            if direct:
                raise OutputError(
                    f"cannot open {self.path} with O_DIRECT: {os_message(exc)}"
                ) from None
            return
        if not same_inode(os.fstat(dfd), os.fstat(self.fd)):
            os.close(dfd)
            raise OutputError(f"{self.path} was replaced while it was being opened")
        self.dfd = dfd
        self.direct = True

    def _alloc_buffers(self) -> None:
        size = -(-(2 * ALIGN + self.buffer_records * self.itemsize) // mmap.PAGESIZE) \
            * mmap.PAGESIZE
        self._maps = [POOL.take(size) for _ in range(2)]
        self._views = [memoryview(m) for m in self._maps]
        self.buffer_bytes = size

    def _buffer(self, i: int) -> memoryview:
        return self._views[i]

    def _seek_resume(self) -> None:
        """Continue after the journal's durable records.  Nothing on disk changes
        until the first new write, which rewrites the carried bytes as they are:
        a kill right after a resume starts leaves the same claim, still true."""
        end = self._end(self.records_start)
        align = ALIGN if self.direct else 1
        self.offset = end // align * align
        carry = os.pread(self.fd, end - self.offset, self.offset)
        self.fill = len(carry)
        self._buffer(0)[: self.fill] = carry

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
        """Writer thread: write ``nbytes`` of buffer ``i`` at ``offset``; checkpoint.

        The one writer thread writes buffers in file order, so when this write
        returns every byte before ``offset + nbytes`` has been written; a
        checkpoint flushes them (``fdatasync``) before the journal claims them.
        """
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
        if self.provenance is not None and now - self._last_checkpoint >= self.checkpoint_seconds:
            self._last_checkpoint = now
            records = (offset + nbytes - len(self.header)) // self.itemsize
            if records > self._claimed:
                os.fdatasync(self.fd)
                self._write_journal(min(records, self.count if self.count is not None else records))

    def _write_journal(self, records_durable: int, commit: dict | None = None) -> None:
        """Replace the journal, claiming ``records_durable`` records (flushed already)."""
        if self.provenance is None:
            return
        data = journal_bytes(self.dest.name, self.provenance, len(self.header), self.itemsize,
                             records_durable, commit)
        write_journal(self.journal_path, data, self.dirfd if self.dirfd >= 0 else None)
        self._claimed = records_durable

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
        self.records_done = count
        return end

    # -- ending --------------------------------------------------------------------

    def commit_file(self, provenance: dict, force: bool) -> None:
        """Rename the finished file into place, with its provenance beside it."""
        with self._writing():
            self._commit_file(provenance, force)
        self.close()

    def _commit_file(self, provenance: dict, force: bool) -> None:
        """The file is complete and flushed.  In order: the journal records the
        commit (the file's identity and final provenance, so ``--resume`` can
        finish a commit cut short); the sidecar is written to its exclusive
        temporary name; then, signals held, the file is renamed into place
        (without ``force`` never over a file that appeared), the sidecar
        renamed beside it, the journal removed and the directory flushed."""
        side = provenance_path(self.dest)
        side_tmp = sidecar_tmp(self.dest)
        st = os.fstat(self.fd)
        self._write_journal(self.records_done, {"device": st.st_dev, "inode": st.st_ino,
                                                "bytes": st.st_size, "provenance": provenance})
        write_new_file(side_tmp, sidecar_bytes(provenance), stale=True)
        with signals_deferred():
            if not self._owns_name():
                raise OutputError(f"{self.path} was replaced while it was written; "
                                  f"{self.dest} not written")
            if force:
                # The old provenance must never describe the new file, even briefly.
                unlink_quiet(side)
                os.replace(self.path, self.dest)
            else:
                try:
                    rename_noreplace(self.path, self.dest)
                except FileExistsError:
                    raise OutputError(
                        f"{self.dest} appeared while it was being written; not replaced "
                        "(pass --force to replace it)"
                    ) from None
            os.replace(side_tmp, side)
            unlink_quiet(self.journal_path)
            unlink_quiet(journal_tmp(self.journal_path))
            fsync_dir(self.dirfd if self.dirfd >= 0 else self.dest.parent)

    def _owns_name(self) -> bool:
        """Whether ``OUT.npy.partial`` still names the file this process writes."""
        try:
            return self.fd >= 0 and same_inode(os.lstat(self.path), os.fstat(self.fd))
        except OSError:
            return False

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._close_fds()
        for v in getattr(self, "_views", []):
            v.release()
        self._views = []
        for m in self._maps:
            POOL.give(m)
        self._maps = []

    def _close_fds(self) -> None:
        for name in ("dfd", "dirfd", "fd"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    def _remove_own(self) -> None:
        """Remove the temporary files of this process (only names it still owns)."""
        if self._owns_name():
            unlink_quiet(self.path)
            unlink_quiet(self.journal_path)  # the journal of the locked file is ours
            unlink_quiet(journal_tmp(self.journal_path))
            unlink_quiet(sidecar_tmp(self.dest))

    def abort(self) -> None:
        """Stop writing and remove the temporary files (the destination is untouched).

        A second Ctrl-C during the clean-up waits until it is done.
        """
        with signals_deferred():
            try:
                if self._executor is not None:
                    self._executor.shutdown(wait=True, cancel_futures=True)
                    self._executor = None
                self._remove_own()
            finally:
                self.close()
