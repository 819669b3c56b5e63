"""The destination of a write and the names beside it.

:func:`check_destination` refuses, before any work, a destination that cannot
or must not be written, and a symbolic link at any of dpa's temporary names
(:func:`temporary_paths`); :func:`lock` is the ``flock`` that keeps a second
writer out; :func:`signals_deferred` holds SIGINT and SIGTERM back while the
output is renamed into place; :func:`finish_interrupted_commit` finishes, for
``--resume``, an export killed between renaming its file into place and
writing its provenance beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError
from .files import fsync_dir, refuse_link, replace_durably, same_inode, unlink_quiet
from .journal import journal_tmp, read_journal
from .provenance import partial_paths, provenance_path, resume_conflict, sidecar_tmp

try:  # POSIX only: without it there is no lock against a second writer.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = ["check_destination", "fcntl", "finish_interrupted_commit", "lock", "sidecar_bytes",
           "signals_deferred", "temporary_paths"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


# ---- checks, the lock, signals ------------------------------------------------------


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
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


def temporary_paths(dest: Path) -> tuple[Path, ...]:
    """Every name dpa writes beside ``dest`` before it is complete: the partial
    file, its journal and the journal's and the sidecar's temporary names."""
    partial, journal = partial_paths(dest)
    return partial, journal, journal_tmp(journal), sidecar_tmp(dest)


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
    for path in temporary_paths(dest):
        refuse_link(path)


def lock(fd: int, dest: Path, path: Path) -> None:
    if fcntl is None:  # pragma: no cover
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise OutputError(f"another process is writing {dest} ({path} is locked)") from None


def sidecar_bytes(provenance: dict) -> bytes:
    return (json.dumps(provenance, indent=2) + "\n").encode("utf-8")


def finish_interrupted_commit(dest: Path, provenance: dict) -> dict | None:
    """Finish an export killed between renaming its file into place and
    writing its provenance beside it; return that provenance, or ``None``.

    The journal's ``commit`` entry names the finished file (device, inode,
    size); only if ``dest`` is that very file, and the journal's export is
    this one (``provenance``), is the sidecar written and the journal removed.
    """
    partial, journal_path = partial_paths(dest)
    journal = read_journal(journal_path)
    commit = journal.get("commit") if journal else None
    if not isinstance(commit, dict) or not isinstance(commit.get("provenance"), dict):
        return None
    if resume_conflict(journal.get("provenance"), provenance) is not None:
        return None
    try:
        fd = os.open(dest, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino, st.st_size) != (commit.get("device"), commit.get("inode"),
                                                  commit.get("bytes")):
            return None
        lock(fd, dest, dest)
        with signals_deferred():
            with contextlib.suppress(OSError):
                if same_inode(os.lstat(partial), st):  # the hard-link fallback's second name
                    os.unlink(partial)
            side = provenance_path(dest)
            replace_durably(side, sidecar_tmp(dest), sidecar_bytes(commit["provenance"]))
            unlink_quiet(journal_path)
            unlink_quiet(journal_tmp(journal_path))
            fsync_dir(dest.parent)
    finally:
        os.close(fd)
    return commit["provenance"]


