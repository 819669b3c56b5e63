"""``dpa.io``: .npy export, loading, statistics, verification, DPA JSON conversion."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import statistics

import numpy as np
import pytest
from conftest import vectors_dir

import dpa
import dpa.io as dio
from dpa.engine import generate_seeded
from dpa.distributed import stream_distributed_augmentation_chain as dist_stream

MILD = dpa.get_preset("mild")
AGGRESSIVE = dpa.get_preset("aggressive")
CHAIN = "dpa-chain-200-aggressive.json"
STREAM = "dpa-stream-150-mild-from1000.json"
#: (file, start id, stats method DPA used for its statistics block)
SAMPLES = [(CHAIN, 0, "exact"), (STREAM, 1000, "welford")]


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def sample(name: str) -> dict:
    return json.loads((vectors_dir() / name).read_text())


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".partial" in p.name)


# ---- save_npy --------------------------------------------------------------------


@pytest.mark.parametrize("direct", [None, False])
@pytest.mark.parametrize("hash", [False, True])
@pytest.mark.parametrize("n, batch", [(0, None), (1, None), (1000, 7), (70_001, 4096)])
def test_stream_export_is_numpy_save(tmp_path, direct, hash, n, batch):
    out = tmp_path / "p.npy"
    stream = dpa.stream_augmentation_chain(n, MILD, start_id=5)
    res = dio.save_npy(stream, out, hash=hash, batch_size=batch, direct=direct)
    want = dpa.generate(range(5, 5 + n), MILD, hash=hash)
    assert out.read_bytes() == npy_bytes(want)
    assert res.count == n and res.nbytes == out.stat().st_size
    assert stream.remaining == 0  # the stream was claimed
    prov = dio.read_provenance(out)
    assert prov["start_id"] == 5 and prov["count"] == n and prov["hash"] is hash
    assert prov["config"] == json.loads(json.dumps(MILD.to_dict()))
    assert prov["scheme"] == "dpa" and prov["fields"] == list(want.dtype.names)
    assert prov["dpa_version"] == dpa.__version__ and prov["npy_bytes"] == res.nbytes
    assert "rank" not in prov and "base_seed" not in prov
    assert leftovers(tmp_path) == []


def test_export_of_a_partly_consumed_stream_and_seedings(tmp_path):
    s = dpa.stream_augmentation_chain(100, AGGRESSIVE, start_id=10)
    next(s)
    dio.save_npy(s, tmp_path / "a.npy")
    assert dio.load(tmp_path / "a.npy").tobytes() == dpa.generate(range(11, 110), AGGRESSIVE).tobytes()

    ranked = dpa.ParamStream(range(3, 500), MILD, rank=2, base_seed=7)
    dio.save_npy(ranked, tmp_path / "r.npy", hash=True)
    want = dpa.generate(range(3, 500), MILD, rank=2, base_seed=7, hash=True)
    assert (tmp_path / "r.npy").read_bytes() == npy_bytes(want)
    prov = dio.read_provenance(tmp_path / "r.npy")
    assert (prov["rank"], prov["base_seed"]) == (2, 7)

    ph = dpa.ParamStream(range(0, 10_000, 3), MILD, scheme="philox", base_seed=9, epoch=4)
    dio.save_npy(ph, tmp_path / "x.npy")
    want = dpa.generate(range(0, 10_000, 3), MILD, scheme="philox", base_seed=9, epoch=4)
    assert (tmp_path / "x.npy").read_bytes() == npy_bytes(want)
    prov = dio.read_provenance(tmp_path / "x.npy")
    assert (prov["scheme"], prov["base_seed"], prov["epoch"], prov["step"]) == ("philox", 9, 4, 3)
    assert dio.verify_npy(tmp_path / "x.npy") == len(want)
    assert dio.verify_npy(tmp_path / "r.npy") == 497


@pytest.mark.parametrize("direct", [None, False])
def test_iterable_of_arrays_with_unknown_length(tmp_path, direct):
    full = dpa.generate(range(20_000), MILD, hash=True)
    sizes = [0, 1, 4095, 3, 7000, 0, 8901]
    buf = np.empty(max(sizes), full.dtype)

    def produce():  # reuses one buffer, as save_npy allows
        a = 0
        for k in sizes:
            buf[:k] = full[a:a + k]
            yield buf[:k]
            a += k

    dio.save_npy(produce(), tmp_path / "i.npy", batch_size=1000, direct=direct)
    assert (tmp_path / "i.npy").read_bytes() == npy_bytes(full[:sum(sizes)])
    prov = dio.read_provenance(tmp_path / "i.npy")
    assert prov["count"] == sum(sizes) and prov["producer"] == "dpa.io.save_npy"


def test_array_and_memmap_sources(tmp_path):
    arr = dpa.generate(range(3000), MILD)
    dio.save_npy(arr, tmp_path / "a.npy", batch_size=512)
    assert (tmp_path / "a.npy").read_bytes() == npy_bytes(arr)
    mm = dio.load(tmp_path / "a.npy")
    assert isinstance(mm, np.memmap)
    dio.save_npy(mm, tmp_path / "b.npy", provenance={"note": "copy"})
    assert (tmp_path / "b.npy").read_bytes() == npy_bytes(arr)
    assert dio.read_provenance(tmp_path / "b.npy")["note"] == "copy"
    dio.save_npy(iter([]), tmp_path / "e.npy")
    assert len(np.load(tmp_path / "e.npy")) == 0


def test_existing_destination_refused_unless_force(tmp_path):
    out = tmp_path / "p.npy"
    out.write_bytes(b"precious")
    (tmp_path / "p.npy.json").write_text("{}")
    with pytest.raises(dio.OutputError, match="exists; pass --force"):
        dio.save_npy(dpa.stream_augmentation_chain(10, MILD), out)
    assert out.read_bytes() == b"precious" and leftovers(tmp_path) == []
    dio.save_npy(dpa.stream_augmentation_chain(10, MILD), out, force=True)
    assert np.load(out).tobytes() == dpa.generate(range(10), MILD).tobytes()
    assert dio.read_provenance(out)["count"] == 10


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"hash": 1}, TypeError, "hash should be a bool"),
        ({"batch_size": 0}, ValueError, "batch_size should be a positive integer"),
        ({"max_memory_mb": 0}, ValueError, "max_memory_mb should be a positive number"),
        ({"max_memory_mb": 1e-6}, ValueError, "too small for even one"),
        ({"checkpoint_seconds": -1}, ValueError, "checkpoint_seconds"),
        ({"direct": "yes"}, TypeError, "direct should be None or a bool"),
    ],
)
def test_argument_errors_write_nothing(tmp_path, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        dio.save_npy(dpa.stream_augmentation_chain(10, MILD), tmp_path / "p.npy", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_source_errors(tmp_path):
    with pytest.raises(TypeError, match="source should be"):
        dio.save_npy(42, tmp_path / "p.npy")
    with pytest.raises(ValueError, match="resume=True needs a dpa stream"):
        dio.save_npy(iter([]), tmp_path / "p.npy", resume=True)
    with pytest.raises(ValueError, match="share one dtype"):
        dio.save_npy(iter([np.zeros(3, "f8"), np.zeros(3, "f4")]), tmp_path / "p.npy")
    with pytest.raises(ValueError, match="hash=True needs scheme='dpa'"):
        dio.save_npy(dpa.ParamStream(range(3), MILD, scheme="philox"), tmp_path / "p.npy", hash=True)
    with pytest.raises(dio.OutputError, match="does not exist"):
        dio.save_npy(dpa.stream_augmentation_chain(3, MILD), tmp_path / "no" / "p.npy")
    (tmp_path / "file").write_text("")
    with pytest.raises(dio.OutputError, match="is not a directory"):
        dio.save_npy(dpa.stream_augmentation_chain(3, MILD), tmp_path / "file" / "p.npy")
    with pytest.raises(dio.OutputError, match="is a directory"):
        dio.save_npy(dpa.stream_augmentation_chain(3, MILD), tmp_path)
    assert leftovers(tmp_path) == []


def test_interrupt_removes_temporary_files_and_keeps_destination(tmp_path):
    out = tmp_path / "p.npy"
    out.write_bytes(b"old")

    def produce():
        yield dpa.generate(range(5000), MILD)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dio.save_npy(produce(), out, force=True, batch_size=1000)
    assert out.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_write_failure_is_one_line_and_cleans_up(tmp_path, monkeypatch):
    calls = []
    real = dio.writer._pwrite_all

    def failing(fd, data, offset):
        calls.append(offset)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data, offset)

    monkeypatch.setattr(dio.writer, "_pwrite_all", failing)
    monkeypatch.setattr(dio.save, "WRITE_BUFFER_BATCHES", 1)  # a write per batch
    out = tmp_path / "p.npy"
    with pytest.raises(dio.OutputError, match="cannot write .*p.npy: No space left on device"):
        dio.save_npy(dpa.stream_augmentation_chain(50_000, MILD), out, batch_size=4096)
    assert not out.exists() and leftovers(tmp_path) == []


# ---- resume (in-process; test_cli.py kills real processes) ------------------------


def _killed_export(tmp_path, monkeypatch, n=40_000, batches_before_death=5, stream=None,
                   batch_size=3000, buffer_batches=1, **kw):
    """Leave a partial file and journal as a SIGKILL would: no clean-up runs.

    Exports ``stream`` (default: ``n`` MILD records from id 3) and dies after
    ``batches_before_death`` batches, with write buffers of ``buffer_batches``
    batches (1: every batch is written out on its own).
    """
    out = tmp_path / "p.npy"
    monkeypatch.setattr(dio.save, "WRITE_BUFFER_BATCHES", buffer_batches)
    if stream is None:
        stream = dpa.stream_augmentation_chain(n, MILD, start_id=3)
    cls = type(stream)  # a subclass (DistributedParamStream) has its own generate
    monkeypatch.setattr(dio._PartialNpy, "abort", dio._PartialNpy.close)
    seen = []
    real = cls.generate

    def dying(self, ids, **kwargs):
        seen.append(len(ids))
        if len(seen) > batches_before_death:
            raise SystemExit("killed")
        return real(self, ids, **kwargs)

    monkeypatch.setattr(cls, "generate", dying)
    with pytest.raises(SystemExit):
        dio.save_npy(stream, out, batch_size=batch_size, checkpoint_seconds=0, **kw)
    monkeypatch.undo()
    return out


@pytest.mark.parametrize("direct", [None, False])
@pytest.mark.parametrize("hash", [False, True])
def test_resume_is_byte_identical(tmp_path, monkeypatch, direct, hash):
    out = _killed_export(tmp_path, monkeypatch, hash=hash, direct=direct)
    partial, journal = dio.partial_paths(out)
    assert not out.exists() and partial.exists()
    done = json.loads(journal.read_text())["records_durable"]
    assert 0 < done <= 15_000
    res = dio.save_npy(dpa.stream_augmentation_chain(40_000, MILD, start_id=3), out, hash=hash,
                       resume=True, batch_size=7777, direct=direct)
    assert res.resumed_from == done
    assert out.read_bytes() == npy_bytes(dpa.generate(range(3, 40_003), MILD, hash=hash))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("direct", [None, False])
def test_resume_with_multi_batch_write_buffers(tmp_path, monkeypatch, direct):
    """Default buffering (8 batches per write): the file holds whole writes when
    killed, and resuming gives the same bytes."""
    out = _killed_export(tmp_path, monkeypatch, n=200_000, batches_before_death=21,
                         buffer_batches=dio.WRITE_BUFFER_BATCHES, direct=direct)
    partial, journal = dio.partial_paths(out)
    done = json.loads(journal.read_text())["records_durable"]
    # Two buffers of 8 batches were handed to the writer; some of the first is durable.
    assert 0 < done <= 16 * 3000
    res = dio.save_npy(dpa.stream_augmentation_chain(200_000, MILD, start_id=3), out,
                       resume=True, direct=direct)
    assert res.resumed_from == done
    assert out.read_bytes() == npy_bytes(dpa.generate(range(3, 200_003), MILD))
    assert leftovers(tmp_path) == []


def test_export_buffer_records():
    assert dio.export_buffer_records(48, 64, 65_536) == 8 * 65_536
    assert dio.export_buffer_records(48, 1, 1000) == 8 * 1000
    # The budget bounds the two buffers: here only one batch each fits.
    assert dio.export_buffer_records(48, 7, 65_536) == 65_536
    assert dio.export_buffer_records(112, 16, 65_536) == 65_536


def test_resume_refusals(tmp_path, monkeypatch):
    out = _killed_export(tmp_path, monkeypatch)
    partial, journal = dio.partial_paths(out)
    with pytest.raises(dio.OutputError, match=r"interrupted export \(\d[\d,]* of 40,000 records\); rerun with --resume"):
        dio.save_npy(dpa.stream_augmentation_chain(40_000, MILD, start_id=3), out)
    with pytest.raises(dio.ResumeError, match="start_id=3 but this one has start_id=4"):
        dio.save_npy(dpa.stream_augmentation_chain(40_000, MILD, start_id=4), out, resume=True)
    with pytest.raises(dio.ResumeError, match="config="):
        dio.save_npy(dpa.stream_augmentation_chain(40_000, AGGRESSIVE, start_id=3), out, resume=True)
    with pytest.raises(dio.ResumeError, match="hash=false but this one has hash=true"):
        dio.save_npy(dpa.stream_augmentation_chain(40_000, MILD, start_id=3), out, hash=True, resume=True)
    saved = journal.read_text()
    journal.write_text("{not json")
    with pytest.raises(dio.ResumeError, match="p.npy.partial.json is unreadable"):
        dio.save_npy(dpa.stream_augmentation_chain(40_000, MILD, start_id=3), out, resume=True)
    journal.write_text(saved)
    with open(partial, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(dio.ResumeError, match="holds 1000 bytes but its journal records"):
        dio.save_npy(dpa.stream_augmentation_chain(40_000, MILD, start_id=3), out, resume=True)
    assert partial.exists() and not out.exists()  # refusals leave the partial file alone
    res = dio.save_npy(dpa.stream_augmentation_chain(40_000, MILD, start_id=3), out, force=True)
    assert res.resumed_from == 0 and leftovers(tmp_path) == []
    assert out.read_bytes() == npy_bytes(dpa.generate(range(3, 40_003), MILD))


def test_resume_without_partial_starts_afresh(tmp_path):
    res = dio.save_npy(dpa.stream_augmentation_chain(100, MILD), tmp_path / "p.npy", resume=True)
    assert res.resumed_from == 0 and res.count == 100


@pytest.mark.skipif(dio.fcntl is None, reason="no flock")
def test_a_second_writer_is_refused(tmp_path):
    out = tmp_path / "p.npy"
    partial, _ = dio.partial_paths(out)
    fd = os.open(partial, os.O_RDWR | os.O_CREAT)
    try:
        dio.fcntl.flock(fd, dio.fcntl.LOCK_EX)
        with pytest.raises(dio.OutputError, match="another process is writing"):
            dio.save_npy(dpa.stream_augmentation_chain(10, MILD), out, force=True)
    finally:
        os.close(fd)
    assert not out.exists()


# ---- load, blocks ----------------------------------------------------------------


def test_load_and_blocks(tmp_path):
    arr = dpa.generate(range(10_000), MILD, hash=True)
    np.save(tmp_path / "a.npy", arr)
    mm = dio.load(tmp_path / "a.npy")
    assert isinstance(mm, np.memmap) and not mm.flags.writeable
    assert mm.tobytes() == arr.tobytes()
    assert dio.load(tmp_path / "a.npy", mmap=False).tobytes() == arr.tobytes()
    got = [(i, b.copy()) for i, b in dio.iter_npy_blocks(tmp_path / "a.npy", 3000)]
    assert [i for i, _ in got] == [0, 3000, 6000, 9000]
    assert np.concatenate([b for _, b in got]).tobytes() == arr.tobytes()


def test_load_errors(tmp_path):
    with pytest.raises(dio.InputError, match="no such file"):
        dio.load(tmp_path / "missing.npy")
    (tmp_path / "t.txt").write_text("hello")
    with pytest.raises(dio.InputError, match="not a .npy file"):
        dio.load(tmp_path / "t.txt")
    np.save(tmp_path / "m.npy", np.zeros((2, 2)))
    with pytest.raises(dio.InputError, match="expected a 1-D array"):
        dio.load(tmp_path / "m.npy")
    np.save(tmp_path / "c.npy", dpa.generate(range(100), MILD))
    data = (tmp_path / "c.npy").read_bytes()
    (tmp_path / "c.npy").write_bytes(data[:-50])
    with pytest.raises(dio.InputError, match="truncated: the header announces 100 records"):
        dio.load(tmp_path / "c.npy")
    with pytest.raises(dio.InputError, match="truncated"):
        dio.compute_stats(tmp_path / "c.npy")


# ---- statistics ------------------------------------------------------------------


def _records(values: np.ndarray) -> np.ndarray:
    rec = np.zeros(len(values), dpa.PARAM_DTYPE)
    for f in dpa.FIELDS:
        rec[f] = values
    return rec


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).uniform(-45, 45, 70_000),
        np.random.default_rng(2).normal(0, 1, 5000) * 10.0 ** np.random.default_rng(3).integers(-300, 300, 5000),
        np.array([1e-310, 2e-320, -3e-315, 5e-324]),
        np.array([1e300, -1e300, 1.5e300, 3.0]),
        np.array([0.1] * 7),
        np.array([2.5, 2.5]),
        np.array([-0.0, 0.0, 1.0]),
    ],
    ids=["uniform", "all-magnitudes", "subnormal", "huge", "constant", "pair", "zeros"],
)
def test_exact_stats_equal_statistics_module(tmp_path, values):
    """Mean and stdev are correctly rounded, as Python's statistics module computes them
    (exactly since 3.11: exact sums, correctly rounded square root), so == holds."""
    np.save(tmp_path / "v.npy", _records(values))
    got = dio.compute_stats(tmp_path / "v.npy", method="exact", block_records=3000)["noise"]
    xs = values.tolist()
    assert got["mean"] == statistics.mean(xs)
    assert got["stdev"] == statistics.stdev(xs)
    assert (got["min"], got["max"], got["count"]) == (min(xs), max(xs), len(xs))
    assert str(got["min"]) == str(min(xs))  # the sign of a zero too


def test_welford_stats_replay_dpa_streaming():
    values = np.random.default_rng(5).uniform(0.85, 1.15, 3001)
    acc = dio.StatsAccumulator(["rotation"], "welford")
    for a in range(0, 3001, 1000):
        acc.add(_records(values[a:a + 1000]))
    n, mean, m2 = 0, 0.0, 0.0
    for v in values.tolist():  # DPA's _compute_streaming_statistics, per value
        n += 1
        delta = v - mean
        mean += delta / n
        delta2 = v - mean
        m2 += delta * delta2
    got = acc.result()["rotation"]
    assert (got["mean"], got["stdev"]) == (mean, (m2 / (n - 1)) ** 0.5)


def _welford_in_python(values, n=0, mean=0.0, m2=0.0):
    for v in values:  # DPA's recurrence, with n a Python int
        n += 1
        delta = v - mean
        mean += delta / n
        m2 += delta * (v - mean)
    return n, mean, m2


def _same_float(a, b) -> bool:
    """Equal bit for bit (NaNs and the sign of zeros included)."""
    return np.float64(a).view(np.uint64) == np.float64(b).view(np.uint64)


_RNG = np.random.default_rng(17)
WELFORD_CASES = {
    "uniform": _RNG.uniform(-45, 45, 20_000),
    "all-magnitudes": _RNG.normal(0, 1, 4000) * 10.0 ** _RNG.integers(-300, 300, 4000),
    "subnormal": np.array([5e-324, -1e-310, 2e-320, 0.0, -0.0, 3e-315]),
    "extremes": np.array([1.7976931348623157e308, -1.7976931348623157e308, 1e308, -1e-300, 2.5]),
    "overflowing": np.array([-1.7976931348623157e308, 1.7976931348623157e308] * 3),
    "constant": np.full(1001, 0.1),
}


@pytest.mark.parametrize("name", list(WELFORD_CASES))
def test_welford_kernel_is_the_python_recurrence(name):
    """The compiled loop gives DPA's float64 results bit for bit, inf and NaN included."""
    from dpa import _core

    values = WELFORD_CASES[name]
    n, mean, m2 = _welford_in_python(values.tolist())
    got = _core.welford_update(values, 0.0, 0.0, 0.0)
    assert got[0] == n and _same_float(got[1], mean) and _same_float(got[2], m2)
    k = len(values) // 3  # continued from a state: the same as in one go
    state = _core.welford_update(values[:k], 0.0, 0.0, 0.0)
    state = _core.welford_update(values[k:], *state)
    assert state[0] == n and _same_float(state[1], mean) and _same_float(state[2], m2)
    empty = _core.welford_update(values[:0], *state)  # no values: the state as it was
    assert all(_same_float(a, b) for a, b in zip(empty, state))


