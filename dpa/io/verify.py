"""Verification: records recomputed with the core kernel and compared bit for bit.

:func:`verify_npy` recomputes every record of a ``.npy`` dpa wrote from its
provenance (config, seeding and ids, :mod:`dpa.io.provenance`);
:func:`mismatch_error` describes the first record that differs, for it and
for ``convert_json(verify=True)``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import check_path
from ..engine import generate_seeded
from ..records import record_dtype
from .errors import InputError, VerificationError
from .npy import READ_BLOCK, iter_npy_blocks, read_layout
from .provenance import (check_id_range, config_of, provenance_path, read_provenance,
                         recorded_ids, seeding_of)

__all__ = ["mismatch_error", "verify_npy"]


def _first_mismatch(found: np.ndarray, expected: np.ndarray) -> tuple[int, str] | None:
    """Position and field of the first record whose bytes differ, or None."""
    a = found.view(np.uint8).reshape(len(found), found.dtype.itemsize)
    b = expected.view(np.uint8).reshape(len(expected), expected.dtype.itemsize)
    rows = np.flatnonzero((a != b).any(axis=1))
    if not len(rows):
        return None
    i = int(rows[0])
    for name in found.dtype.names:
        if found[name][i].tobytes() != expected[name][i].tobytes():
            return i, name
    return i, found.dtype.names[0]  # pragma: no cover - padding bytes only


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return repr(value.decode("ascii", "replace"))
    return repr(value.item() if isinstance(value, np.generic) else value)


def mismatch_error(where: str, found: np.ndarray, expected: np.ndarray, first_index: int,
                   first_id: int | range | np.ndarray, hint: str = ""
                   ) -> VerificationError | None:
    """The first mismatch as an error, or None.

    ``first_id`` is the sample id of ``found[0]`` when the ids are consecutive,
    or the block's ids (a range of any step, or an array).
    """
    hit = _first_mismatch(found, expected)
    if hit is None:
        return None
    i, name = hit
    fv, ev = found[name][i], expected[name][i]
    fv = fv.item() if isinstance(fv, np.generic) else fv
    ev = ev.item() if isinstance(ev, np.generic) else ev
    index = first_index + i
    sample_id = int(first_id[i]) if isinstance(first_id, (range, np.ndarray)) else first_id + i
    msg = (f"{where}: record {index} (sample id {sample_id}): field {name!r} is "
           f"{_show(fv)} in the file but {_show(ev)} recomputed")
    if index == 0 and hint:
        msg += f" ({hint})"
    return VerificationError(msg, index=index, field=name, found=fv, expected=ev)


def verify_npy(path: str | os.PathLike, *, threads: int | None = None,
               progress: Callable[[int, int | None], None] | None = None,
               block_records: int = READ_BLOCK) -> int:
    """verify_npy(path, *, threads=None, progress=None, block_records=65536)

    Recompute every record of a ``.npy`` dpa wrote from its provenance and
    compare bit for bit.

    The ids are ``start_id`` (and ``step``) of the provenance, or, when it
    records ``"ids": "sample_id"`` (an export of a shuffled or padded
    distributed stream), the file's own ``sample_id`` column, whose SHA-256
    must then equal the provenance's ``ids_sha256``.

    Returns the number of records checked.  Raises :class:`VerificationError`
    naming the first mismatch (record, sample id, field, both values) or an
    id list that is not the one exported, or :class:`InputError` when the
    file has no usable provenance.
    """
    p = check_path(path)
    side = provenance_path(p)
    dtype, count, _ = read_layout(p, check_size=False)
    prov = read_provenance(p)
    if prov is None:
        raise InputError(
            f"{p}: no provenance ({side.name}), so records cannot be recomputed"
        )
    config = config_of(prov, str(side))
    recorded = recorded_ids(prov, str(side))
    if prov.get("count") not in (None, count):
        raise InputError(f"{p}: holds {count} records but its provenance says {prov.get('count')}")
    with_hash = "hash" in (dtype.names or ())
    if dtype != record_dtype(with_hash):
        raise InputError(f"{p}: dtype {dtype} is not one of dpa's record dtypes")
    seeding = seeding_of(prov, str(side))
    if with_hash and not seeding.has_hash:
        raise InputError(f"{side}: provenance scheme {seeding.scheme!r} has no hash, but {p} "
                         "has a hash column")
    check_id_range(recorded, count, str(side))
    sha = hashlib.sha256() if recorded.sha256 is not None else None
    expected = np.empty(max(1, min(block_records, count)), dtype)
    for i, block in iter_npy_blocks(p, block_records):
        if sha is not None:
            ids: Any = _id_column(p, block, i)
            sha.update(ids)
            hint = ""
        else:
            ids = recorded.block(i, len(block))
            hint = "is the provenance's start_id right?"
        exp = generate_seeded(ids, config, seeding, out=expected[:len(block)], hash=with_hash,
                              threads=threads)
        err = mismatch_error(str(p), block, exp, i, ids, hint)
        if err is not None:
            raise err
        if progress is not None:
            progress(i + len(block), count)
    if sha is not None and sha.hexdigest() != recorded.sha256:
        raise VerificationError(
            f"{p}: the sample_id column is not the exported id list: its SHA-256 is "
            f"{sha.hexdigest()} but the provenance's ids_sha256 is {recorded.sha256}",
            field="sample_id", found=sha.hexdigest(), expected=recorded.sha256)
    return count


def _id_column(p: Path, block: np.ndarray, first: int) -> np.ndarray:
    """The block's ``sample_id`` column, checked to hold sample ids."""
    ids = np.ascontiguousarray(block["sample_id"])  # '<i8', as record_dtype has it
    negative = np.flatnonzero(ids < 0)
    if len(negative):
        k = int(negative[0])
        raise VerificationError(
            f"{p}: record {first + k}: sample_id {int(ids[k])} is not a sample id "
            "(negative)", index=first + k, field="sample_id", found=int(ids[k]))
    return ids
