"""The compiled strided gather (``dpa._core.gather_strided``) of round-robin batches."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpa
from dpa._core import gather_strided

DTYPES = [np.dtype(np.uint8), np.dtype("<i8"), np.dtype("<f4"), dpa.PARAM_DTYPE,
          dpa.PARAM_HASH_DTYPE, np.dtype("V1000"), np.dtype([("a", "<i2"), ("b", "S3")])]


def random_array(n: int, dt: np.dtype, cols: int | None, seed: int) -> np.ndarray:
    rows = n * (cols or 1)
    raw = np.random.default_rng(seed).integers(0, 256, rows * dt.itemsize, dtype=np.uint8)
    arr = raw.view(dt)
    return arr if cols is None else arr.reshape(n, cols)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), n=st.integers(1, 300), dt=st.sampled_from(DTYPES),
       cols=st.sampled_from([None, 1, 4]), src_step=st.sampled_from([1, 3, -1, -2]))
def test_matches_numpy(data, n, dt, cols, src_step):
    base = random_array(n * abs(src_step), dt, cols, n)
    src = base[::src_step]
    start = data.draw(st.integers(0, len(src) - 1))
    step = data.draw(st.integers(1, len(src) + 2))
    count = data.draw(st.integers(0, len(range(start, len(src), step))))
    out = np.empty((count,) + src.shape[1:], dt)
    assert gather_strided(src, out, start, step) is out
    assert out.tobytes() == np.ascontiguousarray(src[start::step][:count]).tobytes()


def test_read_only_memmap(tmp_path):
    recs = dpa.generate(range(1000), hash=True)
    np.save(tmp_path / "r.npy", recs)
    mm = np.load(tmp_path / "r.npy", mmap_mode="r")
    out = np.empty(250, dpa.PARAM_HASH_DTYPE)
    gather_strided(mm, out, 3, 4)
    assert out.tobytes() == recs[3::4].tobytes()


def test_empty_and_edges():
    src = np.arange(10)
    out = np.empty(0, src.dtype)
    gather_strided(src, out, 99, 5)  # nothing to copy: start is not checked
    out = np.empty(1, src.dtype)
    gather_strided(src, out, 9, 1000)
    assert out[0] == 9
    out = np.empty(4, src.dtype)
    gather_strided(src, out, 0, 3)
    assert out.tolist() == [0, 3, 6, 9]


def test_errors():
    src = np.arange(10, dtype=np.int64)
    good = np.empty(4, np.int64)
    with pytest.raises(IndexError, match=r"row 10 \(start=1, step=3, 4 rows\) is out of range "
                                         r"for 10 rows"):
        gather_strided(src, good, 1, 3)
    with pytest.raises(IndexError, match="start should be in"):
        gather_strided(src, good, 10, 1)
    with pytest.raises(IndexError, match="start should be in"):
        gather_strided(src, good, -1, 1)
    with pytest.raises(ValueError, match="step should be a positive integer"):
        gather_strided(src, good, 0, 0)
    with pytest.raises(ValueError, match="dtype"):
        gather_strided(src, np.empty(4, np.int32), 0, 1)
    with pytest.raises(ValueError, match="shape"):
        gather_strided(src, np.empty((4, 1), np.int64), 0, 1)
    with pytest.raises(ValueError, match="writeable C-contiguous"):
        gather_strided(src, np.empty(8, np.int64)[::2], 0, 1)
    ro = np.empty(4, np.int64)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable C-contiguous"):
        gather_strided(src, ro, 0, 1)
    with pytest.raises(ValueError, match="Python objects"):
        gather_strided(np.array([1, 2], dtype=object), np.empty(1, object), 0, 1)
    with pytest.raises(ValueError, match="0-d"):
        gather_strided(np.array(3), np.empty(1, np.int64), 0, 1)
    with pytest.raises(ValueError, match="packed"):
        gather_strided(np.zeros((4, 6))[:, ::2], np.empty((1, 3)), 0, 1)
    with pytest.raises(TypeError):
        gather_strided([1, 2, 3], good, 0, 1)
