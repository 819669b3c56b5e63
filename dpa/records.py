"""The records dpa produces: their dtypes, and DPA's dicts made from them.

A record is one sample: its int64 ``sample_id`` and the five float64
parameters in DPA's order, 48 bytes (:data:`PARAM_DTYPE`); with DPA's hash,
the 64 hex characters of the chain digest as ``S64`` bytes, 112 bytes
(:data:`PARAM_HASH_DTYPE`).  The compiled kernels write exactly this layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import MAX_SAMPLE_ID
from .config import FIELDS

__all__ = [
    "HASH_OFFSET",
    "MAX_SAMPLE_ID",
    "PARAM_DTYPE",
    "PARAM_HASH_DTYPE",
    "record_dtype",
    "records_to_dicts",
]

#: One record per sample: the id and the five parameters, 48 bytes.
PARAM_DTYPE = np.dtype([("sample_id", "<i8")] + [(f, "<f8") for f in FIELDS])

#: As ``PARAM_DTYPE`` plus DPA's ``hash``: the 64 hex characters of the chain
#: digest, as bytes (``rec["hash"].decode()`` gives DPA's string), 112 bytes.
PARAM_HASH_DTYPE = np.dtype(PARAM_DTYPE.descr + [("hash", "S64")])

#: Byte offset of ``hash`` in a ``PARAM_HASH_DTYPE`` record.
HASH_OFFSET = PARAM_HASH_DTYPE.fields["hash"][1]


def record_dtype(hash: bool = False) -> np.dtype:
    """The record dtype ``generate`` returns: ``PARAM_HASH_DTYPE`` if ``hash``."""
    return PARAM_HASH_DTYPE if hash else PARAM_DTYPE


def _hashes(records: np.ndarray) -> list[str]:
    """The ``hash`` field as strs: one ASCII decode of the column, then slices."""
    width = records.dtype["hash"].itemsize
    text = records["hash"].tobytes().decode("ascii")
    return [text[i:i + width] for i in range(0, len(text), width)]


def records_to_dicts(records: np.ndarray, **extra: Any) -> list[dict[str, Any]]:
    """DPA's dicts of records: five floats, ``hash`` (a str) if the records
    have one, and the ``extra`` keys (e.g. ``rank``), built column by column.

    DPA's layouts (the five floats; with ``hash``; with ``hash`` and ``rank``)
    are built as dict displays, about twice as fast as from ``zip``.
    """
    columns = [records[f].tolist() for f in FIELDS]
    if "hash" in (records.dtype.names or ()):
        hashes = _hashes(records)
        if not extra:
            return [{"rotation": r, "brightness": b, "noise": n, "scale": s, "contrast": c,
                     "hash": h} for r, b, n, s, c, h in zip(*columns, hashes)]
        if tuple(extra) == ("rank",):
            k = extra["rank"]
            return [{"rotation": r, "brightness": b, "noise": n, "scale": s, "contrast": c,
                     "hash": h, "rank": k} for r, b, n, s, c, h in zip(*columns, hashes)]
        columns.append(hashes)
        keys = FIELDS + ("hash",)
    else:
        if not extra:
            return [{"rotation": r, "brightness": b, "noise": n, "scale": s, "contrast": c}
                    for r, b, n, s, c in zip(*columns)]
        keys = FIELDS
    return [dict(zip(keys, row), **extra) for row in zip(*columns)]
