"""The resume journal ``OUT.npy.partial.json`` of an export being written.

The journal says how much of ``OUT.npy.partial`` is durable, and never more:
the data is flushed (``fdatasync``) before a journal claims it, and the
journal itself is replaced atomically and durably (an exclusive temporary
file, ``fsync``, a rename, the directory flushed; :func:`dpa.io.files.replace_durably`).
A process killed at any instant therefore leaves a journal whose claim
holds, and ``--resume`` continues from it.

Keys: ``format`` (:data:`JOURNAL_FORMAT`), ``destination`` (the file name),
``provenance`` (what the export writes, compared by ``--resume``),
``header_bytes``, ``itemsize``, ``records_durable`` and, once the file is
complete and about to be renamed into place, ``commit``: the finished file's
``device``, ``inode`` and ``bytes`` and its final ``provenance``, so that a
process killed between renaming the file and writing its sidecar can be
finished by ``--resume`` (:func:`dpa.io.writer.finish_interrupted_commit`).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from .errors import InputError
from .files import link_error, replace_durably
from .jsonread import parse_json

__all__ = ["JOURNAL_FORMAT", "journal_bytes", "journal_tmp", "read_journal", "write_journal"]

JOURNAL_FORMAT = "dpa-partial/1"

#: A journal is a few kilobytes; anything far larger is not one.
_MAX_JOURNAL_BYTES = 16 << 20


def journal_tmp(journal: Path) -> Path:
    """The temporary name a journal is written under before its rename."""
    return journal.with_name(journal.name + ".tmp")


def journal_bytes(destination: str, provenance: dict, header_bytes: int, itemsize: int,
                  records_durable: int, commit: dict | None = None) -> bytes:
    """The journal's text."""
    journal: dict[str, Any] = {
        "format": JOURNAL_FORMAT,
        "destination": destination,
        "provenance": provenance,
        "header_bytes": header_bytes,
        "itemsize": itemsize,
        "records_durable": records_durable,
    }
    if commit is not None:
        journal["commit"] = commit
    return json.dumps(journal).encode("utf-8")


def write_journal(path: Path, data: bytes, dirfd: int | None = None) -> None:
    """Replace the journal at ``path`` with ``data``, atomically and durably."""
    replace_durably(path, journal_tmp(path), data, dirfd)


def read_journal(path: Path) -> dict | None:
    """The journal at ``path``: ``None`` if there is none, ``{}`` if it is
    unreadable or not a dpa journal.  A symbolic link there is an
    :class:`OutputError` naming it (dpa's journals are never links)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise link_error(path) from None
        return {}
    try:
        with os.fdopen(fd, "rb") as f:
            data = f.read(_MAX_JOURNAL_BYTES + 1)
    except OSError:
        return {}
    if len(data) > _MAX_JOURNAL_BYTES:
        return {}
    try:
        journal = parse_json(data.decode("utf-8"), str(path))
    except (UnicodeDecodeError, InputError):
        return {}
    if not isinstance(journal, dict) or journal.get("format") != JOURNAL_FORMAT:
        return {}
    return journal
