"""dpa's benchmarks: ``python -m dpa.bench [--quick] [--json PATH] [--only NAME]``.

Each section is a module ``dpa.bench.<name>`` with ``run(quick) -> list[dict]``;
``SECTIONS`` lists them in the order they run.  ``core`` (``generate`` against
the pure-Python oracle and the SHA-256 limit) always exists; a section whose
module cannot be imported is reported as skipped, with the reason.
``compat`` puts dpa.compat's DPA functions beside DPA's algorithm in plain
Python.  ``dpa.bench.machine`` records the machine facts the figures depend on.

Timings are ``time.perf_counter`` medians after a warm-up; every figure comes
with the baseline it was compared against in the same run, since absolute
rates mean little across machines.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["SECTIONS", "load_section"]

#: Benchmark sections, in the order ``python -m dpa.bench`` runs them.
SECTIONS: tuple[str, ...] = ("core", "batch", "distributed", "io", "schemes", "hotpath", "torch",
                             "scale", "compat")


def load_section(name: str) -> ModuleType:
    """The module of section ``name``; ``ImportError`` if it is not there (yet)."""
    if name not in SECTIONS:
        raise ValueError(f"unknown benchmark section {name!r}; known: {list(SECTIONS)}")
    return importlib.import_module(f"{__name__}.{name}")
