#!/usr/bin/env python3
"""Write the known answers of DPA 0.2.1 that dpa.compat's tests compare with.

Usage (with an interpreter DPA 0.2.1 runs on, i.e. Python 3.12, and psutil)::

    python3.12 tests/data/make_dpa_compat_vectors.py DPA_CHECKOUT tests/data

``DPA_CHECKOUT`` is a checkout of DPA 0.2.1 (its ``src/`` is imported from
there); nothing of DPA is copied.  The script calls DPA's public functions
on fixed inputs and records what they return, print, write and raise:

* ``dpa-0.2.1-compat.json``: statistics of tricky inputs, verbose output of
  streams (elapsed times masked), batch sizes of the four strategies under
  fixed (mocked) memory readings, error classes and messages, memory
  estimates, benchmark reports of fixed figures, recommendations.
* files written by DPA's savers in the layouts not covered by the existing
  ``dpa-chain-*``/``dpa-stream-*`` files: the one-line streaming layout, a
  distributed stream (records with ``rank``), a chain without statistics.

It is deterministic: running it again writes the same bytes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from unittest import mock

CHECKOUT, OUT = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
SCRATCH = Path(tempfile.mkdtemp(prefix="dpa-vectors-"))
sys.path.insert(0, str(CHECKOUT))

# src.dpa first: imported after src.distributed, DPA's circular import leaves it
# without its distributed functions.
from src import dpa  # noqa: E402, I001
from src import batch as B  # noqa: E402
from src import benchmark as BM  # noqa: E402
from src import distributed as D  # noqa: E402

_TIMES = re.compile(r"(elapsed: |ETA: )[0-9.]+s")


def masked(text: str) -> list[str]:
    """Output lines with the clock's numbers replaced by ``#``."""
    return [_TIMES.sub(r"\1#s", line) for line in text.splitlines()]


def captured(fn, *args, **kwargs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        value = fn(*args, **kwargs)
    return value, masked(out.getvalue())


def rows(values: list[float]) -> list[dict]:
    return [{"rotation": v, "brightness": 1.0, "noise": 0.0, "scale": 1.0, "contrast": 1.0}
            for v in values]


def config_json(c) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(c).items()}


# ---- statistics ----------------------------------------------------------------------

STAT_INPUTS = {
    "large_values": rows([1e6, 1e6 + 1, 1e6 + 2, 1e6 + 3, 1e6 + 4]),
    "small_values": rows([1e-6, 2e-6, 3e-6, 4e-6, 5e-6]),
    "signed_zeros": rows([0.0, -0.0, 0.0, -0.0]),
    "negative_zero_first": rows([-0.0, 0.0, 1.5]),
    "huge_and_tiny": rows([1e300, -1e300, 5e-324, 1.5, -2.25e-310, 1e300]),
    "cancellation": rows([1e16, 1.0, -1e16, 3.0, 1e16, -1e16]),
    "one_value": rows([5.25]),
    "ints": [{"rotation": 0, "brightness": 1, "noise": 0, "scale": 1, "contrast": 1},
             {"rotation": 10, "brightness": 3, "noise": 0, "scale": 2, "contrast": 1}],
    "ints_and_floats": [{"rotation": 5, "brightness": 1.0, "noise": 0.05, "scale": 1, "contrast": 1.0},
                        {"rotation": 2.5, "brightness": 2, "noise": 0, "scale": 1.5, "contrast": 0}],
    "odd_ints_mean": rows([1, 2]),
}


def statistics_section() -> dict:
    out = {}
    for name, items in STAT_INPUTS.items():
        out[name] = {"input": items, "exact": dpa.compute_statistics(items),
                     "welford": dpa.compute_streaming_statistics(iter(items))}
    generated = dpa.generate_augmentation_chain(300, dpa.get_preset("aggressive"))
    out["generated_300_aggressive"] = {
        "ids": [0, 300], "preset": "aggressive",
        "exact": dpa.compute_statistics(generated),
        "welford": dpa.compute_streaming_statistics(iter(generated)),
    }
    out["empty_welford"] = dpa.compute_streaming_statistics(iter([]))
    return out


