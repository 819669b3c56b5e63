"""The batching guide (DPA 0.2.1's BATCH.md), every code block, with dpa imports.

Each test is one block of the guide, as written there, with three changes:
``src.dpa``/``src.batch``/``src.distributed`` become ``dpa``/``dpa.batch``/
``dpa.distributed``; sample counts are smaller; simulated work sleeps
microseconds per sample instead of a millisecond.  The claims the blocks
print or state in comments are then checked.

Two blocks share one stream between several processors, so (as with DPA's
generator, which the first processor exhausts) only the first processor sees
samples; ``debug_batch_performance`` then divides by zero.  The tests show
that, and run the intended version (a fresh stream per processor) too, as
``docs/batch.md`` writes it.

The memory examples compare this process's RSS with budgets of 500-1000 MB.
Other tests in the same pytest process (e.g. ones importing torch) can make
the RSS larger than the small scripts the guide has in mind, so those tests
read RSS as "growth since the test started, plus the RSS at the start up to
150 MB" (the real RSS whenever the suite's process is small).
"""

from __future__ import annotations

import re
import time

import pytest

import dpa.batch.memory as batch_memory
from dpa import get_preset, stream_augmentation_chain
from dpa.batch import (
    BatchConfig,
    BatchMetrics,
    BatchProcessingError,
    BatchProcessor,
    BatchStrategy,
    MemoryAwareBatcher,
    MemoryLimitExceededError,
    memory_monitor,
)


def process_batch(batch):
    """Simulate batch processing (the guide's, with microseconds per sample)."""
    time.sleep(0.000001 * len(batch))


@pytest.fixture
def script_rss(monkeypatch):
    """RSS as a small script would see it (see the module docstring)."""
    real = batch_memory.system_probe
    start = real().rss_mb
    offset = start - min(start, 150.0)

    def probe():
        s = real()
        return batch_memory.MemorySnapshot(s.rss_mb - offset, s.available_mb, s.used_mb,
                                           s.total_mb, s.percent_used)

    monkeypatch.setattr(batch_memory, "system_probe", probe)
    return probe


def lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


# ---- Quick Start -----------------------------------------------------------------


def test_quick_start_basic(capsys):
    # Create batch configuration
    batch_config = BatchConfig(
        strategy=BatchStrategy.SEQUENTIAL,
        batch_size=10
    )

    # Create batch processor
    processor = BatchProcessor(BatchStrategy.SEQUENTIAL, batch_config)

    # Create parameter stream
    config = get_preset("moderate")
    param_stream = stream_augmentation_chain(100, config)

    # Process in batches
    for batch in processor.process_stream(param_stream):
        print(f"Processing batch of {len(batch)} samples")
        # Process each batch...

    assert lines(capsys) == ["Processing batch of 10 samples"] * 10


def test_quick_start_memory_optimized(capsys, script_rss):
    config = get_preset("moderate")
    # Memory-optimized configuration
    batch_config = BatchConfig(
        strategy=BatchStrategy.MEMORY_OPTIMIZED,
        max_memory_mb=500,  # 500MB limit
        min_batch_size=5    # Minimum 5 samples per batch
    )

    processor = BatchProcessor(BatchStrategy.MEMORY_OPTIMIZED, batch_config)

    # Process with memory monitoring
    param_stream = stream_augmentation_chain(1000, config)

    for batch in processor.process_with_memory_monitoring(param_stream):
        # Get memory info
        memory_info = processor._memory_batcher.monitor_memory_usage()
        print(f"Batch size: {len(batch)}, Memory: {memory_info['percent_used']:.1f}%")

        # Process batch...

    out = lines(capsys)
    # 1000 records of 48 bytes fit the 500 MB budget: one batch.
    assert len(out) == 1 and re.fullmatch(r"Batch size: 1000, Memory: \d+\.\d%", out[0])


# ---- Batching Strategies ------------------------------------------------------------


