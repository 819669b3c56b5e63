"""Files dpa creates: exclusively, never through a link, durably, renamed into place.

Every file :mod:`dpa.io` writes is created here with ``O_CREAT | O_EXCL |
O_NOFOLLOW`` (:func:`create_exclusive`), so it is never a file that was
already there and never the target of a link someone planted: a symbolic link
at one of dpa's names is an error naming it (:func:`refuse_link`).  Small
files (the resume journal, the provenance sidecar) are written whole to an
exclusive temporary name, flushed (``fsync``) and renamed over their final
name, and the directory is flushed too (:func:`replace_durably`).  The
finished ``.npy`` is renamed into place without replacing a file that
appeared meanwhile (:func:`rename_noreplace`, ``renameat2(RENAME_NOREPLACE)``
on Linux), and :func:`check_free_space` refuses an export the file system
cannot hold before anything is written.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from pathlib import Path

from .errors import OutputError, os_message

__all__ = [
    "check_free_space",
    "create_exclusive",
    "format_bytes",
    "free_bytes",
    "is_regular",
    "link_error",
    "fsync_dir",
    "open_dir",
    "refuse_link",
    "rename_noreplace",
    "replace_durably",
    "same_inode",
    "unlink_quiet",
    "write_new_file",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: Flags of every file dpa creates.
CREATE_FLAGS = os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC


def link_error(path: Path) -> OutputError:
    return OutputError(f"{path} is a symbolic link; dpa never writes through a link it did not "
                       "make (remove it and run again)")


def refuse_link(path: Path) -> None:
    """Raise :class:`OutputError` naming ``path`` if it is a symbolic link."""
    if os.path.islink(path):
        raise link_error(path)


def create_exclusive(path: Path, flags: int = os.O_WRONLY, *, stale: bool = False,
                     mode: int = 0o644) -> int:
    """A new file at ``path`` (``O_CREAT | O_EXCL | O_NOFOLLOW``), as a descriptor.

    A symbolic link at ``path`` is an :class:`OutputError` naming it.  With
    ``stale``, a regular file already there is a leftover of dpa's own (a
    temporary name whose owner holds the export's lock) and is removed first:
    it is never opened, so whatever else links to it is untouched.
    """
    for _ in range(2):
        try:
            return os.open(path, flags | CREATE_FLAGS, mode)
        except FileExistsError:
            if os.path.islink(path):
                raise link_error(path) from None
            if not stale:
                raise OutputError(f"cannot create {path}: it exists") from None
            unlink_quiet(path)
            stale = False
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise link_error(path) from None
            raise OutputError(f"cannot create {path}: {os_message(exc)}") from None
    raise OutputError(f"cannot create {path}: it exists")  # pragma: no cover - re-created meanwhile


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while len(view):
        view = view[os.write(fd, view):]


def write_new_file(path: Path, data: bytes, *, stale: bool = False) -> None:
    """Create ``path`` exclusively (:func:`create_exclusive`), write ``data``, ``fsync``."""
    fd = create_exclusive(path, stale=stale)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        unlink_quiet(path)
        raise
    os.close(fd)


def open_dir(directory: Path) -> int:
    """A descriptor of ``directory`` for :func:`fsync_dir`, or -1 where there is none."""
    try:
        return os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    except OSError:
        return -1


def fsync_dir(directory: Path | int) -> None:
    """Flush a directory's entries (a descriptor from :func:`open_dir`, or a path)."""
    fd = open_dir(directory) if not isinstance(directory, int) else directory
    if fd < 0:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot flush a directory
        pass
    finally:
        if not isinstance(directory, int):
            os.close(fd)


def replace_durably(path: Path, tmp: Path, data: bytes, dirfd: int | None = None) -> None:
    """Put ``data`` at ``path`` atomically and durably.

    ``data`` is written to the exclusive temporary ``tmp`` (a leftover there
    is removed first: the caller holds the lock that makes ``tmp`` its own),
    flushed, and renamed over ``path`` (a rename replaces a link at ``path``,
    never writes through it); then the directory (``dirfd``, else ``path``'s)
    is flushed.  A reader sees the old content or the new, never a mixture.
    """
    write_new_file(tmp, data, stale=True)
    os.replace(tmp, path)
    fsync_dir(path.parent if dirfd is None else dirfd)


def unlink_quiet(path: Path) -> None:
    """Remove ``path`` (a link itself, never its target) if it is there."""
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
        os.unlink(path)


def same_inode(a: os.stat_result, b: os.stat_result) -> bool:
    """Whether two ``stat`` results are of the same file."""
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def is_regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)


# ---- renaming without replacing ------------------------------------------------

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _load_renameat2():
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):  # not Linux, or an old C library
        return None


_renameat2 = _load_renameat2()


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` unless ``dst`` exists (then ``FileExistsError``).

    Linux's ``renameat2(RENAME_NOREPLACE)`` does it in one step.  Where that
    is missing, a hard link (atomic, never replacing) then the removal of
    ``src``; a kill between the two leaves ``src`` as a second name of the
    finished file, which dpa never writes (a partial file with more than one
    link is discarded).  Where neither works, a check and a rename.
    """
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst),
                      _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, os.strerror(err), str(dst))
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), str(src))
    _rename_by_link(src, dst)


def _rename_by_link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst)) from None
        os.rename(src, dst)
        return
    os.unlink(src)


# ---- free space ------------------------------------------------------------------


def format_bytes(n: float) -> str:
    """``4.80 TB``, ``69.0 GB``, ``512 bytes``: powers of ten, as disks are sold."""
    for scale, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def free_bytes(directory: Path) -> int | None:
    """Bytes an unprivileged writer may still use in ``directory``'s file system."""
    try:
        st = os.statvfs(directory)
    except (AttributeError, OSError):
        return None
    return st.f_bavail * st.f_frsize


def check_free_space(dest: Path, need: int) -> None:
    """Refuse to start writing ``need`` more bytes for ``dest`` if they do not fit."""
    free = free_bytes(dest.parent)
    if free is not None and need > free:
        raise OutputError(
            f"cannot write {dest}: not enough free space: it needs {format_bytes(need)} "
            f"({need:,} bytes) but {dest.parent} has {format_bytes(free)} ({free:,} bytes) free"
        )
