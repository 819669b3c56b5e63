"""DPA 0.2.1's JSON savers: the same files, written in blocks and atomically.

``save_augmentation_chain`` and ``save_augmentation_stream`` write the bytes
DPA writes for the same input (``json.dump(..., indent=2)``, or DPA's
one-record-per-line streaming layout), print DPA's messages and raise DPA's
errors.  The records are formatted in blocks (``dpa.compat._jsontext``), the
statistics computed on the way (``dpa.compat._stats``), and a dpa stream is
not iterated at all: its records are generated as arrays.  Unlike DPA's, the
file is written to a temporary file beside the destination and renamed into
place (``dpa.compat._atomic``): an error never leaves a partial file.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import check_int
from ..config import AugmentationConfig
from ._atomic import AtomicFile
from ._jsontext import (INDENT, LINE, TextBlock, TextBuffer, dicts_block, document_head,
                        document_tail, record_separator, records_block)
from ._progress import (ProgressCallback, create_streaming_metadata, create_streaming_progress,
                        format_progress_info)
from ._resources import (GeneratorExhaustionError, PartialWriteError, ResourceCleanupError,
                         StreamingIOError, safe_cleanup_generator)
from ._sources import BLOCK, array_stream, dict_extra, record_blocks
from ._stats import ExactStats, WelfordStats, empty_stats

__all__ = ["resume_streaming_save", "save_augmentation_chain", "save_augmentation_stream",
           "save_records_chain"]


def config_dict(config: AugmentationConfig | None) -> dict[str, Any] | None:
    """``asdict(config) if config else None``, as DPA records a config."""
    if not config:
        return None
    return config.to_dict() if isinstance(config, AugmentationConfig) else asdict(config)


def _write(f: AtomicFile, layout: str, meta: dict[str, Any], blocks: Iterable[TextBlock],
           stats: Callable[[], dict[str, Any]] | None = None) -> int:
    """Write a DPA document into ``f``; the number of records."""
    f.write(document_head(meta, layout))
    count = 0
    for b in blocks:
        if b.count:
            f.write(record_separator(layout, count == 0))
            f.write(b.text)
            count += b.count
    f.write(document_tail(layout, count, stats() if stats is not None else None))
    return count


def _open(path: str) -> AtomicFile:
    """The parent folders made (as DPA makes them) and a temporary file beside ``path``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return AtomicFile(path)


def _write_file(path: str, layout: str, meta: dict[str, Any], blocks: Iterable[TextBlock],
                stats: Callable[[], dict[str, Any]] | None = None) -> int:
    """:func:`_write` into a new file at ``path``, renamed into place when complete."""
    with _open(path) as f:
        return _write(f, layout, meta, blocks, stats)


def _accumulate(acc: ExactStats | WelfordStats | None, blocks: Iterable[TextBlock]
                ) -> Iterator[TextBlock]:
    for b in blocks:
        if acc is not None and b.count:
            if b.columns is not None:
                acc.add_arrays(b.columns)
            else:
                acc.add_values(b.values)
        yield b


def _result(acc: ExactStats | WelfordStats, count: int) -> dict[str, Any]:
    # DPA fails on an empty chain (statistics.mean of nothing); dpa.compat writes zeros.
    return acc.result() if count else empty_stats()


def save_augmentation_chain(params_list: list[dict[str, Any]], filepath: str,
                            config: AugmentationConfig | None = None,
                            include_stats: bool = True) -> None:
    """save_augmentation_chain(params_list, filepath, config=None, include_stats=True)

    Write ``{"metadata": {"num_samples", "config"}, "augmentations": [...],
    "statistics": {...}}`` as DPA does (``json.dump`` with ``indent=2``,
    the same bytes), creating the parent folders, and print ``"Saved N
    augmentations to PATH"``.  The statistics are DPA's ``compute_statistics``.

    Raises
    ------
    OSError
        ``"Failed to save augmentation chain: ..."``; the destination is then
        unchanged.
    """
    items = params_list if isinstance(params_list, list) else list(params_list)
    n = len(items)
    meta = {"num_samples": n, "config": config_dict(config)}
    acc = ExactStats() if include_stats else None
    buffer = TextBuffer()
    blocks = (dicts_block(items[a:a + BLOCK], INDENT, values=include_stats, buffer=buffer)
              for a in range(0, n, BLOCK))
    try:
        _write_file(filepath, INDENT, meta, _accumulate(acc, blocks),
                    (lambda: _result(acc, n)) if acc is not None else None)
    except OSError as exc:
        raise OSError(f"Failed to save augmentation chain: {exc}") from exc
    sys.stdout.write(f"Saved {n} augmentations to {filepath}\n")