def test_sequential_strategy(capsys):
    batch_config = BatchConfig(
        strategy=BatchStrategy.SEQUENTIAL,
        batch_size=8
    )

    processor = BatchProcessor(BatchStrategy.SEQUENTIAL, batch_config)

    # Input: samples 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
    # Output batches:
    # Batch 1: [0, 1, 2, 3, 4, 5, 6, 7]
    # Batch 2: [8, 9]
    for k, batch in enumerate(processor.process_stream(stream_augmentation_chain(10)), 1):
        print(f"Batch {k}: {batch['sample_id'].tolist()}")
    assert lines(capsys) == ["Batch 1: [0, 1, 2, 3, 4, 5, 6, 7]", "Batch 2: [8, 9]"]


def test_round_robin_strategy(capsys):
    batch_config = BatchConfig(
        strategy=BatchStrategy.ROUND_ROBIN,
        batch_size=4  # Creates 4 batches
    )

    processor = BatchProcessor(BatchStrategy.ROUND_ROBIN, batch_config)

    # Input: samples 0, 1, 2, 3, 4, 5, 6, 7
    # Output batches (batch_size=4):
    # Batch 1: [0, 4]
    # Batch 2: [1, 5]
    # Batch 3: [2, 6]
    # Batch 4: [3, 7]
    for k, batch in enumerate(processor.process_stream(stream_augmentation_chain(8)), 1):
        print(f"Batch {k}: {batch['sample_id'].tolist()}")
    assert lines(capsys) == ["Batch 1: [0, 4]", "Batch 2: [1, 5]", "Batch 3: [2, 6]",
                             "Batch 4: [3, 7]"]


def test_memory_optimized_strategy(capsys, script_rss):
    config = get_preset("moderate")
    batch_config = BatchConfig(
        strategy=BatchStrategy.MEMORY_OPTIMIZED,
        max_memory_mb=1000,     # Maximum memory usage
        min_batch_size=1,       # Minimum batch size
        adaptive_sizing=True    # Enable dynamic adjustment
    )

    processor = BatchProcessor(BatchStrategy.MEMORY_OPTIMIZED, batch_config)

    param_stream = stream_augmentation_chain(5000, config)

    total = 0
    for batch in processor.process_with_memory_monitoring(param_stream):
        memory_info = processor._memory_batcher.monitor_memory_usage()

        if memory_info['percent_used'] > 80:
            print("⚠️ High memory usage detected")

        # Process batch with current memory-optimized size
        process_batch(batch)
        total += len(batch)
    assert total == 5000


def test_adaptive_strategy(capsys):
    config = get_preset("moderate")
    batch_config = BatchConfig(
        strategy=BatchStrategy.ADAPTIVE,
        batch_size=16,          # Starting batch size
        adaptive_sizing=True    # Enable learning
    )

    processor = BatchProcessor(BatchStrategy.ADAPTIVE, batch_config)

    param_stream = stream_augmentation_chain(1000, config)

    for batch_num, batch in enumerate(processor.process_stream(param_stream)):
        start_time = time.time()

        # Process batch
        process_batch(batch)

        processing_time = time.time() - start_time
        throughput = len(batch) / processing_time

        print(f"Batch {batch_num}: {len(batch)} samples, "
              f"throughput: {throughput:.1f} samples/sec")

    sizes = [int(m.group(1)) for m in
             (re.match(r"Batch \d+: (\d+) samples, throughput: [\d.]+ samples/sec", ln)
              for ln in lines(capsys))]
    assert sum(sizes) == 1000
    assert sizes[0] == 16 and len(set(sizes)) > 1  # it starts at 16 and learns


# ---- Memory Management ---------------------------------------------------------------


