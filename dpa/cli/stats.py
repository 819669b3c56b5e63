"""``python -m dpa stats``: DPA's statistics block of a ``.npy``."""

from __future__ import annotations

import argparse
import json
import sys

from ..io import dataset_stats_report, is_dataset, load, stats_report
from .options import fields_of_file, path, threads_option
from .output import progress_bar, table
from .parser import program

EXAMPLES = """\
examples:
  {prog} stats params.npy
  {prog} stats params.npy --json > statistics.json
  {prog} stats params.npy --verify    # also recompute every record
"""

_METHODS = {"exact": "exact: statistics.mean/stdev, as DPA's save_augmentation_chain",
            "welford": "welford: as DPA's save_augmentation_stream"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="DPA's statistics of a .npy",
                       description="Mean, stdev, min, max and count per field, as DPA's "
                                   "statistics block gives them, computed in bounded memory.",
                       epilog=EXAMPLES.format(prog=program()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE.npy", type=path,
                   help="a .npy, or a dataset directory (export --shards)")
    p.add_argument("--json", action="store_true", help="print DPA's statistics block as JSON")
    p.add_argument("--method", choices=("auto", *_METHODS), default="auto",
                   help="exact: statistics.mean/stdev (DPA's save_augmentation_chain); "
                        "welford: DPA's save_augmentation_stream; auto: as the source file "
                        "was written, from the provenance (default)")
    p.add_argument("--fields", metavar="A,B", help="comma-separated fields (default: DPA's five)")
    p.add_argument("--verify", action="store_true",
                   help="also recompute every record from the provenance")
    threads_option(p, "threads for --verify")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _warn(message: str) -> None:
    print(f"dpa stats: warning: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    fields = None
    if args.fields is not None:
        dtype = load(args.file).dtype
        fields = fields_of_file(args.file, args.fields, dtype.names or (),
                                lambda f: dtype[f].kind == "f" and not dtype[f].shape,
                                "float fields")
    bar = progress_bar(None, "verify", args.quiet or not args.verify, unit="records")
    try:
        report_of = dataset_stats_report if is_dataset(args.file) else stats_report
        report = report_of(args.file, method=args.method, fields=fields, verify=args.verify,
                           threads=args.threads, progress=bar, on_warning=_warn)
    finally:
        bar.close()
    if report.verified is not None and not args.json:
        print(f"{report.path}: all {report.verified:,} records equal the core kernel's")
    if args.json:
        print(json.dumps(report.statistics, indent=2))
        return 0
    print(f"{report.path}: {report.count:,} records; method {_METHODS[report.method]}")
    rows = [[name, repr(s["mean"]), repr(s["stdev"]), repr(s["min"]), repr(s["max"]),
             str(s["count"])] for name, s in report.statistics.items()]
    print(table(["field", "mean", "stdev", "min", "max", "count"], rows, {5}))
    if report.source is not None:
        if report.differing:
            print(f"differs from the statistics block of {report.source}: "
                  f"{', '.join(report.differing)}")
        else:
            print(f"identical to the statistics block of {report.source}")
    return 0
