"""The errors of :mod:`dpa.io`: each a one-line message naming the file, the
record and the field, so that the command line can print it as it is."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

__all__ = ["DpaIOError", "InputError", "OutputError", "ResumeError", "VerificationError",
           "open_input", "os_message"]


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


def os_message(exc: OSError) -> str:
    """The operating system's words for ``exc`` (``"No space left on device"``)."""
    return exc.strerror or str(exc)


def open_input(path: Path, directory: str, **kwargs: Any) -> IO:
    """``open(path, **kwargs)`` of an input file, its failures as :class:`InputError`:
    ``"PATH: no such file"``, ``"PATH: " + directory`` for a directory, or
    ``"PATH: cannot read: REASON"``."""
    try:
        return open(path, **kwargs)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: {directory}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {os_message(exc)}") from None
