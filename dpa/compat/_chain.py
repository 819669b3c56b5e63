"""DPA 0.2.1's chain: its generator-like streams and ``generate_augmentation_chain``.

:class:`DPAIteration` gives a :class:`dpa.ParamStream` what DPA's generators
do besides yielding dicts: ``verbose`` output and ``progress_callback`` calls
at DPA's points, written lazily (from the first ``next()``, as a generator
body runs), and ``close``/``send``/``throw``.  Without them a stream
iterates at array speed: dicts are made from blocks of records, and dpa's
consumers (dpa.compat's savers and statistics, ``dpa.batch``, ``dpa.io``)
generate arrays instead of iterating it.  :class:`ChainStream` is
``stream_augmentation_chain``'s stream; ``dpa.compat.distributed`` derives
its rank stream from the same mixin.

``generate_augmentation_chain`` makes its list of dicts in blocks from the
kernel's records, and writes ``save_path`` from the records themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any

import numpy as np

from .._validate import check_bool, check_int
from ..config import DEFAULT_CONFIG, AugmentationConfig
from ..engine import generate_seeded
from ..records import records_to_dicts
from ..seeding import Seeding
from ..stream import ParamStream
from ._jsonsave import save_records_chain
from ._progress import (ProgressCallback, StreamingMetadata, StreamingProgress,
                        create_streaming_metadata, create_streaming_progress,
                        format_progress_info, update_streaming_progress)
from ._sources import BLOCK, dict_extra

__all__ = ["ChainStream", "DPAIteration", "generate_augmentation_chain", "sample_line"]

_PLAIN = Seeding()

#: Dicts made at a time when iterating: the first blocks are small, so that one
#: ``next()`` on a new stream costs little, then they grow to this.
_MAX_DICT_BLOCK = 4096


def sample_line(sample_id: int, p: dict[str, Any]) -> str:
    """DPA's verbose line for one sample."""
    return (f"Sample({sample_id}) -> rotation={p['rotation']:.2f}° "
            f"brightness={p['brightness']:.2f} noise={p['noise']:.3f} "
            f"scale={p['scale']:.2f} contrast={p['contrast']:.2f}\n")


class DPAIteration(Generator):
    """Mixin for a :class:`dpa.ParamStream`: DPA's generator behaviour.

    Subclasses set ``_dpa_hooked`` (True when iterating has effects of its
    own: output or callbacks, which then run at DPA's points) and implement
    the hooks :meth:`_on_start`, :meth:`_on_item`, :meth:`_on_chunk` and
    :meth:`_on_end`.  Dicts are made in blocks (with the stream's extra keys,
    such as ``rank``) and handed out one at a time.
    """

    _dpa_hooked = False

    def _dpa_init(self) -> None:
        self._dicts: list[dict[str, Any]] = []
        self._block = 16
        self._state = 0  # 0: not started, 1: running, 2: ended or closed
        self._extra = dict_extra(self)

    # ---- hooks ---------------------------------------------------------------------

    def _on_start(self) -> None:
        """At the first ``next()``."""

    def _on_item(self, index: int, sample_id: int, params: dict[str, Any]) -> None:
        """After making the ``index``-th dict (0-based), before it is handed out."""

    def _on_chunk(self, done: int, last_id: int, full: bool) -> None:
        """Before a chunk is handed out (``full`` unless it is the last, short one)."""

    def _on_end(self) -> None:
        """When the stream is found exhausted."""

    # ---- iteration -----------------------------------------------------------------

    def _fill(self) -> None:
        ids = self.ids[self.position:self.position + self._block]
        self._block = min(self._block * 4, _MAX_DICT_BLOCK)
        records = self.generate(ids, hash=self.param_seeding.has_hash, threads=1)
        self._dicts = records_to_dicts(records, **self._extra)
        self._dicts.reverse()

    def _next_one(self) -> dict[str, Any]:
        if not self._dicts:
            self._fill()
        index = self.position
        self.position += 1
        params = self._dicts.pop()
        if self._dpa_hooked:
            self._on_item(index, int(self.ids[index]), params)
        return params

    def __next__(self) -> Any:
        if self._state != 1:
            if self._state == 2:
                raise StopIteration
            self._state = 1
            if self._dpa_hooked:
                self._on_start()
        n = len(self.ids)
        if self.position >= n:
            self._finish()
        if self.chunk_size is None:
            return self._next_one()
        chunk = []
        while len(chunk) < self.chunk_size and self.position < n:
            chunk.append(self._next_one())
        if self._dpa_hooked:
            self._on_chunk(self.position, int(self.ids[self.position - 1]),
                           len(chunk) == self.chunk_size)
        return chunk

    def _finish(self) -> None:
        self._state = 2
        if self._dpa_hooked:
            self._on_end()
        raise StopIteration

    def send(self, value: Any) -> Any:
        """As a generator's ``send``: the value is ignored."""
        return self.__next__()

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """As a generator's ``throw``: the stream ends and the exception is raised."""
        self.close()
        if val is None:
            val = typ() if isinstance(typ, type) else typ
        raise val

    def close(self) -> None:
        """End the stream (what is left is not generated)."""
        self._state = 2
        self._dicts = []
        self.position = len(self.ids)

    def claim(self) -> range | np.ndarray:
        rest = super().claim()
        self._dicts = []
        return rest

    def skip(self, k: int) -> int:
        self._dicts = []
        return super().skip(k)