@pytest.mark.parametrize("name", ["uniform", "all-magnitudes", "subnormal", "extremes"])
def test_welford_stats_of_a_file(tmp_path, name):
    values = WELFORD_CASES[name]
    np.save(tmp_path / "v.npy", _records(values))
    got = dio.compute_stats(tmp_path / "v.npy", method="welford", block_records=999)["contrast"]
    n, mean, m2 = _welford_in_python(values.tolist())
    assert _same_float(got["mean"], mean) and _same_float(got["stdev"], (m2 / (n - 1)) ** 0.5)
    assert (got["min"], got["max"], got["count"]) == (min(values), max(values), n)


def test_stats_small_and_bad(tmp_path):
    np.save(tmp_path / "e.npy", _records(np.array([])))
    assert dio.compute_stats(tmp_path / "e.npy")["rotation"] == {
        "mean": 0.0, "stdev": 0.0, "min": 0.0, "max": 0.0, "count": 0}
    np.save(tmp_path / "one.npy", _records(np.array([3.5])))
    assert dio.compute_stats(tmp_path / "one.npy")["scale"] == {
        "mean": 3.5, "stdev": 0.0, "min": 3.5, "max": 3.5, "count": 1}
    np.save(tmp_path / "nan.npy", _records(np.array([1.0, np.nan])))
    with pytest.raises(dio.InputError, match=r"nan.npy: record 1: field 'rotation' is not a finite number"):
        dio.compute_stats(tmp_path / "nan.npy")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(dio.InputError, match="holds none of DPA's fields"):
        dio.compute_stats(tmp_path / "plain.npy")
    with pytest.raises(dio.InputError, match=r"has no field\(s\) \['spin'\]"):
        dio.compute_stats(tmp_path / "one.npy", fields=["spin"])
    with pytest.raises(ValueError, match="method should be"):
        dio.compute_stats(tmp_path / "one.npy", method="median")


