"""Ctrl-C while the command line starts: one line and status 130, no traceback.

When the process is the ``dpa`` command line (``python -m dpa`` or the
``dpa`` console script), importing dpa first replaces ``sys.excepthook`` so
that a ``KeyboardInterrupt`` raised before :func:`dpa.cli.main` takes over
(while NumPy, the compiled core and the rest are imported) ends the process
with one line on stderr and exit status 130, as a Ctrl-C during a command
does.  Nothing has been written by then.  In any other process (dpa imported
as a library) this module changes nothing.  A Ctrl-C before dpa's first line
runs (the interpreter's own start-up) is outside dpa's reach.
"""

from __future__ import annotations

import os
import sys

__all__ = ["is_command_line"]

#: What ``sys.exit`` status a Ctrl-C gives (128 + SIGINT), as ``dpa.cli``.
_EXIT_SIGINT = 130


def is_command_line(argv: list[str] | None = None) -> bool:
    """Whether the interpreter was started as ``python -m dpa ...`` or ``dpa ...``
    (from ``sys.orig_argv``, the interpreter's own arguments)."""
    argv = list(getattr(sys, "orig_argv", None) or []) if argv is None else argv
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "-m":
            return i + 1 < len(argv) and argv[i + 1] == "dpa"
        if arg.startswith("-m"):
            return arg == "-mdpa"
        if arg.startswith("-c") or arg == "-":
            return False
        if arg in ("-X", "-W"):  # the interpreter's options that take a value
            i += 1
        elif not arg.startswith("-"):  # a script: the console script is named dpa
            return os.path.basename(arg) in ("dpa", "dpa.exe")
        i += 1
    return False


def _interrupt_in_one_line(kind, value, tb) -> None:
    if issubclass(kind, KeyboardInterrupt):
        try:
            sys.stderr.write("dpa: interrupted (SIGINT) while starting; nothing written\n")
            sys.stderr.flush()
        finally:
            os._exit(_EXIT_SIGINT)
    _previous_hook(kind, value, tb)


_previous_hook = sys.excepthook
if is_command_line():
    sys.excepthook = _interrupt_in_one_line
