"""DPA 0.2.1's safe arithmetic (``src/batch.py`` and ``src/benchmark.py`` both have it)."""

from __future__ import annotations

__all__ = ["safe_division", "safe_percentage_change"]


def safe_division(numerator: float, denominator: float, fallback: float = 0.0) -> float:
    """safe_division(numerator, denominator, fallback=0.0)

    ``numerator / denominator``, or ``fallback`` when the denominator is 0.
    """
    if denominator == 0:
        return fallback
    return numerator / denominator


def safe_percentage_change(new_value: float, old_value: float) -> float:
    """safe_percentage_change(new_value, old_value)

    ``(new - old) / old * 100``; from 0: ``inf`` if ``new > 0``, else 0.
    """
    if old_value == 0:
        return float("inf") if new_value > 0 else 0.0
    return ((new_value - old_value) / old_value) * 100