# ---- verification ----------------------------------------------------------------


def test_verify_reports_first_mismatch(tmp_path):
    out = tmp_path / "p.npy"
    dio.save_npy(dpa.stream_augmentation_chain(5000, MILD, start_id=100), out, hash=True)
    assert dio.verify_npy(out, block_records=999) == 5000
    arr = np.load(out, mmap_mode="r+")
    good = float(arr["brightness"][3210])
    arr["brightness"][3210] = np.nextafter(good, 2.0)
    arr["noise"][4000] = 0.0
    arr.flush()
    del arr
    with pytest.raises(dio.VerificationError) as info:
        dio.verify_npy(out, block_records=999)
    err = info.value
    assert (err.index, err.field, err.expected) == (3210, "brightness", good)
    assert err.found == np.nextafter(good, 2.0)
    assert f"record 3210 (sample id 3310): field 'brightness' is {err.found!r} in the file but {good!r}" in str(err)
    assert err.exit_status == 3
    os.unlink(dio.provenance_path(out))
    with pytest.raises(dio.InputError, match="no provenance"):
        dio.verify_npy(out)


# ---- provenance of distributed streams ---------------------------------------------

#: Rank 1 of 3 over 1000 samples: ids 334 .. 666 (333 of them; "pad" adds one).
N, RANK, WORLD = 1000, 1, 3
#: The provenance keys that say which records a file holds.
SEEDING_KEYS = ("scheme", "rank", "base_seed", "epoch", "prefix", "start_id", "count", "step",
                "ids", "ids_sha256")


