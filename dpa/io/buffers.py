"""Staging buffers kept between the ``.npy`` files a process writes.

Fresh pages cost far more than reused ones on virtual machines, so the
partial-file writer (:mod:`dpa.io.writer`) takes its two staging buffers
from :data:`POOL` and gives them back when a file is done.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import threading

__all__ = ["POOL", "BufferPool"]


class BufferPool:
    """Staging buffers kept for the next ``.npy`` this process writes.

    Fresh pages cost far more than reused ones on virtual machines (a fault
    and zeroing per 4 KiB page, about 1.6 ms per MiB on the development VM),
    and a process that writes file after file (a Dask worker writing shards,
    one per thread) would otherwise fault in two new buffers per file.  As
    many buffers are kept as the process had in use at once (two per export
    running at the same time), never more; one that a view still uses is
    never kept (``resize`` raises ``BufferError`` while a buffer is
    exported); a forked child starts with none (anonymous maps are shared
    with the parent).
    """

    def __init__(self) -> None:
        self.reset()

    def take(self, size: int) -> mmap.mmap:
        """The smallest kept buffer of at least ``size`` bytes, or a new one."""
        with self._lock:
            self._out += 1
            self.peak = max(self.peak, self._out)
            fits = [m for m in self._free if len(m) >= size]
            if fits:
                best = min(fits, key=len)
                self._free.remove(best)
                return best
        return mmap.mmap(-1, size)

    def give(self, m: mmap.mmap) -> None:
        """Keep ``m`` for a later file if nothing uses it and the process has
        needed that many; else close it."""
        try:
            m.resize(len(m))  # a no-op that fails while a view of m exists
            free = True
        except (BufferError, OSError, SystemError, TypeError, ValueError):
            free = False
        with self._lock:
            self._out -= 1
            if free and len(self._free) < self.peak:
                self._free.append(m)
                return
        with contextlib.suppress(BufferError):
            m.close()

    def reset(self) -> None:
        """Forget every kept buffer (at the start, and after ``fork`` in the child)."""
        self._free: list[mmap.mmap] = []
        self._out = 0
        self.peak = 0
        self._lock = threading.Lock()


#: The process's pool (a forked child starts with an empty one).
POOL = BufferPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=POOL.reset)