def save_records_chain(blocks: Iterable[np.ndarray], count: int, filepath: str,
                       config: AugmentationConfig | None) -> None:
    """``save_augmentation_chain`` of the dicts of kernel record blocks (with hash),
    without making the dicts: what ``generate_augmentation_chain(save_path=...)`` writes."""
    meta = {"num_samples": count, "config": config_dict(config)}
    acc = ExactStats()
    buffer = TextBuffer()
    text = (records_block(r, {}, INDENT, buffer) for r in blocks)
    try:
        _write_file(filepath, INDENT, meta, _accumulate(acc, text), lambda: _result(acc, count))
    except OSError as exc:
        raise OSError(f"Failed to save augmentation chain: {exc}") from exc
    sys.stdout.write(f"Saved {count} augmentations to {filepath}\n")


# ---- streams ------------------------------------------------------------------------


class _Groups:
    """An iterable of dicts read ``buffer_size`` at a time, as DPA's writer buffers it.

    ``done`` counts the items of the groups read whole: what DPA has written
    when the iterable fails.  ``on_group(done)`` runs after each group (DPA's
    progress update, message and callback).
    """

    def __init__(self, it: Iterator[Any], size: int, on_group: Callable[[int], None] | None):
        self.it = it
        self.size = size
        self.on_group = on_group
        self.done = 0
        self.buffer = TextBuffer()

    def blocks(self, layout: str, values: bool) -> Iterator[TextBlock]:
        pending: list[Any] = []
        while True:
            group = list(islice(self.it, self.size))
            if group:
                pending += group
                if len(group) == self.size:
                    self.done += len(group)
                    if self.on_group is not None:
                        self.on_group(self.done)
            if pending and (len(pending) >= BLOCK or len(group) < self.size):
                yield dicts_block(pending, layout, values, self.buffer)
                pending = []
            if len(group) < self.size:
                self.done += len(group)
                return