def _sha(ids) -> str:
    return hashlib.sha256(np.asarray(ids, dtype="<i8").tobytes()).hexdigest()


DIST_CASES = {
    # name: (stream keywords, expected seeding keys, the records of ids)
    "philox-epoch-params": (
        dict(scheme="philox", base_seed=5, epoch=3, epoch_params=True),
        {"scheme": "philox", "base_seed": 5, "epoch": 3},
        lambda ids: dpa.generate(ids, MILD, scheme="philox", base_seed=5, epoch=3)),
    "philox-fixed-params": (
        dict(scheme="philox", base_seed=5, epoch=3),
        {"scheme": "philox", "base_seed": 5, "epoch": 0},
        lambda ids: dpa.generate(ids, MILD, scheme="philox", base_seed=5, epoch=0)),
    "sample-seed0": (
        dict(seeding="sample"),
        {"scheme": "dpa"},
        lambda ids: dpa.generate(ids, MILD, hash=True)),
    "sample-seed7": (
        dict(seeding="sample", base_seed=7),
        {"scheme": "dpa", "prefix": "7::"},
        lambda ids: generate_seeded(ids, MILD, dpa.Seeding(prefix=b"7::"), hash=True)),
    "sample-seed7-strided": (
        dict(seeding="sample", base_seed=7, split="strided"),
        {"scheme": "dpa", "prefix": "7::"},
        lambda ids: generate_seeded(ids, MILD, dpa.Seeding(prefix=b"7::"), hash=True)),
    "rank": (
        dict(base_seed=4),
        {"scheme": "dpa", "rank": 1, "base_seed": 4},
        lambda ids: dpa.generate(ids, MILD, rank=1, base_seed=4, hash=True)),
    "rank-epoch-params": (
        dict(base_seed=4, epoch=2, epoch_params=True),
        {"scheme": "dpa", "prefix": "4:1:2:"},
        lambda ids: generate_seeded(ids, MILD, dpa.Seeding(prefix=b"4:1:2:"), hash=True)),
    "shuffled-padded-dpa": (
        dict(base_seed=4, epoch=2, shuffle=True, uneven="pad"),
        {"scheme": "dpa", "rank": 1, "base_seed": 4},
        lambda ids: dpa.generate(ids, MILD, rank=1, base_seed=4, hash=True)),
    "shuffled-padded-philox": (
        dict(scheme="philox", base_seed=4, epoch=2, epoch_params=True, shuffle=True, uneven="pad"),
        {"scheme": "philox", "base_seed": 4, "epoch": 2},
        lambda ids: dpa.generate(ids, MILD, scheme="philox", base_seed=4, epoch=2)),
}


