"""Map-style loading (``ParamDataset`` + ``DistributedIndexSampler``): coverage, bit-identical
augmented images across workers and world sizes, persistent workers, resume at another world
size (StatefulDataLoader resume: test_torch_resume.py)."""

from __future__ import annotations

import pickle

import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, Dataset, DistributedSampler  # noqa: E402

import dpa  # noqa: E402
import dpa.torch as T  # noqa: E402

MILD = dpa.get_preset("mild")


class Images(Dataset):
    """Synthetic 3x12x10 images, a function of the index alone."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(int(i))
        return torch.rand(3, 12, 10, generator=g)


N = 61  # prime: uneven over ranks, workers and batches


def _dataset(**kw):
    return T.ParamDataset(Images(N), MILD, seed=99, **kw)


def _epochs(ds, world, workers, epochs=(0, 1), persistent=False, uneven="pad"):
    """{(epoch, rank): [(sample_id, augmented image, params row), ...]} over all ranks."""
    out = {}
    for rank in range(world):
        sampler = T.DistributedIndexSampler(ds, num_replicas=world, rank=rank, seed=5,
                                            uneven=uneven)
        loader = DataLoader(ds, batch_size=8, sampler=sampler, num_workers=workers,
                            persistent_workers=persistent)
        for epoch in epochs:
            sampler.set_epoch(epoch)
            seen = out.setdefault((epoch, rank), [])
            for images, params in loader:
                assert isinstance(params, T.ParamBatch) and len(params) == len(images)
                aug = T.apply_params(images, params)
                for k, sid in enumerate(params.sample_ids.tolist()):
                    seen.append((sid, aug[k], params.table[:, k]))
    return out


# ---- the index sampler -----------------------------------------------------------


@pytest.mark.parametrize("n", [3, 10, 11])
@pytest.mark.parametrize("world", [1, 2, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_index_sampler_splits_as_distributed_sampler(n, world, drop_last):
    for rank in range(world):
        ours = T.DistributedIndexSampler(n, num_replicas=world, rank=rank, shuffle=False,
                                         drop_last=drop_last)
        theirs = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False,
                                    drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_index_sampler_covers_every_sample_once_per_epoch():
    for uneven in ("keep", "pad", "drop"):
        for epoch in (0, 3):
            seen = []
            for rank in range(3):
                s = T.DistributedIndexSampler(N, num_replicas=3, rank=rank, seed=8, uneven=uneven)
                s.set_epoch(epoch)
                keys = list(s)
                assert len(keys) == len(s) and all(k.epoch == epoch for k in keys)
                seen += keys
            if uneven == "keep":
                assert sorted(seen) == list(range(N))
            elif uneven == "pad":
                assert set(seen) == set(range(N)) and len(seen) == 3 * -(-N // 3)
            else:
                assert len(set(seen)) == len(seen) == 3 * (N // 3)
    a = T.DistributedIndexSampler(N, num_replicas=1, rank=0, seed=8)
    a.set_epoch(1)
    b = T.DistributedIndexSampler(N, num_replicas=1, rank=0, seed=8)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)


def test_sample_keys_are_ints_that_carry_the_epoch():
    key = T.SampleKey(12, 3)
    assert key == 12 and isinstance(key, int) and [0] * 20 != [] and list(range(20))[key] == 12
    back = pickle.loads(pickle.dumps(key))
    assert back == 12 and back.epoch == 3


def test_index_sampler_arguments():
    with pytest.raises(ValueError, match="pass rank and num_replicas together"):
        T.DistributedIndexSampler(10, num_replicas=2)
    with pytest.raises(TypeError, match="drop_last should be a bool"):
        T.DistributedIndexSampler(10, 1, 0, drop_last=1)
    with pytest.raises(ValueError, match=r"rank \(2\) must be < world_size \(2\)"):
        T.DistributedIndexSampler(10, 2, 2)
    with pytest.raises(TypeError, match="dataset should be a sized dataset"):
        T.DistributedIndexSampler(object(), 1, 0)
    s = T.DistributedIndexSampler(Images(10), 2, 1, drop_last=True)
    assert (s.num_replicas, s.rank, s.drop_last, len(s)) == (2, 1, True, 5)


# ---- ParamDataset through DataLoaders --------------------------------------------


def test_items_and_batches_carry_their_parameters():
    ds = _dataset()
    img, row = ds[T.SampleKey(7, 2)]
    assert torch.equal(img, Images(N)[7])
    batch = torch.utils.data.default_collate([ds[T.SampleKey(k, 2)] for k in (7, 3, 9)])
    images, params = batch
    assert images.shape == (3, 3, 12, 10) and params.sample_ids.tolist() == [7, 3, 9]
    want = dpa.generate([7, 3, 9], MILD, scheme="philox", base_seed=99, epoch=2)
    for k, f in enumerate(dpa.FIELDS):
        assert params.table[k].numpy().tolist() == want[f].tolist()
    assert params.epochs.tolist() == [2, 2, 2] and params.seed == 99
    # a batch's items collate back to the batch itself, without a copy
    items = ds.__getitems__([T.SampleKey(k, 2) for k in (7, 3, 9)])
    collated = torch.utils.data.default_collate(items)[1]
    assert collated is items[0][1].batch
    # keys from two epochs in one batch: each gets its epoch's parameters
    mixed = ds.params([T.SampleKey(7, 2), T.SampleKey(7, 5)])
    assert mixed.epochs.tolist() == [2, 5] and not torch.equal(mixed.table[:, 0], mixed.table[:, 1])


def test_dpa_identical_parameters_one_argument_away():
    ds = T.ParamDataset(Images(N), MILD, scheme="dpa", epoch_params=False)
    params = ds.params([T.SampleKey(k, 4) for k in (1, 2, 3)])
    want = dpa.generate([1, 2, 3], MILD)
    assert params.table[0].numpy().tolist() == want["rotation"].tolist()
    assert params.epochs.tolist() == [0, 0, 0]


def test_augmented_images_bit_identical_across_workers_and_world_sizes():
    ds = _dataset()
    runs = {(w, k): _epochs(ds, w, k) for w, k in ((1, 0), (1, 2), (2, 0), (3, 2))}
    ref = {}
    for (epoch, _), items in runs[(1, 0)].items():
        for sid, img, row in items:
            ref[(epoch, sid)] = (img, row)
    assert {sid for (e, sid) in ref if e == 0} == set(range(N))
    for (world, workers), run in runs.items():
        seen = {0: [], 1: []}
        for (epoch, _), items in run.items():
            for sid, img, row in items:
                want_img, want_row = ref[(epoch, sid)]
                assert torch.equal(img, want_img), (world, workers, epoch, sid)
                assert torch.equal(row, want_row)
                seen[epoch].append(sid)
        for epoch in (0, 1):  # every sample once, plus DistributedSampler's padding
            assert set(seen[epoch]) == set(range(N))
            assert len(seen[epoch]) == world * -(-N // world)
    # new parameters (and noise) every epoch
    assert not torch.equal(ref[(0, 5)][0], ref[(1, 5)][0])


def test_persistent_workers_see_every_epoch():
    ds = _dataset()
    plain = _epochs(ds, 1, 2, epochs=(0, 1, 2))
    persistent = _epochs(ds, 1, 2, epochs=(0, 1, 2), persistent=True)
    for key, items in plain.items():
        assert [s for s, _, _ in items] == [s for s, _, _ in persistent[key]]
        assert all(torch.equal(a[1], b[1]) for a, b in zip(items, persistent[key]))


def test_plain_sampler_with_set_epoch_and_persistent_workers():
    ds = _dataset()
    loader = DataLoader(ds, batch_size=16, shuffle=False, num_workers=2, persistent_workers=True)
    for epoch in (0, 3):
        ds.set_epoch(epoch)
        params = T.ParamBatch.cat([p for _, p in loader])
        want = dpa.generate(range(N), MILD, scheme="philox", base_seed=99, epoch=epoch)
        assert params.table[0].numpy().tolist() == want["rotation"].tolist()
        assert params.epochs.tolist() == [epoch] * N


def test_param_batch_dataset_refuses_persistent_workers():
    sampler = T.DistributedParamSampler(200, 16, num_replicas=1, rank=0)
    loader = DataLoader(T.ParamBatchDataset(sampler), batch_size=None, num_workers=2,
                        persistent_workers=True)
    assert len(list(loader)) == len(sampler)
    sampler.set_epoch(1)
    with pytest.raises(RuntimeError, match="cannot be used with persistent_workers=True"):
        list(loader)
    # torch's persistent workers take 2 x 5 s to stop after a worker's error: end the
    # two this test started (the loader's own processes) rather than wait
    for worker in loader._iterator._workers:
        worker.terminate()
        worker.join()


# ---- resuming at another world size ------------------------------------------------


def test_index_sampler_resumes_at_another_world_size():
    """2 ranks consume k samples each; 3 ranks then see every other sample exactly once."""
    consumed = set()
    states = []
    for rank in range(2):
        s = T.DistributedIndexSampler(N, num_replicas=2, rank=rank, seed=5, uneven="keep")
        s.set_epoch(4)
        it = iter(s)
        consumed |= {int(next(it)) for _ in range(10)}
        states.append(s.state_dict())
    rest = []
    for rank in range(3):
        s = T.DistributedIndexSampler(N, num_replicas=3, rank=rank, seed=5, uneven="keep")
        s.load_state_dict(states[rank % 2])  # any rank's state: they all consumed the prefix
        assert s.epoch == 4
        keys = list(s)
        assert all(k.epoch == 4 for k in keys)
        rest += keys
    assert len(consumed) == 20 and sorted(consumed | set(rest)) == list(range(N))
    assert not consumed & set(rest) and len(rest) == N - 20
    # the same world size resumes the rank's own list exactly, padding included
    s = T.DistributedIndexSampler(N, num_replicas=2, rank=1, seed=5)
    s.set_epoch(4)
    full = list(s)
    it = iter(s)
    for _ in range(7):
        next(it)
    again = T.DistributedIndexSampler(N, num_replicas=2, rank=1, seed=5)
    again.load_state_dict(s.state_dict())
    assert list(again) == full[7:]


def test_batch_sampler_resumes_at_another_world_size():
    consumed, states = [], []
    for rank in range(3):
        s = T.DistributedParamSampler(N, 4, MILD, num_replicas=3, rank=rank, seed=5,
                                      uneven="keep")
        s.set_epoch(2)
        it = iter(s)
        consumed += [i for _ in range(2) for i in next(it).sample_ids.tolist()]
        states.append(s.state_dict())
    rest = []
    for rank in range(2):
        s = T.DistributedParamSampler(N, 4, MILD, num_replicas=2, rank=rank, seed=5,
                                      uneven="keep")
        s.load_state_dict(states[0])
        for batch in s:
            rest += batch.sample_ids.tolist()
            want = dpa.generate(batch.sample_ids.numpy(), MILD, scheme="philox", base_seed=5,
                                epoch=2)
            assert batch.table[0].numpy().tolist() == want["rotation"].tolist()
    assert sorted(consumed + rest) == list(range(N))


def test_deprecated_names_and_new_defaults():
    with pytest.warns(FutureWarning, match="world_size= is deprecated, use num_replicas="):
        s = T.DistributedParamSampler(100, 8, world_size=2, rank=0, base_seed=3)
    assert (s.num_replicas, s.seed, s.scheme, s.epoch_params) == (2, 3, "philox", True)
    with pytest.raises(TypeError, match="both 'num_replicas' and its deprecated name"):
        T.DistributedParamSampler(100, 8, world_size=2, num_replicas=2, rank=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'worldsize'"):
        T.DistributedParamSampler(100, 8, worldsize=2, rank=0)
