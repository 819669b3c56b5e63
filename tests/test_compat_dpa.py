"""dpa.compat.dpa against DPA 0.2.1's known answers: statistics, streams, errors, memory.

The answers in tests/data/dpa-0.2.1-compat.json were produced by the real
DPA 0.2.1 (tests/data/make_dpa_compat_vectors.py).  Floats compare with ``==``
and types must match (DPA's statistics keep ints as ints).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Generator

import numpy as np
import pytest

import dpa
from conftest import vectors_dir
from dpa.compat import batch as B
from dpa.compat import benchmark as BM
from dpa.compat import distributed as D
from dpa.compat import dpa as C

KAT = json.loads((vectors_dir() / "dpa-0.2.1-compat.json").read_text())
_TIMES = re.compile(r"(elapsed: |ETA: )[0-9.]+s")


def _same(a, b) -> bool:
    """Equal values of equal types, recursively (1 == 1.0 is not enough)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and (a == b or (a != a and b != b))


def _output(fn):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        value = fn()
    return value, [_TIMES.sub(r"\1#s", line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("name", sorted(KAT["statistics"]))
def test_statistics_are_dpas(name):
    case = KAT["statistics"][name]
    if name == "empty_welford":
        assert _same(C.compute_streaming_statistics(iter([])), case)
        return
    if "input" in case:
        items = case["input"]
    else:
        items = C.generate_augmentation_chain(case["ids"][1], dpa.get_preset(case["preset"]))
    assert _same(C.compute_statistics(items), case["exact"])
    assert _same(C.compute_streaming_statistics(iter(items)), case["welford"])
    assert _same(C.compute_streaming_statistics(C.list_to_generator(items)), case["welford"])


def test_statistics_of_streams_are_generated_as_arrays():
    want = KAT["statistics"]["generated_300_aggressive"]["welford"]
    stream = C.stream_augmentation_chain(300, dpa.get_preset("aggressive"))
    assert _same(C.compute_streaming_statistics(stream), want)
    assert stream.remaining == 0  # consumed, as DPA's generator would be
    with pytest.raises(Exception, match="at least one data point"):
        C.compute_statistics([])


STREAMS = {k: v for k, v in KAT["streams"].items() if "kwargs" in v}


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_stream_output_and_callbacks_are_dpas(name):
    case = STREAMS[name]
    kwargs = dict(case["kwargs"])
    calls = []
    if name.startswith("callback"):
        kwargs["progress_callback"] = lambda p, m: calls.append(
            [p.samples_processed, p.current_sample_id, p.estimated_total, m.total_samples,
             m.start_id, m.chunk_size])
    if name.startswith("chunked_7"):
        kwargs["config"] = dpa.AugmentationConfig(rotation_range=(-20, 20), augmentation_depth=7)
    if name.startswith("batched"):
        kwargs["batch_config"] = B.BatchConfig(B.BatchStrategy.SEQUENTIAL, 10)
    stream = C.stream_augmentation_chain(**kwargs)
    items, lines = _output(lambda: list(stream))
    assert lines == case["output"]
    assert [len(x) if isinstance(x, list) else None for x in items] == case["shape"]
    assert calls == case["callbacks"]


@pytest.mark.parametrize("name,fn", [
    ("distributed_chain_6_r0_ws2",
     lambda: D.stream_distributed_augmentation_chain(6, 0, 2, base_seed=11, verbose=True)),
    ("distributed_chain_2_r4_ws5", lambda: D.stream_distributed_augmentation_chain(
        2, 4, 5, verbose=True)),
    ("distributed_range_20_25_r1_ws3", lambda: D.stream_distributed_augmentation_range(
        20, 25, 1, 3, chunk_size=2, verbose=True)),
    ("distributed_chain_30_r2_ws3", lambda: D.stream_distributed_augmentation_chain(
        30, 2, 3, verbose=True)),
])
def test_distributed_verbose_output_is_dpas(name, fn):
    case = KAT["streams"][name]
    items, lines = _output(lambda: list(fn()))
    assert lines == case["output"] and len(items) == case["count"]


def test_streams_behave_like_generators():
    s = C.stream_augmentation_chain(10, start_id=3)
    assert isinstance(s, Generator) and iter(s) is s
    assert next(s) == C.gen_augmentation_params(3)
    assert s.send(None) == C.gen_augmentation_params(4)
    s.close()
    assert list(s) == []
    assert C.generator_to_list(C.stream_augmentation_chain(10), max_items=3) == \
        C.generate_augmentation_chain(3)
    with pytest.raises(KeyError):
        C.stream_augmentation_chain(3).throw(KeyError("x"))


def test_rank_delegation_works_where_dpa_raises_import_error():
    """DPA 0.2.1's own circular import makes these raise ImportError (the known
    answers record it); dpa.compat delegates as DPA's code and docs intend."""
    errors = {e["call"]: e for e in KAT["errors"]}
    assert errors["gen_augmentation_params(3, rank=0)"]["error"] == "ImportError"
    assert C.gen_augmentation_params(3, rank=0) == D.gen_distributed_augmentation_params(3, 0)
    got = list(C.stream_augmentation_chain(9, start_id=3, rank=1, world_size=2))
    assert got == list(D.stream_distributed_augmentation_chain(9, 1, 2, base_seed=3))


_CALLS = {
    "stream_augmentation_chain(-1)": lambda: list(C.stream_augmentation_chain(-1)),
    "stream_augmentation_chain(5, start_id=-1)": lambda: C.stream_augmentation_chain(5, start_id=-1),
    "stream_augmentation_chain(5, chunk_size=0)": lambda: C.stream_augmentation_chain(5, chunk_size=0),
    "stream_augmentation_chain(5, rank=0)": lambda: C.stream_augmentation_chain(5, rank=0),
    "stream_augmentation_chain(5, rank=2, world_size=2)":
        lambda: C.stream_augmentation_chain(5, rank=2, world_size=2),
    "stream_augmentation_chain(5, chunk_size=2, batch_config=...)":
        lambda: C.stream_augmentation_chain(5, chunk_size=2,
                                            batch_config=B.BatchConfig(B.BatchStrategy.SEQUENTIAL)),
    "stream_augmentation_range(5, 3)": lambda: C.stream_augmentation_range(5, 3),
    "gen_augmentation_params(-1)": lambda: C.gen_augmentation_params(-1),
    "gen_augmentation_seed(0, 0)": lambda: C.gen_augmentation_seed(0, 0),
    "fib(-1)": lambda: C.fib(-1),
    "generate_augmentation_chain(-1)": lambda: C.generate_augmentation_chain(-1),
    "get_preset('wild')": lambda: C.get_preset("wild"),
    "generator_to_list(..., max_items=-1)": lambda: C.generator_to_list(iter([]), -1),
    "create_streaming_metadata(buffer_size=0)": lambda: C.create_streaming_metadata(buffer_size=0),
    "create_streaming_progress(estimated_total=-1)":
        lambda: C.create_streaming_progress(estimated_total=-1),
    "estimate_memory_usage(-1)": lambda: C.estimate_memory_usage(-1),
    "estimate_optimal_batch_size(0)": lambda: C.estimate_optimal_batch_size(0),
    "estimate_optimal_batch_size(safety_margin=1)":
        lambda: C.estimate_optimal_batch_size(safety_margin=1),
    "resume_streaming_save(..., resume_from_sample=-1)":
        lambda: C.resume_streaming_save(iter([]), "unused.json", -1),
    "save_augmentation_stream(..., buffer_size=0)":
        lambda: C.save_augmentation_stream(iter([]), "unused.json", buffer_size=0),
    "load_augmentation_chain('missing.json')": lambda: C.load_augmentation_chain("missing.json"),
    "load_augmentation_stream('missing.json')":
        lambda: list(C.load_augmentation_stream("missing.json")),
    "convert_stream_to_batches(..., 'fastest')":
        lambda: C.convert_stream_to_batches(iter([]), "fastest"),
    "stream_augmentation_chain_with_memory_limit(5, 0)":
        lambda: C.stream_augmentation_chain_with_memory_limit(5, 0),
    "BatchConfig(batch_size=0)": lambda: B.BatchConfig(B.BatchStrategy.SEQUENTIAL, 0),
    "BatchConfig(batch_size=2, min_batch_size=5)":
        lambda: B.BatchConfig(B.BatchStrategy.SEQUENTIAL, 2, min_batch_size=5),
    "BatchConfig(max_memory_mb=0)": lambda: B.BatchConfig(B.BatchStrategy.SEQUENTIAL, max_memory_mb=0),
    "BatchConfig(min_batch_size=0)": lambda: B.BatchConfig(B.BatchStrategy.SEQUENTIAL,
                                                           min_batch_size=0),
    "BatchProcessor('sequential', config)":
        lambda: B.BatchProcessor("sequential", B.BatchConfig(B.BatchStrategy.SEQUENTIAL)),
    "BenchmarkConfig(iterations=0)": lambda: BM.BenchmarkConfig(iterations=0),
    "BenchmarkConfig(warmup_iterations=-1)": lambda: BM.BenchmarkConfig(warmup_iterations=-1),
    "BenchmarkConfig(output_format='xml')": lambda: BM.BenchmarkConfig(output_format="xml"),
    "PerformanceMetrics(cpu_usage_percent=150)":
        lambda: BM.PerformanceMetrics(1.0, 1.0, 1.0, 150.0, 1.0),
    "ProfileResult(call_count=-1)": lambda: BM.ProfileResult("x", 1.0, -1, 1.0, 0.0),
    "benchmark_function(..., iterations=0)": lambda: BM.benchmark_function(lambda: None, 0),
    "RankAwareSeedGenerator(base_seed=-1)": lambda: D.RankAwareSeedGenerator(base_seed=-1),
    "RankAwareSeedGenerator(world_size=4).generate_seed(0, 4)":
        lambda: D.RankAwareSeedGenerator(world_size=4).generate_seed(0, 4),
    "DistributedRangeSplitter(10, 2).get_rank_for_sample(10)":
        lambda: D.DistributedRangeSplitter(10, 2).get_rank_for_sample(10),
    "stream_distributed_augmentation_chain(10, 0, 1, chunk_size=0)":
        lambda: D.stream_distributed_augmentation_chain(10, 0, 1, chunk_size=0),
}
_ERRORS = [e for e in KAT["errors"] if e["error"] != "ImportError"]


def test_every_recorded_error_is_checked():
    assert sorted(_CALLS) == sorted(e["call"] for e in _ERRORS)


@pytest.mark.parametrize("case", _ERRORS, ids=[e["call"] for e in _ERRORS])
def test_errors_are_dpas(case, tmp_path, monkeypatch):
    """DPA's class (or a subclass), and DPA's message, to which dpa may append
    the value (", but got x=...")."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception) as info:
        _CALLS[case["call"]]()
    names = [c.__name__ for c in type(info.value).__mro__]
    assert case["error"] in names, (case, names)
    assert str(info.value).startswith(case["message"]), (case, str(info.value))


@pytest.mark.parametrize("section", ["estimate_memory_usage", "format_memory_size",
                                     "get_memory_usage_estimate", "estimate_optimal_batch_size"])
def test_memory_helpers_are_dpas(section):
    fn = getattr(C, section)
    for *args, want in KAT["memory"][section]:
        assert _same(fn(*args), want), (section, args)


def test_numpy_ids_in_compat_and_streams():
    assert C.gen_augmentation_params(np.int64(12)) == C.gen_augmentation_params(12)
    assert list(C.stream_augmentation_chain(np.int32(3), start_id=np.uint16(7))) == \
        [C.gen_augmentation_params(i) for i in range(7, 10)]