@pytest.mark.parametrize("name", list(DIST_CASES))
def test_distributed_export_provenance_verifies(tmp_path, name):
    kwargs, seeding, records = DIST_CASES[name]
    stream = dist_stream(N, RANK, WORLD, MILD, **kwargs)
    ids = stream.ids
    hash = stream.scheme == "dpa"
    out = tmp_path / "p.npy"
    dio.save_npy(stream, out, hash=hash, batch_size=100)
    want = records(ids)
    assert out.read_bytes() == npy_bytes(want)
    assert stream.seeding_provenance() == seeding

    prov = dio.read_provenance(out)
    expected = dict(seeding)
    if isinstance(ids, range):
        expected.update(start_id=ids.start, count=len(ids))
        if ids.step != 1:
            expected["step"] = ids.step
    else:
        assert ids.dtype == np.int64 and len(np.unique(ids)) == len(ids) == 334  # 333 + a pad
        expected.update(ids="sample_id", ids_sha256=_sha(ids), count=len(ids))
    assert {k: prov[k] for k in SEEDING_KEYS if k in prov} == expected
    assert prov["hash"] is hash and prov["count"] == len(want) == (334 if "padded" in name else 333)
    assert dio.verify_npy(out, block_records=97) == len(want)

    k = 200
    arr = np.load(out, mmap_mode="r+")
    good = float(arr["rotation"][k])
    arr["rotation"][k] = np.nextafter(good, np.inf)
    arr.flush()
    del arr
    with pytest.raises(dio.VerificationError) as info:
        dio.verify_npy(out, block_records=97)
    err = info.value
    assert (err.index, err.field, err.expected) == (k, "rotation", good)
    assert f"record {k} (sample id {ids[k]}): field 'rotation'" in str(err)


def test_verify_checks_the_id_list_of_an_array_id_export(tmp_path):
    stream = dist_stream(N, RANK, WORLD, MILD, base_seed=4, epoch=2, shuffle=True, uneven="pad")
    ids = stream.ids.copy()
    out = tmp_path / "p.npy"
    dio.save_npy(stream, out, hash=True)
    side = dio.provenance_path(out)
    good_prov = side.read_text()

    def with_prov(**changes):
        prov = json.loads(good_prov)
        for key, value in changes.items():
            if value is None:
                prov.pop(key, None)
            else:
                prov[key] = value
        side.write_text(json.dumps(prov))

    other = hashlib.sha256(b"other ids").hexdigest()
    with_prov(ids_sha256=other)
    with pytest.raises(dio.VerificationError, match=f"its SHA-256 is {_sha(ids)} but the provenance's ids_sha256 is {other}") as info:
        dio.verify_npy(out, block_records=50)
    assert (info.value.field, info.value.found, info.value.expected) == ("sample_id", _sha(ids), other)
    with_prov(ids_sha256=None)
    with pytest.raises(dio.InputError, match="no valid ids_sha256"):
        dio.verify_npy(out)
    with_prov(ids_sha256="ABC")
    with pytest.raises(dio.InputError, match="no valid ids_sha256"):
        dio.verify_npy(out)
    with_prov(ids="positions")
    with pytest.raises(dio.InputError, match=r'ids="positions"; the only known value is "sample_id"'):
        dio.verify_npy(out)
    with_prov(ids=None, ids_sha256=None)
    with pytest.raises(dio.InputError, match="provenance has neither start_id nor ids"):
        dio.verify_npy(out)
    side.write_text(good_prov)
    assert dio.verify_npy(out, block_records=50) == len(ids)

    # Two records swapped: each is right for its own id, but the id list is not the export's.
    arr = np.load(out, mmap_mode="r+")
    first, second = arr[5].copy(), arr[90].copy()
    arr[5], arr[90] = second, first
    arr.flush()
    with pytest.raises(dio.VerificationError, match="the sample_id column is not the exported id list"):
        dio.verify_npy(out, block_records=50)
    arr[5], arr[90] = first, second
    # One sample id changed: its record's parameters are not that id's.
    arr["sample_id"][7] = ids[7] + 1
    arr.flush()
    with pytest.raises(dio.VerificationError) as info:
        dio.verify_npy(out, block_records=50)
    assert (info.value.index, info.value.field) == (7, "rotation")
    assert f"record 7 (sample id {ids[7] + 1}): field 'rotation'" in str(info.value)
    arr["sample_id"][7] = -3
    arr.flush()
    with pytest.raises(dio.VerificationError, match="record 7: sample_id -3 is not a sample id") as info:
        dio.verify_npy(out, block_records=50)
    assert (info.value.index, info.value.field) == (7, "sample_id")
    arr["sample_id"][7] = ids[7]
    arr.flush()
    del arr
    assert dio.verify_npy(out, block_records=50) == len(ids)


