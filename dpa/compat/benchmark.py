"""DPA 0.2.1's ``src/benchmark.py``: timing and memory of callables, and comparisons.

The data models (``PerformanceMetrics``, ``ProfileResult``, ``BenchmarkConfig``,
``BenchmarkResult``, ``ComparisonReport``) and errors keep DPA's fields,
checks and messages; ``measure_time`` and ``measure_memory`` fill DPA's keys;
``benchmark_function``, ``PerformanceProfiler`` and ``BenchmarkRunner`` time
what DPA times (the runner: ``gen_augmentation_params`` per sample, streams,
batch processing over DPA's streams, here on dpa's engine) and compare as
DPA compares.  Reports and recommendations are in
``dpa.compat._benchreport``.

Three measurements differ from DPA's, on purpose (``docs/compat.md``):

* ``cpu_usage_percent`` is this process's CPU time during the call over its
  wall time, as a share of all the machine's CPUs (DPA's 0-100 scale); DPA
  samples ``psutil.cpu_percent(interval=0.1)`` of the whole machine, over
  0.1 s of sleep before and after the call, which does not see the call.
* Only the call is timed; DPA's timed region also holds its own psutil
  readings.
* ``BenchmarkRunner``'s rates and latencies come from the median of the timed
  runs (DPA: their mean), so that one pre-empted run does not change a
  comparison; ``total_time_seconds`` is still the sum, and a negative mean
  RSS change (memory returned) is reported as 0 (DPA fails on it).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import psutil

from ..config import DEFAULT_CONFIG
from ..params import gen_augmentation_params
from ._benchreport import (
    format_benchmark_result,
    generate_recommendations,
    performance_report,
    safe_division,
    safe_percentage_change,
)
from ._chain import ChainStream
from ._measure import get_system_info, measure_memory, measure_time, timed_call
from .batch import BatchConfig, BatchProcessor, BatchStrategy

__all__ = [
    "BenchmarkConfig",
    "BenchmarkError",
    "BenchmarkResult",
    "BenchmarkRunner",
    "ComparisonReport",
    "InvalidBenchmarkConfigError",
    "MeasurementError",
    "PerformanceMetrics",
    "PerformanceProfiler",
    "ProfileResult",
    "ProfilingError",
    "benchmark_function",
    "format_benchmark_result",
    "get_system_info",
    "measure_memory",
    "measure_time",
    "safe_division",
    "safe_percentage_change",
]

P = ParamSpec("P")
T = TypeVar("T")
_MB = 1024 * 1024


class BenchmarkError(Exception):
    """Base class of the benchmark errors."""


class ProfilingError(BenchmarkError):
    """A profiling operation was started twice or ended without a start."""


class InvalidBenchmarkConfigError(BenchmarkError):
    """A :class:`BenchmarkConfig` value is invalid."""


class MeasurementError(BenchmarkError):
    """A measured function or benchmark failed."""


def _at_least(value: float, name: str, low: float = 0, high: float | None = None) -> None:
    if value < low or (high is not None and value > high):
        rule = "must be non-negative" if high is None else f"must be between {low} and {high}"
        raise ValueError(f"{name} {rule}")


@dataclass
class PerformanceMetrics:
    """PerformanceMetrics(throughput_samples_per_second, avg_latency_ms, memory_usage_mb, cpu_usage_percent, total_time_seconds)

    One benchmark's figures; ``ValueError`` for a negative value or a CPU
    share outside [0, 100].
    """

    throughput_samples_per_second: float
    avg_latency_ms: float
    memory_usage_mb: float
    cpu_usage_percent: float
    total_time_seconds: float

    def __post_init__(self) -> None:
        _at_least(self.throughput_samples_per_second, "throughput_samples_per_second")
        _at_least(self.avg_latency_ms, "avg_latency_ms")
        _at_least(self.memory_usage_mb, "memory_usage_mb")
        _at_least(self.cpu_usage_percent, "cpu_usage_percent", 0, 100)
        _at_least(self.total_time_seconds, "total_time_seconds")


@dataclass
class ProfileResult:
    """ProfileResult(operation_name, total_time_seconds, call_count, avg_time_per_call_ms, memory_delta_mb)"""

    operation_name: str
    total_time_seconds: float
    call_count: int
    avg_time_per_call_ms: float
    memory_delta_mb: float

    def __post_init__(self) -> None:
        _at_least(self.total_time_seconds, "total_time_seconds")
        _at_least(self.call_count, "call_count")
        _at_least(self.avg_time_per_call_ms, "avg_time_per_call_ms")


@dataclass
class BenchmarkConfig:
    """BenchmarkConfig(iterations=100, warmup_iterations=10, measure_memory=True, measure_cpu=True, output_format="json")"""

    iterations: int = 100
    warmup_iterations: int = 10
    measure_memory: bool = True
    measure_cpu: bool = True
    output_format: str = "json"

    def __post_init__(self) -> None:
        if self.iterations <= 0:
            raise InvalidBenchmarkConfigError("iterations must be positive")
        if self.warmup_iterations < 0:
            raise InvalidBenchmarkConfigError("warmup_iterations must be non-negative")
        if self.output_format not in ("json", "csv", "text"):
            raise InvalidBenchmarkConfigError("output_format must be 'json', 'csv', or 'text'")


@dataclass
class BenchmarkResult:
    """BenchmarkResult(function_name, iterations, total_time_seconds, avg_time_seconds, min_time_seconds, max_time_seconds, std_dev_seconds, throughput_ops_per_second, memory_usage_mb=0.0, cpu_usage_percent=0.0)"""

    function_name: str
    iterations: int
    total_time_seconds: float
    avg_time_seconds: float
    min_time_seconds: float
    max_time_seconds: float
    std_dev_seconds: float
    throughput_ops_per_second: float
    memory_usage_mb: float = 0.0
    cpu_usage_percent: float = 0.0

    @property
    def avg_time_ms(self) -> float:
        """Mean seconds per call, in ms."""
        return self.avg_time_seconds * 1000

    @property
    def min_time_ms(self) -> float:
        """Fastest call, in ms."""
        return self.min_time_seconds * 1000

    @property
    def max_time_ms(self) -> float:
        """Slowest call, in ms."""
        return self.max_time_seconds * 1000


@dataclass
class ComparisonReport:
    """ComparisonReport(baseline_config, comparison_configs, metrics_comparison, performance_improvements, recommendations=[])"""

    baseline_config: str
    comparison_configs: list[str]
    metrics_comparison: dict[str, dict[str, Any]]
    performance_improvements: dict[str, float]
    recommendations: list[str] = field(default_factory=list)


def benchmark_function(func: Callable[..., T], iterations: int = 100) -> BenchmarkResult:
    """benchmark_function(func, iterations=100)

    Time ``iterations`` calls of ``func()`` (after one warm-up call whose
    failure is ignored): mean, min, max, sample standard deviation, calls
    per second, mean RSS delta and mean CPU share.

    Raises
    ------
    ValueError
        ``"iterations must be positive"``.
    MeasurementError
        ``"Function failed during benchmarking iteration I: ..."``.
    """
    if iterations <= 0:
        raise ValueError("iterations must be positive")
    try:
        func()
    except Exception as exc:
        logging.debug(f"Warmup run failed (expected): {exc}")
    times, deltas, cpus = [], [], []
    for i in range(iterations):
        try:
            seconds, delta, cpu = timed_call(func)
        except Exception as exc:
            raise MeasurementError(
                f"Function failed during benchmarking iteration {i}: {exc}") from exc
        times.append(seconds)
        deltas.append(delta)
        cpus.append(cpu)
    total = sum(times)
    return BenchmarkResult(
        function_name=getattr(func, "__name__", str(func)),
        iterations=iterations,
        total_time_seconds=total,
        avg_time_seconds=statistics.mean(times),
        min_time_seconds=min(times),
        max_time_seconds=max(times),
        std_dev_seconds=statistics.stdev(times) if len(times) > 1 else 0.0,
        throughput_ops_per_second=iterations / total if total > 0 else 0.0,
        memory_usage_mb=sum(deltas) / iterations,
        cpu_usage_percent=statistics.mean(cpus),
    )


class PerformanceProfiler:
    """PerformanceProfiler(enable_memory_tracking=True)

    Times named operations (``start_profiling``/``end_profiling``, the
    ``profile_context`` block, the ``profile_function`` decorator) and their
    RSS change; ``get_profile_summary`` aggregates the calls of each name.
    """

    def __init__(self, enable_memory_tracking: bool = True) -> None:
        self.enable_memory_tracking = enable_memory_tracking
        self._active_operations: dict[str, dict[str, Any]] = {}
        self._completed_operations: dict[str, list[ProfileResult]] = defaultdict(list)
        self._operation_counts: dict[str, int] = defaultdict(int)

    def _rss_mb(self) -> float | None:
        try:
            return psutil.Process().memory_info().rss / _MB
        except Exception as exc:  # memory tracking is best effort, as in DPA
            logging.debug(f"Memory tracking unavailable: {exc}")
            return None

    def start_profiling(self, operation_name: str) -> None:
        """Start timing ``operation_name``; ``ProfilingError`` if it is running."""
        if operation_name in self._active_operations:
            raise ProfilingError(f"Operation '{operation_name}' is already being profiled")
        start: dict[str, Any] = {"start_time": time.perf_counter(),
                                 "start_process_time": time.process_time()}
        if self.enable_memory_tracking:
            rss = self._rss_mb()
            if rss is not None:
                start["start_memory_mb"] = rss
        self._active_operations[operation_name] = start

    def end_profiling(self, operation_name: str) -> ProfileResult:
        """Stop timing ``operation_name`` and return this call's result.

        ``call_count`` is the number of calls of that name so far; the time
        is this call's.  ``ProfilingError`` if it is not running.
        """
        if operation_name not in self._active_operations:
            raise ProfilingError(f"Operation '{operation_name}' is not being profiled")
        start = self._active_operations.pop(operation_name)
        total = time.perf_counter() - start["start_time"]
        self._operation_counts[operation_name] += 1
        delta = 0.0
        if self.enable_memory_tracking and "start_memory_mb" in start:
            rss = self._rss_mb()
            delta = 0.0 if rss is None else rss - start["start_memory_mb"]
        result = ProfileResult(operation_name, total, self._operation_counts[operation_name],
                               total * 1000, delta)
        self._completed_operations[operation_name].append(result)
        return result

    def profile_function(self, func: Callable[P, T]) -> Callable[P, T]:
        """Decorator: profile every call under ``"module.name"`` of ``func``."""
        name = f"{func.__module__}.{func.__name__}" if hasattr(func, "__module__") \
            else func.__name__

        @wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            self.start_profiling(name)
            try:
                return func(*args, **kwargs)
            finally:
                self.end_profiling(name)

        return wrapper

    def get_profile_summary(self) -> dict[str, ProfileResult]:
        """Per name: total time, summed call counts, mean ms per call, mean RSS delta."""
        summary = {}
        for name, results in self._completed_operations.items():
            if results:
                total = sum(r.total_time_seconds for r in results)
                calls = sum(r.call_count for r in results)
                summary[name] = ProfileResult(
                    name, total, calls, total / calls * 1000 if calls > 0 else 0.0,
                    statistics.mean(r.memory_delta_mb for r in results))
        return summary

    def reset(self) -> None:
        """Forget every operation."""
        self._active_operations.clear()
        self._completed_operations.clear()
        self._operation_counts.clear()

    @contextmanager
    def profile_context(self, operation_name: str) -> Iterator[None]:
        """Profile the ``with`` block as ``operation_name``."""
        self.start_profiling(operation_name)
        try:
            yield
        finally:
            self.end_profiling(operation_name)


class BenchmarkRunner:
    """BenchmarkRunner(config)

    DPA's benchmarks of generation, streaming and batch processing, run as
    DPA runs them (``config.iterations`` timed runs after
    ``config.warmup_iterations``), and their comparison.
    """

    def __init__(self, config: BenchmarkConfig) -> None:
        self.config = config
        self.profiler = PerformanceProfiler(enable_memory_tracking=config.measure_memory)
        self._results_history: list[dict[str, Any]] = []

    def _measure(self, work: Callable[[], Any], num_samples: int) -> PerformanceMetrics:
        c = self.config
        times, deltas, cpus = [], [], []
        for _ in range(c.iterations):
            seconds, delta, cpu = timed_call(work, c.measure_memory)
            times.append(seconds)
            deltas.append(delta)
            cpus.append(cpu if c.measure_cpu else 0.0)
        total = sum(times)
        median = statistics.median(times)
        return PerformanceMetrics(
            throughput_samples_per_second=num_samples / median if median > 0 else 0.0,
            avg_latency_ms=median / num_samples * 1000 if num_samples > 0 else 0.0,
            memory_usage_mb=max(0.0, statistics.mean(deltas)) if deltas else 0.0,
            cpu_usage_percent=statistics.mean(cpus) if cpus else 0.0,
            total_time_seconds=total,
        )

    def _warm(self, work: Callable[[], Any], what: str) -> None:
        for _ in range(self.config.warmup_iterations):
            try:
                work()
            except Exception as exc:
                logging.debug(f"{what} warmup failed (expected): {exc}")

    def benchmark_generation(self, num_samples: int, config: Any = None) -> PerformanceMetrics:
        """``gen_augmentation_params`` of ids ``0 .. num_samples - 1``, one call each."""
        try:
            config = DEFAULT_CONFIG if config is None else config
            self._warm(lambda: gen_augmentation_params(0, config), "Generation")

            def work() -> None:
                for sample_id in range(num_samples):
                    gen_augmentation_params(sample_id, config)

            return self._measure(work, num_samples)
        except Exception as exc:
            raise MeasurementError(f"Failed to benchmark parameter generation: {exc}") from exc

    def benchmark_streaming(self, num_samples: int, chunk_size: int = 1000) -> PerformanceMetrics:
        """Iterating ``stream_augmentation_chain(num_samples, chunk_size=...)`` to the end."""
        try:
            self._warm(lambda: list(ChainStream(0, min(100, num_samples), None, chunk_size)),
                       "Streaming")
            return self._measure(
                lambda: sum(1 for _ in ChainStream(0, num_samples, None, chunk_size)),
                num_samples)
        except Exception as exc:
            raise MeasurementError(f"Failed to benchmark streaming operations: {exc}") from exc

    def benchmark_batch_processing(self, num_samples: int, batch_config: Any = None
                                   ) -> PerformanceMetrics:
        """``BatchProcessor.process_stream`` over a stream of ``num_samples`` (default:
        SEQUENTIAL batches of 100 within 500 MB)."""
        try:
            if batch_config is None:
                batch_config = BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=100,
                                           max_memory_mb=500)

            def run(n: int) -> int:
                processor = BatchProcessor(batch_config.strategy, batch_config)
                return sum(1 for _ in processor.process_stream(ChainStream(0, n)))

            self._warm(lambda: run(min(100, num_samples)), "Batch processing")
            return self._measure(lambda: run(num_samples), num_samples)
        except Exception as exc:
            raise MeasurementError(f"Failed to benchmark batch processing: {exc}") from exc

    def _run_config(self, config: dict[str, Any]) -> PerformanceMetrics:
        kind = config.get("type", "generation")
        n = config.get("num_samples", 1000)
        if kind == "generation":
            return self.benchmark_generation(n, config.get("aug_config", None))
        if kind == "streaming":
            return self.benchmark_streaming(n, config.get("chunk_size", 1000))
        if kind == "batch_processing":
            return self.benchmark_batch_processing(n, config.get("batch_config", None))
        raise ValueError(f"Unknown configuration type: {kind}")

    def compare_configurations(self, configs: list[dict]) -> ComparisonReport:
        """compare_configurations(configs)

        Benchmark each configuration (``{"name", "type", "num_samples", ...}``
        with ``type`` one of ``generation``, ``streaming``,
        ``batch_processing``) and compare each with the first: percentage
        changes of throughput, latency, memory and CPU, an overall score
        ``(throughput - latency - memory - cpu) / 4`` and recommendations.

        Raises
        ------
        ValueError
            ``"At least one configuration must be provided"``.
        MeasurementError
            ``"Failed to compare configurations: ..."``, e.g. for a missing
            key or an unknown type.
        """
        if not configs:
            raise ValueError("At least one configuration must be provided")
        try:
            for i, config in enumerate(configs):
                for key in ("name", "type", "num_samples"):
                    if key not in config:
                        raise ValueError(f"Configuration {i} is missing required key '{key}'")
            results: dict[str, PerformanceMetrics] = {}
            for config in configs:
                metrics = self._run_config(config)
                results[config["name"]] = metrics
                self._results_history.append({"config_name": config["name"], "config": config,
                                              "metrics": metrics, "timestamp": time.time()})
            baseline_name = configs[0]["name"]
            base = results[baseline_name]
            comparison, improvements = {}, {}
            for name, m in results.items():
                if name == baseline_name:
                    continue
                changes = {
                    "throughput_change_percent": safe_percentage_change(
                        m.throughput_samples_per_second, base.throughput_samples_per_second),
                    "latency_change_percent": safe_percentage_change(m.avg_latency_ms,
                                                                     base.avg_latency_ms),
                    "memory_change_percent": safe_percentage_change(m.memory_usage_mb,
                                                                    base.memory_usage_mb),
                    "cpu_change_percent": safe_percentage_change(m.cpu_usage_percent,
                                                                 base.cpu_usage_percent),
                }
                comparison[name] = {**changes, "absolute_metrics": {
                    "throughput_samples_per_second": m.throughput_samples_per_second,
                    "avg_latency_ms": m.avg_latency_ms,
                    "memory_usage_mb": m.memory_usage_mb,
                    "cpu_usage_percent": m.cpu_usage_percent,
                    "total_time_seconds": m.total_time_seconds,
                }}
                improvements[name] = (changes["throughput_change_percent"]
                                      - changes["latency_change_percent"]
                                      - changes["memory_change_percent"]
                                      - changes["cpu_change_percent"]) / 4
            return ComparisonReport(baseline_name, [c["name"] for c in configs[1:]], comparison,
                                    improvements,
                                    generate_recommendations(results, comparison, improvements))
        except Exception as exc:
            raise MeasurementError(f"Failed to compare configurations: {exc}") from exc

    def generate_performance_report(self, comparison_report: ComparisonReport,
                                    format_type: str = "text") -> str:
        """The report as ``"text"``, ``"markdown"`` or ``"json"`` (with system info)."""
        c = self.config
        return performance_report(
            comparison_report, format_type, get_system_info,
            {"iterations": c.iterations, "warmup_iterations": c.warmup_iterations,
             "measure_memory": c.measure_memory, "measure_cpu": c.measure_cpu})

    def get_results_history(self) -> list[dict[str, Any]]:
        """A copy of the benchmarks run by :meth:`compare_configurations`."""
        return self._results_history.copy()

    def clear_results_history(self) -> None:
        """Forget the history."""
        self._results_history.clear()
