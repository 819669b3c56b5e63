"""Sharded datasets without Dask: the format, the lazy view, verify, stats, resume, the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpa
import dpa.io as dio
from dpa.cli import main as cli_main
from dpa.io.manifest import MANIFEST_NAME, PLAN_NAME, DatasetPlan

ROOT = Path(__file__).resolve().parent.parent


def _stream(ids=range(10_000), **kw) -> dpa.ParamStream:
    return dpa.ParamStream(ids, kw.pop("config", dpa.get_preset("aggressive")), **kw)


def _single(tmp_path: Path, name: str, ids, hash=False, **kw) -> np.ndarray:
    path = tmp_path / f"{name}.npy"
    dio.save_npy(_stream(ids, **kw), path, hash=hash)
    return np.load(path)


SEEDINGS = {
    "dpa": {},
    "dpa-rank": {"rank": 3, "base_seed": 42},
    "dpa-sample-epoch": {"param_seeding": dpa.Seeding.for_rank("dpa", "sample", 0, 5, 2)},
    "philox": {"scheme": "philox", "base_seed": 2**64 - 5, "epoch": 7},
}


@pytest.mark.parametrize("seeding", SEEDINGS)
@pytest.mark.parametrize("ids,shard_records", [(range(10_000), 3000), (range(17, 40_017, 4), 2500),
                                               (range(5, 6), 4), (range(0), 100)])
def test_sharded_equals_single_file(tmp_path, seeding, ids, shard_records):
    kw = SEEDINGS[seeding]
    hash = seeding.startswith("dpa")
    res = dio.save_dataset(_stream(ids, **kw), tmp_path / "ds", hash=hash,
                           shard_records=shard_records)
    ref = _single(tmp_path, "one", ids, hash=hash, **kw)
    ds = dio.load(tmp_path / "ds")
    assert isinstance(ds, dio.Dataset)
    assert len(ds) == res.count == len(ids) and ds.dtype == ref.dtype and ds.ids == ids
    assert np.array_equal(ds[:], ref)
    assert len(ds.shards) == max(1, -(-len(ids) // shard_records))
    # Each shard alone: a plain .npy, the manifest's SHA-256, and verifiable by itself.
    for info in ds.shards:
        path = tmp_path / "ds" / info.file
        alone = np.load(path, mmap_mode="r")
        a = info.index * shard_records
        assert np.array_equal(alone, ref[a:a + shard_records])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == info.sha256
        assert dio.verify_npy(path) == info.count
    assert dio.verify_dataset(tmp_path / "ds") == len(ids)
    manifest = json.loads((tmp_path / "ds" / MANIFEST_NAME).read_text())
    assert manifest["format"] == "dpa-dataset/1" and manifest["count"] == len(ids)
    assert dpa.Seeding.from_dict(manifest["provenance"]) == ds.plan.seeding
    assert not (tmp_path / "ds" / PLAN_NAME).exists()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A 7-shard dataset of uneven last shard, and the same records in memory."""
    d = tmp_path_factory.mktemp("ds") / "ds"
    ids = range(100, 100 + 3 * 20_000, 3)
    dio.save_dataset(_stream(ids), d, shard_records=3_000)
    return dio.Dataset(d), dpa.generate(ids, dpa.get_preset("aggressive"))


@pytest.mark.parametrize("key", [0, 1, 2999, 3000, 19_999, -1, -3001, np.int64(4567)])
def test_dataset_int_index(dataset, key):
    ds, ref = dataset
    assert ds[key] == ref[key]


@pytest.mark.parametrize("key", [slice(None), slice(2999, 3001), slice(5, 19_000, 1234),
                                 slice(None, None, -1), slice(-5, 10, -2999), slice(7, 7),
                                 slice(100, 50), slice(-50, None), slice(0, 30_000, 6001)])
def test_dataset_slices(dataset, key):
    ds, ref = dataset
    assert np.array_equal(ds[key], ref[key])


@settings(max_examples=60, deadline=None)
@given(st.slices(20_000))
def test_dataset_any_slice(dataset, key):
    ds, ref = dataset
    assert np.array_equal(ds[key], ref[key])