# ---- streams ---------------------------------------------------------------------------

def stream_section() -> dict:
    out = {}
    cfg = dpa.AugmentationConfig(rotation_range=(-20, 20), augmentation_depth=7)
    calls = []

    def cb(progress, metadata):
        calls.append([progress.samples_processed, progress.current_sample_id,
                      progress.estimated_total, metadata.total_samples, metadata.start_id,
                      metadata.chunk_size])

    cases = {
        "plain_5": dict(num_samples=5, verbose=True),
        "chunked_7_by_3_from_4": dict(num_samples=7, start_id=4, chunk_size=3, verbose=True,
                                      config=cfg),
        "progress_120": dict(num_samples=120, verbose=True),
        "chunked_250_by_40": dict(num_samples=250, chunk_size=40, verbose=True),
        "callback_6_by_4": dict(num_samples=6, chunk_size=4, progress_callback=cb),
        "callback_3": dict(num_samples=3, progress_callback=cb),
        "batched_45_seq_10": dict(num_samples=45, verbose=True,
                                  batch_config=B.BatchConfig(B.BatchStrategy.SEQUENTIAL, 10)),
    }
    for name, kwargs in cases.items():
        calls.clear()
        items, lines = captured(lambda kw=kwargs: list(dpa.stream_augmentation_chain(**kw)))
        shape = [len(x) if isinstance(x, list) else None for x in items]
        out[name] = {"kwargs": {k: v for k, v in kwargs.items()
                                if k not in ("config", "progress_callback", "batch_config")},
                     "output": lines, "shape": shape, "callbacks": list(calls)}
    for name, fn in {
        "distributed_chain_6_r0_ws2": lambda: list(D.stream_distributed_augmentation_chain(
            6, 0, 2, base_seed=11, verbose=True)),
        "distributed_chain_2_r4_ws5": lambda: list(D.stream_distributed_augmentation_chain(
            2, 4, 5, verbose=True)),
        "distributed_range_20_25_r1_ws3": lambda: list(D.stream_distributed_augmentation_range(
            20, 25, 1, 3, chunk_size=2, verbose=True)),
        "distributed_chain_30_r2_ws3": lambda: list(D.stream_distributed_augmentation_chain(
            30, 2, 3, verbose=True)),
    }.items():
        items, lines = captured(fn)
        out[name] = {"output": lines, "count": len(items)}
    return out


# ---- batching --------------------------------------------------------------------------

READINGS = {
    "low_use": [B.MemoryInfo(8000, 2000, 10000, 20.0)],
    "mid_use": [B.MemoryInfo(4000, 6000, 10000, 60.0)],
    "little_available": [B.MemoryInfo(600, 9000, 10000, 70.0)],
    "high_use": [B.MemoryInfo(1500, 8200, 10000, 82.0)],
    "rising": [B.MemoryInfo(8000, 2000, 10000, 20.0)] * 5
    + [B.MemoryInfo(3000, 7000, 10000, 70.0)] * 5 + [B.MemoryInfo(1500, 8300, 10000, 83.0)] * 5
    + [B.MemoryInfo(500, 9300, 10000, 93.0)],
}


def readings(seq):
    it = iter(seq)
    last = [seq[-1]]

    def current():
        try:
            last[0] = next(it)
        except StopIteration:
            pass
        return last[0]
    return current


def items(n):
    return [{"sample_id": i} for i in range(n)]


