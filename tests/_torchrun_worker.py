"""One rank of the 2-process test in ``test_torch.py`` (run by torchrun, not by pytest).

Each rank joins a gloo process group, reads its rank with ``dpa.distributed.from_env``,
runs a DataLoader with 2 workers over a ``ParamBatchDataset`` for every case and
epoch, and the map-style path (``ParamDataset`` + ``DistributedIndexSampler``, 2 workers)
with the augmented images (``apply_params``), gathers everything it saw to rank 0 over
gloo, and rank 0 writes it all to the ``.npz`` file named on the command line.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

import dpa
from dpa.distributed import from_env
from dpa.torch import (DistributedIndexSampler, DistributedParamSampler, ParamBatchDataset,
                       ParamDataset, apply_params)

NUM_SAMPLES = 10_007  # prime: uneven across ranks, workers and batches
BATCH_SIZE = 64
EPOCHS = (0, 1)
#: case name -> sampler keywords; the parent test reads these too.
CASES = {
    "sample_keep": dict(scheme="dpa", epoch_params=False, seeding="sample", split="strided",
                        uneven="keep", shuffle=True),
    "sample_pad": dict(scheme="dpa", epoch_params=False, seeding="sample", split="strided",
                       uneven="pad", shuffle=True, seed=4),
    "rank_dpa": dict(scheme="dpa", epoch_params=False, seeding="rank", split="contiguous",
                     uneven="keep", shuffle=False),
    "philox_keep": dict(scheme="philox", split="strided", uneven="keep", shuffle=True,
                        seed=2**40 + 9, epoch_params=True),
}
CONFIG = dpa.get_preset("mild")

#: The map-style case: synthetic images, a function of the index alone.
MAP_SAMPLES, MAP_BATCH, MAP_SEED = 503, 16, 2**33 + 1


class Images(Dataset):
    def __len__(self) -> int:
        return MAP_SAMPLES

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.rand(3, 9, 11, generator=torch.Generator().manual_seed(int(i)))


def augmented(world_size: int, rank: int, epoch: int, workers: int = 2):
    """(ids, augmented images) that ``rank`` of ``world_size`` sees in ``epoch``."""
    dataset = ParamDataset(Images(), CONFIG, seed=MAP_SEED)
    sampler = DistributedIndexSampler(dataset, num_replicas=world_size, rank=rank, seed=3)
    sampler.set_epoch(epoch)
    ids, images = [], []
    for batch, params in DataLoader(dataset, batch_size=MAP_BATCH, sampler=sampler,
                                    num_workers=workers):
        ids.append(params.sample_ids.numpy())
        images.append(apply_params(batch, params).numpy())
    return np.concatenate(ids), np.concatenate(images)


def main(out_path: str) -> None:
    dist.init_process_group("gloo")
    env = from_env()
    assert env.source == "torch.distributed", env
    assert (env.rank, env.world_size) == (dist.get_rank(), dist.get_world_size())
    saved = {}
    for name, kw in CASES.items():
        sampler = DistributedParamSampler(NUM_SAMPLES, BATCH_SIZE, CONFIG, **kw)
        loader = DataLoader(ParamBatchDataset(sampler), batch_size=None, num_workers=2)
        for epoch in EPOCHS:
            sampler.set_epoch(epoch)
            ids, table = [], []
            for sample_ids, params in loader:
                ids.append(sample_ids.numpy())
                table.append(np.stack([params[f].numpy() for f in dpa.FIELDS]))
            mine = (np.concatenate(ids), np.concatenate(table, axis=1), len(ids))
            gathered = [None] * env.world_size
            dist.all_gather_object(gathered, mine)
            for rank, (i, t, nb) in enumerate(gathered):
                saved[f"{name}/{epoch}/{rank}/ids"] = i
                saved[f"{name}/{epoch}/{rank}/params"] = t
                saved[f"{name}/{epoch}/{rank}/batches"] = np.int64(nb)
    for epoch in EPOCHS:
        gathered = [None] * env.world_size
        dist.all_gather_object(gathered, augmented(env.world_size, env.rank, epoch))
        for rank, (i, images) in enumerate(gathered):
            saved[f"map/{epoch}/{rank}/ids"] = i
            saved[f"map/{epoch}/{rank}/images"] = images
    if env.rank == 0:
        np.savez(out_path, world_size=env.world_size, **saved)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
