"""BatchConfig and BatchProcessor validation: every bad value names its field."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpa.batch import (
    DEFAULT_BATCH_SIZE,
    BatchConfig,
    BatchMetrics,
    BatchProcessingError,
    BatchProcessor,
    BatchStrategy,
    InvalidBatchConfigError,
    MemoryLimitExceededError,
)

S = BatchStrategy


def test_error_hierarchy():
    assert issubclass(InvalidBatchConfigError, BatchProcessingError)
    assert issubclass(InvalidBatchConfigError, ValueError)
    assert issubclass(MemoryLimitExceededError, BatchProcessingError)


def test_defaults_are_dpas():
    c = BatchConfig(strategy=S.SEQUENTIAL)
    assert (c.batch_size, c.max_memory_mb, c.min_batch_size, c.adaptive_sizing) == (
        None, 1000, 1, True)
    assert (c.max_batch_size, c.sample_size_bytes, c.window_size, c.reuse_buffers) == (
        None, None, None, False)
    assert c.num_batches == DEFAULT_BATCH_SIZE == 32
    assert c.to_dict()["strategy"] == "sequential"


@pytest.mark.parametrize("field, value, message", [
    ("batch_size", 0, "batch_size should be a positive integer, but got batch_size=0"),
    ("batch_size", -3, "batch_size=-3"),
    ("batch_size", True, "batch_size should be an integer, but got batch_size=True"),
    ("batch_size", 2.0, "batch_size=2.0"),
    ("batch_size", "8", "batch_size='8'"),
    ("min_batch_size", 0, "min_batch_size should be a positive integer, but got min_batch_size=0"),
    ("min_batch_size", False, "min_batch_size=False"),
    ("max_batch_size", 0, "max_batch_size=0"),
    ("max_memory_mb", 0, "max_memory_mb should be a positive number, but got max_memory_mb=0"),
    ("max_memory_mb", -1.5, "max_memory_mb=-1.5"),
    ("max_memory_mb", math.inf, "max_memory_mb=inf"),
    ("max_memory_mb", math.nan, "max_memory_mb=nan"),
    ("max_memory_mb", True, "max_memory_mb=True"),
    ("max_memory_mb", "500", "max_memory_mb='500'"),
    ("adaptive_sizing", 1, "adaptive_sizing should be a bool, but got adaptive_sizing=1"),
    ("adaptive_sizing", None, "adaptive_sizing=None"),
    ("sample_size_bytes", 0, "sample_size_bytes=0"),
    ("window_size", 0, "window_size=0"),
    ("reuse_buffers", "yes", "reuse_buffers='yes'"),
    ("probe_interval", -1, "probe_interval should be a non-negative number"),
])
def test_invalid_field(field, value, message):
    with pytest.raises(InvalidBatchConfigError) as e:
        BatchConfig(strategy=S.SEQUENTIAL, **{field: value})
    assert message in str(e.value)
    assert field in str(e.value)


@pytest.mark.parametrize("value", ["sequential", 0, None, S.SEQUENTIAL.value.upper()])
def test_wrong_strategy_type(value):
    with pytest.raises(InvalidBatchConfigError, match="strategy should be a BatchStrategy"):
        BatchConfig(strategy=value)
    with pytest.raises(InvalidBatchConfigError, match="strategy should be a BatchStrategy"):
        BatchProcessor(value)


def test_string_strategy_hint():
    with pytest.raises(InvalidBatchConfigError, match=r"use BatchStrategy\('adaptive'\)"):
        BatchConfig(strategy="adaptive")


@pytest.mark.parametrize("kw, message", [
    ({"min_batch_size": 10, "max_batch_size": 5},
     "min_batch_size should be at most max_batch_size, but got min_batch_size=10, "
     "max_batch_size=5"),
    ({"batch_size": 3, "min_batch_size": 5},
     "batch_size should be at least min_batch_size, but got batch_size=3, min_batch_size=5"),
    ({"batch_size": 30, "max_batch_size": 20},
     "batch_size should be at most max_batch_size, but got batch_size=30, max_batch_size=20"),
])
@pytest.mark.parametrize("strategy", [S.SEQUENTIAL, S.MEMORY_OPTIMIZED, S.ADAPTIVE])
def test_cross_field(kw, message, strategy):
    with pytest.raises(InvalidBatchConfigError) as e:
        BatchConfig(strategy=strategy, **kw)
    assert str(e.value) == message


def test_round_robin_batch_size_is_a_count():
    # The number of batches is not compared with the per-batch size bounds...
    BatchConfig(strategy=S.ROUND_ROBIN, batch_size=3, min_batch_size=5)
    # ... but the window must hold at least one sample per batch.
    with pytest.raises(InvalidBatchConfigError,
                       match="window_size should be at least batch_size"):
        BatchConfig(strategy=S.ROUND_ROBIN, batch_size=10, window_size=5)


def test_assignment_is_validated_and_rolled_back():
    c = BatchConfig(strategy=S.SEQUENTIAL, batch_size=10, min_batch_size=2)
    c.batch_size = 20
    assert c.batch_size == 20
    with pytest.raises(InvalidBatchConfigError, match="batch_size=0"):
        c.batch_size = 0
    assert c.batch_size == 20
    with pytest.raises(InvalidBatchConfigError, match="at least min_batch_size"):
        c.batch_size = 1
    assert c.batch_size == 20
    with pytest.raises(InvalidBatchConfigError, match="strategy"):
        c.strategy = "adaptive"
    assert c.strategy is S.SEQUENTIAL


def test_numpy_values_are_normalised():
    c = BatchConfig(strategy=S.SEQUENTIAL, batch_size=np.int64(8), max_memory_mb=np.float32(1.5),
                    adaptive_sizing=np.bool_(False))
    assert type(c.batch_size) is int and c.batch_size == 8
    assert type(c.max_memory_mb) is float and c.max_memory_mb == 1.5
    assert c.adaptive_sizing is False
    assert dataclasses.replace(c, batch_size=9).batch_size == 9


@given(bs=st.one_of(st.none(), st.integers(-5, 100)), lo=st.integers(-2, 50),
       hi=st.one_of(st.none(), st.integers(-2, 100)))
def test_config_accepts_exactly_the_valid(bs, lo, hi):
    valid = (
        (bs is None or bs >= 1) and lo >= 1 and (hi is None or hi >= 1)
        and (hi is None or lo <= hi)
        and (bs is None or (bs >= lo and (hi is None or bs <= hi)))
    )
    try:
        BatchConfig(strategy=S.ADAPTIVE, batch_size=bs, min_batch_size=lo, max_batch_size=hi)
    except InvalidBatchConfigError:
        assert not valid
    else:
        assert valid


def test_processor_checks():
    with pytest.raises(InvalidBatchConfigError, match="config should be a BatchConfig"):
        BatchProcessor(S.SEQUENTIAL, {"batch_size": 3})
    with pytest.raises(InvalidBatchConfigError, match="strategy should equal config.strategy"):
        BatchProcessor(S.SEQUENTIAL, BatchConfig(strategy=S.ADAPTIVE))
    with pytest.raises(InvalidBatchConfigError, match="probe should be a callable"):
        BatchProcessor(S.SEQUENTIAL, probe=3)
    with pytest.raises(InvalidBatchConfigError, match="clock should be a callable"):
        BatchProcessor(S.SEQUENTIAL, clock=1.0)
    p = BatchProcessor(S.ROUND_ROBIN)
    assert p.config == BatchConfig(strategy=S.ROUND_ROBIN)
    with pytest.raises(InvalidBatchConfigError, match="hash should be a bool"):
        p.process_stream([1, 2], hash="yes")


def test_metrics():
    m = BatchMetrics(3, 1000 / 3, 12.5, 2.0, 500.0)
    assert m.total_samples == 1000
    assert BatchMetrics().total_samples == 0
