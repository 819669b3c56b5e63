"""``dpa.torch``'s batch sampler: per-rank (sample_ids, params) batches, worker sharding, resume,
2 real ranks (the map-style path and the transform have their own test files)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # only when torch is absent; CI installs it

import dpa  # noqa: E402
import dpa.torch as T  # noqa: E402
from dpa import distributed as D  # noqa: E402

MILD = dpa.get_preset("mild")
HERE = pathlib.Path(__file__).resolve().parent


def _collect(batches):
    ids, table = [], []
    for batch in batches:
        sample_ids, params = batch
        assert sample_ids.dtype == torch.int64
        assert set(params) == set(dpa.FIELDS)
        assert all(p.dtype == torch.float64 and p.shape == sample_ids.shape for p in params.values())
        ids.append(sample_ids.numpy())
        table.append(np.stack([params[f].numpy() for f in dpa.FIELDS]))
    if not ids:
        return np.empty(0, np.int64), np.empty((5, 0))
    return np.concatenate(ids), np.concatenate(table, axis=1)


def _table(records):
    return np.stack([records[f] for f in dpa.FIELDS])


def _sampler(**kw):
    """A rank-1-of-3 batch sampler with DPA's scheme and fixed parameters (kw override)."""
    args = dict(num_samples=1000, batch_size=32, config=MILD, rank=1, num_replicas=3,
                scheme="dpa", epoch_params=False, uneven="pad")
    args.update(kw)
    return T.DistributedParamSampler(**args)


# ---- batches -------------------------------------------------------------------


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("uneven", D.UNEVEN_MODES)
def test_batches_are_the_ranks_share(drop_last, uneven):
    s = _sampler(drop_last_batch=drop_last, uneven=uneven)
    share = np.asarray(list(D.rank_sample_ids(1000, 1, 3, split="strided", uneven=uneven,
                                              shuffle=True, epoch=0)))
    sizes = [len(ids) for ids, _ in s]
    assert len(sizes) == len(s)
    assert len(s) == (len(share) // 32 if drop_last else -(-len(share) // 32))
    assert all(n == 32 for n in sizes[:-1])
    ids, table = _collect(s)
    assert np.array_equal(ids, share[:len(ids)])
    # "sample" seeding: exactly what a single process generates for those ids
    assert np.array_equal(table, _table(dpa.generate(ids, MILD)))


def test_rank_seeding_equals_dpa_stream():
    s = _sampler(seeding="rank", split="contiguous", uneven="keep", shuffle=False, seed=2)
    ids, table = _collect(s)
    stream = D.stream_distributed_augmentation_chain(1000, 1, 3, MILD, base_seed=2)
    assert ids.tolist() == list(stream.ids)
    assert np.array_equal(table, _table(stream.generate(stream.ids)))


def test_numpy_output_and_tensor_conversion():
    s = _sampler(as_tensors=False)
    ids, recs = next(iter(s))
    assert isinstance(ids, np.ndarray) and recs.dtype == dpa.PARAM_DTYPE
    assert np.array_equal(ids, recs["sample_id"])
    tids, params = T.params_to_tensors(recs)
    assert np.array_equal(tids.numpy(), ids)
    for f in dpa.FIELDS:
        assert params[f].is_contiguous() and np.array_equal(params[f].numpy(), recs[f])


def test_epochs_reshuffle_deterministically():
    s = _sampler()
    e0 = _collect(s)[0]
    assert np.array_equal(_collect(s)[0], e0)  # same epoch, same order
    s.set_epoch(1)
    e1 = _collect(s)[0]
    assert not np.array_equal(e0, e1)
    other = _sampler()
    other.set_epoch(1)
    assert np.array_equal(_collect(other)[0], e1)


def test_epoch_params():
    s = _sampler(epoch_params=True, shuffle=False)
    a = _collect(s)
    s.set_epoch(1)
    b = _collect(s)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[1], b[1])


def test_all_ranks_cover_every_sample_once():
    n, w = 1001, 4
    seen = np.concatenate([_collect(_sampler(num_samples=n, rank=r, num_replicas=w, uneven="keep"))[0]
                           for r in range(w)])
    assert sorted(seen.tolist()) == list(range(n))


# ---- DataLoader workers ----------------------------------------------------------


