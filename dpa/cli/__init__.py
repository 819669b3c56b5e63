"""``python -m dpa`` (the ``dpa`` command): export, convert, stats, head.

One module per command (``export``, ``convert``, ``stats``, ``head``), each
with ``add_parser(subparsers)`` and ``run(args) -> int``, a thin wrapper that
turns options into calls of :mod:`dpa.io` and prints the result; ``options``
holds what they share and ``parser`` the argument parser's conventions.  This
module builds the parser and runs a command under the one error handler,
from the parsing of the arguments on: user errors (bad options, bad input
files, unwritable destinations) print one line to stderr, ``dpa COMMAND:
error: ...``, and exit non-zero without a traceback, and so does Ctrl-C at
any point; the exit statuses are in ``dpa --help`` and ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator

from .._version import __version__
from ..io import DpaIOError
from . import convert, export, head, stats
from .options import UsageError
from .parser import EPILOG, EXIT_USAGE, Parser, program

__all__ = ["EXIT_ERROR", "EXIT_MISMATCH", "EXIT_OK", "EXIT_SIGINT", "EXIT_SIGTERM", "EXIT_USAGE",
           "UsageError", "build_parser", "main"]

#: Exit statuses (also in docs/cli.md).
EXIT_OK = 0
EXIT_ERROR = 1  # input or output problem: bad file, existing destination, disk full
# EXIT_USAGE = 2: bad options or config (argparse's status too; from .parser)
EXIT_MISMATCH = 3  # --verify found a record or statistic that differs
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM

_COMMANDS = (export, convert, stats, head)


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so that clean-up runs as on Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Terminated()


def build_parser() -> argparse.ArgumentParser:
    """The ``dpa`` (``python -m dpa``) argument parser."""
    prog = program()
    parser = Parser(
        prog=prog,
        description="Deterministic augmentation parameters as .npy files: export, convert, "
                    "inspect.",
        epilog=EPILOG.format(prog=prog), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dpa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread meanwhile."""
    previous = None
    if hasattr(signal, "SIGTERM"):
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread
            previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _discard_stdout() -> None:
    """Point stdout at the null device: what is still buffered goes nowhere
    instead of failing again when the interpreter flushes it at exit."""
    with contextlib.suppress(OSError, ValueError):
        fd = sys.stdout.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, with arguments left over reported by the
    command's parser (``dpa export: error: unrecognized arguments: ...``)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run ``dpa`` with ``argv``; return the exit status.

    Usage errors found while parsing raise ``SystemExit(2)`` after their two
    lines, as ``argparse`` does (``--help`` and ``--version``: ``SystemExit(0)``).
    """
    label, out, shards = "dpa", None, False
    try:
        with _sigterm_raises():
            args = _parse(build_parser(), argv)
            label, out = f"dpa {args.command}", getattr(args, "output", None)
            shards = bool(getattr(args, "shards", False))
            status = args.run(args)
            sys.stdout.flush()  # a reader that went away shows here, not at exit
            return status
    except BrokenPipeError:  # e.g. `dpa head big.npy | head -3`: a normal end
        _discard_stdout()
        return EXIT_OK
    except UsageError as exc:
        print(f"{label}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DpaIOError as exc:
        print(f"{label}: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except OSError as exc:  # an I/O failure not already described by dpa.io
        where = f" {exc.filename}" if exc.filename else ""
        print(f"{label}: error:{where} {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except (KeyboardInterrupt, Terminated) as exc:
        name = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
        note = f"; {out} not written, temporary files removed" if out else ""
        if out and shards:  # export --shards: the finished shards stay
            note = f"; {out} is incomplete (no manifest): rerun with --resume to finish it"
        print(f"{label}: interrupted ({name}){note}", file=sys.stderr)
        return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
