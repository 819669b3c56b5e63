"""The batch engine's figures: each strategy against the plain loop it replaces.

Three groups of rows, each engine figure timed against its baseline in the
same run: the two take turns every 50 batches (ADAPTIVE, which times its
consumer, runs separately), over ``repeats`` rounds (1 full, 3 quick), the
fastest of each counting:

``stream_*``
    Each strategy over a dpa stream of ``samples`` ids (10,000,000; 100,000
    with ``quick``), batch size 256 (round-robin: ``ceil(samples / 256)``
    batches, so batches of 256), the consumer doing nothing but take each
    batch.  Baseline: the plain ``dpa.generate`` loop over the same ids
    (``generate(range(a, a + 256))``, or ``generate(ids[j::n])`` for
    round-robin), fresh arrays as the engine makes.  MEMORY_OPTIMIZED is capped
    at 256 (``max_batch_size``) so it is compared like for like; ADAPTIVE
    starts at 256 and learns freely (its final size is reported), against the
    same 256-loop.  ``overhead = engine time / baseline time - 1`` (target for
    sequential and round-robin: at most 0.10).  ``peak_rss_mb`` is the growth
    of this process's peak RSS during the first round (engine and baseline
    taking turns; ADAPTIVE alone), Linux only (the peak is reset first
    through ``/proc/self/clear_refs``), to compare with ``stream_mb``, what
    the whole stream would take as one array.
``memmap_*``
    The same strategies over a ``.npy`` file of ``memmap_records`` records
    (10,000,000; 1,000,000 with ``quick``) opened with ``mmap_mode="r"``
    (written first, so it is in the page cache): batches per second, against
    NumPy fancy indexing of the same rows (``mm[np.arange(a, a + 256)]``;
    round-robin, the ``nogil`` gather: ``mm[np.arange(j, N, n)]``).  Rows of
    the view strategies also give ``slicing_batches_per_s``, the plain
    ``mm[a:a + 256]`` loop: views cost the same as slicing plus the engine's
    per-batch bookkeeping (one to two microseconds).
``dpa_style_sequential``
    DPA 0.2.1's own way, measured here: its algorithm in pure Python
    (``dpa._reference.params`` per sample, one dict each) batched as lists
    of 256 dicts by the same processor; baseline: the engine's sequential
    stream figure of this run.  DPA's published figures (about 26,000
    samples/s sequential and 8,000 adaptive, one core) are quoted in
    ``quoted_dpa_samples_per_s`` for context; they come from another machine.

Run alone: ``python -m dpa.bench.batch [--quick] [--json]``.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import numpy as np

from .. import _reference
from ..batch import BatchConfig, BatchProcessor, BatchStrategy
from ..config import get_preset
from ..params import stream_augmentation_chain
from ..engine import generate
from ..records import PARAM_DTYPE
from .child import section_main

__all__ = ["SIZES", "run"]

S = BatchStrategy
BATCH = 256
MIB = 1 << 20

#: Work per group: full run and ``quick``.
SIZES: dict[str, dict[str, int]] = {
    "full": {"samples": 10_000_000, "memmap_records": 10_000_000, "dpa_style": 20_000,
             "repeats": 1},
    "quick": {"samples": 100_000, "memmap_records": 500_000, "dpa_style": 2_000,
              "repeats": 3},
}

#: DPA 0.2.1's published figures (one core, its pure-Python generator).
QUOTED_DPA = {"sequential": 26_000, "adaptive": 8_000}


# ---- peak RSS ----------------------------------------------------------------


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs``); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _with_peak_value(fn: Callable[[], Any]) -> tuple[Any, float | None]:
    """(``fn()``, growth of the peak RSS during the call in MiB, or None)."""
    before = _status_mb("VmRSS")
    can = before is not None and _reset_peak()
    value = fn()
    peak = _status_mb("VmHWM") if can else None
    return value, None if peak is None else max(0.0, peak - before)


def _with_peak(fn: Callable[[], Any]) -> tuple[float, float | None]:
    """(seconds, peak RSS growth in MiB or None) of one call of ``fn``."""
    return _with_peak_value(lambda: _timed(fn))


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _drain(batches: Iterable[Any]) -> int:
    """Consume batches as a do-nothing consumer; return the sample count."""
    n = 0
    for b in batches:
        n += len(b)
    return n


def _lockstep(engine: Iterator[Any], base: Iterator[Any], block: int = 50) -> tuple[float, float]:
    """Drain two iterators of batches in turns of ``block`` batches.

    Returns the seconds each took in all.  Taking turns every few
    milliseconds exposes both to the same machine load, so their ratio holds
    up on a busy machine better than that of two runs one after the other.
    """
    spent = [0.0, 0.0]
    live = [True, True]
    its = (engine, base)
    while live[0] or live[1]:
        for i in (1, 0):
            if not live[i]:
                continue
            t0 = time.perf_counter()
            k = 0
            for b in islice(its[i], block):
                len(b)
                k += 1
            spent[i] += time.perf_counter() - t0
            live[i] = k == block
    return spent[0], spent[1]


def _lockstep_best(make: Callable[[], tuple[Any, Iterator[Any], Iterator[Any]]], repeats: int,
                   peak: bool = False) -> tuple[float, float, Any, float | None]:
    """Best engine and baseline seconds over ``repeats`` lockstep rounds.

    ``make()`` returns ``(processor, engine_iterator, baseline_iterator)``.
    With ``peak``, the first round also gives the growth of the peak RSS.
    """
    best = base = math.inf
    grown = None
    proc = None
    for r in range(repeats):
        proc, eng, ref = make()
        if peak and r == 0:
            (te, tb), grown = _with_peak_value(lambda: _lockstep(eng, ref))
        else:
            te, tb = _lockstep(eng, ref)
        best, base = min(best, te), min(base, tb)
    return best, base, proc, grown


# ---- stream figures --------------------------------------------------------------


def _stream_cases(n: int) -> list[tuple[str, BatchConfig, Callable[[range], Iterable[Any]]]]:
    config = get_preset("moderate")
    k = -(-n // BATCH)

    def seq_loop(ids: range):
        for a in range(0, len(ids), BATCH):
            yield generate(ids[a:a + BATCH], config)

    def rr_loop(ids: range):
        for j in range(min(k, len(ids))):
            yield generate(ids[j::k], config)

    return [
        ("sequential", BatchConfig(strategy=S.SEQUENTIAL, batch_size=BATCH), seq_loop),
        ("round_robin", BatchConfig(strategy=S.ROUND_ROBIN, batch_size=k), rr_loop),
        ("memory_optimized", BatchConfig(strategy=S.MEMORY_OPTIMIZED, batch_size=BATCH,
                                         max_batch_size=BATCH), seq_loop),
        ("adaptive", BatchConfig(strategy=S.ADAPTIVE, batch_size=BATCH), seq_loop),
    ]


def _stream_rows(n: int, repeats: int) -> list[dict[str, Any]]:
    config = get_preset("moderate")
    rows = []
    for name, cfg, loop in _stream_cases(n):
        if name == "adaptive":
            # ADAPTIVE times its consumer, so the baseline must not run in its
            # pauses: separate runs, one after the other.
            best = base = math.inf
            grown = proc = None
            for r in range(repeats):
                base = min(base, _timed(lambda: _drain(loop(range(n)))))
                proc = BatchProcessor(cfg.strategy, cfg)
                it = proc.process_stream(stream_augmentation_chain(n, config))
                if r == 0:
                    seconds, grown = _with_peak(lambda: _drain(it))
                else:
                    seconds = _timed(lambda: _drain(it))
                best = min(best, seconds)
        else:
            def make(cfg=cfg, loop=loop):
                proc = BatchProcessor(cfg.strategy, cfg)
                it = iter(proc.process_stream(stream_augmentation_chain(n, config)))
                return proc, it, loop(range(n))

            best, base, proc, grown = _lockstep_best(make, repeats, peak=True)
        rows.append({
            "bench": "batch", "name": f"stream_{name}", "input": "dpa stream",
            "strategy": name, "samples": n, "batches": proc.get_metrics().total_batches,
            "batch_size": proc.current_batch_size if name == "adaptive" else BATCH,
            "samples_per_s": n / best, "baseline": "generate loop, batches of 256",
            "baseline_samples_per_s": n / base, "ratio": base / best,
            "overhead": best / base - 1,
            "target_overhead": 0.10 if name in ("sequential", "round_robin") else None,
            "peak_rss_mb": grown, "stream_mb": n * PARAM_DTYPE.itemsize / MIB,
        })
    return rows


# ---- memmap figures --------------------------------------------------------------


def _write_npy(path: str, n: int) -> None:
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=PARAM_DTYPE, shape=(n,))
    block = 1 << 20
    for a in range(0, n, block):
        b = min(a + block, n)
        generate(range(a, b), out=mm[a:b], scheme="philox")  # content does not matter
    mm.flush()
    del mm


def _memmap_rows(n: int, repeats: int) -> list[dict[str, Any]]:
    tmp = tempfile.mkdtemp(prefix="dpa-bench-batch-")
    try:
        path = os.path.join(tmp, "params.npy")
        _write_npy(path, n)
        mm = np.load(path, mmap_mode="r")
        k = -(-n // BATCH)

        def slices():
            for a in range(0, n, BATCH):
                yield mm[a:a + BATCH]

        def fancy_seq():
            for a in range(0, n, BATCH):
                yield mm[np.arange(a, min(a + BATCH, n))]

        def fancy_rr():
            for j in range(k):
                yield mm[np.arange(j, n, k)]

        cases = [
            ("sequential", BatchConfig(strategy=S.SEQUENTIAL, batch_size=BATCH), fancy_seq),
            ("round_robin", BatchConfig(strategy=S.ROUND_ROBIN, batch_size=k), fancy_rr),
            ("memory_optimized", BatchConfig(strategy=S.MEMORY_OPTIMIZED, batch_size=BATCH,
                                             max_batch_size=BATCH), fancy_seq),
            ("adaptive", BatchConfig(strategy=S.ADAPTIVE, batch_size=BATCH), fancy_seq),
        ]
        rows = []
        for name, cfg, loop in cases:
            views = math.inf
            if name == "adaptive":
                best = base = math.inf
                for _ in range(repeats):
                    base = min(base, _timed(lambda: _drain(loop())))
                    proc = BatchProcessor(cfg.strategy, cfg)
                    best = min(best, _timed(lambda: _drain(proc.process_stream(mm))))
            else:
                def make(cfg=cfg, loop=loop):
                    proc = BatchProcessor(cfg.strategy, cfg)
                    return proc, iter(proc.process_stream(mm)), loop()

                best, base, proc, _ = _lockstep_best(make, repeats)
            if name != "round_robin":
                for _ in range(repeats):
                    views = min(views, _timed(lambda: _drain(slices())))
            batches = proc.get_metrics().total_batches
            final = proc.current_batch_size
            rows.append({
                "bench": "batch", "name": f"memmap_{name}", "input": ".npy memmap",
                "strategy": name, "samples": n, "batches": batches,
                "batch_size": final if name == "adaptive" else BATCH,
                "batches_per_s": batches / best, "samples_per_s": n / best,
                "baseline": "fancy indexing of the same rows" if name != "adaptive"
                else "fancy indexing, batches of 256",
                "baseline_batches_per_s": k / base, "baseline_samples_per_s": n / base,
                "ratio": base / best, "overhead": best / base - 1,
                "slicing_batches_per_s": None if name == "round_robin" else k / views,
            })
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- DPA's way ---------------------------------------------------------------------


def _dpa_style_row(m: int, repeats: int, engine_rate: float) -> dict[str, Any]:
    config = get_preset("moderate")

    def dicts():
        for i in range(m):
            yield _reference.params(i, config)

    cfg = BatchConfig(strategy=S.SEQUENTIAL, batch_size=BATCH)
    best = min(_timed(lambda: _drain(BatchProcessor(S.SEQUENTIAL, cfg).process_stream(dicts())))
               for _ in range(repeats))
    rate = m / best
    return {
        "bench": "batch", "name": "dpa_style_sequential",
        "input": "pure-Python generator of dicts", "strategy": "sequential", "samples": m,
        "batch_size": BATCH, "samples_per_s": rate,
        "baseline": "stream_sequential (this run)", "baseline_samples_per_s": engine_rate,
        "ratio": rate / engine_rate, "quoted_dpa_samples_per_s": dict(QUOTED_DPA),
    }


def run(quick: bool = False, *, samples: int | None = None, memmap_records: int | None = None,
        dpa_style: int | None = None, repeats: int | None = None) -> list[dict[str, Any]]:
    """run(quick=False, *, samples=None, memmap_records=None, dpa_style=None, repeats=None)

    Measure and return the batch figures (one dict per row).

    Parameters
    ----------
    quick : bool
        Small sizes (a few seconds in all) instead of 10,000,000 samples.
    samples, memmap_records, dpa_style, repeats : int, optional
        Override the sizes: stream samples, memmap records, samples of the
        pure-Python DPA-style run, timed rounds per figure.

    Returns
    -------
    list of dict
        Keys (not all in every row): ``bench`` ("batch"), ``name``, ``input``,
        ``strategy``, ``samples``, ``batches``, ``batch_size``,
        ``samples_per_s``, ``batches_per_s``, ``baseline``,
        ``baseline_samples_per_s``, ``baseline_batches_per_s``, ``ratio``
        (engine rate / baseline rate), ``overhead`` (engine time / baseline
        time - 1), ``target_overhead``, ``peak_rss_mb``, ``stream_mb``,
        ``slicing_batches_per_s``, ``quoted_dpa_samples_per_s``.
    """
    sizes = dict(SIZES["quick" if quick else "full"])
    for key, value in (("samples", samples), ("memmap_records", memmap_records),
                       ("dpa_style", dpa_style), ("repeats", repeats)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} should be a positive integer, but got {key}={value!r}")
            sizes[key] = value
    reps = sizes["repeats"]
    rows = _stream_rows(sizes["samples"], reps)
    rows += _memmap_rows(sizes["memmap_records"], reps)
    rows.append(_dpa_style_row(sizes["dpa_style"], reps, rows[0]["samples_per_s"]))
    return rows


def _show(r: dict[str, Any]) -> str:
    extra = f", peak RSS +{r['peak_rss_mb']:.1f} MB" if r.get("peak_rss_mb") is not None else ""
    return (f"{r['name']:<24} {r['samples_per_s']:>14,.0f} samples/s  "
            f"ratio {r['ratio']:.3f} vs {r['baseline']}{extra}")


def main(argv: list[str] | None = None) -> int:
    """``python -m dpa.bench.batch [--quick] [--json]``: print the rows."""
    return section_main(argv, prog="python -m dpa.bench.batch",
                        description=__doc__.split("\n")[0], run=run, show=_show)


if __name__ == "__main__":
    raise SystemExit(main())
