"""ADAPTIVE against synthetic consumers whose best batch size is known.

A consumer costs a per-batch overhead plus a per-sample cost that grows past
a cache-size threshold; it advances a fake clock instead of sleeping, so the
runs are deterministic and take milliseconds.  The bar (issue 3): the learnt
size settles within 25% of the best size, and the run delivers at least 90%
of the throughput of the best fixed batch size over the same samples.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpa
from dpa.batch import (
    AdaptiveController,
    BatchConfig,
    BatchProcessor,
    BatchStrategy,
    InvalidBatchConfigError,
)

S = BatchStrategy


class Clock:
    """A fake clock the synthetic consumer advances."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def plenty():
    return {"percent_used": 40.0, "available_mb": 64_000.0, "rss_mb": 100.0}


def cache_consumer(overhead: float, per_sample: float, extra: float, threshold: int):
    """Cost of a batch of b: overhead + per_sample*b + extra*(b - threshold)+.

    With ``extra * threshold > overhead`` the best batch size is ``threshold``.
    """
    assert extra * threshold > overhead

    def cost(b: int) -> float:
        return overhead + per_sample * b + extra * max(0, b - threshold)

    return cost


def step_consumer(overhead: float, fast: float, slow: float, threshold: int):
    """Per-sample cost jumps for every sample once a batch exceeds the cache."""

    def cost(b: int) -> float:
        return overhead + b * (fast if b <= threshold else slow)

    return cost


def smooth_consumer(overhead: float, per_sample: float, scale: float):
    """Per-sample cost growing smoothly with the batch: best size near a known value."""

    def cost(b: int) -> float:
        return overhead + per_sample * b * (1 + (b / scale) ** 2)

    return cost