def test_memory_aware_batcher(capsys):
    # Create memory-aware batcher
    batcher = MemoryAwareBatcher(
        max_memory_mb=2000,  # 2GB limit
        min_batch_size=5     # Minimum 5 samples
    )

    # Monitor current memory usage
    memory_info = batcher.monitor_memory_usage()
    print(f"Available memory: {memory_info['available_mb']} MB")
    print(f"Memory usage: {memory_info['percent_used']:.1f}%")

    # Calculate optimal batch size
    sample_size_bytes = 1024  # 1KB per sample
    optimal_size = batcher.calculate_optimal_batch_size(sample_size_bytes)
    print(f"Optimal batch size: {optimal_size} samples")

    out = lines(capsys)
    assert out[0].startswith("Available memory: ") and out[1].startswith("Memory usage: ")
    # At most the 2 GB budget of 1 KB samples, at least the minimum.
    assert 5 <= optimal_size <= 2000 * 1024
    assert out[2] == f"Optimal batch size: {optimal_size} samples"


def test_dynamic_batch_size_adjustment(capsys):
    def demonstrate_memory_adjustment():
        """Show how batch size adjusts to memory pressure."""
        batcher = MemoryAwareBatcher(max_memory_mb=500, min_batch_size=2)
        current_batch_size = 20

        # Simulate different memory conditions
        memory_scenarios = [
            {"percent_used": 30, "available_mb": 350},  # Low usage
            {"percent_used": 60, "available_mb": 200},  # Medium usage
            {"percent_used": 85, "available_mb": 75},   # High usage
            {"percent_used": 95, "available_mb": 25},   # Critical usage
        ]

        for scenario in memory_scenarios:
            new_size = batcher.adjust_batch_size(current_batch_size, scenario)

            print(f"Memory: {scenario['percent_used']}% used, "
                  f"Available: {scenario['available_mb']}MB")
            print(f"Batch size: {current_batch_size} → {new_size}")

            current_batch_size = new_size
            print()

    demonstrate_memory_adjustment()
    sizes = [ln for ln in lines(capsys) if ln.startswith("Batch size")]
    # Low: grow gently; medium: hold; high: shrink; critical: halve.
    assert sizes == ["Batch size: 20 → 24", "Batch size: 24 → 24", "Batch size: 24 → 19",
                     "Batch size: 19 → 9"]


def test_memory_monitor_context_manager(capsys, script_rss):
    config = get_preset("moderate")
    processor = BatchProcessor(BatchStrategy.SEQUENTIAL,
                               BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=100))

    # Monitor memory usage during processing
    with memory_monitor(max_memory_mb=1000) as monitor:
        param_stream = stream_augmentation_chain(2000, config)

        for batch in processor.process_stream(param_stream):
            # Check if approaching memory limit
            if monitor.get_usage_percent() > 90:
                print("⚠️ Approaching memory limit!")
                break

            process_batch(batch)

    print(f"Peak memory usage: {monitor.get_peak_usage_mb():.1f} MB")
    out = lines(capsys)
    assert out[-1].startswith("Peak memory usage: ")
    assert 0 < monitor.get_peak_usage_mb() <= 1000


# ---- Performance Optimization -----------------------------------------------------------


def find_optimal_batch_size(param_stream, batch_sizes_to_test):
    """Find the optimal batch size for maximum throughput."""
    results = {}

    for batch_size in batch_sizes_to_test:
        batch_config = BatchConfig(
            strategy=BatchStrategy.SEQUENTIAL,
            batch_size=batch_size
        )
        processor = BatchProcessor(BatchStrategy.SEQUENTIAL, batch_config)

        # Measure performance
        start_time = time.time()
        processed_samples = 0

        for batch in processor.process_stream(param_stream):
            # Simulate processing
            time.sleep(0.00001 * len(batch))  # 10 us per sample
            processed_samples += len(batch)

        total_time = time.time() - start_time
        throughput = processed_samples / total_time

        results[batch_size] = throughput
        print(f"Batch size {batch_size}: {throughput:.1f} samples/sec")

    # Find best batch size
    best_size = max(results.keys(), key=lambda x: results[x])
    print(f"\nOptimal batch size: {best_size}")
    return best_size


