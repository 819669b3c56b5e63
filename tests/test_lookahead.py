"""Generation ahead of the consumer (dpa.lookahead): the records never change.

Every strategy, both schemes, batch sizes, lookahead sizes (default, off,
tiny), buffer reuse and thread counts give exactly the records of one bulk
``generate`` call; a consumer that stops, breaks out or is interrupted finds
its batches untouched afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import dpa
from dpa import _core, _team, engine
from dpa.lookahead import DEFAULT_LOOKAHEAD_BYTES
from dpa.batch import BatchConfig, BatchProcessor, BatchStrategy

S = BatchStrategy
CONFIG = dpa.get_preset("mild")
N = {"dpa": 700, "philox": 5000}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def plenty():
    return {"percent_used": 40.0, "available_mb": 64_000.0, "rss_mb": 100.0}


def run(strategy, scheme, batch, lookahead, reuse, stream=None, n=None):
    n = N[scheme] if n is None else n
    kw = {"batch_size": batch, "lookahead_bytes": lookahead, "reuse_buffers": reuse}
    if strategy is S.MEMORY_OPTIMIZED:
        kw["max_batch_size"] = batch
    if strategy is S.ADAPTIVE:
        kw.update(min_batch_size=1, max_batch_size=4 * batch)
    if stream is None:
        stream = dpa.stream_augmentation_chain(n, CONFIG, start_id=11, scheme=scheme,
                                               base_seed=5 if scheme == "philox" else 0)
    p = BatchProcessor(strategy, BatchConfig(strategy=strategy, **kw), probe=plenty)
    return [b.copy() for b in p.process_stream(stream)], stream


def expected(strategy, stream, batches):
    ids = stream.ids
    if strategy is S.ROUND_ROBIN:
        k = len(batches)
        return [stream.generate(ids[j::k]).tobytes() for j in range(k)]
    return [stream.generate(ids).tobytes()]


@pytest.mark.parametrize("scheme", ["dpa", "philox"])
@pytest.mark.parametrize("strategy,batch", [(S.SEQUENTIAL, 1)] + [
    (strategy, batch) for strategy in S for batch in (7, 64)])
@pytest.mark.parametrize("lookahead,reuse", [(None, False), (0, False), (4800, False),
                                             (None, True), (4800, True)])
def test_batches_equal_bulk(scheme, strategy, batch, lookahead, reuse):
    batches, stream = run(strategy, scheme, batch, lookahead, reuse)
    if strategy is S.ROUND_ROBIN:
        got = [b.tobytes() for b in batches]
    else:
        got = [np.concatenate(batches).tobytes()]
    assert got == expected(strategy, stream, batches)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("strategy", [S.SEQUENTIAL, S.ROUND_ROBIN])
def test_thread_count_does_not_matter(monkeypatch, threads, strategy):
    monkeypatch.setattr(engine, "default_threads", lambda: threads)
    for scheme in ("dpa", "philox"):
        batches, stream = run(strategy, scheme, 32, 9600, False, n=4 * N[scheme])
        got = [b.tobytes() for b in batches] if strategy is S.ROUND_ROBIN else \
            [np.concatenate(batches).tobytes()]
        assert got == expected(strategy, stream, batches)


@pytest.mark.parametrize("strategy", [S.SEQUENTIAL, S.ROUND_ROBIN, S.ADAPTIVE])
def test_distributed_shuffled_streams(strategy):
    """Distributed streams hold their ids as an array (shuffled): same records."""
    stream = dpa.distributed.stream_distributed_augmentation_chain(
        3000, 1, 2, CONFIG, shuffle=True, epoch=3, seeding="sample")
    batches, stream = run(strategy, "dpa", 16, 9600, False, stream=stream)
    got = [b.tobytes() for b in batches] if strategy is S.ROUND_ROBIN else \
        [np.concatenate(batches).tobytes()]
    assert got == expected(strategy, stream, batches)


def test_many_blocks_and_a_straddling_size_change():
    """Batch sizes that change mid-run straddle blocks: still the same records."""
    stream = dpa.stream_augmentation_chain(20_000, CONFIG, scheme="philox")
    p = BatchProcessor(S.SEQUENTIAL, BatchConfig(strategy=S.SEQUENTIAL, batch_size=100,
                                                 lookahead_bytes=3 * 48 * 100))
    got = []
    for k, b in enumerate(p.process_stream(stream)):
        got.append(b.copy())
        p.config.batch_size = 37 + k % 90
    assert np.concatenate(got).tobytes() == dpa.generate(range(20_000), CONFIG,
                                                         scheme="philox").tobytes()


def test_ahead_follows_any_position():
    """Reads anywhere (rewinds, jumps, overlaps) give the records of the positions."""
    from dpa.lookahead import Ahead

    ref = dpa.generate(range(40_000), CONFIG)
    ahead = Ahead(range(40_000), CONFIG, dpa.Seeding(), lookahead_bytes=48 * 2000)
    rng = np.random.default_rng(0)
    pos = 0
    for _ in range(200):
        count = int(rng.integers(1, 700))
        pos = min(pos, 40_000 - count)
        assert ahead.take(pos, count).tobytes() == ref[pos:pos + count].tobytes()
        pos = int(rng.integers(0, 40_000)) if rng.random() < 0.1 else pos + count
    ahead.close()


@pytest.mark.parametrize("strategy", [S.SEQUENTIAL, S.ROUND_ROBIN])
def test_stopping_early_leaves_batches_untouched(strategy):
    """break, close() and an exception in the consumer: what the consumer holds is
    never written afterwards, and the team is free again."""
    n, size = 300_000, 512
    ref = dpa.generate(range(n), CONFIG)
    for how in ("break", "close", "raise"):
        stream = dpa.stream_augmentation_chain(n, CONFIG)
        k = size if strategy is S.SEQUENTIAL else n // size
        p = BatchProcessor(strategy, BatchConfig(strategy=strategy, batch_size=k))
        it = p.process_stream(stream)
        held = []
        try:
            for b in it:
                held.append(b)
                if len(held) == 3:
                    if how == "raise":
                        raise KeyboardInterrupt
                    break
        except KeyboardInterrupt:
            pass
        if how == "close":
            it.close()
        snapshot = [b.tobytes() for b in held]
        time.sleep(0.05)
        assert [b.tobytes() for b in held] == snapshot
        if strategy is S.SEQUENTIAL:
            assert np.concatenate(held).tobytes() == ref[:3 * size].tobytes()
        else:
            assert snapshot == [ref[j::k].tobytes() for j in range(3)]
        del it
    # the team is usable (the abandoned jobs were cancelled and get reaped)
    assert dpa.generate(range(50_000), CONFIG, threads=2).tobytes() == ref[:50_000].tobytes()
    assert _team.team()._owner is None


_FORK_CODE = """
import os, numpy as np, dpa
from dpa.batch import BatchConfig, BatchProcessor, BatchStrategy as S
ref = dpa.generate(range(200_000))
stream = dpa.stream_augmentation_chain(200_000)
it = iter(BatchProcessor(S.SEQUENTIAL, BatchConfig(strategy=S.SEQUENTIAL, batch_size=1000))
          .process_stream(stream))
