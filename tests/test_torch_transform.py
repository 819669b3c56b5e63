"""``dpa.torch.apply_params``: against a slow per-sample reference, the meaning of each
parameter, bit-identical between runs, batches and thread counts, dtypes, layouts, targets."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import dpa  # noqa: E402
import dpa.torch as T  # noqa: E402

AGGRESSIVE = dpa.get_preset("aggressive")


def _batch(n, seed=77, epoch=2, config=AGGRESSIVE, start=0):
    recs = dpa.generate(range(start, start + n), config, scheme="philox", base_seed=seed,
                        epoch=epoch)
    return T.ParamBatch.from_records(recs, seed, epoch)


def _fixed(rotation=0.0, brightness=1.0, noise=0.0, scale=1.0, contrast=1.0, n=1):
    table = torch.tensor([[rotation], [brightness], [noise], [scale], [contrast]],
                         dtype=torch.float64).repeat(1, n)
    return T.ParamBatch(torch.arange(n, dtype=torch.int64), table, 1)


def _images(n, c=3, h=37, w=52, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g)


def reference(image, p, noise):
    """One image, written plainly: affine_grid + grid_sample, gain, blend, noise, clamp."""
    c, h, w = image.shape
    angle, s = math.radians(p["rotation"]), p["scale"]
    # output pixel -> input pixel, in centred pixel coordinates with y down: the content
    # turns counter-clockwise on screen, so sample at R(-angle)-rotated, 1/s-scaled points
    cos, sin = math.cos(angle) / s, math.sin(angle) / s
    theta = torch.tensor([[[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]]])
    grid = F.affine_grid(theta, (1, c, h, w), align_corners=False)
    y = F.grid_sample(image[None], grid, align_corners=False)[0]
    y = y * p["brightness"]
    mean = y.mean()
    y = mean + (y - mean) * p["contrast"]
    return (y + noise).clamp(0, 1)


def test_matches_the_per_sample_reference():
    images, params = _images(9), _batch(9)
    got = T.apply_params(images, params)
    noise = T.pixel_noise(params, images.shape[1:])
    for k in range(9):
        p = {f: float(v[k]) for f, v in params.params.items()}
        want = reference(images[k], p, noise[k])
        torch.testing.assert_close(got[k], want, atol=2e-5, rtol=0)


def test_bit_identical_between_runs_batches_and_threads():
    images, params = _images(7, h=64, w=48), _batch(7)
    first = T.apply_params(images, params)
    assert torch.equal(T.apply_params(images, params), first)
    order = [6, 2, 0, 5]
    assert torch.equal(T.apply_params(images[order], params.select(order)), first[order])
    for k in range(7):
        assert torch.equal(T.apply_params(images[k:k + 1], params.select([k]))[0], first[k])
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert torch.equal(T.apply_params(images, params, threads=1), first)
        torch.set_num_threads(2)
        assert torch.equal(T.apply_params(images, params, threads=2), first)
    finally:
        torch.set_num_threads(threads)


def _dot(h, w, x, y):
    img = torch.zeros(1, 1, h, w)
    img[0, 0, y, x] = 1.0
    return img


def _peak(img):
    flat = int(img[0, 0].flatten().argmax())
    return flat % img.shape[-1], flat // img.shape[-1]  # (x, y)


def test_rotation_is_counter_clockwise_about_the_centre_and_scale_zooms():
    # a dot right of the centre goes to above the centre under +90 degrees
    img = _dot(41, 41, 30, 20)
    out = T.apply_params(img, _fixed(rotation=90.0), noise=False, interpolation="nearest")
    assert _peak(out) == (20, 10)
    out = T.apply_params(img, _fixed(rotation=-90.0), noise=False, interpolation="nearest")
    assert _peak(out) == (20, 30)
    # zoom 2 about the centre: the dot's offset doubles
    img = _dot(41, 41, 25, 17)
    out = T.apply_params(img, _fixed(scale=2.0), noise=False, interpolation="nearest")
    assert _peak(out) == (30, 14)
    # a non-square image rotates in pixels, not in normalised coordinates
    img = _dot(31, 61, 40, 15)
    out = T.apply_params(img, _fixed(rotation=90.0), noise=False, interpolation="nearest")
    assert _peak(out) == (30, 5)


def test_brightness_gain_contrast_blend_and_noise_std():
    img = torch.full((1, 1, 8, 8), 0.25)
    img[..., :4] = 0.5  # mean 0.375
    out = T.apply_params(img, _fixed(brightness=1.5), noise=False)
    torch.testing.assert_close(out, img * 1.5)
    out = T.apply_params(img, _fixed(contrast=0.5), noise=False)
    torch.testing.assert_close(out, 0.375 + (img - 0.375) * 0.5)
    flat = torch.full((1, 3, 256, 256), 0.5)
    out = T.apply_params(flat, _fixed(noise=0.05))
    assert abs(float((out - 0.5).std()) - 0.05) < 0.001
    assert float(out.min()) >= 0 and float(out.max()) <= 1


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float16, torch.bfloat16, torch.float64])
def test_dtypes(dtype):
    base = _images(4)
    params = _batch(4)
    want = T.apply_params(base, params)
    if dtype == torch.uint8:
        images = (base * 255).round().to(torch.uint8)
        got = T.apply_params(images, params)
        ref = T.apply_params(images.float() / 255, params)
        assert got.dtype == torch.uint8
        assert torch.equal(got, (ref * 255).round().to(torch.uint8))
    else:
        got = T.apply_params(base.to(dtype), params)
        assert got.dtype == dtype
        tol = 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-5
        torch.testing.assert_close(got.float(), want, atol=tol, rtol=0)


def test_channels_last_and_float32_params_on_the_device():
    images, params = _images(5), _batch(5)
    want = T.apply_params(images, params)
    cl = images.contiguous(memory_format=torch.channels_last)
    got = T.apply_params(cl, params.to(images.device, torch.float32))
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, want, atol=2e-5, rtol=0)


def test_masks_follow_the_image_with_nearest_sampling():
    n, h, w = 3, 30, 40
    labels = torch.randint(0, 5, (n, h, w), generator=torch.Generator().manual_seed(3))
    params = _batch(n)
    images = labels[:, None].float() / 4  # an image that is the mask
    out_img, out_mask = T.apply_params(images, params, masks=labels, noise=False,
                                       interpolation="nearest", mask_fill=255)
    assert out_mask.dtype == labels.dtype and out_mask.shape == labels.shape
    inside = out_mask != 255
    # brightness and contrast change the image's values per level, not which input pixel
    # each output pixel shows: every output pixel of one mask label has one image value
    for k in range(n):
        vals = out_img[k, 0][inside[k]]
        levels = out_mask[k][inside[k]]
        for v in levels.unique().tolist():
            got = vals[levels == v]
            assert float(got.max() - got.min()) <= 1e-6, (k, v)
    assert (~inside).any()  # rotated corners fall outside
    multi = torch.stack([labels, labels], 1).to(torch.uint8)
    _, out2 = T.apply_params(images, params, masks=multi, noise=False, mask_fill=255)
    assert torch.equal(out2[:, 0].long(), out_mask) and torch.equal(out2[:, 1], out2[:, 0])


def test_keypoints_and_boxes_follow_the_content():
    h, w = 61, 81
    params = _fixed(rotation=30.0, scale=1.3, n=1)
    x, y = 55, 20
    out, kp, boxes = T.apply_params(_dot(h, w, x, y), params,
                                    keypoints=torch.tensor([[[x + 0.5, y + 0.5]]]),
                                    boxes=torch.tensor([[[x, y, x + 1.0, y + 1.0]]]),
                                    noise=False, interpolation="bilinear")
    px, py = _peak(out)
    assert abs(kp[0, 0, 0] - (px + 0.5)) <= 1 and abs(kp[0, 0, 1] - (py + 0.5)) <= 1
    b = boxes[0, 0]
    assert b[0] <= kp[0, 0, 0] <= b[2] and b[1] <= kp[0, 0, 1] <= b[3]
    # the centre stays put; keypoints of a batch move by their own sample's parameters
    params = _batch(4)
    centre = torch.tensor([w / 2, h / 2]).repeat(4, 1, 1)
    _, moved = T.apply_params(torch.zeros(4, 1, h, w), params, keypoints=centre)
    torch.testing.assert_close(moved, centre)


def test_an_empty_batch_comes_back_as_it_is():
    empty = torch.zeros(0, 3, 8, 8)
    assert T.apply_params(empty, _batch(0)).shape == (0, 3, 8, 8)
    out, kp = T.apply_params(empty, _batch(0), keypoints=torch.zeros(0, 2, 2))
    assert out.shape == (0, 3, 8, 8) and kp.shape == (0, 2, 2)


def test_bad_arguments():
    images, params = _images(2), _batch(2)
    with pytest.raises(TypeError, match="params should be a dpa.torch.ParamBatch"):
        T.apply_params(images, params.params)
    with pytest.raises(ValueError, match="params has 2 samples, but images has 3"):
        T.apply_params(_images(3), params)
    with pytest.raises(ValueError, match=r"images should have shape \(N, C, H, W\)"):
        T.apply_params(images[0], params)
    with pytest.raises(TypeError, match="images should be uint8, float16"):
        T.apply_params(images.to(torch.int32), params)
    with pytest.raises(ValueError, match="interpolation should be one of"):
        T.apply_params(images, params, interpolation="area")
    with pytest.raises(ValueError, match="masks has shape"):
        T.apply_params(images, params, masks=torch.zeros(3, 37, 52))
