"""Write philox-v1-vectors.json: philox-v1 records made from the written specification.

    python tests/data/make_philox_vectors.py [--out PATH]

This script is a second, independent implementation of the ``philox-v1``
scheme, written from its specification in ``docs/schemes.md`` ("The
philox-v1 specification"): Philox4x32-10 (Salmon, Moraes, Dror & Shaw,
SC'11), the key and counter layout, the 53-bit uniform built as CPython's
``random()`` builds one, and ``low + (high - low) * u`` in Python's own
arithmetic.  It uses the standard library only and never imports dpa, so the
file it writes pins dpa's records (compiled kernels and ``dpa/_reference.py``
alike) to the specification, not to dpa's own code.

Before writing, it checks its Philox4x32-10 against Random123's published
known answers (also in the file) and every config against the rules of
``dpa.AugmentationConfig`` (``low < high``, ``float(low)`` and
``float(high - low)`` finite).  The output is deterministic: the "random"
seeds, epochs and ids come from ``random.Random`` with a fixed seed, so
running the script again gives the same bytes.

File layout (floats are written with ``repr``, which round-trips exactly;
integers of any size are exact in JSON):

``scheme``, ``spec``, ``made_by``
    What the file is and how it was produced.
``fields``
    The five fields in order: rotation, brightness, noise, scale, contrast.
``philox4x32_10``
    Random123's known answers: ``counter`` (4 words), ``key`` (2 words),
    ``output`` (4 words), as integers.
``cases``
    One object per (seed, epoch, config): ``base_seed`` (the 64-bit key, dpa's
    ``base_seed``), ``epoch``, ``config`` (``AugmentationConfig`` fields, ranges
    as ``[low, high]`` with ints kept as ints), optionally ``preset`` (the dpa
    preset these numbers copy), and ``records``: ``sample_id`` and the five
    values.  dpa must give ``generate(ids, config, scheme="philox",
    base_seed=base_seed, epoch=epoch)`` exactly these values (``==``).
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import random

FIELDS = ("rotation", "brightness", "noise", "scale", "contrast")
MASK32 = 2**32 - 1

# ---- Philox4x32-10, as the specification writes it ---------------------------

M0, M1 = 0xD2511F53, 0xCD9E8D57  # round multipliers
W0, W1 = 0x9E3779B9, 0xBB67AE85  # key increments (Weyl sequence)


def philox4x32_10(counter, key):
    """Ten rounds of Philox4x32 on a 4-word counter with a 2-word key."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        prod0 = M0 * c0  # full 64-bit products, split in halves
        prod1 = M1 * c2
        hi0, lo0 = prod0 >> 32, prod0 & MASK32
        hi1, lo1 = prod1 >> 32, prod1 & MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + W0) & MASK32
        k1 = (k1 + W1) & MASK32
    return [c0, c1, c2, c3]