def test_batch_size_optimization_shared_stream(capsys):
    # Test different batch sizes
    config = get_preset("moderate")
    param_stream = stream_augmentation_chain(200, config)
    optimal_size = find_optimal_batch_size(param_stream, [1, 5, 10, 20, 50])
    # As with DPA's generator, the first processor consumes the shared stream.
    out = lines(capsys)
    assert [ln for ln in out if ln.endswith(": 0.0 samples/sec")] == [
        f"Batch size {b}: 0.0 samples/sec" for b in (5, 10, 20, 50)]
    assert optimal_size == 1


def test_batch_size_optimization_fresh_streams(capsys):
    class FreshStreams:
        """What the guide means: every batch size sees the same 200 samples."""

        def __iter__(self):
            return iter(stream_augmentation_chain(200, get_preset("moderate")))

    results = {}
    for batch_size in [1, 5, 10, 20, 50]:
        processor = BatchProcessor(BatchStrategy.SEQUENTIAL, BatchConfig(
            strategy=BatchStrategy.SEQUENTIAL, batch_size=batch_size))
        n = sum(len(b) for b in processor.process_stream(
            stream_augmentation_chain(200, get_preset("moderate"))))
        results[batch_size] = n
    assert results == dict.fromkeys([1, 5, 10, 20, 50], 200)
    optimal = find_optimal_batch_size(FreshStreams(), [1, 50])
    assert optimal in (1, 50)


def test_strategy_performance_comparison(capsys, script_rss):
    def compare_strategies(num_samples=1000):
        """Compare performance of different batching strategies."""
        config = get_preset("moderate")

        strategies = [
            (BatchStrategy.SEQUENTIAL, {"batch_size": 20}),
            (BatchStrategy.ROUND_ROBIN, {"batch_size": 10}),
            (BatchStrategy.MEMORY_OPTIMIZED, {"max_memory_mb": 500, "min_batch_size": 5}),
            (BatchStrategy.ADAPTIVE, {"batch_size": 15, "adaptive_sizing": True}),
        ]

        results = {}

        for strategy, config_params in strategies:
            batch_config = BatchConfig(strategy=strategy, **config_params)
            processor = BatchProcessor(strategy, batch_config)

            # Measure performance
            start_time = time.time()
            param_stream = stream_augmentation_chain(num_samples, config)

            batch_count = 0
            for batch in processor.process_stream(param_stream):
                batch_count += 1
                time.sleep(0.00001 * len(batch))  # Simulate processing

            total_time = time.time() - start_time
            throughput = num_samples / total_time

            results[strategy.value] = {
                'throughput': throughput,
                'batch_count': batch_count,
                'avg_batch_size': num_samples / batch_count
            }

        # Display results
        print("Strategy Performance Comparison:")
        print("-" * 50)
        for strategy, metrics in results.items():
            print(f"{strategy}:")
            print(f"  Throughput: {metrics['throughput']:.1f} samples/sec")
            print(f"  Batches: {metrics['batch_count']}")
            print(f"  Avg batch size: {metrics['avg_batch_size']:.1f}")
            print()
        return results

    results = compare_strategies(num_samples=200)
    assert results["sequential"]["batch_count"] == 10
    assert results["round_robin"]["batch_count"] == 10
    assert results["round_robin"]["avg_batch_size"] == 20.0
    assert results["memory_optimized"]["batch_count"] == 1
    assert 1 <= results["adaptive"]["batch_count"] <= 200 // 15 + 1


