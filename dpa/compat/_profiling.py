"""DPA 0.2.1's profiling helpers of ``src/dpa.py`` (on ``dpa.compat.benchmark``).

``profile_augmentation_generation`` (a decorator recording a
``ProfileResult`` per call), ``benchmark_augmentation_performance`` (DPA's
generation, streaming and batching benchmarks with their keys),
``create_performance_profiler`` and ``get_performance_recommendations``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from ..config import DEFAULT_CONFIG, AugmentationConfig
from ._chain import ChainStream, generate_augmentation_chain
from ._jsonsave import config_dict
from ._memory import get_current_memory_usage
from ._streaming import convert_stream_to_batches
from .benchmark import PerformanceProfiler, benchmark_function

__all__ = ["benchmark_augmentation_performance", "create_performance_profiler",
           "get_performance_recommendations", "profile_augmentation_generation"]


def profile_augmentation_generation(func: Callable[..., Any] | None = None, *,
                                    enable_memory_tracking: bool = True,
                                    operation_name: str | None = None) -> Callable[..., Any]:
    """profile_augmentation_generation(func=None, *, enable_memory_tracking=True, operation_name=None)

    Decorator (with or without arguments): each call of the function is
    profiled; ``wrapper.get_profile_results()`` lists the ``ProfileResult``
    of every call and ``wrapper._profiler`` is the profiler.
    """

    def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
        profiler = PerformanceProfiler(enable_memory_tracking=enable_memory_tracking)
        name = operation_name or f.__name__
        results: list[Any] = []

        @wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            profiler.start_profiling(name)
            try:
                return f(*args, **kwargs)
            finally:
                results.append(profiler.end_profiling(name))
                wrapper._profile_results = results

        wrapper.get_profile_results = lambda: getattr(wrapper, "_profile_results", [])
        wrapper._profiler = profiler
        return wrapper

    return decorator if func is None else decorator(func)


def benchmark_augmentation_performance(
    num_samples: int,
    config: AugmentationConfig | None = None,
    iterations: int = 10,
    warmup_iterations: int = 2,
    include_streaming: bool = True,
    include_batch_processing: bool = True,
    verbose: bool = False,
) -> dict[str, Any]:
    """benchmark_augmentation_performance(num_samples, config=None, iterations=10, warmup_iterations=2, include_streaming=True, include_batch_processing=True, verbose=False)

    DPA's benchmark dict: ``generation`` (``generate_augmentation_chain``),
    ``streaming`` (iterating the stream, with its overhead over generation),
    ``batch_processing`` (sequential and memory-optimized batching, the best
    of them) and ``system_info``, with DPA's keys.  ``warmup_iterations`` is
    accepted and, as in DPA, unused (``benchmark_function`` warms up once).
    """
    config = DEFAULT_CONFIG if config is None else config
    results: dict[str, Any] = {}
    if verbose:
        print("Benchmarking parameter generation...")
    gen = benchmark_function(lambda: generate_augmentation_chain(num_samples, config=config),
                             iterations=iterations)
    results["generation"] = {
        "avg_time_seconds": gen.avg_time_seconds,
        "avg_time_ms": gen.avg_time_ms,
        "throughput_samples_per_second": num_samples / gen.avg_time_seconds,
        "min_time_ms": gen.min_time_ms,
        "max_time_ms": gen.max_time_ms,
        "std_dev_ms": gen.std_dev_seconds * 1000,
    }
    if include_streaming:
        if verbose:
            print("Benchmarking streaming operations...")
        st = benchmark_function(lambda: list(ChainStream(0, num_samples, config)),
                                iterations=iterations)
        results["streaming"] = {
            "avg_time_seconds": st.avg_time_seconds,
            "avg_time_ms": st.avg_time_ms,
            "throughput_samples_per_second": num_samples / st.avg_time_seconds,
            "overhead_vs_generation_percent":
                (st.avg_time_seconds - gen.avg_time_seconds) / gen.avg_time_seconds * 100,
        }
    if include_batch_processing:
        if verbose:
            print("Benchmarking batch processing strategies...")
        strategies: dict[str, dict[str, float]] = {}
        for strategy in ("sequential", "memory_optimized"):
            try:
                res = benchmark_function(
                    lambda s=strategy: list(convert_stream_to_batches(
                        ChainStream(0, num_samples, config), batch_strategy=s)),
                    iterations=max(1, iterations // 2))
            except Exception as exc:
                if verbose:
                    print(f"  {strategy}: failed with error: {exc}")
                continue
            strategies[strategy] = {
                "avg_time_seconds": res.avg_time_seconds,
                "throughput_samples_per_second": num_samples / res.avg_time_seconds,
            }
            if verbose:
                print(f"  {strategy}: "
                      f"{strategies[strategy]['throughput_samples_per_second']:.1f} samples/sec")
        if strategies:
            best = max(strategies.items(), key=lambda kv: kv[1]["throughput_samples_per_second"])
            results["batch_processing"] = {"strategies": strategies, "best_strategy": best[0],
                                           "best_throughput":
                                               best[1]["throughput_samples_per_second"]}
    results["system_info"] = {"num_samples": num_samples, "iterations": iterations,
                              "config": config_dict(config)}
    memory = get_current_memory_usage()
    if memory:
        results["system_info"]["memory_usage_mb"] = memory.get("rss", 0) / (1024 * 1024)
    if verbose:
        print("Benchmarking completed!")
        print(f"Generation: {results['generation']['throughput_samples_per_second']:.1f} "
              "samples/sec")
        if "streaming" in results:
            print(f"Streaming: {results['streaming']['throughput_samples_per_second']:.1f} "
                  "samples/sec")
        if "batch_processing" in results:
            bp = results["batch_processing"]
            print(f"Best batch strategy: {bp['best_strategy']} "
                  f"({bp['best_throughput']:.1f} samples/sec)")
    return results


def create_performance_profiler(enable_memory_tracking: bool = True,
                                auto_report: bool = False) -> PerformanceProfiler:
    """create_performance_profiler(enable_memory_tracking=True, auto_report=False)

    A :class:`~dpa.compat.benchmark.PerformanceProfiler` (``auto_report`` is
    accepted and unused, as in DPA).
    """
    return PerformanceProfiler(enable_memory_tracking=enable_memory_tracking)


def get_performance_recommendations(benchmark_results: dict[str, Any],
                                    target_throughput: float | None = None,
                                    memory_limit_mb: int | None = None) -> list[str]:
    """get_performance_recommendations(benchmark_results, target_throughput=None, memory_limit_mb=None)

    DPA's advice from :func:`benchmark_augmentation_performance`'s dict.
    """
    if "generation" not in benchmark_results:
        return ["Run benchmark_augmentation_performance() to get baseline metrics"]
    recs: list[str] = []
    rate = benchmark_results["generation"]["throughput_samples_per_second"]
    if target_throughput and rate < target_throughput:
        recs.append(f"Current throughput ({rate:.1f} samples/sec) is below target "
                    f"({target_throughput:.1f} samples/sec) by "
                    f"{target_throughput - rate:.1f} samples/sec")
        if "batch_processing" in benchmark_results:
            bp = benchmark_results["batch_processing"]
            if bp["best_throughput"] > rate:
                gain = (bp["best_throughput"] - rate) / rate * 100
                recs.append(f"Use {bp['best_strategy']} batch processing for {gain:.1f}% "
                            "performance improvement")
        recs.append("Consider using streaming with chunking for large datasets")
        recs.append("Profile individual augmentation operations to identify bottlenecks")
    if memory_limit_mb:
        used = benchmark_results.get("system_info", {}).get("memory_usage_mb", 0)
        if used > memory_limit_mb:
            recs.append(f"Current memory usage ({used:.1f}MB) exceeds limit "
                        f"({memory_limit_mb}MB)")
            recs.append("Use stream_augmentation_chain_with_memory_limit() for "
                        "memory-constrained processing")
            recs.append("Consider memory-optimized batch processing strategy")
    if "streaming" in benchmark_results:
        overhead = benchmark_results["streaming"].get("overhead_vs_generation_percent", 0)
        if overhead > 10:
            recs.append(f"Streaming has {overhead:.1f}% overhead - consider batch processing "
                        "for better performance")
        elif overhead < 5:
            recs.append("Streaming has low overhead - good for memory-efficient processing")
    cfg = benchmark_results.get("system_info", {}).get("config", {})
    if cfg.get("augmentation_depth", 10) > 15:
        recs.append("Consider reducing augmentation_depth for faster parameter generation")
    return recs or ["Performance looks good! No specific optimizations needed."]
