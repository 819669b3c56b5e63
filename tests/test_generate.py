"""``generate``: ids, buffers, threads, paths and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import dpa

MOD = dpa.get_preset("moderate")


def test_dtypes_are_documented_layout():
    assert dpa.PARAM_DTYPE.names == ("sample_id",) + dpa.FIELDS
    assert dpa.PARAM_DTYPE.itemsize == 48
    assert dpa.PARAM_HASH_DTYPE.names == ("sample_id",) + dpa.FIELDS + ("hash",)
    assert dpa.PARAM_HASH_DTYPE.fields["hash"][0] == np.dtype("S64")
    assert dpa.record_dtype() == dpa.PARAM_DTYPE
    assert dpa.record_dtype(hash=True) == dpa.PARAM_HASH_DTYPE


def test_default_config_is_moderate():
    a = dpa.generate(range(50))
    b = dpa.generate(range(50), MOD)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("r", [range(0, 1000), range(5, 3000, 7), range(999, -1, -3), range(10**18, 10**18 + 40)])
def test_range_equals_array(r):
    a = dpa.generate(r, MOD, hash=True)
    b = dpa.generate(np.array(list(r), dtype=np.int64), MOD, hash=True)
    assert a.tobytes() == b.tobytes()
    assert a["sample_id"].tolist() == list(r)


def test_order_and_duplicates():
    ids = np.array([5, 3, 5, 0, 3, 5, 2**63 - 1], dtype=np.int64)
    recs = dpa.generate(ids, MOD)
    single = {i: dpa.generate([i], MOD)[0] for i in set(ids.tolist())}
    for i, rec in zip(ids.tolist(), recs):
        assert rec.tobytes() == single[i].tobytes()


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64])
def test_integer_dtypes(dtype):
    ids = np.arange(0, 100, 3).astype(dtype)
    assert dpa.generate(ids, MOD).tobytes() == dpa.generate(range(0, 100, 3), MOD).tobytes()


def test_non_contiguous_and_readonly_ids():
    base = np.arange(200, dtype=np.int64)
    ids = base[::3]
    ids.flags.writeable = False
    assert dpa.generate(ids, MOD).tobytes() == dpa.generate(range(0, 200, 3), MOD).tobytes()


def test_results_independent_of_threads_and_blocks(kernel_path):
    r = range(3, 60_003, 2)
    ref = dpa.generate(r, MOD, hash=True, threads=1)
    for threads in (2, 3, 7):
        assert dpa.generate(r, MOD, hash=True, threads=threads).tobytes() == ref.tobytes()
    # Block by block, odd block sizes, into slices of one buffer.
    out = np.empty(len(r), dpa.PARAM_HASH_DTYPE)
    for size in (1, 31, 33, 1000):
        for a in range(0, len(r), size):
            dpa.generate(r[a:a + size], MOD, hash=True, out=out[a:a + size])
        assert out.tobytes() == ref.tobytes()


def test_paths_agree_on_many_ids():
    r = range(0, 20_000)
    previous = dpa.get_kernel_paths()
    try:
        results = []
        for choice in ["portable"] + list(dpa.available_kernel_paths()) + ["auto"]:
            dpa.set_kernel_paths(choice)
            results.append(dpa.generate(r, MOD, hash=True).tobytes())
    finally:
        dpa.set_kernel_paths(list(previous) if previous else "portable")
    assert all(res == results[0] for res in results)


def test_out_buffer_is_filled_and_returned():
    out = np.zeros(100, dpa.PARAM_DTYPE)
    res = dpa.generate(range(100), MOD, out=out)
    assert res is out
    assert out.tobytes() == dpa.generate(range(100), MOD).tobytes()


def test_empty():
    assert dpa.generate(range(0), MOD).shape == (0,)
    assert dpa.generate(np.array([], dtype=np.int64), MOD).dtype == dpa.PARAM_DTYPE
    assert dpa.generate([], MOD).shape == (0,)


def test_set_kernel_paths():
    previous = dpa.get_kernel_paths()
    try:
        assert dpa.set_kernel_paths("portable") == ()
        assert dpa.set_kernel_paths("auto") == dpa.available_kernel_paths()
        with pytest.raises(ValueError, match="unknown kernel path 'neon'"):
            dpa.set_kernel_paths(["neon"])
    finally:
        dpa.set_kernel_paths(list(previous) if previous else "portable")


@pytest.mark.parametrize(
    "ids, exc, match",
    [
        ([-1, 2], ValueError, "non-negative"),
        (range(-3, 3), ValueError, "non-negative"),
        (range(2**63 - 2, 2**63 + 1), ValueError, "2\\*\\*63-1"),
        ([2**63], ValueError, "2\\*\\*63-1"),
        (np.array([2**63], dtype=np.uint64), ValueError, "2\\*\\*63-1"),
        ([1.0, 2.0], TypeError, "integers"),
        (np.array([True, False]), TypeError, "boolean"),
        ([True, False], TypeError, "boolean"),
        (np.zeros((2, 2), dtype=np.int64), ValueError, "1-D"),
        (5, TypeError, "range or a 1-D array"),
        (3.0, TypeError, "range or a 1-D array"),
        (None, TypeError, "range or a 1-D array"),
        (["a"], TypeError, "integers"),
    ],
)
def test_bad_ids(ids, exc, match):
    with pytest.raises(exc, match=match):
        dpa.generate(ids, MOD)


def test_bad_out():
    with pytest.raises(TypeError, match="numpy array"):
        dpa.generate(range(3), MOD, out=[0, 0, 0])
    with pytest.raises(ValueError, match="dtype"):
        dpa.generate(range(3), MOD, out=np.empty(3, dpa.PARAM_HASH_DTYPE))
    with pytest.raises(ValueError, match="dtype"):
        dpa.generate(range(3), MOD, hash=True, out=np.empty(3, dpa.PARAM_DTYPE))
    with pytest.raises(ValueError, match="shape"):
        dpa.generate(range(3), MOD, out=np.empty(4, dpa.PARAM_DTYPE))
    with pytest.raises(ValueError, match="C-contiguous"):
        dpa.generate(range(3), MOD, out=np.empty(6, dpa.PARAM_DTYPE)[::2])
    ro = np.empty(3, dpa.PARAM_DTYPE)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        dpa.generate(range(3), MOD, out=ro)


@pytest.mark.parametrize("threads, exc, match", [
    (0, ValueError, "threads should be a positive integer"),
    (-1, ValueError, "threads should be a positive integer"),
    (True, TypeError, "threads should be an integer"),
    (1.5, TypeError, "threads should be an integer"),
    ("2", TypeError, "threads should be an integer"),
])
def test_bad_threads(threads, exc, match):
    with pytest.raises(exc, match=match):
        dpa.generate(range(3), MOD, threads=threads)


def test_bad_config_scheme_rank():
    with pytest.raises(TypeError, match="AugmentationConfig"):
        dpa.generate(range(3), {"rotation_range": (0, 1)})
    with pytest.raises(ValueError, match=r"scheme should be one of \('dpa', 'philox'\), but got scheme='xorshift'"):
        dpa.generate(range(3), MOD, scheme="xorshift")
    with pytest.raises(ValueError, match="DPA's scheme has no epochs"):
        dpa.generate(range(3), MOD, epoch=1)
    with pytest.raises(ValueError, match="rank should be a non-negative integer"):
        dpa.generate(range(3), MOD, rank=-1)
    with pytest.raises(TypeError, match="rank should be an integer"):
        dpa.generate(range(3), MOD, rank=True)
    with pytest.raises(ValueError, match="base_seed should be a non-negative integer"):
        dpa.generate(range(3), MOD, rank=0, base_seed=-1)
    with pytest.raises(ValueError, match="base_seed only applies"):
        dpa.generate(range(3), MOD, base_seed=5)


def test_threads_env(monkeypatch):
    monkeypatch.setenv("DPA_NUM_THREADS", "3")
    assert dpa.default_threads() == 3
    monkeypatch.setenv("DPA_NUM_THREADS", "zero")
    with pytest.raises(ValueError, match="DPA_NUM_THREADS"):
        dpa.default_threads()


def test_kernel_paths_env():
    """DPA_KERNEL_PATHS=portable forces the portable path from import on."""
    import subprocess
    import sys

    code = "import dpa; print(dpa.get_kernel_paths())"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**__import__("os").environ, "DPA_KERNEL_PATHS": "portable"},
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == "()"


def test_gil_released_threads_overlap():
    """Two Python threads calling generate at once both complete correctly."""
    import threading

    r = range(40_000)
    ref = dpa.generate(r, MOD, threads=1).tobytes()
    results = []

    def work():
        results.append(dpa.generate(r, MOD, threads=1).tobytes())

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results == [ref] * 4


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_threads_work_in_a_forked_child():
    """A child forked after the pool started (as DataLoader workers are) can
    still split work across threads, and gets the same answer."""
    import os

    r = range(50_000)
    ref = dpa.generate(r, MOD, threads=2)  # starts the pool in the parent
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            ok = dpa.generate(r, MOD, threads=2).tobytes() == ref.tobytes()
            os.write(wfd, b"1" if ok else b"0")
        finally:
            os._exit(0)
    import select
    import signal

    os.close(wfd)
    ready, _, _ = select.select([rfd], [], [], 60)
    if not ready:  # the child hung: its work was submitted to dead threads
        os.kill(pid, signal.SIGKILL)
    got = os.read(rfd, 1) if ready else b"hang"
    os.waitpid(pid, 0)
    assert got == b"1"


def test_object_arrays_and_iterables_of_ids():
    """Any iterable of integers is accepted (object arrays, lists, generators, NumPy ints)."""
    want = dpa.generate(np.array([1, 2, 2**63 - 1], dtype=np.int64), MOD)
    for ids in (np.array([1, 2, 2**63 - 1], dtype=object), [1, 2, 2**63 - 1],
                (i for i in (1, 2, 2**63 - 1)), [np.int64(1), np.uint8(2), 2**63 - 1]):
        assert dpa.generate(ids, MOD).tobytes() == want.tobytes()
    # a map over several id arrays is not cut short by a stray StopIteration
    arrays = [np.arange(3), np.array([4, 5], dtype=object), np.arange(6, 9)]
    assert [len(r) for r in map(dpa.generate, arrays)] == [3, 2, 3]
    with pytest.raises(ValueError, match="2\\*\\*63-1"):
        dpa.generate(np.array([1, 2**64], dtype=object))
    with pytest.raises(ValueError, match="non-negative"):
        dpa.generate(iter([3, -1]))
    with pytest.raises(TypeError, match="integers"):
        dpa.generate(np.array([1, "2"], dtype=object))
    with pytest.raises(TypeError, match="boolean"):
        dpa.generate(np.array([1, True], dtype=object))


def test_hash_must_be_a_bool():
    with pytest.raises(TypeError, match="hash should be a bool, but got hash='yes'"):
        dpa.generate(range(3), hash="yes")
    with pytest.raises(TypeError, match="hash should be a bool"):
        dpa.generate(range(3), hash=1)


def test_default_config_is_built_once(monkeypatch):
    import dpa.config

    built = []
    real = dpa.config.AugmentationConfig.__post_init__
    monkeypatch.setattr(dpa.config.AugmentationConfig, "__post_init__",
                        lambda self: (built.append(1), real(self))[1])
    a = dpa.generate(range(5))
    b = dpa.generate(range(5), scheme="philox")
    assert dpa.stream_augmentation_chain(5).config is dpa.config.DEFAULT_CONFIG
    assert built == []
    assert a.tobytes() == dpa.generate(range(5), dpa.get_preset("moderate")).tobytes()
    assert b.tobytes() == dpa.generate(range(5), MOD, scheme="philox").tobytes()


@pytest.mark.parametrize("scheme", ["dpa", "philox"])
def test_out_overlapping_the_ids(scheme):
    """ids viewed from the very buffer being filled: the ids are read before they are overwritten."""
    n = 5000 if scheme == "dpa" else 200_000
    out = np.empty(n, dpa.PARAM_DTYPE)
    ids = out.view(np.int64)[:n]
    ids[:] = np.arange(7, 7 + n)[::-1]
    want = dpa.generate(ids.copy(), MOD, scheme=scheme)
    got = dpa.generate(ids, MOD, scheme=scheme, out=out)
    assert got is out
    assert got.tobytes() == want.tobytes()
