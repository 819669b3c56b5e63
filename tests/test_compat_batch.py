"""dpa.compat.batch against DPA 0.2.1's known answers.

Batch sizes of the four strategies over 150 items, under the fixed memory
readings DPA was run with (``MemoryInfo.current`` mocked), with and without
memory monitoring; DPA's sizing rules on a grid; batches of a dpa stream
(made from record arrays) equal DPA's dicts.
"""

from __future__ import annotations

import json
from unittest import mock

import pytest

import dpa
from conftest import vectors_dir
from dpa.compat import batch as B
from dpa.compat import dpa as C

KAT = json.loads((vectors_dir() / "dpa-0.2.1-compat.json").read_text())["batches"]

#: The memory readings DPA ran under: (available_mb, used_mb, total_mb, percent_used).
READINGS = {name: [B.MemoryInfo(*m) for m in seq] for name, seq in KAT["readings"].items()}


def _readings(seq):
    """The readings in turn, then the last one again (as the vectors were made)."""
    it, last = iter(seq), [seq[-1]]

    def current():
        last[0] = next(it, last[0])
        return last[0]
    return current


def _case(key):
    strategy, bs, mem = key.split("/")
    cfg = B.BatchConfig(B.BatchStrategy(strategy), None if bs == "None" else int(bs),
                        max_memory_mb=1000, min_batch_size=2)
    return cfg, READINGS[mem]


def _items(n):
    return [{"sample_id": i} for i in range(n)]


@pytest.mark.parametrize("key", sorted(KAT["sizes"]))
def test_batch_sizes_are_dpas(key):
    cfg, seq = _case(key)
    with mock.patch("dpa.compat.batch.MemoryInfo.current", side_effect=_readings(seq)):
        p = B.BatchProcessor(cfg.strategy, cfg)
        batches = list(p.process_stream(iter(_items(150))))
    assert [len(b) for b in batches] == KAT["sizes"][key]
    assert [x for b in batches for x in b] == _items(150)


@pytest.mark.parametrize("key", sorted(KAT["monitored"]))
def test_monitored_batches_are_dpas(key):
    cfg, seq = _case(key)
    want = KAT["monitored"][key]
    got, error = [], None
    with mock.patch("dpa.compat.batch.MemoryInfo.current", side_effect=_readings(seq)):
        p = B.BatchProcessor(cfg.strategy, cfg)
        try:
            for b in p.process_with_memory_monitoring(iter(_items(150))):
                got.append(len(b))
        except B.MemoryLimitExceededError as exc:
            error = ["MemoryLimitExceededError", str(exc)]
    assert got == want["sizes"] and error == want["error"]
    assert p._current_batch_size == want["current_batch_size"]


def test_sizing_rules_are_dpas():
    batcher = B.MemoryAwareBatcher(max_memory_mb=1000, min_batch_size=3, adjustment_factor=0.7)
    for size, pct, avail, want in KAT["adjust"]:
        assert batcher.adjust_batch_size(size, {"percent_used": pct, "available_mb": avail}) == want
    for avail, sample, want in KAT["optimal"]:
        with mock.patch("dpa.compat.batch.MemoryInfo.current",
                        return_value=B.MemoryInfo(avail, 100, avail + 100, 10.0)):
            assert batcher.calculate_optimal_batch_size(sample) == want


@pytest.mark.parametrize("strategy", [B.BatchStrategy.SEQUENTIAL, B.BatchStrategy.ROUND_ROBIN])
@pytest.mark.parametrize("bs", [1, 7, 32, 500])
def test_stream_batches_from_arrays_equal_dpas_dicts(strategy, bs):
    """Over a dpa stream the batches are made from record arrays; they are the
    lists DPA makes from its generator's dicts."""
    mild = dpa.get_preset("mild")
    p = B.BatchProcessor(strategy, B.BatchConfig(strategy, bs))
    batches = list(p.process_stream(C.stream_augmentation_chain(1100, mild, start_id=50)))
    want = C.generate_augmentation_chain(1150, mild)[50:]
    assert [len(b) for b in batches] == [min(bs, 1100 - a) for a in range(0, 1100, bs)]
    assert [d for b in batches for d in b] == want
    if bs == 7:
        rr = KAT["round_robin_stream"]
        s = C.stream_augmentation_chain(30, mild, start_id=50)
        got = list(B.BatchProcessor(strategy, B.BatchConfig(strategy, 7)).process_stream(s))
        assert [len(b) for b in got] == rr["sizes"] and got[2][0] == rr["batch_2_first"]


def test_unknown_strategy_raises_when_batches_are_asked_for():
    cfg = B.BatchConfig(B.BatchStrategy.SEQUENTIAL, 5)
    p = B.BatchProcessor(B.BatchStrategy.SEQUENTIAL, cfg)
    p.strategy = "unknown"  # accepted here, as in DPA
    with pytest.raises(B.BatchProcessingError, match="Unknown batch strategy: unknown"):
        list(p.process_stream(iter(_items(3))))


def test_batch_config_rejects_wrong_types():
    with pytest.raises(TypeError):
        B.BatchConfig(B.BatchStrategy.SEQUENTIAL, 2.5)
    with pytest.raises(B.InvalidBatchConfigError):
        B.BatchConfig(B.BatchStrategy.SEQUENTIAL, True)


def test_memory_monitor_uses_the_machine_as_dpa():
    seq = [B.MemoryInfo(1000, 400, 2048, 20.0), B.MemoryInfo(500, 600, 2048, 30.0)]
    with mock.patch("dpa.compat.batch.get_memory_usage", side_effect=seq):
        with pytest.raises(B.MemoryLimitExceededError, match=r"Memory usage \(600MB\)"):
            with B.memory_monitor(max_memory_mb=500):
                pass


@pytest.mark.parametrize("make", [
    lambda: C.stream_augmentation_chain(100, chunk_size=None),
    lambda: dpa.stream_augmentation_chain(100),
    lambda: dpa.compat.distributed.stream_distributed_augmentation_chain(100, 0, 2),
], ids=["compat", "dpa", "compat-rank"])
def test_dicts_after_a_batch_continue_where_the_batch_ended(make):
    """A stream iterated as dicts, then batched, then iterated again: the dicts
    are those of the positions after the batch (a compat stream once handed out
    the dicts it had made ahead before the batch, silently wrong)."""
    import dpa.compat.distributed  # noqa: F401
    from dpa.records import records_to_dicts

    s = make()
    first = next(s)
    seq = dpa.BatchStrategy.SEQUENTIAL
    processor = dpa.BatchProcessor(seq, dpa.BatchConfig(strategy=seq, batch_size=4))
    batch = next(iter(processor.process_stream(s)))
    after = next(s)
    ids = list(s.ids)
    assert batch["sample_id"].tolist() == ids[1:5]
    want = records_to_dicts(s.generate(ids[5:6], hash=s.param_seeding.has_hash))[0]
    assert {k: after[k] for k in want} == want
    assert first != after
