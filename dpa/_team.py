"""The worker team: persistent threads that run the parts of a fill job.

Each worker is a daemon Python thread that lives in the compiled
``_core.Team`` loop with the GIL released and is handed jobs through shared
memory (``src/team.h``), so a call costs microseconds, not a Python round trip
per thread.  One job runs at a time: a caller that finds the team busy
(another thread is generating) runs its parts itself, which gives the same
records.  A forked child (a DataLoader worker) starts a team of its own; the
team stops at interpreter exit.

Not OpenMP: OpenMP runtimes clash with PyTorch's in one process.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

import numpy as np

from . import _core

__all__ = ["MAX_PARTS", "default_threads", "fill"]

#: At most this many parts per job (the caller plus the workers).
MAX_PARTS = _core.MAX_PARTS

#: How long an idle worker spins for its next job before it sleeps, in
#: microseconds (``DPA_SPIN_US`` overrides; 0 sleeps at once).  About what
#: waking a sleeping thread costs on a virtual machine, so that back-to-back
#: calls (a batch loop) hand over work in under a microsecond while an idle
#: worker costs at most this much CPU time per call.
_DEFAULT_SPIN_US = 200

#: Smallest piece, in records, of a call shared by the worker threads.  The
#: threads take guided pieces (half their share of what is left, see
#: ``src/team.h``) down to this size, so that at the end of a call none waits
#: long for another, even when one was descheduled (shared machines): 256
#: records are a few microseconds of philox, well under a millisecond of DPA.
_MIN_PIECE = 256


def _env_int(name: str, minimum: int, what: str) -> int | None:
    env = os.environ.get(name)
    if not env:
        return None
    try:
        value = int(env)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ValueError(f"{name} should be {what}, got {env!r}")
    return value


def default_threads() -> int:
    """Threads ``generate`` uses by default.

    ``DPA_NUM_THREADS`` if set, else the number of CPUs this process may run on.
    """
    n = _env_int("DPA_NUM_THREADS", 1, "a positive integer")
    if n is not None:
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _spin_ns() -> int:
    us = _env_int("DPA_SPIN_US", 0, "a non-negative integer")
    return (_DEFAULT_SPIN_US if us is None else us) * 1000


class _Team:
    """The workers of one process (see the module docs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # held while a job runs or the team grows
        self._team: Any = None
        self._threads: list[threading.Thread] = []

    def _grow(self, workers: int) -> None:
        """Start workers up to ``workers`` and wait until the new ones are in the loop."""
        if len(self._threads) >= workers:
            return
        if self._team is None:
            self._team = _core.Team(_spin_ns())
        while len(self._threads) < workers:
            index = len(self._threads) + 1
            thread = threading.Thread(target=self._team.work, args=(index,),
                                      name=f"dpa-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._team.wait_ready(len(self._threads))

    def fill(self, kernel: Any, out: np.ndarray, bounds: list[int], ids: np.ndarray | None,
             first: int, step: int, hash_offset: int, paths: int) -> None:
        """``_core.fill`` with part ``k`` in worker ``k`` when the team is free."""
        if len(bounds) == 2 or not self._lock.acquire(blocking=False):
            _core.fill(kernel, out, bounds, ids, first, step, hash_offset, paths)
            return
        try:
            self._grow(len(bounds) - 2)
            _core.fill(kernel, out, bounds, ids, first, step, hash_offset, paths, self._team,
                       _MIN_PIECE)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop the workers (at interpreter exit)."""
        with self._lock:
            if self._team is not None:
                self._team.stop()
                for thread in self._threads:
                    thread.join(timeout=5)
                self._team, self._threads = None, []


_team = _Team()
atexit.register(lambda: _team.close())


def _reset_team_after_fork() -> None:
    # A forked child inherits the team but not its threads: start afresh
    # there, or its jobs would wait for workers forever.
    global _team
    _team = _Team()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_team_after_fork)


def fill(kernel: Any, out: np.ndarray, bounds: list[int], ids: np.ndarray | None,
         first: int, step: int, hash_offset: int, paths: int) -> None:
    """Fill ``out[:bounds[-1]]`` with ``kernel``: part ``k`` of ``bounds`` in
    worker ``k`` (see ``_core.fill`` for the arguments)."""
    _team.fill(kernel, out, bounds, ids, first, step, hash_offset, paths)


def team() -> _Team:
    """This process's team (tests and benchmarks look inside)."""
    return _team
