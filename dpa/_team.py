"""The worker team: persistent threads that run the parts of a fill job.

Each worker is a daemon Python thread that lives in the compiled
``_core.Team`` loop with the GIL released and is handed jobs through shared
memory (``src/team.h``), so a call costs microseconds, not a Python round trip
per thread.

One job runs at a time, owned by whoever started it:

* a *foreground* job (:func:`fill`): the caller takes part and returns when
  every record is written.  A caller that finds the team owned by another
  job runs its records itself, which gives the same records;
* a *background* job (:func:`start`): only the workers run it and the caller
  returns at once with a :class:`Background` handle, to :meth:`~Background.wait`
  for it later.  This is how streams generate the next block while their
  consumer works on the current one.  The handle keeps the output and ids
  alive; the team keeps the handle until its job is complete, so no array a
  job writes into is freed while it writes, even if the handle's owner drops
  it.  A job that is complete is reaped by the next caller that wants the
  team.

Every wait looks at Python's signals at least every 0.1 s: a KeyboardInterrupt
stops the job's participants after their current piece (at most about 1 ms
of work, see ``dpa.engine``) and is raised once none of them writes any more,
so the caller's buffer is never written after the exception.

A forked child (a DataLoader worker) starts a team of its own; a handle made
before the fork refills its output in the child when waited on (the parent's
workers did not come along), and never touches the parent's team.  The team
stops at interpreter exit.

Not OpenMP: OpenMP runtimes clash with PyTorch's in one process.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

import numpy as np

from . import _core

__all__ = ["MAX_PARTS", "Background", "default_threads", "fill", "start"]

#: At most this many parts per job (the caller plus the workers).
MAX_PARTS = _core.MAX_PARTS

#: How long an idle worker spins for its next job before it sleeps, in
#: microseconds (``DPA_SPIN_US`` overrides; 0 sleeps at once).  About what
#: waking a sleeping thread costs on a virtual machine, so that back-to-back
#: calls (a batch loop) hand over work in under a microsecond while an idle
#: worker costs at most this much CPU time per call.
_DEFAULT_SPIN_US = 200

#: How long one wait of a handle lasts before Python's signals are looked at.
_SLICE_S = 0.1


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


#: The CPU count of :func:`default_threads` (0: not read yet): the affinity
#: mask is read once per process (a system call on every large ``generate``
#: otherwise) and again in a forked child.
_cpus = 0


def default_threads() -> int:
    """Threads ``generate`` uses by default.

    ``DPA_NUM_THREADS`` if set, else the number of CPUs this process may run on
    (read once per process).
    """
    global _cpus
    n = _env_int("DPA_NUM_THREADS", 1, "a positive integer")
    if n is not None:
        return n
    if not _cpus:
        try:
            count = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            count = os.cpu_count() or 1
        _cpus = max(1, count)
    return _cpus


def _spin_ns() -> int:
    us = _env_int("DPA_SPIN_US", 0, "a non-negative integer")
    return (_DEFAULT_SPIN_US if us is None else us) * 1000


#: The owner of a foreground job.
_FOREGROUND = object()

# States of a Background handle.
_LAZY, _RUNNING, _DONE, _FAILED = "lazy", "running", "done", "failed"


class Background:
    """A fill job that runs in the workers while its starter goes on.

    Made by :func:`start`.  :meth:`wait` returns once every record is written
    (running the job in this thread if the team was busy when it was
    started, or was left behind by a fork); :meth:`cancel` asks the workers to
    stop early, after which the output holds some records and garbage: only
    :meth:`wait` makes it whole again.  Not for sharing between threads.
    """

    __slots__ = ("_team", "_args", "_parts", "_state", "_gen", "_joining", "_pid")

    def __init__(self, team: _Team, args: tuple[Any, ...], parts: int) -> None:
        self._team = team
        self._args = args  # kernel, out, n, ids, first, step, hash_offset, paths, layout
        self._parts = parts
        self._state = _LAZY
        self._gen = 0
        self._joining = False
        self._pid = os.getpid()

    @property
    def out(self) -> np.ndarray:
        """The array being filled."""
        return self._args[1]

    def _stale(self) -> bool:
        """Made before a fork, in the child: the job's workers are not here."""
        return self._pid != os.getpid()

    def done(self) -> bool:
        """True if every record is written (never blocks)."""
        if self._state == _RUNNING and not self._stale():
            return self._team._core_team().poll(self._gen) == 1
        return self._state == _DONE

    def _join(self, help: bool = False) -> None:
        """If this job owns the team, wait until its workers are done with it
        (with ``help``, taking the pieces left as a worker does)."""
        team = self._team
        with team._lock:
            owned = team._owner is self
            self._joining = owned
        if not owned:
            return
        core = team._core_team()
        try:
            while not core.join(self._gen, _SLICE_S, help):
                pass  # Python looks at its signals here
        except BaseException:
            core.cancel(self._gen)
            core.join(self._gen)
            team._release(self, _FAILED)
            raise
        finally:
            self._joining = False
        team._release(self, _DONE)

    def wait(self, help: bool = False) -> np.ndarray:
        """Block until every record is written; return the output.

        With ``help``, this thread takes the pieces left as a worker does
        (for a job started with fewer workers than CPUs, by a caller that
        would otherwise sit idle).  A KeyboardInterrupt (or any exception a
        signal handler raises) while waiting stops the job before it
        propagates; a later :meth:`wait` fills the output again.
        """
        if self._state == _DONE:
            return self.out
        if not self._stale():
            self._join(help)  # running, or cancelled with pieces maybe still running
        if self._state != _DONE:  # lazy, cancelled, failed, or left behind by a fork
            kernel, out, n, ids, first, step, hash_offset, paths, layout = self._args
            bounds = [n * k // self._parts for k in range(self._parts + 1)]
            _team_now().fill(kernel, out, bounds, ids, first, step, hash_offset, paths, *layout)
            self._state = _DONE
        return self.out

    def cancel(self) -> None:
        """Ask the workers to stop after their current piece (never blocks).

        Safe from finalizers: takes no lock.  The team keeps this handle (and
        so the output) until the workers have stopped; the output is whole
        again only after :meth:`wait`.
        """
        if self._state == _RUNNING and not self._stale():
            core = self._team._core_team()
            if core is not None:  # None once the team stopped (interpreter exit)
                core.cancel(self._gen)
            self._state = _FAILED

    def stop(self) -> None:
        """Cancel the job and wait until no worker writes into the output any
        more (one piece at most); the output is left incomplete."""
        self.cancel()
        if not self._stale():
            self._join()


class _Team:
    """The workers of one process (see the module docs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # held while ownership changes or the team grows
        self._team: Any = None
        self._threads: list[threading.Thread] = []
        self._owner: Any = None  # None, _FOREGROUND, or the Background running

    def _core_team(self) -> Any:
        return self._team

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

    def _claim(self, owner: Any) -> bool:
        """Make ``owner`` the team's owner if it is free (call under the lock).

        A background job that is complete, and whose handle is not waiting
        for it, is reaped first.
        """
        current = self._owner
        if current is not None:
            if current is _FOREGROUND or current._joining:
                return False
            status = self._team.poll(current._gen)
            if status == 0:
                return False
            if current._state == _RUNNING:
                current._state = _DONE if status == 1 else _FAILED
        self._owner = owner
        return True

    def _release(self, handle: Background, state: str) -> None:
        with self._lock:
            if handle._state == _RUNNING:
                handle._state = state
            if self._owner is handle:
                self._owner = None

    def fill(self, kernel: Any, out: np.ndarray, bounds: list[int], ids: np.ndarray | None,
             first: int, step: int, hash_offset: int, paths: int, *layout: int) -> None:
        """``_core.fill`` with part ``k`` in worker ``k`` when the team is free."""
        if len(bounds) == 2:
            _core.fill(kernel, out, bounds, ids, first, step, hash_offset, paths, None, *layout)
            return
        claimed = False
        try:
            with self._lock:
                claimed = self._claim(_FOREGROUND)
                if claimed:
                    self._grow(len(bounds) - 2)
            _core.fill(kernel, out, bounds, ids, first, step, hash_offset, paths,
                       self._team if claimed else None, *layout)
        finally:
            if claimed:
                self._owner = None

    def start(self, kernel: Any, out: np.ndarray, parts: int, ids: np.ndarray | None,
              first: int, step: int, hash_offset: int, paths: int, layout: tuple[int, ...],
              notify_left: int = 0) -> Background:
        """Fill ``out`` in ``parts`` workers while the caller goes on (see :func:`start`)."""
        n = len(out)
        handle = Background(self, (kernel, out, n, ids, first, step, hash_offset, paths,
                                   layout), parts)
        if parts < 1 or n == 0:
            return handle
        with self._lock:
            if self._claim(handle):
                try:
                    self._grow(parts)
                    bounds = [n * k // parts for k in range(parts + 1)]
                    handle._gen = self._team.start(kernel, out, bounds, ids, first, step,
                                                   hash_offset, paths, *layout, notify_left)
                    handle._state = _RUNNING
                finally:
                    if handle._state != _RUNNING:
                        self._owner = None
        return handle

    def close(self) -> None:
        """Stop the workers (at interpreter exit)."""
        with self._lock:
            if self._team is not None:
                owner = self._owner
                if isinstance(owner, Background) and owner._state == _RUNNING:
                    self._team.cancel(owner._gen)
                self._team.stop()
                for thread in self._threads:
                    thread.join(timeout=5)
                self._team, self._threads = None, []


_team = _Team()
atexit.register(lambda: _team.close())


def _team_now() -> _Team:
    return _team


def _reset_team_after_fork() -> None:
    # A forked child inherits the team but not its threads: start afresh
    # there, or its jobs would wait for workers forever.  The parent's team
    # (its mutex possibly held by a thread that did not come along) is never
    # touched again here.
    global _team, _cpus
    _team = _Team()
    _cpus = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_team_after_fork)


def fill(kernel: Any, out: np.ndarray, bounds: list[int], ids: np.ndarray | None,
         first: int, step: int, hash_offset: int, paths: int, *layout: int) -> None:
    """Fill ``out[:bounds[-1]]`` with ``kernel``: part ``k`` of ``bounds`` in
    worker ``k``; ``layout`` is ``(chunk, max_chunk, grain, row_len, row_step)``
    (see ``_core.fill`` for the arguments)."""
    _team.fill(kernel, out, bounds, ids, first, step, hash_offset, paths, *layout)


def start(kernel: Any, out: np.ndarray, parts: int, ids: np.ndarray | None, first: int,
          step: int, hash_offset: int, paths: int, layout: tuple[int, ...],
          notify_left: int = 0) -> Background:
    """Fill all of ``out`` in ``parts`` workers, in the background; returns the
    :class:`Background` handle.

    ``layout`` is ``(chunk, max_chunk, grain, row_len, row_step)`` as in
    ``_core.fill``, with ``chunk > 0``: the workers take guided pieces; the
    caller takes none and should not hand ``out`` to anybody before
    :meth:`Background.wait` returned.  A waiting caller sleeps until at most
    ``notify_left`` records are left to take, then spins.  If the team is
    owned by another job, nothing runs until ``wait``, which then fills
    ``out`` in the foreground.
    """
    return _team.start(kernel, out, parts, ids, first, step, hash_offset, paths, layout,
                       notify_left)


def team() -> _Team:
    """This process's team (tests and benchmarks look inside)."""
    return _team
