"""Kernel paths: what the CPU reports, their names, and that every path (and
every way of cutting a call into groups, vectors and tails) gives the same
records."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import dpa
from conftest import on_kernel_path
from dpa import _core

MOD = dpa.get_preset("moderate")
#: Call sizes around every group, vector and tail boundary of the kernels:
#: scalar MT19937 (<= 4), 8-lane groups, 16-lane vectors, 32- and 64-sample
#: groups.
SIZES = (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100)


def _cpuinfo_flags() -> set[str] | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


@pytest.mark.skipif(_cpuinfo_flags() is None, reason="needs Linux's /proc/cpuinfo")
def test_paths_agree_with_the_kernel():
    """Linux lists a feature only when it and the XSAVE state it needs are on,
    which is what dpa checks with CPUID and XGETBV."""
    flags = _cpuinfo_flags()
    avail = dpa.available_kernel_paths()
    assert ("avx2" in avail) == ("avx2" in flags)
    assert ("sha-ni" in avail) == ({"sha_ni", "sse4_1", "ssse3"} <= flags)
    assert ("avx512" in avail) == ({"avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags)


def test_path_names():
    assert set(dpa.available_kernel_paths()) <= {"avx2", "sha-ni", "avx512"}
    with on_kernel_path("avx512"):
        assert dpa.get_kernel_paths() == (("avx512",) if "avx512" in dpa.available_kernel_paths()
                                          else ())
    env = dict(os.environ, DPA_KERNEL_PATHS="avx512,avx2")
    done = subprocess.run([sys.executable, "-c", "import dpa; print(','.join(dpa.get_kernel_paths()))"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    want = [p for p in ("avx2", "avx512") if p in dpa.available_kernel_paths()]
    assert done.stdout.split() == ([",".join(want)] if want else [])


def _ids() -> np.ndarray:
    rng = np.random.default_rng(16)
    return np.concatenate([rng.integers(0, 2**63 - 1, 150, dtype=np.int64),
                           np.arange(2**63 - 60, 2**63, dtype=np.int64)])


def _cut(ids: np.ndarray, size: int, **kwargs) -> np.ndarray:
    return np.concatenate([dpa.generate(ids[a:a + size], MOD, **kwargs)
                           for a in range(0, len(ids), size)])


@pytest.mark.parametrize("scheme, kwargs", [("dpa", {"hash": True}), ("dpa", {}),
                                            ("philox", {"base_seed": 2**64 - 1, "epoch": 9})])
def test_calls_of_every_size_equal_one_call(kernel_path, scheme, kwargs):
    """A call of n ids gives the records of the same ids in one large call,
    on the portable path's bits, for every n around the kernels' boundaries."""
    ids = _ids()
    with on_kernel_path("portable"):
        want = dpa.generate(ids, MOD, scheme=scheme, **kwargs)
    assert dpa.generate(ids, MOD, scheme=scheme, **kwargs).tobytes() == want.tobytes()
    for size in SIZES:
        assert _cut(ids, size, scheme=scheme, **kwargs).tobytes() == want.tobytes(), size


@pytest.mark.parametrize("scheme", ["dpa", "philox"])
def test_wider_items_and_unaligned_records(kernel_path, scheme):
    """Records in items wider than the 48 bytes the kernel writes (the padding
    left alone), and records that do not start on a vector boundary."""
    ids = _ids()[:77]
    kernel = dpa.Seeding(scheme=scheme).kernel(MOD)
    want = dpa.generate(ids, MOD, scheme=scheme)
    padded = np.dtype({"names": list(dpa.PARAM_DTYPE.names),
                       "formats": [dpa.PARAM_DTYPE.fields[n][0] for n in dpa.PARAM_DTYPE.names],
                       "offsets": [dpa.PARAM_DTYPE.fields[n][1] for n in dpa.PARAM_DTYPE.names],
                       "itemsize": 72})
    out = np.zeros(len(ids), padded)
    out.view(np.uint8).reshape(len(ids), 72)[:, 48:] = 0xAB
    bits = dpa.engine.kernel_path_bits()
    _core.fill(kernel, out, [0, len(ids)], ids, 0, 0, -1, bits)
    assert out[list(dpa.PARAM_DTYPE.names)].tolist() == want.tolist()
    assert (out.view(np.uint8).reshape(len(ids), 72)[:, 48:] == 0xAB).all()
    for skip in (1, 2, 3):
        buf = np.empty(len(ids) + skip, dpa.PARAM_DTYPE)
        dpa.generate(ids, MOD, scheme=scheme, out=buf[skip:])
        assert buf[skip:].tobytes() == want.tobytes()


def test_chain_choice():
    bit, avx512_ns, shani_ns = _core.chain_choice()
    avail = dpa.available_kernel_paths()
    if {"avx512", "sha-ni"} <= set(avail):
        assert bit in (_core.PATH_AVX512, _core.PATH_SHANI)
        assert avx512_ns > 0 and shani_ns > 0
        assert (bit == _core.PATH_AVX512) == (avx512_ns <= shani_ns)
    else:
        assert (avx512_ns, shani_ns) == (0.0, 0.0)
        assert bit == _core.cpu_paths() & (_core.PATH_AVX512 | _core.PATH_SHANI)
    with pytest.raises(ValueError, match="bit must be"):
        _core._force_chain_choice(1)


@pytest.mark.skipif(not {"avx512", "sha-ni"} <= set(dpa.available_kernel_paths()),
                    reason="the choice exists only on a CPU with both AVX-512 and SHA-NI")
@pytest.mark.parametrize("bit", [_core.PATH_AVX512, _core.PATH_SHANI])
def test_either_chain_choice_gives_the_same_records(bit):
    """With AVX-512 and SHA-NI both on, the chain runs on whichever is measured
    faster, small blocks on SHA-NI: each forced choice gives the same bits."""
    ids = _ids()
    with on_kernel_path("portable"):
        want = dpa.generate(ids, MOD, hash=True, rank=5, base_seed=10**40)
    _core._force_chain_choice(bit)
    try:
        with on_kernel_path("avx512,sha-ni"):
            for size in (1, 3, 6, 7, 16, 17, 64, len(ids)):
                got = _cut(ids, size, hash=True, rank=5, base_seed=10**40)
                assert got.tobytes() == want.tobytes(), size
    finally:
        _core._force_chain_choice(0)
