"""Write philox-normal-v1-vectors.json: pixel noise made from the written specification.

    python tests/data/make_noise_vectors.py [--out PATH]

This script is a second, independent implementation of the ``philox-normal-v1``
noise of ``docs/schemes.md`` ("The philox-normal-v1 specification"), written
from that text alone with the standard library: Philox4x32-10, the noise
counters, Box-Muller with the specification's own logarithm, sine and cosine
(basic IEEE-754 operations only, so every machine computes the same bits), and
the final rounding to binary32 (Philox4x32-10 itself is imported from
``make_philox_vectors.py`` beside it, the philox-v1 script written from the
same specification).  It never imports dpa, so the file pins dpa's
compiled kernel (every path) to the specification rather than to dpa's code.

Python's float arithmetic is IEEE-754 binary64 with correctly rounded ``+``,
``-``, ``*``, ``/`` and ``math.sqrt``; ``math.frexp`` and ``struct``'s
binary32 packing (round to nearest, ties to even) are exact operations.  The
script never calls ``math.log``, ``math.sin`` or ``math.cos`` for a result;
it uses them only to check that its own functions agree with them to a few
ulps (``check_accuracy``), which shows the polynomials are the right ones.

Before writing it checks its Philox4x32-10 against Random123's published
known answers.  The output is deterministic (fixed-seed ``random.Random``):
running the script again gives the same bytes, which a test checks.

File layout (binary64 values as ``float.hex`` strings, binary32 values as
their 32-bit patterns, integers of any size exact):

``spec``, ``made_by``, ``version``
    What the file is and how it was produced.
``pairs``
    The Box-Muller step alone: ``words`` ``[a, b]`` (two 32-bit words) and
    ``z`` (the two binary64 normals, hex).
``cases``
    One object per (seed, epoch, sample id, std, pixel run): ``seed``,
    ``epoch``, ``sample_id``, ``std`` (hex), ``first_pixel`` and ``bits``: the
    binary32 patterns of the noise at pixels ``first_pixel ..
    first_pixel + len(bits) - 1`` of that sample.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import random
import struct
import sys
from fractions import Fraction

VERSION = "philox-normal-v1"
MASK32 = 2**32 - 1

# ---- Philox4x32-10: the philox-v1 script's, written from the same specification -------

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_philox_vectors import KNOWN_ANSWERS, _words, philox4x32_10  # noqa: E402

# ---- the constants: binary64 values nearest to exact numbers ---------------------

LN2 = float.fromhex("0x1.62e42fefa39efp-1")        # ln 2
PI_4 = float.fromhex("0x1.921fb54442d18p-1")       # pi / 4
SQRT_HALF = float.fromhex("0x1.6a09e667f3bcdp-1")  # sqrt(1/2)
#: log: 2 / (2k + 1), k = 1 .. 8.
LOG_C = [float(Fraction(2, 2 * k + 1)) for k in range(1, 9)]
#: sine: (-1)**k / (2k + 1)!, k = 1 .. 7.
SIN_C = [float(Fraction((-1) ** k, math.factorial(2 * k + 1))) for k in range(1, 8)]
#: cosine: (-1)**k / (2k)!, k = 1 .. 8.
COS_C = [float(Fraction((-1) ** k, math.factorial(2 * k))) for k in range(1, 9)]


def horner(coeffs, x):
    """coeffs[0] + x * (coeffs[1] + x * (...)), each product and sum rounded."""
    p = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        p = p * x + c
    return p


def spec_log(u):
    """ln(u) for u in [2**-32, 1], as the specification computes it."""
    g, x = math.frexp(u)  # u = g * 2**x, 0.5 <= g < 1 (exact)
    if g < SQRT_HALF:
        f, e = g + g, x - 1
    else:
        f, e = g, x
    s = (f - 1.0) / (f + 1.0)
    z = s * s
    log_f = (s + s) + (s * z) * horner(LOG_C, z)
    return e * LN2 + log_f


def spec_cos_sin(b):
    """(cos, sin) of the angle 2*pi*b / 2**32, as the specification computes them."""
    o = b >> 29
    m = b & (2**29 - 1)
    if o & 1:
        m = 2**29 - m
    alpha = (m * 2.0**-29) * PI_4
    a = alpha * alpha
    s = alpha + (alpha * a) * horner(SIN_C, a)
    c = 1.0 + a * horner(COS_C, a)
    if o & 1:
        s = -s
    q = ((o + 1) >> 1) & 3
    if q & 1:
        c, s = -s, c
    if q & 2:
        c, s = -c, -s
    return c, s


def normal_pair(a, b):
    """Box-Muller: two binary64 standard normals from two 32-bit words."""
    u = (a + 1.0) * 2.0**-32  # (0, 1], exact
    r = math.sqrt(-2.0 * spec_log(u))
    c, s = spec_cos_sin(b)
    return r * c, r * s


def to_float32_bits(x):
    """The binary32 pattern of x rounded to nearest, ties to even.

    ``struct`` rounds as IEEE-754 does and refuses exactly the values that
    round beyond the largest binary32, which IEEE-754 rounds to infinity.
    """
    try:
        return struct.unpack("<I", struct.pack("<f", x))[0]
    except OverflowError:
        return (0x80000000 if x < 0 else 0) | 0x7F800000


def noise_values(seed, epoch, sample_id, std, first_pixel, count):
    """Binary32 patterns of the noise of one sample at consecutive pixels."""
    key = (seed % 2**32, seed // 2**32)
    out = []
    for j in range(first_pixel, first_pixel + count):
        q, lane = divmod(j, 4)
        counter = (sample_id % 2**32, sample_id // 2**32, epoch, 2**31 + q)
        x = philox4x32_10(counter, key)
        z = normal_pair(x[0], x[1]) + normal_pair(x[2], x[3])
        out.append(to_float32_bits(std * z[lane]))
    return out


# ---- sanity: the polynomials are the functions they claim to be ------------------


def check_accuracy(rng):
    """spec_log within 8 ulps of libm, spec_cos_sin within 1e-15, on many points (not bits)."""
    for _ in range(20000):
        a, b = rng.getrandbits(32), rng.getrandbits(32)
        u = (a + 1.0) * 2.0**-32
        want = math.log(u)
        assert abs(spec_log(u) - want) <= 8 * math.ulp(want), (a, spec_log(u), want)
        c, s = spec_cos_sin(b)
        theta = 2 * math.pi * b / 2**32
        assert abs(c - math.cos(theta)) <= 1e-15 and abs(s - math.sin(theta)) <= 1e-15, b
    for a in (0, 1, MASK32 - 1, MASK32):
        u = (a + 1.0) * 2.0**-32
        assert abs(spec_log(u) - math.log(u)) <= 8 * math.ulp(math.log(u)), a


# ---- what to pin -------------------------------------------------------------------

RNG = random.Random(0x401_5E)

EDGE_WORDS = [0, 1, 2, 2**29 - 1, 2**29, 2**29 + 1, 2**30, 2**31 - 1, 2**31, 3 * 2**30,
              7 * 2**29, 7 * 2**29 + 1, MASK32 - 1, MASK32]
SEEDS = [0, 1, 2**32 - 1, 2**32, 2**64 - 1, RNG.getrandbits(64)]
EPOCHS = [0, 1, 2**32 - 1, RNG.getrandbits(32)]
IDS = [0, 1, 2**32 - 1, 2**32, 2**63 - 1, RNG.getrandbits(63)]
STDS = [1.0, 0.05, 0.1, 0.0, 2.5e-40, 3.4e38, float.fromhex("0x1.fffffffffffffp-1")]
#: (first_pixel, count): a 3x224x224 image's start, odd starts and lengths, the last
#: pixels of a 2**33-pixel sample.
RUNS = [(0, 41), (3, 9), (150_525, 3), (2**33 - 11, 11)]


def build():
    for counter, key, want in KNOWN_ANSWERS:  # Random123's, as docs/schemes.md lists them
        assert philox4x32_10(_words(counter), _words(key)) == _words(want), (counter, key)
    check_accuracy(random.Random(7))
    words = [(a, b) for a in EDGE_WORDS for b in EDGE_WORDS[::3]]
    words += [(RNG.getrandbits(32), RNG.getrandbits(32)) for _ in range(40)]
    pairs = [{"words": [a, b], "z": [z.hex() for z in normal_pair(a, b)]} for a, b in words]
    cases = []
    for i, seed in enumerate(SEEDS):
        for j, epoch in enumerate(EPOCHS):
            sample_id = IDS[(i + j) % len(IDS)]
            std = STDS[(i + 2 * j) % len(STDS)]
            first, count = RUNS[(i + j) % len(RUNS)]
            cases.append({"seed": seed, "epoch": epoch, "sample_id": sample_id,
                          "std": std.hex(), "first_pixel": first,
                          "bits": noise_values(seed, epoch, sample_id, std, first, count)})
    # every std on one sample's first pixels (the std only scales, then rounds)
    for std in STDS:
        cases.append({"seed": 1234, "epoch": 5, "sample_id": 42, "std": std.hex(),
                      "first_pixel": 0, "bits": noise_values(1234, 5, 42, std, 0, 8)})
    return {
        "version": VERSION,
        "spec": "docs/schemes.md, 'The philox-normal-v1 specification'",
        "made_by": "tests/data/make_noise_vectors.py: the specification in standard-library "
                   "Python, independent of dpa",
        "pairs": pairs,
        "cases": cases,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(pathlib.Path(__file__).with_name(
        "philox-normal-v1-vectors.json")))
    args = parser.parse_args(argv)
    text = json.dumps(build(), indent=1) + "\n"
    pathlib.Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
