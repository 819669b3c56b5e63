"""Measurements in child processes, for the sections that need them (``io``, ``scale``).

A section module runs one measurement per fresh interpreter
(``python -m dpa.bench.SECTION --child KIND ...``), so that its peak RSS is
its own and no page cache or heap state carries over: :func:`measure` runs
one and reads its result, :func:`peak_rss_mb` is what the child reports, and
:func:`section_main` is the module's command line (``--quick``, ``--json``,
``--dir``, and ``--child``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

__all__ = ["cpu_seconds", "measure", "peak_rss_mb", "section_main"]


def peak_rss_mb() -> float | None:
    """This process's peak RSS (``VmHWM``), in MiB.

    Not ``getrusage``: on Linux its ``ru_maxrss`` survives ``exec``, so a
    child would report its parent's peak if that was higher.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cpu_seconds(dask_worker: Any = None) -> float:
    """CPU time (user + system) this process has used, all its threads; the
    argument lets ``Client.run`` call it on Dask workers."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(module: str, *argv: Any) -> dict[str, Any]:
    """Run ``python -m MODULE --child ARGV``; its result plus ``peak_rss_mb``
    (from ``wait4`` when the child could not read its own)."""
    cmd = [sys.executable, "-m", module, "--child", *map(str, argv)]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed: {err.read().decode(errors='replace').strip()}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    if result.get("peak_rss_mb") is None:  # no /proc: an upper bound (see peak_rss_mb)
        result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def section_main(argv: list[str] | None, *, prog: str, description: str,
                 run: Callable[..., list[dict[str, Any]]],
                 show: Callable[[dict[str, Any]], str],
                 child: Callable[[list[str]], dict[str, Any]] | None = None) -> int:
    """The command line of a section run alone: with ``child``, ``--child
    ARGS`` runs ``child(ARGS)`` and prints its result (with
    :func:`peak_rss_mb`) as JSON, and ``--dir DIR`` is passed to ``run`` as
    ``directory`` (sections with children write files); otherwise
    ``run(quick)``.  One ``show(row)`` line per row, or the rows as JSON with
    ``--json``."""
    argv = sys.argv[1:] if argv is None else argv
    if child is not None and argv[:1] == ["--child"]:
        result = child(argv[1:])
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes: a few seconds")
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    if child is not None:
        parser.add_argument("--dir",
                            help="where to write the files (default: the current directory)")
    args = parser.parse_args(argv)
    rows = run(args.quick, directory=args.dir) if child is not None else run(args.quick)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(show(r))
    return 0
