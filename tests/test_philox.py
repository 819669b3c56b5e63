"""The counter-based ``philox-v1`` scheme: known answers, twin, invariance."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpa
from conftest import each_kernel_path, extreme_ranges
from dpa import _core, _reference

MOD = dpa.get_preset("moderate")
DATA = pathlib.Path(__file__).resolve().parent / "data"
VECTORS = DATA / "philox-v1-vectors.json"
MAKER = DATA / "make_philox_vectors.py"

# Random123's known-answer vectors for philox4x32-10, hex:
# (counter words, key words) -> output words.
KAT = [
    ("00000000 00000000 00000000 00000000", "00000000 00000000", "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
    ("ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff", "408f276d 41c83b0e a20bc7c6 6d5451fd"),
    ("243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0", "d16cfe09 94fdcceb 5001e420 24126ea1"),
]


def _words(s):
    return [int(w, 16) for w in s.split()]


@pytest.mark.parametrize("ctr, key, want", KAT)
def test_known_answers(ctr, key, want):
    assert _core.philox4x32_10(_words(ctr), _words(key)) == _words(want)
    assert list(_reference.philox4x32_10(tuple(_words(ctr)), tuple(_words(key)))) == _words(want)


def _as_dict(rec):
    return {f: float(rec[f]) for f in dpa.FIELDS}


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@st.composite
def configs(draw):
    ranges = []
    for _ in range(5):
        a, b = draw(finite), draw(finite)
        if a == b:
            b = a + 1.0
        ranges.append((min(a, b), max(a, b)))
    return dpa.AugmentationConfig(*ranges)


@settings(max_examples=60, deadline=None)
@given(
    config=st.one_of(configs(), st.tuples(*[extreme_ranges()] * 5).map(
        lambda r: dpa.AugmentationConfig(*r))),
    ids=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=40),
    seed=st.integers(0, 2**64 - 1),
    epoch=st.integers(0, 2**32 - 1),
)
def test_kernel_equals_twin(config, ids, seed, epoch):
    """Every path against the twin; 1 to 40 ids cover every tail of the 8-
    and 16-sample vectors."""
    want = [_reference.philox_params(i, config, seed, epoch) for i in ids]
    for path in each_kernel_path():
        recs = dpa.generate(ids, config, scheme="philox", base_seed=seed, epoch=epoch)
        assert recs["sample_id"].tolist() == ids, path
        assert [_as_dict(rec) for rec in recs] == want, path


def test_paths_bit_identical(kernel_path):
    r = range(0, 300_007, 3)  # not a multiple of the 8- or 16-lane groups
    want = np.array(
        [[_reference.philox_params(i, MOD, 99, 4)[f] for f in dpa.FIELDS] for i in r[:500]]
    )
    got = dpa.generate(r, MOD, scheme="philox", base_seed=99, epoch=4)
    assert np.array_equal(
        np.stack([got[f][:500] for f in dpa.FIELDS], axis=1), want
    )
    ref = dpa.generate(r, MOD, scheme="philox", base_seed=99, epoch=4, threads=1)
    assert got.tobytes() == ref.tobytes()


def test_invariance_threads_blocks_order():
    ids = np.arange(100_000, 160_000, dtype=np.int64)
    ref = dpa.generate(ids, MOD, scheme="philox", base_seed=7, epoch=2, threads=1)
    for threads in (2, 3, 5):
        got = dpa.generate(ids, MOD, scheme="philox", base_seed=7, epoch=2, threads=threads)
        assert got.tobytes() == ref.tobytes()
    perm = np.random.default_rng(0).permutation(len(ids))
    shuffled = dpa.generate(ids[perm], MOD, scheme="philox", base_seed=7, epoch=2)
    assert shuffled.tobytes() == ref[perm].tobytes()
    out = np.empty(len(ids), dpa.PARAM_DTYPE)
    for size in (1, 7, 8, 9, 4099):
        for a in range(0, len(ids), size):
            dpa.generate(ids[a:a + size], MOD, scheme="philox", base_seed=7, epoch=2, out=out[a:a + size])
        assert out.tobytes() == ref.tobytes()
    # Ranges, any step, equal the same ids as an array.
    assert dpa.generate(range(100_000, 160_000), MOD, scheme="philox", base_seed=7, epoch=2).tobytes() == ref.tobytes()


def test_epochs_and_seeds_differ():
    r = range(1000)
    a = dpa.generate(r, MOD, scheme="philox", base_seed=1, epoch=0)
    b = dpa.generate(r, MOD, scheme="philox", base_seed=1, epoch=1)
    c = dpa.generate(r, MOD, scheme="philox", base_seed=2, epoch=0)
    for f in dpa.FIELDS:
        assert np.mean(a[f] == b[f]) < 0.01
        assert np.mean(a[f] == c[f]) < 0.01


def test_values_in_range_and_roughly_uniform():
    recs = dpa.generate(range(200_000), MOD, scheme="philox", base_seed=3)
    for f, (low, high) in zip(dpa.FIELDS, MOD.ranges):
        v = recs[f]
        assert v.min() >= low and v.max() < high
        u = (v - low) / (high - low)
        assert abs(u.mean() - 0.5) < 0.005
        hist = np.histogram(u, bins=10, range=(0, 1))[0]
        assert hist.min() > 0.95 * len(u) / 10


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"base_seed": -1}, ValueError, "base_seed should be a non-negative integer"),
        ({"base_seed": 2**64}, ValueError, "2\\*\\*64"),
        ({"epoch": -1}, ValueError, "epoch should be a non-negative integer"),
        ({"epoch": 2**32}, ValueError, "2\\*\\*32"),
        ({"rank": 0}, ValueError, "rank does not apply"),
        ({"hash": True}, ValueError, "hash=True needs scheme='dpa'"),
        ({"epoch": 1.0}, TypeError, "epoch should be an integer"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        dpa.generate(range(3), MOD, scheme="philox", **kwargs)


def test_stream_philox():
    s = dpa.stream_augmentation_chain(50, MOD, start_id=10, scheme="philox", base_seed=5, epoch=3)
    dicts = list(s)
    assert dicts[0] == _reference.philox_params(10, MOD, 5, 3)
    assert "hash" not in dicts[0]
    s2 = dpa.stream_augmentation_chain(50, MOD, start_id=10, scheme="philox", base_seed=5, epoch=3)
    arr = s2.generate(s2.claim())
    assert [_as_dict(r) for r in arr] == dicts


# ---- tests/data/philox-v1-vectors.json: records made from the specification ----


@pytest.fixture(scope="module")
def philox_vectors():
    data = json.loads(VECTORS.read_text())
    assert data["scheme"] == "philox-v1" and data["fields"] == list(dpa.FIELDS)
    assert len(data["cases"]) >= 30 and sum(len(c["records"]) for c in data["cases"]) >= 250
    return data


def _bits(values):
    return np.array(values, dtype=np.float64).view(np.uint64).tolist()


def test_vectors_file_known_answers(philox_vectors):
    kat = philox_vectors["philox4x32_10"]
    assert [k["counter"] for k in kat] == [_words(c) for c, _, _ in KAT]
    for k in kat:
        assert _core.philox4x32_10(k["counter"], k["key"]) == k["output"]
        assert list(_reference.philox4x32_10(tuple(k["counter"]), tuple(k["key"]))) == k["output"]


def test_vectors_file(kernel_path, philox_vectors):
    """dpa.generate gives the file's values exactly, on every kernel path, in
    one part and through the worker team."""
    for case in philox_vectors["cases"]:
        config = dpa.AugmentationConfig.from_dict(case["config"])
        if "preset" in case:
            assert dpa.get_preset(case["preset"]) == config
        ids = [r["sample_id"] for r in case["records"]]
        kwargs = dict(scheme="philox", base_seed=case["base_seed"], epoch=case["epoch"])
        got = dpa.generate(ids, config, **kwargs)
        assert got["sample_id"].tolist() == ids
        for f in dpa.FIELDS:
            want = [r[f] for r in case["records"]]
            assert got[f].tolist() == want, (case["base_seed"], case["epoch"], f)
            assert _bits(got[f]) == _bits(want)  # -0.0 too
        # enough records for two threads: the parts give the same bytes
        tiled = dpa.generate(np.tile(np.array(ids, dtype=np.int64), 1100), config, threads=2,
                             **kwargs)
        assert tiled.tobytes() == np.tile(got, 1100).tobytes()


def test_reference_equals_vectors_file(philox_vectors):
    for case in philox_vectors["cases"]:
        config = dpa.AugmentationConfig.from_dict(case["config"])
        for r in case["records"]:
            got = _reference.philox_params(r["sample_id"], config, case["base_seed"], case["epoch"])
            assert got == {f: r[f] for f in dpa.FIELDS}
            assert _bits([got[f] for f in dpa.FIELDS]) == _bits([r[f] for f in dpa.FIELDS])


def test_vectors_file_is_what_the_standalone_script_makes(tmp_path):
    """The file is the script's output, and the script uses the standard library
    only (it implements the specification; it does not ask dpa)."""
    tree = ast.parse(MAKER.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            imported.add(node.module.split(".")[0])
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    out = tmp_path / "philox.json"
    proc = subprocess.run([sys.executable, "-I", str(MAKER), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == VECTORS.read_bytes()
