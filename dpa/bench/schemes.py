"""The philox-v1 scheme's figures, each against baselines measured in the same run.

Rows (``n`` = 10,000,000 ids; 1,000,000 with ``quick``; medians of 9 rounds (3 with ``quick``) in
which every measurement takes a turn, after a warm-up round):

``philox_1_thread`` / ``philox_all_threads``
    ``generate(range(n), scheme="philox", out=buf)`` into one reused buffer.
``memory_write_limit``
    Filling the same buffer with a byte (``buf.view(uint8).fill``): what
    writing ``n`` 48-byte records costs at all; the philox rows' ``ratio`` to
    it is their share of memory speed.
``numpy_philox``
    ``Generator(Philox).random(out=...)`` for the same count of floats (five
    per sample), expressed as samples/s.
``dpa_scheme_all_threads``
    The DPA scheme over ``n // 20`` ids, all threads.
``philox_batched_sequential``
    ``BatchProcessor`` (SEQUENTIAL, batch 65,536, buffer reuse) over a philox
    stream of ``n`` ids, against ``philox_all_threads``.

Run alone: ``python -m dpa.bench.schemes [--quick]``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

import dpa

from .core import _figure


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(quick: bool = False, repeats: int | None = None) -> list[dict[str, Any]]:
    n = 1_000_000 if quick else 10_000_000
    repeats = repeats or (3 if quick else 9)
    threads = dpa.default_threads()
    cfg = dpa.get_preset("moderate")
    buf = np.empty(n, dpa.PARAM_DTYPE)
    floats = np.empty(5 * n)
    npgen = np.random.Generator(np.random.Philox(1234))
    n_dpa = max(n // 20, 10_000)
    dpa_buf = np.empty(n_dpa, dpa.PARAM_DTYPE)

    def batched() -> None:
        stream = dpa.stream_augmentation_chain(n, cfg, scheme="philox", base_seed=1)
        conf = dpa.BatchConfig(strategy=dpa.BatchStrategy.SEQUENTIAL, batch_size=65_536, reuse_buffers=True)
        proc = dpa.BatchProcessor(dpa.BatchStrategy.SEQUENTIAL, conf)
        for _ in proc.process_stream(stream):
            pass

    work = {
        "philox_1_thread": lambda: dpa.generate(range(n), cfg, scheme="philox", base_seed=1, out=buf, threads=1),
        "philox_all_threads": lambda: dpa.generate(range(n), cfg, scheme="philox", base_seed=1, out=buf, threads=threads),
        "memory_write_limit": lambda: buf.view(np.uint8).fill(7),
        "numpy_philox": lambda: npgen.random(out=floats),
        "dpa_scheme_all_threads": lambda: dpa.generate(range(n_dpa), cfg, out=dpa_buf, threads=threads),
        "philox_batched_sequential": batched,
    }
    counts = {k: n for k in work}
    counts["dpa_scheme_all_threads"] = n_dpa
    times: dict[str, list[float]] = {k: [] for k in work}
    for fn in work.values():  # warm-up: pages touched, pools started
        fn()
    for _ in range(repeats):
        for k, fn in work.items():
            times[k].append(_timed(fn))
    rate = {k: counts[k] / float(np.median(v)) for k, v in times.items()}

    def fig(name, baseline=None, unit="samples/s", desc=""):
        base = (baseline, rate[baseline]) if baseline else None
        v = times[name]
        return _figure(name, rate[name], unit, desc, base, count=counts[name], repeats=repeats,
                       spread=(max(v) - min(v)) / float(np.median(v)), threads=threads)

    return [
        fig("memory_write_limit", unit="records/s", desc="byte fill of the same 48-byte-record buffer"),
        fig("numpy_philox", desc="Generator(Philox).random, 5 floats per sample"),
        fig("dpa_scheme_all_threads", desc="DPA scheme, all threads"),
        fig("philox_1_thread", "memory_write_limit", desc="philox-v1, reused buffer, 1 thread"),
        fig("philox_all_threads", "memory_write_limit", desc="philox-v1, reused buffer, all threads"),
        fig("philox_all_threads", "numpy_philox", desc="against NumPy's Philox"),
        fig("philox_all_threads", "dpa_scheme_all_threads", desc="against the DPA scheme"),
        fig("philox_batched_sequential", "philox_all_threads", desc="BatchProcessor SEQUENTIAL over a philox stream"),
    ]


if __name__ == "__main__":
    for f in run(quick="--quick" in sys.argv):
        r = f"  ratio {f['ratio']:.3f} vs {f['baseline']}" if f["ratio"] else ""
        print(f"{f['name']:28s} {f['value']:>16,.0f} {f['unit']}{r}")
