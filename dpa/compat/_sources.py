"""What dpa.compat's consumers take from their input: records instead of dicts.

DPA's savers and statistics iterate dicts.  When their input is a dpa stream
that nothing has to watch item by item (no ``verbose`` output or progress
callback of DPA's, no chunks), :func:`array_stream` hands it over so that the
consumer claims its ids and generates structured arrays in blocks from the
compiled kernel instead; the records, hashes and extra keys (the distributed
``rank``) are the ones the dicts would have held.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..distributed import DistributedParamStream
from ..stream import ParamStream

__all__ = ["BLOCK", "array_stream", "dict_extra", "record_blocks"]

#: Records generated (or dicts gathered) at a time by the consumers.
BLOCK = 1 << 15


def dict_extra(stream: ParamStream) -> dict[str, Any]:
    """The keys every dict of ``stream`` carries besides the parameters (``rank``)."""
    if isinstance(stream, DistributedParamStream):
        return {"rank": stream.rank}
    return {}


def array_stream(obj: Any) -> ParamStream | None:
    """``obj`` if its records can be generated as arrays instead of iterated, else None.

    That is a :class:`dpa.ParamStream` iterated as single dicts (no
    ``chunk_size``) whose iteration has no observable effect of its own
    (dpa.compat's streams with ``verbose`` or a ``progress_callback`` say so
    through ``_dpa_hooked``).
    """
    if (isinstance(obj, ParamStream) and obj.chunk_size is None
            and not getattr(obj, "_dpa_hooked", False)):
        return obj
    return None


def record_blocks(stream: ParamStream, block: int = BLOCK) -> Iterator[np.ndarray]:
    """Claim the rest of ``stream`` and generate it in blocks of records (with the
    hash where the scheme has one), as iterating it would have given them."""
    has_hash = stream.param_seeding.has_hash
    rest = stream.claim()
    for a in range(0, len(rest), block):
        yield stream.generate(rest[a:a + block], hash=has_hash)
