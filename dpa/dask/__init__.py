"""Dask integration: records as ``dask.array`` chunks, sharded exports on a cluster.

Needs the optional extra: ``pip install 'dpa-augment[dask]'`` (``dask[array]`` and
``distributed``).  Importing ``dpa`` never imports Dask; importing
``dpa.dask`` does.  dpa adds no scheduler, queue or protocol of its own:
Dask's ``distributed`` places the tasks, moves the results and redoes the
work of a worker that is lost.

``arrays``
    :func:`generate`: the records of a range of ids (any step) or of an
    array of ids (NumPy or Dask) as a Dask array, one chunk per block, each
    made by :func:`dpa.generate` where the chunk is computed.
``export``
    :class:`ClientRunner`: the shards of :func:`dpa.io.save_dataset` as tasks
    on a ``distributed.Client``; :func:`cluster_client`: a client of an
    existing scheduler or of a ``LocalCluster`` (the command line's
    ``--scheduler`` and ``--local-workers``).

See docs/scale-out.md.
"""

try:
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "dpa.dask needs Dask, which is not installed: install the extra with "
        "pip install 'dpa-augment[dask]'"
    ) from exc

from .arrays import DEFAULT_CHUNK_RECORDS, generate
from .export import ClientRunner, cluster_client

__all__ = ["DEFAULT_CHUNK_RECORDS", "ClientRunner", "cluster_client", "generate"]