def batch_section() -> dict:
    out = {"readings": {name: [[m.available_mb, m.used_mb, m.total_mb, m.percent_used]
                               for m in seq] for name, seq in READINGS.items()},
           "sizes": {}, "monitored": {}, "adjust": [], "optimal": []}
    for strategy in B.BatchStrategy:
        for bs in (None, 7):
            for mem_name, seq in READINGS.items():
                cfg = B.BatchConfig(strategy, bs, max_memory_mb=1000, min_batch_size=2)
                with mock.patch("src.batch.MemoryInfo.current", side_effect=readings(seq)):
                    p = B.BatchProcessor(strategy, cfg)
                    sizes = [len(b) for b in p.process_stream(iter(items(150)))]
                out["sizes"][f"{strategy.value}/{bs}/{mem_name}"] = sizes
                with mock.patch("src.batch.MemoryInfo.current", side_effect=readings(seq)):
                    p = B.BatchProcessor(strategy, cfg)
                    got, error = [], None
                    try:
                        for b in p.process_with_memory_monitoring(iter(items(150))):
                            got.append(len(b))
                    except Exception as exc:
                        error = [type(exc).__name__, str(exc)]
                out["monitored"][f"{strategy.value}/{bs}/{mem_name}"] = {
                    "sizes": got, "error": error, "current_batch_size": p._current_batch_size}
    batcher = B.MemoryAwareBatcher(max_memory_mb=1000, min_batch_size=3, adjustment_factor=0.7)
    for size in (0, 1, 10, 100, 999):
        for pct, avail in ((85, 5000), (60, 500), (30, 2500), (30, 1500), (60, 5000), (95, 0)):
            out["adjust"].append([size, pct, avail, batcher.adjust_batch_size(
                size, {"percent_used": pct, "available_mb": avail})])
    for avail in (100, 1024, 50000):
        for sample in (-5, 0, 1, 200, 1 << 20):
            with mock.patch("src.batch.MemoryInfo.current",
                            return_value=B.MemoryInfo(avail, 100, avail + 100, 10.0)):
                out["optimal"].append([avail, sample, batcher.calculate_optimal_batch_size(sample)])
    stream = dpa.stream_augmentation_chain(30, dpa.get_preset("mild"), start_id=50)
    p = B.BatchProcessor(B.BatchStrategy.ROUND_ROBIN, B.BatchConfig(B.BatchStrategy.ROUND_ROBIN, 7))
    batches = list(p.process_stream(stream))
    out["round_robin_stream"] = {"sizes": [len(b) for b in batches], "batch_2_first": batches[2][0]}
    return out


# ---- errors ----------------------------------------------------------------------------

