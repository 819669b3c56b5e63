"""Property tests over the public API, the files it reads and the command line.

Every public function, given any value (wrong types, NaN, inf, huge and
negative integers, bools, NumPy scalars, 0-d, non-contiguous, read-only and
overlapping arrays), either returns what the pure-Python reference computes
or raises ``TypeError``/``ValueError`` naming the argument; every file reader
given any bytes raises ``InputError`` or reads them; the command line, given
any arguments, ends with a status and at most two lines, never a traceback.

The fast profile runs by default; ``DPA_HYPOTHESIS_PROFILE=dpa-long`` (or
``--hypothesis-profile=dpa-long``) runs thousands of examples each
(``conftest.py``).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, example, given, strategies as st

import dpa
import dpa.io as dio
from dpa import _reference
from dpa.cli import main
from dpa.distributed import (DistributedParamStream, RankLayout, rank_sample_ids,
                             shuffle_positions, stream_distributed_augmentation_range)
from dpa.distributed import stream_distributed_augmentation_chain as dist_chain

MAX = 2**63 - 1
MILD = dpa.get_preset("mild")
SMALL = dpa.AugmentationConfig(augmentation_depth=2)  # short chains: a fast reference

# ---- values of every kind ------------------------------------------------------------

huge_ints = st.one_of(st.integers(-10, 10), st.integers(-(2**70), 2**70),
                      st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63), 2**1024, 10**400]))
floats = st.floats(allow_nan=True, allow_infinity=True)
numpy_scalars = st.one_of(
    st.integers(-5, 100).map(np.int64), st.integers(0, 100).map(np.uint8),
    st.integers(0, 2**64 - 1).map(np.uint64), floats.map(np.float64), st.booleans().map(np.bool_),
    st.floats(width=32).map(np.float32))
scalars = st.one_of(st.none(), st.booleans(), huge_ints, floats, numpy_scalars,
                    st.text(max_size=4), st.binary(max_size=4))
anything = st.one_of(scalars, st.lists(scalars, max_size=3), st.tuples(scalars, scalars),
                     st.dictionaries(st.text(max_size=3), scalars, max_size=2),
                     scalars.map(lambda v: np.array(v, dtype=object)))


def names_it(exc: Exception, *names: str) -> bool:
    text = str(exc)
    return any(n in text for n in names)


def int_in(value, lo, hi) -> bool:
    return (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            and lo <= int(value) <= hi)


# ---- the config ------------------------------------------------------------------------

RANGES = [f"{f}_range" for f in dpa.FIELDS]


@given(field=st.sampled_from(RANGES), value=st.one_of(anything, st.tuples(huge_ints, huge_ints),
                                                      st.tuples(floats, floats)))
@example(field="rotation_range", value=(0, 10**5000))
@example(field="noise_range", value=(10**5000, 0))
@example(field="scale_range", value=(2**1023, 2**1024))
def test_config_ranges(field, value):
    try:
        cfg = dpa.AugmentationConfig(**{field: value})
    except (TypeError, ValueError) as exc:
        assert names_it(exc, field), exc
        return
    low, high = getattr(cfg, field)
    assert low < high and math.isfinite(float(low)) and math.isfinite(float(high - low))
    lows, spans = cfg.lows_and_spans()
    assert all(map(math.isfinite, lows + spans))


@given(depth=anything)
def test_config_depth(depth):
    try:
        cfg = dpa.AugmentationConfig(augmentation_depth=depth)
    except (TypeError, ValueError) as exc:
        assert names_it(exc, "augmentation_depth"), exc
        return
    assert int_in(depth, 1, 10**6) or cfg.augmentation_depth >= 1


@given(data=st.dictionaries(st.sampled_from(RANGES + ["augmentation_depth", "other"]), anything,
                            max_size=3))
def test_config_from_dict(data):
    try:
        dpa.AugmentationConfig.from_dict(data)
    except (TypeError, ValueError) as exc:
        assert names_it(exc, *data, "config field"), exc


# ---- generate: ids, out, seeding keywords -----------------------------------------------

ID_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
             "float64", "bool", "object"]


@st.composite
def id_arrays(draw):
    values = draw(st.lists(st.integers(-5, 2**64 - 1) | st.sampled_from([0, 1, MAX]), max_size=12))
    dtype = draw(st.sampled_from(ID_DTYPES))
    try:
        arr = np.array(values, dtype=dtype)
    except (OverflowError, ValueError):
        arr = np.array(values, dtype=object)
    shape = draw(st.sampled_from(["1d", "strided", "readonly", "0d", "2d"]))
    if shape == "strided":
        arr = np.repeat(arr, 2)[::2]
    elif shape == "readonly":
        arr.flags.writeable = False
    elif shape == "0d":
        arr = np.array(values[0] if values else 0, dtype=arr.dtype)
    elif shape == "2d":
        arr = arr.reshape(1, -1)
    return arr


ids_values = st.one_of(
    id_arrays(),
    st.builds(range, st.integers(-3, 2**64), st.integers(-3, 2**64),
              st.integers(-(2**63), 2**63).filter(bool)),
    st.lists(st.one_of(st.integers(-3, 2**64), st.booleans(), floats, st.none()), max_size=6),
    scalars,
)


def expected(ids: list[int], config=SMALL, hash=False) -> np.ndarray:
    """The reference twin's records of ``ids``."""
    out = np.zeros(len(ids), dpa.record_dtype(hash))
    for k, i in enumerate(ids):
        p = _reference.params(i, config)
        out[k]["sample_id"] = i
        for f in dpa.FIELDS:
            out[k][f] = p[f]
        if hash:
            out[k]["hash"] = p["hash"]
    return out


