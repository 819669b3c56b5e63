"""The paths users touch, each against the baseline issue 11 names, in one run.

"bulk" is one ``dpa.generate`` call over all the ids with the default threads
into a reused buffer.  Every row is a median over ``rounds`` rounds (5; 3 with
``quick``), after a warm-up run; in each round its baseline is timed right before it (these VMs
are shared, and the pair then sees the same load), and ``ratio`` is ``value /
baseline_value`` of the two medians; ``target`` and ``met`` say what issue 11
asks of it.  Rows (moderate preset):

``dpa_bulk``, ``philox_bulk``
    The bulk baselines: ``samples`` ids (1,000,000 dpa / 20,000,000 philox;
    50,000 / 2,000,000 with ``quick``).
``{scheme}_{strategy}_b{B}``
    ``BatchProcessor(strategy, batch_size=B).process_stream(stream)`` over a
    stream of the same ids, a consumer that only counts; ROUND_ROBIN with
    ``ceil(N / B)`` batches (so batches of B), MEMORY_OPTIMIZED capped at B
    (``max_batch_size``).  Against bulk.  dpa: B = 8 (target 0.70), 32, 256,
    4,096 (0.90); philox: B = 256 (0.50), 4,096, 65,536 (0.90).
``philox_memory_optimized_default``
    MEMORY_OPTIMIZED sizing its batches itself (1,000 MB budget).  Target
    0.80 of bulk.
``dpa_loop_b{B}``
    A user's loop ``generate(range(s, s + B), out=buf)`` over the dpa ids.
    Target 0.80 of bulk at B = 256 and 4,096 (1 and 32: for information).
``philox_fresh``
    ``generate(range(10_000_000), scheme="philox")`` (4,000,000 with
    ``quick``) without ``out=``, each result dropped before the next call,
    against the same call with a reused ``out=``.  Target 0.50.
``gen_augmentation_params_consecutive`` / ``_random``
    ``gen_augmentation_params(i, config)`` for consecutive ids and for random
    ids, calls per second, against DPA's algorithm (the pure-Python oracle
    ``dpa._reference.params`` of ``dpa.bench``).  Target 8x.
``philox_one_id``
    Microseconds of ``generate(range(i, i + 1), scheme="philox")`` against
    NumPy's ``Generator.random(5)``; ratio = time / NumPy's time, target at
    most 3.
``dpa_overlap_b4096``
    SEQUENTIAL batches of 4,096 over a dpa stream, the consumer sleeping as
    long as a batch takes to generate (bulk rate of this run: a GPU step's
    stand-in): end-to-end samples/s with lookahead, against the same with
    ``lookahead_bytes=0`` (generating and consuming one after the other).
    Target 1.6x.
``philox_stream_peak_rss``
    Growth of the peak RSS (MiB, Linux) of a fresh process while it batches a
    philox stream of 10,000,000 samples (SEQUENTIAL, 4,096, counting
    consumer), over its RSS once its workers run, against what the stream
    would take as one array; target: at most the lookahead (32 MiB) plus one
    block (a quarter of it), i.e. bounded by the lookahead, not the stream.

Run alone: ``python -m dpa.bench --only hotpath [--quick]``.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _reference
from ..batch import BatchConfig, BatchProcessor, BatchStrategy
from ..params import gen_augmentation_params, stream_augmentation_chain
from ..config import get_preset
from ..engine import generate
from ..lookahead import DEFAULT_LOOKAHEAD_BYTES
from ..records import PARAM_DTYPE

__all__ = ["SIZES", "run"]

S = BatchStrategy
MIB = 1 << 20

SIZES: dict[str, dict[str, int]] = {
    "full": {"dpa": 1_000_000, "philox": 20_000_000, "fresh": 10_000_000, "calls": 200_000,
             "random_calls": 20_000, "oracle_calls": 20_000, "one_id_calls": 200_000,
             "overlap_batches": 120, "rss": 10_000_000, "rounds": 5},
    "quick": {"dpa": 50_000, "philox": 2_000_000, "fresh": 4_000_000, "calls": 30_000,
              "random_calls": 2_000, "oracle_calls": 2_000, "one_id_calls": 30_000,
              "overlap_batches": 25, "rss": 10_000_000, "rounds": 3},
}

DPA_BATCHES = {8: 0.70, 32: 0.90, 256: 0.90, 4096: 0.90}
PHILOX_BATCHES = {256: 0.50, 4096: 0.90, 65536: 0.90}
LOOPS = {1: None, 32: None, 256: 0.80, 4096: 0.80}


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _drain(batches: Any) -> int:
    n = 0
    for b in batches:
        n += len(b)
    return n


def _batch_config(strategy: BatchStrategy, n: int, size: int) -> BatchConfig:
    if strategy is S.ROUND_ROBIN:
        return BatchConfig(strategy=strategy, batch_size=-(-n // size))
    if strategy is S.MEMORY_OPTIMIZED:
        return BatchConfig(strategy=strategy, batch_size=size, max_batch_size=size)
    return BatchConfig(strategy=strategy, batch_size=size)


def _processor_run(config: BatchConfig, n: int, scheme: str) -> Callable[[], int]:
    preset = get_preset("moderate")

    def fn() -> int:
        stream = stream_augmentation_chain(n, preset, scheme=scheme)
        got = _drain(BatchProcessor(config.strategy, config).process_stream(stream))
        assert got == n
        return got

    return fn


class _Rounds:
    """Jobs timed in turns over ``rounds`` rounds, after one warm-up run of each.

    A job added with ``baseline=`` has that baseline timed right before it in
    every round, so that the two see the same machine load (these VMs are
    shared): :meth:`paired` gives those baseline times' median.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[Callable[[], Any], str | None]] = {}
        self.times: dict[str, list[float]] = {}

    def add(self, name: str, fn: Callable[[], Any], baseline: str | None = None) -> None:
        self.jobs[name] = (fn, baseline)
        self.times[name] = []
        if baseline is not None:
            self.times[name + ":baseline"] = []

    def run(self, rounds: int) -> None:
        for fn, _ in self.jobs.values():
            fn()
        for _ in range(rounds):
            for name, (fn, baseline) in self.jobs.items():
                if baseline is not None:
                    self.times[name + ":baseline"].append(_timed(self.jobs[baseline][0]))
                self.times[name].append(_timed(fn))

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def paired(self, name: str) -> float:
        """The median time of ``name``'s baseline, timed next to it."""
        return statistics.median(self.times[name + ":baseline"])

    def spread(self, name: str) -> float:
        t = self.times[name]
        return (max(t) - min(t)) / statistics.median(t)


