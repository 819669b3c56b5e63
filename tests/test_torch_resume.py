"""torchdata's StatefulDataLoader over dpa.torch's two loader paths: a resume at batch k
equals the uninterrupted run (ids, parameters and noise), with 0 and 2 workers."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
stateful = pytest.importorskip("torchdata.stateful_dataloader")  # the `stateful` extra; CI has it

import dpa.torch as T  # noqa: E402
from test_torch_loaders import MILD, N, Images, _dataset  # noqa: E402


def _map_loader(workers, world=1, rank=0):
    ds = _dataset()
    s = T.DistributedIndexSampler(ds, num_replicas=world, rank=rank, seed=5)
    return stateful.StatefulDataLoader(ds, batch_size=8, sampler=s, num_workers=workers), s


def _iter_loader(workers, world=1, rank=0):
    s = T.DistributedParamSampler(N, 8, MILD, num_replicas=world, rank=rank, seed=5)
    return stateful.StatefulDataLoader(T.ParamBatchDataset(s), batch_size=None,
                                       num_workers=workers), s


def _augmented(batch):
    if isinstance(batch, T.ParamBatch):  # the batch sampler's: images made from the ids
        images = torch.stack([Images(N)[i] for i in batch.sample_ids.tolist()])
        params = batch
    else:
        images, params = batch
    return params.sample_ids.tolist(), T.apply_params(images, params)


@pytest.mark.parametrize("make", [_map_loader, _iter_loader], ids=["map", "iterable"])
@pytest.mark.parametrize("workers", [0, 2])
def test_stateful_resume_equals_the_uninterrupted_run(make, workers):
    loader, sampler = make(workers)
    sampler.set_epoch(3)
    full = [_augmented(b) for b in loader]
    k = 3
    loader, sampler = make(workers)
    sampler.set_epoch(3)
    it = iter(loader)
    head = [_augmented(next(it)) for _ in range(k)]
    state = loader.state_dict()
    del it
    resumed, sampler = make(workers)
    sampler.set_epoch(3)
    resumed.load_state_dict(state)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "fast-forwarding" fallback
        warnings.filterwarnings("ignore", message=".*set_vital.*")
        rest = [_augmented(b) for b in resumed]
    assert len(head) + len(rest) == len(full)
    for (ids_a, img_a), (ids_b, img_b) in zip(head + rest, full):
        assert ids_a == ids_b and torch.equal(img_a, img_b)


def test_stateful_resume_refuses_another_epoch():
    loader, sampler = _iter_loader(0)
    sampler.set_epoch(3)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    del it
    resumed, sampler = _iter_loader(0)  # epoch 0: set_epoch(3) forgotten
    resumed.load_state_dict(state)
    with pytest.raises(ValueError, match=r"saved in epoch 3, but the sampler is at epoch 0"):
        list(resumed)