def valid_ids(ids) -> list[int] | None:
    """The ids as Python ints if ``generate`` must accept them, else None."""
    if isinstance(ids, range):
        if _range_len(ids) > 64:
            return None
        values = list(ids)
    elif isinstance(ids, np.ndarray):
        if ids.ndim != 1 or ids.dtype.kind not in "iuO":
            return None
        values = ids.tolist()
    elif isinstance(ids, list):
        values = ids
    else:
        return None
    if all(int_in(v, 0, MAX) for v in values):
        return [int(v) for v in values]
    return None


def _range_len(r: range) -> int:
    return max(0, (r.stop - r.start + r.step - (1 if r.step > 0 else -1)) // r.step)


@given(ids=ids_values)
@example(ids=[0, False])
@example(ids=range(0, 2**63))
@example(ids=range(2**63 - 1, -1, -1))
def test_generate_any_ids(ids):
    if isinstance(ids, range) and 64 < _range_len(ids) <= MAX:
        # a valid range this long would be generated: only its bounds may refuse it
        assume(not (0 <= min(ids.start, ids[-1]) and max(ids.start, ids[-1]) <= MAX))
    want = valid_ids(ids)
    try:
        got = dpa.generate(ids, SMALL, threads=2)
    except (TypeError, ValueError) as exc:
        assert want is None, (ids, exc)
        assert names_it(exc, "ids", "sample ids"), exc
        return
    assert want is not None or len(got) == 0, ids
    assert got.tobytes() == expected(want or []).tobytes()


@given(n=st.integers(1, 40), offset=st.integers(0, 6), hash=st.booleans(), scheme=st.sampled_from(["dpa", "philox"]))
def test_generate_into_a_buffer_that_holds_the_ids(n, offset, hash, scheme):
    """Issue 14, defect 5: ``out`` overlapping ``ids`` (the ids are copied first)."""
    assume(not (hash and scheme == "philox"))
    out = np.zeros(n, dpa.record_dtype(hash))
    words = out.view(np.int64)
    ids = words[offset:offset + n]
    ids[:] = np.arange(1000, 1000 + len(ids))
    want = dpa.generate(ids.copy(), SMALL, hash=hash, scheme=scheme)
    got = dpa.generate(ids, SMALL, out=out[:len(ids)] if len(ids) < n else out, hash=hash, scheme=scheme)
    assert got.tobytes() == want.tobytes()


@given(kind=st.sampled_from(["dtype", "shape", "strided", "readonly", "list", "0d"]))
def test_generate_bad_out(kind):
    ids = range(10, 20)
    out = {"dtype": np.zeros(10, dpa.PARAM_HASH_DTYPE), "shape": np.zeros(9, dpa.PARAM_DTYPE),
           "strided": np.zeros(20, dpa.PARAM_DTYPE)[::2], "list": [0] * 10,
           "readonly": np.zeros(10, dpa.PARAM_DTYPE), "0d": np.zeros((), dpa.PARAM_DTYPE)}[kind]
    if kind == "readonly":
        out.flags.writeable = False
    with pytest.raises((TypeError, ValueError), match="out"):
        dpa.generate(ids, SMALL, out=out)


def test_object_ids_never_stop_an_iteration():
    """Issue 14, defect 6: a bad id array is a TypeError, never a bare
    StopIteration that would silently end a ``map`` or a generator."""
    good = np.arange(3)
    bad = np.array([object(), 1], dtype=object)
    with pytest.raises(TypeError, match="ids should be integers"):
        list(map(lambda ids: dpa.generate(ids, SMALL), [good, bad, good]))
    assert dpa.generate(np.array([5, 2**62], dtype=object), SMALL).tobytes() == \
        expected([5, 2**62]).tobytes()


SEEDING = {"threads": anything, "hash": anything, "scheme": anything, "rank": anything,
           "base_seed": anything, "epoch": anything, "config": anything}


@given(args=st.fixed_dictionaries({}, optional={k: v for k, v in SEEDING.items()}))
def test_generate_keywords(args):
    ids = [0, 7, 12]
    try:
        got = dpa.generate(ids, **args)
    except (TypeError, ValueError) as exc:
        assert names_it(exc, *args), (args, exc)
        return
    config = args.get("config") or dpa.AugmentationConfig()
    scheme, rank = args.get("scheme", "dpa"), args.get("rank")
    seed, epoch = int(args.get("base_seed", 0)), int(args.get("epoch", 0))
    for k, i in enumerate(ids):
        if scheme == "philox":
            p = _reference.philox_params(i, config, seed, epoch)
        else:
            p = _reference.params(i, config, "" if rank is None else f"{seed}:{int(rank)}:")
        assert [got[f][k] for f in dpa.FIELDS] == [p[f] for f in dpa.FIELDS]
        if args.get("hash"):
            assert got["hash"][k].decode() == p["hash"]


# ---- streams and distributed layouts ------------------------------------------------------


@given(num_samples=huge_ints, start_id=huge_ints, chunk_size=st.one_of(st.none(), huge_ints))
@example(num_samples=2**63, start_id=0, chunk_size=None)
def test_stream_augmentation_chain(num_samples, start_id, chunk_size):
    try:
        s = dpa.stream_augmentation_chain(num_samples, SMALL, start_id, chunk_size)
    except (TypeError, ValueError) as exc:
        assert names_it(exc, "num_samples", "start_id", "chunk_size", "sample ids"), exc
        return
    assert len(s.ids) == num_samples and s.ids.start == start_id
    if num_samples:
        assert s.ids[-1] <= MAX


@given(num_samples=huge_ints, rank=huge_ints, world_size=huge_ints, start_id=huge_ints,
       base_seed=huge_ints, epoch=st.integers(0, 3), shuffle=st.booleans(),
       uneven=st.sampled_from(["keep", "pad", "drop"]), split=st.sampled_from(["contiguous", "strided"]))
@example(num_samples=2**63, rank=0, world_size=1, start_id=0, base_seed=0, epoch=0, shuffle=False,
         uneven="keep", split="contiguous")
@example(num_samples=0, rank=0, world_size=1, start_id=2**63, base_seed=0, epoch=0, shuffle=True,
         uneven="keep", split="contiguous")
def test_rank_layouts(num_samples, rank, world_size, start_id, base_seed, epoch, shuffle, uneven,
                      split):
    args = dict(split=split, uneven=uneven, shuffle=shuffle, base_seed=base_seed, start_id=start_id)
    try:
        layout = RankLayout(num_samples, rank, world_size, **args)
        n = len(layout)
    except (TypeError, ValueError) as exc:
        assert names_it(exc, "num_samples", "rank", "world_size", "start_id", "base_seed",
                        "sample ids"), exc
        return
    assert 0 <= n <= MAX
    if n <= 5000 or not (shuffle or uneven == "pad"):  # otherwise the ids are an array of n
        ids = layout.ids(epoch)
        assert len(ids) == n
        if n:
            lo, hi = (min(ids[0], ids[-1]), max(ids[0], ids[-1])) if isinstance(ids, range) \
                else (int(ids.min()), int(ids.max()))
            assert start_id <= lo <= hi <= start_id + num_samples - 1 <= MAX
        assert rank_sample_ids(num_samples, rank, world_size, epoch=epoch, **args) is not None
        stream = dist_chain(num_samples, rank, world_size, SMALL, base_seed=base_seed,
                            shuffle=shuffle, uneven=uneven, split=split, start_id=start_id,
                            epoch=epoch)
        assert len(stream.ids) == n


@given(positions=st.one_of(st.builds(range, st.integers(-3, 2**64), st.integers(-3, 2**64)),
                           st.lists(huge_ints, max_size=5), id_arrays()),
       n=huge_ints, base_seed=huge_ints, epoch=huge_ints)
@example(positions=range(0, 2**63), n=2**63, base_seed=0, epoch=0)
@example(positions=np.array([2**63], np.uint64), n=2**63, base_seed=0, epoch=0)
@example(positions=np.array(0, np.int8), n=2, base_seed=0, epoch=0)
@example(positions=range(2**63 + 1000, -3), n=0, base_seed=0, epoch=0)
def test_shuffle_positions(positions, n, base_seed, epoch):
    if isinstance(positions, range):
        assume(min(positions.stop, 2**63) - max(positions.start, 0) <= 10_000)
    try:
        out = shuffle_positions(positions, n, base_seed, epoch)
    except (TypeError, ValueError) as exc:
        assert names_it(exc, "positions", "n=", "n ", "base_seed", "epoch"), exc
        return
    assert out.dtype == np.int64 and len(out) == len(positions)
    if len(out):
        assert 0 <= int(out.min()) and int(out.max()) < n


@given(n=st.integers(0, 300), seed=st.integers(0, 2**64), epoch=st.integers(0, 2**32))
def test_shuffle_is_a_permutation(n, seed, epoch):
    perm = shuffle_positions(range(n), n, seed, epoch)
    assert sorted(perm.tolist()) == list(range(n))
    assert shuffle_positions(np.arange(n)[::-1].copy(), n, seed, epoch).tolist() == perm[::-1].tolist()


@pytest.mark.parametrize("call, name", [
    (lambda: dpa.stream_augmentation_chain(2**63), "num_samples"),
    (lambda: dpa.stream_augmentation_chain(2**63, rank=0, world_size=1), "num_samples"),
    (lambda: dist_chain(2**63, 0, 1), "num_samples"),
    (lambda: len(RankLayout(2**63)), "num_samples"),
    (lambda: RankLayout(0, start_id=2**63), "start_id"),
    (lambda: stream_distributed_augmentation_range(0, 2**63, 0, 1), "end_id"),
    (lambda: DistributedParamStream(range(2**63), 0, 1), "ids"),
    (lambda: shuffle_positions(range(2**63), 2**63), "positions"),
    (lambda: shuffle_positions(np.array([2**63, 1], np.uint64), 2**63), "positions"),
    (lambda: dpa.generate(range(2**63)), "ids"),
    (lambda: dpa.ParamStream(range(2**63)), "ids"),
    (lambda: dpa.ParamStream(range(5, 2**64 + 5)), "ids"),
    (lambda: dpa.AugmentationConfig(rotation_range=(0, 10**5000)), "rotation_range"),
], ids=["chain", "chain-rank", "dist-chain", "layout", "layout-start", "dist-range",
        "dist-stream", "shuffle-range", "shuffle-uint64", "generate", "stream", "stream-2**64",
        "config"])
def test_beyond_2_63_is_a_value_error_naming_the_argument(call, name):
    """Issue 14: each of these was an OverflowError (or a wrong message)."""
    with pytest.raises(ValueError, match=name):
        call()


# ---- files: any bytes read as an InputError or as data -------------------------------------


def _npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


GOOD_NPY = _npy_bytes(dpa.generate(range(4), SMALL))


@given(cut=st.integers(0, len(GOOD_NPY)), junk=st.binary(max_size=40),
       at=st.integers(0, len(GOOD_NPY)))
def test_npy_readers_on_damaged_files(cut, junk, at):
    data = GOOD_NPY[:at] + junk + GOOD_NPY[at + len(junk):cut] if cut > at else GOOD_NPY[:cut] + junk
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.npy"
        path.write_bytes(data)
        for read in (dio.load, dio.compute_stats, lambda p: list(dio.iter_npy_blocks(p, 3)),
                     dio.stats_report):
            with contextlib.suppress(dio.InputError):
                read(path)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), huge_ints, st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=5)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["rotation", "brightness", "noise", "scale", "contrast", "hash",
                         "sample_id", "metadata", "augmentations", "statistics", "config", "x"]),
        inner, max_size=6),
    max_leaves=20)


