"""Sharded exports on a Dask cluster: shards as tasks of a ``distributed.Client``.

:class:`ClientRunner` is the runner of :func:`dpa.io.save_dataset` that
submits :func:`dpa.io.write_shard` once per shard and hands back the results
as they complete.  Dask does the rest: it places the tasks on the workers'
threads, and when a worker is lost it runs that worker's shards again
elsewhere (a shard task is a pure function of the plan and its index, and
keeps a shard already finished, so running it twice is harmless).  A shard
whose task fails, or whose workers keep dying (Dask's ``KilledWorker``),
fails the export with the shard named; the finished shards stay, and
``resume=True`` (``--resume``) finishes the dataset.

:func:`cluster_client` is the command line's ``--scheduler ADDRESS`` (a
client of a running scheduler) or ``--local-workers N`` (a ``LocalCluster``
of ``N`` worker processes on this machine, on the loopback interface).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from distributed import Client, LocalCluster, as_completed

from .._validate import check_instance, check_positive_int
from ..io import DpaIOError, OutputError, ShardInfo, WriteOptions, write_shard
from ..io.manifest import DatasetPlan, shard_name

__all__ = ["ClientRunner", "cluster_client"]


class ClientRunner:
    """ClientRunner(client)

    Write the shards of :func:`dpa.io.save_dataset` as tasks on ``client``'s
    cluster, one kernel thread per task (Dask's worker threads are the
    parallelism; the automatic shard size gives each a few shards).

    Examples
    --------
    >>> from distributed import Client
    >>> import dpa, dpa.io, dpa.dask
    >>> client = Client("tcp://scheduler:8786")  # doctest: +SKIP
    >>> stream = dpa.ParamStream(range(10**9), scheme="philox")
    >>> dpa.io.save_dataset(stream, "/shared/params", runner=dpa.dask.ClientRunner(client))  # doctest: +SKIP
    """

    task_threads = 1

    def __init__(self, client: Client) -> None:
        self.client = check_instance(client, "client", Client, "a distributed.Client")

    @property
    def parallelism(self) -> int:
        """Threads of the cluster's workers now."""
        return max(1, sum(self.client.nthreads().values()))

    def write_shards(self, directory: Path, plan: DatasetPlan, options: WriteOptions,
                     indices: Iterable[int]) -> Iterator[ShardInfo]:
        """Submit one :func:`dpa.io.write_shard` task per index; yield the
        results as they complete.  Tasks still queued are cancelled if the
        caller stops early or a shard fails."""
        run = uuid.uuid4().hex[:12]
        futures = {self.client.submit(write_shard, directory, plan, index, options,
                                      key=f"dpa-shard-{run}-{index:06d}", retries=0): index
                   for index in indices}
        try:
            for future in as_completed(futures):
                index = futures[future]
                try:
                    yield future.result()
                except DpaIOError:
                    raise
                except Exception as exc:  # KilledWorker, a lost connection, a bug
                    raise OutputError(f"{directory / shard_name(index)}: shard {index} failed "
                                      f"on the cluster: {type(exc).__name__}: {exc}") from exc
        finally:
            self.client.cancel([f for f in futures if not f.done()])


@contextlib.contextmanager
def cluster_client(scheduler: str | None = None, local_workers: int | None = None
                   ) -> Iterator[Client]:
    """cluster_client(scheduler=None, local_workers=None)

    A ``distributed.Client`` for the duration of a ``with`` block: of the
    running scheduler at ``scheduler`` (e.g. ``"tcp://10.0.0.5:8786"``, as
    ``dask scheduler`` prints it), or of a new ``LocalCluster`` of
    ``local_workers`` worker processes with one thread each, listening on
    the loopback interface only and without a dashboard.  Exactly one of the
    two is given.  Connecting gives up after Dask's
    ``distributed.comm.timeouts.connect`` (30 s unless configured, e.g. by
    ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s``) with an ``OSError``.
    """
    if (scheduler is None) == (local_workers is None):
        raise ValueError("give either scheduler or local_workers")
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler:
            raise TypeError(f"scheduler should be an address string, but got {scheduler!r}")
        with Client(scheduler) as client:
            yield client
        return
    workers = check_positive_int(local_workers, "local_workers")
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client
