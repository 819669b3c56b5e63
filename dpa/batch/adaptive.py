"""The ADAPTIVE strategy's controller: learns the batch size with the best throughput.

The batch processor tells the controller, for every batch, how many samples
it held and how long the cycle took: from the request for that batch to the
request for the next, i.e. making the batch plus the consumer's work on it.
Throughput is samples per second of cycle time, so the controller optimises
what the pipeline as a whole delivers.

The search is a pattern search on ``log2(batch size)``:

1. *Measure* the current size over ``probe_batches`` batches, or fewer if
   they already took ``probe_seconds`` (large batches need no repeats, and
   measuring a bad size is what exploration costs).
2. *Probe* a neighbour ``step`` octaves away (up first, or in the direction
   that last paid off); move there if its throughput is better by more than
   ``tolerance``, and keep going that way.  If it is better by less (a
   plateau, as far above a cache-size threshold), also probe further that
   way (2 steps up; 2, 3, 4, 6, 8, 12 and 16 steps down) while the throughput
   keeps rising, and move to the first that is better by more than
   ``tolerance``.  When neither neighbour is better,
   halve ``step``; below ``min_step`` the search has *settled*.  Throughputs
   measured in this search are remembered, so no size is measured twice.
3. *Track*: while settled, the controller watches the throughput at its size.
   If it drifts by more than ``drift`` from the settled value (the consumer's
   cost changed), the search restarts from the current size with ``step = 1``.
   After ``recheck_every`` settled batches it also probes both neighbours
   ``recheck_step`` octaves away, and restarts from a neighbour that has
   become better (the best size moved without changing the throughput here).
   Each recheck that finds nothing doubles the wait before the next, up to
   ``max_recheck_every`` batches, since probing a worse size costs throughput.

Sizes stay within ``[min_size, limit]``, where ``limit`` is ``max_size``
lowered by :meth:`AdaptiveController.set_limit` (the processor passes the
memory budget's ceiling there).  The controller never reads a clock: it is a
pure state machine over the measurements it is given, so it is tested with
synthetic costs and no sleeping.
"""

from __future__ import annotations

from .config import check_at_most, check_int, check_number

__all__ = ["AdaptiveController"]

#: Measurements shorter than this are counted as this long (a clock that did
#: not advance must not give an infinite throughput).
_MIN_SECONDS = 1e-9

#: Plateau search: how many steps away to look, in turn; less far up, where
#: a probe costs memory (at step 1, 2 steps up is a batch 4 times larger),
#: than down.
_REACH_UP = (2,)
_REACH_DOWN = (2, 3, 4, 6, 8, 12, 16)


