"""Draw docs/parameters.png: one image under each parameter alone, then all five.

    python tools/make_parameters_figure.py [--out docs/parameters.png]

Needs dpa with its torch extra.  The test image is drawn here (a gradient, a
red "F" that shows which way it turns, a blue disc and a grey scale), so the
figure needs no data file; the PNG is written with the standard library
(zlib), so it needs no imaging package.  Tiles, left to right (the captions
are in docs/parameters.md):

1. the original;
2. rotation +30 (degrees, counter-clockwise);
3. scale 1.3 (a zoom about the centre);
4. brightness 1.3 (a gain);
5. contrast 0.5 (halfway towards the image's mean);
6. noise 0.1 (std of additive Gaussian noise on the [0, 1] scale);
7. all five at once: rotation -20, brightness 0.9, noise 0.05, scale 0.85, contrast 1.3.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import struct
import tempfile
import zlib

import torch

import dpa.torch as T

SIZE = 112
GAP = 4
#: (rotation, brightness, noise, scale, contrast) per tile after the original.
TILES = [
    (30.0, 1.0, 0.0, 1.0, 1.0),
    (0.0, 1.0, 0.0, 1.3, 1.0),
    (0.0, 1.3, 0.0, 1.0, 1.0),
    (0.0, 1.0, 0.0, 1.0, 0.5),
    (0.0, 1.0, 0.1, 1.0, 1.0),
    (-20.0, 0.9, 0.05, 0.85, 1.3),
]


def test_image(size: int = SIZE) -> torch.Tensor:
    """A 3 x size x size float image in [0, 1]."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size),
                            indexing="ij")
    img = torch.stack([0.35 + 0.3 * xs, 0.45 + 0.2 * ys, 0.55 - 0.2 * xs])
    s = size / 112
    red = torch.tensor([0.85, 0.15, 0.1])[:, None]

    def box(x0: float, y0: float, x1: float, y1: float, colour: torch.Tensor) -> None:
        img[:, int(y0 * s):int(y1 * s), int(x0 * s):int(x1 * s)] = colour[:, :, None] \
            if colour.dim() == 2 else colour

    box(30, 22, 42, 90, red)  # the F's stem
    box(30, 22, 78, 34, red)  # its top bar
    box(30, 50, 66, 61, red)  # its middle bar
    disc = ((xs - 0.72) ** 2 + (ys - 0.72) ** 2) < 0.012
    img[:, disc] = torch.tensor([0.1, 0.25, 0.85])[:, None]
    for k in range(8):  # a grey scale along the bottom
        box(8 + 12 * k, 98, 20 + 12 * k, 106, torch.full((3, 1), k / 7))
    return img


def figure() -> torch.Tensor:
    """The strip of tiles, 3 x SIZE x width, in [0, 1]."""
    image = test_image()
    table = torch.tensor(TILES, dtype=torch.float64).T.contiguous()
    params = T.ParamBatch(torch.arange(len(TILES), dtype=torch.int64), table, seed=12)
    tiles = [image, *T.apply_params(image.expand(len(TILES), -1, -1, -1).contiguous(), params)]
    width = len(tiles) * SIZE + (len(tiles) - 1) * GAP
    strip = torch.ones(3, SIZE, width)
    for k, tile in enumerate(tiles):
        strip[:, :, k * (SIZE + GAP):k * (SIZE + GAP) + SIZE] = tile
    return strip


def png_bytes(rgb: torch.Tensor) -> bytes:
    """An 8-bit RGB PNG of a 3 x H x W image in [0, 1] (standard library only)."""
    pixels = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous()
    h, w, _ = pixels.shape
    raw = b"".join(b"\x00" + bytes(pixels[y].flatten().tolist()) for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_exclusive(path: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to a new temporary file beside ``path``, fsync, rename into place."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> None:
    here = pathlib.Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(here / "docs" / "parameters.png"))
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    write_exclusive(out, png_bytes(figure()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