def _row(name: str, what: str, value: float, unit: str, baseline: str, baseline_value: float,
         target: float | None, higher: bool = True, **params: Any) -> dict[str, Any]:
    ratio = value / baseline_value
    met = None if target is None else (ratio >= target if higher else ratio <= target)
    return {"bench": "hotpath", "name": name, "what": what, "value": value, "unit": unit,
            "baseline": baseline, "baseline_value": baseline_value, "ratio": ratio,
            "target": None if target is None else (">= " if higher else "<= ") + f"{target:g}",
            "met": met, **params}


def _stream_rows(rounds: int, n_dpa: int, n_philox: int) -> list[dict[str, Any]]:
    preset = get_preset("moderate")
    jobs = _Rounds()
    bufs = {"dpa": np.empty(n_dpa, PARAM_DTYPE), "philox": np.empty(n_philox, PARAM_DTYPE)}
    sizes = {"dpa": n_dpa, "philox": n_philox}
    for scheme in ("dpa", "philox"):
        n, buf = sizes[scheme], bufs[scheme]
        jobs.add(f"{scheme}_bulk", lambda n=n, buf=buf, scheme=scheme:
                 generate(range(n), preset, out=buf, scheme=scheme))
        for size in (DPA_BATCHES if scheme == "dpa" else PHILOX_BATCHES):
            for strategy in (S.SEQUENTIAL, S.ROUND_ROBIN, S.MEMORY_OPTIMIZED):
                jobs.add(f"{scheme}_{strategy.value}_b{size}",
                         _processor_run(_batch_config(strategy, n, size), n, scheme),
                         f"{scheme}_bulk")
    jobs.add("philox_memory_optimized_default",
             _processor_run(BatchConfig(strategy=S.MEMORY_OPTIMIZED), n_philox, "philox"),
             "philox_bulk")
    for size in LOOPS:
        b = np.empty(size, PARAM_DTYPE)
        count = min(n_dpa, 20_000) if size == 1 else n_dpa

        def loop(size=size, b=b, count=count) -> None:
            for s in range(0, count - size + 1, size):
                generate(range(s, s + size), preset, out=b)

        jobs.add(f"dpa_loop_b{size}", loop, "dpa_bulk")
    jobs.run(rounds)

    rows = []
    for scheme in ("dpa", "philox"):
        n = sizes[scheme]
        bulk = n / jobs.median(f"{scheme}_bulk")
        rows.append({"bench": "hotpath", "name": f"{scheme}_bulk",
                     "what": f"generate(range({n:,}), out=buf), default threads",
                     "value": bulk, "unit": "samples/s", "baseline": None,
                     "baseline_value": None, "ratio": None, "target": None, "met": None,
                     "spread": jobs.spread(f"{scheme}_bulk")})
        for size, target in (DPA_BATCHES if scheme == "dpa" else PHILOX_BATCHES).items():
            for strategy in (S.SEQUENTIAL, S.ROUND_ROBIN, S.MEMORY_OPTIMIZED):
                name = f"{scheme}_{strategy.value}_b{size}"
                rows.append(_row(name, f"BatchProcessor {strategy.name}, batches of {size:,}, "
                                 f"{n:,} samples, counting consumer", n / jobs.median(name),
                                 "samples/s", f"{scheme}_bulk", n / jobs.paired(name), target,
                                 spread=jobs.spread(name)))
        if scheme == "philox":
            name = "philox_memory_optimized_default"
            rows.append(_row(name, f"BatchProcessor MEMORY_OPTIMIZED, its own sizes, {n:,} "
                             "samples", n / jobs.median(name), "samples/s", "philox_bulk",
                             n / jobs.paired(name), 0.80, spread=jobs.spread(name)))
        else:
            for size, target in LOOPS.items():
                name = f"dpa_loop_b{size}"
                count = min(n, 20_000) if size == 1 else n
                done = (count - size + 1 + size - 1) // size * size
                rows.append(_row(name, f"loop of generate(range(s, s + {size:,}), out=buf)",
                                 done / jobs.median(name), "samples/s", "dpa_bulk",
                                 n / jobs.paired(name), target, spread=jobs.spread(name)))
    return rows


