"""Every public function checks its arguments the same way (``dpa._validate``).

A walk over the public API: each argument gets values of the wrong type,
which must raise ``TypeError``, and values of the right type but wrong,
which must raise ``ValueError``; either message names the argument.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import dpa
import dpa.io as dio
from dpa import _validate
from dpa.batch import BatchConfig, BatchProcessor, BatchStrategy, MemoryAwareBatcher
from dpa.distributed import (
    DistributedParamStream,
    DistributedRangeSplitter,
    RankAwareSeedGenerator,
    RankLayout,
    RankSeeding,
    gen_distributed_augmentation_params,
    rank_sample_ids,
    shuffle_positions,
    stream_distributed_augmentation_chain,
    stream_distributed_augmentation_range,
)

#: Wrong types and wrong values for each kind of argument.
KINDS = {
    "int": (["3", 1.5, True, None, [1]], []),
    "int>=0": (["3", 1.5, True, None], [-1]),
    "int>=0?": (["3", 1.5, True], [-1]),  # None allowed
    "int>=1": (["3", 2.0, False, None], [0, -5]),
    "int>=1?": (["3", 2.0, False], [0, -5]),
    "bool": ([1, 0, "yes", None, 1.0], []),
    "scheme": ([None, 1, b"dpa"], ["mt", "DPA"]),
    "seeding?": ([1, b"rank"], ["world"]),
    "split": ([None, 1], ["blocks"]),
    "uneven": ([None, 1], ["fill"]),
    "config?": (["mild", {"rotation_range": (0, 1)}, 3], []),
    "number>0": (["1", True, None], [0, -1.0, math.nan, math.inf]),
    "path": ([None, 3, b"x.npy"], [""]),
}


def _cases():
    cases = [
        (dpa.generate, {"ids": range(4)}, {"threads": "int>=1?", "hash": "bool", "scheme": "scheme",
                                           "epoch": "int>=0", "config": "config?", "rank": "int>=0?"}),
        (dpa.generate, {"ids": range(4), "rank": 0}, {"base_seed": "int>=0"}),
        (dpa.generate, {"ids": range(4), "scheme": "philox"}, {"base_seed": "int>=0", "epoch": "int>=0"}),
        (dpa.stream_augmentation_chain, {"num_samples": 5},
         {"num_samples": "int>=0", "start_id": "int>=0", "chunk_size": "int>=1?", "config": "config?",
          "scheme": "scheme"}),
        (dpa.ParamStream, {"ids": range(5)}, {"chunk_size": "int>=1?", "scheme": "scheme"}),
        (dpa.gen_augmentation_params, {"seed_id": 3}, {"seed_id": "int>=0", "config": "config?"}),
        (dpa.gen_augmentation_seed, {"seed_id": 3}, {"seed_id": "int>=0"}),
        (dpa.fib, {"n": 3}, {"n": "int>=0"}),
        (dpa.Seeding.from_args, {}, {"scheme": "scheme", "epoch": "int>=0", "rank": "int>=0?"}),
        (dpa.Seeding.for_rank, {"scheme": "dpa", "rank": 0},
         {"scheme": "scheme", "mode": "seeding?", "base_seed": "int>=0"}),
        (dpa.AugmentationConfig, {}, {"augmentation_depth": "int>=1"}),
        (dpa.get_preset, {"name": "mild"}, {}),
        (stream_distributed_augmentation_chain, {"num_samples": 10, "rank": 0, "world_size": 2},
         {"num_samples": "int>=0", "rank": "int>=0", "world_size": "int>=1", "base_seed": "int>=0",
          "chunk_size": "int>=1?", "config": "config?", "scheme": "scheme", "seeding": "seeding?",
          "split": "split", "uneven": "uneven", "shuffle": "bool", "epoch": "int>=0",
          "epoch_params": "bool", "start_id": "int>=0", "verbose": "bool"}),
        (stream_distributed_augmentation_range, {"start_id": 0, "end_id": 5, "rank": 0, "world_size": 1},
         {"start_id": "int>=0", "end_id": "int", "rank": "int>=0", "world_size": "int>=1",
          "chunk_size": "int>=1?", "base_seed": "int>=0"}),
        (DistributedParamStream, {"ids": range(4), "rank": 0, "world_size": 1},
         {"rank": "int>=0", "world_size": "int>=1", "split": "split", "uneven": "uneven",
          "shuffle": "bool", "epoch": "int>=0", "epoch_params": "bool", "scheme": "scheme"}),
        (gen_distributed_augmentation_params, {"sample_id": 1, "rank": 0},
         {"sample_id": "int>=0", "rank": "int>=0", "world_size": "int>=1", "config": "config?",
          "scheme": "scheme", "seeding": "seeding?"}),
        (DistributedRangeSplitter, {"total_samples": 10, "world_size": 2},
         {"total_samples": "int>=0", "world_size": "int>=1"}),
        (RankAwareSeedGenerator, {}, {"base_seed": "int>=0", "world_size": "int>=1"}),
        (rank_sample_ids, {"num_samples": 10, "rank": 0, "world_size": 2},
         {"num_samples": "int>=0", "rank": "int>=0", "world_size": "int>=1", "split": "split",
          "uneven": "uneven", "shuffle": "bool", "epoch": "int>=0", "base_seed": "int>=0",
          "start_id": "int>=0"}),
        (RankLayout, {"num_samples": 10},
         {"num_samples": "int>=0", "rank": "int>=0", "world_size": "int>=1", "split": "split",
          "uneven": "uneven", "shuffle": "bool", "base_seed": "int>=0", "start_id": "int>=0"}),
        (RankSeeding, {}, {"scheme": "scheme", "mode": "seeding?", "base_seed": "int>=0",
                           "epoch_params": "bool"}),
        (shuffle_positions, {"positions": range(3), "n": 5}, {"n": "int>=0", "base_seed": "int>=0",
                                                             "epoch": "int>=0"}),
        (BatchConfig, {"strategy": BatchStrategy.SEQUENTIAL},
         {"batch_size": "int>=1?", "min_batch_size": "int>=1", "max_batch_size": "int>=1?",
          "max_memory_mb": "number>0", "adaptive_sizing": "bool", "reuse_buffers": "bool",
          "sample_size_bytes": "int>=1?", "window_size": "int>=1?"}),
        (MemoryAwareBatcher, {}, {"max_memory_mb": "number>0", "min_batch_size": "int>=1",
                                  "max_batch_size": "int>=1?"}),
    ]
    out = []
    for func, base, args in cases:
        for name, kind in args.items():
            wrong_types, wrong_values = KINDS[kind]
            for v in wrong_types:
                out.append(pytest.param(func, base, name, v, TypeError,
                                        id=f"{func.__qualname__}-{name}-type-{v!r}"))
            for v in wrong_values:
                out.append(pytest.param(func, base, name, v, ValueError,
                                        id=f"{func.__qualname__}-{name}-value-{v!r}"))
    return out


@pytest.mark.parametrize("func, base, name, value, exc", _cases())
def test_wrong_argument_is_named(func, base, name, value, exc):
    with pytest.raises(exc) as info:
        func(**{**base, name: value})
    other = TypeError if exc is ValueError else ValueError
    # the batch engine's errors are DPA's class, which is a ValueError; its
    # type errors are both, so only ask the value errors not to be TypeErrors
    if exc is ValueError:
        assert not isinstance(info.value, other), info.value
    assert name in str(info.value) or (name == "mode" and "seeding" in str(info.value)), info.value


@pytest.mark.parametrize("value, exc", [
    (None, TypeError), (3, TypeError), (b"x.npy", TypeError), ("", ValueError),
])
@pytest.mark.parametrize("call", ["save_npy", "load", "compute_stats", "verify_npy"])
def test_io_paths(tmp_path, call, value, exc):
    args = {"save_npy": lambda p: dio.save_npy(np.zeros(3, dpa.PARAM_DTYPE), p),
            "load": dio.load, "compute_stats": dio.compute_stats, "verify_npy": dio.verify_npy}
    with pytest.raises(exc, match="path"):
        args[call](value)


def test_io_flags(tmp_path):
    arr = np.zeros(3, dpa.PARAM_DTYPE)
    for name in ("hash", "force", "resume"):
        with pytest.raises(TypeError, match=name):
            dio.save_npy(arr, tmp_path / "a.npy", **{name: "yes"})
    with pytest.raises(TypeError, match="batch_size"):
        dio.save_npy(arr, tmp_path / "a.npy", batch_size=2.0)
    with pytest.raises(ValueError, match="batch_size"):
        dio.save_npy(arr, tmp_path / "a.npy", batch_size=0)
    assert not any(tmp_path.iterdir())


def test_batch_processor_arguments():
    with pytest.raises(TypeError, match="strategy"):
        BatchProcessor("sequential")
    with pytest.raises(TypeError, match="config"):
        BatchProcessor(BatchStrategy.SEQUENTIAL, {"batch_size": 3})
    with pytest.raises(TypeError, match="hash"):
        BatchProcessor(BatchStrategy.SEQUENTIAL).process_stream(dpa.stream_augmentation_chain(3),
                                                                hash="yes")


def test_kernel_paths_argument():
    with pytest.raises(TypeError, match="paths"):
        dpa.set_kernel_paths(3)
    with pytest.raises(ValueError, match="kernel path"):
        dpa.set_kernel_paths(["neon"])


@pytest.mark.parametrize("value", [2**300, -(2**300), 10**5000], ids=["2**300", "-2**300", "10**5000"])
def test_huge_integers_are_described_not_printed(value):
    with pytest.raises(ValueError) as info:
        _validate.check_int(value, "x", minimum=0, maximum=10)
    assert "bits>" in str(info.value) and len(str(info.value)) < 200


def test_path_checker():
    assert _validate.check_path(Path("a") / "b.npy") == Path("a/b.npy")
    with pytest.raises(ValueError, match="NUL"):
        _validate.check_path("a\x00b")
