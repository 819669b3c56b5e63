"""DPA 0.2.1's JSON loaders and its recovery of partial files.

``load_augmentation_chain`` and ``load_augmentation_stream`` read a file with
``json.load`` (as DPA does, so any file DPA reads gives the same records) and
keep DPA's messages, errors and chunking.  ``recover_partial_write`` tells
what a truncated file holds; for a file that does not parse it reads the
metadata and counts the complete records with dpa.io's incremental JSON
reader (DPA's text search finds no record in its own indented layout).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..io import InputError
from ..io.jsonread import dpa_json_events
from ._progress import (ProgressCallback, create_streaming_metadata, create_streaming_progress,
                        format_progress_info, update_streaming_progress)
from ._resources import StreamingIOError

__all__ = ["load_augmentation_chain", "load_augmentation_stream", "recover_partial_write"]


def load_augmentation_chain(filepath: str) -> list[dict[str, Any]]:
    """load_augmentation_chain(filepath)

    The ``augmentations`` of a DPA file, printing ``"Loaded N augmentations
    from PATH"`` (N from its metadata, as DPA prints it).

    Raises
    ------
    FileNotFoundError
        ``"Augmentation file not found: PATH"``.
    json.JSONDecodeError
        ``"Invalid JSON in PATH: ..."``.
    """
    try:
        with open(filepath) as f:
            data = json.load(f)
        sys.stdout.write(
            f"Loaded {data['metadata']['num_samples']} augmentations from {filepath}\n")
        return data["augmentations"]
    except FileNotFoundError:
        raise FileNotFoundError(f"Augmentation file not found: {filepath}") from None
    except json.JSONDecodeError as exc:
        raise json.JSONDecodeError(f"Invalid JSON in {filepath}: {exc}", "", 0) from exc


def _read_records(filepath: str) -> list[Any]:
    if not Path(filepath).exists():
        raise FileNotFoundError(f"Augmentation file not found: {filepath}")
    try:
        with open(filepath) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as exc:
                raise StreamingIOError(f"Invalid JSON in {filepath}: {exc}") from exc
    except OSError as exc:
        raise StreamingIOError(f"I/O error during streaming load: {exc}") from exc
    if "augmentations" not in data:
        raise StreamingIOError("Invalid augmentation file format: missing 'augmentations' key")
    items = data["augmentations"]
    if not isinstance(items, list):
        raise StreamingIOError("Invalid augmentation file format: 'augmentations' must be a list")
    return items


def _check_item(i: int, item: Any) -> None:
    if not isinstance(item, dict):
        raise StreamingIOError(f"Error during streaming load: Invalid parameter format at "
                               f"index {i}: expected dict, got {type(item)}")


def load_augmentation_stream(filepath: str, chunk_size: int = 1000, verbose: bool = False,
                             progress_callback: ProgressCallback | None = None
                             ) -> Iterator[Any]:
    """load_augmentation_stream(filepath, chunk_size=1000, verbose=False, progress_callback=None)

    A generator over the records of a DPA file: single dicts for
    ``chunk_size <= 1``, else lists of up to ``chunk_size`` (note DPA's
    default of 1000).  The file is read when iteration starts, printing
    ``"Loading N augmentations from PATH"``.

    Raises
    ------
    FileNotFoundError
        ``"Augmentation file not found: PATH"``.
    StreamingIOError
        Invalid JSON, no ``augmentations`` list, or a record that is not a dict.
    """
    try:
        items = _read_records(filepath)
    except (FileNotFoundError, StreamingIOError):
        raise
    except Exception as exc:
        raise StreamingIOError(f"Unexpected error during streaming load: {exc}") from exc
    total = len(items)
    progress = create_streaming_progress(estimated_total=total, start_id=0)
    metadata = create_streaming_metadata(total_samples=total, chunk_size=chunk_size)
    sys.stdout.write(f"Loading {total} augmentations from {filepath}\n")

    def report(every: int, done: int) -> None:
        if verbose and total > 100 and done % every == 0:
            sys.stdout.write(f"Loading progress: {format_progress_info(progress)}\n")

    try:
        if chunk_size <= 1:
            step = max(1, total // 20)
            for i, item in enumerate(items):
                _check_item(i, item)
                update_streaming_progress(progress, i + 1, i)
                report(step, i + 1)
                if progress_callback:
                    progress_callback(progress, metadata)
                yield item
        else:
            done = 0
            for a in range(0, total, chunk_size):
                chunk = items[a:a + chunk_size]
                for i, item in enumerate(chunk, a):
                    _check_item(i, item)
                done += len(chunk)
                update_streaming_progress(progress, done, a + len(chunk) - 1)
                if len(chunk) == chunk_size:
                    report(chunk_size * 10, done)
                if progress_callback:
                    progress_callback(progress, metadata)
                yield chunk
        if verbose:
            sys.stdout.write(f"Loading completed: {format_progress_info(progress)}\n")
    except GeneratorExit:
        if verbose:
            sys.stdout.write("Loading generator was closed\n")


def _partial_contents(filepath: str) -> tuple[Any, int]:
    """The metadata (or None) and the number of complete records of a file that
    does not parse, read with dpa.io's incremental reader up to where it breaks."""
    metadata, count = None, 0
    try:
        with open(filepath, encoding="utf-8-sig") as f:
            for kind, key, value in dpa_json_events(f, Path(filepath)):
                if kind == "meta" and key == "metadata":
                    metadata = value
                elif kind == "items":
                    count += sum(1 for item in key if isinstance(item, dict))
    except InputError:
        pass
    return metadata, count


def recover_partial_write(filepath: str, expected_samples: int | None = None,
                          verbose: bool = False) -> dict[str, Any]:
    """recover_partial_write(filepath, expected_samples=None, verbose=False)

    What a possibly truncated DPA file holds: ``{"recoverable", "samples_found",
    "metadata", "error"}``, with DPA's keys and messages.  A complete file is
    recoverable with all its records; a truncated one with its complete
    records (and its metadata when that was written whole).

    Raises
    ------
    StreamingIOError
        If the file cannot be read.
    """
    info: dict[str, Any] = {"recoverable": False, "samples_found": 0, "metadata": None,
                            "error": None}
    if not Path(filepath).exists():
        info["error"] = "File does not exist"
        return info
    if verbose:
        sys.stdout.write(f"Attempting to recover partial write from {filepath}\n")
    try:
        with open(filepath) as f:
            content = f.read()
        try:
            data = json.loads(content)
        except json.JSONDecodeError:
            data = None
        if data is not None:
            info["recoverable"] = True
            info["metadata"] = data.get("metadata", {})
            if "augmentations" in data:
                info["samples_found"] = len(data["augmentations"])
            if verbose:
                sys.stdout.write(f"File is complete with {info['samples_found']} samples\n")
            return info
        if verbose:
            sys.stdout.write("File appears to be incomplete, attempting partial recovery\n")
        metadata, count = _partial_contents(filepath)
        if metadata is not None:
            info["metadata"] = metadata
            if verbose:
                sys.stdout.write("Successfully recovered metadata\n")
        elif verbose:
            sys.stdout.write("Could not recover metadata\n")
        info["samples_found"] = count
        info["recoverable"] = count > 0
        if verbose:
            sys.stdout.write(f"Recovered {count} complete samples\n")
        if not info["recoverable"]:
            info["error"] = "No recoverable data found in file"
    except OSError as exc:
        info["error"] = f"I/O error during recovery: {exc}"
        raise StreamingIOError(f"Cannot access file for recovery: {exc}") from exc
    return info
