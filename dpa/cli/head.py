"""``python -m dpa head``: the first records of a ``.npy`` as a table."""

from __future__ import annotations

import argparse

from ..io import InputError, load
from .options import count, fields_of_file, path
from .output import cell, table
from .parser import program

EXAMPLES = """\
examples:
  {prog} head params.npy
  {prog} head params.npy -n 3 --fields sample_id,rotation
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("head", help="print the first records of a .npy",
                       description="Print the first records of a .npy as a table "
                                   "(floats shown exactly, as Python's repr).",
                       epilog=EXAMPLES.format(prog=program()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE.npy", type=path,
                   help="a .npy, or a dataset directory (export --shards)")
    p.add_argument("-n", "--records", type=count, default=10, metavar="N",
                   help="how many records (default 10)")
    p.add_argument("--fields", metavar="A,B", help="comma-separated fields (default: all)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    arr = load(args.file, mmap=True)
    names = list(arr.dtype.names or ())
    if not names:
        raise InputError(f"{args.file}: not an array of records (dtype {arr.dtype})")
    fields = fields_of_file(args.file, args.fields, tuple(names)) or names
    part = arr[:args.records]
    rows = [[cell(rec[f]) for f in fields] for rec in part]
    numeric = {i for i, f in enumerate(fields) if arr.dtype[f].kind in "iuf"}
    print(table(fields, rows, numeric))
    if len(arr) > len(part):
        print(f"... {len(arr) - len(part):,} more of {len(arr):,} records")
    return 0
