"""Applying a batch's parameters to its images: :func:`apply_params`.

What each parameter means (docs/parameters.md), in the order applied:

1. ``rotation`` (degrees, counter-clockwise as displayed) and ``scale`` (a
   zoom: 1.2 shows the content 1.2 times larger), both about the image
   centre, in one resampling (``grid_sample``, bilinear by default, zeros
   outside the image, ``align_corners=False``);
2. ``brightness``, a gain: ``x * brightness``;
3. ``contrast``, a blend towards the image's mean: ``m + (x - m) * contrast``
   with ``m`` the mean over the image's channels and pixels (after steps 1
   and 2);
4. ``noise``, the std of additive Gaussian noise, ``philox-normal-v1``
   (:mod:`dpa.torch.noise`);
5. a clamp to ``[0, 1]``.

Values are on the ``[0, 1]`` scale: uint8 images are read as ``x / 255`` and
written back rounded; float16/bfloat16 images are computed in float32.  The
sampling grid is built with elementwise operations (no matrix product) and
the image mean is accumulated in float64, so an image's result does not
depend on the batch it is in or on torch's thread count.

Targets that travel with the image get the same geometry: masks with
nearest-neighbour sampling (out-of-image pixels get ``mask_fill``), keypoints
and boxes by the forward map.  Their coordinates are pixels with the image
spanning ``[0, W] x [0, H]`` (a pixel's centre at ``+0.5``), x to the right
and y down; a box's result is the axis-aligned box around its four
transformed corners.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import torch
import torch.nn.functional as F

from .._validate import check_bool, check_choice, check_int
from .noise import pixel_noise
from .params import ParamBatch

__all__ = ["INTERPOLATIONS", "PADDING_MODES", "apply_params"]

INTERPOLATIONS = ("bilinear", "nearest", "bicubic")
PADDING_MODES = ("zeros", "border", "reflection")

_FLOAT_DTYPES = (torch.float32, torch.float64)
_LOW_DTYPES = (torch.float16, torch.bfloat16)

# Per-thread buffer for the noise (fresh pages cost more than the fill); it lives as
# long as its thread, one batch of float32 noise.
_local = threading.local()


def _noise_buffer(shape: tuple[int, ...]) -> torch.Tensor:
    buf = getattr(_local, "noise", None)
    if buf is None or tuple(buf.shape) != shape:
        buf = _local.noise = torch.empty(shape, dtype=torch.float32)
    return buf


def _check_images(images: Any) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images should be a torch.Tensor, but got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"images should have shape (N, C, H, W), but have shape "
                         f"{tuple(images.shape)}")
    if images.dtype not in (torch.uint8, *_FLOAT_DTYPES, *_LOW_DTYPES):
        raise TypeError(f"images should be uint8, float16, bfloat16, float32 or float64, but "
                        f"are {images.dtype}")
    return images


def _check_params(params: Any, n: int) -> ParamBatch:
    if not isinstance(params, ParamBatch):
        raise TypeError(
            "params should be a dpa.torch.ParamBatch (what the samplers and ParamDataset "
            f"deliver), but got {type(params).__name__}"
        )
    if len(params) != n:
        raise ValueError(f"params has {len(params)} samples, but images has {n}")
    if params.table.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"params.table should be float32 or float64, but is {params.table.dtype}")
    return params


def _affine(table: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, ...]:
    """The output-to-input map in normalised coordinates: ``(m00, m01, m10, m11)``.

    In centred pixel coordinates (y down) the content is moved by
    ``s * [[cos, sin], [-sin, cos]]`` (counter-clockwise on screen); a
    sampler needs the inverse, ``[[cos, -sin], [sin, cos]] / s``, expressed
    in grid_sample's coordinates, which scale x by ``2 / W`` and y by ``2 / H``.
    """
    angle = table[0] * (math.pi / 180.0)
    inv_scale = 1.0 / table[3]
    c, s = torch.cos(angle) * inv_scale, torch.sin(angle) * inv_scale
    return c, -s * (height / width), s * (width / height), c


def _grid(m: tuple[torch.Tensor, ...], height: int, width: int, dtype: torch.dtype,
          device: torch.device) -> torch.Tensor:
    """The ``(N, H, W, 2)`` sampling grid, built elementwise (no matrix product).

    ``grid[n, h, w] = (m00 x_w + m01 y_h, m10 x_w + m11 y_h)``: a row term
    ``(N, 1, W, 2)`` plus a column term ``(N, H, 1, 2)``, one rounded product
    each and one rounded sum, in a single broadcast addition.
    """
    m00, m01, m10, m11 = (t.to(dtype) for t in m)
    xs = (torch.arange(width, dtype=dtype, device=device) * 2 + 1) / width - 1
    ys = (torch.arange(height, dtype=dtype, device=device) * 2 + 1) / height - 1
    rows = torch.stack((m00[:, None] * xs, m10[:, None] * xs), dim=-1)  # (N, W, 2)
    cols = torch.stack((m01[:, None] * ys, m11[:, None] * ys), dim=-1)  # (N, H, 2)
    return rows[:, None, :, :] + cols[:, :, None, :]


def _means(y: torch.Tensor) -> torch.Tensor:
    """Each image's mean, float64.

    Partial sums first, in float32: each channel plane in two halves (in
    rows when a plane has an odd count), so that torch always reduces many
    outputs, one serial sum each, never one sum split over threads; then the
    few partial sums of an image in float64.  No image's result depends on
    the batch's size or torch's thread count.
    """
    n, c, h, w = y.shape
    parts = 2 * n * c if (h * w) % 2 == 0 else n * c * h
    partial = y.reshape(parts, -1).sum(dim=1)
    return partial.reshape(n, -1).sum(dim=1, dtype=torch.float64) / max(1, c * h * w)


def _forward_points(points: torch.Tensor, table: torch.Tensor, height: int,
                    width: int) -> torch.Tensor:
    """Points ``(N, K, 2)`` (x, y pixels) moved with their image's content."""
    dtype = points.dtype if points.dtype in _FLOAT_DTYPES else torch.float32
    p = points.to(dtype)
    t = table.to(device=p.device, dtype=dtype)
    angle = t[0] * (math.pi / 180.0)
    c, s = torch.cos(angle) * t[3], torch.sin(angle) * t[3]
    x = p[..., 0] - width / 2
    y = p[..., 1] - height / 2
    out = torch.empty_like(p)
    out[..., 0] = c[:, None] * x + s[:, None] * y + width / 2
    out[..., 1] = c[:, None] * y - s[:, None] * x + height / 2
    return out


