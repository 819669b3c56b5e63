"""DPA 0.2.1's memory estimates and formatting (``src/dpa.py``'s helpers).

DPA's fixed model of a parameter dict (200 bytes, 20 % more as JSON, 1 KiB
for statistics), the process's memory from psutil, sizes as ``"1.5 MB"``
(binary units), and batch sizes that fit a budget.  The numbers are DPA's, so
code that sizes its work by them behaves the same.
"""

from __future__ import annotations

from typing import Any

import psutil

from .._validate import check_bool, check_int, check_number

__all__ = [
    "estimate_memory_usage",
    "estimate_optimal_batch_size",
    "format_memory_size",
    "get_current_memory_usage",
    "get_memory_usage_estimate",
]

_MB = 1024 * 1024


def estimate_memory_usage(num_samples: int, include_statistics: bool = True,
                          bytes_per_param: int = 200) -> dict[str, int]:
    """estimate_memory_usage(num_samples, include_statistics=True, bytes_per_param=200)

    DPA's estimate in bytes: ``parameters`` (``num_samples * bytes_per_param``),
    ``statistics`` (1024, or 0), ``json_serialization`` (1.2x the
    parameters) and their ``total``.
    """
    num_samples = check_int(num_samples, "num_samples", minimum=0, rule="must be non-negative")
    params = num_samples * bytes_per_param
    stats = 1024 if include_statistics else 0
    json_bytes = int(params * 1.2)
    return {"parameters": params, "statistics": stats, "json_serialization": json_bytes,
            "total": params + stats + json_bytes}


def get_current_memory_usage() -> dict[str, int]:
    """get_current_memory_usage()

    This process's ``rss`` and ``vms`` in bytes and ``percent`` of the
    machine's memory (an int); ``{}`` where psutil cannot tell.
    """
    try:
        process = psutil.Process()
        info = process.memory_info()
        return {"rss": info.rss, "vms": info.vms, "percent": int(process.memory_percent())}
    except (AttributeError, OSError):
        return {}


def format_memory_size(bytes_size: int) -> str:
    """format_memory_size(bytes_size)

    ``"512 B"``, ``"1.5 KB"``, ``"1.5 MB"``, ``"1.5 GB"`` (powers of 1024).
    """
    if bytes_size < 1024:
        return f"{bytes_size} B"
    for unit, scale in (("KB", 1024), ("MB", 1024**2)):
        if bytes_size < scale * 1024:
            return f"{bytes_size / scale:.1f} {unit}"
    return f"{bytes_size / 1024**3:.1f} GB"


def estimate_optimal_batch_size(sample_size_bytes: int = 200, max_memory_mb: int = 1000,
                                safety_margin: float = 0.1) -> int:
    """estimate_optimal_batch_size(sample_size_bytes=200, max_memory_mb=1000, safety_margin=0.1)

    How many samples of ``sample_size_bytes`` fit in ``max_memory_mb`` MiB
    less the ``safety_margin`` fraction; at least 1.
    """
    sample_size_bytes = check_int(sample_size_bytes, "sample_size_bytes", minimum=1,
                                  rule="must be positive")
    check_number(max_memory_mb, "max_memory_mb", positive=True, rule="must be positive")
    margin = check_number(safety_margin, "safety_margin", minimum=0,
                          rule="must be between 0 and 1")
    if margin >= 1:
        raise ValueError(
            f"safety_margin must be between 0 and 1, but got safety_margin={safety_margin!r}")
    available = max_memory_mb * _MB * (1 - margin)
    return max(1, int(available / sample_size_bytes))


def get_memory_usage_estimate(num_samples: int, include_statistics: bool = True,
                              bytes_per_param: int = 200) -> dict[str, Any]:
    """get_memory_usage_estimate(num_samples, include_statistics=True, bytes_per_param=200)

    :func:`estimate_memory_usage` as text (``"total": "1.5 MB"``) and MiB
    (``"total_mb"``), with DPA's ``recommendation`` and, above 100 MiB, a
    suggested chunk size (above 1000 MiB, a batch size).
    """
    check_bool(include_statistics, "include_statistics")
    raw = estimate_memory_usage(num_samples, include_statistics, bytes_per_param)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        out[key] = format_memory_size(value)
        out[f"{key}_mb"] = value / _MB
    total_mb = raw["total"] / _MB
    if total_mb > 1000:
        out["recommendation"] = "Use streaming with memory-optimized batching"
        out["suggested_batch_size"] = estimate_optimal_batch_size(bytes_per_param, 500)
    elif total_mb > 100:
        out["recommendation"] = "Consider using chunked streaming"
        out["suggested_chunk_size"] = min(1000, num_samples // 10)
    else:
        out["recommendation"] = "Standard processing should work fine"
    return out