def test_worker_shards_interleave_to_the_main_order(monkeypatch):
    s = _sampler(num_samples=2000)
    main = [ids.tolist() for ids, _ in s]
    k = 3
    shards = []
    for wid in range(k):
        monkeypatch.setattr(T.samplers, "get_worker_info", lambda wid=wid: types.SimpleNamespace(id=wid, num_workers=k))
        shards.append([ids.tolist() for ids, _ in s])
    assert [b for i in range(len(main)) for b in [shards[i % k][i // k]]] == main


def test_dataloader_with_two_workers_matches_main_process():
    s = _sampler(num_samples=3000, batch_size=50)
    want = _collect(s)
    loader = torch.utils.data.DataLoader(T.ParamBatchDataset(s), batch_size=None, num_workers=2)
    assert len(loader) == len(s)
    got = _collect(loader)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


# ---- resume ----------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 5, 11])
def test_resume_mid_epoch(k):
    run = _sampler(epoch_params=True)
    run.set_epoch(2)
    full = [ids.tolist() for ids, _ in run]
    assert len(full) == 11

    first = _sampler(epoch_params=True)
    first.set_epoch(2)
    it = iter(first)
    seen = [next(it)[0].tolist() for _ in range(k)]
    state = first.state_dict()
    assert state["epoch"] == 2 and state["batch"] == k

    resumed = _sampler(epoch_params=True)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # the usual loop calls it again: the resume point stays
    assert resumed.start_batch == k
    rest = _collect(resumed)
    assert seen + [rest[0][a:a + 32].tolist() for a in range(0, len(rest[0]), 32)] == full
    # and the parameters are those of the uninterrupted run
    ref = _sampler(epoch_params=True)
    ref.set_epoch(2)
    ref_ids, ref_table = _collect(ref)
    assert np.array_equal(rest[1], ref_table[:, k * 32:])
    # the next epoch starts from its beginning
    resumed.set_epoch(3)
    assert resumed.start_batch == 0 and len(list(resumed)) == 11


def test_resume_with_dataloader_workers():
    s = _sampler(num_samples=3000, batch_size=50)
    s.set_epoch(1)
    full = _collect(s)
    loader = torch.utils.data.DataLoader(T.ParamBatchDataset(s), batch_size=None, num_workers=2)
    consumed = 0
    for consumed, _ in enumerate(loader, start=s.start_batch + 1):
        if consumed == 7:
            break
    state = s.state_dict(batches_seen=consumed)
    again = _sampler(num_samples=3000, batch_size=50)
    again.load_state_dict(state)
    loader = torch.utils.data.DataLoader(T.ParamBatchDataset(again), batch_size=None, num_workers=2)
    rest = _collect(loader)
    assert np.array_equal(rest[0], full[0][7 * 50:]) and np.array_equal(rest[1], full[1][:, 7 * 50:])


def test_load_state_dict_rejects_other_settings():
    state = _sampler().state_dict()
    with pytest.raises(ValueError, match=r"batch_size=32 \(this sampler: 16\)"):
        _sampler(batch_size=16).load_state_dict(state)
    with pytest.raises(ValueError, match=r"num_samples=1000 \(this sampler: 999\)"):
        _sampler(num_samples=999).load_state_dict(state)
    contiguous = _sampler(split="contiguous").state_dict()
    with pytest.raises(ValueError, match=r"saved by rank 1; with split='contiguous'.*only rank 1"):
        _sampler(split="contiguous", rank=2).load_state_dict(contiguous)
    with pytest.raises(ValueError, match=r"world size 3.*world size 2: a resume at another world "
                                         r"size needs split='strided'"):
        _sampler(split="contiguous", rank=1, num_replicas=2).load_state_dict(contiguous)
    with pytest.raises(ValueError, match=r"missing \['batch'\]"):
        _sampler().load_state_dict({k: v for k, v in state.items() if k != "batch"})
    with pytest.raises(ValueError, match=r"batch should be in \[0, 11\], but got batch=12"):
        _sampler().load_state_dict({**state, "batch": 12})
    with pytest.raises(ValueError, match=r"batches_seen should be in \[0, 11\]"):
        _sampler().state_dict(batches_seen=12)


# ---- arguments --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        ({"batch_size": 0}, ValueError, r"batch_size should be a positive integer, but got batch_size=0"),
        ({"batch_size": True}, TypeError, r"batch_size should be an integer, but got batch_size=True"),
        ({"drop_last": 1}, TypeError, r"drop_last should be a bool, but got drop_last=1"),
        ({"drop_last_batch": 1}, TypeError, r"drop_last_batch should be a bool"),
        ({"drop_last": True}, ValueError, r"drop_last=True means uneven='drop'"),
        ({"rank": 3}, ValueError, r"rank \(3\) must be < world_size \(3\)"),
        ({"rank": None}, ValueError, r"pass rank and num_replicas together"),
        ({"seed": 2**64}, ValueError, r"seed should be an integer in \[0, 2\*\*64\)"),
        ({"seeding": "x"}, ValueError, r"seeding should be one of"),
        ({"num_samples": -1}, ValueError, r"num_samples must be non-negative"),
        ({"threads": 0}, ValueError, r"threads should be a positive integer, but got threads=0"),
        ({"config": "mild"}, TypeError, r"config should be an AugmentationConfig"),
    ],
)
def test_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        _sampler(**kw)


def test_rank_from_env(monkeypatch):
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "5")
    s = T.DistributedParamSampler(100, 8)
    assert (s.rank, s.world_size) == (2, 5)
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    with pytest.raises(D.DistributedEnvironmentError, match="torchrun"):
        T.DistributedParamSampler(100, 8)


