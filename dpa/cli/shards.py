"""``python -m dpa export --shards``: a sharded dataset, here or on a Dask cluster.

The options of the ``export`` command that make ``-o OUT`` a dataset
directory (:func:`dpa.io.save_dataset`), and the branch of its ``run`` that
writes one: the shards are written by this process (no option), by the
cluster of a running Dask scheduler (``--scheduler ADDRESS``) or by a
``LocalCluster`` (``--local-workers N``); the last two need the ``dask``
extra, and say so when it is missing.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from .._progress import format_count
from ..io import DatasetResult, LocalRunner, ShardRunner, WriteOptions, save_dataset
from ..stream import ParamStream
from .options import UsageError, direct_from_args, positive_int
from .output import progress_bar

__all__ = ["add_options", "check", "run"]

def add_options(p: argparse.ArgumentParser) -> None:
    """``--shards``, ``--shard-records``, ``--scheduler``, ``--local-workers``."""
    g = p.add_argument_group("sharded dataset (docs/scale-out.md)")
    g.add_argument("--shards", action="store_true",
                   help="write OUT as a dataset directory: .npy shards and a manifest written "
                        "last (read it with stats, head, dpa.io.load)")
    g.add_argument("--shard-records", type=positive_int, metavar="N",
                   help="records per shard (default: about 4 shards per worker thread, "
                        "each at least ~1 s of work, 64Ki to 8Mi records; when resuming, "
                        "the interrupted export's)")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="write the shards on the cluster of this Dask scheduler "
                            "(tcp://HOST:8786); needs the dask extra")
    where.add_argument("--local-workers", type=positive_int, metavar="N",
                       help="write the shards on a local Dask cluster of N worker processes; "
                            "needs the dask extra")


def check(args: argparse.Namespace) -> None:
    """The sharding options need ``--shards``."""
    if not args.shards:
        given = [o for o, v in (("--shard-records", args.shard_records),
                                ("--scheduler", args.scheduler),
                                ("--local-workers", args.local_workers)) if v is not None]
        if given:
            raise UsageError(f"{given[0]} needs --shards")


@contextlib.contextmanager
def _runner(args: argparse.Namespace) -> Iterator[tuple[ShardRunner, str]]:
    """The runner the options ask for, and where it runs (for the summary)."""
    if args.scheduler is None and args.local_workers is None:
        yield LocalRunner(), "in this process"
        return
    option = "--scheduler" if args.scheduler is not None else "--local-workers"
    try:
        from ..dask import ClientRunner, cluster_client
    except ImportError as exc:
        raise UsageError(f"{option} needs Dask, which is not installed here: install the extra "
                         "with pip install 'dpa-augment[dask]'") from exc
    with cluster_client(args.scheduler, args.local_workers) as client:
        runner = ClientRunner(client)
        workers = len(client.nthreads())
        yield runner, (f"on {workers} Dask worker{'s' * (workers != 1)}, "
                       f"{runner.parallelism} threads")


def _summary(result: DatasetResult, where: str) -> str:
    kept = (f"; {result.kept} of {len(result.shards)} shards were complete and kept"
            if result.kept else "")
    return (f"wrote {result.path}/: {result.count:,} samples in {len(result.shards)} shards, "
            f"{result.nbytes:,} bytes in {result.seconds:.2f} s "
            f"({format_count(result.samples_per_s)} samples/s {where}{kept})")


def run(args: argparse.Namespace, stream: ParamStream) -> int:
    """Write ``stream`` as the dataset ``args.output``."""
    options = WriteOptions(max_memory_mb=args.max_memory_mb, threads=args.threads,
                           direct=direct_from_args(args), batch_size=args.batch_size or None)
    bar = progress_bar(len(stream), "export", args.quiet)

    def progress(done: int, total: int, shards_done: int, shards: int) -> None:
        bar.label = f"export {shards_done}/{shards} shards"
        bar(done, total)

    try:
        with _runner(args) as (runner, where):
            result = save_dataset(stream, args.output, hash=args.hash,
                                  shard_records=args.shard_records, force=args.force,
                                  resume=args.resume, options=options, runner=runner,
                                  progress=progress)
    finally:
        bar.close()
    if not args.quiet:
        print(_summary(result, where))
    return 0
