"""The pool of touched pages behind large result arrays (src/pool.c, engine.records)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import dpa
from dpa import _core, engine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIG = (4 << 20) // dpa.PARAM_DTYPE.itemsize  # records of a 4 MiB array


def test_results_from_the_pool_are_independent():
    stats = _core.pool_stats
    a = engine.records(BIG, dpa.PARAM_DTYPE)
    assert a.flags.owndata and a.base is None
    a["sample_id"] = 1
    b = engine.records(BIG, dpa.PARAM_DTYPE)
    assert not np.shares_memory(a, b)
    b["sample_id"] = 2
    hits = stats()["hits"]
    view = a[10:20]
    del a  # the view keeps the mapping: nothing returns to the pool
    c = engine.records(BIG, dpa.PARAM_DTYPE)
    assert stats()["hits"] == hits and not np.shares_memory(c, view)
    c["sample_id"] = 3
    assert (view["sample_id"] == 1).all() and (b["sample_id"] == 2).all()
    address = view.__array_interface__["data"][0] - 10 * view.itemsize
    del view
    d = engine.records(BIG, dpa.PARAM_DTYPE)  # a's pages, touched before
    assert stats()["hits"] == hits + 1
    assert d.__array_interface__["data"][0] == address
    assert (b["sample_id"] == 2).all() and (c["sample_id"] == 3).all()


def test_generate_without_out_reuses_pages():
    ref = dpa.generate(range(BIG), scheme="philox", base_seed=3)
    hits = _core.pool_stats()["hits"]
    for _ in range(3):  # each result dropped before the next call
        assert dpa.generate(range(BIG), scheme="philox", base_seed=3).tobytes() == ref.tobytes()
    assert _core.pool_stats()["hits"] >= hits + 3


def test_resized_and_small_arrays():
    a = engine.records(BIG, dpa.PARAM_DTYPE)
    a["sample_id"] = np.arange(BIG)
    a.resize(2 * BIG, refcheck=False)  # realloc through the pool
    assert (a["sample_id"][:BIG] == np.arange(BIG)).all()
    a.resize(100, refcheck=False)
    assert (a["sample_id"] == np.arange(100)).all()
    small = engine.records(10, dpa.PARAM_DTYPE)  # below the pool's size: plain NumPy
    assert small.shape == (10,)


def test_limit_bounds_what_is_kept():
    previous = engine.set_pool_limit(0)
    try:
        assert _core.pool_stats()["held_bytes"] == 0
        a = engine.records(BIG, dpa.PARAM_DTYPE)
        del a
        assert _core.pool_stats()["held_bytes"] == 0
        engine.set_pool_limit(6 << 20)
        arrays = [engine.records(BIG, dpa.PARAM_DTYPE) for _ in range(3)]
        del arrays
        assert 0 < _core.pool_stats()["held_bytes"] <= 6 << 20
    finally:
        engine.set_pool_limit(previous)
    with pytest.raises(ValueError, match="nbytes"):
        engine.set_pool_limit(-1)


_FORK = """
import os, numpy as np, dpa
from dpa import engine
n = (4 << 20) // 48
a = engine.records(n, dpa.PARAM_DTYPE); a["sample_id"] = 7
b = engine.records(n, dpa.PARAM_DTYPE); del b   # b's pages wait in the pool
pid = os.fork()
c = engine.records(n, dpa.PARAM_DTYPE); c["sample_id"] = 9 if pid == 0 else 8
ok = (a["sample_id"] == 7).all() and not np.shares_memory(a, c)
ok = ok and dpa.generate(range(n), scheme="philox").tobytes() == \\
    dpa.generate(range(n), scheme="philox", out=np.empty(n, dpa.PARAM_DTYPE)).tobytes()
del a, c
if pid == 0:
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
print(bool(ok), os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_keeps_arrays_valid():
    proc = subprocess.run([sys.executable, "-c", _FORK], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "0"]


@pytest.mark.parametrize("value", ["-1", "lots"])
def test_bad_pool_env(value):
    proc = subprocess.run([sys.executable, "-c", "import dpa"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "DPA_POOL_MB": value}, timeout=60)
    assert proc.returncode != 0
    assert "DPA_POOL_MB should be a non-negative integer" in proc.stderr
