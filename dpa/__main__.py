"""``python -m dpa``: export, convert, stats, head.

Each command is a thin wrapper over :mod:`dpa.io`.  User errors (bad options,
bad input files, unwritable destinations) print one line to stderr and exit
non-zero without a traceback; see ``docs/cli.md`` for the exit codes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import sys
from typing import Any

from . import io as dio
from ._progress import Progress, format_count
from .config import FIELDS, PRESETS, AugmentationConfig, get_preset
from .records import record_dtype
from .seeding import Seeding

#: Exit statuses (also in docs/cli.md).
EXIT_OK = 0
EXIT_ERROR = 1  # input or output problem: bad file, existing destination, disk full
EXIT_USAGE = 2  # bad options or config (argparse uses 2 too)
EXIT_MISMATCH = 3  # --verify found a record or statistic that differs
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM


class UsageError(Exception):
    """Bad options: exit status 2."""


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so that clean-up runs as on Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Terminated()


# ---- option types ----------------------------------------------------------------

_SUFFIX = {"k": 10**3, "m": 10**6, "g": 10**9}


def _count(text: str) -> int:
    """A non-negative integer: ``50000000``, ``50_000_000``, ``50M``, ``1.5k``."""
    t = text.strip().lower()
    scale = _SUFFIX.get(t[-1:], 1)
    if scale != 1:
        t = t[:-1]
    try:
        value = int(t) * scale if scale == 1 or t.isdigit() else float(t) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if isinstance(value, float):
        if not value.is_integer():
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
        value = int(value)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _number(text: str) -> int | float:
    """An int where the text is one (as DPA's configs hold them), else a float."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _positive_int(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


# ---- parser ----------------------------------------------------------------------

_EXPORT_EXAMPLES = """\
examples:
  python -m dpa export -o params.npy --num-samples 50M --preset aggressive
  python -m dpa export -o shard3.npy -n 1M --start-id 3000000 --rank 3 --base-seed 42
  python -m dpa export -o params.npy -n 50M --resume      # continue a killed export
  python -m dpa export -o custom.npy -n 1000 --rotation-range -10 10 --hash
"""

_CONVERT_EXAMPLES = """\
examples:
  python -m dpa convert augmentations.json -o params.npy --verify
  python -m dpa convert stream.json -o params.npy --start-id 1000
  python -m dpa convert records.jsonl -o params.npy --preset mild --verify
"""

_STATS_EXAMPLES = """\
examples:
  python -m dpa stats params.npy
  python -m dpa stats params.npy --json > statistics.json
  python -m dpa stats params.npy --verify    # also recompute every record
"""

_HEAD_EXAMPLES = """\
examples:
  python -m dpa head params.npy
  python -m dpa head params.npy -n 3 --fields sample_id,rotation
"""


def _add_config_options(p: argparse.ArgumentParser, what: str) -> None:
    g = p.add_argument_group("config", f"the augmentation config ({what})")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=sorted(PRESETS), help="one of DPA's presets")
    src.add_argument("--config", metavar="FILE.json",
                     help="a config as JSON: AugmentationConfig fields, a DPA file's "
                          "metadata.config, or a dpa provenance file")
    for name in FIELDS:
        g.add_argument(f"--{name}-range", nargs=2, type=_number, metavar=("LOW", "HIGH"),
                       help=f"override {name}_range")
    g.add_argument("--augmentation-depth", type=_int, metavar="D", help="hash chain depth (>= 1)")