def test_adaptive_performance_tuner(capsys):
    class AdaptivePerformanceTuner:
        """Automatically tune batch processing performance."""

        def __init__(self, initial_batch_size=10):
            self.batch_size = initial_batch_size
            self.performance_history = []
            self.adjustment_factor = 1.2

        def process_with_tuning(self, param_stream, config):
            """Process stream with automatic performance tuning."""

            while True:
                batch_config = BatchConfig(
                    strategy=BatchStrategy.ADAPTIVE,
                    batch_size=self.batch_size,
                    adaptive_sizing=True
                )
                processor = BatchProcessor(BatchStrategy.ADAPTIVE, batch_config)

                # Measure performance for current batch size
                start_time = time.time()
                processed_samples = 0

                batch_count = 0
                for batch in processor.process_stream(param_stream):
                    # Process batch
                    time.sleep(0.00001 * len(batch))
                    processed_samples += len(batch)
                    batch_count += 1

                    # Stop after processing some batches for measurement
                    if batch_count >= 10:
                        break

                if processed_samples == 0:
                    break

                elapsed_time = time.time() - start_time
                throughput = processed_samples / elapsed_time

                self.performance_history.append({
                    'batch_size': self.batch_size,
                    'throughput': throughput
                })

                print(f"Batch size {self.batch_size}: {throughput:.1f} samples/sec")

                # Adjust batch size based on performance
                if len(self.performance_history) > 1:
                    prev_throughput = self.performance_history[-2]['throughput']

                    if throughput > prev_throughput:
                        # Performance improved, try larger batch size
                        self.batch_size = int(self.batch_size * self.adjustment_factor)
                    else:
                        # Performance degraded, try smaller batch size
                        self.batch_size = max(1, int(self.batch_size / self.adjustment_factor))
                else:
                    # First measurement, try larger batch size
                    self.batch_size = int(self.batch_size * self.adjustment_factor)

                # Stop if batch size becomes too large or performance plateaus
                if self.batch_size > 1000 or len(self.performance_history) > 10:
                    break

            # Return best configuration
            best_config = max(self.performance_history, key=lambda x: x['throughput'])
            return best_config

    # Use adaptive tuner
    tuner = AdaptivePerformanceTuner(initial_batch_size=5)
    config = get_preset("moderate")
    param_stream = stream_augmentation_chain(5000, config)

    best_config = tuner.process_with_tuning(param_stream, config)
    print(f"Best configuration: batch_size={best_config['batch_size']}, "
          f"throughput={best_config['throughput']:.1f} samples/sec")

    out = lines(capsys)
    # Each processor continues the shared stream where the previous one stopped.
    assert len(tuner.performance_history) == 11
    assert 0 < param_stream.position < 5000
    assert out[-1].startswith(f"Best configuration: batch_size={best_config['batch_size']},")


# ---- Integration with Streaming ---------------------------------------------------------


def test_streaming_plus_batching(capsys, script_rss):
    def process_large_dataset_efficiently():
        """Process large dataset with streaming + batching."""

        # Configuration
        total_samples = 10000  # Large dataset
        config = get_preset("aggressive")

        # Create streaming + batch processing pipeline
        batch_config = BatchConfig(
            strategy=BatchStrategy.MEMORY_OPTIMIZED,
            max_memory_mb=1000,
            min_batch_size=10
        )
        processor = BatchProcessor(BatchStrategy.MEMORY_OPTIMIZED, batch_config)

        # Stream in chunks to manage memory
        chunk_size = 2000
        total_processed = 0

        for chunk_start in range(0, total_samples, chunk_size):
            chunk_end = min(chunk_start + chunk_size, total_samples)
            chunk_size_actual = chunk_end - chunk_start

            print(f"Processing chunk {chunk_start}-{chunk_end-1} ({chunk_size_actual} samples)")

            # Stream this chunk
            param_stream = stream_augmentation_chain(
                num_samples=chunk_size_actual,
                config=config,
                start_id=chunk_start
            )

            # Process chunk in batches
            chunk_processed = 0
            for batch in processor.process_stream(param_stream):
                # Process batch
                process_batch(batch)
                chunk_processed += len(batch)

            total_processed += chunk_processed
            print(f"  Processed {chunk_processed} samples in chunk")

        print(f"Total processed: {total_processed}/{total_samples}")

    process_large_dataset_efficiently()
    out = lines(capsys)
    assert out[0] == "Processing chunk 0-1999 (2000 samples)"
    assert out.count("  Processed 2000 samples in chunk") == 5
    assert out[-1] == "Total processed: 10000/10000"


