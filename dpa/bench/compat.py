"""dpa.compat against DPA 0.2.1's algorithm, side by side: the same calls, the same output.

Every row runs a ``dpa.compat.dpa`` function and its oracle on the same input
in the same process, taking turns over ``repeats`` rounds after a warm-up
round; rates are records over the median seconds, ``speedup`` = oracle
seconds / compat seconds (the issue's target: 10 over large counts),
``cpu_speedup`` the same ratio of this process's CPU seconds (less moved by
other work on a shared machine; it counts every thread of the kernel), and
``equal`` says the two outputs are the same (equal lists and statistics,
byte-identical files).  The oracle is DPA 0.2.1's algorithm written out in
plain Python, the way DPA runs it: ``dpa._reference.params`` per sample (its
hash chain and ``random.Random``), the ``statistics`` module, Welford's loop
over dicts, ``json.dump(..., indent=2)`` and DPA's per-record streaming
writer.  DPA itself is not imported (it needs Python 3.12).

Rows (``n`` records: 200,000; 5,000 with ``quick``), input in brackets:

``generate_augmentation_chain``
    The list of ``n`` dicts; oracle: one ``params`` dict per id.
``compute_statistics [list]``, ``compute_streaming_statistics [list iterator]``
    Of the list made above.
``compute_streaming_statistics [stream]``
    Of ``stream_augmentation_chain(n)``; oracle: of a generator of ``params``
    dicts (generation is part of both).
``save_augmentation_chain [list]``
    With statistics; dpa.compat also fsyncs and renames (DPA does not).
``save_augmentation_stream [list iterator]``, ``[stream]``
    With statistics (``indent=2``) and without (``... lines``: one record per
    line, ``buffer_size`` 1000).

Run alone: ``python -m dpa.bench.compat [--quick] [--json]``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .. import _reference
from ..compat import dpa as C
from ..config import FIELDS, AugmentationConfig, get_preset
from .child import section_main

__all__ = ["SIZES", "run"]

SIZES: dict[str, dict[str, int]] = {"full": {"records": 200_000, "repeats": 3},
                                    "quick": {"records": 5_000, "repeats": 3}}

#: The speedup the issue asks of dpa.compat over DPA for large counts.
TARGET = 10


# ---- the oracle: DPA's algorithm in plain Python ------------------------------------


def oracle_dicts(n: int, config: AugmentationConfig) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield _reference.params(i, config)


def oracle_exact(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for f in FIELDS:
        v = [p[f] for p in items]
        out[f] = {"mean": statistics.mean(v), "stdev": statistics.stdev(v) if len(v) > 1 else 0.0,
                  "min": min(v), "max": max(v), "count": len(v)}
    return out


def _welford(items: Iterable[dict[str, Any]], keep: list | None = None
             ) -> dict[str, dict[str, Any]]:
    counts = {f: 0 for f in FIELDS}
    means = {f: 0.0 for f in FIELDS}
    m2s = {f: 0.0 for f in FIELDS}
    mins = {f: math.inf for f in FIELDS}
    maxs = {f: -math.inf for f in FIELDS}
    for p in items:
        if keep is not None:
            keep.append(p)
        for f in FIELDS:
            v = p[f]
            counts[f] += 1
            mins[f] = min(mins[f], v)
            maxs[f] = max(maxs[f], v)
            d = v - means[f]
            means[f] += d / counts[f]
            m2s[f] += d * (v - means[f])
    return {f: {"mean": means[f], "stdev": (m2s[f] / (counts[f] - 1) if counts[f] > 1 else 0.0)
                ** 0.5, "min": mins[f], "max": maxs[f], "count": counts[f]} for f in FIELDS}


def oracle_welford(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return _welford(items)


def oracle_save_chain(items: list[dict[str, Any]], path: str, config: AugmentationConfig) -> None:
    doc = {"metadata": {"num_samples": len(items), "config": config.to_dict()},
           "augmentations": items, "statistics": oracle_exact(items)}
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)


def oracle_save_stream(items: Iterable[dict[str, Any]], path: str, config: AugmentationConfig
                       ) -> None:
    kept: list[dict[str, Any]] = []
    stats = _welford(items, kept)
    doc = {"metadata": {"num_samples": len(kept), "config": config.to_dict(), "streaming": True},
           "augmentations": kept, "statistics": stats}
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)


def oracle_save_lines(items: Iterable[dict[str, Any]], path: str, config: AugmentationConfig,
                      buffer_size: int = 1000) -> None:
    with open(path, "w") as f:
        f.write('{\n  "metadata": {\n    "num_samples": null,\n    "config": ')
        json.dump(config.to_dict(), f)
        f.write(',\n    "streaming": true\n  },\n  "augmentations": [\n')
        first, buffer = True, []

        def flush() -> None:
            nonlocal first
            for p in buffer:
                if not first:
                    f.write(",\n")
                first = False
                f.write("    ")
                json.dump(p, f)
            f.flush()
            buffer.clear()

        for p in items:
            buffer.append(p)
            if len(buffer) >= buffer_size:
                flush()
        flush()
        f.write("\n  ]\n}\n")


# ---- rows ---------------------------------------------------------------------------


def _quiet(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with contextlib.redirect_stdout(io.StringIO()):
            return fn()
    return run


def _turns(jobs: dict[str, Callable[[], Any]], repeats: int
           ) -> dict[str, tuple[list[float], list[float]]]:
    """(wall seconds, CPU seconds of this process) of ``repeats`` calls of each job,
    the jobs taking turns after one untimed warm-up round."""
    times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in jobs}
    for round_ in range(repeats + 1):
        for name, fn in jobs.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            t, c = time.perf_counter() - t, time.process_time() - c
            if round_:
                times[name][0].append(t)
                times[name][1].append(c)
    return times


def _same_file(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def _cases(n: int, config: AugmentationConfig, items: list[dict[str, Any]], tmp: str
           ) -> list[tuple[str, str, Callable[[], Any], Callable[[], Any], Callable[[], bool]]]:
    """(name, input, compat, oracle, check that their outputs are equal)."""
    p = {k: os.path.join(tmp, f"{k}.json") for k in ("c", "o")}
    out: dict[str, Any] = {}

    def keep(key: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            out[key] = fn()
        return run

    def files() -> bool:
        return _same_file(p["c"], p["o"])

    def values(a: str, b: str) -> Callable[[], bool]:
        return lambda: out[a] == out[b]

    stream = lambda: C.stream_augmentation_chain(n, config)  # noqa: E731
    return [
        ("generate_augmentation_chain", "ids",
         keep("gc", lambda: C.generate_augmentation_chain(n, config)),
         keep("go", lambda: list(oracle_dicts(n, config))), values("gc", "go")),
        ("compute_statistics", "list",
         keep("sc", lambda: C.compute_statistics(items)),
         keep("so", lambda: oracle_exact(items)), values("sc", "so")),
        ("compute_streaming_statistics", "list iterator",
         keep("wc", lambda: C.compute_streaming_statistics(iter(items))),
         keep("wo", lambda: oracle_welford(iter(items))), values("wc", "wo")),
        ("compute_streaming_statistics", "stream",
         keep("ws", lambda: C.compute_streaming_statistics(stream())),
         keep("wso", lambda: oracle_welford(oracle_dicts(n, config))), values("ws", "wso")),
        ("save_augmentation_chain", "list",
         lambda: C.save_augmentation_chain(items, p["c"], config),
         lambda: oracle_save_chain(items, p["o"], config), files),
        ("save_augmentation_stream", "list iterator",
         lambda: C.save_augmentation_stream(iter(items), p["c"], config),
         lambda: oracle_save_stream(iter(items), p["o"], config), files),
        ("save_augmentation_stream", "stream",
         lambda: C.save_augmentation_stream(stream(), p["c"], config),
         lambda: oracle_save_stream(oracle_dicts(n, config), p["o"], config), files),
        ("save_augmentation_stream lines", "list iterator",
         lambda: C.save_augmentation_stream(iter(items), p["c"], config, include_stats=False),
         lambda: oracle_save_lines(iter(items), p["o"], config), files),
        ("save_augmentation_stream lines", "stream",
         lambda: C.save_augmentation_stream(stream(), p["c"], config, include_stats=False),
         lambda: oracle_save_lines(oracle_dicts(n, config), p["o"], config), files),
    ]


def run(quick: bool = False, *, records: int | None = None, repeats: int | None = None
        ) -> list[dict[str, Any]]:
    """run(quick=False, *, records=None, repeats=None)

    Measure and return the rows (one dict each): ``bench`` ("compat"),
    ``name``, ``input``, ``records``, ``compat_records_per_s``,
    ``oracle_records_per_s``, ``speedup`` (median wall seconds, oracle over
    compat), ``target``, ``equal``, ``cpu_speedup`` (the same with this
    process's CPU seconds: less sensitive to other work on the machine, but it
    counts the kernel's threads, so it favours the oracle), ``spread``
    (slowest - fastest compat run, over the median).
    """
    sizes = dict(SIZES["quick" if quick else "full"])
    for key, value in (("records", records), ("repeats", repeats)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} should be a positive integer, but got {key}={value!r}")
            sizes[key] = value
    n, reps = sizes["records"], sizes["repeats"]
    config = get_preset("moderate")
    items = C.generate_augmentation_chain(n, config)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dpa-bench-compat-") as tmp:
        for name, what, ours, oracle, equal in _cases(n, config, items, tmp):
            times = _turns({"compat": _quiet(ours), "oracle": _quiet(oracle)}, reps)
            (cw, cc), (ow, oc) = times["compat"], times["oracle"]
            c, o = statistics.median(cw), statistics.median(ow)
            rows.append({
                "bench": "compat", "name": name, "input": what, "records": n,
                "compat_records_per_s": n / c, "oracle_records_per_s": n / o,
                "speedup": o / c, "target": TARGET, "equal": bool(equal()),
                "cpu_speedup": statistics.median(oc) / statistics.median(cc),
                "spread": (max(cw) - min(cw)) / c,
            })
    return rows


def _show(r: dict[str, Any]) -> str:
    return (f"{r['name'] + ' [' + r['input'] + ']':<48} {r['compat_records_per_s']:>12,.0f}/s "
            f"vs {r['oracle_records_per_s']:>10,.0f}/s  speedup {r['speedup']:6.1f}x  "
            f"(CPU {r['cpu_speedup']:5.1f}x)  equal {r['equal']}")


def main(argv: list[str] | None = None) -> int:
    """``python -m dpa.bench.compat [--quick] [--json]``: print the rows."""
    return section_main(argv, prog="python -m dpa.bench.compat",
                        description=__doc__.split("\n")[0], run=run, show=_show)


if __name__ == "__main__":
    raise SystemExit(main())
