"""Records as Dask arrays: one chunk per block, each made by ``dpa.generate``.

:func:`generate` mirrors :func:`dpa.generate`: the same ids, config and
seeding keywords give the same records, equal bit for bit, whatever the
chunks, the scheduler or the number of workers, since every record is a
function of its id alone.  The chunks of a range are described by their
place in the range (no id array is made or sent); the chunks of an array of
ids are computed from that array's chunks.  Each chunk is generated with one
kernel thread: Dask's workers and threads are the parallelism.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np

from .._validate import check_bool, check_ids
from ..config import AugmentationConfig
from ..engine import generate_seeded
from ..records import record_dtype
from ..seeding import Seeding
from ..stream import ParamStream

__all__ = ["DEFAULT_CHUNK_RECORDS", "generate"]

#: Records per chunk of a range by default: 1 Mi records (48 MiB of 48-byte
#: records), within Dask's advice of chunks of tens to hundreds of MiB.
DEFAULT_CHUNK_RECORDS = 1 << 20


def _range_chunk(start: int, step: int, config: AugmentationConfig, seeding: Seeding,
                 hash: bool, block_info: Any = None) -> np.ndarray:
    """The chunk of ``range(start, ..., step)`` that Dask asks for (its location)."""
    (a, b), = block_info[None]["array-location"]
    return generate_seeded(range(start + a * step, start + b * step, step), config, seeding,
                           hash=hash, threads=1)


def _ids_chunk(ids: np.ndarray, config: AugmentationConfig, seeding: Seeding,
               hash: bool) -> np.ndarray:
    return generate_seeded(ids, config, seeding, hash=hash, threads=1)


def generate(ids: range | np.ndarray | da.Array, config: AugmentationConfig | None = None, *,
             chunks: int | tuple[int, ...] = DEFAULT_CHUNK_RECORDS, hash: bool = False,
             scheme: str = "dpa", rank: int | None = None, base_seed: int = 0, epoch: int = 0,
             param_seeding: Seeding | None = None) -> da.Array:
    """generate(ids, config=None, *, chunks=1048576, hash=False, scheme="dpa", rank=None, base_seed=0, epoch=0, param_seeding=None)

    The records of ``ids`` as a Dask array: :func:`dpa.generate` by chunks.

    Parameters
    ----------
    ids : range, 1-D integer ndarray or dask array
        A ``range`` (any step) is cut into ``chunks``; a NumPy array is cut
        into ``chunks`` too; a Dask array keeps its own chunks.
    config : AugmentationConfig, optional
        DPA's defaults when omitted.
    chunks : int or tuple of int
        Records per chunk, or the chunk sizes (ranges and NumPy arrays).
    hash, scheme, rank, base_seed, epoch
        As in :func:`dpa.generate`.
    param_seeding : Seeding, optional
        The seeding as a value (any :class:`dpa.Seeding`, e.g. from
        :meth:`dpa.Seeding.for_rank`), instead of the four keywords.

    Returns
    -------
    dask.array.Array
        1-D, of ``dpa.record_dtype(hash)``; element ``k`` is the record of
        ``ids[k]``.  ``.compute()`` equals ``dpa.generate(ids, ...)``.

    Examples
    --------
    >>> import dpa.dask
    >>> x = dpa.dask.generate(range(10_000_000), scheme="philox", chunks=1_000_000)
    >>> x["rotation"].mean().compute()  # doctest: +SKIP
    """
    # A stream of no ids checks the config and the seeding arguments as every
    # stream does (now, not in a worker), and resolves them to one Seeding.
    spec = ParamStream(range(0), config, scheme=scheme, rank=rank, base_seed=base_seed,
                       epoch=epoch, param_seeding=param_seeding)
    seeding = spec.param_seeding
    if check_bool(hash, "hash") and not seeding.has_hash:
        raise ValueError(f"hash=True needs scheme='dpa'; scheme={seeding.scheme!r} has no hash")
    dtype = record_dtype(hash)
    meta = np.empty(0, dtype)
    common = {"config": spec.config, "seeding": seeding, "hash": hash}
    if isinstance(ids, da.Array):
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise TypeError(f"ids should be a 1-D dask array of integers, but has "
                            f"{ids.ndim} dimensions and dtype {ids.dtype}")
        return ids.map_blocks(_ids_chunk, dtype=dtype, meta=meta, token="dpa-generate", **common)
    n, checked = check_ids(ids)
    sizes = da.core.normalize_chunks(chunks, shape=(n,))
    if isinstance(checked, range):
        return da.map_blocks(_range_chunk, dtype=dtype, meta=meta, chunks=sizes,
                             token="dpa-generate", start=checked.start, step=checked.step,
                             **common)
    return da.from_array(np.asarray(checked), chunks=sizes).map_blocks(
        _ids_chunk, dtype=dtype, meta=meta, token="dpa-generate", **common)
