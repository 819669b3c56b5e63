"""The kernel against the pure-Python oracle on random ids and configs, on every
kernel path."""

from __future__ import annotations

import hashlib
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import dpa
from conftest import each_kernel_path, extreme_ranges
from dpa import _reference


def oracle(sample_id: int, config: dpa.AugmentationConfig, prefix: str = "") -> dict:
    """DPA 0.2.1 in a few lines: hashlib and random.Random, nothing of dpa's."""
    h = hashlib.sha256(f"{prefix}{sample_id}".encode()).hexdigest()
    a, b = 0, 1
    for _ in range(config.augmentation_depth):
        h = hashlib.sha256((h + str(a)).encode()).hexdigest()
        a, b = b, a + b
    rng = random.Random(int(h, 16) % 2**32)
    out = {f: rng.uniform(*r) for f, r in zip(dpa.FIELDS, config.ranges)}
    out["hash"] = h
    return out


def _as_dict(rec) -> dict:
    d = {f: float(rec[f]) for f in dpa.FIELDS}
    d["hash"] = rec["hash"].decode()
    return d


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
ints = st.integers(min_value=-10**6, max_value=10**6)


@st.composite
def ranges(draw):
    """A (low, high) pair with low < high, ints and floats mixed."""
    a, b = draw(st.one_of(finite, ints)), draw(st.one_of(finite, ints))
    if a == b:
        b = a + 1
    return (min(a, b), max(a, b))


@st.composite
def configs(draw, max_depth=120, field=ranges):
    """A config of five ``field()`` ranges and a depth up to ``max_depth``."""
    return dpa.AugmentationConfig(
        *(draw(field()) for _ in range(5)),
        augmentation_depth=draw(st.integers(min_value=1, max_value=max_depth)),
    )


ids = st.integers(min_value=0, max_value=2**63 - 1)
near_top = st.integers(min_value=2**63 - 5000, max_value=2**63 - 1)


def test_reference_module_is_the_oracle():
    config = dpa.get_preset("moderate")
    for i in (0, 7, 2**63 - 1):
        assert _reference.params(i, config) == oracle(i, config)


@settings(max_examples=60, deadline=None)
@given(config=configs(field=extreme_ranges),
       sample_ids=st.lists(st.one_of(ids, near_top), min_size=1, max_size=70))
def test_generate_equals_oracle(config, sample_ids):
    """Every path, any group size (1 to 70 ids: every tail of the 32- and
    64-sample groups, the narrow and scalar ones), extreme ranges."""
    want = [oracle(i, config) for i in sample_ids]
    for path in each_kernel_path():
        recs = dpa.generate(sample_ids, config, hash=True)
        assert recs["sample_id"].tolist() == sample_ids, path
        assert [_as_dict(rec) for rec in recs] == want, path


@settings(max_examples=25, deadline=None)
@given(
    config=configs(max_depth=300, field=extreme_ranges),
    sample_ids=st.lists(ids, min_size=1, max_size=20),
    rank=st.integers(min_value=0, max_value=10**4),
    base_seed=st.one_of(st.integers(min_value=0, max_value=10**30),
                        st.integers(min_value=10**60, max_value=10**130)),
)
def test_prefix_path_equals_oracle(config, sample_ids, rank, base_seed):
    """Rank-aware prefixes (first messages of one to three blocks), chains of
    up to 300 steps (Fibonacci tails of several blocks), on every path."""
    want = [oracle(i, config, f"{base_seed}:{rank}:") for i in sample_ids]
    for path in each_kernel_path():
        recs = dpa.generate(sample_ids, config, hash=True, rank=rank, base_seed=base_seed)
        assert [_as_dict(rec) for rec in recs] == want, path


def test_thousands_of_ids_all_paths(kernel_path):
    """Several thousand ids through every path, deep chains included."""
    rng = np.random.default_rng(12345)
    sample_ids = np.concatenate(
        [rng.integers(0, 2**63 - 1, 1500, dtype=np.int64), np.arange(2**63 - 500, 2**63 - 1)]
    )
    for depth in (1, 10, 94, 300):
        config = dpa.AugmentationConfig(augmentation_depth=depth)
        subset = sample_ids if depth == 10 else sample_ids[:: 15]
        recs = dpa.generate(subset, config, hash=True, threads=2)
        for i, rec in zip(subset.tolist(), recs):
            assert _as_dict(rec) == oracle(i, config), (i, depth)


def test_long_first_message_spans_blocks(kernel_path):
    """Prefixes that push the first message over one or two 64-byte blocks,
    mixed in one kernel group with ids of different lengths."""
    config = dpa.get_preset("mild")
    sample_ids = [0, 9, 10**18, 2**63 - 1] * 10
    for base_seed in (0, 10**30, 10**40 + 7, 10**100):
        recs = dpa.generate(sample_ids, config, hash=True, rank=3, base_seed=base_seed)
        for i, rec in zip(sample_ids, recs):
            assert _as_dict(rec) == oracle(i, config, f"{base_seed}:3:")
