""".npy export, JSON conversion and memmap iteration against their limits, measured in one run.

Every measurement runs in a child process (``python -m dpa.bench.io --child
...``), so that its peak RSS is its own (``wait4``) and no page cache or heap
state carries over within the interpreter.  Figures:

- ``export``: ``save_npy`` of N samples, against the two limits measured
  right before and right after it (``quick``: after only) with the same N and
  batch size (the faster of the two runs counts, so that noise can only lower
  the ratio):
  ``generate`` alone into a reused buffer (no file), and the machine's
  sequential write speed for a file of the same size with ``fsync`` (buffered
  and ``O_DIRECT``; the faster counts).  ``ratio`` = export rate / the lower
  limit; the target is 0.8.  Peak RSS is
  compared across N (it must not grow with N) and with an idle interpreter
  that imported dpa.
- ``convert``: ``convert_json`` of a DPA-format JSON file (``json.dump(...,
  indent=2)`` layout, with statistics) of N records, with and without
  ``--verify``; baseline: ``json.load`` of the same file (DPA's own
  ``load_augmentation_chain``), whose memory grows with the file.
- ``iterate``: ``load`` (memmap) and sequential batches over the exported file
  (the batch engine's zero-copy views), reading every record (one field
  summed), cold (evicted from the page cache with ``posix_fadvise``) and warm;
  a memmap's RSS counts the file pages it touched (reclaimable page cache).
  And :func:`dpa.io.iter_npy_blocks`, which reads into one reused block, and
  :func:`dpa.io.compute_stats` (exact method, five fields) over the file.

Full sizes: exports of 5,000,000 and 50,000,000 samples (DPA's scheme) and
50,000,000 (philox, where the disk is the limit), convert of 1,000,000
records; about 2.4 GB of disk at a time, removed afterwards.  ``quick``: a few
seconds in all.

Run alone: ``python -m dpa.bench.io [--quick] [--json] [--dir DIR]``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .child import cpu_seconds, measure, section_main

__all__ = ["run"]

_FULL = {"exports": [("dpa", 5_000_000), ("dpa", 50_000_000), ("philox", 50_000_000)],
         "convert": 1_000_000}
_QUICK = {"exports": [("dpa", 50_000), ("dpa", 200_000), ("philox", 500_000)],
          "convert": 5_000}
_TARGET = 0.8
_MIB = 1 << 20


# ---- children ----------------------------------------------------------------------


def _child(argv: list[str]) -> dict[str, Any]:
    """Run one measurement in this (child) process; return its result."""
    import numpy as np

    import dpa
    import dpa.io as dio

    kind, args = argv[0], argv[1:]
    opts = dict(zip(args[::2], args[1::2]))
    config = dpa.AugmentationConfig()
    if kind == "idle":
        return {}
    if kind == "export":
        n = int(opts["n"])
        stream = dpa.ParamStream(range(n), config, scheme=opts["scheme"])
        t, cpu = time.perf_counter(), cpu_seconds()
        res = dio.save_npy(stream, opts["path"], force=True)
        return {"seconds": time.perf_counter() - t, "cpu_s": cpu_seconds() - cpu,
                "bytes": res.nbytes, "batch_size": res.batch_size, "direct_io": res.direct_io}
    if kind == "limits":  # generate alone, then writing the same bytes, each timed
        n, bs, scheme = int(opts["n"]), int(opts["batch"]), opts["scheme"]
        buf = np.empty(bs, dpa.PARAM_DTYPE)
        t = time.perf_counter()
        for a in range(0, n, bs):
            b = min(a + bs, n)
            dpa.generate(range(a, b), config, out=buf[:b - a], scheme=scheme)
        result = {"generate_seconds": time.perf_counter() - t, "batch": bs}
        total, chunk = int(opts["bytes"]), bs * dpa.PARAM_DTYPE.itemsize
        for mode in ("buffered", "direct"):
            result[f"write_{mode}_seconds"] = _timed_write(
                opts["path"], total, chunk, mode == "direct", np)
        return result
    if kind == "convert":
        t = time.perf_counter()
        res = dio.convert_json(opts["src"], opts["path"], verify=opts["verify"] == "1", force=True)
        return {"seconds": time.perf_counter() - t, "records": res.count}
    if kind == "jsonload":
        t = time.perf_counter()
        with open(opts["src"]) as f:
            data = json.load(f)
        return {"seconds": time.perf_counter() - t, "records": len(data["augmentations"])}
    if kind == "blocks":
        path = opts["path"]
        t = time.perf_counter()
        total, batches, n = 0.0, 0, 0
        for _, block in dio.iter_npy_blocks(path):
            total += float(block["rotation"].sum())
            batches += 1
            n += len(block)
        return {"seconds": time.perf_counter() - t, "records": n, "batches": batches,
                "bytes": os.path.getsize(path)}
    if kind == "stats":
        t = time.perf_counter()
        dio.compute_stats(opts["path"], method="exact")
        return {"seconds": time.perf_counter() - t, "bytes": os.path.getsize(opts["path"]),
                "batches": 0}
    if kind == "iterate":
        path = opts["path"]
        if opts.get("cold") == "1":
            fd = os.open(path, os.O_RDONLY)
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
        t = time.perf_counter()
        arr = dio.load(path)
        total, batches = 0.0, 0
        for batch in _sequential_batches(arr, 1 << 18):
            total += float(batch["rotation"].sum())
            batches += 1
        return {"seconds": time.perf_counter() - t, "records": len(arr), "batches": batches,
                "bytes": os.path.getsize(path)}
    raise ValueError(f"unknown child measurement {kind!r}")


def _timed_write(path: str, total: int, chunk: int, direct: bool, np) -> float:
    """Seconds to write ``total`` bytes sequentially in ``chunk``-byte writes, with fsync."""
    import mmap

    chunk = -(-chunk // 4096) * 4096
    buf = mmap.mmap(-1, chunk)
    buf.write(np.random.default_rng(0).integers(0, 256, chunk, dtype=np.uint8).tobytes())
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if direct else 0)
    t = time.perf_counter()
    fd = os.open(path, flags, 0o644)
    done, view = 0, memoryview(buf)
    try:
        while done < total:
            done += os.write(fd, view[: min(chunk, -(-(total - done) // 4096) * 4096)])
        os.fsync(fd)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - t
    view.release()
    os.unlink(path)
    return seconds


def _batch_size() -> int:
    """The batch size an export of 48-byte records uses with the default budget."""
    import dpa.io as dio

    return dio.export_batch_size(48)


def _sequential_batches(arr, size: int):
    """Sequential batches of a memmap through the batch engine (zero-copy views) if present."""
    try:
        from dpa.batch import BatchConfig, BatchProcessor, BatchStrategy
    except ImportError:
        for a in range(0, len(arr), size):
            yield arr[a:a + size]
        return
    config = BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=size)
    yield from BatchProcessor(BatchStrategy.SEQUENTIAL, config).process_stream(arr)


def _measure(*argv: Any) -> dict[str, Any]:
    """Run a child measurement of this module (:func:`dpa.bench.child.measure`)."""
    return measure("dpa.bench.io", *argv)


# ---- the DPA-format JSON file --------------------------------------------------------


def _write_dpa_json(path: Path, n: int) -> None:
    """A file as DPA's ``save_augmentation_chain`` writes it (``json.dump(indent=2)``)."""
    import dpa
    import dpa.io as dio

    config = dpa.AugmentationConfig()
    head = json.dumps({"metadata": {"num_samples": n, "config": config.to_dict()}}, indent=2)
    acc = dio.StatsAccumulator(dpa.FIELDS, "exact")
    with open(path, "w") as f:
        f.write(head[:-2] + ',\n  "augmentations": [')
        first = True
        for a in range(0, n, 1 << 16):
            rec = dpa.generate(range(a, min(n, a + (1 << 16))), config, hash=True)
            acc.add(rec)
            cols = [rec[k].tolist() for k in dpa.FIELDS]
            hashes = [h.decode() for h in rec["hash"].tolist()]
            parts = [
                f'\n    {{\n      "rotation": {r!r},\n      "brightness": {b!r},\n'
                f'      "noise": {z!r},\n      "scale": {s!r},\n      "contrast": {c!r},\n'
                f'      "hash": "{h}"\n    }}'
                for r, b, z, s, c, h in zip(*cols, hashes)
            ]
            f.write(("" if first else ",") + ",".join(parts))
            first = False
        stats = json.dumps({"statistics": acc.result()}, indent=2)
        f.write("\n  ],\n" + stats[2:])