@given(doc=json_values, layout=st.sampled_from(["json", "jsonl", "indented"]),
       fmt=st.sampled_from(["auto", "dpa", "jsonl"]), verify=st.booleans())
def test_convert_any_json(doc, layout, fmt, verify):
    if layout == "jsonl" and isinstance(doc, list):
        text = "".join(json.dumps(d) + "\n" for d in doc)
    else:
        text = json.dumps(doc, indent=2 if layout == "indented" else None)
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "in.json", Path(d) / "o.npy"
        src.write_text(text)
        try:
            res = dio.convert_json(src, out, format=fmt, verify=verify, config=MILD)
        except (dio.InputError, dio.VerificationError):
            assert not out.exists()
        else:
            assert dio.load(out).shape == (res.count,)
        assert sorted(p.name for p in Path(d).iterdir() if ".partial" in p.name) == []


@given(changes=st.dictionaries(st.sampled_from(["start_id", "step", "count", "scheme", "rank",
                                                "base_seed", "epoch", "prefix", "config", "ids",
                                                "ids_sha256", "source", "hash", "dtype"]),
                               json_values, max_size=3))
def test_provenance_of_any_shape(changes):
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "p.npy"
        dio.save_npy(dpa.stream_augmentation_chain(8, SMALL), out, hash=True)
        side = Path(d) / "p.npy.json"
        side.write_text(json.dumps({**json.loads(side.read_text()), **changes}))
        with contextlib.suppress(dio.InputError, dio.VerificationError):
            dio.verify_npy(out)
        with contextlib.suppress(dio.InputError, dio.VerificationError):
            dio.stats_report(out, verify=True)
        assert dio.stats_report(out, on_warning=lambda m: None).count == 8


