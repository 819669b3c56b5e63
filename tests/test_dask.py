"""Dask arrays of records and sharded exports on a LocalCluster (loopback only)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import dpa  # noqa: E402
import dpa.dask as dd  # noqa: E402
import dpa.io as dio  # noqa: E402
from dpa.io.manifest import MANIFEST_NAME  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG = dpa.get_preset("mild")

#: Every kind of seeding, as keywords of dpa.generate or as a Seeding value.
SEEDINGS = {
    "dpa": {},
    "dpa-rank": {"rank": 2, "base_seed": 17},
    "dpa-sample": {"param_seeding": dpa.Seeding.for_rank("dpa", "sample", 0, 9)},
    "dpa-rank-epoch": {"param_seeding": dpa.Seeding.for_rank("dpa", "rank", 1, 3, 4)},
    "philox": {"scheme": "philox"},
    "philox-key-epoch": {"scheme": "philox", "base_seed": 2**63 + 11, "epoch": 5},
}


def _reference(ids, seeding: dict, hash=False) -> np.ndarray:
    kw = dict(seeding)
    value = kw.pop("param_seeding", None)
    if value is None:
        value = dpa.Seeding.from_args(kw.get("scheme", "dpa"), kw.get("rank"),
                                      kw.get("base_seed", 0), kw.get("epoch", 0))
    return dpa.ParamStream(ids if isinstance(ids, range) else np.asarray(ids, np.int64), CONFIG,
                           param_seeding=value).generate(ids, hash=hash)


@pytest.fixture(scope="module")
def client():
    """One LocalCluster of 2 single-threaded worker processes for the module."""
    with dd.cluster_client(local_workers=2) as c:
        yield c


_IDS = {
    "range": range(3000),
    "stepped": range(10**12 + 5, 10**12 + 5 + 7 * 2500, 7),
    "reversed": range(5000, 0, -3),
    "array": np.random.default_rng(5).integers(0, 2**62, 2345),
}


@pytest.mark.parametrize("seeding", SEEDINGS)
@pytest.mark.parametrize("kind", _IDS)
def test_dask_array_equals_generate(seeding, kind):
    ids = _IDS[kind]
    hash = not seeding.startswith("philox")
    x = dd.generate(ids, CONFIG, chunks=700, hash=hash, **SEEDINGS[seeding])
    assert x.dtype == dpa.record_dtype(hash) and x.shape == (len(ids),)
    assert x.numblocks == (-(-len(ids) // 700),)
    ref = _reference(ids, SEEDINGS[seeding], hash)
    assert np.array_equal(x.compute(scheduler="threads"), ref)
    assert np.array_equal(x[1234:2345:5].compute(scheduler="sync"), ref[1234:2345:5])


def test_dask_array_of_ids_keeps_its_chunks(client):
    ids = np.random.default_rng(1).permutation(50_000).astype(np.int64)
    ids[::7] = ids[0]  # duplicates too
    dids = da.from_array(ids, chunks=(9000,))
    x = dd.generate(dids, CONFIG, scheme="philox", base_seed=3)
    assert x.chunks == dids.chunks
    ref = dpa.generate(ids, CONFIG, scheme="philox", base_seed=3)
    assert np.array_equal(client.compute(x).result(), ref)  # made in the worker processes
    assert np.array_equal(dd.generate(dids.astype(np.uint32), CONFIG, scheme="philox",
                                      base_seed=3).compute(), ref)


def test_dask_array_on_the_cluster_and_reductions(client):
    ids = range(7, 7 + 3 * 200_000, 3)
    x = dd.generate(ids, CONFIG, chunks=(50_000, 60_000, 90_000))
    ref = dpa.generate(ids, CONFIG)
    assert x.chunks == ((50_000, 60_000, 90_000),)
    assert np.array_equal(client.compute(x).result(), ref)
    assert client.compute(x["rotation"].sum()).result() == pytest.approx(ref["rotation"].sum())
    assert dd.generate(range(0)).compute().shape == (0,)
    # The same call is the same graph (deterministic keys); another seeding is not.
    same = dict(chunks=(50_000, 60_000, 90_000))
    assert dd.generate(ids, dpa.get_preset("mild"), **same).name == x.name
    assert dd.generate(ids, CONFIG, rank=0, **same).name != x.name


def test_dask_array_argument_checks():
    with pytest.raises(ValueError, match="hash=True needs scheme='dpa'"):
        dd.generate(range(5), scheme="philox", hash=True)
    with pytest.raises(ValueError, match="not both"):
        dd.generate(range(5), param_seeding=dpa.Seeding(), scheme="philox")
    with pytest.raises(ValueError, match="non-negative"):
        dd.generate(range(-1, 5))
    with pytest.raises(TypeError, match="1-D dask array of integers"):
        dd.generate(da.zeros(4, dtype=float))
    with pytest.raises(TypeError, match="config"):
        dd.generate(range(5), config={"rotation_range": (0, 1)})
    with pytest.raises(TypeError, match="client should be a distributed.Client"):
        dd.ClientRunner("tcp://127.0.0.1:1")


# ---- sharded export on the cluster ----------------------------------------------


@pytest.mark.parametrize("scheme,ids,hash", [("dpa", range(40_000), True),
                                             ("philox", range(11, 11 + 5 * 70_000, 5), False)])
def test_cluster_export_equals_single_file(client, tmp_path, scheme, ids, hash):
    stream = dpa.ParamStream(ids, CONFIG, scheme=scheme)
    calls = []
    res = dio.save_dataset(stream, tmp_path / "ds", hash=hash, shard_records=9_000,
                           runner=dd.ClientRunner(client), progress=lambda *a: calls.append(a))
    dio.save_npy(dpa.ParamStream(ids, CONFIG, scheme=scheme), tmp_path / "one.npy", hash=hash)
    assert np.array_equal(dio.load(tmp_path / "ds")[:], np.load(tmp_path / "one.npy"))
    assert len(res.shards) == len(calls) - 1 == -(-len(ids) // 9_000)
    assert calls[0] == (0, len(ids), 0, len(res.shards)) and calls[-1][0] == len(ids)
    assert [c[2] for c in calls] == list(range(len(calls)))
    assert dio.verify_dataset(tmp_path / "ds") == len(ids)


def test_cluster_shard_size_follows_the_cluster(client, tmp_path):
    res = dio.save_dataset(dpa.ParamStream(range(800_000), scheme="philox"), tmp_path / "ds",
                           runner=dd.ClientRunner(client))
    assert dd.ClientRunner(client).parallelism == 2
    # a shard per thread: 800,000 philox records are far less than a second of work
    # each (four per thread, 100,000 records, would pay a shard's fixed costs 8 times)
    assert res.manifest["shard_records"] == 400_000 and len(res.shards) == 2
    assert res.manifest["shard_records"] == dio.DatasetPlan.auto_shard_records(
        800_000, 2, dpa.Seeding.from_args("philox").ns_per_record)


def test_failed_shard_names_it_and_resume_finishes(client, tmp_path):
    d = tmp_path / "ds"
    d.mkdir()
    (d / "shard-000003.npy").mkdir()  # shard 3 cannot be written
    ids = range(60_000)
    with pytest.raises(dio.OutputError, match=r"shard-000003\.npy: it is a directory.*rerun "
                                              r"with --resume"):
        dio.save_dataset(dpa.ParamStream(ids, CONFIG), d, shard_records=10_000,
                         runner=dd.ClientRunner(client))
    assert not (d / MANIFEST_NAME).exists()
    (d / "shard-000003.npy").rmdir()
    res = dio.save_dataset(dpa.ParamStream(ids, CONFIG), d, resume=True,
                           runner=dd.ClientRunner(client))
    assert res.manifest["shard_records"] == 10_000  # the interrupted export's layout
    assert not res.shards[3].kept
    assert np.array_equal(dio.load(d)[:], dpa.generate(ids, CONFIG))


# ---- the command line ---------------------------------------------------------


def _cli(*argv: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dpa", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})


def test_cli_on_a_running_scheduler(client, tmp_path):
    address = client.scheduler.address
    d = tmp_path / "ds"
    done = _cli("export", "-o", str(d), "-n", "150k", "--start-id", "9", "--preset", "mild",
                "--shards", "--shard-records", "40k", "--scheduler", address)
    assert done.returncode == 0, done.stderr
    assert "150,000 samples in 4 shards" in done.stdout and "on 2 Dask workers" in done.stdout
    assert np.array_equal(dio.load(d)[:], dpa.generate(range(9, 150_009), CONFIG))
    down = _cli("export", "-o", str(tmp_path / "x"), "-n", "10", "--shards", "--scheduler",
                "tcp://127.0.0.1:9", "-q", DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="1s")
    assert down.returncode == 1, down.stderr
    assert down.stderr.startswith("dpa export: error: Timed out trying to connect to "
                                  "tcp://127.0.0.1:9"), down.stderr


def test_cli_local_workers(tmp_path):
    d = tmp_path / "ds"
    done = _cli("export", "-o", str(d), "-n", "300k", "--scheme", "philox", "--base-seed", "4",
                "--shards", "--local-workers", "2")
    assert done.returncode == 0, done.stderr
    assert "on 2 Dask workers, 2 threads" in done.stdout
    assert np.array_equal(dio.load(d)[:], dpa.generate(range(300_000), scheme="philox",
                                                       base_seed=4))


# ---- a worker lost (last: the cluster is not waited for afterwards) --------------


def _executing(dask_worker=None) -> int:
    """On a worker: how many shard tasks it is running now."""
    return sum(str(ts.key).startswith("dpa-shard-") for ts in dask_worker.state.executing)


def test_worker_killed_mid_export_still_finishes(client, tmp_path):
    """SIGKILL of a worker process while it writes a shard: Dask runs its shards
    again elsewhere; the dataset is complete and right, the manifest last."""
    d = tmp_path / "ds"
    ids = range(1_200_000)
    stream = dpa.ParamStream(ids, CONFIG)
    out: dict = {}

    def export():
        try:
            out["result"] = dio.save_dataset(stream, d, shard_records=100_000,
                                             runner=dd.ClientRunner(client))
        except BaseException as exc:  # reported below
            out["error"] = exc

    pids = client.run(os.getpid)
    thread = threading.Thread(target=export)
    thread.start()
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and thread.is_alive():
        assert time.monotonic() < deadline
        busy = client.run(_executing)
        partial = list(d.glob("shard-*.npy.partial")) if d.exists() else []
        if partial and any(busy.values()):
            victim = next(a for a, n in busy.items() if n)
            assert not (d / MANIFEST_NAME).exists()
            os.kill(pids[victim], signal.SIGKILL)
        time.sleep(0.01)
    thread.join(120)
    assert victim is not None, "the export ended before a worker could be killed"
    assert "error" not in out, out.get("error")
    res = out["result"]
    assert res.count == len(ids) and len(res.shards) == 12
    assert dio.verify_dataset(d, records=False) == len(ids)  # present, SHA-256, provenance
    assert np.array_equal(dio.load(d)[::89], dpa.generate(range(0, len(ids), 89), CONFIG))
    assert not list(d.glob("*.partial*"))
