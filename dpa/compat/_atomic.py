"""Files that appear whole or not at all: dpa.compat's writes of DPA's JSON files.

DPA 0.2.1 opens its destination with ``open(path, "w")`` and writes into it,
so an error or a kill leaves a truncated file (hence its
``recover_partial_write``), and a symbolic link at the destination is written
through.  :class:`AtomicFile` creates a new temporary file beside the
destination exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``, as every file
dpa creates: never through a link, never an existing file), writes it, ``fsync``\\ s it, renames it over the destination
and ``fsync``\\ s the directory; on an error the temporary file is removed and
the destination is as it was.  The file's mode is what ``open`` would give
(``0o666`` less the umask).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from types import TracebackType

from ..io.files import CREATE_FLAGS, fsync_dir

__all__ = ["AtomicFile"]

_FLAGS = os.O_WRONLY | CREATE_FLAGS | getattr(os, "O_BINARY", 0)


class AtomicFile:
    """AtomicFile(dest)

    A binary file written beside ``dest`` and renamed over it on :meth:`commit`.
    As a context manager it commits when the block succeeds and discards the
    temporary file when it raises.  ``bytes_written`` counts what was written.
    """

    def __init__(self, dest: str | os.PathLike) -> None:
        self.dest = Path(dest)
        self.bytes_written = 0
        for _ in range(100):
            tmp = self.dest.parent / f".{self.dest.name}.{secrets.token_hex(6)}.tmp"
            try:
                self._fd = os.open(tmp, _FLAGS, 0o666)
            except FileExistsError:
                continue
            self.tmp = tmp
            break
        else:  # pragma: no cover - 100 random names taken
            raise FileExistsError(f"cannot create a temporary file beside {self.dest}")
        self._file = os.fdopen(self._fd, "wb", buffering=1 << 20)

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        self._file.write(data)
        self.bytes_written += len(data)

    def commit(self) -> None:
        """Flush, ``fsync``, rename over the destination, ``fsync`` the directory."""
        f = self._file
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(self.tmp, self.dest)
        fsync_dir(self.dest.parent)

    def discard(self) -> None:
        """Close and remove the temporary file; the destination is untouched."""
        try:
            self._file.close()
        except OSError:
            pass
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.discard()
                raise
        else:
            self.discard()