def error_section() -> list:
    cases = [
        ("stream_augmentation_chain(-1)", lambda: list(dpa.stream_augmentation_chain(-1))),
        ("stream_augmentation_chain(5, start_id=-1)",
         lambda: list(dpa.stream_augmentation_chain(5, start_id=-1))),
        ("stream_augmentation_chain(5, chunk_size=0)",
         lambda: list(dpa.stream_augmentation_chain(5, chunk_size=0))),
        ("stream_augmentation_chain(5, rank=0)", lambda: list(dpa.stream_augmentation_chain(5, rank=0))),
        ("stream_augmentation_chain(5, rank=2, world_size=2)",
         lambda: list(dpa.stream_augmentation_chain(5, rank=2, world_size=2))),
        ("stream_augmentation_chain(5, chunk_size=2, batch_config=...)",
         lambda: list(dpa.stream_augmentation_chain(
             5, chunk_size=2, batch_config=B.BatchConfig(B.BatchStrategy.SEQUENTIAL)))),
        ("stream_augmentation_range(5, 3)", lambda: list(dpa.stream_augmentation_range(5, 3))),
        ("gen_augmentation_params(-1)", lambda: dpa.gen_augmentation_params(-1)),
        # DPA's own circular import leaves src.dpa without its distributed functions:
        ("gen_augmentation_params(3, rank=0)", lambda: dpa.gen_augmentation_params(3, rank=0)),
        ("stream_augmentation_chain(9, rank=1, world_size=2)",
         lambda: list(dpa.stream_augmentation_chain(9, rank=1, world_size=2))),
        ("gen_augmentation_seed(0, 0)", lambda: dpa.gen_augmentation_seed(0, 0)),
        ("fib(-1)", lambda: dpa.fib(-1)),
        ("generate_augmentation_chain(-1)", lambda: dpa.generate_augmentation_chain(-1)),
        ("get_preset('wild')", lambda: dpa.get_preset("wild")),
        ("generator_to_list(..., max_items=-1)", lambda: dpa.generator_to_list(iter([]), -1)),
        ("create_streaming_metadata(buffer_size=0)", lambda: dpa.create_streaming_metadata(buffer_size=0)),
        ("create_streaming_progress(estimated_total=-1)",
         lambda: dpa.create_streaming_progress(estimated_total=-1)),
        ("estimate_memory_usage(-1)", lambda: dpa.estimate_memory_usage(-1)),
        ("estimate_optimal_batch_size(0)", lambda: dpa.estimate_optimal_batch_size(0)),
        ("estimate_optimal_batch_size(safety_margin=1)",
         lambda: dpa.estimate_optimal_batch_size(safety_margin=1)),
        ("resume_streaming_save(..., resume_from_sample=-1)",
         lambda: dpa.resume_streaming_save(iter([]), "unused.json", -1)),
        ("save_augmentation_stream(..., buffer_size=0)",
         lambda: dpa.save_augmentation_stream(iter([]), str(SCRATCH / "x.json"), buffer_size=0)),
        ("load_augmentation_chain('missing.json')", lambda: dpa.load_augmentation_chain("missing.json")),
        ("load_augmentation_stream('missing.json')",
         lambda: list(dpa.load_augmentation_stream("missing.json"))),
        ("convert_stream_to_batches(..., 'fastest')",
         lambda: list(dpa.convert_stream_to_batches(iter([]), "fastest"))),
        ("stream_augmentation_chain_with_memory_limit(5, 0)",
         lambda: list(dpa.stream_augmentation_chain_with_memory_limit(5, 0))),
        ("BatchConfig(batch_size=0)", lambda: B.BatchConfig(B.BatchStrategy.SEQUENTIAL, 0)),
        ("BatchConfig(batch_size=2, min_batch_size=5)",
         lambda: B.BatchConfig(B.BatchStrategy.SEQUENTIAL, 2, min_batch_size=5)),
        ("BatchConfig(max_memory_mb=0)", lambda: B.BatchConfig(B.BatchStrategy.SEQUENTIAL, max_memory_mb=0)),
        ("BatchConfig(min_batch_size=0)", lambda: B.BatchConfig(B.BatchStrategy.SEQUENTIAL, min_batch_size=0)),
        ("BatchProcessor('sequential', config)",
         lambda: B.BatchProcessor("sequential", B.BatchConfig(B.BatchStrategy.SEQUENTIAL))),
        ("BenchmarkConfig(iterations=0)", lambda: BM.BenchmarkConfig(iterations=0)),
        ("BenchmarkConfig(warmup_iterations=-1)", lambda: BM.BenchmarkConfig(warmup_iterations=-1)),
        ("BenchmarkConfig(output_format='xml')", lambda: BM.BenchmarkConfig(output_format="xml")),
        ("PerformanceMetrics(cpu_usage_percent=150)",
         lambda: BM.PerformanceMetrics(1.0, 1.0, 1.0, 150.0, 1.0)),
        ("ProfileResult(call_count=-1)", lambda: BM.ProfileResult("x", 1.0, -1, 1.0, 0.0)),
        ("benchmark_function(..., iterations=0)", lambda: BM.benchmark_function(lambda: None, 0)),
        ("RankAwareSeedGenerator(base_seed=-1)", lambda: D.RankAwareSeedGenerator(base_seed=-1)),
        ("RankAwareSeedGenerator(world_size=4).generate_seed(0, 4)",
         lambda: D.RankAwareSeedGenerator(world_size=4).generate_seed(0, 4)),
        ("DistributedRangeSplitter(10, 2).get_rank_for_sample(10)",
         lambda: D.DistributedRangeSplitter(10, 2).get_rank_for_sample(10)),
        ("stream_distributed_augmentation_chain(10, 0, 1, chunk_size=0)",
         lambda: list(D.stream_distributed_augmentation_chain(10, 0, 1, chunk_size=0))),
    ]
    out = []
    for name, fn in cases:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                fn()
        except Exception as exc:
            out.append({"call": name, "error": type(exc).__name__,
                        "mro": [c.__name__ for c in type(exc).__mro__], "message": str(exc)})
        else:
            raise AssertionError(f"{name} did not raise")
    return out


