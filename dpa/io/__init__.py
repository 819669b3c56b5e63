"""Parameters on disk: ``.npy`` export, DPA JSON conversion, statistics, provenance.

One concern per module, each using only those above it:

``errors``
    :class:`DpaIOError` and its kinds, one-line messages naming the file,
    the record and the field.
``npy``
    ``.npy`` headers (numpy's own bytes), size checks, :func:`load`,
    :func:`iter_npy_blocks` (bounded-memory reading).
``jsonread``
    The incremental JSON reader for DPA 0.2.1's files and JSON Lines; small
    JSON files (sidecars, journals) read whole, bounded and safely.
``provenance``
    The sidecar ``OUT.npy.json``: its paths, its schema (written and read),
    the keys ``--resume`` compares.
``files``
    How dpa creates files: exclusively, never through a link, flushed and
    renamed into place (never over a file that appeared); the free-space check.
``journal``
    The resume journal ``OUT.npy.partial.json``, which only claims flushed bytes.
``destination``
    The checks before writing, the lock against a second writer, signals held
    during the rename, and finishing a commit cut short by a kill.
``writer``
    ``_PartialNpy``: the temporary ``OUT.npy.partial``, two page-aligned
    staging buffers of whole batches written by one writer thread while the
    other is filled, ``O_DIRECT``, checkpoints, ``fsync`` and the commit by
    rename.
``save``
    :func:`save_npy` and its batch sizes (:func:`export_batch_size`).
``verify``, ``stats``
    :func:`verify_npy`; :func:`compute_stats` (DPA's statistics blocks, bit for
    bit) and :func:`stats_report`.
``convert``
    :func:`convert_json` and :func:`read_config`.
``manifest``, ``shards``, ``dataset``
    Sharded datasets: a directory of ``.npy`` shards and a manifest written
    last.  ``manifest``: the format (:class:`DatasetPlan`, :class:`ShardInfo`,
    the manifest read and written atomically); ``shards``: writing
    (:func:`write_shard`, one task; :func:`save_dataset` with a runner, this
    process or a Dask cluster, :mod:`dpa.dask`); ``dataset``: reading
    (:class:`Dataset`, one lazy array; :func:`load` of a file or a directory,
    :func:`verify_dataset`, :func:`dataset_stats_report`).

Nothing here holds more than a batch: exports and conversions of any size run
in memory set by ``max_memory_mb``, and statistics and verification read
through one reused block.
"""

from ..records import MAX_SAMPLE_ID
from .errors import DpaIOError, InputError, OutputError, ResumeError, VerificationError
from .npy import iter_npy_blocks
from .provenance import PROVENANCE_FORMAT, partial_paths, provenance_path, read_provenance
from .writer import _PartialNpy, fcntl  # fcntl: None where there is no flock
from .save import (
    DEFAULT_MAX_MEMORY_MB,
    MAX_BATCH_RECORDS,
    WRITE_BUFFER_BATCHES,
    SaveResult,
    export_batch_size,
    export_buffer_records,
    save_npy,
)
from .verify import verify_npy
from .stats import StatsAccumulator, StatsReport, _sqrt_ratio, compute_stats, stats_report
from .jsonread import _JsonText
from .convert import convert_json, read_config
from .manifest import DatasetPlan, ShardInfo
from .shards import (DatasetResult, LocalRunner, ShardRunner, WriteOptions, save_dataset,
                     write_shard)
from .dataset import Dataset, dataset_stats_report, is_dataset, load, verify_dataset

__all__ = [
    "DEFAULT_MAX_MEMORY_MB",
    "Dataset",
    "DatasetPlan",
    "DatasetResult",
    "LocalRunner",
    "ShardInfo",
    "ShardRunner",
    "WriteOptions",
    "MAX_BATCH_RECORDS",
    "WRITE_BUFFER_BATCHES",
    "DpaIOError",
    "InputError",
    "OutputError",
    "ResumeError",
    "VerificationError",
    "SaveResult",
    "StatsAccumulator",
    "StatsReport",
    "compute_stats",
    "convert_json",
    "dataset_stats_report",
    "export_batch_size",
    "export_buffer_records",
    "is_dataset",
    "iter_npy_blocks",
    "load",
    "partial_paths",
    "provenance_path",
    "read_config",
    "read_provenance",
    "save_dataset",
    "save_npy",
    "stats_report",
    "verify_dataset",
    "verify_npy",
    "write_shard",
]