def test_dataset_fancy_index_and_iteration(dataset):
    ds, ref = dataset
    idx = np.random.default_rng(3).integers(-len(ref), len(ref), size=(40, 25))
    assert np.array_equal(ds[idx], ref[idx])
    assert np.array_equal(ds[[5, 5, 19_999, 0]], ref[[5, 5, 19_999, 0]])
    mask = np.zeros(len(ref), bool)
    mask[::997] = True
    assert np.array_equal(ds[mask], ref[mask])
    assert np.array_equal(np.asarray(ds), ref)
    firsts = [i for i, _ in ds.blocks(1000)]
    assert firsts[:4] == [0, 1000, 2000, 3000] and firsts[-1] == 19_000
    assert np.array_equal(np.concatenate([b.copy() for _, b in ds.blocks(1000)]), ref)
    head = [rec for _, rec in zip(range(3), ds)]
    assert [r["sample_id"] for r in head] == [100, 103, 106]
    assert ds[:0].dtype == ref.dtype and len(ds[:0]) == 0


def test_dataset_pickles_as_a_path(dataset):
    import pickle

    ds, ref = dataset
    ds[::1000]  # opens every shard
    data = pickle.dumps(ds)
    assert len(data) < 20_000  # the manifest's contents, not the 960 kB of records
    again = pickle.loads(data)
    assert np.array_equal(again[5:9000:7], ref[5:9000:7]) and again.plan == ds.plan


@pytest.mark.parametrize("key,error", [(20_000, IndexError), (-20_001, IndexError),
                                       ([0, 20_000], IndexError), ("rotation", TypeError),
                                       (np.array([0.5]), IndexError),
                                       (np.ones(3, bool), IndexError)])
def test_dataset_bad_index(dataset, key, error):
    ds, _ = dataset
    with pytest.raises(error):
        ds[key]


def test_stats_of_dataset_equal_single_file(tmp_path):
    ids = range(1, 25_000, 2)
    dio.save_dataset(_stream(ids, scheme="philox"), tmp_path / "ds", shard_records=4_000)
    dio.save_npy(_stream(ids, scheme="philox"), tmp_path / "one.npy")
    for method in ("exact", "welford"):
        a = dio.dataset_stats_report(tmp_path / "ds", method=method)
        assert a.statistics == dio.compute_stats(tmp_path / "one.npy", method=method)
    full = dio.dataset_stats_report(tmp_path / "ds", verify=True, fields=["rotation"])
    assert full.verified == len(ids) and list(full.statistics) == ["rotation"]
    assert full.method == "exact"


# ---- integrity --------------------------------------------------------------------


@pytest.fixture
def small(tmp_path):
    d = tmp_path / "ds"
    dio.save_dataset(_stream(range(6_000)), d, shard_records=2_000)
    return d


def test_tampered_shard_fails_verify_naming_it(small):
    path = small / "shard-000001.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(dio.VerificationError, match=r"shard-000001\.npy: shard 1 has changed"):
        dio.verify_dataset(small)
    assert cli_main(["stats", str(small), "--verify", "-q"]) == 3


def test_missing_shard_fails_verify_and_read_naming_it(small, capsys):
    os.unlink(small / "shard-000002.npy")
    with pytest.raises(dio.VerificationError, match=r"shard-000002\.npy: shard 2 is missing"):
        dio.verify_dataset(small, records=False)
    ds = dio.load(small)
    assert ds[1999]["sample_id"] == 1999  # the shards that are there still read
    with pytest.raises(dio.InputError, match=r"shard 2 \(shard-000002\.npy\) is missing"):
        ds[3999:4001]
    assert cli_main(["stats", str(small), "--verify"]) == 3
    assert "shard-000002.npy" in capsys.readouterr().err


def test_shard_provenance_must_agree_with_manifest(small):
    side = small / "shard-000000.npy.json"
    prov = json.loads(side.read_text())
    prov["start_id"] = 1
    side.write_text(json.dumps(prov))
    with pytest.raises(dio.VerificationError, match=r"shard 0 is not the one the manifest "
                                                    r"describes: start_id=1, not 0"):
        dio.verify_dataset(small)


def test_without_manifest_the_dataset_is_incomplete_and_not_read(small, capsys):
    os.unlink(small / MANIFEST_NAME)
    for call in (dio.load, dio.Dataset, dio.verify_dataset, dio.dataset_stats_report):
        with pytest.raises(dio.InputError, match="incomplete dataset"):
            call(small)
    for argv in (["head", str(small)], ["stats", str(small)]):
        assert cli_main(argv) == 1
        assert "incomplete dataset" in capsys.readouterr().err
    with pytest.raises(dio.InputError, match="not a dpa dataset"):
        dio.load(small.parent)