class ChainStream(DPAIteration, ParamStream):
    """ChainStream(start_id, num_samples, config=None, chunk_size=None, verbose=False, progress_callback=None)

    ``stream_augmentation_chain``'s stream: ids ``start_id ..
    start_id + num_samples - 1`` with DPA's seeding, iterated as DPA's
    generator (dicts, or lists of ``chunk_size``), with DPA's ``verbose``
    lines and ``progress_callback(progress, metadata)`` calls.
    """

    def __init__(self, start_id: int, num_samples: int, config: AugmentationConfig | None = None,
                 chunk_size: int | None = None, verbose: bool = False,
                 progress_callback: ProgressCallback | None = None) -> None:
        config = DEFAULT_CONFIG if config is None else config
        super().__init__(range(start_id, start_id + num_samples), config, chunk_size)
        self._dpa_init()
        self.verbose = check_bool(verbose, "verbose")
        self.progress_callback = progress_callback
        self._dpa_hooked = self.verbose or progress_callback is not None
        self.start_id = start_id
        self.progress: StreamingProgress | None = None
        self.metadata: StreamingMetadata | None = None

    def _on_start(self) -> None:
        n = len(self.ids)
        self.progress = create_streaming_progress(estimated_total=n, start_id=self.start_id)
        self.metadata = create_streaming_metadata(total_samples=n, config=self.config,
                                                  start_id=self.start_id,
                                                  chunk_size=self.chunk_size)
        if self.verbose and n > 0:
            sys.stdout.write(f"Starting stream generation: {n} samples from ID "
                             f"{self.start_id}\n")

    def _progress_line(self, done: int) -> None:
        n = len(self.ids)
        if n > 100 and done % max(1, n // 20) == 0:
            sys.stdout.write(f"Progress: {format_progress_info(self.progress)}\n")

    def _on_item(self, index: int, sample_id: int, params: dict[str, Any]) -> None:
        n = len(self.ids)
        if self.chunk_size is None:
            update_streaming_progress(self.progress, index + 1, sample_id)
            if self.verbose:
                if n > 100:
                    self._progress_line(index + 1)
                else:
                    sys.stdout.write(sample_line(sample_id, params))
            if self.progress_callback:
                self.progress_callback(self.progress, self.metadata)
        elif self.verbose and n <= 100:
            sys.stdout.write(sample_line(sample_id, params))

    def _on_chunk(self, done: int, last_id: int, full: bool) -> None:
        if full:
            update_streaming_progress(self.progress, done, last_id)
            if self.verbose:
                self._progress_line(done)
        else:
            update_streaming_progress(self.progress, len(self.ids), last_id)
        if self.progress_callback:
            self.progress_callback(self.progress, self.metadata)

    def _on_end(self) -> None:
        if self.verbose and len(self.ids) > 0:
            sys.stdout.write(f"Stream generation completed: "
                             f"{format_progress_info(self.progress)}\n")


def generate_augmentation_chain(num_samples: int, config: AugmentationConfig | None = None,
                                verbose: bool = False, save_path: str | None = None
                                ) -> list[dict[str, Any]]:
    """generate_augmentation_chain(num_samples, config=None, verbose=False, save_path=None)

    DPA's parameter dicts of samples ``0 .. num_samples - 1``, as a list.

    ``verbose`` prints DPA's line per sample; ``save_path`` writes the file
    ``save_augmentation_chain(results, save_path, config, include_stats=True)``
    writes (from the records, without reading the dicts back).  The dicts
    are made in blocks from the kernel's records.

    Raises
    ------
    ValueError
        ``"num_samples must be non-negative"``.
    """
    num_samples = check_int(num_samples, "num_samples", minimum=0, rule="must be non-negative")
    config = DEFAULT_CONFIG if config is None else config
    verbose = check_bool(verbose, "verbose")
    blocks = [generate_seeded(range(a, min(a + BLOCK, num_samples)), config, _PLAIN, hash=True)
              for a in range(0, num_samples, BLOCK)]
    results: list[dict[str, Any]] = []
    for records in blocks:
        results += records_to_dicts(records)
    if verbose:
        sys.stdout.write("".join(sample_line(i, p) for i, p in enumerate(results)))
    if save_path:
        save_records_chain(blocks, num_samples, save_path, config)
    return results
