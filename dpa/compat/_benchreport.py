"""DPA 0.2.1's benchmark reports: recommendations and the text, markdown, JSON layouts.

Pure functions of the figures ``dpa.compat.benchmark`` measures: the rules that turn a comparison
into recommendations (at most ten, without repeats), and the report and
result layouts, line for line DPA's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ._arith import safe_division, safe_percentage_change

__all__ = ["format_benchmark_result", "generate_recommendations", "performance_report",
           "safe_division", "safe_percentage_change"]


def _change_rules(name: str, c: dict[str, Any]) -> list[str]:
    out = []
    tp, lat = c["throughput_change_percent"], c["latency_change_percent"]
    mem, cpu = c["memory_change_percent"], c["cpu_change_percent"]
    if tp > 20:
        out.append(f"Configuration '{name}' significantly improves throughput by {tp:.1f}%")
    elif tp < -20:
        out.append(f"Configuration '{name}' significantly reduces throughput by {abs(tp):.1f}% "
                   "- consider alternatives")
    if lat < -20:
        out.append(f"Configuration '{name}' significantly reduces latency by {abs(lat):.1f}%")
    elif lat > 20:
        out.append(f"Configuration '{name}' increases latency by {lat:.1f}% - may impact "
                   "responsiveness")
    if mem < -20:
        out.append(f"Configuration '{name}' significantly reduces memory usage by "
                   f"{abs(mem):.1f}%")
    elif mem > 50:
        out.append(f"Configuration '{name}' increases memory usage by {mem:.1f}% - monitor for "
                   "memory constraints")
    if cpu < -20:
        out.append(f"Configuration '{name}' significantly reduces CPU usage by {abs(cpu):.1f}%")
    elif cpu > 50:
        out.append(f"Configuration '{name}' increases CPU usage by {cpu:.1f}% - may impact "
                   "system performance")
    return out


def generate_recommendations(results: dict[str, Any], comparison: dict[str, dict[str, Any]],
                             improvements: dict[str, float]) -> list[str]:
    """DPA's recommendations for a comparison (the first result is the baseline)."""
    recs: list[str] = []
    if improvements:
        best = max(improvements, key=lambda k: improvements[k])
        score = improvements[best]
        if score > 10:
            recs.append(f"Configuration '{best}' shows significant performance improvement "
                        f"({score:.1f}% overall)")
        elif score > 0:
            recs.append(f"Configuration '{best}' shows modest performance improvement "
                        f"({score:.1f}% overall)")
    for name, c in comparison.items():
        recs += _change_rules(name, c)
    base = next(iter(results.values()))
    if base.memory_usage_mb > 1000:
        recs.append("High memory usage detected - consider using batch processing with memory "
                    "limits")
    if base.avg_latency_ms > 100:
        recs.append("High latency detected - consider optimizing augmentation parameters or "
                    "using streaming")
    if base.throughput_samples_per_second < 100:
        recs.append("Low throughput detected - consider batch processing or parameter "
                    "optimization")
    return list(dict.fromkeys(recs))[:10]


def _changes(c: dict[str, Any], score: float, indent: str, bullet: str, bold: bool
             ) -> list[str]:
    def label(text: str) -> str:
        return f"**{text}:**" if bold else f"{text}:"

    a = c["absolute_metrics"]
    return [
        f"{indent}{bullet}{label('Throughput Change')} {c['throughput_change_percent']:+.1f}%",
        f"{indent}{bullet}{label('Latency Change')} {c['latency_change_percent']:+.1f}%",
        f"{indent}{bullet}{label('Memory Change')} {c['memory_change_percent']:+.1f}%",
        f"{indent}{bullet}{label('CPU Change')} {c['cpu_change_percent']:+.1f}%",
        f"{indent}{bullet}{label('Overall Improvement')} {score:+.1f}%",
        "",
        f"{indent}{label('Absolute Metrics')}",
        f"{indent}{bullet if bold else '  '}Throughput: "
        f"{a['throughput_samples_per_second']:.2f} samples/sec",
        f"{indent}{bullet if bold else '  '}Latency: {a['avg_latency_ms']:.2f}ms",
        f"{indent}{bullet if bold else '  '}Memory: {a['memory_usage_mb']:.2f}MB",
        f"{indent}{bullet if bold else '  '}CPU: {a['cpu_usage_percent']:.2f}%",
    ]