def test_verify_rejects_provenance_seeding_it_cannot_use(tmp_path):
    out = tmp_path / "p.npy"
    dio.save_npy(dist_stream(N, RANK, WORLD, MILD, seeding="sample", base_seed=7), out)
    side = dio.provenance_path(out)
    good = json.loads(side.read_text())
    for changes, match in [
        ({"scheme": "philox"}, "provenance has a prefix, which only scheme 'dpa' hashes"),
        ({"rank": 1}, "provenance has both a prefix and rank"),
        ({"prefix": 7}, "provenance prefix should be a string"),
        ({"prefix": "7\u00e9:"}, "is not ASCII"),
        ({"prefix": None, "scheme": "philox", "rank": 1}, "provenance seeding is invalid: rank does not apply"),
        ({"prefix": None, "start_id": None}, "provenance has neither start_id nor ids"),
        ({"prefix": None, "step": 0}, "provenance step should be a non-zero integer"),
    ]:
        prov = {**good, **changes}
        side.write_text(json.dumps({k: v for k, v in prov.items() if v is not None}))
        with pytest.raises(dio.InputError, match=match):
            dio.verify_npy(out)
    side.write_text(json.dumps(good))
    assert dio.verify_npy(out) == 333


def test_resume_refuses_another_seeding_or_id_list(tmp_path, monkeypatch):
    def make(**kw):  # rank 1 of 2 over 40,000 samples
        return dist_stream(40_000, 1, 2, MILD, **kw)

    (tmp_path / "a").mkdir()
    out = _killed_export(tmp_path / "a", monkeypatch, stream=make(seeding="sample", base_seed=7),
                         batch_size=2000)
    partial, _ = dio.partial_paths(out)
    for other, match in [
        (make(seeding="sample", base_seed=8), 'prefix="7::" but this one has prefix="8::"'),
        (make(seeding="sample", base_seed=7, epoch=1, epoch_params=True),
         'prefix="7::" but this one has prefix="7::1:"'),
        (make(seeding="sample"), 'prefix="7::" but this one has prefix=null'),
        (make(base_seed=7), "rank=null but this one has rank=1"),
        (make(scheme="philox", base_seed=7), 'scheme="dpa" but this one has scheme="philox"'),
    ]:
        with pytest.raises(dio.ResumeError, match=match):
            dio.save_npy(other, out, resume=True)
        assert partial.exists() and not out.exists()
    res = dio.save_npy(make(seeding="sample", base_seed=7), out, resume=True)
    assert res.resumed_from > 0
    assert out.read_bytes() == npy_bytes(generate_seeded(range(20_000, 40_000), MILD, dpa.Seeding(prefix=b"7::")))
    assert dio.verify_npy(out) == 20_000

    (tmp_path / "b").mkdir()
    shuffled = dict(scheme="philox", base_seed=7, shuffle=True, epoch=3)
    out = _killed_export(tmp_path / "b", monkeypatch, batch_size=2000,
                         stream=make(**shuffled, epoch_params=True))
    partial, _ = dio.partial_paths(out)
    for other, match in [
        (make(**{**shuffled, "epoch": 4}, epoch_params=True), "ids_sha256="),
        (make(**shuffled), "epoch=3 but this one has epoch=0"),
        (make(**{**shuffled, "shuffle": False}, epoch_params=True),
         "start_id=null but this one has start_id=20000"),
    ]:
        with pytest.raises(dio.ResumeError, match=match):
            dio.save_npy(other, out, resume=True)
        assert partial.exists() and not out.exists()
    stream = make(**shuffled, epoch_params=True)
    ids = stream.ids.copy()
    res = dio.save_npy(stream, out, resume=True, batch_size=3333)
    assert res.resumed_from > 0
    assert out.read_bytes() == npy_bytes(dpa.generate(ids, MILD, scheme="philox", base_seed=7,
                                                      epoch=3))
    assert dio.read_provenance(out)["ids_sha256"] == _sha(ids)
    assert dio.verify_npy(out) == 20_000


def test_plain_stream_provenance_is_unchanged(tmp_path):
    """A ParamStream's provenance keys, in order, as before distributed streams had their own."""
    tail = ["hash", "fields", "dtype", "npy_header_bytes", "npy_bytes", "dpa_version", "created"]
    head = ["format", "producer", "scheme", "config", "start_id", "count"]
    for stream, keys, seeding in [
        (dpa.stream_augmentation_chain(100, MILD, start_id=5), head, {"scheme": "dpa"}),
        (dpa.ParamStream(range(3, 500), MILD, rank=2, base_seed=7), head + ["rank", "base_seed"],
         {"scheme": "dpa", "rank": 2, "base_seed": 7}),
        (dpa.ParamStream(range(0, 10_000, 3), MILD, scheme="philox", base_seed=9, epoch=4),
         head + ["step", "base_seed", "epoch"], {"scheme": "philox", "base_seed": 9, "epoch": 4}),
    ]:
        assert stream.seeding_provenance() == seeding
        out = tmp_path / "p.npy"
        dio.save_npy(stream, out, force=True)
        prov = dio.read_provenance(out)
        assert list(prov) == keys + tail
        assert {k: prov[k] for k in SEEDING_KEYS if k in prov} == {
            **seeding, "start_id": stream.ids.start, "count": len(stream.ids),
            **({"step": 3} if stream.ids.step == 3 else {})}
        assert dio.verify_npy(out) == len(stream.ids)
    # DPA's rank/world_size delegation: start_id is the base seed of DPA's rank seeding.
    delegated = dpa.stream_augmentation_chain(100, MILD, start_id=11, rank=1, world_size=2)
    assert delegated.seeding_provenance() == {"scheme": "dpa", "rank": 1, "base_seed": 11}


# ---- JSON conversion -------------------------------------------------------------


@pytest.mark.parametrize("name, start, method", SAMPLES)
@pytest.mark.parametrize("chunk", [None, 97])
def test_convert_dpa_files(tmp_path, monkeypatch, name, start, method, chunk):
    if chunk:  # windows smaller than a record: every value straddles a boundary somewhere
        monkeypatch.setattr(dio.jsonread, "_JSON_CHUNK", chunk)
    src = vectors_dir() / name
    data = sample(name)
    out = tmp_path / "c.npy"
    res = dio.convert_json(src, out, start_id=start, verify=True)
    arr = dio.load(out)
    recs = data["augmentations"]
    assert res.count == len(recs) == len(arr) and arr.dtype == dpa.PARAM_HASH_DTYPE
    assert arr["sample_id"].tolist() == list(range(start, start + len(recs)))
    for f in dpa.FIELDS:
        assert arr[f].tolist() == [r[f] for r in recs]  # bit-exact floats
    assert [h.decode() for h in arr["hash"]] == [r["hash"] for r in recs]
    assert dio.compute_stats(out) == data["statistics"]  # method chosen from the provenance
    assert dio.compute_stats(out, method=method) == data["statistics"]
    prov = dio.read_provenance(out)
    assert prov["source"]["statistics"] == data["statistics"]
    assert prov["source"]["metadata"] == data["metadata"] and prov["verified"] is True
    assert prov["config"] == data["metadata"]["config"] and prov["start_id"] == start
    assert dio.verify_npy(out) == len(recs)


