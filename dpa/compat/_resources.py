"""DPA 0.2.1's streaming errors and resource cleanup helpers.

The ``StreamingError`` family (``PartialWriteError`` carrying
``samples_written``, ``StreamingIOError``, ``GeneratorExhaustionError``,
``ResourceCleanupError``), ``safe_close_file``, ``safe_cleanup_generator``,
and ``StreamingContext`` / ``with_streaming_context``, which close the
generators and files registered with them, as DPA's do.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "GeneratorExhaustionError",
    "PartialWriteError",
    "ResourceCleanupError",
    "StreamingContext",
    "StreamingError",
    "StreamingIOError",
    "safe_cleanup_generator",
    "safe_close_file",
    "with_streaming_context",
]


class StreamingError(Exception):
    """Base class of DPA's streaming errors."""


class PartialWriteError(StreamingError):
    """A streaming write did not complete; ``samples_written`` says how far it got.

    dpa.compat writes files atomically, so the destination is never left
    half-written: ``samples_written`` counts records that reached the
    temporary file, which is removed.
    """

    def __init__(self, message: str, samples_written: int) -> None:
        super().__init__(message)
        self.samples_written = samples_written


class StreamingIOError(StreamingError):
    """An I/O error, or a file that is not a DPA augmentation file."""


class GeneratorExhaustionError(StreamingError):
    """A generator ended unexpectedly."""


class ResourceCleanupError(StreamingError):
    """Closing a file or a generator failed."""


def safe_close_file(file_handle: Any, filepath: str = "") -> None:
    """safe_close_file(file_handle, filepath="")

    Close ``file_handle`` (nothing for None or an object without ``close``).

    Raises
    ------
    ResourceCleanupError
        If ``close()`` raised; the message names ``filepath`` when given.
    """
    if file_handle is None or not hasattr(file_handle, "close"):
        return
    try:
        file_handle.close()
    except Exception as exc:
        where = f" for {filepath}" if filepath else ""
        raise ResourceCleanupError(f"Failed to close file handle{where}: {exc}") from exc


def safe_cleanup_generator(generator: Any) -> None:
    """safe_cleanup_generator(generator)

    Close ``generator`` (nothing for None or an object without ``close``).

    Raises
    ------
    ResourceCleanupError
        If ``close()`` raised.
    """
    if generator is None or not hasattr(generator, "close"):
        return
    try:
        generator.close()
    except Exception as exc:
        raise ResourceCleanupError(f"Failed to cleanup generator: {exc}") from exc


class StreamingContext:
    """StreamingContext(verbose=False)

    A context manager that closes the generators and file handles registered
    with it when the block ends, however it ends.  Cleanup failures are
    collected in ``cleanup_errors``; if the block itself raised nothing,
    they are raised together as one :class:`ResourceCleanupError`.
    """

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.generators: list[Any] = []
        self.file_handles: list[tuple[Any, str]] = []
        self.cleanup_errors: list[Exception] = []

    def register_generator(self, generator: Any) -> None:
        """Close ``generator`` at the end of the block."""
        if generator is not None:
            self.generators.append(generator)

    def register_file_handle(self, file_handle: Any, filepath: str = "") -> None:
        """Close ``file_handle`` at the end of the block."""
        if file_handle is not None:
            self.file_handles.append((file_handle, filepath))

    def __enter__(self) -> StreamingContext:
        return self

    def _note(self, text: str) -> None:
        if self.verbose:
            sys.stdout.write(text + "\n")

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        for generator in self.generators:
            try:
                safe_cleanup_generator(generator)
                self._note("Cleaned up generator")
            except ResourceCleanupError as exc:
                self.cleanup_errors.append(exc)
                self._note(f"Warning: {exc}")
        for handle, path in self.file_handles:
            try:
                safe_close_file(handle, path)
                if path:
                    self._note(f"Closed file handle for {path}")
            except ResourceCleanupError as exc:
                self.cleanup_errors.append(exc)
                self._note(f"Warning: {exc}")
        if self.cleanup_errors and exc_type is None:
            raise ResourceCleanupError(
                f"Resource cleanup failed with {len(self.cleanup_errors)} errors: "
                + "; ".join(str(e) for e in self.cleanup_errors)
            )


def _takes_context(operation: Callable[..., Any]) -> bool:
    try:
        return "streaming_context" in inspect.signature(operation).parameters
    except (TypeError, ValueError):  # no signature (some builtins)
        return False


def with_streaming_context(operation: Callable[..., Any], *args: Any, verbose: bool = False,
                           **kwargs: Any) -> Any:
    """with_streaming_context(operation, *args, verbose=False, **kwargs)

    ``operation(*args, **kwargs)`` inside a :class:`StreamingContext`, passed
    as ``streaming_context=`` when the operation has a parameter of that name.
    """
    with StreamingContext(verbose=verbose) as context:
        if _takes_context(operation):
            kwargs["streaming_context"] = context
        return operation(*args, **kwargs)