def test_distributed_plus_batching(capsys, script_rss):
    from dpa.distributed import stream_distributed_augmentation_chain

    def distributed_batch_processing(rank, world_size, total_samples):
        """Process distributed data with batching."""

        config = get_preset("moderate")

        # Create batch processor
        batch_config = BatchConfig(
            strategy=BatchStrategy.MEMORY_OPTIMIZED,
            max_memory_mb=500,
            min_batch_size=5
        )
        processor = BatchProcessor(BatchStrategy.MEMORY_OPTIMIZED, batch_config)

        # Get distributed parameter stream
        param_stream = stream_distributed_augmentation_chain(
            num_samples=total_samples,
            rank=rank,
            world_size=world_size,
            config=config
        )

        # Process in batches
        processed_batches = 0
        processed_samples = 0

        for batch in processor.process_stream(param_stream):
            # Process batch for this rank
            process_batch(batch)

            processed_batches += 1
            processed_samples += len(batch)

            if processed_batches % 10 == 0:
                memory_info = processor._memory_batcher.monitor_memory_usage()
                print(f"Rank {rank}: {processed_batches} batches, "
                      f"{processed_samples} samples, "
                      f"memory: {memory_info['percent_used']:.1f}%")

        print(f"Rank {rank} completed: {processed_samples} samples in {processed_batches} batches")

    # Simulate distributed processing
    for rank in range(4):  # 4 ranks
        distributed_batch_processing(rank=rank, world_size=4, total_samples=1000)

    assert lines(capsys) == [f"Rank {r} completed: 250 samples in 1 batches" for r in range(4)]


# ---- Best Practices -----------------------------------------------------------------------


def test_choose_the_right_strategy():
    # For simple, ordered processing
    strategy = BatchStrategy.SEQUENTIAL

    # For parallel processing with load balancing
    strategy = BatchStrategy.ROUND_ROBIN

    # For memory-constrained environments
    strategy = BatchStrategy.MEMORY_OPTIMIZED

    # For performance optimization
    strategy = BatchStrategy.ADAPTIVE
    assert len(BatchStrategy) == 4 and strategy.value == "adaptive"


def test_set_appropriate_memory_limits():
    import psutil

    # Get system memory
    total_memory_gb = psutil.virtual_memory().total / (1024**3)

    # Use 50-70% of available memory for batch processing
    max_memory_mb = int(total_memory_gb * 0.6 * 1024)

    batch_config = BatchConfig(
        strategy=BatchStrategy.MEMORY_OPTIMIZED,
        max_memory_mb=max_memory_mb,
        min_batch_size=5
    )
    assert batch_config.max_memory_mb == max_memory_mb > 0


def monitor_batch_performance(processor, param_stream):
    """Monitor batch processing performance."""

    batch_times = []
    batch_sizes = []
    memory_usages = []

    for batch in processor.process_stream(param_stream):
        start_time = time.time()

        # Process batch
        process_batch(batch)

        # Record metrics
        batch_time = time.time() - start_time
        batch_times.append(batch_time)
        batch_sizes.append(len(batch))

        # Monitor memory if available
        if hasattr(processor, '_memory_batcher'):
            memory_info = processor._memory_batcher.monitor_memory_usage()
            memory_usages.append(memory_info['percent_used'])

    # Analyze performance
    avg_batch_size = sum(batch_sizes) / len(batch_sizes)
    avg_batch_time = sum(batch_times) / len(batch_times)
    throughput = avg_batch_size / avg_batch_time

    print(f"Performance Summary:")  # noqa: F541 (the guide's line)
    print(f"  Average batch size: {avg_batch_size:.1f}")
    print(f"  Average batch time: {avg_batch_time:.3f}s")
    print(f"  Throughput: {throughput:.1f} samples/sec")

    if memory_usages:
        avg_memory = sum(memory_usages) / len(memory_usages)
        print(f"  Average memory usage: {avg_memory:.1f}%")


def test_monitor_performance(capsys):
    processor = BatchProcessor(BatchStrategy.SEQUENTIAL,
                               BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=25))
    monitor_batch_performance(processor, stream_augmentation_chain(100, get_preset("mild")))
    out = lines(capsys)
    assert out[:2] == ["Performance Summary:", "  Average batch size: 25.0"]
    assert out[-1].startswith("  Average memory usage: ")
    m = processor.get_metrics()
    assert isinstance(m, BatchMetrics) and m.total_batches == 4 and m.total_samples == 100