@pytest.mark.parametrize("edit,match", [
    (lambda m: m.update(format="dpa-dataset/9"), "not a dpa dataset manifest"),
    (lambda m: m["shards"].pop(), "the layout has 3 shards but the manifest lists 2"),
    (lambda m: m["shards"][1].update(start_id=7), "shard 1 should have start_id=2000"),
    (lambda m: m["shards"][1].update(file="../x.npy"), "shard 1 should have file="),
    (lambda m: m["shards"][2].update(sha256="00"), "shard 2 has no valid sha256"),
    (lambda m: m["provenance"].update(dtype="<f8"), "contradicts itself: dtype"),
    (lambda m: m.update(shard_records=0), "shard_records should be positive"),
])
def test_invalid_manifest_is_an_input_error(small, edit, match):
    path = small / MANIFEST_NAME
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(dio.InputError, match=match):
        dio.load(small)


# ---- writing, refusing, resuming --------------------------------------------------


class _Interrupt:
    """A runner that stops (as Ctrl-C would) after ``after`` shards."""

    parallelism = 1
    task_threads = None

    def __init__(self, after: int) -> None:
        self.after = after

    def write_shards(self, directory, plan, options, indices):
        shards = dio.LocalRunner().write_shards(directory, plan, options, indices)
        for _ in range(self.after):
            yield next(shards)
        raise KeyboardInterrupt


def test_interrupted_export_resumes_keeping_verified_shards(tmp_path):
    d = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        dio.save_dataset(_stream(range(9_000)), d, shard_records=2_000, runner=_Interrupt(3))
    assert (d / PLAN_NAME).exists() and not (d / MANIFEST_NAME).exists()
    with pytest.raises(dio.InputError, match="incomplete dataset"):
        dio.load(d)
    with pytest.raises(dio.OutputError, match=r"interrupted sharded export \(3 of 5 shards\); "
                                              r"rerun with --resume"):
        dio.save_dataset(_stream(range(9_000)), d)
    with pytest.raises(dio.ResumeError, match="config="):
        dio.save_dataset(_stream(range(9_000), config=dpa.get_preset("mild")), d, resume=True)
    with pytest.raises(dio.ResumeError, match="shard_records=2000 but this one has "
                                              "shard_records=1000"):
        dio.save_dataset(_stream(range(9_000)), d, resume=True, shard_records=1000)
    # Shard 1 damaged meanwhile: it is written again; 0 and 2 are kept untouched.
    (d / "shard-000001.npy").write_bytes(b"junk")
    inodes = {k: os.stat(d / f"shard-00000{k}.npy").st_ino for k in (0, 2)}
    res = dio.save_dataset(_stream(range(9_000)), d, resume=True)
    assert [s.kept for s in res.shards] == [True, False, True, False, False]
    assert res.kept == 2 and res.written == 5_000
    assert {k: os.stat(d / f"shard-00000{k}.npy").st_ino for k in (0, 2)} == inodes
    assert np.array_equal(dio.load(d)[:], dpa.generate(range(9_000), dpa.get_preset("aggressive")))
    assert dio.verify_dataset(d) == 9_000 and not (d / PLAN_NAME).exists()


def test_directory_rules(tmp_path):
    with pytest.raises(dio.OutputError, match="does not exist"):
        dio.save_dataset(_stream(), tmp_path / "no" / "ds")
    (tmp_path / "file").write_text("x")
    with pytest.raises(dio.OutputError, match="not a directory"):
        dio.save_dataset(_stream(), tmp_path / "file")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    for force in (False, True):
        with pytest.raises(dio.OutputError, match="'notes.txt'"):
            dio.save_dataset(_stream(), tmp_path / "busy", force=force)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(dio.OutputError, match="symbolic link"):
        dio.save_dataset(_stream(), tmp_path / "link")
    assert os.listdir(tmp_path / "real") == []
    d = tmp_path / "real"  # an empty directory is fine
    dio.save_dataset(_stream(range(100)), d)
    with pytest.raises(dio.OutputError, match="complete dataset; pass --force"):
        dio.save_dataset(_stream(range(100)), d)
    with pytest.raises(dio.OutputError, match="complete dataset"):
        dio.save_dataset(_stream(range(100)), d, resume=True)
    res = dio.save_dataset(_stream(range(50), scheme="philox"), d, force=True, shard_records=20)
    assert sorted(os.listdir(d)) == sorted([MANIFEST_NAME] + [
        f"shard-00000{k}.npy{x}" for k in range(3) for x in ("", ".json")])
    assert res.kept == 0 and dio.load(d).plan.seeding.scheme == "philox"