def test_dpa_statistics_are_what_the_savers_computed():
    """The chain file's block is statistics.mean/stdev; the stream file's is Welford's."""
    for name, _, method in SAMPLES:
        data = sample(name)
        for f, block in data["statistics"].items():
            xs = [r[f] for r in data["augmentations"]]
            exact = (statistics.mean(xs), statistics.stdev(xs)) == (block["mean"], block["stdev"])
            assert exact == (method == "exact")


def _write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_convert_jsonl_array_and_unstatted_stream_layout(tmp_path):
    data = sample(STREAM)
    recs = data["augmentations"]
    want = dpa.generate(range(1000, 1150), MILD, hash=True)
    _write_lines(tmp_path / "r.jsonl", recs)
    dio.convert_json(tmp_path / "r.jsonl", tmp_path / "a.npy", start_id=1000, config=MILD, verify=True)
    assert (tmp_path / "a.npy").read_bytes() == npy_bytes(want)
    assert dio.read_provenance(tmp_path / "a.npy")["source"]["format"] == "json-lines"
    # A bare array of records, no hash kept.
    (tmp_path / "r.json").write_text(json.dumps(recs))
    dio.convert_json(tmp_path / "r.json", tmp_path / "b.npy", start_id=1000, hash=False)
    assert dio.load(tmp_path / "b.npy").tobytes() == dpa.generate(range(1000, 1150), MILD).tobytes()
    # save_augmentation_stream without statistics: one record per line, num_samples null.
    text = ('{\n  "metadata": {\n    "num_samples": null,\n    "config": '
            + json.dumps(data["metadata"]["config"]) + ',\n    "streaming": true\n  },\n'
            '  "augmentations": [\n' + ",\n".join("    " + json.dumps(r) for r in recs)
            + "\n  ]\n}\n")
    (tmp_path / "s.json").write_text(text)
    dio.convert_json(tmp_path / "s.json", tmp_path / "c.npy", start_id=1000, verify=True)
    assert (tmp_path / "c.npy").read_bytes() == npy_bytes(want)
    # Records that carry their sample id must agree with --start-id.
    _write_lines(tmp_path / "ids.jsonl", [dict(r, sample_id=1000 + i) for i, r in enumerate(recs)])
    dio.convert_json(tmp_path / "ids.jsonl", tmp_path / "d.npy", start_id=1000)
    with pytest.raises(dio.InputError, match=r"line 1 \(record 0\): sample_id is 1000 but --start-id"):
        dio.convert_json(tmp_path / "ids.jsonl", tmp_path / "e.npy", start_id=0)


def test_convert_memory_is_bounded_by_the_window(tmp_path, monkeypatch):
    """The JSON window never grows with the file: here 4 KiB windows over 800 KiB."""
    monkeypatch.setattr(dio.jsonread, "_JSON_CHUNK", 4096)
    recs = dpa.records.records_to_dicts(dpa.generate(range(3000), MILD, hash=True))
    text = json.dumps({"metadata": {"num_samples": 3000, "config": MILD.to_dict()},
                       "augmentations": recs}, indent=2)
    (tmp_path / "big.json").write_text(text)
    sizes = []
    real = dio._JsonText._more

    def more(self, want=None):
        r = real(self, want)
        sizes.append(len(self.buf))
        return r

    monkeypatch.setattr(dio._JsonText, "_more", more)
    dio.convert_json(tmp_path / "big.json", tmp_path / "b.npy", verify=True)
    assert len(text) > 200 * 4096 and max(sizes) <= 2 * 4096