def _record_groups(stream: Any, size: int, on_group: Callable[[int], None] | None,
                   layout: str) -> Iterator[TextBlock]:
    """The text blocks of a dpa stream's records, with ``on_group`` as :class:`_Groups`."""
    extra = dict_extra(stream)
    buffer = TextBuffer()
    done = 0
    for records in record_blocks(stream):
        b = records_block(records, extra, layout, buffer)
        if on_group is not None:
            for k in range(done // size + 1, (done + b.count) // size + 1):
                on_group(k * size)
        done += b.count
        yield b


def _stream_blocks(source: Any, size: int, on_group: Callable[[int], None] | None,
                   layout: str, values: bool) -> tuple[Iterator[TextBlock], _Groups | None]:
    stream = array_stream(source)
    if stream is not None:
        return _record_groups(stream, size, on_group, layout), None
    groups = _Groups(iter(source), size, on_group)
    return groups.blocks(layout, values), groups


def save_augmentation_stream(
    param_generator: Any,
    filepath: str,
    config: AugmentationConfig | None = None,
    include_stats: bool = True,
    buffer_size: int = 1000,
    verbose: bool = False,
    progress_callback: ProgressCallback | None = None,
) -> None:
    """save_augmentation_stream(param_generator, filepath, config=None, include_stats=True, buffer_size=1000, verbose=False, progress_callback=None)

    Write the dicts an iterable yields as DPA's streaming file: with
    ``include_stats``, ``json.dump(..., indent=2)`` of the metadata (with
    ``"streaming": true``), the records and DPA's streaming (Welford)
    statistics; without, DPA's one-record-per-line layout with ``num_samples``
    null.  The bytes are DPA's; DPA's messages are printed and its callback
    called after each ``buffer_size`` records.  The iterable is closed at the
    end, as DPA closes it.  A dpa stream is not iterated: its records are
    generated as arrays.

    Raises
    ------
    PartialWriteError
        When reading the iterable or writing fails; ``samples_written`` is
        what DPA would have written.  The destination is then unchanged.
    StreamingIOError
        For an I/O error before writing, or a bad argument (as DPA wraps it).
    """
    try:
        size = check_int(buffer_size, "buffer_size", minimum=1, rule="must be positive")
        progress = create_streaming_progress(estimated_total=None, start_id=0)
        metadata = create_streaming_metadata(total_samples=None, config=config,
                                             buffer_size=size)
        meta = {"num_samples": None, "config": config_dict(config)}
        Path(filepath).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StreamingIOError(f"I/O error during streaming save: {exc}") from exc
    except Exception as exc:  # DPA wraps its own argument errors so
        raise StreamingIOError(f"Unexpected error during streaming save: {exc}") from exc
    if verbose:
        sys.stdout.write(f"Starting streaming save to {filepath}\n")

    def saved(count: int) -> None:
        if verbose:
            sys.stdout.write(f"Saved {count} augmentations to {filepath} "
                             f"({format_progress_info(progress)})\n")
        else:
            sys.stdout.write(f"Saved {count} augmentations to {filepath}\n")
        if progress_callback:
            progress_callback(progress, metadata)

    if include_stats:
        if verbose:
            sys.stdout.write("Computing statistics from stream...\n")
        try:
            count = _save_with_stats(param_generator, filepath, meta)
        except GeneratorExhaustionError:
            raise PartialWriteError(
                "Generator exhausted unexpectedly during statistics computation", 0) from None
        except Exception as exc:
            raise PartialWriteError(f"Failed to compute statistics and save: {exc}", 0) from exc
        progress.estimated_total = count
        progress.samples_processed, progress.current_sample_id = count, max(count - 1, 0)
        saved(count)
        return

    def on_group(done: int) -> None:
        progress.samples_processed, progress.current_sample_id = done, done - 1
        if verbose and done % (size * 10) == 0:
            sys.stdout.write(f"Streaming progress: {format_progress_info(progress)}\n")
        if progress_callback:
            progress_callback(progress, metadata)

    hooked = verbose or progress_callback is not None
    blocks, groups = _stream_blocks(param_generator, size, on_group if hooked else None, LINE,
                                    values=False)
    try:
        f = AtomicFile(filepath)
    except OSError as exc:
        raise StreamingIOError(f"I/O error during streaming save: {exc}") from exc
    written = [0]

    def counted() -> Iterator[TextBlock]:
        for b in blocks:
            yield b
            written[0] += b.count

    try:
        count = _write(f, LINE, meta, counted())
        f.commit()
    except GeneratorExit:  # DPA keeps what it wrote; here the document is closed too
        count = written[0]
        f.write(document_tail(LINE, count))
        f.commit()
        if verbose:
            sys.stdout.write("Generator was closed during streaming\n")
    except Exception as exc:
        f.discard()
        done = groups.done if groups is not None else written[0]
        raise PartialWriteError(f"Failed during streaming write: {exc}", done) from exc
    finally:
        try:
            safe_cleanup_generator(param_generator)
        except ResourceCleanupError as cleanup:
            if verbose:
                sys.stdout.write(f"Warning: {cleanup}\n")
    progress.samples_processed, progress.current_sample_id = count, max(count - 1, 0)
    saved(count)


def _save_with_stats(source: Any, filepath: str, meta: dict[str, Any]) -> int:
    """The statistics branch of ``save_augmentation_stream``: all records, then the
    Welford statistics; returns the number of records."""
    acc = WelfordStats()
    meta = {**meta, "streaming": True}
    stream = array_stream(source)
    if stream is not None:  # the count is known: write as the records are generated
        meta["num_samples"] = stream.remaining
        blocks = _accumulate(acc, _record_groups(stream, BLOCK, None, INDENT))
        return _write_file(filepath, INDENT, meta, blocks, lambda: acc.result())
    # DPA reads the whole iterable first (the count comes before the records).
    held = [b._replace(text=bytes(b.text))  # each block's text outlives its buffer
            for b in _accumulate(acc, _Groups(iter(source), BLOCK, None).blocks(INDENT, True))]
    meta["num_samples"] = sum(b.count for b in held)
    return _write_file(filepath, INDENT, meta, held, lambda: acc.result())


def resume_streaming_save(
    param_generator: Any,
    filepath: str,
    resume_from_sample: int = 0,
    config: AugmentationConfig | None = None,
    include_stats: bool = True,
    buffer_size: int = 1000,
    verbose: bool = False,
) -> None:
    """resume_streaming_save(param_generator, filepath, resume_from_sample=0, config=None, include_stats=True, buffer_size=1000, verbose=False)

    :func:`save_augmentation_stream` of what the iterable yields after its
    first ``resume_from_sample`` items (a new file, as in DPA).

    Raises
    ------
    ValueError
        A negative ``resume_from_sample``.
    PartialWriteError
        ``"Failed to resume streaming save from sample K: ..."``, with
        ``samples_written`` the number of items skipped.
    """
    k = check_int(resume_from_sample, "resume_from_sample", minimum=0,
                  rule="must be non-negative")
    if verbose:
        sys.stdout.write(f"Resuming streaming save from sample {k}\n")
    skipped = 0
    try:
        source = param_generator
        if k > 0:
            stream = array_stream(param_generator)
            if verbose:
                sys.stdout.write(f"Skipping first {k} samples\n")
            if stream is not None and hasattr(stream, "skip"):
                skipped = stream.skip(k)
            else:
                source = iter(param_generator)
                for _ in islice(source, k):
                    skipped += 1
        save_augmentation_stream(source, filepath, config=config, include_stats=include_stats,
                                 buffer_size=buffer_size, verbose=verbose)
    except Exception as exc:
        raise PartialWriteError(
            f"Failed to resume streaming save from sample {k}: {exc}", skipped) from exc
