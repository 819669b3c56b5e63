"""Sharded export on a Dask ``LocalCluster`` against the single-process export, in one run.

For each scheme (``philox``: 50,000,000 records; ``dpa``: 5,000,000; with
``quick`` 2,000,000 and 200,000), rounds alternate between

- the baseline: ``save_npy`` of ``range(N)`` into one ``.npy`` by one process
  with all its kernel threads (``python -m dpa.bench.io --child export``), and
- ``save_dataset`` of the same records on a ``LocalCluster`` of 2 worker
  processes with one thread each (``ClientRunner``, automatic shard size),
  in a child process that starts the cluster, imports dpa on the workers,
  exports ``N // 10`` records in shards of the size used for ``N`` (warm-up,
  and the small size of the memory figure), then the ``N`` records that are
  timed.

The same 2 cores do the work both ways, so ``ratio`` = sharded rate / single
rate (medians over the rounds) measures the engine's overhead: Dask's
scheduling, two processes, a file, an ``fsync`` and a SHA-256 per shard.
The target is 0.85.  ``worker_peak_rss_mb`` is the largest worker's peak RSS
(``VmHWM``) after the ``N``-record export, ``worker_peak_rss_small_mb`` after
the ``N // 10`` one on the same workers: equal within noise when memory does
not grow with N.  Starting the cluster is not timed (``cluster_start_s``
reports it): a cluster serves many exports.  CPU time per record is reported
for both, since on a busy machine it, not the disk, decides the rates: the
sharded export also computes the SHA-256 of every shard (25 ns per 48-byte
record on one core), which the single file does not.

Run alone: ``python -m dpa.bench.scale [--quick] [--json]``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..dask import ClientRunner, cluster_client
from ..io import DatasetPlan, save_dataset
from ..seeding import Seeding
from ..stream import ParamStream
from .child import cpu_seconds, measure, peak_rss_mb, section_main

__all__ = ["run"]

_FULL = {"cases": (("philox", 50_000_000), ("dpa", 5_000_000)), "rounds": 5}
_QUICK = {"cases": (("philox", 2_000_000), ("dpa", 200_000)), "rounds": 1}
_WORKERS = 2
_TARGET = 0.85


def _warm(dask_worker: Any = None) -> int:
    """On a worker: import what a shard task runs (as a long-lived cluster has)."""
    import dpa.io  # noqa: F401

    return os.getpid()


def _child_sharded(scheme: str, n: int, path: str, workers: int) -> dict[str, Any]:
    """Start a LocalCluster, export N // 10 then N records to shards; time the second."""
    t = time.perf_counter()
    with cluster_client(local_workers=workers) as client:
        start = time.perf_counter() - t
        client.run(_warm)
        runner = ClientRunner(client)
        small = max(1, n // 10)
        size = DatasetPlan.auto_shard_records(  # the same shards as at N
            n, runner.parallelism, Seeding.from_args(scheme).ns_per_record)
        save_dataset(ParamStream(range(small), scheme=scheme), path, shard_records=size,
                     runner=runner)
        rss_small = max(client.run(peak_rss_mb).values())
        cpu = sum(client.run(cpu_seconds).values())
        t, here = time.perf_counter(), cpu_seconds()
        res = save_dataset(ParamStream(range(n), scheme=scheme), path, force=True, runner=runner)
        seconds = time.perf_counter() - t
        here = cpu_seconds() - here
        cpu = sum(client.run(cpu_seconds).values()) - cpu
        rss = max(client.run(peak_rss_mb).values())
    return {"seconds": seconds, "cpu_s": cpu, "client_cpu_s": here,
            "cluster_start_s": start, "shards": len(res.shards),
            "shard_records": res.manifest["shard_records"], "bytes": res.nbytes,
            "n_small": small, "worker_peak_rss_small_mb": rss_small, "worker_peak_rss_mb": rss}


def run(quick: bool = False, *, directory: str | os.PathLike | None = None
        ) -> list[dict[str, Any]]:
    """run(quick=False, *, directory=None)

    Measure the sharded export against the single-process one; one row per scheme.

    Parameters
    ----------
    quick : bool
        2M philox and 200k DPA-scheme records, one round (about half a
        minute), instead of 50M and 5M, five rounds (a few minutes, 2.4 GB of
        disk at a time).
    directory : str or PathLike, optional
        Where to write (default: a temporary directory in the current one, so
        that the disk measured is the one in use); everything is removed.

    Returns
    -------
    list of dict
        Keys: ``bench`` ("scale"), ``name`` ("sharded_export"), ``case``
        (the scheme), ``n``, ``workers``, ``shards``, ``shard_records``,
        ``per_s`` (sharded, median), ``single_per_s`` (the baseline,
        median), ``ratio``, ``target``, ``rounds``, ``per_s_runs`` and
        ``single_per_s_runs`` (every round), ``worker_peak_rss_mb``,
        ``worker_peak_rss_small_mb``, ``n_small``, ``single_peak_rss_mb``,
        ``cluster_start_s``, and the CPU time per record of the workers
        (``cpu_ns_per_record``), of the client process with its scheduler
        (``client_cpu_ns_per_record``) and of the single process
        (``single_cpu_ns_per_record``).
    """
    sizes = _QUICK if quick else _FULL
    base = Path(directory) if directory is not None else Path.cwd()
    work = Path(tempfile.mkdtemp(prefix="dpa-bench-scale-", dir=base))
    rows = []
    try:
        for scheme, n in sizes["cases"]:
            single, sharded = [], []
            for r in range(sizes["rounds"]):
                for kind in (("single", "sharded") if r % 2 == 0 else ("sharded", "single")):
                    if kind == "single":
                        path = work / "one.npy"
                        single.append(measure("dpa.bench.io", "export", "scheme", scheme,
                                              "n", n, "path", path))
                        path.unlink()
                        (work / "one.npy.json").unlink()
                    else:
                        sharded.append(measure("dpa.bench.scale", "sharded", scheme, n,
                                               work / "ds", _WORKERS))
                        shutil.rmtree(work / "ds")
            rate = statistics.median(n / m["seconds"] for m in sharded)
            base_rate = statistics.median(n / m["seconds"] for m in single)
            last = sharded[-1]
            rows.append({
                "bench": "scale", "name": "sharded_export", "case": scheme, "n": n,
                "workers": _WORKERS, "shards": last["shards"],
                "shard_records": last["shard_records"], "per_s": rate,
                "single_per_s": base_rate, "ratio": rate / base_rate, "target": _TARGET,
                "rounds": sizes["rounds"],
                "per_s_runs": [n / m["seconds"] for m in sharded],
                "single_per_s_runs": [n / m["seconds"] for m in single],
                "worker_peak_rss_mb": statistics.median(m["worker_peak_rss_mb"] for m in sharded),
                "worker_peak_rss_small_mb": statistics.median(
                    m["worker_peak_rss_small_mb"] for m in sharded),
                "n_small": last["n_small"],
                "single_peak_rss_mb": statistics.median(m["peak_rss_mb"] for m in single),
                "cluster_start_s": statistics.median(m["cluster_start_s"] for m in sharded),
                "cpu_ns_per_record": statistics.median(m["cpu_s"] for m in sharded) / n * 1e9,
                "client_cpu_ns_per_record": statistics.median(
                    m["client_cpu_s"] for m in sharded) / n * 1e9,
                "single_cpu_ns_per_record": statistics.median(
                    m["cpu_s"] for m in single) / n * 1e9,
            })
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _child(argv: list[str]) -> dict[str, Any]:
    kind, scheme, n, path, workers = argv
    if kind != "sharded":
        raise ValueError(f"unknown child measurement {kind!r}")
    return _child_sharded(scheme, int(n), path, int(workers))


def _show(r: dict[str, Any]) -> str:
    """One row as a line of ``python -m dpa.bench.scale``."""
    return (f"scale {r['case']:<6} {r['n']:>11,}  sharded on {r['workers']} workers "
            f"({r['shards']} shards of {r['shard_records']:,}) {r['per_s'] / 1e6:7.3f} M/s  "
            f"single process {r['single_per_s'] / 1e6:7.3f} M/s  ratio {r['ratio']:.3f} "
            f"(target {r['target']})  worker peak RSS {r['worker_peak_rss_mb']:.1f} MB at N, "
            f"{r['worker_peak_rss_small_mb']:.1f} MB at N/10  CPU per record: workers "
            f"{r['cpu_ns_per_record']:.0f} ns + client {r['client_cpu_ns_per_record']:.0f} ns, "
            f"single process {r['single_cpu_ns_per_record']:.0f} ns  "
            f"(medians of {r['rounds']} rounds)")


def _main(argv: list[str] | None = None) -> int:
    return section_main(argv, prog="python -m dpa.bench.scale",
                        description=__doc__.splitlines()[0], child=_child, run=run, show=_show)


if __name__ == "__main__":
    sys.exit(_main())