def _forward_boxes(boxes: torch.Tensor, table: torch.Tensor, height: int,
                   width: int) -> torch.Tensor:
    """Boxes ``(N, B, 4)`` (x1, y1, x2, y2): the box around the moved corners."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    corners = torch.stack([torch.stack(c, -1) for c in ((x1, y1), (x2, y1), (x1, y2), (x2, y2))],
                          dim=2)  # (N, B, 4, 2)
    n, b = corners.shape[:2]
    moved = _forward_points(corners.reshape(n, b * 4, 2), table, height, width).reshape(n, b, 4, 2)
    lo, hi = moved.amin(dim=2), moved.amax(dim=2)
    return torch.cat([lo, hi], dim=-1)


def _check_target(target: Any, name: str, n: int, shape: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"{name} should be a torch.Tensor, but got {type(target).__name__}")
    if target.dim() not in shape or target.shape[0] != n:
        raise ValueError(f"{name} has shape {tuple(target.shape)}, which does not fit {n} images")
    return target


def apply_params(images: torch.Tensor, params: ParamBatch, *, masks: torch.Tensor | None = None,
                 keypoints: torch.Tensor | None = None, boxes: torch.Tensor | None = None,
                 noise: bool = True, interpolation: str = "bilinear",
                 padding_mode: str = "zeros", mask_fill: int = 0,
                 threads: int | None = None) -> Any:
    """apply_params(images, params, *, masks=None, keypoints=None, boxes=None, noise=True, interpolation="bilinear", padding_mode="zeros", mask_fill=0, threads=None)

    Apply each sample's five parameters to its image, for a whole batch.

    A handful of batched tensor operations on the images' device, no Python
    loop per sample (module docs for the meaning and order).

    Parameters
    ----------
    images : Tensor
        ``(N, C, H, W)``, uint8 (0..255), float16, bfloat16, float32 or
        float64 (``[0, 1]``), on any device, contiguous or channels-last.
    params : ParamBatch
        The batch's parameters as the samplers and :class:`ParamDataset`
        deliver them; its table may be float64 on the CPU or float32/float64
        on the images' device (``params.to(device)``).
    masks : Tensor, optional
        ``(N, H, W)`` or ``(N, K, H, W)`` of any dtype: same geometry,
        nearest-neighbour, ``mask_fill`` outside the image.
    keypoints : Tensor, optional
        ``(N, P, 2)`` pixel coordinates ``(x, y)``.
    boxes : Tensor, optional
        ``(N, B, 4)`` pixel boxes ``(x1, y1, x2, y2)``.
    noise : bool
        Add the reproducible pixel noise (default); ``False`` skips step 4.
    interpolation : {"bilinear", "nearest", "bicubic"}
    padding_mode : {"zeros", "border", "reflection"}
        What the images show outside their borders after rotating or zooming out.
    mask_fill : int
        Mask value outside the image.
    threads : int, optional
        Threads for the CPU noise fill (:func:`dpa.torch.pixel_noise`).

    Returns
    -------
    Tensor or tuple
        The images, with the input's dtype, device and memory format; with
        targets, the tuple ``(images, *targets)`` of the given targets in the
        order masks, keypoints, boxes.
    """
    images = _check_images(images)
    n, ch, height, width = images.shape
    params = _check_params(params, n)
    noise = check_bool(noise, "noise")
    interpolation = check_choice(interpolation, "interpolation", INTERPOLATIONS)
    padding_mode = check_choice(padding_mode, "padding_mode", PADDING_MODES)
    mask_fill = check_int(mask_fill, "mask_fill")
    device = images.device
    compute = torch.float64 if images.dtype == torch.float64 else torch.float32
    channels_last = images.is_contiguous(memory_format=torch.channels_last) and ch > 1 \
        and not images.is_contiguous()
    table = params.table.to(device=device, dtype=compute)

    if n == 0 or ch * height * width == 0:  # nothing to sample: the inputs as they are
        given = [t for t in (masks, keypoints, boxes) if t is not None]
        return (images.clone(), *given) if given else images.clone()
    x = images.to(compute)
    if images.dtype == torch.uint8:
        x = x.div_(255.0)
    grid = _grid(_affine(table, height, width), height, width, compute, device)
    y = F.grid_sample(x, grid, mode=interpolation, padding_mode=padding_mode,
                      align_corners=False)

    # brightness then contrast, as one gain and offset per image
    brightness, contrast = table[1], table[4]
    mean = _means(y)
    gain = (brightness * contrast).to(compute)
    offset = (brightness.double() * (1.0 - contrast.double()) * mean).to(compute)
    y.mul_(gain[:, None, None, None]).add_(offset[:, None, None, None])
    if noise:
        buf = pixel_noise(params, (ch, height, width), out=_noise_buffer((n, ch, height, width)),
                          threads=threads)
        y.add_(buf.to(device, non_blocking=False))
    y.clamp_(0.0, 1.0)

    if images.dtype == torch.uint8:
        out = y.mul_(255.0).round_().to(torch.uint8)
    else:
        out = y.to(images.dtype)
    if channels_last:
        out = out.contiguous(memory_format=torch.channels_last)
    results: list[torch.Tensor] = [out]

    if masks is not None:
        masks = _check_target(masks, "masks", n, (3, 4))
        mk = masks[:, None] if masks.dim() == 3 else masks
        mf = mk.to(device=device, dtype=compute) - mask_fill
        sampled = F.grid_sample(mf, grid, mode="nearest", padding_mode="zeros",
                                align_corners=False) + mask_fill
        sampled = sampled.round_() if not masks.dtype.is_floating_point else sampled
        sampled = sampled.to(masks.dtype)
        results.append(sampled[:, 0] if masks.dim() == 3 else sampled)
    if keypoints is not None:
        keypoints = _check_target(keypoints, "keypoints", n, (3,))
        results.append(_forward_points(keypoints, table, height, width).to(keypoints.dtype)
                       if keypoints.dtype.is_floating_point else
                       _forward_points(keypoints, table, height, width))
    if boxes is not None:
        boxes = _check_target(boxes, "boxes", n, (3,))
        results.append(_forward_boxes(boxes, table, height, width))
    return results[0] if len(results) == 1 else tuple(results)
