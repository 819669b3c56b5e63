"""``python -m dpa convert``: DPA's JSON files (or JSON Lines) into a ``.npy``."""

from __future__ import annotations

import argparse

from ..io import convert_json, export_batch_size
from ..records import record_dtype
from ..seeding import Seeding
from .options import (add_config_options, add_output_options, add_seeding_options,
                      add_write_options, config_from_args, direct_from_args, library_checks,
                      path)
from .output import progress_bar, summary
from .parser import program

EXAMPLES = """\
examples:
  {prog} convert augmentations.json -o params.npy --verify
  {prog} convert stream.json -o params.npy --start-id 1000
  {prog} convert records.jsonl -o params.npy --preset mild --verify
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="turn DPA's JSON files (or JSON Lines) into a .npy",
                       description="Convert a file written by DPA 0.2.1's save_augmentation_chain "
                                   "or save_augmentation_stream, a JSON array of records, or "
                                   "JSON Lines, into a .npy, reading it incrementally. Record k "
                                   "gets sample id --start-id + k.",
                       epilog=EXAMPLES.format(prog=program()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", type=path, help="the JSON or JSON Lines file")
    add_output_options(p, "sample id of the first record")
    p.add_argument("--format", choices=("auto", "dpa", "jsonl"), default="auto",
                   help="input format (default: from the first key)")
    p.add_argument("--verify", action="store_true",
                   help="recompute every record (and the statistics block) with the core "
                        "kernel; the first mismatch is an error")
    keep = p.add_mutually_exclusive_group()
    keep.add_argument("--hash", dest="hash", action="store_const", const=True, default=None,
                      help="keep the records' hash field (default: if the records have one)")
    keep.add_argument("--no-hash", dest="hash", action="store_const", const=False,
                      help="drop the records' hash field")
    add_seeding_options(p, "the records came from DPA's rank-aware seeding",
                        "with --rank: DPA's base seed")
    add_config_options(p, "default: the file's metadata.config; needed for --verify otherwise")
    add_write_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    with library_checks():
        Seeding.from_args("dpa", args.rank, args.base_seed).kernel(config)
        # The largest records a conversion may write (with the hash) must fit.
        export_batch_size(record_dtype(True).itemsize, args.max_memory_mb)
    bar = progress_bar(None, "convert", args.quiet, unit="records")
    try:
        result = convert_json(
            args.input, args.output, start_id=args.start_id, config=config, rank=args.rank,
            base_seed=args.base_seed, hash=args.hash, verify=args.verify, format=args.format,
            force=args.force, max_memory_mb=args.max_memory_mb, threads=args.threads,
            progress=bar, direct=direct_from_args(args),
        )
    finally:
        bar.close()
    if not args.quiet:
        print(summary(result, "records", ", verified" if args.verify else ""))
    return 0