first = [next(it).copy() for _ in range(5)]  # a block is being generated ahead now
pid = os.fork()
rest = [b.copy() for b in it]
ok = np.concatenate(first + rest).tobytes() == ref.tobytes()
if pid == 0:
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
print(ok, os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_mid_stream():
    """A fork while a block is generated ahead: parent and child both finish the
    stream with the right records."""
    proc = subprocess.run([sys.executable, "-c", _FORK_CODE], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "0"]


def test_lookahead_bytes_is_checked():
    with pytest.raises(dpa.InvalidBatchConfigError, match="lookahead_bytes"):
        BatchConfig(strategy=S.SEQUENTIAL, lookahead_bytes=-1)
    with pytest.raises(dpa.InvalidBatchConfigError, match="lookahead_bytes"):
        BatchConfig(strategy=S.SEQUENTIAL, lookahead_bytes=1.5)


def test_memory_optimized_batches_stay_efficient():
    """MEMORY_OPTIMIZED over a dpa stream never makes a batch larger than a
    lookahead block, however much memory the budget allows."""
    stream = dpa.stream_augmentation_chain(2_000_000, CONFIG, scheme="philox")
    cfg = BatchConfig(strategy=S.MEMORY_OPTIMIZED, max_memory_mb=4000)
    p = BatchProcessor(S.MEMORY_OPTIMIZED, cfg, probe=plenty)
    sizes = [len(b) for b in p.process_stream(stream)]
    block = DEFAULT_LOOKAHEAD_BYTES // (4 * dpa.PARAM_DTYPE.itemsize)
    assert max(sizes) <= block and sum(sizes) == 2_000_000
    # over an array (views, nothing generated) the budget alone decides
    p = BatchProcessor(S.MEMORY_OPTIMIZED, cfg, probe=plenty)
    assert len(next(iter(p.process_stream(np.zeros(2_000_000, dpa.PARAM_DTYPE))))) == 2_000_000


@pytest.mark.parametrize("batches", [1, 2, 3])
def test_round_robin_rows_with_huge_steps(batches):
    """Rows of a range whose step does not fit a row count: ids stay exact."""
    stream = dpa.ParamStream(range(3, 2**63 - 1, 2**61), CONFIG, scheme="philox")
    p = BatchProcessor(S.ROUND_ROBIN, BatchConfig(strategy=S.ROUND_ROBIN, batch_size=batches))
    got = [b.tobytes() for b in p.process_stream(stream)]
    k = min(batches, len(stream.ids))
    assert got == [stream.generate(stream.ids[j::batches]).tobytes() for j in range(k)]


@pytest.mark.parametrize("scheme", ["dpa", "philox"])
def test_blocks_held_by_the_consumer_are_never_recycled(scheme):
    """Without reuse, a block's memory is used again only once no batch of it
    is held (it goes back to the pool of touched pages): a consumer that keeps
    every batch finds them all intact at the end, and one that drops them gets
    blocks in reused memory with the same records."""
    block = -(-_core.POOL_MIN_BYTES // 48)  # records of a block of the pool's smallest size
    n = 4 * block if scheme == "dpa" else 40 * block
    ref = dpa.generate(range(n), CONFIG, scheme=scheme)
    cfg = BatchConfig(strategy=S.SEQUENTIAL, batch_size=block // 64,
                      lookahead_bytes=4 * 48 * block)
    kept = list(BatchProcessor(S.SEQUENTIAL, cfg).process_stream(
        dpa.stream_augmentation_chain(n, CONFIG, scheme=scheme)))
    assert np.concatenate(kept).tobytes() == ref.tobytes()
    got = [b.tobytes() for b in BatchProcessor(S.SEQUENTIAL, cfg).process_stream(
        dpa.stream_augmentation_chain(n, CONFIG, scheme=scheme))]
    assert b"".join(got) == ref.tobytes()
    if scheme == "philox":  # blocks reach full size: their memory comes back from the pool
        addresses = set()
        for b in BatchProcessor(S.SEQUENTIAL, cfg).process_stream(
                dpa.stream_augmentation_chain(n, CONFIG, scheme=scheme)):
            if len(b.base) == block:
                addresses.add(b.base.__array_interface__["data"][0])
        assert 0 < len(addresses) <= 4


def test_closing_the_batch_iterator_waits_for_the_block_ahead():
    """BatchIterator.close() returns once no worker writes for it any more,
    though the generator's own cleanup cancelled the block ahead first."""
    cfg = BatchConfig(strategy=S.SEQUENTIAL, batch_size=4096)
    for _ in range(5):
        it = BatchProcessor(S.SEQUENTIAL, cfg).process_stream(
            dpa.stream_augmentation_chain(20_000_000, CONFIG, scheme="philox"))
        for _ in range(3):
            next(it)
        it.close()
        assert _team.team()._owner is None  # no job of this iterator holds the team
