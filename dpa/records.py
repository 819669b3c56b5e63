"""The records dpa produces: their dtypes, and DPA's dicts made from them.

A record is one sample: its int64 ``sample_id`` and the five float64
parameters in DPA's order, 48 bytes (:data:`PARAM_DTYPE`); with DPA's hash,
the 64 hex characters of the chain digest as ``S64`` bytes, 112 bytes
(:data:`PARAM_HASH_DTYPE`).  The compiled kernels write exactly this layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._core import record_dicts
from ._validate import MAX_SAMPLE_ID
from .config import FIELDS

__all__ = [
    "HASH_OFFSET",
    "MAX_SAMPLE_ID",
    "PARAM_DTYPE",
    "PARAM_HASH_DTYPE",
    "record_dtype",
    "record_floats",
    "record_hashes",
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


def record_floats(records: np.ndarray) -> np.ndarray:
    """The five parameter columns of ``records`` as an ``(n, 5)`` float64 array, a view
    into a contiguous record array of dpa's layouts (else a copy)."""
    offsets = [records.dtype.fields[f][1] for f in FIELDS]
    same = all(records.dtype.fields[f][0] == np.float64 for f in FIELDS)
    if same and offsets == list(range(offsets[0], offsets[0] + 8 * len(FIELDS), 8)):
        records = np.ascontiguousarray(records)
        return np.ndarray((len(records), len(FIELDS)), np.float64, buffer=records,
                          offset=offsets[0], strides=(records.strides[0], 8))
    return np.column_stack([records[f].astype(np.float64) for f in FIELDS])


def record_hashes(records: np.ndarray) -> np.ndarray:
    """The ``hash`` field of ``records`` as an ``(n, 64)`` array of ASCII bytes."""
    h = np.ascontiguousarray(records["hash"])
    return h.view(np.uint8).reshape(len(h), h.dtype.itemsize)


#: From this many records on, dicts are built by the compiled core (below, the
#: arrays it needs cost more than they save).
_COMPILED_FROM = 16


def records_to_dicts(records: np.ndarray, **extra: Any) -> list[dict[str, Any]]:
    """DPA's dicts of records: five floats, ``hash`` (a str) if the records
    have one, and the ``extra`` keys (e.g. ``rank``), in that order.

    Blocks are built by the compiled ``dpa._core.record_dicts`` from the
    columns; a few records (one sample's dict) column by column in Python.
    """
    has_hash = "hash" in (records.dtype.names or ())
    keys = FIELDS + ("hash",) if has_hash else FIELDS
    if len(records) >= _COMPILED_FROM:
        return record_dicts(keys, record_floats(records),
                            record_hashes(records) if has_hash else None, tuple(extra.items()))
    columns = [records[f].tolist() for f in FIELDS]
    if has_hash:
        columns.append([h.decode() for h in records["hash"].tolist()])
    return [dict(zip(keys, row), **extra) for row in zip(*columns)]
