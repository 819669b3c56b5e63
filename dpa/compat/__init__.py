"""DPA 0.2.1's whole public API, under DPA's module names, on dpa's engine.

A DPA 0.2.1 user switches by changing imports only: ``from src.dpa import
...`` becomes ``from dpa.compat.dpa import ...``, and likewise
``dpa.compat.batch``, ``dpa.compat.distributed`` and ``dpa.compat.benchmark``.
Names, signatures, return types (dicts and lists of dicts where DPA returns
them), exceptions and the messages code matches on are DPA's; values come
from dpa's compiled kernels, files are DPA's bytes written atomically, and
statistics are DPA's exactly.  ``docs/compat.md`` lists where and why
``dpa.compat`` differs from DPA.

Nothing in dpa's core imports this package; it sits above the engine,
streams, :mod:`dpa.batch`, :mod:`dpa.distributed` and :mod:`dpa.io`.  The
private modules hold one concern each (see ``docs/architecture.md``).
"""