def robust_batch_processing(processor, param_stream):
    """Robust batch processing with error handling."""

    try:
        for batch in processor.process_stream(param_stream):
            try:
                process_batch(batch)
            except MemoryLimitExceededError:
                print("Memory limit exceeded, reducing batch size")
                # Reduce batch size and continue
                processor.config.batch_size = max(1, processor.config.batch_size // 2)
            except Exception as e:
                print(f"Error processing batch: {e}")
                # Log error and continue with next batch
                continue

    except BatchProcessingError as e:
        print(f"Batch processing error: {e}")
        # Handle batch processing specific errors
    except Exception as e:
        print(f"Unexpected error: {e}")
        # Handle other errors


def test_error_handling(capsys):
    processor = BatchProcessor(BatchStrategy.SEQUENTIAL,
                               BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=8))
    robust_batch_processing(processor, stream_augmentation_chain(40))
    assert lines(capsys) == []

    # A memory limit raised by the processor is a BatchProcessingError.
    def full():
        return {"percent_used": 99.0, "available_mb": 10.0, "rss_mb": 100.0}

    monitored = BatchProcessor(BatchStrategy.SEQUENTIAL, probe=full)

    class Monitored:
        def process_stream(self, stream):
            return monitored.process_with_memory_monitoring(stream)

    robust_batch_processing(Monitored(), stream_augmentation_chain(40))
    assert lines(capsys)[0].startswith("Batch processing error: machine memory 99.0% used")


# ---- Troubleshooting ------------------------------------------------------------------------


def test_out_of_memory_errors():
    # Problem: Batch size too large for available memory
    batch_config = BatchConfig(
        strategy=BatchStrategy.SEQUENTIAL,
        batch_size=10000  # Too large!
    )

    # Solution: Use memory-optimized strategy
    batch_config = BatchConfig(
        strategy=BatchStrategy.MEMORY_OPTIMIZED,
        max_memory_mb=1000,  # Set appropriate limit
        min_batch_size=1
    )
    assert batch_config.batch_size is None


def test_poor_performance():
    # Problem: Batch size too small
    batch_config = BatchConfig(
        strategy=BatchStrategy.SEQUENTIAL,
        batch_size=1  # Too small, high overhead
    )

    # Solution: Use adaptive strategy or optimize batch size
    batch_config = BatchConfig(
        strategy=BatchStrategy.ADAPTIVE,
        batch_size=50,  # Better starting point
        adaptive_sizing=True
    )
    assert batch_config.batch_size == 50


def test_uneven_batch_sizes():
    # Problem: Last batch is much smaller
    # 100 samples with batch_size=30 → batches: [30, 30, 30, 10]
    seq = BatchProcessor(BatchStrategy.SEQUENTIAL,
                         BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=30))
    assert [len(b) for b in seq.process_stream(stream_augmentation_chain(100))] == [
        30, 30, 30, 10]

    # Solution: Use round-robin for more even distribution
    batch_config = BatchConfig(
        strategy=BatchStrategy.ROUND_ROBIN,
        batch_size=4  # Creates 4 more evenly sized batches
    )
    rr = BatchProcessor(BatchStrategy.ROUND_ROBIN, batch_config)
    assert [len(b) for b in rr.process_stream(stream_augmentation_chain(100))] == [25] * 4