class AdaptiveController:
    """AdaptiveController(initial_size, min_size=1, max_size=None, *, probe_batches=3, probe_seconds=0.05, tolerance=0.02, min_step=0.125, drift=0.2, recheck_every=64, max_recheck_every=1024, recheck_step=0.25)

    Finds and tracks the batch size with the best samples per second.

    Parameters
    ----------
    initial_size : int
        The first size to measure.
    min_size, max_size : int
        Bounds of the search (``max_size=None``: unbounded but for
        :meth:`set_limit`).
    probe_batches : int
        Batches per measurement of one size (at most).
    probe_seconds : float
        A measurement also ends once its batches took this long.
    tolerance : float
        A neighbour must beat the current size by this fraction to win.
    min_step : float
        The search settles when its step (in octaves) falls below this;
        0.125 octave is a factor of about 1.09 between neighbouring sizes.
    drift : float
        Relative change of the settled throughput that restarts the search.
    recheck_every : int
        Settled batches before the first recheck of the neighbours.
    max_recheck_every : int
        Longest wait between rechecks (the wait doubles after each recheck
        that finds no better size).
    recheck_step : float
        Distance of the rechecked neighbours, in octaves.

    Examples
    --------
    >>> ctl = AdaptiveController(16, 1, 4096)
    >>> for _ in range(200):
    ...     b = ctl.next_size()
    ...     ctl.record(b, 1e-3 + 1e-6 * b + 4e-6 * max(0, b - 512))  # best: 512
    >>> ctl.settled, ctl.size
    (True, 512)
    """

    def __init__(
        self,
        initial_size: int,
        min_size: int = 1,
        max_size: int | None = None,
        *,
        probe_batches: int = 3,
        probe_seconds: float = 0.05,
        tolerance: float = 0.02,
        min_step: float = 0.125,
        drift: float = 0.2,
        recheck_every: int = 64,
        max_recheck_every: int = 1024,
        recheck_step: float = 0.25,
    ) -> None:
        self.min_size = check_int(min_size, "min_size")
        self.max_size = check_int(max_size, "max_size", optional=True)
        check_at_most(self.min_size, "min_size", self.max_size, "max_size")
        self.probe_batches = check_int(probe_batches, "probe_batches")
        self.probe_seconds = check_number(probe_seconds, "probe_seconds")
        self.tolerance = check_number(tolerance, "tolerance", positive=False)
        self.min_step = check_number(min_step, "min_step")
        self.drift = check_number(drift, "drift")
        self.recheck_every = check_int(recheck_every, "recheck_every")
        self.max_recheck_every = max(self.recheck_every,
                                     check_int(max_recheck_every, "max_recheck_every"))
        self.recheck_step = check_number(recheck_step, "recheck_step")
        self._limit = self.max_size
        self._center = self._clamp(check_int(initial_size, "initial_size"))
        self.restarts = 0
        self._restart(step=1.0)

    # ---- public state --------------------------------------------------------

    @property
    def size(self) -> int:
        """The current best size (the one used while settled)."""
        return self._center

    @property
    def settled(self) -> bool:
        """True once the search has converged (until it restarts)."""
        return self._phase == "settled"

    @property
    def limit(self) -> int | None:
        """The current upper bound: ``max_size`` or lower, after :meth:`set_limit`."""
        return self._limit

    def throughput(self, size: int) -> float | None:
        """Samples per second measured for ``size`` in the current search, if any."""
        return self._scores.get(size)

    def __repr__(self) -> str:
        return (
            f"AdaptiveController(size={self._center}, phase={self._phase!r}, "
            f"step={self._step:g}, limit={self._limit}, restarts={self.restarts})"
        )

    # ---- driving -------------------------------------------------------------

    def set_limit(self, limit: int | None) -> None:
        """Lower (or restore) the upper bound, e.g. from the memory budget.

        ``None`` restores ``max_size``.  The bound never goes below
        ``min_size``.  A current size above the new bound moves down to it and
        the search restarts there.
        """
        if limit is not None:
            limit = max(self.min_size, int(limit))
            if self.max_size is not None:
                limit = min(limit, self.max_size)
        else:
            limit = self.max_size
        if limit == self._limit:
            return
        self._limit = limit
        if limit is None or self._trial <= limit:
            return
        if self._center > limit:
            self._center = limit
            self.restarts += 1
            self._restart(step=1.0)
            return
        # A trial size above the new bound: drop its partial measurement.
        self._acc_samples = self._acc_batches = 0
        self._acc_seconds = 0.0
        if self._phase == "settled":
            self._rechecks = [r for r in self._rechecks if r <= limit]
            self._trial = self._rechecks[0] if self._rechecks else self._center
        else:
            self._advance()

    def next_size(self) -> int:
        """The size of the next batch."""
        return self._trial

    def record(self, samples: int, seconds: float) -> None:
        """Report a batch: ``samples`` in it, ``seconds`` of cycle time.

        A batch smaller than the size asked for (the end of a stream) is
        ignored.
        """
        if samples != self._trial:
            return
        self._acc_samples += samples
        self._acc_seconds += max(float(seconds), _MIN_SECONDS)
        self._acc_batches += 1
        if self._acc_batches < self.probe_batches and self._acc_seconds < self.probe_seconds:
            return
        rate = self._acc_samples / self._acc_seconds
        batches = self._acc_batches
        self._acc_samples = self._acc_batches = 0
        self._acc_seconds = 0.0
        if self._phase == "settled":
            self._track(rate, batches)
        else:
            self._scores[self._trial] = rate
            self._advance()

    # ---- the search ----------------------------------------------------------

    def _clamp(self, size: int) -> int:
        if self._limit is not None:
            size = min(size, self._limit)
        return max(self.min_size, size)

    def _size_at(self, octaves: float) -> int:
        return self._clamp(int(round(self._center * 2.0 ** octaves)))

    def _restart(self, step: float) -> None:
        self._scores: dict[int, float] = {}
        self._step = step
        self._direction = 1
        self._tried: list[int] = []  # directions tried at this step and center
        self._phase = "search"
        self._settled_rate = 0.0
        self._since_recheck = 0
        self._recheck_wait = self.recheck_every
        self._rechecks: list[int] = []
        self._recheck_rates: dict[int, float] = {}
        self._acc_samples = self._acc_batches = 0
        self._acc_seconds = 0.0
        self._trial = self._center

    def _advance(self) -> None:
        """Choose the next trial size after a measurement (search phase)."""
        while True:
            center_rate = self._scores.get(self._center)
            if center_rate is None:
                self._trial = self._center
                return
            # The candidate of the pending direction, if one was measured.
            if self._tried:
                d = self._tried[-1]
                cand = self._size_at(d * self._step)
                rate = self._scores.get(cand)
                if rate is None:
                    self._trial = cand
                    return
                if cand != self._center and rate > center_rate * (1 + self.tolerance):
                    self._center, self._direction, self._tried = cand, d, []
                    continue
                if cand != self._center and rate > center_rate:
                    # Better, but within the tolerance: on a plateau the gain
                    # per step is small, so look further that way while it
                    # keeps improving, and move once it pays.
                    prev_size, prev_rate, moved = cand, rate, False
                    for k in (_REACH_UP if d > 0 else _REACH_DOWN):
                        far = self._size_at(k * d * self._step)
                        if far == prev_size:
                            break
                        far_rate = self._scores.get(far)
                        if far_rate is None:
                            self._trial = far
                            return
                        if far_rate > center_rate * (1 + self.tolerance):
                            self._center, self._direction, self._tried = far, d, []
                            moved = True
                            break
                        if far_rate <= prev_rate:
                            break
                        prev_size, prev_rate = far, far_rate
                    if moved:
                        continue
                if len(self._tried) == 1:
                    self._tried.append(-d)
                    continue
                # Neither neighbour wins: refine.
                self._step /= 2
                self._tried = []
                if self._step < self.min_step:
                    self._settle()
                    return
            self._tried = [self._direction]

    def _settle(self) -> None:
        self._phase = "settled"
        self._settled_rate = self._scores[self._center]
        self._trial = self._center
        self._since_recheck = 0

    def _track(self, rate: float, batches: int) -> None:
        """Handle a measurement while settled (at the center or a recheck)."""
        if self._rechecks:
            size = self._rechecks.pop(0)
            self._recheck_rates[size] = rate
            if self._rechecks:
                self._trial = self._rechecks[0]
                return
            best = max(self._recheck_rates, key=self._recheck_rates.__getitem__)
            best_rate = self._recheck_rates[best]
            if best_rate > self._settled_rate * (1 + self.tolerance):
                self._center = best
                self.restarts += 1
                self._restart(step=0.5)
                self._scores[best] = best_rate
                self._advance()
                return
            self._recheck_wait = min(2 * self._recheck_wait, self.max_recheck_every)
            self._trial = self._center
            return
        ref = self._settled_rate
        if abs(rate - ref) > self.drift * ref:
            self.restarts += 1
            self._restart(step=1.0)
            self._scores[self._center] = rate
            self._advance()
            return
        # Follow slow changes of the settled throughput.
        self._settled_rate = 0.75 * ref + 0.25 * rate
        self._scores[self._center] = self._settled_rate
        self._since_recheck += batches
        if self._since_recheck >= self._recheck_wait:
            self._since_recheck = 0
            sizes = [self._size_at(self.recheck_step), self._size_at(-self.recheck_step)]
            self._rechecks = [s for s in dict.fromkeys(sizes) if s != self._center]
            self._recheck_rates = {}
            if self._rechecks:
                self._trial = self._rechecks[0]