# ---- io arguments --------------------------------------------------------------------------


@given(args=st.fixed_dictionaries({}, optional={
    "hash": anything, "force": anything, "resume": anything, "max_memory_mb": anything,
    "batch_size": anything, "threads": anything, "direct": anything,
    "checkpoint_seconds": anything}))
@example(args={"max_memory_mb": np.uint8(1)})
def test_save_npy_arguments(args):
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "p.npy"
        try:
            res = dio.save_npy(dpa.stream_augmentation_chain(30, SMALL), out, **args)
        except (TypeError, ValueError) as exc:
            assert names_it(exc, *args), (args, exc)
            assert not out.exists()
            return
        assert res.count == 30 and out.read_bytes() == _npy_bytes(
            dpa.generate(range(30), SMALL, hash=bool(args.get("hash"))))


@given(start_id=anything, format=anything, hash=anything, rank=anything, base_seed=anything,
       verify=anything)
def test_convert_json_arguments(start_id, format, hash, rank, base_seed, verify):
    args = dict(start_id=start_id, format=format, hash=hash, rank=rank, base_seed=base_seed,
                verify=verify)
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in dpa.records.records_to_dicts(
            dpa.generate(range(3), MILD, hash=True))))
        try:
            dio.convert_json(src, Path(d) / "o.npy", config=MILD, **args)
        except (TypeError, ValueError) as exc:
            assert names_it(exc, *args, "sample id"), (args, exc)
        except (dio.InputError, dio.VerificationError):
            pass  # valid arguments that do not fit these records (start_id, rank)


