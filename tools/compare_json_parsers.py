"""Measure dpa's incremental JSON reader against ijson (its C backend, yajl2_c).

The question (issue 14): would a well-kept streaming parser replace
``dpa/io/jsonread.py`` without losing exact float round-trips, bounded memory
on a 2 GB single-line file, or the conversion rate?  ijson is not a
dependency of dpa; install it where you run this (``pip install ijson``).

Three measurements, each conversion in a child process of its own (peak RSS
from ``VmHWM``), medians of ``--repeat`` interleaved rounds:

* ``floats``: 2,000,000 doubles written as ``json.dumps`` writes them (the
  shortest ``repr``, as DPA writes its files): random bit patterns over the
  whole range, subnormals, extremes, and DPA-like values; how many come back
  with other bits from ``ijson.items(..., use_float=True)`` and from the
  default (``Decimal``, then ``float``).
* ``rate``: ``convert`` of a 1,000,000-record DPA file (``json.dump(indent=2)``
  layout, as DPA's ``save_augmentation_chain``), with dpa's reader and with
  ijson feeding the very same conversion (records from
  ``ijson.items(f, "augmentations.item", use_float=True)``, in lists; the
  metadata read by a first ``ijson.items(f, "metadata")``; the statistics
  block not read: ijson's best case), and ``ijson-full`` reading the
  statistics block too, by a second pass (what a replacement would do).
* ``single-line``: the same, on a ~2 GB file holding everything on one line.
* ``nesting`` (with ``--nesting``): the peak RSS of ``ijson.items`` over an
  array nested 10,000 and 30,000 deep (100,000 deep, an input issue 14 lists,
  exhausts the memory of a 24 GB machine).

Usage: ``python tools/compare_json_parsers.py --dir DIR [--records N] [--gb G] [--repeat R]``
(the files are written to DIR and removed at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ---- children ---------------------------------------------------------------------------


def _ijson_events(f, path):
    """``dpa.io.jsonread.dpa_json_events`` done with ijson (records only, in lists)."""
    import ijson

    with open(path, "rb") as head:
        for meta in ijson.items(head, "metadata", use_float=True):
            yield ("meta", "metadata", meta)
            break
    batch = []
    with open(path, "rb") as raw:
        for record in ijson.items(raw, "augmentations.item", use_float=True):
            batch.append(record)
            if len(batch) == 4096:
                yield ("items", batch, None)
                batch = []
    if batch:
        yield ("items", batch, None)


def _ijson_full_events(f, path):
    """As :func:`_ijson_events`, and the ``statistics`` block after the records
    (a second pass: ijson builds one prefix's values per pass)."""
    import ijson

    yield from _ijson_events(f, path)
    with open(path, "rb") as tail:
        for block in ijson.items(tail, "statistics", use_float=True):
            yield ("meta", "statistics", block)


def _child(kind: str, src: str, out: str) -> dict:
    if kind == "nesting":
        import io

        import ijson

        depth = int(src)
        list(ijson.items(io.BytesIO(b"[" * depth + b"]" * depth), "item"))
        return {"peak_rss_mb": _peak_rss_mb()}
    import dpa.io as dio
    import dpa.io.convert as conv

    if kind == "ijson":
        conv.dpa_json_events = _ijson_events
    elif kind == "ijson-full":
        conv.dpa_json_events = _ijson_full_events
    t = time.perf_counter()
    res = dio.convert_json(src, out, force=True)
    return {"seconds": time.perf_counter() - t, "records": res.count, "peak_rss_mb": _peak_rss_mb()}


def _measure(kind: str, src: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(src), str(out)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- files ------------------------------------------------------------------------------


def _single_line(path: Path, target_bytes: int) -> int:
    """A DPA file on one line (``json.dump`` without indent), about ``target_bytes``."""
    import dpa

    config = dpa.AugmentationConfig()
    n = 0
    with open(path, "w") as f:
        f.write('{"metadata": ' + json.dumps({"num_samples": None, "config": config.to_dict()})
                + ', "augmentations": [')
        while f.tell() < target_bytes:
            rec = dpa.generate(range(n, n + (1 << 16)), config, hash=True)
            cols = [rec[k].tolist() for k in dpa.FIELDS]
            hashes = [h.decode() for h in rec["hash"].tolist()]
            parts = [f'{{"rotation": {r!r}, "brightness": {b!r}, "noise": {z!r}, "scale": '
                     f'{s!r}, "contrast": {c!r}, "hash": "{h}"}}'
                     for r, b, z, s, c, h in zip(*cols, hashes)]
            f.write((", " if n else "") + ", ".join(parts))
            n += len(parts)
        f.write("]}")
    return n


def _float_case(path: Path, count: int) -> list[float]:
    import random

    rng = random.Random(14)
    values = []
    while len(values) < count:
        bits = rng.getrandbits(64)
        x = struct.unpack("<d", struct.pack("<Q", bits))[0]
        if x == x and abs(x) != float("inf"):
            values.append(x)
    values[: count // 4] = [rng.uniform(-45, 45) for _ in range(count // 4)]  # DPA-like
    values[-8:] = [5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                   -1.7976931348623157e308, 0.1, -0.0, 1e-310]
    path.write_text(json.dumps(values))
    return values


def _floats(directory: Path) -> dict:
    import decimal

    import ijson

    path = directory / "floats.json"
    values = _float_case(path, 2_000_000)
    out = {}
    for label, kw in (("use_float", {"use_float": True}), ("decimal", {})):
        with open(path, "rb") as f:
            got = [float(v) if isinstance(v, decimal.Decimal) else v
                   for v in ijson.items(f, "item", **kw)]
        out[label] = sum(struct.pack("<d", a) != struct.pack("<d", float(b))
                         for a, b in zip(values, got)) + abs(len(got) - len(values))
    with open(path) as f:
        mine = json.load(f)
    out["json"] = sum(struct.pack("<d", a) != struct.pack("<d", b) for a, b in zip(values, mine))
    path.unlink()
    return {"values": len(values), "differing": out}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        print(json.dumps(_child(*argv[1:4])))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", required=True, type=Path)
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--gb", type=float, default=2.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-floats", action="store_true", help="skip the round-trip count")
    p.add_argument("--nesting", action="store_true", help="measure deep nesting too")
    args = p.parse_args(argv)
    import ijson

    from dpa.bench.io import _write_dpa_json

    work = args.dir
    work.mkdir(parents=True, exist_ok=True)
    print(f"ijson {ijson.__version__}, backend {ijson.backend}")
    if not args.no_floats:
        print("floats:", json.dumps(_floats(work)))
    if args.nesting:
        for depth in (10_000, 30_000):
            rss = _measure("nesting", Path(str(depth)), work / "unused")["peak_rss_mb"]
            print(f"nesting: ijson.items over an array {depth:,} deep: peak RSS {rss:,.0f} MB")
    chain = work / "chain.json"
    _write_dpa_json(chain, args.records)
    line = work / "single-line.json"
    n_line = _single_line(line, int(args.gb * 1e9))
    out = work / "out.npy"
    for label, src, n in (("rate", chain, args.records), ("single-line", line, n_line)):
        size = src.stat().st_size / 1e6
        rows = {}
        kinds = ("dpa", "ijson", "ijson-full")
        runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
        for _ in range(args.repeat):  # rounds interleaved: a change of load hits all alike
            for kind in kinds:
                runs[kind].append(_measure(kind, src, out))
        for kind in kinds:
            secs = statistics.median(r["seconds"] for r in runs[kind])
            rows[kind] = (n / secs, max(r["peak_rss_mb"] for r in runs[kind]))
            print(f"{label}: {kind:5s} {n:,} records ({size:,.0f} MB): "
                  f"{rows[kind][0] / 1e3:.1f} k records/s (median of {args.repeat}), "
                  f"peak RSS {rows[kind][1]:.1f} MB")
        print(f"{label}: rate against dpa's: ijson {rows['ijson'][0] / rows['dpa'][0]:.2f}, "
              f"ijson-full {rows['ijson-full'][0] / rows['dpa'][0]:.2f}")
    for path in (chain, line, out, out.with_name(out.name + ".json")):
        if path.exists():
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