# ---- memory, reports, recommendations -------------------------------------------------

def memory_section() -> dict:
    return {
        "estimate_memory_usage": [[n, s, b, dpa.estimate_memory_usage(n, s, b)]
                                  for n, s, b in ((0, True, 200), (1000, True, 200),
                                                  (5_000_000, False, 300))],
        "format_memory_size": [[n, dpa.format_memory_size(n)]
                               for n in (0, 512, 1023, 1024, 1536, 1048575, 1048576, 1 << 30,
                                         5 * (1 << 30) + 123)],
        "get_memory_usage_estimate": [[n, dpa.get_memory_usage_estimate(n)]
                                      for n in (1000, 300_000, 3_000_000)],
        "estimate_optimal_batch_size": [[s, m, f, dpa.estimate_optimal_batch_size(s, m, f)]
                                        for s, m, f in ((200, 1000, 0.1), (1000, 500, 0.25),
                                                        (1 << 30, 1, 0.5), (7, 3, 0.0))],
    }


def report_section() -> dict:
    result = BM.BenchmarkResult("fn", 10, 1.5, 0.15, 0.1, 0.25, 0.05, 6.666, 1.25, 33.3)
    metrics = {
        "base": BM.PerformanceMetrics(50.0, 150.0, 1200.0, 40.0, 2.0),
        "faster": BM.PerformanceMetrics(80.0, 90.0, 500.0, 70.0, 1.5),
        "slower": BM.PerformanceMetrics(30.0, 200.0, 2000.0, 10.0, 3.0),
    }
    comparison, improvements = {}, {}
    base = metrics["base"]
    for name, m in metrics.items():
        if name == "base":
            continue
        ch = {
            "throughput_change_percent": BM.safe_percentage_change(
                m.throughput_samples_per_second, base.throughput_samples_per_second),
            "latency_change_percent": BM.safe_percentage_change(m.avg_latency_ms,
                                                                base.avg_latency_ms),
            "memory_change_percent": BM.safe_percentage_change(m.memory_usage_mb,
                                                               base.memory_usage_mb),
            "cpu_change_percent": BM.safe_percentage_change(m.cpu_usage_percent,
                                                            base.cpu_usage_percent),
        }
        comparison[name] = {**ch, "absolute_metrics": {
            "throughput_samples_per_second": m.throughput_samples_per_second,
            "avg_latency_ms": m.avg_latency_ms, "memory_usage_mb": m.memory_usage_mb,
            "cpu_usage_percent": m.cpu_usage_percent, "total_time_seconds": m.total_time_seconds}}
        improvements[name] = (ch["throughput_change_percent"] - ch["latency_change_percent"]
                              - ch["memory_change_percent"] - ch["cpu_change_percent"]) / 4
    runner = BM.BenchmarkRunner(BM.BenchmarkConfig(iterations=3, warmup_iterations=1))
    recs = runner._generate_recommendations(metrics, comparison, improvements)
    report = BM.ComparisonReport("base", ["faster", "slower"], comparison, improvements, recs)
    bench = {"generation": {"throughput_samples_per_second": 500.0},
             "streaming": {"overhead_vs_generation_percent": 12.5},
             "batch_processing": {"best_strategy": "sequential", "best_throughput": 800.0},
             "system_info": {"memory_usage_mb": 900.0, "config": {"augmentation_depth": 20}}}
    return {
        "benchmark_result": [result.function_name, result.iterations, result.total_time_seconds,
                             result.avg_time_seconds, result.min_time_seconds,
                             result.max_time_seconds, result.std_dev_seconds,
                             result.throughput_ops_per_second, result.memory_usage_mb,
                             result.cpu_usage_percent],
        "format_benchmark_result": {f: BM.format_benchmark_result(result, f)
                                    for f in ("text", "json", "csv")},
        "metrics": {k: [m.throughput_samples_per_second, m.avg_latency_ms, m.memory_usage_mb,
                        m.cpu_usage_percent, m.total_time_seconds] for k, m in metrics.items()},
        "comparison": comparison,
        "improvements": improvements,
        "recommendations": recs,
        "report": {f: runner.generate_performance_report(report, f) for f in ("text", "markdown")},
        "performance_recommendations": {
            "bench": bench,
            "target_1000_limit_500": dpa.get_performance_recommendations(bench, 1000, 500),
            "none": dpa.get_performance_recommendations(bench),
            "empty": dpa.get_performance_recommendations({}),
            "good": dpa.get_performance_recommendations(
                {"generation": {"throughput_samples_per_second": 5.0},
                 "streaming": {"overhead_vs_generation_percent": 7.0}}),
        },
    }