def _dpa_text(recs, config=None, extra=""):
    config = MILD.to_dict() if config is None else config
    return json.dumps({"metadata": {"num_samples": len(recs), "config": config},
                       "augmentations": recs}, indent=2)[:-2] + extra + "\n}"


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda r: r[5].pop("noise"), r"record 5: field 'noise' is missing"),
        (lambda r: r[7].update(scale="1.0"), r"record 7: field 'scale' is not a number: '1.0'"),
        (lambda r: r[0].update(rotation=True), r"record 0: field 'rotation' is not a number: True"),
        (lambda r: r[9].update(contrast=None), r"record 9: field 'contrast' is not a number: None"),
        (lambda r: r[3].update(brightness=1e400), r"record 3: field 'brightness' is not a finite number"),
        (lambda r: r[2].update(hash="abc"), r"record 2: field 'hash' is not 64 lowercase hex digits"),
        (lambda r: r[4].update(hash="G" * 64), r"record 4: field 'hash' is not 64 lowercase hex digits"),
        (lambda r: r.__setitem__(6, [1, 2]), r"record 6: is list, not an object"),
    ],
)
def test_convert_bad_records(tmp_path, mutate, match):
    recs = sample(STREAM)["augmentations"][:20]
    mutate(recs)
    (tmp_path / "bad.json").write_text(_dpa_text(recs))
    with pytest.raises(dio.InputError, match=match):
        dio.convert_json(tmp_path / "bad.json", tmp_path / "o.npy", start_id=1000)
    assert list(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_convert_truncated_and_invalid_json(tmp_path, monkeypatch):
    monkeypatch.setattr(dio.jsonread, "_JSON_CHUNK", 256)
    text = (vectors_dir() / CHAIN).read_text()
    for cut in (1, 50, 900, 5000, len(text) // 2, len(text) - 700, len(text) - 3):
        (tmp_path / "t.json").write_text(text[:cut])
        with pytest.raises(dio.InputError, match="t.json: truncated JSON"):
            dio.convert_json(tmp_path / "t.json", tmp_path / "o.npy")
        assert not (tmp_path / "o.npy").exists() and leftovers(tmp_path) == []
    bad = text.replace('"noise": 0.0829462371430587,', '"noise": 0.0829462371430587', 1)
    line = text[:text.index('"noise": 0.0829462371430587')].count("\n") + 2
    (tmp_path / "i.json").write_text(bad)
    with pytest.raises(dio.InputError, match=rf"i.json: invalid JSON at line {line}, column \d+: Expecting ','"):
        dio.convert_json(tmp_path / "i.json", tmp_path / "o.npy")
    (tmp_path / "x.json").write_text(text + "{}")
    with pytest.raises(dio.InputError, match="extra data after the document"):
        dio.convert_json(tmp_path / "x.json", tmp_path / "o.npy")
    (tmp_path / "l.jsonl").write_text('{"rotation": 1}\n{"rotation": \n')
    with pytest.raises(dio.InputError, match=r"l.jsonl: line 2: invalid JSON"):
        dio.convert_json(tmp_path / "l.jsonl", tmp_path / "o.npy")
    (tmp_path / "n.json").write_text("hello")
    with pytest.raises(dio.InputError, match="not JSON"):
        dio.convert_json(tmp_path / "n.json", tmp_path / "o.npy")
    with pytest.raises(dio.InputError, match="no such file"):
        dio.convert_json(tmp_path / "missing.json", tmp_path / "o.npy")
    assert not (tmp_path / "o.npy").exists() and leftovers(tmp_path) == []


def test_convert_metadata_checks(tmp_path):
    recs = sample(STREAM)["augmentations"][:10]
    cfg = dict(MILD.to_dict(), rotation_range=[5, 1])
    (tmp_path / "c.json").write_text(_dpa_text(recs, cfg))
    with pytest.raises(dio.InputError, match="metadata.config is invalid: rotation_range should have low < high"):
        dio.convert_json(tmp_path / "c.json", tmp_path / "o.npy")
    (tmp_path / "m.json").write_text(_dpa_text(recs))
    with pytest.raises(dio.InputError, match=r"metadata.config differs from the config given \(rotation_range: \[-15, 15\] vs \[-45, 45\]\)"):
        dio.convert_json(tmp_path / "m.json", tmp_path / "o.npy", config=AGGRESSIVE)
    text = _dpa_text(recs).replace('"num_samples": 10', '"num_samples": 11')
    (tmp_path / "n.json").write_text(text)
    with pytest.raises(dio.InputError, match="metadata.num_samples is 11 but the file holds 10 records"):
        dio.convert_json(tmp_path / "n.json", tmp_path / "o.npy")
    (tmp_path / "z.json").write_text(json.dumps({"metadata": {"num_samples": 10, "config": None},
                                                 "augmentations": recs}))
    with pytest.raises(dio.InputError, match="cannot verify: the file carries no config"):
        dio.convert_json(tmp_path / "z.json", tmp_path / "o.npy", verify=True)
    dio.convert_json(tmp_path / "z.json", tmp_path / "o.npy", verify=True, start_id=1000, config=MILD)
    assert not any(p.name.startswith("o.npy.") and p.name != "o.npy.json" for p in tmp_path.iterdir())


def test_convert_verify_reports_mismatches(tmp_path):
    data = sample(CHAIN)
    with pytest.raises(dio.VerificationError, match=r"record 0 \(sample id 1\): field 'rotation' .* \(check --start-id"):
        dio.convert_json(vectors_dir() / CHAIN, tmp_path / "o.npy", start_id=1, verify=True)
    recs = data["augmentations"]
    recs[150]["scale"] = np.nextafter(recs[150]["scale"], 0.0)
    (tmp_path / "v.json").write_text(json.dumps(data, indent=2))
    with pytest.raises(dio.VerificationError) as info:
        dio.convert_json(tmp_path / "v.json", tmp_path / "o.npy", verify=True)
    assert (info.value.index, info.value.field, info.value.found) == (150, "scale", recs[150]["scale"])
    dio.convert_json(tmp_path / "v.json", tmp_path / "o.npy")  # without --verify it converts
    data = sample(CHAIN)
    data["statistics"]["noise"]["stdev"] += 1e-17
    (tmp_path / "s.json").write_text(json.dumps(data, indent=2))
    with pytest.raises(dio.VerificationError, match=r"statistics.noise.stdev is .* recomputed \(exact method\)"):
        dio.convert_json(tmp_path / "s.json", tmp_path / "o2.npy", verify=True)
    assert not (tmp_path / "o2.npy").exists()


def test_read_config(tmp_path):
    assert dio.read_config(vectors_dir() / CHAIN) == AGGRESSIVE
    (tmp_path / "c.json").write_text(json.dumps(MILD.to_dict()))
    assert dio.read_config(tmp_path / "c.json") == MILD
    dio.save_npy(dpa.stream_augmentation_chain(3, AGGRESSIVE), tmp_path / "p.npy")
    assert dio.read_config(tmp_path / "p.npy.json") == AGGRESSIVE
    (tmp_path / "bad.json").write_text(json.dumps(dict(MILD.to_dict(), noise_range=[1, 1])))
    with pytest.raises(dio.InputError, match="bad.json: the config is invalid: noise_range should have low < high"):
        dio.read_config(tmp_path / "bad.json")
    (tmp_path / "null.json").write_text('{"metadata": {"config": null}, "augmentations": []}')
    with pytest.raises(dio.InputError, match="metadata.config is null"):
        dio.read_config(tmp_path / "null.json")


@pytest.mark.skipif(not hasattr(statistics, "_float_sqrt_of_frac"), reason="Python < 3.11")
def test_correctly_rounded_square_root_of_a_ratio():
    rng = np.random.default_rng(11)
    for _ in range(3000):
        bits_n, bits_d = rng.integers(1, 400, 2)
        num = int(rng.integers(1, 2**62)) << int(bits_n)
        den = (int(rng.integers(1, 2**62)) << int(bits_d)) | 1
        assert dio._sqrt_ratio(num, den) == statistics._float_sqrt_of_frac(num, den)
    for num, den in ((4, 1), (1, 4), (2, 1), (1, 3), (10**400, 1), (1, 10**400)):
        assert dio._sqrt_ratio(num, den) == statistics._float_sqrt_of_frac(num, den)


def test_bench_rows(tmp_path, monkeypatch):
    """``dpa.bench.io.run`` (tiny sizes: the figures come from ``python -m dpa.bench``)."""
    from dpa.bench import io as bench_io

    monkeypatch.setattr(bench_io, "_QUICK", {"exports": [("dpa", 5000), ("philox", 20_000)],
                                              "convert": 300})
    rows = bench_io.run(quick=True, directory=tmp_path)
    assert [(r["name"], r["case"]) for r in rows] == [
        ("export", "dpa"), ("export", "philox"), ("iterate", "memmap-cold"),
        ("iterate", "memmap-warm"), ("iterate", "blocks-warm"), ("iterate", "stats-exact"),
        ("convert", "plain"), ("convert", "verify")]
    for r in rows:
        assert r["bench"] == "io" and r["per_s"] > 0 and r["peak_rss_mb"] > 0
    ex = rows[0]
    assert ex["limit"] in ("generate", "write") and ex["ratio"] > 0 and ex["direct_io"] in (True, False)
    assert list(tmp_path.iterdir()) == []  # everything written was removed