# ---- scheme="philox" ----------------------------------------------------------------

KEY = 2**33 + 77


def _philox(ids, epoch):
    return dpa.generate(ids, MILD, scheme="philox", base_seed=KEY, epoch=epoch)


def _loader_collect(sampler, workers):
    return _collect(torch.utils.data.DataLoader(T.ParamBatchDataset(sampler), batch_size=None,
                                                num_workers=workers))


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_philox_sampler_through_dataloader_workers(workers):
    """World sizes 1, 2, 3 x this many workers: every id gets philox's parameters."""
    n = 997
    for epoch_params in (False, True):
        kw = dict(num_samples=n, batch_size=40, scheme="philox", seed=KEY,
                  epoch_params=epoch_params, uneven="keep")
        for epoch in (3,):  # philox's epoch 3 with epoch_params, else 0
            want = _table(_philox(range(n), epoch if epoch_params else 0))
            for w in (1, 2, 3):
                seen = []
                for r in range(w):
                    s = _sampler(rank=r, num_replicas=w, **kw)
                    s.set_epoch(epoch)
                    ids, table = _loader_collect(s, workers)
                    direct = _collect(s)  # the loader's order is the sampler's
                    assert np.array_equal(ids, direct[0]) and np.array_equal(table, direct[1])
                    assert np.array_equal(table, _table(_philox(ids, epoch if epoch_params else 0)))
                    seen.append((ids, table))
                ids = np.concatenate([i for i, _ in seen])
                table = np.concatenate([t for _, t in seen], axis=1)
                assert np.array_equal(np.sort(ids), np.arange(n))  # every id once
                order = np.argsort(ids)
                assert np.array_equal(table[:, order], want), (w, epoch, epoch_params)


def test_philox_sampler_layout_and_records():
    s = _sampler(scheme="philox", seed=KEY)
    assert (s.scheme, s.seeding) == ("philox", "sample")
    assert "scheme='philox'" in repr(s)
    assert _sampler().scheme == "dpa"
    ids, recs = next(iter(_sampler(scheme="philox", seed=KEY, as_tensors=False)))
    assert recs.dtype == dpa.PARAM_DTYPE and "hash" not in recs.dtype.names
    assert recs.tobytes() == _philox(ids, 0).tobytes()
    # pad and shuffle as for the DPA scheme: the same ids in the same order
    for uneven in D.UNEVEN_MODES:
        a = _collect(_sampler(scheme="philox", seed=KEY, uneven=uneven))[0]
        b = _collect(_sampler(seed=KEY, uneven=uneven))[0]
        assert np.array_equal(a, b)


def test_params_to_tensors_with_and_without_hash():
    for recs in (_philox(range(7), 2), dpa.generate(range(7), MILD, hash=True)):
        ids, params = T.params_to_tensors(recs)
        assert ids.tolist() == list(range(7)) and set(params) == set(dpa.FIELDS)
        for f in dpa.FIELDS:
            assert params[f].dtype == torch.float64 and np.array_equal(params[f].numpy(), recs[f])


def test_philox_state_dict_round_trip():
    kw = dict(scheme="philox", seed=KEY, epoch_params=True)
    run = _sampler(**kw)
    run.set_epoch(5)
    full = _collect(run)
    first = _sampler(**kw)
    first.set_epoch(5)
    it = iter(first)
    for _ in range(4):
        next(it)
    state = first.state_dict()
    assert state["scheme"] == "philox" and (state["epoch"], state["batch"]) == (5, 4)
    resumed = _sampler(**kw)
    resumed.load_state_dict(state)
    rest = _collect(resumed)
    assert np.array_equal(rest[0], full[0][4 * 32:]) and np.array_equal(rest[1], full[1][:, 4 * 32:])
    assert np.array_equal(rest[1], _table(_philox(rest[0], 5)))
    # the scheme is part of the layout
    with pytest.raises(ValueError, match=r"scheme='philox' \(this sampler: 'dpa'\)"):
        _sampler(seed=KEY, epoch_params=True).load_state_dict(state)
    dpa_state = _sampler().state_dict()
    with pytest.raises(ValueError, match=r"scheme='dpa' \(this sampler: 'philox'\)"):
        _sampler(scheme="philox").load_state_dict(dpa_state)
    # a state saved before samplers had a scheme is the DPA scheme's
    old = {k: v for k, v in dpa_state.items() if k != "scheme"}
    _sampler().load_state_dict(old)
    with pytest.raises(ValueError, match=r"scheme='dpa' \(this sampler: 'philox'\)"):
        _sampler(scheme="philox").load_state_dict(old)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"scheme": "philox", "seeding": "rank"}, r"seeding='rank' does not apply to scheme='philox'"),
        ({"scheme": "xoshiro"}, r"scheme should be one of \('dpa', 'philox'\), but got scheme='xoshiro'"),
        ({"scheme": "philox", "seed": 2**64}, r"seed should be an integer in \[0, 2\*\*64\)"),
    ],
)
def test_philox_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        _sampler(**kw)