# ---- files written by DPA --------------------------------------------------------------

def write_files() -> dict:
    """DPA's files in the layouts the older reference files do not cover."""
    cfg = dpa.AugmentationConfig(rotation_range=(-20, 20), noise_range=(0, 0.2),
                                 augmentation_depth=7)
    files = {
        "dpa-stream-lines-40-from7.json": (
            lambda p: dpa.save_augmentation_stream(dpa.stream_augmentation_chain(40, cfg, 7), p,
                                                   config=cfg, include_stats=False,
                                                   buffer_size=16),
            {"call": "save_augmentation_stream(stream_augmentation_chain(40, config, 7), path, "
                     "config=config, include_stats=False, buffer_size=16)",
             "config": config_json(cfg)}),
        "dpa-rank-stream-30-r1of3.json": (
            lambda p: dpa.save_augmentation_stream(
                D.stream_distributed_augmentation_chain(30, 1, 3, base_seed=5), p),
            {"call": "save_augmentation_stream(stream_distributed_augmentation_chain(30, 1, 3, "
                     "base_seed=5), path)"}),
        "dpa-rank-lines-13-r2of4.json": (
            lambda p: dpa.save_augmentation_stream(
                D.stream_distributed_augmentation_chain(13, 2, 4, dpa.get_preset("mild")), p,
                include_stats=False, buffer_size=2),
            {"call": "save_augmentation_stream(stream_distributed_augmentation_chain(13, 2, 4, "
                     "mild), path, include_stats=False, buffer_size=2)"}),
        "dpa-chain-nostats-25.json": (
            lambda p: dpa.save_augmentation_chain(dpa.generate_augmentation_chain(25), p,
                                                  include_stats=False),
            {"call": "save_augmentation_chain(generate_augmentation_chain(25), path, "
                     "include_stats=False)"}),
    }
    made = {}
    for name, (write, about) in files.items():
        path = OUT / name
        with contextlib.redirect_stdout(io.StringIO()) as out:
            write(str(path))
        made[name] = {**about, "printed": out.getvalue().replace(str(path), "PATH")}
    return made


def main() -> None:
    doc = {
        "source": "DPA 0.2.1 (commit 558e4c3 of its public repository), "
                  f"CPython {sys.version.split()[0]}; tests/data/make_dpa_compat_vectors.py",
        "statistics": statistics_section(),
        "streams": stream_section(),
        "batches": batch_section(),
        "errors": error_section(),
        "memory": memory_section(),
        "reports": report_section(),
        "files": write_files(),
    }
    text = json.dumps(doc, indent=1, sort_keys=False) + "\n"
    (OUT / "dpa-0.2.1-compat.json").write_text(text, encoding="utf-8")
    print(f"wrote {OUT / 'dpa-0.2.1-compat.json'} ({len(text)} bytes) and {len(doc['files'])} files")


if __name__ == "__main__":
    os.chdir(OUT)
    main()