def best_fixed(n: int, cost, sizes) -> tuple[float, int]:
    """(time, size) of the fastest fixed batch size over n samples."""
    return min(((n // s) * cost(s) + (cost(n % s) if n % s else 0.0), s) for s in sizes)


def run_adaptive(n: int, cost, *, start: int = 32, cost_after=None, switch_at=None,
                 **config):
    clock = Clock()
    cfg = BatchConfig(strategy=S.ADAPTIVE, batch_size=start, **config)
    p = BatchProcessor(S.ADAPTIVE, cfg, probe=plenty, clock=clock)
    sizes, done = [], 0
    for batch in p.process_stream(np.arange(n)):
        c = cost if switch_at is None or done < switch_at else cost_after
        clock.t += c(len(batch))
        sizes.append(len(batch))
        done += len(batch)
    assert done == n
    return clock.t, sizes, p


CONSUMERS = {
    "cache-1024": (cache_consumer(1e-3, 1e-6, 4e-6, 1024), 1_000_000, 1024),
    "cache-300": (cache_consumer(1e-3, 1e-6, 10e-6, 300), 300_000, 300),
    "cache-50": (cache_consumer(2e-4, 1e-6, 10e-6, 50), 100_000, 50),
    "step-700": (step_consumer(1e-3, 1e-6, 3e-6, 700), 1_000_000, 700),
}


@pytest.mark.parametrize("name", sorted(CONSUMERS))
def test_settles_near_best_and_keeps_throughput(name):
    cost, n, best_size = CONSUMERS[name]
    t_fixed, s_fixed = best_fixed(n, cost, range(1, 4 * best_size))
    assert s_fixed == best_size
    t, sizes, p = run_adaptive(n, cost)
    assert p.controller.settled
    assert abs(p.controller.size / best_size - 1) <= 0.25
    tail = sizes[-50:-1]  # the last batch may be short
    assert all(abs(s / best_size - 1) <= 0.25 for s in tail)
    assert t_fixed / t >= 0.90, (t_fixed / t, sizes[:40])


def test_smooth_optimum():
    cost = smooth_consumer(1e-3, 1e-6, 2000)
    n = 1_000_000
    t_fixed, s_fixed = best_fixed(n, cost, range(1, 8000))
    t, sizes, p = run_adaptive(n, cost)
    assert abs(p.controller.size / s_fixed - 1) <= 0.25
    assert t_fixed / t >= 0.90


@pytest.mark.parametrize("start", [1, 7, 32, 5000])
def test_any_starting_size(start):
    cost, _, best_size = CONSUMERS["cache-300"]
    n = 2_000_000  # exploring from 17 times the best size costs; a run amortises it
    t_fixed, _ = best_fixed(n, cost, range(1, 1200))
    t, sizes, p = run_adaptive(n, cost, start=start)
    assert abs(p.controller.size / best_size - 1) <= 0.25
    assert t_fixed / t >= 0.90


def test_bounds_are_respected():
    cost = cache_consumer(1e-3, 1e-6, 4e-6, 1024)  # best 1024, outside the bounds
    t, sizes, p = run_adaptive(200_000, cost, min_batch_size=8, max_batch_size=256)
    assert max(sizes) == 256 and min(sizes[:-1]) >= 8
    assert p.controller.size == 256  # the best size within the bounds
    t, sizes, p = run_adaptive(200_000, cost, start=2000, min_batch_size=1500)
    assert min(sizes[:-1]) >= 1500
    assert p.controller.size == 1500


def test_memory_budget_caps_the_search():
    cost = cache_consumer(1e-3, 1e-6, 4e-6, 1024)
    # 64 KiB budget of 128-byte samples: at most 512 per batch.
    t, sizes, p = run_adaptive(200_000, cost, max_memory_mb=1 / 16, sample_size_bytes=128)
    assert max(sizes) == 512
    assert p.controller.size == 512


def test_overhead_only_grows_to_the_maximum():
    t, sizes, p = run_adaptive(500_000, lambda b: 1e-3 + 1e-7 * b, max_batch_size=4096)
    assert p.controller.size == 4096
    assert sizes[-2] == 4096


@pytest.mark.parametrize("before, after, best_after", [
    # The consumer gets slower past 256: the throughput at 1024 drops (drift).
    (cache_consumer(1e-3, 1e-6, 4e-6, 1024), cache_consumer(1e-3, 1e-6, 10e-6, 256), 256),
    # The cache grows: the throughput at 256 is unchanged, only rechecks find 2048.
    (cache_consumer(1e-3, 1e-6, 10e-6, 256), cache_consumer(1e-3, 1e-6, 4e-6, 2048), 2048),
])
def test_keeps_adapting_when_the_consumer_changes(before, after, best_after):
    n, half = 4_000_000, 2_000_000
    t, sizes, p = run_adaptive(n, before, cost_after=after, switch_at=half)
    assert p.controller.restarts >= 1
    assert abs(p.controller.size / best_after - 1) <= 0.25
    # Within the run, each half near its own best fixed size.
    cum = np.cumsum(sizes)
    second = [s for s, c in zip(sizes, cum) if c > half]
    settled = next(i for i in range(len(second))
                   if all(abs(s / best_after - 1) <= 0.25 for s in second[i:-1]))
    assert settled < len(second) // 2
    t_best = (best_fixed(half, before, range(1, 4096))[0]
              + best_fixed(n - half, after, range(1, 8192))[0])
    assert t_best / t >= 0.90


def test_adaptive_sizing_off_is_fixed():
    clock = Clock()
    cfg = BatchConfig(strategy=S.ADAPTIVE, batch_size=40, adaptive_sizing=False)
    p = BatchProcessor(S.ADAPTIVE, cfg, probe=plenty, clock=clock)
    it = p.process_stream(np.arange(1000))
    assert len(it) == 25
    assert {len(b) for b in it} == {40}
    assert p.controller is None


def test_measures_the_consumer_between_yields():
    """The recorded cycle time is production plus the consumer's time per batch."""
    clock = Clock()
    cfg = BatchConfig(strategy=S.ADAPTIVE, batch_size=16)
    p = BatchProcessor(S.ADAPTIVE, cfg, probe=plenty, clock=clock)
    it = iter(p.process_stream(np.arange(10_000)))
    next(it)
    clock.t += 0.005
    next(it)  # records 16 samples over 5 ms
    clock.t += 0.0025
    next(it)
    clock.t += 0.0025
    next(it)  # third batch of the first measurement
    assert p.controller.throughput(16) == pytest.approx(48 / 0.01)


def test_over_a_dpa_stream_content_is_exact():
    clock = Clock()
    cost = cache_consumer(1e-4, 1e-6, 10e-6, 64)
    cfg = BatchConfig(strategy=S.ADAPTIVE, batch_size=8)
    p = BatchProcessor(S.ADAPTIVE, cfg, probe=plenty, clock=clock)
    cfg_aug = dpa.get_preset("aggressive")
    batches = []
    for b in p.process_stream(dpa.stream_augmentation_chain(3000, cfg_aug, start_id=17)):
        clock.t += cost(len(b))
        batches.append(b)
    assert np.concatenate(batches).tobytes() == dpa.generate(range(17, 3017), cfg_aug).tobytes()
    assert abs(p.controller.size / 64 - 1) <= 0.25


# ---- the controller on its own -----------------------------------------------


@settings(max_examples=60, deadline=None)
@given(threshold=st.integers(16, 4000), start=st.integers(1, 5000),
       miss=st.floats(2, 10), share=st.floats(0.1, 0.8))
def test_controller_finds_any_cache_threshold(threshold, start, miss, share):
    """Per-sample cost ``miss`` times higher past the threshold; the overhead is a
    ``share`` of the extra cost at the threshold, so the threshold is the best size."""
    per_sample = 1e-6
    extra = miss * per_sample
    cost = cache_consumer(share * extra * threshold, per_sample, extra, threshold)
    ctl = AdaptiveController(start, 1, 100_000)
    for _ in range(1000):
        b = ctl.next_size()
        ctl.record(b, cost(b))
        if ctl.settled:
            break
    assert ctl.settled
    assert abs(ctl.size / threshold - 1) <= 0.25


def test_controller_ignores_short_batches_and_zero_time():
    ctl = AdaptiveController(10, 1, 100, probe_batches=1)
    ctl.record(3, 1.0)  # not the size asked for: the end of a stream
    assert ctl.throughput(10) is None
    ctl.record(10, 0.0)  # a clock that did not move
    assert ctl.throughput(10) > 0 and math.isfinite(ctl.throughput(10))


def test_controller_limit():
    ctl = AdaptiveController(100, 10, 1000)
    ctl.set_limit(50)
    assert ctl.next_size() == 50 and ctl.limit == 50
    ctl.set_limit(1)
    assert ctl.limit == 10 and ctl.next_size() == 10
    ctl.set_limit(None)
    assert ctl.limit == 1000


def test_controller_limit_below_a_trial():
    ctl = AdaptiveController(100, 1, 1000, probe_batches=1)
    ctl.record(100, 1.0)
    assert ctl.next_size() == 200  # probing up
    ctl.set_limit(150)
    assert ctl.next_size() <= 150 and ctl.size == 100
    for _ in range(50):
        b = ctl.next_size()
        assert b <= 150
        ctl.record(b, 1.0)  # constant time per batch: bigger is better
    assert ctl.size == 150


def test_controller_validation():
    with pytest.raises(InvalidBatchConfigError, match="min_size should be at most max_size"):
        AdaptiveController(10, 20, 5)
    with pytest.raises(InvalidBatchConfigError, match="initial_size=0"):
        AdaptiveController(0)
    with pytest.raises(InvalidBatchConfigError, match="drift"):
        AdaptiveController(8, drift=0)


@pytest.mark.parametrize("name", ["cache-1024", "cache-50"])
def test_lookahead_keeps_adaptive_behaviour(name):
    """Over a dpa stream (records generated ahead in blocks, batches sliced or
    copied across blocks) ADAPTIVE learns as over an array: the same sizes,
    within 25% of the best, at least 90% of the best fixed size's throughput."""
    cost, n, best_size = CONSUMERS[name]
    n = min(n, 300_000)
    t_fixed, _ = best_fixed(n, cost, range(1, 4 * best_size))
    _, array_sizes, _ = run_adaptive(n, cost)
    clock = Clock()
    cfg = BatchConfig(strategy=S.ADAPTIVE, batch_size=32)
    p = BatchProcessor(S.ADAPTIVE, cfg, probe=plenty, clock=clock)
    stream = dpa.stream_augmentation_chain(n, scheme="philox", base_seed=2)
    sizes, ids = [], []
    for batch in p.process_stream(stream):
        clock.t += cost(len(batch))
        sizes.append(len(batch))
        ids.append(batch["sample_id"].copy())
    assert sizes == array_sizes
    assert np.concatenate(ids).tolist() == list(range(n))
    assert abs(p.controller.size / best_size - 1) <= 0.25
    assert t_fixed / clock.t >= 0.90
