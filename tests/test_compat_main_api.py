"""The two main-API fixes of issue #13: NumPy integer ids, and a checked strategy."""

from __future__ import annotations

import numpy as np
import pytest

import dpa
from conftest import config_of

INT_TYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


@pytest.mark.parametrize("kind", INT_TYPES)
def test_gen_augmentation_params_takes_numpy_integer_ids(vectors, kind):
    """DPA's streams hand out NumPy ids (an id array's items); DPA hashes str(id),
    which is the same for a NumPy integer, so the dict must be the vector's."""
    cases = [c for c in vectors["cases"] if "rank" not in c
             and c["sample_id"] <= np.iinfo(kind).max]
    assert cases
    for case in cases[:12]:
        got = dpa.gen_augmentation_params(kind(case["sample_id"]), config_of(case))
        assert got == {k: case[k] for k in ("rotation", "brightness", "noise", "scale",
                                            "contrast", "hash")}
        assert dpa.gen_augmentation_seed(kind(case["sample_id"]),
                                         config_of(case).augmentation_depth) == case["hash"]


def test_numpy_id_out_of_range_and_non_integers_are_rejected():
    with pytest.raises(ValueError, match="seed_id must be non-negative"):
        dpa.gen_augmentation_params(np.int64(-1))
    for bad in (np.float64(3.0), np.bool_(True), 3.0, True):
        with pytest.raises(TypeError, match="seed_id should be an integer"):
            dpa.gen_augmentation_params(bad)


def test_batch_processor_checks_its_strategy_whenever_it_is_set():
    cfg = dpa.BatchConfig(dpa.BatchStrategy.SEQUENTIAL, batch_size=4)
    p = dpa.BatchProcessor(dpa.BatchStrategy.SEQUENTIAL, cfg)
    for bad in ("unknown_strategy", "sequential", None, 0):
        with pytest.raises(dpa.BatchProcessingError) as info:
            p.strategy = bad
        assert isinstance(info.value, (dpa.InvalidBatchConfigError, TypeError))
        assert "strategy should be a BatchStrategy" in str(info.value)
    assert p.strategy is dpa.BatchStrategy.SEQUENTIAL  # unchanged by the failed sets
    assert [len(b) for b in p.process_stream(list(range(10)))] == [4, 4, 2]
    p.strategy = dpa.BatchStrategy.ROUND_ROBIN  # a real strategy is taken
    assert [list(b) for b in p.process_stream(list(range(8)))] == [
        [0, 4], [1, 5], [2, 6], [3, 7]]
