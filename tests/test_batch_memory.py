"""Memory awareness: sizing, adjustment, monitoring and the limits that raise.

Every branch is driven by an injected probe (a callable returning memory
readings); no psutil internals are mocked.  One test checks the real probe.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dpa
from dpa.batch import (
    BatchConfig,
    BatchProcessor,
    BatchStrategy,
    InvalidBatchConfigError,
    MemoryAwareBatcher,
    MemoryLimitExceededError,
    MemorySnapshot,
    memory_monitor,
    system_probe,
)

S = BatchStrategy
MIB = 2**20


class ScriptedProbe:
    """Returns the readings it is given, one per call, repeating the last."""

    def __init__(self, *readings) -> None:
        self.readings = list(readings)
        self.calls = 0

    def __call__(self):
        r = self.readings[min(self.calls, len(self.readings) - 1)]
        self.calls += 1
        return r

    def set(self, **reading) -> None:
        self.readings = [reading]
        self.calls = 0


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def reading(pct=40.0, avail=8000.0, rss=100.0):
    return {"percent_used": pct, "available_mb": avail, "rss_mb": rss}


# ---- the real probe -----------------------------------------------------------


def test_system_probe_reads_this_process():
    snap = system_probe()
    assert isinstance(snap, MemorySnapshot)
    assert 1 < snap.rss_mb < snap.total_mb
    assert 0 < snap.available_mb <= snap.total_mb
    assert 0 <= snap.percent_used <= 100
    big = np.ones(64 * MIB // 8)  # 64 MiB, touched
    assert system_probe().rss_mb > snap.rss_mb + 32
    del big
    d = MemoryAwareBatcher().monitor_memory_usage()
    assert set(d) == {"rss_mb", "available_mb", "used_mb", "total_mb", "percent_used"}


def test_snapshot_coercion():
    s = MemorySnapshot.coerce({"percent_used": 75, "available_mb": 250})
    assert (s.total_mb, s.used_mb, s.rss_mb) == (1000, 750, 0)
    with pytest.raises(ValueError, match="lacks 'available_mb'"):
        MemorySnapshot.coerce({"percent_used": 3})
    with pytest.raises(TypeError, match="should return a MemorySnapshot or a mapping"):
        MemorySnapshot.coerce(42)


# ---- calculate_optimal_batch_size ---------------------------------------------


def test_optimal_batch_size_budget_and_available():
    b = MemoryAwareBatcher(max_memory_mb=100, min_batch_size=4)
    # The budget binds: 100 MiB of 1 KiB samples.
    assert b.calculate_optimal_batch_size(1024, reading(avail=10_000)) == 100 * 1024
    # The available memory (less the 10% margin) binds: 90 MiB.
    assert b.calculate_optimal_batch_size(1024, reading(avail=100)) == 90 * 1024
    # Never below the minimum.
    assert b.calculate_optimal_batch_size(1024, reading(avail=0)) == 4
    assert b.calculate_optimal_batch_size(10**12, reading()) == 4
    # The default sample size is a dpa record (48 bytes).
    assert b.calculate_optimal_batch_size(memory_usage=reading()) == 100 * MIB // 48
    # ... and max_batch_size caps it.
    c = MemoryAwareBatcher(max_memory_mb=100, max_batch_size=1000)
    assert c.calculate_optimal_batch_size(1, reading()) == 1000
    with pytest.raises(InvalidBatchConfigError, match="sample_size_bytes=0"):
        b.calculate_optimal_batch_size(0)


@given(budget=st.floats(0.01, 4096), avail=st.floats(0, 10**6), size=st.integers(1, 10**7),
       lo=st.integers(1, 100), margin=st.floats(0, 0.99))
def test_optimal_batch_size_fits(budget, avail, size, lo, margin):
    b = MemoryAwareBatcher(max_memory_mb=budget, min_batch_size=lo, safety_margin=margin)
    n = b.calculate_optimal_batch_size(size, reading(avail=avail))
    assert n >= lo
    if n > lo:
        assert n * size <= min(budget, avail * (1 - margin)) * MIB
        assert (n + 1) * size > min(budget, avail * (1 - margin)) * MIB


def test_optimal_batch_size_reads_the_probe():
    probe = ScriptedProbe(reading(avail=10), reading(avail=1000))
    b = MemoryAwareBatcher(max_memory_mb=500, probe=probe, sample_size_bytes=MIB)
    assert b.calculate_optimal_batch_size() == 9
    assert b.calculate_optimal_batch_size() == 500


# ---- adjust_batch_size: the guide's scenarios ---------------------------------


GUIDE_SCENARIOS = [
    {"percent_used": 30, "available_mb": 350},  # Low usage
    {"percent_used": 60, "available_mb": 200},  # Medium usage
    {"percent_used": 85, "available_mb": 75},   # High usage
    {"percent_used": 95, "available_mb": 25},   # Critical usage
]


def test_adjust_follows_the_guide():
    b = MemoryAwareBatcher(max_memory_mb=500, min_batch_size=2)
    size, sizes = 20, []
    for scenario in GUIDE_SCENARIOS:
        size = b.adjust_batch_size(size, scenario)
        sizes.append(size)
    assert sizes == [24, 24, 19, 9]  # grow gently, hold, shrink, halve


def test_adjust_respects_minimum_and_what_fits():
    b = MemoryAwareBatcher(max_memory_mb=500, min_batch_size=8)
    size = 100
    for _ in range(20):
        size = b.adjust_batch_size(size, GUIDE_SCENARIOS[3])
    assert size == 8
    # Growth stops at what fits: 1 MiB samples, 9 MiB available less 10%.
    c = MemoryAwareBatcher(max_memory_mb=500, sample_size_bytes=MIB)
    assert c.adjust_batch_size(100, reading(pct=10, avail=10)) == 9
    # And at max_batch_size.
    d = MemoryAwareBatcher(max_batch_size=30)
    assert d.adjust_batch_size(29, reading(pct=10)) == 30
    assert d.adjust_batch_size(30, reading(pct=10)) == 30
    # Small sizes still grow.
    assert MemoryAwareBatcher().adjust_batch_size(1, reading(pct=10)) == 2


def test_adjust_depends_on_the_machine_not_on_rss():
    b = MemoryAwareBatcher(max_memory_mb=1000)
    assert b.adjust_batch_size(100, reading(pct=60, rss=5000)) == 100


@given(size=st.integers(1, 10**6), pct=st.floats(0, 100), avail=st.floats(0, 10**5),
       lo=st.integers(1, 50))
def test_adjust_direction(size, pct, avail, lo):
    b = MemoryAwareBatcher(max_memory_mb=10**6, min_batch_size=lo)
    new = b.adjust_batch_size(size, {"percent_used": pct, "available_mb": avail})
    assert new >= lo
    if pct > 80:
        assert new <= max(size, lo)
    if new > max(size, lo):
        assert pct < 50


def test_batcher_validation():
    with pytest.raises(InvalidBatchConfigError, match="max_memory_mb=0"):
        MemoryAwareBatcher(max_memory_mb=0)
    with pytest.raises(InvalidBatchConfigError, match="min_batch_size=0"):
        MemoryAwareBatcher(min_batch_size=0)
    with pytest.raises(InvalidBatchConfigError, match="min_batch_size should be at most"):
        MemoryAwareBatcher(min_batch_size=5, max_batch_size=4)
    with pytest.raises(InvalidBatchConfigError, match="safety_margin"):
        MemoryAwareBatcher(safety_margin=1.0)
    with pytest.raises(InvalidBatchConfigError, match="current_size=0"):
        MemoryAwareBatcher().adjust_batch_size(0, reading())


# ---- memory_monitor -----------------------------------------------------------


def test_memory_monitor_usage_and_peak():
    probe = ScriptedProbe(reading(rss=100), reading(rss=300), reading(rss=250), reading(rss=200))
    with memory_monitor(max_memory_mb=1000, probe=probe) as m:   # reads 100
        assert m.get_usage_percent() == 30.0                       # reads 300
        assert m.get_usage_mb() == 250                             # reads 250
    assert m.get_peak_usage_mb() == 300                            # exit read 200
    assert m.get_peak_usage_mb() == 300 and probe.calls == 4       # closed: no more reads


def test_memory_monitor_raises_on_exit_when_peak_exceeded():
    probe = ScriptedProbe(reading(rss=100), reading(rss=1200), reading(rss=100))
    with pytest.raises(MemoryLimitExceededError, match=r"peak process RSS 1200.0 MB exceeded "
                                                       r"max_memory_mb=1000"):
        with memory_monitor(max_memory_mb=1000, probe=probe) as m:
            m.get_usage_percent()


def test_memory_monitor_does_not_mask_errors():
    probe = ScriptedProbe(reading(rss=5000))
    with pytest.raises(KeyError):
        with memory_monitor(max_memory_mb=1000, probe=probe):
            raise KeyError("mine")


def test_memory_monitor_check():
    probe = ScriptedProbe(reading(rss=100), reading(rss=999), reading(rss=1001), reading(rss=10))
    with pytest.raises(MemoryLimitExceededError, match="peak process RSS 1001.0 MB"):
        with memory_monitor(max_memory_mb=1000, probe=probe) as m:
            m.check()
            with pytest.raises(MemoryLimitExceededError, match="process RSS 1001.0 MB exceeds"):
                m.check()


def test_memory_monitor_background_sampling():
    import threading

    seen = threading.Event()
    calls = []

    def probe():
        calls.append(1)
        if len(calls) >= 4:
            seen.set()
        return reading(rss=len(calls))

    with memory_monitor(max_memory_mb=1000, probe=probe, interval=0.001):
        assert seen.wait(5)
    assert len(calls) >= 5  # start, >= 3 by the thread, exit


def test_memory_monitor_real_probe():
    with memory_monitor(max_memory_mb=10**6) as m:
        x = np.ones(16 * MIB // 8)
        assert m.get_usage_percent() > 0
        del x
    assert m.get_peak_usage_mb() > 16


# ---- MEMORY_OPTIMIZED -----------------------------------------------------------


def test_memory_optimized_sizes_from_budget_and_reevaluates():
    probe = ScriptedProbe(reading(pct=60, avail=8000))
    clock = Clock()
    cfg = BatchConfig(strategy=S.MEMORY_OPTIMIZED, max_memory_mb=1, min_batch_size=4,
                      sample_size_bytes=8192, probe_interval=1.0)
    p = BatchProcessor(S.MEMORY_OPTIMIZED, cfg, probe=probe, clock=clock)
    sizes = []
    for k, b in enumerate(p.process_stream(np.zeros(10_000, dpa.PARAM_DTYPE))):
        sizes.append(len(b))
        clock.t += 0.5  # a probe before every other batch
        if k == 1:
            probe.set(**reading(pct=85, avail=8000))   # pressure: shrink by 0.8
        if k == 5:
            probe.set(**reading(pct=95, avail=8000))   # critical: halve, down to the minimum
        if k == 15:
            probe.set(**reading(pct=30, avail=8000))   # plenty: grow gently, up to the budget
    # 1 MiB budget / 8 KiB per sample = 128; one probe every two batches.
    assert sizes[:16] == [128, 128, 102, 102, 81, 81, 40, 40, 20, 20, 10, 10, 5, 5, 4, 4]
    grow = sizes[16:]
    assert grow[:8] == [5, 5, 6, 6, 7, 7, 8, 8]
    assert all(b >= a for a, b in zip(grow, grow[1:-1]))
    assert max(grow) == 128 and grow.count(128) > 10
    assert p.get_metrics().total_samples == 10_000


def test_memory_optimized_shrinks_near_the_rss_budget_when_monitored():
    probe = ScriptedProbe(reading(pct=60, rss=100))
    cfg = BatchConfig(strategy=S.MEMORY_OPTIMIZED, max_memory_mb=1000, batch_size=100,
                      probe_interval=0)
    p = BatchProcessor(S.MEMORY_OPTIMIZED, cfg, probe=probe)
    sizes = []
    for b in p.process_with_memory_monitoring(np.zeros(2000)):
        sizes.append(len(b))
        if len(sizes) == 2:
            probe.set(**reading(pct=60, rss=950))  # above 90% of the budget
    assert sizes[:6] == [100, 100, 80, 64, 51, 40]
    # Unmonitored, RSS does not matter.
    p = BatchProcessor(S.MEMORY_OPTIMIZED, cfg, probe=ScriptedProbe(reading(pct=60, rss=950)))
    assert {len(b) for b in p.process_stream(np.zeros(1000))} == {100}


def test_memory_optimized_starting_size_must_fit():
    cfg = BatchConfig(strategy=S.MEMORY_OPTIMIZED, batch_size=1000, max_memory_mb=1,
                      sample_size_bytes=8192, adaptive_sizing=False)
    p = BatchProcessor(S.MEMORY_OPTIMIZED, cfg, probe=ScriptedProbe(reading()))
    assert {len(b) for b in p.process_stream(np.zeros(1280))} == {128}


def test_memory_optimized_without_adaptive_sizing_is_fixed():
    probe = ScriptedProbe(reading(pct=60))
    cfg = BatchConfig(strategy=S.MEMORY_OPTIMIZED, max_memory_mb=0.5, adaptive_sizing=False,
                      probe_interval=0)
    p = BatchProcessor(S.MEMORY_OPTIMIZED, cfg, probe=probe)
    it = p.process_stream(np.zeros(40_000, dpa.PARAM_DTYPE))
    probe.set(**reading(pct=95))
    sizes = [len(b) for b in it]
    assert sizes == [10922, 10922, 10922, 7234]  # 0.5 MiB / 48 bytes


def test_memory_optimized_guide_config_default_size():
    # 500 MB of 48-byte records: the whole 1000-sample stream fits in one batch.
    cfg = BatchConfig(strategy=S.MEMORY_OPTIMIZED, max_memory_mb=500, min_batch_size=5)
    p = BatchProcessor(S.MEMORY_OPTIMIZED, cfg, probe=ScriptedProbe(reading()))
    assert [len(b) for b in p.process_stream(dpa.stream_augmentation_chain(1000))] == [1000]


# ---- process_with_memory_monitoring ---------------------------------------------


@pytest.mark.parametrize("strategy", list(S))
def test_monitoring_raises_when_rss_exceeds_budget(strategy):
    probe = ScriptedProbe(reading(rss=100))
    clock = Clock()
    cfg = BatchConfig(strategy=strategy, batch_size=4, max_memory_mb=500, probe_interval=1.0)
    p = BatchProcessor(strategy, cfg, probe=probe, clock=clock)
    got = []
    with pytest.raises(MemoryLimitExceededError,
                       match=r"process RSS 600.0 MB exceeds max_memory_mb=500"):
        for b in p.process_with_memory_monitoring(np.arange(100)):
            got.append(b.copy())
            clock.t += 0.4
            if len(got) == 2:
                probe.set(**reading(rss=600))
    # Batches 3 (read at t=0.8 < 1.0) was still made; the next reading raised.
    assert len(got) == 3


def test_monitoring_raises_when_machine_is_nearly_full():
    probe = ScriptedProbe(reading(pct=96, avail=300))
    p = BatchProcessor(S.SEQUENTIAL, BatchConfig(strategy=S.SEQUENTIAL), probe=probe)
    it = p.process_with_memory_monitoring(dpa.stream_augmentation_chain(10))
    with pytest.raises(MemoryLimitExceededError, match=r"machine memory 96.0% used"):
        next(it)


def test_monitoring_stops_before_making_the_batch():
    stream = dpa.stream_augmentation_chain(100)
    probe = ScriptedProbe(reading(rss=100), reading(rss=2000))
    cfg = BatchConfig(strategy=S.SEQUENTIAL, batch_size=10, max_memory_mb=1000, probe_interval=0)
    p = BatchProcessor(S.SEQUENTIAL, cfg, probe=probe)
    it = p.process_with_memory_monitoring(stream)
    with pytest.raises(MemoryLimitExceededError):
        next(it)
    assert stream.position == 0  # nothing was made, nothing consumed


def test_process_stream_never_raises_for_memory():
    probe = ScriptedProbe(reading(pct=99, rss=10**6))
    p = BatchProcessor(S.SEQUENTIAL, BatchConfig(strategy=S.SEQUENTIAL, batch_size=3),
                       probe=probe)
    assert len(list(p.process_stream(range(10)))) == 4


def test_adaptive_ceiling_follows_memory():
    probe = ScriptedProbe(reading(pct=40, rss=0))
    clock = Clock()
    cfg = BatchConfig(strategy=S.ADAPTIVE, batch_size=64, max_memory_mb=0.01,
                      sample_size_bytes=100, probe_interval=0)
    p = BatchProcessor(S.ADAPTIVE, cfg, probe=probe, clock=clock)
    sizes = []
    for b in p.process_stream(np.arange(20_000)):
        sizes.append(len(b))
        clock.t += 1e-3  # per-batch overhead only: bigger is better
        if len(sizes) == 30:
            probe.set(**reading(pct=85))
    ceiling = int(0.01 * MIB // 100)  # 104
    assert max(sizes) == ceiling
    assert sizes[29] == ceiling
    assert max(sizes[30:]) < ceiling  # shrunk under pressure
