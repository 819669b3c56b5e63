"""The argument parser: ``argparse`` with dpa's conventions, and the help summary.

:class:`Parser` differs from ``argparse.ArgumentParser`` in two ways: a
negative number (``-30``, ``-1e3``, ``-inf``) is an option's value, never
taken for an option (``--rotation-range -30 30``); and a usage error prints
one short usage line and one error line, ``dpa COMMAND: error: ...`` (the
prefix of every error of the command line), instead of the whole usage.
:func:`program` is the name the user typed: ``dpa`` for the console script,
``python -m dpa`` otherwise, used in usage lines and examples.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

__all__ = ["EPILOG", "EXIT_USAGE", "Parser", "error_label", "program"]

#: argparse's status for a usage error, and dpa's.
EXIT_USAGE = 2

#: A number, negative ones included: what is never an option.
_NUMBER = re.compile(r"-(\d[\d_]*\.?[\d_]*|\.\d+)([eE][-+]?\d+)?[kKmMgG]?|-(inf|infinity|nan)",
                     re.IGNORECASE)


def program() -> str:
    """``dpa`` when run as the console script, ``python -m dpa`` otherwise."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "dpa" if name in ("dpa", "dpa.exe") else "python -m dpa"


def error_label(prog: str) -> str:
    """``dpa`` or ``dpa COMMAND``: how every error line of the command line starts."""
    base = program()
    command = prog[len(base):].strip() if prog.startswith(base) else ""
    return f"dpa {command}" if command else "dpa"


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` taking negative numbers as values and
    reporting a usage error in two lines."""

    def _parse_optional(self, arg_string):
        if _NUMBER.fullmatch(arg_string):
            return None  # a value, e.g. the LOW of --rotation-range -30 30
        return super()._parse_optional(arg_string)

    def short_usage(self) -> str:
        """``dpa export -o OUT.npy -n N [options]``: the required arguments only."""
        parts = [self.prog]
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                parts.append(action.metavar or "COMMAND")
            elif not action.option_strings:
                parts.append(action.metavar or action.dest.upper())
            elif action.required:
                metavar = action.metavar or action.dest.upper()
                parts.append(f"{action.option_strings[0]} {metavar}")
        return " ".join(parts) + " [options]"

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"usage: {self.short_usage()}  ('{self.prog} --help' for more)\n"
                              f"{error_label(self.prog)}: error: {message}\n")


#: The end of ``dpa --help``: what an installed package can read without the docs.
EPILOG = """\
commands write and read .npy files of parameter records (a 1-D structured array,
byte-identical to numpy.save of dpa.generate); '{prog} COMMAND --help' lists a
command's options and examples.

files: export and convert write OUT.npy and its provenance OUT.npy.json; while
writing, OUT.npy.partial and its journal OUT.npy.partial.json beside it.  Every file
is created new (never through a symbolic link), flushed and renamed into place: the
destination is absent or complete at every instant.  An existing output is replaced
only with --force; an export killed by SIGKILL or a power loss continues with the
same command and --resume, byte-identical to an uninterrupted run.

exit status: 0 success; 1 a problem with an input or output file (missing or
malformed, existing destination, leftover partial export, disk full); 2 bad options;
3 --verify found a record or statistic that differs; 130 interrupted (SIGINT);
143 terminated (SIGTERM).  Errors are one line, 'dpa COMMAND: error: ...'.
"""