def _add_write_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("writing")
    g.add_argument("--force", action="store_true",
                   help="replace an existing output (and discard an interrupted one)")
    g.add_argument("--max-memory-mb", type=_positive, default=dio.DEFAULT_MAX_MEMORY_MB,
                   metavar="MB", help="memory for the batch buffers (default %(default)s)")
    g.add_argument("--threads", type=_positive_int, metavar="T",
                   help="threads for the core kernel (default: all CPUs)")
    g.add_argument("--io", choices=("auto", "direct", "buffered"), default="auto",
                   help="O_DIRECT writes where the file system takes them (auto), "
                        "always, or never (default %(default)s)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m dpa`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m dpa",
        description="Deterministic augmentation parameters as .npy files: export, convert, "
                    "inspect.",
        epilog="Run 'python -m dpa COMMAND --help' for a command's options and examples; "
               "docs/cli.md has the exit codes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser("export", help="write parameters for N samples to a .npy",
                       description="Write the parameters of --num-samples samples to one .npy "
                                   "(a structured array of dpa's record dtype), in batches, "
                                   "atomically, with provenance in OUT.npy.json.",
                       epilog=_EXPORT_EXAMPLES, formatter_class=fmt)
    p.add_argument("-o", "--output", required=True, metavar="OUT.npy", help="the .npy to write")
    p.add_argument("-n", "--num-samples", required=True, type=_count, metavar="N",
                   help="how many samples (50000000, 50_000_000 or 50M)")
    p.add_argument("--start-id", type=_count, default=0, metavar="ID",
                   help="first sample id (default 0)")
    p.add_argument("--scheme", choices=("dpa", "philox"), default="dpa",
                   help="dpa: DPA 0.2.1 bit for bit (default); philox: the counter-based scheme")
    p.add_argument("--rank", type=_int, help="DPA's rank-aware seeding: this rank")
    p.add_argument("--base-seed", type=_int, default=0,
                   help="with --rank: DPA's base seed; with --scheme philox: the key")
    p.add_argument("--epoch", type=_int, default=0, help="--scheme philox only: the epoch")
    p.add_argument("--hash", action="store_true", help="include DPA's hex digest (112-byte records)")
    _add_config_options(p, "default: DPA's defaults, the moderate preset")
    _add_write_options(p)
    g = p.add_argument_group("batches and resuming")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted export of the same parameters")
    g.add_argument("--batch-size", type=_positive_int, metavar="N",
                   help="records per batch (default: from --max-memory-mb)")
    g.add_argument("--checkpoint-seconds", type=float, default=1.0, metavar="S",
                   help="how often progress is made durable for --resume (default %(default)s)")

    p = sub.add_parser("convert", help="turn DPA's JSON files (or JSON Lines) into a .npy",
                       description="Convert a file written by DPA 0.2.1's save_augmentation_chain "
                                   "or save_augmentation_stream, a JSON array of records, or "
                                   "JSON Lines, into a .npy, reading it incrementally. Record k "
                                   "gets sample id --start-id + k.",
                       epilog=_CONVERT_EXAMPLES, formatter_class=fmt)
    p.add_argument("input", metavar="INPUT", help="the JSON or JSON Lines file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.npy", help="the .npy to write")
    p.add_argument("--start-id", type=_count, default=0, metavar="ID",
                   help="sample id of the first record (default 0)")
    p.add_argument("--format", choices=("auto", "dpa", "jsonl"), default="auto",
                   help="input format (default: from the first key)")
    p.add_argument("--verify", action="store_true",
                   help="recompute every record (and the statistics block) with the core "
                        "kernel; the first mismatch is an error")
    p.add_argument("--hash", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the records' hash field (default: if the records have one)")
    p.add_argument("--rank", type=_int, help="the records came from DPA's rank-aware seeding")
    p.add_argument("--base-seed", type=_int, default=0, help="with --rank: DPA's base seed")
    _add_config_options(p, "default: the file's metadata.config; needed for --verify otherwise")
    _add_write_options(p)

    p = sub.add_parser("stats", help="DPA's statistics of a .npy",
                       description="Mean, stdev, min, max and count per field, as DPA's "
                                   "statistics block gives them, computed in bounded memory.",
                       epilog=_STATS_EXAMPLES, formatter_class=fmt)
    p.add_argument("file", metavar="FILE.npy")
    p.add_argument("--json", action="store_true", help="print DPA's statistics block as JSON")
    p.add_argument("--method", choices=("auto", "exact", "welford"), default="auto",
                   help="exact: statistics.mean/stdev (DPA's save_augmentation_chain); "
                        "welford: DPA's save_augmentation_stream; auto: as the source file "
                        "was written, from the provenance (default)")
    p.add_argument("--fields", metavar="A,B", help="comma-separated fields (default: DPA's five)")
    p.add_argument("--verify", action="store_true",
                   help="also recompute every record from the provenance")
    p.add_argument("--threads", type=_positive_int, metavar="T", help="threads for --verify")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("head", help="print the first records of a .npy",
                       description="Print the first records of a .npy as a table "
                                   "(floats shown exactly, as Python's repr).",
                       epilog=_HEAD_EXAMPLES, formatter_class=fmt)
    p.add_argument("file", metavar="FILE.npy")
    p.add_argument("-n", "--records", type=_count, default=10, metavar="N",
                   help="how many records (default 10)")
    p.add_argument("--fields", metavar="A,B", help="comma-separated fields (default: all)")
    return parser


# ---- helpers ---------------------------------------------------------------------


def _config(args: argparse.Namespace) -> AugmentationConfig | None:
    """The config the options describe, or None if they describe none."""
    overrides: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(args, f"{name}_range")
        if value is not None:
            overrides[f"{name}_range"] = tuple(value)
    if args.augmentation_depth is not None:
        overrides["augmentation_depth"] = args.augmentation_depth
    if args.preset:
        base = get_preset(args.preset)
    elif args.config:
        base = dio.read_config(args.config)
    elif overrides:
        base = AugmentationConfig()
    else:
        return None
    if not overrides:
        return base
    try:
        return dataclasses.replace(base, **overrides)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _direct(args: argparse.Namespace) -> bool | None:
    return {"auto": None, "direct": True, "buffered": False}[args.io]


def _summary(result: dio.SaveResult, unit: str = "samples", note: str = "") -> str:
    extra = f", resumed at record {result.resumed_from:,}" if result.resumed_from else ""
    return (f"wrote {result.path}: {result.count:,} {unit}, {result.nbytes:,} bytes in "
            f"{result.seconds:.2f} s ({format_count(result.samples_per_s)} {unit}/s{extra}{note})")


def _fields(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [x.strip() for x in text.split(",") if x.strip()]
    if not names:
        raise UsageError("--fields should name at least one field")
    return names


# ---- commands --------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    from .stream import ParamStream

    config = _config(args) or AugmentationConfig()
    n, start = args.num_samples, args.start_id
    if start + n - 1 > dio.MAX_SAMPLE_ID:
        raise UsageError(f"--start-id + --num-samples - 1 = {start + n - 1} exceeds 2**63-1")
    if args.checkpoint_seconds < 0:
        raise UsageError(f"--checkpoint-seconds must be >= 0, got {args.checkpoint_seconds}")
    if args.hash and args.scheme != "dpa":
        raise UsageError("--hash needs --scheme dpa (philox has no hash)")
    try:
        stream = ParamStream(range(start, start + n), config, scheme=args.scheme,
                             rank=args.rank, base_seed=args.base_seed, epoch=args.epoch)
        record_bytes = stream.dtype(args.hash).itemsize
        dio.export_batch_size(record_bytes, args.max_memory_mb)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc).replace("max_memory_mb=", "--max-memory-mb ")) from None
    bar = Progress(n, "export", enabled=None if not args.quiet else False)
    try:
        result = dio.save_npy(
            stream, args.output, hash=args.hash, force=args.force, resume=args.resume,
            max_memory_mb=args.max_memory_mb, batch_size=args.batch_size or None,
            threads=args.threads, progress=bar, direct=_direct(args),
            checkpoint_seconds=args.checkpoint_seconds,
        )
    finally:
        bar.close()
    if not args.quiet:
        print(_summary(result))
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    config = _config(args)
    try:
        Seeding.from_args("dpa", args.rank, args.base_seed).kernel(config)
        dio.export_batch_size(record_dtype(True).itemsize, args.max_memory_mb)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc).replace("max_memory_mb=", "--max-memory-mb ")) from None
    bar = Progress(None, "convert", unit="records", enabled=None if not args.quiet else False)
    try:
        result = dio.convert_json(
            args.input, args.output, start_id=args.start_id, config=config, rank=args.rank,
            base_seed=args.base_seed, hash=args.hash, verify=args.verify, format=args.format,
            force=args.force, max_memory_mb=args.max_memory_mb, threads=args.threads,
            progress=bar, direct=_direct(args),
        )
    finally:
        bar.close()
    if not args.quiet:
        print(_summary(result, "records", ", verified" if args.verify else ""))
    return EXIT_OK


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header)] + [line(r) for r in rows])


