"""dpa.torch's figures, each against the baseline the issue names, in the same run.

Rows (medians of interleaved rounds after a warm-up; ``quick`` shrinks the sizes):

``apply_params``
    :func:`dpa.torch.apply_params`, all five parameters with the reproducible
    noise, on a batch of 64 x 3 x 224 x 224 float32 CPU images (8 with
    ``quick``), images/s, against ``kornia_pipeline``: Kornia's
    ``RandomAffine`` (rotation and scale), ``ColorJitter`` (brightness gain,
    contrast blend towards the mean, in that order) and ``RandomGaussianNoise``
    on the same batch.  Skipped, with the reason, when Kornia is not installed
    (the ``bench`` extra).
``pixel_noise`` / ``pixel_noise_1_thread``
    :func:`dpa.torch.pixel_noise` filling one reused float32 buffer of that
    batch's shape (all threads; one thread), values/s, against
    ``torch_randn``: ``torch.randn(..., out=buf)`` filling the same buffer
    (not reproducible per sample).
``pixel_noise_small``
    The same for a batch of 32 x 3 x 64 x 64 (at most the big batch's size),
    a DataLoader step on small images, against ``torch_randn_small`` into
    that buffer: where handing parts to threads costs most, relative to the
    fill.  The two take turns in rounds of their own (five times as many),
    so that each follows the other and neither follows a 38 MB fill.
``loader_epoch``
    One epoch of ``DataLoader(ParamDataset(images), sampler=
    DistributedIndexSampler, batch_size=64, num_workers=2)`` over 1,024 images of
    3 x 128 x 128 (256 of 3 x 32 x 32 with ``quick``) with
    ``apply_params`` on every batch, samples/s, against ``loader_epoch_rand``:
    the same loop over the plain dataset with ``DistributedSampler`` and
    hand-written parameters (``torch.rand`` in the ranges), the same ops
    (``affine_grid``, ``grid_sample``, gain, contrast blend, ``torch.randn``
    noise, clamp).  The target is ``ratio >= 0.9`` (within 10%).
``loader_only`` / ``loader_only_plain``
    The same two loops without any transform: what the wrapper (parameters
    made in the workers, batched, sent with the images) costs by itself.

Run alone: ``python -m dpa.bench.torch [--quick]``.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

try:
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Dataset, DistributedSampler
except ImportError as exc:  # the section is then reported as skipped
    raise ImportError("torch not installed (pip install 'dpa-augment[torch]')") from exc

import dpa
import dpa.torch as T

from .core import _figure

__all__ = ["run"]


def _kornia_pipeline() -> tuple[Any, str | None]:
    """Kornia's equivalent of the five parameters, or None and why not."""
    try:
        import kornia.augmentation as K
    except ImportError:
        return None, "kornia not installed (pip install 'dpa-augment[bench]')"
    cfg = dpa.get_preset("moderate")
    pipeline = torch.nn.Sequential(
        K.RandomAffine(degrees=cfg.rotation_range, scale=cfg.scale_range, p=1.0),
        K.ColorJitter(brightness=(cfg.brightness_range), contrast=cfg.contrast_range,
                      order=(0, 1), p=1.0),
        K.RandomGaussianNoise(mean=0.0, std=cfg.noise_range[1], p=1.0),
    )
    return pipeline, None


class _Images(Dataset):
    """Images held in memory (the loop measures loading overhead, not decoding)."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[int(i)]

    def __getitems__(self, keys: list[int]) -> list[torch.Tensor]:
        return list(self.images[keys])


def _hand_written(images: torch.Tensor, cfg: Any) -> torch.Tensor:
    """The baseline loop's transform: torch.rand parameters, the same ops as apply_params."""
    n, _, h, w = images.shape

    def draw(lo_hi: tuple[float, float]) -> torch.Tensor:
        lo, hi = lo_hi
        return lo + (hi - lo) * torch.rand(n)

    angle, scale = draw(cfg.rotation_range) * (math.pi / 180), draw(cfg.scale_range)
    bright, contrast, std = draw(cfg.brightness_range), draw(cfg.contrast_range), \
        draw(cfg.noise_range)
    c, s = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = c, -s * h / w
    theta[:, 1, 0], theta[:, 1, 1] = s * w / h, c
    y = F.grid_sample(images, F.affine_grid(theta, images.shape, align_corners=False),
                      align_corners=False)
    mean = y.mean(dim=(1, 2, 3))
    y.mul_((bright * contrast)[:, None, None, None])
    y.add_((bright * (1 - contrast) * mean)[:, None, None, None])
    y.add_(torch.randn(y.shape) * std[:, None, None, None])
    return y.clamp_(0, 1)


