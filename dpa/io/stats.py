"""DPA's statistics blocks of ``.npy`` files, bit for bit, in bounded memory.

DPA's two savers compute their ``statistics`` blocks differently, and both are
reproduced exactly:

* ``"exact"``: ``statistics.mean`` / ``statistics.stdev`` (DPA's
  ``compute_statistics``, used by ``save_augmentation_chain``), correctly
  rounded functions of exact sums, kept here in Python integers
  (:class:`_ExactMoments`) while the file is read block by block.
* ``"welford"``: ``save_augmentation_stream``'s Welford recurrence in float64,
  in record order, replayed operation for operation by the compiled kernel
  ``dpa._core.welford_update``.

:func:`compute_stats` gives the block of a file; :func:`stats_report` is
``python -m dpa stats``: the block, with its method chosen from the
provenance, warnings about a provenance that does not fit, optional
verification, and the comparison with the source file's block.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._core import welford_update
from .._validate import check_path
from ..config import FIELDS
from .errors import InputError
from .npy import READ_BLOCK, iter_npy_blocks, read_layout
from .provenance import (describes, provenance_path, provenance_problems, read_provenance,
                         source_statistics, stats_method_for)
from .verify import verify_npy

__all__ = ["METHODS", "STAT_KEYS", "StatsReport", "compute_stats", "differing_statistics",
           "stats_report"]

#: The methods of :func:`compute_stats` (besides ``"auto"``).
METHODS = ("exact", "welford")

#: The keys of one field's statistics, in DPA's order.
STAT_KEYS = ("mean", "stdev", "min", "max", "count")

# ---- exact sums ------------------------------------------------------------------

#: Every finite double is m * 2**e with an integer |m| < 2**53 and e >= _E0.
_E0 = -1074


#: Values per vectorized step of the exact sums: small enough that the
#: temporaries stay in cache (3x faster than 64 Ki here), far below the 2**25
#: that keeps ``bincount``'s float64 sums exact.
_EXACT_CHUNK = 1 << 14


def _exact_sum(x: np.ndarray) -> int:
    """The exact sum of finite float64 values, as an integer in units of ``2**_E0``.

    Read from the bits, a value is ``m * 2**e`` with an integer
    ``|m| < 2**53`` and ``e >= -1074``.  Values are grouped by exponent with
    ``bincount``, whose float64 sums are exact here: the mantissa is cut into
    27 + 26-bit limbs, so for up to 2**25 values no partial sum reaches 2**53.
    """
    total = 0
    for a in range(0, len(x), _EXACT_CHUNK):
        bits = np.ascontiguousarray(x[a:a + _EXACT_CHUNK], dtype="<f8").view(np.int64)
        field = (bits >> 52) & 0x7FF  # biased exponent; 0 for zeros and subnormals
        m = bits & 0xFFFFFFFFFFFFF
        m |= (field != 0).astype(np.int64) << 52  # the implicit leading bit
        m = np.where(bits < 0, -m, m)
        np.maximum(field, 1, out=field)  # e = field - 1075, and -1074 for subnormals
        base = int(field.min())
        idx = field - base
        width = int(idx.max()) + 1
        base -= 1075 + _E0
        for shift, limb in ((26, m >> 26), (0, m & 0x3FFFFFF)):
            sums = np.bincount(idx, weights=limb.astype(np.float64), minlength=width)
            nz = np.flatnonzero(sums)
            for k, v in zip(nz.tolist(), sums[nz].tolist()):
                total += int(v) << (shift + k + base)
    return total


#: Beyond these magnitudes ``x * x`` under- or overflows and the split below is inexact.
_SQ_LOW, _SQ_HIGH = 2.0**-480, 2.0**500


class _ExactMoments:
    """Sum and sum of squares of float64 values, exactly, in Python integers.

    ``s1`` is the sum in units of ``2**_E0`` (:func:`_exact_sum`).  For the
    squares, each ``x * x`` is split exactly into ``p + err`` (Dekker's
    product with Veltkamp's split, in float64 with no fused operations), and
    both are summed exactly; the rare values whose square would under- or
    overflow go through Python integers instead.  ``s2`` is in units of
    ``2**(2 * _E0)``.
    """

    def __init__(self) -> None:
        self.n = 0
        self.s1 = 0
        self.s2 = 0

    def add(self, x: np.ndarray) -> None:
        for a in range(0, len(x), _EXACT_CHUNK):
            self._add(x[a:a + _EXACT_CHUNK])

    def _add(self, x: np.ndarray) -> None:
        self.s1 += _exact_sum(x)
        ax = np.abs(x)
        safe = ((ax > _SQ_LOW) & (ax < _SQ_HIGH)) | (x == 0)
        xs = x if safe.all() else x[safe]
        c = xs * 134217729.0  # 2**27 + 1
        hi = c - (c - xs)
        lo = xs - hi
        p = xs * xs
        err = ((hi * hi - p) + 2.0 * hi * lo) + lo * lo
        self.s2 += (_exact_sum(p) + _exact_sum(err)) << -_E0
        if xs is not x:
            for v in x[~safe].tolist():
                num, den = v.as_integer_ratio()  # den is a power of two <= 2**-_E0
                self.s2 += (num * num) << (2 * (-_E0 - den.bit_length() + 1))
        self.n += len(x)

    def mean(self) -> float:
        """The mean, correctly rounded (as ``statistics.mean``)."""
        return self.s1 / (self.n << -_E0)

    def stdev(self) -> float:
        """The sample standard deviation, correctly rounded (as ``statistics.stdev``)."""
        n = self.n
        # n * (sum of squared deviations) = n * sum(x**2) - sum(x)**2, in units of 2**(2 * _E0)
        num = n * self.s2 - self.s1 * self.s1
        return _sqrt_ratio(num, (n * (n - 1)) << (-2 * _E0))


def _sqrt_ratio(num: int, den: int) -> float:
    """sqrt(num / den) rounded correctly to a float, for integers num >= 0, den > 0.

    The integer square root is taken with at least 56 significant bits and its
    last bit forced to 1 when the root is inexact (round to odd), so the one
    final rounding, int to float, rounds as the exact root would.
    """
    if num <= 0:
        return 0.0
    shift = max(0, (2 * 58 - (num.bit_length() - den.bit_length())) // 2 + 1)
    scaled = num << (2 * shift)
    root = math.isqrt(scaled // den)
    if root * root * den != scaled:
        root |= 1
    return root / (1 << shift)




# ---- per-field statistics --------------------------------------------------------


class StatsAccumulator:
    """DPA's per-field statistics over blocks of records.

    ``method="exact"``: what ``statistics.mean`` / ``statistics.stdev`` return
    (DPA's ``compute_statistics``, used by ``save_augmentation_chain``), from
    exact integer sums.  ``method="welford"``: DPA's ``save_augmentation_stream``
    statistics, Welford's recurrence in float64 in record order, replayed
    operation for operation by a compiled loop.
    """

    def __init__(self, fields: Iterable[str], method: str, label: str = "") -> None:
        if method not in METHODS:
            raise ValueError(f"method should be 'exact' or 'welford', but got {method!r}")
        self.method = method
        self.label = label
        self.fields = list(fields)
        self.count = 0
        self.min: dict[str, float | None] = {f: None for f in self.fields}
        self.max: dict[str, float | None] = {f: None for f in self.fields}
        self.exact = {f: _ExactMoments() for f in self.fields}
        self.welford = {f: (0, 0.0, 0.0) for f in self.fields}

    def add(self, block: np.ndarray, first_index: int = 0) -> None:
        for f in self.fields:
            x = np.ascontiguousarray(block[f], dtype=np.float64)
            if not len(x):
                continue
            finite = np.isfinite(x)
            if not finite.all():
                k = int(np.argmin(finite))
                raise InputError(f"{self.label}record {first_index + k}: field {f!r} is not a "
                                 f"finite number ({float(x[k])!r})")
            self._min_max(f, x)
            if self.method == "exact":
                self.exact[f].add(x)
            else:
                n, mean, m2 = self.welford[f]
                _, mean, m2 = welford_update(x, float(n), mean, m2)
                self.welford[f] = (n + len(x), mean, m2)
        self.count += len(block)

    def _min_max(self, f: str, x: np.ndarray) -> None:
        lo, hi = x.min(), x.max()
        # Python's min/max keep the first of equal values: only 0.0 == -0.0 differ.
        if lo == 0:
            lo = x[int(np.argmax(x == 0))]
        if hi == 0:
            hi = x[int(np.argmax(x == 0))]
        cur = self.min[f]
        if cur is None or lo < cur:
            self.min[f] = float(lo)
        cur = self.max[f]
        if cur is None or hi > cur:
            self.max[f] = float(hi)

    def result(self) -> dict[str, dict[str, Any]]:
        """``{field: {"mean", "stdev", "min", "max", "count"}}`` as DPA writes it."""
        out = {}
        for f in self.fields:
            n = self.count
            if n == 0:
                out[f] = {"mean": 0.0, "stdev": 0.0, "min": 0.0, "max": 0.0, "count": 0}
                continue
            if self.method == "exact":
                mean = self.exact[f].mean()
                stdev = self.exact[f].stdev() if n > 1 else 0.0
            else:
                _, mean, m2 = self.welford[f]
                variance = m2 / (n - 1) if n > 1 else 0.0
                stdev = variance ** 0.5
            out[f] = {"mean": mean, "stdev": stdev, "min": self.min[f], "max": self.max[f], "count": n}
        return out


def differing_statistics(block: dict, stats: dict[str, dict[str, Any]]
                         ) -> list[tuple[str, str | None]]:
    """Where a DPA statistics ``block`` differs from ``stats`` (of the same fields):
    ``(field, key)`` pairs in order, ``(field, None)`` for a field the block
    lacks (or holds as something else than an object).  A ``bool`` never
    equals a statistic."""
    out: list[tuple[str, str | None]] = []
    for name, ours in stats.items():
        theirs = block.get(name)
        if not isinstance(theirs, dict):
            out.append((name, None))
            continue
        for key in STAT_KEYS:
            value = theirs.get(key)
            if value != ours[key] or type(value) is bool:
                out.append((name, key))
    return out


# ---- files -----------------------------------------------------------------------


def _fields_of(p: Path, fields: Iterable[str] | None) -> list[str]:
    """The fields to summarise: ``fields``, or DPA's five that the file has; each
    must be a plain float field (not bytes, text, a subarray or a record)."""
    dtype, _, _ = read_layout(p, check_size=False)
    names = dtype.names or ()
    if fields is None:
        chosen = [x for x in FIELDS if x in names]
        if not chosen:
            raise InputError(f"{p}: holds none of DPA's fields {list(FIELDS)}")
    else:
        chosen = list(fields)
        missing = [x for x in chosen if x not in names]
        if missing:
            raise InputError(f"{p}: has no field(s) {missing}; it has {list(names)}")
    for x in chosen:
        if dtype[x].kind != "f" or dtype[x].shape:
            raise InputError(f"{p}: field {x!r} ({dtype[x]}) is not a float field")
    return chosen


def compute_stats(path: str | os.PathLike, *, method: str = "auto",
                  fields: Iterable[str] | None = None,
                  block_records: int = READ_BLOCK) -> dict[str, dict[str, Any]]:
    """compute_stats(path, *, method="auto", fields=None, block_records=65536)

    DPA's statistics block (mean, stdev, min, max, count per field) of a
    ``.npy``, read in blocks: memory stays at one block for any file size.

    Parameters
    ----------
    path : str or PathLike
        A ``.npy`` of records holding some of DPA's five fields.
    method : {"auto", "exact", "welford"}
        ``"exact"``: the values of ``statistics.mean`` and ``statistics.stdev``
        (correctly rounded, as DPA's ``compute_statistics`` and
        ``save_augmentation_chain`` give them), equal bit for bit.
        ``"welford"``: DPA's ``save_augmentation_stream`` statistics (Welford's
        float recurrence in record order), equal bit for bit.  ``"auto"``:
        ``"welford"`` for a file converted from a streaming DPA file that
        carried statistics (from its provenance), else ``"exact"``.
    fields : iterable of str, optional
        Fields to summarise (default: DPA's five, those present).
    block_records : int
        Records read at a time.

    Returns
    -------
    dict
        ``{field: {"mean", "stdev", "min", "max", "count"}}``; for fewer than
        two records ``stdev`` is 0.0, and an empty file gives zeros, as in DPA.
    """
    p = check_path(path)
    if method == "auto":
        try:
            prov = read_provenance(p)
        except InputError:  # a sidecar that is not dpa's says nothing about the method
            prov = None
        method = stats_method_for(prov)
    acc = StatsAccumulator(_fields_of(p, fields), method, f"{p}: ")
    for i, block in iter_npy_blocks(p, block_records):
        acc.add(block, i)
    return acc.result()


@dataclass(frozen=True)
class StatsReport:
    """What :func:`stats_report` found about one ``.npy``."""

    #: The file.
    path: Path
    #: ``{field: {"mean", "stdev", "min", "max", "count"}}``, DPA's block.
    statistics: dict[str, dict[str, Any]]
    #: ``"exact"`` or ``"welford"``.
    method: str
    #: Problems with the provenance, which was then not used (one line each).
    warnings: tuple[str, ...] = ()
    #: Records recomputed and found equal (``verify=True``), else None.
    verified: int | None = None
    #: Name of the DPA file whose statistics block the provenance holds, or None.
    source: str | None = None
    #: ``"field.key"`` of each statistic that differs from that block.
    differing: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """Records in the file."""
        return next(iter(self.statistics.values()))["count"] if self.statistics else 0


def stats_report(path: str | os.PathLike, *, method: str = "auto",
                 fields: Iterable[str] | None = None, verify: bool = False,
                 threads: int | None = None,
                 progress: Callable[[int, int | None], None] | None = None,
                 on_warning: Callable[[str], None] | None = None) -> StatsReport:
    """stats_report(path, *, method="auto", fields=None, verify=False, threads=None, progress=None, on_warning=None)

    DPA's statistics of a ``.npy`` with what its provenance says about them.

    The provenance chooses the method (``method="auto"``, as in
    :func:`compute_stats`) and may hold the statistics block of the DPA file
    the records were converted from, which the result is compared with.  A
    provenance that is unreadable or describes another file (count, dtype)
    is a warning (``on_warning(message)`` is called at once, and the result
    lists it) and is not used.  With ``verify``, every record is first
    recomputed (:func:`verify_npy`, with ``threads`` and ``progress``), and a
    provenance that cannot be read is an error.
    """
    p = check_path(path)
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        if on_warning is not None:
            on_warning(message)

    prov = None
    if verify:
        prov = read_provenance(p)
    elif provenance_path(p).exists():
        try:
            prov = read_provenance(p)
        except InputError as exc:  # statistics do not need it
            warn(str(exc))
    if prov is not None:
        for problem in provenance_problems(prov):
            warn(f"{provenance_path(p)}: {problem}; ignoring it")
        dtype, count, _ = read_layout(p)
        if not describes(prov, count, dtype):
            warn(f"{provenance_path(p)} does not describe {p} (count {prov.get('count')} vs "
                 f"{count}); ignoring it")
            prov = None
    verified = verify_npy(p, threads=threads, progress=progress) if verify else None
    if method == "auto":
        method = stats_method_for(prov)
    stats = compute_stats(p, method=method, fields=fields)
    source = source_statistics(prov)
    differing: list[str] = []
    if source is not None:
        for name, key in differing_statistics(source[1], stats):
            differing.extend(f"{name}.{k}" for k in ((key,) if key else STAT_KEYS))
    return StatsReport(p, stats, method, tuple(warnings), verified,
                       source[0] if source is not None else None, tuple(differing))