_METHODS = {"exact": "exact: statistics.mean/stdev, as DPA's save_augmentation_chain",
            "welford": "welford: as DPA's save_augmentation_stream"}


def _warn(message: str) -> None:
    print(f"dpa stats: warning: {message}", file=sys.stderr)


def cmd_stats(args: argparse.Namespace) -> int:
    fields = _fields(args.fields)
    bar = Progress(None, "verify", unit="records",
                   enabled=None if args.verify and not args.quiet else False)
    try:
        report = dio.stats_report(args.file, method=args.method, fields=fields,
                                  verify=args.verify, threads=args.threads, progress=bar,
                                  on_warning=_warn)
    finally:
        bar.close()
    if report.verified is not None and not args.json:
        print(f"{report.path}: all {report.verified:,} records equal the core kernel's")
    if args.json:
        print(json.dumps(report.statistics, indent=2))
        return EXIT_OK
    print(f"{report.path}: {report.count:,} records; method {_METHODS[report.method]}")
    rows = [[name, repr(s["mean"]), repr(s["stdev"]), repr(s["min"]), repr(s["max"]),
             str(s["count"])] for name, s in report.statistics.items()]
    print(_table(["field", "mean", "stdev", "min", "max", "count"], rows, {5}))
    if report.source is not None:
        if report.differing:
            print(f"differs from the statistics block of {report.source}: "
                  f"{', '.join(report.differing)}")
        else:
            print(f"identical to the statistics block of {report.source}")
    return EXIT_OK