def test_argument_checks(tmp_path):
    with pytest.raises(TypeError, match="ParamStream"):
        dio.save_dataset(np.zeros(3), tmp_path / "a")
    ids = np.arange(10, dtype=np.int64)
    with pytest.raises(TypeError, match="range of ids"):
        dio.save_dataset(dpa.ParamStream(ids), tmp_path / "a")
    with pytest.raises(ValueError, match="hash=True needs scheme='dpa'"):
        dio.save_dataset(_stream(scheme="philox"), tmp_path / "a", hash=True)
    with pytest.raises(ValueError, match="shard_records"):
        dio.save_dataset(_stream(), tmp_path / "a", shard_records=0)
    with pytest.raises(ValueError, match="max_memory_mb"):
        dio.save_dataset(_stream(), tmp_path / "a", options=dio.WriteOptions(max_memory_mb=1e-6))
    assert not (tmp_path / "a").exists()


def test_auto_shard_records():
    auto = DatasetPlan.auto_shard_records
    assert auto(0) == 1 and auto(1000) == 1000 and auto(100_000) == 65_536
    assert auto(5_000_000, 2) == 625_000  # 4 equal shards per thread
    assert auto(10**11, 200) == 1 << 23
    # at least a second of one thread's work, while every thread gets a shard
    assert auto(5_000_000, 2, 800.0) == 1_250_000
    assert auto(1_000_000, 2, 800.0) == 500_000
    assert auto(50_000_000, 2, 15.0) == 1 << 23
    assert auto(100_000, 2, 0.0) == 65_536


def test_consumed_stream_exports_the_rest(tmp_path):
    s = _stream(range(1000))
    next(s)
    res = dio.save_dataset(s, tmp_path / "ds", shard_records=300)
    assert res.count == 999 and dio.load(tmp_path / "ds").ids == range(1, 1000)
    assert s.remaining == 0


# ---- the command line -----------------------------------------------------------


