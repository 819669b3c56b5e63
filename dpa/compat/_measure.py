"""DPA 0.2.1's measurement helpers: time, memory and CPU of one call, system facts.

``measure_time`` and ``measure_memory`` fill DPA's keys; :func:`timed_call`
times one call (the timed region holds only the call; the memory readings
come before and after it) and gives this process's CPU share during it;
``get_system_info`` gives DPA's facts and the machine's, from
:mod:`dpa.bench.machine`.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psutil

from ..bench.machine import cpu_model
from ..engine import get_kernel_paths

__all__ = ["get_system_info", "measure_memory", "measure_time", "timed_call"]

_MB = 1024 * 1024


@contextmanager
def measure_time() -> Iterator[dict[str, float]]:
    """measure_time()

    Fills the yielded dict on exit: ``elapsed_seconds`` (``perf_counter``),
    ``cpu_seconds`` (this process), ``start_time``, ``end_time``.
    """
    result: dict[str, float] = {}
    start, cpu = time.perf_counter(), time.process_time()
    try:
        yield result
    finally:
        end = time.perf_counter()
        result["elapsed_seconds"] = end - start
        result["cpu_seconds"] = time.process_time() - cpu
        result["start_time"] = start
        result["end_time"] = end


def _memory(prefix: str, out: dict[str, float], process: psutil.Process) -> None:
    info = process.memory_info()
    machine = psutil.virtual_memory()
    out[f"{prefix}_rss_mb"] = info.rss / _MB
    out[f"{prefix}_vms_mb"] = info.vms / _MB
    out[f"{prefix}_system_available_mb"] = machine.available / _MB
    out[f"{prefix}_system_used_mb"] = machine.used / _MB


@contextmanager
def measure_memory() -> Iterator[dict[str, float]]:
    """measure_memory()

    Fills the yielded dict with DPA's keys: ``initial_``/``final_`` ``rss_mb``,
    ``vms_mb`` (this process), ``system_available_mb``, ``system_used_mb``
    (the machine), and ``delta_rss_mb``, ``delta_vms_mb``, ``delta_system_mb``
    and ``delta_mb`` (= ``delta_rss_mb``), all in MiB.
    """
    result: dict[str, float] = {}
    process = psutil.Process()
    _memory("initial", result, process)
    try:
        yield result
    finally:
        _memory("final", result, process)
        result["delta_rss_mb"] = result["final_rss_mb"] - result["initial_rss_mb"]
        result["delta_vms_mb"] = result["final_vms_mb"] - result["initial_vms_mb"]
        result["delta_system_mb"] = (result["final_system_used_mb"]
                                     - result["initial_system_used_mb"])
        result["delta_mb"] = result["delta_rss_mb"]


def _cpu_share(cpu_seconds: float, wall_seconds: float) -> float:
    """This process's CPU time over a call as a share of all CPUs, in [0, 100]."""
    if wall_seconds <= 0:
        return 0.0
    return max(0.0, min(100.0, 100.0 * cpu_seconds / (wall_seconds * (os.cpu_count() or 1))))


def timed_call(func: Callable[[], Any], with_memory: bool = True) -> tuple[float, float, float]:
    """(seconds, RSS delta in MiB, CPU share) of one call.

    Only the call is timed: the memory readings (DPA's include them in the
    time) come before and after the timed region.
    """
    rss = psutil.Process().memory_info().rss if with_memory else 0
    start, cpu = time.perf_counter(), time.process_time()
    func()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    delta = (psutil.Process().memory_info().rss - rss) / _MB if with_memory else 0.0
    return seconds, delta, _cpu_share(cpu, seconds)


def get_system_info() -> dict[str, Any]:
    """get_system_info()

    DPA's ``{"cpu", "memory", "platform"}`` (psutil's counts and frequency,
    ``virtual_memory``, Python and platform), plus ``"machine"``: the CPU
    model and dpa's kernel paths in effect.  ``{"error": ...}`` if psutil fails.
    """
    try:
        freq = psutil.cpu_freq()
        return {
            "cpu": {"cpu_count": psutil.cpu_count(),
                    "cpu_count_logical": psutil.cpu_count(logical=True),
                    "cpu_freq": freq._asdict() if freq else None},
            "memory": psutil.virtual_memory()._asdict(),
            "platform": {"python_version": sys.version, "platform": platform.platform()},
            "machine": {"cpu_model": cpu_model(), "kernel_paths": list(get_kernel_paths())},
        }
    except Exception as exc:
        return {"error": f"Failed to get system info: {exc}"}