def _cell(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    if hasattr(value, "item"):
        value = value.item()
    return repr(value) if isinstance(value, float) else str(value)


def cmd_head(args: argparse.Namespace) -> int:
    arr = dio.load(args.file, mmap=True)
    names = list(arr.dtype.names or ())
    fields = _fields(args.fields) or names
    if not names:
        raise dio.InputError(f"{args.file}: not an array of records (dtype {arr.dtype})")
    missing = [f for f in fields if f not in names]
    if missing:
        raise UsageError(f"{args.file} has no field(s) {missing}; it has {names}")
    part = arr[:args.records]
    rows = [[_cell(rec[f]) for f in fields] for rec in part]
    numeric = {i for i, f in enumerate(fields) if arr.dtype[f].kind in "iuf"}
    print(_table(fields, rows, numeric))
    if len(arr) > len(part):
        print(f"... {len(arr) - len(part):,} more of {len(arr):,} records")
    return EXIT_OK


_COMMANDS = {"export": cmd_export, "convert": cmd_convert, "stats": cmd_stats, "head": cmd_head}


def _discard_stdout() -> None:
    """Point stdout at the null device: what is still buffered goes nowhere
    instead of failing again when the interpreter flushes it at exit."""
    with contextlib.suppress(OSError, ValueError):
        fd = sys.stdout.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m dpa`` with ``argv``; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"dpa {args.command}"
    previous = None
    if hasattr(signal, "SIGTERM"):
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread
            previous = None
    try:
        status = _COMMANDS[args.command](args)
        sys.stdout.flush()  # a reader that went away shows here, not at exit
        return status
    except BrokenPipeError:  # e.g. `python -m dpa head big.npy | head -3`: a normal end
        _discard_stdout()
        return EXIT_OK
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except dio.DpaIOError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except OSError as exc:  # an I/O failure not already described by dpa.io
        where = f" {exc.filename}" if exc.filename else ""
        print(f"{prog}: error:{where} {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except (KeyboardInterrupt, Terminated) as exc:
        name = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
        out = getattr(args, "output", None)
        note = f"; {out} not written, temporary files removed" if out else ""
        print(f"{prog}: interrupted ({name}){note}", file=sys.stderr)
        return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