def debug_batch_performance(make_stream=None):
    """Debug batch processing performance issues.

    The guide's code shares one stream between the four processors
    (``make_stream=None``); pass a function making a fresh stream for the
    intended comparison.
    """

    config = get_preset("moderate")
    param_stream = stream_augmentation_chain(200, config)

    # Test different configurations
    configs_to_test = [
        ("Small Sequential", BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=5)),
        ("Large Sequential", BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=50)),
        ("Memory Optimized", BatchConfig(strategy=BatchStrategy.MEMORY_OPTIMIZED,
                                         max_memory_mb=500)),
        ("Adaptive", BatchConfig(strategy=BatchStrategy.ADAPTIVE, batch_size=20,
                                 adaptive_sizing=True)),
    ]

    for name, batch_config in configs_to_test:
        processor = BatchProcessor(batch_config.strategy, batch_config)
        if make_stream is not None:
            param_stream = make_stream()

        start_time = time.time()
        batch_count = 0
        total_samples = 0

        for batch in processor.process_stream(param_stream):
            batch_count += 1
            total_samples += len(batch)
            time.sleep(0.00001 * len(batch))  # Simulate processing

        total_time = time.time() - start_time
        throughput = total_samples / total_time

        print(f"{name}:")
        print(f"  Batches: {batch_count}")
        print(f"  Avg batch size: {total_samples / batch_count:.1f}")
        print(f"  Throughput: {throughput:.1f} samples/sec")
        print()


def test_performance_debugging(capsys):
    # As written, the second processor finds the shared stream exhausted.
    with pytest.raises(ZeroDivisionError):
        debug_batch_performance()
    capsys.readouterr()
    debug_batch_performance(lambda: stream_augmentation_chain(200, get_preset("moderate")))
    out = lines(capsys)
    blocks = {out[i][:-1]: out[i + 1:i + 3] for i in range(0, len(out), 5)}
    assert blocks["Small Sequential"] == ["  Batches: 40", "  Avg batch size: 5.0"]
    assert blocks["Large Sequential"] == ["  Batches: 4", "  Avg batch size: 50.0"]
    assert blocks["Memory Optimized"] == ["  Batches: 1", "  Avg batch size: 200.0"]
    assert blocks["Adaptive"][0].startswith("  Batches: ")


def test_memory_debugging(capsys, script_rss):
    def debug_memory_usage():
        """Debug memory usage during batch processing."""

        import gc

        import psutil

        config = get_preset("aggressive")

        # Monitor memory before processing
        initial_memory = psutil.virtual_memory().used / (1024**2)  # MB
        print(f"Initial memory usage: {initial_memory:.1f} MB")

        batch_config = BatchConfig(
            strategy=BatchStrategy.MEMORY_OPTIMIZED,
            max_memory_mb=500,
            min_batch_size=1
        )
        processor = BatchProcessor(BatchStrategy.MEMORY_OPTIMIZED, batch_config)

        param_stream = stream_augmentation_chain(5000, config)

        batch_count = 0
        for batch in processor.process_stream(param_stream):
            batch_count += 1

            # Process batch
            process_batch(batch)

            # Monitor memory every 10 batches
            if batch_count % 10 == 0:
                current_memory = psutil.virtual_memory().used / (1024**2)
                memory_delta = current_memory - initial_memory

                print(f"Batch {batch_count}: {len(batch)} samples, "
                      f"memory delta: +{memory_delta:.1f} MB")

                # Force garbage collection if memory usage is high
                if memory_delta > 200:  # 200MB increase
                    gc.collect()
                    print("  Performed garbage collection")

        # Final memory check
        final_memory = psutil.virtual_memory().used / (1024**2)
        total_delta = final_memory - initial_memory
        print(f"Final memory delta: +{total_delta:.1f} MB")
        return batch_count

    assert debug_memory_usage() == 1  # 5000 records of 48 bytes fit the 500 MB budget
    out = lines(capsys)
    assert out[0].startswith("Initial memory usage: ")
    assert out[-1].startswith("Final memory delta: ")


def test_docs_batch_md_code_runs():
    """The Python blocks of this package's own guide, docs/batch.md, run as written."""
    import pathlib

    doc = pathlib.Path(__file__).resolve().parent.parent / "docs" / "batch.md"
    if not doc.exists():
        pytest.skip("docs/batch.md is not shipped with this copy")
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(doc), "exec"), namespace)
    assert len(namespace["batch"]) == 10_000 % 256  # the last batch of the last loop