# ---- the command line ----------------------------------------------------------------------

VALUES = ["0", "-1", "1", "5", "1k", "nan", "inf", "-inf", "1e400", "9223372036854775808",
          "18446744073709551616", "-9223372036854775809", "", "x", "1.5", "-0", "1_000"]
OPTIONS = {
    "export": ["-n", "--start-id", "--batch-size", "--max-memory-mb", "--threads", "--rank",
               "--base-seed", "--epoch", "--checkpoint-seconds", "--augmentation-depth",
               "--rotation-range", "--scheme", "--io", "--preset", "--hash", "--force",
               "--resume"],
    "convert": ["--start-id", "--max-memory-mb", "--threads", "--rank", "--base-seed",
                "--format", "--verify", "--hash", "--no-hash", "--preset", "--noise-range"],
    "stats": ["--method", "--fields", "--threads", "--verify", "--json"],
    "head": ["-n", "--fields"],
}
FLAGS = {"--hash", "--no-hash", "--force", "--resume", "--verify", "--json"}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(list(OPTIONS)))
    argv = [command]
    if command in ("convert", "stats", "head"):
        argv.append(draw(st.sampled_from(["in.json", "p.npy", "missing", ""])))
    if command in ("export", "convert"):
        argv += ["-o", draw(st.sampled_from(["o.npy", "p.npy", "in.json", "", "d/o.npy"]))]
    for option in draw(st.lists(st.sampled_from(OPTIONS[command]), max_size=4)):
        argv.append(option)
        if option not in FLAGS:
            n = 2 if option.endswith("-range") else 1
            argv += [draw(st.sampled_from(VALUES + ["mild", "dpa", "philox", "exact", "rotation"]))
                     for _ in range(n)]
    if command == "export" and "-n" not in argv and draw(st.booleans()):
        argv += ["-n", draw(st.sampled_from(VALUES))]
    return argv


@given(argv=command_lines())
def test_command_line_never_tracebacks(argv):
    with tempfile.TemporaryDirectory() as d:
        old = os.getcwd()
        os.chdir(d)
        try:
            dio.save_npy(dpa.stream_augmentation_chain(5, MILD), Path(d) / "p.npy", hash=True)
            Path(d, "in.json").write_text(json.dumps(dpa.records.records_to_dicts(
                dpa.generate(range(5), MILD, hash=True))))
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    status = main(argv)
                except SystemExit as exc:
                    status = exc.code
        finally:
            os.chdir(old)
    lines = err.getvalue().strip().splitlines()
    assert status in (0, 1, 2, 3), (argv, status, lines)
    assert "Traceback" not in err.getvalue(), (argv, err.getvalue())
    warnings = [line for line in lines if ": warning: " in line]
    errors = [line for line in lines if line not in warnings]
    assert (status == 0) == (not errors) and len(errors) <= 2, (argv, status, lines)
    if errors:
        assert errors[-1].startswith("dpa") and ": error: " in errors[-1], (argv, lines)
        assert len(errors) == 1 or errors[0].startswith("usage: "), (argv, lines)