# Random123's known answers for philox4x32-10 (hex), as docs/schemes.md lists them.
KNOWN_ANSWERS = [
    ("00000000 00000000 00000000 00000000", "00000000 00000000",
     "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
    ("ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff",
     "408f276d 41c83b0e a20bc7c6 6d5451fd"),
    ("243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0",
     "d16cfe09 94fdcceb 5001e420 24126ea1"),
]


def _words(text):
    return [int(w, 16) for w in text.split()]


# ---- philox-v1 -----------------------------------------------------------------


def philox_v1(seed, epoch, sample_id, ranges):
    """The five values of one sample, step by step as the specification says."""
    key = (seed % 2**32, seed // 2**32)
    x = []
    for b in range(3):
        counter = (sample_id % 2**32, sample_id // 2**32, epoch, b)
        x += philox4x32_10(counter, key)  # twelve words; 10 and 11 unused
    values = []
    for k, (low, high) in enumerate(ranges):
        u = ((x[2 * k] >> 5) * 2**26 + (x[2 * k + 1] >> 6)) / 2**53  # exact: < 2**53
        values.append(low + (high - low) * u)  # Python arithmetic, as random.uniform
    return values


# ---- what to pin -----------------------------------------------------------------

RNG = random.Random(0x5EED_F11E)

SEEDS = [0, 1, 2**32 - 1, 2**32, 2**64 - 1] + [RNG.getrandbits(64) for _ in range(2)]
EPOCHS = [0, 1, 2**32 - 1, RNG.getrandbits(32)]
IDS = [0, 1, 2**32 - 1, 2**32, 2**63 - 1] + [RNG.getrandbits(63) for _ in range(3)]


def _config(ranges, depth=10):
    return {**{f"{f}_range": [lo, hi] for f, (lo, hi) in zip(FIELDS, ranges)},
            "augmentation_depth": depth}


# dpa/config.py's presets, copied as plain numbers (the test checks they still match).
PRESETS = {
    "mild": _config([(-15, 15), (0.9, 1.1), (0, 0.05), (0.9, 1.1), (0.85, 1.15)]),
    "moderate": _config([(-30, 30), (0.8, 1.2), (0, 0.1), (0.8, 1.2), (0.7, 1.3)]),
    "aggressive": _config([(-45, 45), (0.7, 1.3), (0, 0.15), (0.7, 1.3), (0.6, 1.4)]),
}

# Extreme ranges, each valid for dpa.AugmentationConfig.
EXTREMES = [
    # huge floats: spans near the largest finite double
    _config([(-1e300, 1e300), (-8.9e307, 8.9e307), (-1.7976931348623157e308, 0.0),
             (0.0, 1.7976931348623157e308), (1e308, 1.5e308)]),
    # tiny spans: one subnormal, one ulp of 1.0, around zero, below zero
    _config([(0.0, 5e-324), (1.0, 1.0000000000000002), (-1e-300, 1e-300),
             (-2.2250738585072014e-308, 0.0), (-0.0, 1e-320)], depth=1),
    # integer bounds: high - low exact, then rounded once (1, 2**54 + 3) gives a
    # different span than float(high) - float(low) would
    _config([(-10**15, 10**15), (0, 1), (1, 2**54 + 3), (-(2**63), 2**63 - 1),
             (10**20, 10**20 + 1)]),
    # integers beyond any double's exact range, and negative ranges
    _config([(-(2**1000), 2**1000), (-7, -3), (-(2**62), -(2**62) + 1),
             (2**53, 2**53 + 2), (-1, 0)], depth=3),
    # int and float bounds mixed
    _config([(-3, 2.5), (0, 0.1), (1, 1.5), (-1.5, 7), (-1e-9, 3)], depth=50),
]


def _check_config(config):
    """The rules of dpa.AugmentationConfig, so that every case is valid there."""
    for f in FIELDS:
        low, high = config[f"{f}_range"]
        for v in (low, high):
            assert isinstance(v, int) or math.isfinite(v), (f, low, high)
        assert low < high, (f, low, high)
        assert math.isfinite(float(low)) and math.isfinite(float(high - low)), (f, low, high)


def _case(seed, epoch, config, preset=None):
    _check_config(config)
    ranges = [tuple(config[f"{f}_range"]) for f in FIELDS]
    records = []
    for sample_id in IDS:
        values = philox_v1(seed, epoch, sample_id, ranges)
        assert all(math.isfinite(v) for v in values), (seed, epoch, sample_id, ranges)
        records.append({"sample_id": sample_id, **dict(zip(FIELDS, values))})
    case = {"base_seed": seed, "epoch": epoch}
    if preset is not None:
        case["preset"] = preset
    case["config"] = config
    case["records"] = records
    return case


def build():
    """The file's contents."""
    kat = []
    for ctr, key, want in KNOWN_ANSWERS:
        got = philox4x32_10(_words(ctr), _words(key))
        assert got == _words(want), (ctr, key, got)
        kat.append({"counter": _words(ctr), "key": _words(key), "output": got})
    cases = []
    # Every seed with every epoch, on DPA's default ranges.
    for seed in SEEDS:
        for epoch in EPOCHS[:3]:
            cases.append(_case(seed, epoch, PRESETS["moderate"], "moderate"))
    # The other configs, each under two (seed, epoch) pairs.
    others = [(PRESETS["mild"], "mild"), (PRESETS["aggressive"], "aggressive")]
    others += [(c, None) for c in EXTREMES]
    for i, (config, preset) in enumerate(others):
        for j in range(2):
            seed = SEEDS[(2 * i + j) % len(SEEDS)]
            epoch = EPOCHS[(2 * i + j + 1) % len(EPOCHS)]
            cases.append(_case(seed, epoch, config, preset))
    return {
        "scheme": "philox-v1",
        "spec": "docs/schemes.md, 'The philox-v1 specification'",
        "made_by": "tests/data/make_philox_vectors.py: the specification in standard-library "
                   "Python, independent of dpa",
        "fields": list(FIELDS),
        "philox4x32_10": kat,
        "cases": cases,
    }


def main():
    here = pathlib.Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=here / "philox-v1-vectors.json")
    args = parser.parse_args()
    data = build()
    text = json.dumps(data, indent=1, allow_nan=False) + "\n"
    assert json.loads(text) == data  # floats round-trip through repr
    args.out.write_text(text)
    n = sum(len(c["records"]) for c in data["cases"])
    print(f"wrote {args.out.name}: {len(data['cases'])} cases, {n} records")


if __name__ == "__main__":
    main()
