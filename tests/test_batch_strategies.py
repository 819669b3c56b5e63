"""Batch strategies over every kind of input: dpa streams, arrays, memmaps, iterables.

The batches must hold exactly the samples the strategy's semantics name, with
exactly the records ``dpa.generate`` gives for them, and the fast paths must
be fast paths (views share memory, generated batches are fresh arrays unless
buffer reuse is asked for).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpa
from dpa.batch import (
    DEFAULT_WINDOW,
    BatchConfig,
    BatchProcessor,
    BatchStrategy,
)
from dpa.distributed import stream_distributed_augmentation_chain

S = BatchStrategy
CONFIG = dpa.get_preset("mild")


def processor(strategy: BatchStrategy, **kw) -> BatchProcessor:
    return BatchProcessor(strategy, BatchConfig(strategy=strategy, **kw))


def fake_probe():
    return {"percent_used": 40.0, "available_mb": 16000.0, "rss_mb": 100.0}


def ids_of(batches) -> list[list[int]]:
    return [b["sample_id"].tolist() for b in batches]


# ---- the guide's examples, exactly --------------------------------------------


def test_sequential_guide_example():
    p = processor(S.SEQUENTIAL, batch_size=8)
    assert ids_of(p.process_stream(dpa.stream_augmentation_chain(10))) == [
        list(range(8)), [8, 9]]


def test_round_robin_guide_example():
    p = processor(S.ROUND_ROBIN, batch_size=4)
    assert ids_of(p.process_stream(dpa.stream_augmentation_chain(8))) == [
        [0, 4], [1, 5], [2, 6], [3, 7]]


def test_troubleshooting_sizes():
    seq = processor(S.SEQUENTIAL, batch_size=30)
    assert [len(b) for b in seq.process_stream(dpa.stream_augmentation_chain(100))] == [
        30, 30, 30, 10]
    rr = processor(S.ROUND_ROBIN, batch_size=4)
    assert [len(b) for b in rr.process_stream(dpa.stream_augmentation_chain(100))] == [25] * 4


# ---- dpa streams ---------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 300), start=st.integers(0, 10**12), bs=st.integers(1, 70),
       with_hash=st.booleans())
def test_sequential_stream_matches_generate(n, start, bs, with_hash):
    stream = dpa.stream_augmentation_chain(n, CONFIG, start_id=start)
    it = processor(S.SEQUENTIAL, batch_size=bs).process_stream(stream, hash=with_hash)
    assert len(it) == -(-n // bs)
    batches = list(it)
    assert [len(b) for b in batches] == [min(bs, n - a) for a in range(0, n, bs)]
    whole = dpa.generate(range(start, start + n), CONFIG, hash=with_hash)
    got = np.concatenate(batches) if batches else whole[:0]
    assert got.dtype == dpa.record_dtype(with_hash)
    assert got.tobytes() == whole.tobytes()
    assert stream.position == n


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 300), start=st.integers(0, 10**6), k=st.integers(1, 40))
def test_round_robin_stream_deals_the_whole_stream(n, start, k):
    stream = dpa.stream_augmentation_chain(n, CONFIG, start_id=start)
    it = processor(S.ROUND_ROBIN, batch_size=k).process_stream(stream)
    assert len(it) == min(k, n)
    batches = list(it)
    assert len(batches) == min(k, n)
    ids = range(start, start + n)
    for j, b in enumerate(batches):
        assert b["sample_id"].tolist() == list(ids[j::k])
        assert b.tobytes() == dpa.generate(ids[j::k], CONFIG).tobytes()
        assert b.flags.c_contiguous
    sizes = [len(b) for b in batches]
    assert not sizes or max(sizes) - min(sizes) <= 1
    assert sum(sizes) == n
    assert stream.position == n


def test_stream_batches_stay_valid_and_are_fresh_arrays():
    p = processor(S.SEQUENTIAL, batch_size=16)
    batches = list(p.process_stream(dpa.stream_augmentation_chain(64, CONFIG)))
    for a, b in itertools.combinations(batches, 2):
        assert not np.shares_memory(a, b)
    assert np.concatenate(batches).tobytes() == dpa.generate(range(64), CONFIG).tobytes()


@pytest.mark.parametrize("strategy, kw", [
    (S.SEQUENTIAL, {"batch_size": 16}),
    (S.ROUND_ROBIN, {"batch_size": 4}),
    (S.MEMORY_OPTIMIZED, {"batch_size": 16}),
])
def test_reuse_buffers_opt_in(strategy, kw):
    p = BatchProcessor(strategy, BatchConfig(strategy=strategy, reuse_buffers=True, **kw),
                       probe=fake_probe)
    seen = []
    first = None
    for b in p.process_stream(dpa.stream_augmentation_chain(64, CONFIG)):
        seen.append(b.copy())
        if first is None:
            first = b
        else:
            assert np.shares_memory(first, b)
    assert np.concatenate(seen).tobytes() == np.concatenate(
        [dpa.generate(b["sample_id"], CONFIG) for b in seen]).tobytes()
    # The first batch was overwritten by later ones.
    assert first.tobytes() != seen[0].tobytes()


def test_stream_position_advances_batch_by_batch():
    stream = dpa.stream_augmentation_chain(100, CONFIG, start_id=1000)
    p = processor(S.SEQUENTIAL, batch_size=10)
    for k, _ in enumerate(p.process_stream(stream), 1):
        assert stream.position == 10 * k
        if k == 3:
            break
    # A second consumer continues where the first stopped, like DPA's generator.
    nxt = next(iter(p.process_stream(stream)))
    assert nxt["sample_id"].tolist() == list(range(1030, 1040))
    # ... and so does plain iteration of the stream.
    d = next(stream)
    assert d == dpa.gen_augmentation_params(1040, CONFIG)
    assert stream.position == 41


def test_consumers_share_the_stream_cursor():
    """Two batch iterators and plain iteration take turns on one stream, as on a generator."""
    stream = dpa.stream_augmentation_chain(40, CONFIG)
    a = iter(processor(S.SEQUENTIAL, batch_size=5).process_stream(stream))
    b = iter(processor(S.SEQUENTIAL, batch_size=3).process_stream(stream))
    got = [next(a)["sample_id"].tolist(), next(b)["sample_id"].tolist(),
           next(stream)["rotation"], next(a)["sample_id"].tolist()]
    assert got[:2] == [[0, 1, 2, 3, 4], [5, 6, 7]]
    assert got[2] == dpa.gen_augmentation_params(8, CONFIG)["rotation"]
    assert got[3] == [9, 10, 11, 12, 13]
    assert stream.position == 14
    rest = np.concatenate(list(b))["sample_id"].tolist()
    assert rest == list(range(14, 40))
    assert list(a) == []


def test_partially_iterated_stream_starts_at_position():
    stream = dpa.stream_augmentation_chain(20, CONFIG)
    for _ in range(3):
        next(stream)
    batches = list(processor(S.SEQUENTIAL, batch_size=8).process_stream(stream))
    assert np.concatenate(batches)["sample_id"].tolist() == list(range(3, 20))
    assert list(stream) == []


def test_round_robin_claims_the_stream():
    stream = dpa.stream_augmentation_chain(10, CONFIG)
    it = iter(processor(S.ROUND_ROBIN, batch_size=3).process_stream(stream))
    next(it)
    assert stream.position == 10
    assert list(stream) == []


@pytest.mark.parametrize("kw", [
    {},
    {"seeding": "sample", "split": "strided", "shuffle": True, "epoch": 2},
])
@pytest.mark.parametrize("strategy", [S.SEQUENTIAL, S.ROUND_ROBIN])
def test_distributed_stream(kw, strategy):
    def make():
        return stream_distributed_augmentation_chain(103, 1, 4, CONFIG, **kw)

    ref = make()
    ids = ref.claim()
    batches = list(processor(strategy, batch_size=5).process_stream(make()))
    if strategy is S.SEQUENTIAL:
        parts = [ids[a:a + 5] for a in range(0, len(ids), 5)]
    else:
        parts = [ids[j::5] for j in range(5)]
    assert len(batches) == len(parts)
    for b, part in zip(batches, parts):
        assert b.tobytes() == ref.generate(part).tobytes()


def test_philox_stream():
    stream = dpa.stream_augmentation_chain(50, CONFIG, scheme="philox", base_seed=7)
    batches = list(processor(S.SEQUENTIAL, batch_size=20).process_stream(stream))
    assert np.concatenate(batches).tobytes() == dpa.generate(
        range(50), CONFIG, scheme="philox", base_seed=7).tobytes()


@pytest.mark.parametrize("strategy", list(S))
@pytest.mark.parametrize("batch_size,reuse", [(7, False), (20_000, True), (65_536, False)])
def test_philox_any_strategy_same_parameters(strategy, batch_size, reuse):
    """Every strategy, batch size and buffer mode gives each id generate()'s record
    (large batches are split across the worker threads)."""
    n = 150_001
    ref = dpa.generate(range(10, 10 + n), CONFIG, scheme="philox", base_seed=11, epoch=5,
                       threads=1)
    stream = dpa.stream_augmentation_chain(n, CONFIG, start_id=10, scheme="philox",
                                           base_seed=11, epoch=5)
    kw = dict(batch_size=batch_size, reuse_buffers=reuse)
    if strategy is S.ROUND_ROBIN:
        kw = dict(batch_size=min(batch_size, 64), reuse_buffers=reuse)  # batch count
    p = BatchProcessor(strategy, BatchConfig(strategy=strategy, **kw), probe=fake_probe)
    got = np.concatenate([b.copy() for b in p.process_stream(stream)])
    assert len(got) == n
    got = got[np.argsort(got["sample_id"], kind="stable")]
    assert got.tobytes() == ref.tobytes()


def test_hash_needs_dpa_scheme():
    stream = dpa.stream_augmentation_chain(5, scheme="philox")
    with pytest.raises(ValueError, match="hash=True needs a stream of scheme='dpa'"):
        processor(S.SEQUENTIAL).process_stream(stream, hash=True)


def test_empty_stream():
    for strategy in S:
        p = BatchProcessor(strategy, BatchConfig(strategy=strategy), probe=fake_probe)
        assert list(p.process_stream(dpa.stream_augmentation_chain(0))) == []
        assert list(p.process_stream(np.empty(0, dpa.PARAM_DTYPE))) == []
        assert list(p.process_stream([])) == []


# ---- arrays and memmaps -------------------------------------------------------


@pytest.fixture(scope="module")
def records():
    return dpa.generate(range(500), CONFIG, hash=True)


@pytest.fixture
def memmap_of(tmp_path, records):
    path = tmp_path / "params.npy"
    np.save(path, records)
    arr = np.load(path, mmap_mode="r")
    assert isinstance(arr, np.memmap) and not arr.flags.writeable
    return arr


def test_sequential_array_batches_are_views(memmap_of):
    p = processor(S.SEQUENTIAL, batch_size=64)
    it = p.process_stream(memmap_of)
    assert len(it) == 8
    for k, b in enumerate(it):
        assert np.shares_memory(b, memmap_of)
        assert b.tobytes() == memmap_of[64 * k:64 * (k + 1)].tobytes()


def test_round_robin_memmap_is_gathered(memmap_of):
    p = processor(S.ROUND_ROBIN, batch_size=7)
    batches = list(p.process_stream(memmap_of))
    assert len(batches) == 7
    for j, b in enumerate(batches):
        assert b.flags.c_contiguous and b.flags.writeable
        assert not np.shares_memory(b, memmap_of)
        assert b.tobytes() == memmap_of[j::7].tobytes()


_DTYPES = [dpa.PARAM_DTYPE, dpa.PARAM_HASH_DTYPE, np.dtype(np.int8), np.dtype("<f4"),
           np.dtype("V333")]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 200), k=st.integers(1, 50), dt=st.sampled_from(_DTYPES),
       cols=st.sampled_from([None, 1, 3]), stride=st.sampled_from([1, 2, -1]),
       reuse=st.booleans())
def test_round_robin_any_array(n, k, dt, cols, stride, reuse):
    shape = (n * abs(stride),) if cols is None else (n * abs(stride), cols)
    raw = np.random.default_rng(n).integers(0, 256, size=shape[0] * (cols or 1) * dt.itemsize,
                                            dtype=np.uint8)
    base = raw.view(dt).reshape(shape)
    arr = base[::stride]
    p = processor(S.ROUND_ROBIN, batch_size=k, reuse_buffers=reuse)
    got = [b.copy() for b in p.process_stream(arr)]
    assert len(got) == min(k, n)
    for j, b in enumerate(got):
        assert b.tobytes() == np.ascontiguousarray(arr[j::k]).tobytes()
        assert b.shape[1:] == arr.shape[1:]


def test_round_robin_rows_not_packed():
    arr = np.arange(60, dtype=np.int64).reshape(10, 6)[:, ::2]  # rows are strided
    batches = list(processor(S.ROUND_ROBIN, batch_size=3).process_stream(arr))
    for j, b in enumerate(batches):
        np.testing.assert_array_equal(b, arr[j::3])
        assert b.flags.c_contiguous


def test_array_input_errors():
    p = processor(S.SEQUENTIAL, batch_size=3)
    with pytest.raises(TypeError, match="0-d"):
        p.process_stream(np.array(5))
    with pytest.raises(TypeError, match="Python objects"):
        p.process_stream(np.array([{}, {}], dtype=object))
    with pytest.raises(TypeError, match="hash=True applies to dpa streams"):
        p.process_stream(np.zeros(3), hash=True)
    for bad in (5, "abc", None, {"a": 1}):
        with pytest.raises(TypeError, match="process_stream needs"):
            p.process_stream(bad)


# ---- other iterables ----------------------------------------------------------


def dpa_like_generator(n: int, start: int = 0):
    """A stand-in for DPA 0.2.1's generator: one dict per sample."""
    for i in range(start, start + n):
        yield dpa.gen_augmentation_params(i, CONFIG)