def _fresh_row(rounds: int, n: int) -> dict[str, Any]:
    preset = get_preset("moderate")
    buf = np.empty(n, PARAM_DTYPE)
    jobs = _Rounds()
    jobs.add("out", lambda: generate(range(n), preset, out=buf, scheme="philox"))
    jobs.add("fresh", lambda: generate(range(n), preset, scheme="philox"),  # dropped at once
             "out")
    jobs.run(rounds)
    return _row("philox_fresh", f"generate(range({n:,}), scheme='philox') without out=",
                n / jobs.median("fresh"), "samples/s", "the same with a reused out=",
                n / jobs.paired("fresh"), 0.50)


def _call_rows(rounds: int, calls: int, random_calls: int,
               oracle_calls: int, one_id_calls: int) -> list[dict[str, Any]]:
    preset = get_preset("moderate")
    rng = np.random.default_rng(12345)
    random_ids = rng.integers(0, 2**40, random_calls).tolist()
    npgen = np.random.Generator(np.random.Philox(7))
    base = [0]

    def consecutive() -> None:
        b = base[0]
        base[0] += calls  # fresh ids every round: nothing served from a previous one
        for i in range(b, b + calls):
            gen_augmentation_params(i, preset)

    def numpy5() -> None:
        for _ in range(one_id_calls):
            npgen.random(5)

    def one_id() -> None:
        for i in range(one_id_calls):
            generate(range(i, i + 1), preset, scheme="philox")

    jobs = _Rounds()
    jobs.add("oracle", lambda: [_reference.params(i, preset) for i in range(oracle_calls)])
    jobs.add("consecutive", consecutive, "oracle")
    jobs.add("random", lambda: [gen_augmentation_params(i, preset) for i in random_ids],
             "oracle")
    jobs.add("numpy5", numpy5)
    jobs.add("one_id", one_id, "numpy5")
    jobs.run(rounds)
    rows = [
        _row("gen_augmentation_params_consecutive", "gen_augmentation_params(i, config), "
             "i = consecutive ids", calls / jobs.median("consecutive"), "calls/s",
             "oracle (dpa._reference.params)", oracle_calls / jobs.paired("consecutive"), 8.0),
        _row("gen_augmentation_params_random", "gen_augmentation_params(i, config), "
             "random ids", random_calls / jobs.median("random"), "calls/s",
             "oracle (dpa._reference.params)", oracle_calls / jobs.paired("random"), 8.0),
    ]
    us = 1e6 / one_id_calls
    rows.append(_row("philox_one_id", "generate(range(i, i + 1), scheme='philox')",
                     jobs.median("one_id") * us, "us/call", "Generator(Philox).random(5)",
                     jobs.paired("one_id") * us, 3.0, higher=False))
    return rows


