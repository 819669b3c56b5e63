"""``stream_augmentation_chain``: DPA-compatible iteration and array access."""

from __future__ import annotations

import numpy as np
import pytest

import dpa

MILD = dpa.get_preset("mild")


def test_dicts_equal_scalar_api():
    s = dpa.stream_augmentation_chain(2500, MILD, start_id=7)
    got = list(s)
    assert len(got) == 2500
    for k in (0, 1, 1023, 1024, 2499):
        assert got[k] == dpa.gen_augmentation_params(7 + k, MILD)
    assert s.position == 2500 and s.remaining == 0
    assert list(s) == []


def test_chunks():
    chunks = list(dpa.stream_augmentation_chain(10, MILD, chunk_size=4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    flat = [d for c in chunks for d in c]
    assert flat == list(dpa.stream_augmentation_chain(10, MILD))


def test_next_then_claim_and_arrays():
    s = dpa.stream_augmentation_chain(100, MILD, start_id=50)
    first = next(s)
    assert first == dpa.gen_augmentation_params(50, MILD)
    assert s.ids == range(50, 150) and len(s) == 100
    rest = s.claim()
    assert rest == range(51, 150)
    assert s.remaining == 0
    with pytest.raises(StopIteration):
        next(s)
    arr = s.generate(rest)
    assert arr.dtype == dpa.PARAM_DTYPE
    assert arr.tobytes() == dpa.generate(range(51, 150), MILD).tobytes()


def test_blocks():
    s = dpa.stream_augmentation_chain(1000, MILD)
    blocks = list(s.blocks(300, hash=True))
    assert [len(b) for b in blocks] == [300, 300, 300, 100]
    joined = np.concatenate(blocks)
    assert joined.tobytes() == dpa.generate(range(1000), MILD, hash=True).tobytes()


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"num_samples": -1}, ValueError, "num_samples must be non-negative"),
        ({"num_samples": 1.5}, TypeError, "num_samples should be an integer"),
        ({"num_samples": 3, "start_id": -2}, ValueError, "start_id must be non-negative"),
        ({"num_samples": 3, "start_id": 2**63 - 2}, ValueError, "2\\*\\*63-1"),
        ({"num_samples": 3, "chunk_size": 0}, ValueError, "chunk_size must be positive"),
        ({"num_samples": 3, "config": "mild"}, TypeError, "AugmentationConfig"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        dpa.stream_augmentation_chain(**kwargs)


def test_last_id_allowed():
    (d,) = list(dpa.stream_augmentation_chain(1, MILD, start_id=2**63 - 1))
    assert d == dpa.gen_augmentation_params(2**63 - 1, MILD)


def test_rank_delegation_as_dpa():
    """rank/world_size delegate to the distributed stream, start_id as base seed."""
    s = dpa.stream_augmentation_chain(10, MILD, start_id=5, rank=1, world_size=2)
    want = dpa.stream_distributed_augmentation_chain(10, 1, 2, MILD, base_seed=5)
    assert list(s) == list(want)
    with pytest.raises(ValueError, match="Both rank and world_size"):
        dpa.stream_augmentation_chain(10, MILD, rank=1)


def test_rank_delegation_philox():
    """With philox, a rank's share keeps start_id, base_seed and epoch: the
    records are those of the single-process philox stream."""
    whole = dpa.generate(range(100, 111), MILD, scheme="philox", base_seed=5, epoch=3)
    got = []
    for rank in range(3):
        s = dpa.stream_augmentation_chain(11, MILD, start_id=100, rank=rank, world_size=3,
                                          scheme="philox", base_seed=5, epoch=3)
        assert s.scheme == "philox"
        got.append(s.generate(s.claim()))
    assert np.concatenate(got).tobytes() == whole.tobytes()


@pytest.mark.parametrize("kw", [{"base_seed": 1}, {"epoch": 2}])
def test_rank_delegation_dpa_rejects_seed_and_epoch(kw):
    """DPA's delegation takes its base seed from start_id: a base_seed or epoch would be lost."""
    with pytest.raises(ValueError, match="base_seed and epoch must be 0"):
        dpa.stream_augmentation_chain(10, MILD, rank=0, world_size=2, **kw)


def test_gen_augmentation_params_rank_as_dpa():
    d = dpa.gen_augmentation_params(3, MILD, 0)
    assert d["rank"] == 0
    assert d["hash"] == dpa.generate([3], MILD, hash=True, rank=0)["hash"][0].decode()
    with pytest.raises(ValueError, match="rank"):
        dpa.gen_augmentation_params(3, MILD, 1)


def test_dicts_follow_the_position_array_consumers_move():
    """Dicts generated ahead are for the positions they were made at: after a
    batch consumer (or a rewind) moves the position, iteration gives the dict
    of the new position."""
    s = dpa.stream_augmentation_chain(3000, MILD)
    assert next(s) == dpa.gen_augmentation_params(0, MILD)
    p = dpa.BatchProcessor(dpa.BatchStrategy.SEQUENTIAL,
                           dpa.BatchConfig(strategy=dpa.BatchStrategy.SEQUENTIAL, batch_size=10))
    batch = next(iter(p.process_stream(s)))
    assert batch["sample_id"].tolist() == list(range(1, 11)) and s.position == 11
    assert next(s) == dpa.gen_augmentation_params(11, MILD)
    s.position = 3
    assert next(s) == dpa.gen_augmentation_params(3, MILD)
    assert next(s) == dpa.gen_augmentation_params(4, MILD)
