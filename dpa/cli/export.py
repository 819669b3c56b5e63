"""``python -m dpa export``: parameters for N samples into one ``.npy``."""

from __future__ import annotations

import argparse

from ..config import AugmentationConfig
from ..io import export_batch_size, save_npy
from ..records import MAX_SAMPLE_ID, record_dtype
from ..seeding import SCHEMES
from ..stream import ParamStream
from .options import (UsageError, add_config_options, add_output_options, add_seeding_options,
                      add_write_options, config_from_args, direct_from_args, integer,
                      library_checks, positive_int, sample_count)
from .output import progress_bar, summary
from . import shards
from .parser import program

EXAMPLES = """\
examples:
  {prog} export -o params.npy --num-samples 50M --preset aggressive
  {prog} export -o shard3.npy -n 1M --start-id 3000000 --rank 3 --base-seed 42
  {prog} export -o params.npy -n 50M --resume      # continue a killed export
  {prog} export -o custom.npy -n 1000 --rotation-range -10 10 --hash
  {prog} export -o params/ -n 50M --scheme philox --shards --local-workers 2

Before writing, export checks that the file system has room for the whole file.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write parameters for N samples to a .npy",
                       description="Write the parameters of --num-samples samples to one .npy "
                                   "(a structured array of dpa's record dtype), in batches, "
                                   "atomically, with provenance in OUT.npy.json.",
                       epilog=EXAMPLES.format(prog=program()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_output_options(p, "first sample id")
    p.add_argument("-n", "--num-samples", required=True, type=sample_count, metavar="N",
                   help="how many samples (50000000, 50_000_000 or 50M)")
    p.add_argument("--scheme", choices=SCHEMES, default="dpa",
                   help="dpa: DPA 0.2.1 bit for bit (default); philox: the counter-based scheme")
    add_seeding_options(p, "DPA's rank-aware seeding: this rank",
                        "with --rank: DPA's base seed; with --scheme philox: the key")
    p.add_argument("--epoch", type=integer, default=0, help="--scheme philox only: the epoch")
    p.add_argument("--hash", action="store_true",
                   help=f"include DPA's hex digest ({record_dtype(True).itemsize}-byte records)")
    add_config_options(p, "default: DPA's defaults, the moderate preset")
    add_write_options(p)
    g = p.add_argument_group("batches and resuming")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted export of the same parameters")
    g.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="records per batch (default: from --max-memory-mb)")
    g.add_argument("--checkpoint-seconds", type=float, default=1.0, metavar="S",
                   help="how often progress is made durable for --resume (default %(default)s)")
    shards.add_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    shards.check(args)
    config = config_from_args(args) or AugmentationConfig()
    n, start = args.num_samples, args.start_id
    if start + n - 1 > MAX_SAMPLE_ID:
        raise UsageError(f"--start-id + --num-samples - 1 = {start + n - 1} exceeds 2**63-1")
    if not args.checkpoint_seconds >= 0:  # NaN too
        raise UsageError(f"--checkpoint-seconds must be >= 0, got {args.checkpoint_seconds}")
    if args.hash and args.scheme != "dpa":
        raise UsageError("--hash needs --scheme dpa (philox has no hash)")
    with library_checks():
        stream = ParamStream(range(start, start + n), config, scheme=args.scheme,
                             rank=args.rank, base_seed=args.base_seed, epoch=args.epoch)
        export_batch_size(stream.dtype(args.hash).itemsize, args.max_memory_mb)
    if args.shards:
        return shards.run(args, stream)
    bar = progress_bar(n, "export", args.quiet)
    try:
        result = save_npy(
            stream, args.output, hash=args.hash, force=args.force, resume=args.resume,
            max_memory_mb=args.max_memory_mb, batch_size=args.batch_size or None,
            threads=args.threads, progress=bar, direct=direct_from_args(args),
            checkpoint_seconds=args.checkpoint_seconds,
        )
    finally:
        bar.close()
    if not args.quiet:
        print(summary(result))
    return 0