def _overlap_row(rounds: int, batches: int, bulk_rate: float) -> dict[str, Any]:
    preset = get_preset("moderate")
    size = 4096
    n = batches * size
    pause = size / bulk_rate  # as long as a batch takes to generate

    def run(lookahead: int | None) -> Callable[[], None]:
        def fn() -> None:
            cfg = BatchConfig(strategy=S.SEQUENTIAL, batch_size=size, lookahead_bytes=lookahead)
            for _ in BatchProcessor(S.SEQUENTIAL, cfg).process_stream(
                    stream_augmentation_chain(n, preset)):
                time.sleep(pause)

        return fn

    jobs = _Rounds()
    jobs.add("serial", run(0))
    jobs.add("ahead", run(None), "serial")
    jobs.run(rounds)
    return _row("dpa_overlap_b4096", f"SEQUENTIAL batches of {size:,}, {n:,} samples, the "
                f"consumer sleeping {pause * 1e3:.2f} ms per batch", n / jobs.median("ahead"),
                "samples/s", "the same, lookahead_bytes=0 (one after the other)",
                n / jobs.paired("ahead"), 1.6, sleep_ms=pause * 1e3)


_RSS_CHILD = """
import sys
import dpa
from dpa.batch import BatchConfig, BatchProcessor, BatchStrategy as S
def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
dpa.generate(range(100_000), scheme="philox")  # workers started, code paged in
before = status("VmRSS")
n = 0
cfg = BatchConfig(strategy=S.SEQUENTIAL, batch_size=4096)
for b in BatchProcessor(S.SEQUENTIAL, cfg).process_stream(
        dpa.stream_augmentation_chain(int(sys.argv[1]), scheme="philox")):
    n += len(b)
print(status("VmHWM") - before, n)
"""


def _rss_row(n: int) -> dict[str, Any]:
    """Peak RSS growth of a fresh process batching ``n`` philox samples (Linux)."""
    grown = None
    try:
        done = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(n)], capture_output=True,
                              text=True, timeout=600)
        if done.returncode == 0:
            value, count = done.stdout.split()
            grown = float(value) if int(count) == n else None
    except (OSError, ValueError, subprocess.SubprocessError):
        grown = None
    stream_mb = n * PARAM_DTYPE.itemsize / MIB
    bound = 1.25 * DEFAULT_LOOKAHEAD_BYTES / MIB
    return {"bench": "hotpath", "name": "philox_stream_peak_rss",
            "what": f"peak RSS growth of a process batching {n:,} philox samples "
                    "(SEQUENTIAL, 4,096, counting consumer)",
            "value": grown, "unit": "MiB", "baseline": "the stream as one array",
            "baseline_value": stream_mb, "ratio": None if grown is None else grown / stream_mb,
            "target": f"<= {bound:g} MiB (the {DEFAULT_LOOKAHEAD_BYTES / MIB:g} MiB lookahead "
                      "plus one block)",
            "met": None if grown is None else grown <= bound,
            "lookahead_mb": DEFAULT_LOOKAHEAD_BYTES / MIB}


def run(quick: bool = False, **sizes: int) -> list[dict[str, Any]]:
    """run(quick=False, **sizes)

    Measure the hot-path rows (see the module docs); ``sizes`` override
    :data:`SIZES` entries (``dpa``, ``philox``, ``rounds``, ...).

    Returns
    -------
    list of dict
        ``bench`` ("hotpath"), ``name``, ``what``, ``value``, ``unit``,
        ``baseline``, ``baseline_value``, ``ratio`` (value / baseline_value),
        ``target``, ``met`` and, for some rows, ``spread`` and parameters.
    """
    chosen = dict(SIZES["quick" if quick else "full"])
    for key, value in sizes.items():
        if key not in chosen:
            raise ValueError(f"unknown size {key!r}; known: {sorted(chosen)}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} should be a positive integer, but got {key}={value!r}")
        chosen[key] = value
    rounds = chosen["rounds"]
    rows = _stream_rows(rounds, chosen["dpa"], chosen["philox"])
    rows.append(_fresh_row(rounds, chosen["fresh"]))
    rows += _call_rows(rounds, chosen["calls"], chosen["random_calls"], chosen["oracle_calls"],
                       chosen["one_id_calls"])
    bulk = next(r["value"] for r in rows if r["name"] == "dpa_bulk")
    rows.append(_overlap_row(rounds, chosen["overlap_batches"], bulk))
    rows.append(_rss_row(chosen["rss"]))
    for r in rows:
        for k, v in list(r.items()):
            if isinstance(v, float) and not math.isfinite(v):
                r[k] = None
    return rows