def performance_report(report: Any, format_type: str, system_info: Callable[[], dict],
                       benchmark_config: dict[str, Any]) -> str:
    """A :class:`~dpa.compat.benchmark.ComparisonReport` as ``"json"``,
    ``"markdown"`` or (anything else) text, in DPA's layouts."""
    if format_type == "json":
        return json.dumps({
            "baseline_config": report.baseline_config,
            "comparison_configs": report.comparison_configs,
            "metrics_comparison": report.metrics_comparison,
            "performance_improvements": report.performance_improvements,
            "recommendations": report.recommendations,
            "system_info": system_info(),
            "benchmark_config": benchmark_config,
        }, indent=2)
    others = ", ".join(report.comparison_configs)
    recs = [f"{i}. {r}" for i, r in enumerate(report.recommendations, 1)]
    if format_type == "markdown":
        lines = ["# Performance Benchmark Report", "",
                 f"**Baseline Configuration:** {report.baseline_config}",
                 f"**Comparison Configurations:** {others}", "",
                 "## Performance Comparison", ""]
        for name, c in report.metrics_comparison.items():
            lines += [f"### {name}", ""]
            lines += _changes(c, report.performance_improvements[name], "", "- ", True)
            lines.append("")
        if recs:
            lines += ["## Recommendations", "", *recs, ""]
        return "\n".join(lines)
    lines = ["Performance Benchmark Report", "=" * 50,
             f"Baseline Configuration: {report.baseline_config}",
             f"Comparison Configurations: {others}", "",
             "Performance Comparison:", "-" * 30]
    for name, c in report.metrics_comparison.items():
        lines.append(f"\n{name}:")
        lines += _changes(c, report.performance_improvements[name], "  ", "", False)
    if recs:
        lines += ["", "Recommendations:", "-" * 20, *recs]
    return "\n".join(lines)


def format_benchmark_result(result: Any, format_type: str = "text") -> str:
    """format_benchmark_result(result, format_type="text")

    A :class:`~dpa.compat.benchmark.BenchmarkResult` as ``"json"``,
    ``"csv"`` (one line) or text, in DPA's layouts.
    """
    std_ms = result.std_dev_seconds * 1000
    if format_type == "json":
        return json.dumps({
            "function_name": result.function_name,
            "iterations": result.iterations,
            "avg_time_ms": result.avg_time_ms,
            "min_time_ms": result.min_time_ms,
            "max_time_ms": result.max_time_ms,
            "std_dev_ms": std_ms,
            "throughput_ops_per_second": result.throughput_ops_per_second,
            "memory_usage_mb": result.memory_usage_mb,
            "cpu_usage_percent": result.cpu_usage_percent,
        }, indent=2)
    if format_type == "csv":
        return (f"{result.function_name},{result.iterations},{result.avg_time_ms:.3f},"
                f"{result.min_time_ms:.3f},{result.max_time_ms:.3f},{std_ms:.3f},"
                f"{result.throughput_ops_per_second:.2f},{result.memory_usage_mb:.2f},"
                f"{result.cpu_usage_percent:.2f}")
    return (f"Function: {result.function_name}\n"
            f"Iterations: {result.iterations}\n"
            f"Average time: {result.avg_time_ms:.3f}ms\n"
            f"Min time: {result.min_time_ms:.3f}ms\n"
            f"Max time: {result.max_time_ms:.3f}ms\n"
            f"Std deviation: {std_ms:.3f}ms\n"
            f"Throughput: {result.throughput_ops_per_second:.2f} ops/sec\n"
            f"Memory usage: {result.memory_usage_mb:.2f}MB\n"
            f"CPU usage: {result.cpu_usage_percent:.2f}%")