def test_cli_export_shards_head_stats(tmp_path, capsys):
    d = str(tmp_path / "ds")
    assert cli_main(["export", "-o", d, "-n", "5000", "--shards", "--shard-records", "1500",
                     "--preset", "mild", "--hash", "--start-id", "10", "-q"]) == 0
    assert cli_main(["export", "-o", str(tmp_path / "one.npy"), "-n", "5000", "--preset", "mild",
                     "--hash", "--start-id", "10", "-q"]) == 0
    assert np.array_equal(dio.load(d)[:], np.load(tmp_path / "one.npy"))
    capsys.readouterr()
    assert cli_main(["head", d, "-n", "2", "--fields", "sample_id"]) == 0
    out = capsys.readouterr().out
    assert out.split() == ["sample_id", "10", "11", "...", "4,998", "more", "of", "5,000",
                           "records"]
    assert cli_main(["stats", d, "--json"]) == 0
    stats_dir = json.loads(capsys.readouterr().out)
    assert cli_main(["stats", str(tmp_path / "one.npy"), "--json"]) == 0
    assert stats_dir == json.loads(capsys.readouterr().out)
    assert cli_main(["stats", d, "--verify"]) == 0
    assert "all 5,000 records equal the core kernel's" in capsys.readouterr().out
    assert cli_main(["export", "-o", d, "-n", "5000", "--shards"]) == 1
    assert "complete dataset; pass --force" in capsys.readouterr().err
    assert cli_main(["export", "-o", d, "-n", "10", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler needs --shards" in capsys.readouterr().err
    assert cli_main(["export", "-o", d, "-n", "10", "--shards", "--force"]) == 0
    assert "wrote " in capsys.readouterr().out and len(dio.load(d)) == 10


def test_cli_export_killed_then_resumed(tmp_path):
    """SIGKILL of an in-process sharded export by its pid; ``--resume`` finishes it."""
    d = tmp_path / "ds"
    argv = [sys.executable, "-m", "dpa", "export", "-o", str(d), "-n", "1M", "--shards",
            "--shard-records", "50k", "--threads", "1", "-q"]
    proc = subprocess.Popen(argv, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not (d / "shard-000002.npy").exists() and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the export finished before it could be killed"
    assert not (d / MANIFEST_NAME).exists()
    # Ctrl-C of the resumed export: the shard being written is dropped, the others stay.
    before = set(d.glob("shard-*.npy"))
    proc = subprocess.Popen(argv + ["--resume"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    while not set(d.glob("shard-*.npy")) - before and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate()[1]
    assert proc.returncode == 130, err
    assert f"interrupted (SIGINT); {d} is incomplete (no manifest): rerun with --resume" in err
    assert not (d / MANIFEST_NAME).exists() and not list(d.glob("*.partial"))
    done = subprocess.run(argv[:-1] + ["--resume"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    kept = int(done.stdout.split("; ")[-1].split()[0])  # "...; K of 20 shards were ... kept)"
    assert len(before) + 1 <= kept < 20 and "of 20 shards were complete and kept" in done.stdout
    ds = dio.load(d)
    assert dio.verify_dataset(d, records=False) == 1_000_000
    assert np.array_equal(ds[::997], dpa.generate(range(0, 1_000_000, 997)))


# ---- without the dask extra -------------------------------------------------------

_NO_DASK = "import sys; sys.modules.update(dask=None, distributed=None); "


def _without_dask(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _NO_DASK + code], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_without_dask_import_works_and_sharded_commands_name_the_extra(tmp_path):
    done = _without_dask(
        "import dpa, dpa.io, dpa.cli\n"
        "try:\n    import dpa.dask\nexcept ImportError as e:\n    print('IMPORT', e)\n"
        "from dpa.cli import main\n"
        "print('RC', main(['export', '-o', 'd1', '-n', '100', '--shards', '--local-workers', '2']))\n"
        "print('RC', main(['export', '-o', 'd2', '-n', '100', '--shards', '--scheduler', 'x:1']))\n"
        "print('RC', main(['export', '-o', 'd3', '-n', '100', '--shards', '-q']))\n"
        "print('LEN', len(dpa.io.load('d3')))\n"
        "from dpa.bench.__main__ import main as bench\n"
        "print('RC', bench(['--quick', '--only', 'scale']))\n"
        "print('DASK', sorted(m for m in sys.modules if m.startswith(('dask', 'distributed'))"
        " and sys.modules[m] is not None))\n", tmp_path)
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, err
    assert "IMPORT dpa.dask needs Dask, which is not installed: install the extra with " \
           "pip install 'dpa-augment[dask]'" in out
    assert out.count("RC 2") == 2 and "RC 0" in out and "LEN 100" in out
    assert "--local-workers needs Dask" in err and "--scheduler needs Dask" in err
    assert err.count("pip install 'dpa-augment[dask]'") == 2
    assert "[scale] skipped: ImportError: dpa.dask needs Dask" in out and "RC 1" in out
    assert "DASK []" in out
    assert not (tmp_path / "d1").exists() and not (tmp_path / "d2").exists()


# ---- staging buffers reused from file to file ---------------------------------------


def test_staging_buffers_are_reused_from_file_to_file(tmp_path):
    """A process writing shard after shard reuses one pair of staging buffers
    (fresh pages are what costs on virtual machines); a buffer a caller still
    holds a view of is never reused; a forked child starts with none."""
    import threading

    from dpa.io import buffers

    buffers.POOL.reset()
    ids = range(200_000)
    dio.save_npy(_stream(ids, scheme="philox"), tmp_path / "a.npy")
    kept = list(buffers.POOL._free)
    assert len(kept) == 2
    held = []
    dio.save_npy(_stream(ids, scheme="philox"), tmp_path / "b.npy", on_batch=held.append)
    viewed = {id(v.base.obj) for v in held}
    assert viewed and not viewed & {id(m) for m in buffers.POOL._free}  # not kept while viewed
    first = held[0].copy()
    dio.save_npy(_stream(range(10**6, 10**6 + 200_000), scheme="philox"), tmp_path / "c.npy")
    assert np.array_equal(held[0], first)  # nobody wrote into the buffer that is still viewed
    del held
    ref = dpa.generate(ids, dpa.get_preset("aggressive"), scheme="philox")
    for name in ("a", "b"):
        assert np.array_equal(np.load(tmp_path / f"{name}.npy"), ref)
    dio.save_npy(_stream(ids, scheme="philox"), tmp_path / "d.npy")
    again = list(buffers.POOL._free)
    dio.save_npy(_stream(ids, scheme="philox"), tmp_path / "e.npy")
    assert sorted(map(id, buffers.POOL._free)) == sorted(map(id, again))  # the same two
    assert np.array_equal(np.load(tmp_path / "e.npy"), ref)
    # Two exports at once (a worker with two threads): both pairs are kept for the next two.
    barrier = threading.Barrier(2, timeout=60)

    def export(k: int) -> None:
        first = [True]

        def meet(_records) -> None:  # both exports hold their buffers from here on
            if first[0]:
                first[0] = False
                barrier.wait()

        dio.save_npy(_stream(ids, scheme="philox"), tmp_path / f"t{k}.npy", on_batch=meet)

    threads = [threading.Thread(target=export, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert buffers.POOL.peak == 4 and len(buffers.POOL._free) == 4
    for k in range(2):
        assert np.array_equal(np.load(tmp_path / f"t{k}.npy"), ref)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(w, str(len(buffers.POOL._free)).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(r, 8) == b"0"
    os.close(r)
    os.close(w)