# ---- two real ranks ----------------------------------------------------------------


def test_torchrun_gloo_two_ranks_two_workers(tmp_path):
    """torchrun, 2 gloo ranks x 2 DataLoader workers: every sample once, as one process; the
    map-style path's augmented images bit-identical to world sizes 1 and 3."""
    sys.path.insert(0, str(HERE))
    try:
        import _torchrun_worker as W
    finally:
        sys.path.remove(str(HERE))
    out = tmp_path / "seen.npz"
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           str(HERE / "_torchrun_worker.py"), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = np.load(out)
    w = int(seen["world_size"])
    assert w == 2
    n = W.NUM_SAMPLES
    for name, kw in W.CASES.items():
        for epoch in W.EPOCHS:
            ids = [seen[f"{name}/{epoch}/{r}/ids"] for r in range(w)]
            params = [seen[f"{name}/{epoch}/{r}/params"] for r in range(w)]
            batches = [int(seen[f"{name}/{epoch}/{r}/batches"]) for r in range(w)]
            every = np.concatenate(ids)
            if kw["uneven"] == "keep":  # every sample exactly once across ranks x workers
                assert np.array_equal(np.sort(every), np.arange(n)), (name, epoch)
            else:  # padded: every sample, equal counts, the order's first ids repeated
                assert set(every.tolist()) == set(range(n))
                assert len(every) == w * -(-n // w) and len(set(batches)) == 1
            for r in range(w):
                # the loader's order is the sampler's own order on that rank
                ref = T.DistributedParamSampler(n, W.BATCH_SIZE, W.CONFIG, rank=r, num_replicas=w, **kw)
                ref.set_epoch(epoch)
                ref_ids, ref_table = _collect(ref)
                assert np.array_equal(ids[r], ref_ids), (name, epoch, r)
                assert batches[r] == len(ref)
                # and the parameters are those of one process generating the same ids
                if kw.get("scheme") == "philox":  # philox's epoch is the epoch (epoch_params)
                    want = dpa.generate(ids[r], W.CONFIG, scheme="philox",
                                        base_seed=kw["seed"],
                                        epoch=epoch if kw.get("epoch_params") else 0)
                    assert np.array_equal(params[r], _table(want)), (name, epoch, r)
                elif kw["seeding"] == "sample" and not kw.get("seed"):
                    assert np.array_equal(params[r], _table(dpa.generate(ids[r], W.CONFIG)))
                elif kw["seeding"] == "sample":  # world size 1 gives the same parameters
                    one = D.stream_distributed_augmentation_chain(
                        n, 0, 1, W.CONFIG, base_seed=kw["seed"], seeding="sample")
                    assert np.array_equal(params[r], _table(one.generate(ids[r])))
                else:
                    dpa_stream = D.stream_distributed_augmentation_chain(n, r, w, W.CONFIG)
                    assert ids[r].tolist() == list(dpa_stream.ids)
                    assert np.array_equal(params[r], _table(dpa_stream.generate(dpa_stream.ids)))


    # the map-style path: augmented images bit-identical to world sizes 1 and 3 in one process
    for epoch in W.EPOCHS:
        want = {}
        for world in (1, 3):
            for rank in range(world):
                ids, images = W.augmented(world, rank, epoch, workers=0)
                for sid, img in zip(ids.tolist(), images):
                    assert want.setdefault(sid, img).tobytes() == img.tobytes(), (world, sid)
        covered = []
        for r in range(w):
            ids, images = seen[f"map/{epoch}/{r}/ids"], seen[f"map/{epoch}/{r}/images"]
            for sid, img in zip(ids.tolist(), images):
                assert img.tobytes() == want[sid].tobytes(), (epoch, r, sid)
            covered += ids.tolist()
        assert set(covered) == set(range(W.MAP_SAMPLES))
        assert len(covered) == w * -(-W.MAP_SAMPLES // w)  # DistributedSampler's padding


def test_pickled_sampler_carries_settings_not_ids():
    import pickle

    s = _sampler(num_samples=100_000)
    s.set_epoch(3)
    want = [ids.tolist() for ids, _ in s]
    blob = pickle.dumps(s)  # what spawn/forkserver DataLoader workers receive
    assert len(blob) < 10_000
    assert [ids.tolist() for ids, _ in pickle.loads(blob)] == want