def _rounds(work: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each call in ``repeats`` rounds, the calls taking turns, after a warm-up."""
    times: dict[str, list[float]] = {k: [] for k in work}
    with torch.no_grad():
        for fn in work.values():
            fn()
        for _ in range(repeats):
            for name, fn in work.items():
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return times


def _epoch(loader: DataLoader, sampler: Any, step: Callable[[Any], Any], epoch: int) -> float:
    sampler.set_epoch(epoch)
    t = time.perf_counter()
    for batch in loader:
        step(batch)
    return time.perf_counter() - t


def run(quick: bool = False, repeats: int | None = None, *, batch: int | None = None,
        side: int = 224, loader_samples: int | None = None,
        loader_side: int | None = None) -> list[dict[str, Any]]:
    """The rows above; the keywords shrink the sizes (the tests run it tiny)."""
    batch = batch or (8 if quick else 64)
    repeats = repeats or (3 if quick else 7)
    threads = dpa.default_threads()
    cfg = dpa.get_preset("moderate")
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, side, side, generator=gen)
    recs = dpa.generate(range(batch), cfg, scheme="philox", base_seed=7, epoch=1)
    params = T.ParamBatch.from_records(recs, 7, 1)
    buf = torch.empty(images.shape)
    small_side = min(side, 64)
    small = torch.empty(min(batch, 32), 3, small_side, small_side)
    small_params = params.select(list(range(small.shape[0])))
    kornia, why_not = _kornia_pipeline()

    work: dict[str, Callable[[], Any]] = {
        "apply_params": lambda: T.apply_params(images, params),
        "pixel_noise": lambda: T.pixel_noise(params, images.shape[1:], out=buf),
        "pixel_noise_1_thread": lambda: T.pixel_noise(params, images.shape[1:], out=buf,
                                                      threads=1),
        "torch_randn": lambda: torch.randn(images.shape, out=buf),
    }
    if kornia is not None:
        work["kornia_pipeline"] = lambda: kornia(images)
    times = _rounds(work, repeats)
    times.update(_rounds({
        "pixel_noise_small": lambda: T.pixel_noise(small_params, small.shape[1:], out=small),
        "torch_randn_small": lambda: torch.randn(small.shape, out=small),
    }, 5 * repeats))

    # ---- the DataLoader epoch, both loops taking turns ----
    n_loader = loader_samples or (256 if quick else 1024)
    loader_side = loader_side or (32 if quick else 128)
    data = torch.rand(n_loader, 3, loader_side, loader_side, generator=gen)
    plain = _Images(data)
    ours_ds = T.ParamDataset(plain, cfg, seed=7)
    ours_sampler = T.DistributedIndexSampler(ours_ds, num_replicas=1, rank=0, seed=7)
    base_sampler = DistributedSampler(plain, num_replicas=1, rank=0, seed=7)
    ours = DataLoader(ours_ds, batch_size=64, sampler=ours_sampler, num_workers=2)
    base = DataLoader(plain, batch_size=64, sampler=base_sampler, num_workers=2)
    loader_rounds = min(repeats, 1 if quick else 5)
    loops = {
        "loader_epoch": (ours, ours_sampler, lambda b: T.apply_params(b[0], b[1])),
        "loader_epoch_rand": (base, base_sampler, lambda b: _hand_written(b, cfg)),
        "loader_only": (ours, ours_sampler, lambda b: None),
        "loader_only_plain": (base, base_sampler, lambda b: None),
    }
    for name in loops:
        times[name] = []
    with torch.no_grad():
        for r in range(loader_rounds + 1):  # round 0 warms up
            for name, (loader, sampler, step) in loops.items():
                seconds = _epoch(loader, sampler, step, r)
                if r:
                    times[name].append(seconds)

    counts = {k: batch for k in ("apply_params", "kornia_pipeline")}
    counts.update({k: images.numel() for k in ("pixel_noise", "pixel_noise_1_thread",
                                               "torch_randn")})
    counts.update({k: small.numel() for k in ("pixel_noise_small", "torch_randn_small")})
    counts.update({k: n_loader for k in loops})
    rate = {k: counts[k] / statistics.median(v) for k, v in times.items() if v}

    def fig(name: str, baseline: str | None, unit: str, desc: str, **extra: Any) -> dict:
        v = times[name]
        base = (baseline, rate[baseline]) if baseline else None
        return _figure(name, rate[name], unit, desc, base, repeats=len(v), threads=threads,
                       spread=(max(v) - min(v)) / statistics.median(v), **extra)

    shape = "x".join(map(str, images.shape))
    rows = [
        fig("torch_randn", None, "values/s", f"torch.randn into a {shape} float32 buffer"),
        fig("pixel_noise", "torch_randn", "values/s",
            "philox-normal-v1 into the same buffer, all threads"),
        fig("pixel_noise_1_thread", "torch_randn", "values/s",
            "philox-normal-v1 into the same buffer, one thread"),
        fig("torch_randn_small", None, "values/s",
            f"torch.randn into a {'x'.join(map(str, small.shape))} float32 buffer"),
        fig("pixel_noise_small", "torch_randn_small", "values/s",
            "philox-normal-v1 into the same buffer, all threads"),
    ]
    if kornia is not None:
        rows.append(fig("kornia_pipeline", None, "images/s",
                        f"RandomAffine + ColorJitter + RandomGaussianNoise, {shape}"))
        rows.append(fig("apply_params", "kornia_pipeline", "images/s",
                        f"apply_params, five parameters and noise, {shape}"))
    else:
        rows.append(fig("apply_params", None, "images/s",
                        f"apply_params, five parameters and noise, {shape}",
                        kornia_pipeline=f"skipped: {why_not}"))
    rows.append(fig("loader_epoch_rand", None, "samples/s",
                    f"DataLoader epoch, {n_loader} x 3x{loader_side}x{loader_side}, 2 workers, "
                    "batch 64, "
                    "torch.rand parameters, the same ops"))
    rows.append(fig("loader_epoch", "loader_epoch_rand", "samples/s",
                    "the same epoch with ParamDataset + DistributedIndexSampler + apply_params"))
    rows.append(fig("loader_only_plain", None, "samples/s",
                    "the plain loop's loading alone (no transform)"))
    rows.append(fig("loader_only", "loader_only_plain", "samples/s",
                    "ParamDataset + DistributedIndexSampler loading alone: the wrapper's cost"))
    return rows


if __name__ == "__main__":
    for f in run(quick="--quick" in sys.argv):
        r = f"  ratio {f['ratio']:.3f} vs {f['baseline']}" if f["ratio"] else ""
        print(f"{f['name']:22s} {f['value']:>16,.0f} {f['unit']}{r}")
