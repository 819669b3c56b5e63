"""Per-rank throughput of the distributed stream against the single-process stream.

For each world size (1, 2, 8, 64) rank 0's stream over ``num_samples``
samples (10,000,000; 200,000 with ``quick``) is measured alone, consumed
through the array path (``claim`` then ``generate`` into a reused buffer, as
the batch engine does), and its time per sample is compared with that of the
single-process ``dpa.stream_augmentation_chain`` over as many samples,
measured the same way, in turn with it, in the same run.

Two cases: ``"dpa"`` (DPA's defaults: contiguous ranges, rank-aware seeding)
and ``"sample-strided-shuffled"`` (world-size-invariant seeding, strided
split, per-epoch shuffle: the ids become an array and the shuffle is paid
for).  ``overhead`` is ``rank time per sample / baseline time per sample - 1``;
the target for ``"dpa"`` is at most 0.05.

Run alone: ``python -m dpa.bench.distributed [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from ..config import AugmentationConfig
from ..distributed import stream_distributed_augmentation_chain
from ..params import stream_augmentation_chain
from ..engine import default_threads
from ..records import record_dtype
from ..stream import ParamStream

__all__ = ["run"]

WORLD_SIZES = (1, 2, 8, 64)
_BLOCK = 1 << 16
_CASES = {
    "dpa": {},
    "sample-strided-shuffled": dict(seeding="sample", split="strided", shuffle=True, epoch=1),
}


def _consume(stream: ParamStream, buf: np.ndarray) -> int:
    """Generate the whole stream through its array path; return the sample count."""
    rest = stream.claim()
    for a in range(0, len(rest), _BLOCK):
        ids = rest[a:a + _BLOCK]
        stream.generate(ids, out=buf[:len(ids)])
    return len(rest)


def _per_sample(make, buf: np.ndarray, min_seconds: float) -> float:
    """Seconds per sample of building and consuming ``make()``, over at least ``min_seconds``."""
    runs_samples, start = 0, time.perf_counter()
    while True:
        runs_samples += _consume(make(), buf)  # building the stream (and its shuffle) is timed
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / max(runs_samples, 1)


def run(quick: bool = False, *, num_samples: int | None = None,
        world_sizes: tuple[int, ...] = WORLD_SIZES, repeats: int = 3) -> list[dict[str, Any]]:
    """run(quick=False, *, num_samples=None, world_sizes=(1, 2, 8, 64), repeats=3)

    Measure and return one dict per (case, world size).

    Rank 0's stream of ``num_samples / world_size`` samples and the
    single-process stream of the same number of samples are timed in turn,
    ``repeats`` times each; the fastest of each gives ``ratio``.  Equal work
    and interleaving keep machine noise out of the ratio.

    Parameters
    ----------
    quick : bool
        200,000 samples instead of 10,000,000 (seconds instead of a minute).
    num_samples : int, optional
        Overrides the sample count.
    world_sizes : tuple of int
        World sizes to measure (rank 0 of each).
    repeats : int
        Runs per measurement; the fastest counts.

    Returns
    -------
    list of dict
        Keys: ``bench``, ``case``, ``world_size``, ``rank``, ``samples`` (the
        rank's), ``total_samples``, ``samples_per_s``, ``baseline_samples_per_s``
        (single-process stream, same sample count), ``ratio`` (rank time per
        sample over the baseline's), ``overhead`` (``ratio - 1``), ``threads``.
    """
    n = (200_000 if quick else 10_000_000) if num_samples is None else num_samples
    config = AugmentationConfig()
    buf = np.empty(_BLOCK, record_dtype(False))
    min_seconds = 0.05 if quick else 0.3
    threads = default_threads()
    rows = []
    for case, kw in _CASES.items():
        for w in world_sizes:
            def rank_stream(w=w, kw=kw):
                return stream_distributed_augmentation_chain(n, 0, w, config, **kw)

            m = len(rank_stream())

            def single_stream(m=m):
                return stream_augmentation_chain(m, config)

            rank_best = base_best = float("inf")
            for _ in range(repeats):
                base_best = min(base_best, _per_sample(single_stream, buf, min_seconds))
                rank_best = min(rank_best, _per_sample(rank_stream, buf, min_seconds))
            rows.append({
                "bench": "distributed", "case": case, "world_size": w, "rank": 0,
                "samples": m, "total_samples": n, "samples_per_s": 1 / rank_best,
                "baseline_samples_per_s": 1 / base_best, "ratio": rank_best / base_best,
                "overhead": rank_best / base_best - 1, "threads": threads,
            })
    return rows


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200,000 samples")
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    parser.add_argument("--samples", type=int, default=None, help="total samples")
    args = parser.parse_args()
    rows = run(args.quick, num_samples=args.samples)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'case':<26}{'world':>6}{'samples':>11}{'rank M/s':>10}{'single M/s':>12}"
          f"{'time ratio':>12}")
    for r in rows:
        print(f"{r['case']:<26}{r['world_size']:>6}{r['samples']:>11}"
              f"{r['samples_per_s'] / 1e6:>10.3f}{r['baseline_samples_per_s'] / 1e6:>12.3f}"
              f"{r['ratio']:>11.3f}x")


if __name__ == "__main__":
    _main()