# ---- run -----------------------------------------------------------------------------


def run(quick: bool = False, *, directory: str | os.PathLike | None = None
        ) -> list[dict[str, Any]]:
    """run(quick=False, *, directory=None)

    Measure export, convert and memmap iteration; return one dict per figure.

    Parameters
    ----------
    quick : bool
        Small sizes (a few seconds in all) instead of the full ones (5M and
        50M-sample exports, a 1M-record convert: a few minutes, ~2.4 GB of
        disk at a time).
    directory : str or PathLike, optional
        Where to write the files (default: a temporary directory in the
        current directory, so that the disk measured is the one in use);
        everything written is removed.

    Returns
    -------
    list of dict
        Keys: ``bench`` ("io"), ``name`` (export, convert, iterate),
        ``case``, ``n``, ``seconds``, ``per_s`` (samples or records per
        second), ``mb_per_s``, ``peak_rss_mb``, and for exports
        ``generate_per_s``, ``write_mb_per_s`` (buffered and direct),
        ``limit`` (which limit is lower), ``ratio`` (export over that limit)
        and ``target``; for convert ``baseline`` (json.load) figures.
    """
    sizes = _QUICK if quick else _FULL
    base = Path(directory) if directory is not None else Path.cwd()
    work = Path(tempfile.mkdtemp(prefix="dpa-bench-io-", dir=base))
    rows: list[dict[str, Any]] = []
    try:
        idle = _measure("idle")["peak_rss_mb"]
        exported = None
        for scheme, n in sizes["exports"]:
            path = work / f"export-{scheme}-{n}.npy"
            # The limits are measured before and after the export and the faster of each
            # counts: noise from other work can then only lower the ratio, not raise it.
            lims = []
            # quick: limits after the export only (a child process fewer per export).
            for when in (("after",) if quick else ("before", "after")):
                if when == "after":
                    ex = _measure("export", "scheme", scheme, "n", n, "path", path)
                lims.append(_measure("limits", "scheme", scheme, "n", n,
                                     "batch", lims[0]["batch"] if lims else _batch_size(),
                                     "bytes", 256 + 48 * n, "path", work / "write.bin"))
            gen = {"seconds": min(lim["generate_seconds"] for lim in lims)}
            writes = {mode: ex["bytes"] / min(lim[f"write_{mode}_seconds"] for lim in lims) / 1e6
                      for mode in ("buffered", "direct")}
            export_mb = ex["bytes"] / ex["seconds"] / 1e6
            gen_mb = ex["bytes"] / gen["seconds"] / 1e6
            write_mb = max(writes.values())
            limit, limit_mb = ("generate", gen_mb) if gen_mb <= write_mb else ("write", write_mb)
            rows.append({
                "bench": "io", "name": "export", "case": scheme, "n": n,
                "seconds": ex["seconds"], "per_s": n / ex["seconds"], "mb_per_s": export_mb,
                "peak_rss_mb": ex["peak_rss_mb"], "idle_rss_mb": idle,
                "generate_per_s": n / gen["seconds"], "generate_mb_per_s": gen_mb,
                "write_buffered_mb_per_s": writes["buffered"],
                "write_direct_mb_per_s": writes["direct"],
                "limit": limit, "ratio": export_mb / limit_mb, "target": _TARGET,
                "batch_size": ex["batch_size"], "direct_io": ex["direct_io"],
            })
            if scheme == "dpa" and (exported is None or n > exported[1]):
                if exported is not None:
                    exported[0].unlink()
                exported = (path, n)
            else:
                path.unlink()
            for side in work.glob("*.json"):
                side.unlink()

        path, n = exported
        for case, argv in (("memmap-cold", ("iterate", "path", path, "cold", 1)),
                           ("memmap-warm", ("iterate", "path", path, "cold", 0)),
                           ("blocks-warm", ("blocks", "path", path)),
                           ("stats-exact", ("stats", "path", path))):
            it = _measure(*argv)
            rows.append({
                "bench": "io", "name": "iterate", "case": case, "n": n,
                "seconds": it["seconds"], "per_s": n / it["seconds"],
                "mb_per_s": it["bytes"] / it["seconds"] / 1e6, "peak_rss_mb": it["peak_rss_mb"],
                "batches": it["batches"],
            })
        path.unlink()

        n = sizes["convert"]
        src = work / "dpa-chain.json"
        _write_dpa_json(src, n)
        size_mb = src.stat().st_size / 1e6
        base_load = _measure("jsonload", "src", src)
        for verify in (False, True):
            cv = _measure("convert", "src", src, "path", work / "c.npy", "verify", int(verify))
            rows.append({
                "bench": "io", "name": "convert", "case": "verify" if verify else "plain", "n": n,
                "seconds": cv["seconds"], "per_s": n / cv["seconds"],
                "mb_per_s": size_mb / cv["seconds"], "peak_rss_mb": cv["peak_rss_mb"],
                "idle_rss_mb": idle, "json_mb": size_mb,
                "baseline": "json.load", "baseline_per_s": n / base_load["seconds"],
                "baseline_peak_rss_mb": base_load["peak_rss_mb"],
            })
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _show(r: dict[str, Any]) -> str:
    """One row as a line of ``python -m dpa.bench.io``."""
    if r["name"] == "export":
        return (f"export {r['case']:<7} {r['n']:>11,}  {r['per_s'] / 1e6:7.3f} M/s "
                f"{r['mb_per_s']:8.1f} MB/s  peak RSS {r['peak_rss_mb']:6.1f} MB "
                f"(idle {r['idle_rss_mb']:.1f})  generate {r['generate_mb_per_s']:8.1f} MB/s  "
                f"write {r['write_buffered_mb_per_s']:7.1f}/{r['write_direct_mb_per_s']:7.1f} MB/s "
                f"(buffered/direct)  ratio {r['ratio']:.3f} of {r['limit']} "
                f"(target {r['target']})")
    if r["name"] == "iterate":
        return (f"iterate {r['case']:<11} {r['n']:>11,}  {r['per_s'] / 1e6:7.2f} M records/s "
                f"{r['mb_per_s']:8.1f} MB/s  peak RSS {r['peak_rss_mb']:6.1f} MB")
    return (f"convert {r['case']:<6} {r['n']:>11,}  {r['per_s'] / 1e3:7.1f} k records/s "
                f"{r['mb_per_s']:6.1f} MB/s of JSON  peak RSS {r['peak_rss_mb']:6.1f} MB  | "
                f"json.load {r['baseline_per_s'] / 1e3:7.1f} k records/s, "
                f"peak RSS {r['baseline_peak_rss_mb']:.1f} MB ({r['json_mb']:.0f} MB file)")


def _main(argv: list[str] | None = None) -> int:
    return section_main(argv, prog="python -m dpa.bench.io", description=__doc__.splitlines()[0],
                        child=_child, run=run, show=_show)


if __name__ == "__main__":
    sys.exit(_main())
