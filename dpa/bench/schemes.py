"""The philox-v1 scheme's figures, each against baselines measured in the same run.

Rows (``n`` = 10,000,000 ids; 1,000,000 with ``quick``; medians of 9 rounds (3 with ``quick``) in
which every measurement takes a turn, after a warm-up round):

``philox_1_thread`` / ``philox_all_threads``
    ``generate(range(n), scheme="philox", out=buf)`` into one reused buffer.
``philox_no_avx512_1_thread`` / ``philox_no_avx512_all_threads``
    The same with the paths in effect minus ``"avx512"`` (the AVX2 path on a
    CPU that has both); ``philox_1_thread``'s ratio to the first is what the
    AVX-512 path gains per core, ``philox_all_threads``'s to the second the
    same on all threads (where AVX-512 clock effects would show).
``memory_write_limit`` / ``memory_write_limit_all_threads``
    Filling the same buffer with a byte (``buf.view(uint8).fill``; on all
    threads, each thread one contiguous part): what writing ``n`` 48-byte
    records costs at all; the philox rows' ``ratio`` to it (1 thread against
    1 thread, all against all) is their share of memory speed.
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
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import dpa

from .core import _figure


def _on_paths(paths: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` run with the kernel paths ``paths``, the previous ones restored."""
    def run() -> Any:
        previous = dpa.get_kernel_paths()
        dpa.set_kernel_paths(paths)
        try:
            return fn()
        finally:
            dpa.set_kernel_paths(previous)
    return run


def _fill_in_parts(buf: np.ndarray, threads: int) -> None:
    """``buf.fill(7)`` split into ``threads`` contiguous parts, one per thread
    (NumPy releases the GIL while it fills)."""
    bounds = [len(buf) * k // threads for k in range(threads + 1)]
    workers = [threading.Thread(target=buf[a:b].fill, args=(7,))
               for a, b in zip(bounds[1:-1], bounds[2:])]
    for w in workers:
        w.start()
    buf[:bounds[1]].fill(7)
    for w in workers:
        w.join()


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(quick: bool = False, repeats: int | None = None, n: int | None = None
        ) -> list[dict[str, Any]]:
    """run(quick=False, repeats=None, n=None)

    The rows above, as figure dicts (``dpa.bench.core._figure``); ``n`` ids
    (default 10,000,000, 1,000,000 with ``quick``), ``repeats`` rounds.
    """
    n = n or (1_000_000 if quick else 10_000_000)
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

    no_avx512 = ",".join(p for p in dpa.get_kernel_paths() if p != "avx512") or "portable"

    def philox(t: int) -> Callable[[], Any]:
        return lambda: dpa.generate(range(n), cfg, scheme="philox", base_seed=1, out=buf, threads=t)

    work = {
        "philox_1_thread": philox(1),
        "philox_all_threads": philox(threads),
        "philox_no_avx512_1_thread": _on_paths(no_avx512, philox(1)),
        "philox_no_avx512_all_threads": _on_paths(no_avx512, philox(threads)),
        "memory_write_limit": lambda: buf.view(np.uint8).fill(7),
        "memory_write_limit_all_threads": lambda: _fill_in_parts(buf.view(np.uint8), threads),
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

    def fig(name, baseline=None, unit="samples/s", desc="", paths=None):
        base = (baseline, rate[baseline]) if baseline else None
        v = times[name]
        one = "1_thread" in name or name == "memory_write_limit"
        return _figure(name, rate[name], unit, desc, base, count=counts[name], repeats=repeats,
                       spread=(max(v) - min(v)) / float(np.median(v)),
                       threads=1 if one else threads,
                       kernel_paths=paths or list(dpa.get_kernel_paths()) or ["portable"])

    off = no_avx512.split(",")
    return [
        fig("memory_write_limit", unit="records/s", desc="byte fill of the same 48-byte-record buffer, 1 thread"),
        fig("memory_write_limit_all_threads", unit="records/s",
            desc=f"byte fill of the same buffer, {threads} threads, one part each"),
        fig("numpy_philox", desc="Generator(Philox).random, 5 floats per sample"),
        fig("dpa_scheme_all_threads", desc="DPA scheme, all threads"),
        fig("philox_no_avx512_1_thread", "memory_write_limit", paths=off,
            desc="philox-v1, paths minus avx512, 1 thread"),
        fig("philox_no_avx512_all_threads", "memory_write_limit_all_threads", paths=off,
            desc="philox-v1, paths minus avx512, all threads"),
        fig("philox_1_thread", "memory_write_limit", desc="philox-v1, reused buffer, 1 thread"),
        fig("philox_1_thread", "philox_no_avx512_1_thread",
            desc="what the AVX-512 path gains per core"),
        fig("philox_all_threads", "memory_write_limit_all_threads",
            desc="philox-v1, reused buffer, all threads, against the byte fill on all threads"),
        fig("philox_all_threads", "philox_no_avx512_all_threads",
            desc="what the AVX-512 path gains on all threads"),
        fig("philox_all_threads", "numpy_philox", desc="against NumPy's Philox"),
        fig("philox_all_threads", "dpa_scheme_all_threads", desc="against the DPA scheme"),
        fig("philox_batched_sequential", "philox_all_threads", desc="BatchProcessor SEQUENTIAL over a philox stream"),
    ]


if __name__ == "__main__":
    for f in run(quick="--quick" in sys.argv):
        r = f"  ratio {f['ratio']:.3f} vs {f['baseline']}" if f["ratio"] else ""
        print(f"{f['name']:28s} {f['value']:>16,.0f} {f['unit']}{r}")