def test_sequential_dicts_are_lists_of_dicts():
    batches = list(processor(S.SEQUENTIAL, batch_size=4).process_stream(dpa_like_generator(10)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert all(isinstance(b, list) and isinstance(b[0], dict) for b in batches)
    assert [d for b in batches for d in b] == list(dpa_like_generator(10))


def test_sequential_consumes_only_what_it_yields():
    gen = dpa_like_generator(10)
    for b in processor(S.SEQUENTIAL, batch_size=4).process_stream(gen):
        break
    assert next(gen) == dpa.gen_augmentation_params(4, CONFIG)


def test_round_robin_sequence_is_dealt_whole():
    items = list(range(23))
    it = processor(S.ROUND_ROBIN, batch_size=5).process_stream(items)
    assert len(it) == 5
    assert list(it) == [items[j::5] for j in range(5)]


class CountingIterator:
    """An iterator of unknown length that counts the items read from it."""

    def __init__(self, n: int) -> None:
        self.n, self.read = n, 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.read >= self.n:
            raise StopIteration
        self.read += 1
        return self.read - 1


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 200), k=st.integers(1, 12), extra=st.integers(0, 30))
def test_round_robin_windows_bound_memory(n, k, extra):
    window = k + extra
    src = CountingIterator(n)
    p = processor(S.ROUND_ROBIN, batch_size=k, window_size=window)
    it = p.process_stream(src)
    with pytest.raises(TypeError):
        len(it)
    got = []
    for b in it:
        # Never more than the current window has been read.
        w = -(-src.read // window) - 1  # index of the window read last
        assert src.read <= (w + 1) * window
        got.append(b)
    expected = []
    for w0 in range(0, n, window):
        win = list(range(w0, min(w0 + window, n)))
        expected += [win[j::k] for j in range(min(k, len(win)))]
    assert got == expected


def test_round_robin_default_window():
    cfg = BatchConfig(strategy=S.ROUND_ROBIN, batch_size=10)
    assert cfg.effective_window() % 10 == 0 and cfg.effective_window() >= DEFAULT_WINDOW
    cfg = BatchConfig(strategy=S.ROUND_ROBIN, batch_size=10_000)
    assert cfg.effective_window() == 10_000
    src = CountingIterator(3 * DEFAULT_WINDOW)
    p = BatchProcessor(S.ROUND_ROBIN, BatchConfig(strategy=S.ROUND_ROBIN, batch_size=8))
    it = iter(p.process_stream(src))
    first = next(it)
    assert first == list(range(0, DEFAULT_WINDOW, 8))
    assert src.read == DEFAULT_WINDOW


def test_adaptive_and_memory_over_dicts_estimate_item_size():
    p = BatchProcessor(S.MEMORY_OPTIMIZED,
                       BatchConfig(strategy=S.MEMORY_OPTIMIZED, max_memory_mb=0.01),
                       probe=fake_probe)
    batches = list(p.process_stream(dpa_like_generator(100)))
    size = p._memory_batcher.sample_size_bytes
    assert 300 < size < 2000  # a dict of five floats and a 64-character string
    assert len(batches[0]) == int(0.01 * 2**20 // size)
    assert [d for b in batches for d in b] == list(dpa_like_generator(100))


@pytest.mark.parametrize("strategy", list(S))
def test_every_strategy_covers_every_sample_once(strategy):
    p = BatchProcessor(strategy, BatchConfig(strategy=strategy, batch_size=7,
                                             max_batch_size=50), probe=fake_probe)
    stream = dpa.stream_augmentation_chain(500, CONFIG, start_id=3)
    ids = np.concatenate([b["sample_id"] for b in p.process_stream(stream)])
    assert sorted(ids.tolist()) == list(range(3, 503))
    m = p.get_metrics()
    assert m.total_samples == 500
    assert m.total_batches >= 1 and m.memory_usage_mb == 100.0


def test_sequential_batch_size_change_takes_effect():
    p = processor(S.SEQUENTIAL, batch_size=10)
    sizes = []
    for b in p.process_stream(dpa.stream_augmentation_chain(50)):
        sizes.append(len(b))
        p.config.batch_size = 5
    assert sizes == [10] + [5] * 8


def test_philox_batches_are_slices_of_blocks_generated_ahead():
    """Batches come from blocks of at most a quarter of the lookahead (here 4 batches of
    48-byte records): disjoint views, the stream's position still advancing
    batch by batch."""
    from dpa.batch.sources import StreamSource

    stream = dpa.stream_augmentation_chain(1000, CONFIG, scheme="philox", base_seed=3)
    source = StreamSource(stream, lookahead_bytes=4 * 400 * 48)
    batches = []
    while (b := source.take(100)) is not None:
        batches.append(b)
        assert stream.position == 100 * len(batches)
    assert len(batches) == 10
    assert batches[0].base is not None and batches[0].base is batches[3].base
    assert batches[4].base is not batches[3].base  # a new block after 4 batches
    for a, b in itertools.combinations(batches, 2):
        assert not np.shares_memory(a, b)
    assert np.concatenate(batches).tobytes() == dpa.generate(
        range(1000), CONFIG, scheme="philox", base_seed=3).tobytes()


def test_philox_lookahead_follows_the_shared_stream():
    """Whoever else moves the stream's position (plain iteration, another
    processor, a rewind), each batch holds the records at the position."""
    from dpa.batch.sources import StreamSource

    ref = dpa.generate(range(2000), CONFIG, scheme="philox", base_seed=4)
    stream = dpa.stream_augmentation_chain(2000, CONFIG, scheme="philox", base_seed=4)
    source = StreamSource(stream, reuse=True)
    got = source.take(50)
    assert got.tobytes() == ref[0:50].tobytes()
    next(stream)  # plain iteration takes position 50
    got = source.take(50)
    assert got.tobytes() == ref[51:101].tobytes()
    stream.position = 10  # a rewind into the block
    assert source.take(30).tobytes() == ref[10:40].tobytes()
    stream.position = 1500  # a jump past it
    assert source.take(600).tobytes() == ref[1500:2000].tobytes()
    assert source.take(1) is None


def test_memory_optimized_without_lookahead_sizes_by_memory():
    """lookahead_bytes=0 turns generation ahead off; MEMORY_OPTIMIZED still sizes
    its batches by memory (it once capped them at one record, the block of an
    empty lookahead), and the records are bulk's."""
    strategy = BatchStrategy.MEMORY_OPTIMIZED
    config = BatchConfig(strategy=strategy, lookahead_bytes=0)
    batches = list(BatchProcessor(strategy, config).process_stream(
        dpa.stream_augmentation_chain(3000)))
    assert max(len(b) for b in batches) > 1
    assert np.array_equal(np.concatenate(batches), dpa.generate(range(3000)))
