"""dpa.compat.benchmark: DPA 0.2.1's reports of fixed figures, and its measurements.

Reports, result layouts and recommendations of fixed figures are compared
with what the real DPA 0.2.1 printed for them (tests/data); the
measurements themselves are timing-dependent, so only their structure and
invariants are checked, with tiny workloads.
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import vectors_dir
from dpa.compat import benchmark as BM
from dpa.compat import dpa as C
from dpa.compat._benchreport import generate_recommendations

KAT = json.loads((vectors_dir() / "dpa-0.2.1-compat.json").read_text())["reports"]


def _fixed():
    """The fixed figures DPA reported on: metrics, the comparison and its scores."""
    metrics = {k: BM.PerformanceMetrics(*v) for k, v in KAT["metrics"].items()}
    return metrics, KAT["comparison"], KAT["improvements"]


def test_recommendations_and_reports_are_dpas():
    metrics, comparison, improvements = _fixed()
    base = metrics["base"]
    for name, c in comparison.items():  # the comparison is what dpa.compat computes too
        m = metrics[name]
        assert c["throughput_change_percent"] == BM.safe_percentage_change(
            m.throughput_samples_per_second, base.throughput_samples_per_second)
        assert c["memory_change_percent"] == BM.safe_percentage_change(m.memory_usage_mb,
                                                                       base.memory_usage_mb)
    recs = generate_recommendations(metrics, comparison, improvements)
    assert recs == KAT["recommendations"]
    report = BM.ComparisonReport("base", ["faster", "slower"], comparison, improvements, recs)
    runner = BM.BenchmarkRunner(BM.BenchmarkConfig(iterations=3, warmup_iterations=1))
    for fmt in ("text", "markdown"):
        assert runner.generate_performance_report(report, fmt) == KAT["report"][fmt]
    doc = json.loads(runner.generate_performance_report(report, "json"))
    assert doc["recommendations"] == recs and doc["benchmark_config"]["iterations"] == 3
    assert {"cpu", "memory", "platform", "machine"} <= doc["system_info"].keys()


def test_result_layouts_are_dpas():
    result = BM.BenchmarkResult(*KAT["benchmark_result"])
    for fmt, text in KAT["format_benchmark_result"].items():
        assert BM.format_benchmark_result(result, fmt) == text


@pytest.mark.parametrize("name", ["target_1000_limit_500", "none", "empty", "good"])
def test_performance_recommendations_are_dpas(name):
    pr = KAT["performance_recommendations"]
    args = {"target_1000_limit_500": (pr["bench"], 1000, 500), "none": (pr["bench"],),
            "empty": ({},), "good": ({"generation": {"throughput_samples_per_second": 5.0},
                                      "streaming": {"overhead_vs_generation_percent": 7.0}},)}
    assert C.get_performance_recommendations(*args[name]) == pr[name]


def test_measurements_time_the_call_without_sleeping():
    t0 = time.perf_counter()
    r = BM.benchmark_function(lambda: time.sleep(0.002), iterations=5)
    assert time.perf_counter() - t0 < 0.5  # DPA sleeps 0.2 s per iteration to sample the CPU
    assert 0.002 <= r.min_time_seconds <= r.avg_time_seconds <= r.max_time_seconds
    assert 0 <= r.cpu_usage_percent <= 100 and r.iterations == 5
    with BM.measure_memory() as mem, BM.measure_time() as timer:
        data = [0.5] * 200_000
    assert mem["delta_mb"] == mem["delta_rss_mb"] and timer["elapsed_seconds"] > 0
    del data


def test_runner_compares_configurations():
    runner = BM.BenchmarkRunner(BM.BenchmarkConfig(iterations=2, warmup_iterations=0))
    report = runner.compare_configurations([
        {"name": "gen", "type": "generation", "num_samples": 20},
        {"name": "stream", "type": "streaming", "num_samples": 20, "chunk_size": 7},
        {"name": "batch", "type": "batch_processing", "num_samples": 20},
    ])
    assert report.comparison_configs == ["stream", "batch"]
    assert set(report.metrics_comparison) == {"stream", "batch"}
    assert [h["config_name"] for h in runner.get_results_history()] == ["gen", "stream", "batch"]
    with pytest.raises(BM.MeasurementError, match="missing required key 'type'"):
        runner.compare_configurations([{"name": "x", "num_samples": 1}])


def test_profiler_and_decorator():
    prof = BM.PerformanceProfiler()
    with prof.profile_context("op"):
        pass
    with pytest.raises(BM.ProfilingError, match="not being profiled"):
        prof.end_profiling("op")

    @C.profile_augmentation_generation(operation_name="gen")
    def gen(n):
        return C.generate_augmentation_chain(n)

    assert gen(3) == C.generate_augmentation_chain(3)
    gen(2)
    assert [r.call_count for r in gen.get_profile_results()] == [1, 2]


def test_bench_section_compares_equal_outputs():
    """python -m dpa.bench's compat section: every row's oracle (DPA's algorithm
    in plain Python) and dpa.compat give the same lists, statistics and bytes."""
    from dpa.bench import compat as section

    rows = section.run(records=300, repeats=1)
    assert len(rows) == 9 and all(r["equal"] for r in rows), rows
    assert all(r["speedup"] > 0 and r["records"] == 300 for r in rows)
