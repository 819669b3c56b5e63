"""What the commands share: option types, option groups, and the config they describe.

Option values are checked by their ``type`` (``argparse`` reports a bad one
as a usage error, exit status 2); :class:`UsageError` is a bad combination
found later.  Everything else is checked by the library the commands call.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from ..config import FIELDS, PRESETS, AugmentationConfig, get_preset
from ..io import DEFAULT_MAX_MEMORY_MB, read_config
from ..records import MAX_SAMPLE_ID

__all__ = [
    "UsageError",
    "add_config_options",
    "add_output_options",
    "add_seeding_options",
    "add_write_options",
    "config_from_args",
    "count",
    "direct_from_args",
    "fields_from_text",
    "fields_of_file",
    "integer",
    "library_checks",
    "number",
    "path",
    "positive",
    "positive_int",
    "sample_count",
    "threads_option",
]


class UsageError(Exception):
    """Bad options: exit status 2."""


# ---- option types ----------------------------------------------------------------

_SUFFIX = {"k": 10**3, "m": 10**6, "g": 10**9}


def _parse(convert: Callable[[str], Any], text: str, what: str) -> Any:
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def count(text: str) -> int:
    """A non-negative integer: ``50000000``, ``50_000_000``, ``50M``, ``1.5k``."""
    t = text.strip().lower()
    scale = _SUFFIX.get(t[-1:], 1)
    if scale != 1:
        t = t[:-1]
    if scale == 1 or t.isdigit():
        value = _parse(int, t, "a whole number") * scale
    else:
        value = _parse(float, t, "a whole number") * scale
        if not value.is_integer():
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
        value = int(value)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def sample_count(text: str) -> int:
    """A count of samples (as :func:`count`), at most ``2**63 - 1``."""
    value = count(text)
    if value > MAX_SAMPLE_ID:
        raise argparse.ArgumentTypeError(f"should be at most 2**63-1, but got {text!r}")
    return value


def integer(text: str) -> int:
    """An integer of any sign."""
    return _parse(int, text, "an integer")


def number(text: str) -> int | float:
    """An int where the text is one (as DPA's configs hold them), else a float."""
    with contextlib.suppress(ValueError):
        return int(text)
    return _parse(float, text, "a number")


def positive_int(text: str) -> int:
    """A count of at least 1 (``0`` and negative numbers are described alike)."""
    t = text.strip()
    negative = t.startswith("-")
    try:
        value = count(t[1:] if negative else t)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"should be a positive integer, but got {text!r}") from None
    if negative or value < 1:
        raise argparse.ArgumentTypeError(f"should be a positive integer, but got {text!r}")
    return value


def path(text: str) -> str:
    """A file name: not empty."""
    if not text:
        raise argparse.ArgumentTypeError("should be a file name, but got ''")
    if "\x00" in text:
        raise argparse.ArgumentTypeError("should not contain a NUL character")
    return text


def positive(text: str) -> float:
    """A finite number above 0."""
    value = _parse(float, text, "a number")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


# ---- option groups ---------------------------------------------------------------


def add_output_options(p: argparse.ArgumentParser, start_id: str) -> None:
    """``-o/--output`` and ``--start-id`` (``start_id`` says what it is)."""
    p.add_argument("-o", "--output", required=True, type=path, metavar="OUT.npy",
                   help="the .npy to write")
    p.add_argument("--start-id", type=sample_count, default=0, metavar="ID",
                   help=f"{start_id} (default 0)")


def add_seeding_options(p: argparse.ArgumentParser, rank: str, base_seed: str) -> None:
    """DPA's rank-aware seeding: ``--rank`` and ``--base-seed``."""
    p.add_argument("--rank", type=integer, help=rank)
    p.add_argument("--base-seed", type=integer, default=0, help=base_seed)


def add_config_options(p: argparse.ArgumentParser, what: str) -> None:
    """The config: ``--preset`` or ``--config``, and single fields overridden."""
    g = p.add_argument_group("config", f"the augmentation config ({what})")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=sorted(PRESETS), help="one of DPA's presets")
    src.add_argument("--config", type=path, metavar="FILE.json",
                     help="a config as JSON: AugmentationConfig fields, a DPA file's "
                          "metadata.config, or a dpa provenance file")
    for name in FIELDS:
        g.add_argument(f"--{name}-range", nargs=2, type=number, metavar=("LOW", "HIGH"),
                       help=f"override {name}_range")
    g.add_argument("--augmentation-depth", type=integer, metavar="D",
                   help="hash chain depth (>= 1)")


def add_write_options(p: argparse.ArgumentParser) -> None:
    """How the output is written: ``--force``, memory, threads, ``--io``, ``-q``."""
    g = p.add_argument_group("writing")
    g.add_argument("--force", action="store_true",
                   help="replace an existing output (and discard an interrupted one)")
    g.add_argument("--max-memory-mb", type=positive, default=DEFAULT_MAX_MEMORY_MB,
                   metavar="MB", help="memory for the batch buffers (default %(default)s)")
    threads_option(g, "threads for the core kernel")
    g.add_argument("--io", choices=("auto", "direct", "buffered"), default="auto",
                   help="O_DIRECT writes where the file system takes them (auto), "
                        "always, or never (default %(default)s)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")


def threads_option(p: argparse.ArgumentParser | argparse._ArgumentGroup, what: str) -> None:
    """``--threads T``: an integer >= 1 (0 and negative values are errors)."""
    p.add_argument("--threads", type=positive_int, metavar="T",
                   help=f"{what}, an integer >= 1 (default: the CPUs available)")


# ---- what the options describe ---------------------------------------------------


def config_from_args(args: argparse.Namespace) -> AugmentationConfig | None:
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
        base = read_config(args.config)
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


def direct_from_args(args: argparse.Namespace) -> bool | None:
    """``--io`` as ``save_npy``'s ``direct``."""
    return {"auto": None, "direct": True, "buffered": False}[args.io]


def fields_from_text(text: str | None) -> list[str] | None:
    """``--fields A,B`` as a list, or None without it."""
    if text is None:
        return None
    names = [x.strip() for x in text.split(",") if x.strip()]
    if not names:
        raise UsageError("--fields should name at least one field")
    return names


def fields_of_file(file: str, text: str | None, names: tuple[str, ...],
                   usable: Callable[[str], bool] | None = None, kind: str = "") -> list[str] | None:
    """``--fields A,B`` checked against the fields ``names`` of ``file``: a field
    it lacks (or, with ``usable``, one that is not ``kind``) is a usage error,
    the same for every command."""
    fields = fields_from_text(text)
    if fields is None:
        return None
    missing = [f for f in fields if f not in names]
    if missing:
        raise UsageError(f"{file} has no field(s) {missing}; it has {list(names)}")
    if usable is not None:
        bad = [f for f in fields if not usable(f)]
        if bad:
            raise UsageError(f"--fields: {bad} of {file} are not {kind}")
    return fields


@contextlib.contextmanager
def library_checks() -> Iterator[None]:
    """The library's argument errors (``TypeError``, ``ValueError``) as usage
    errors, named as options (``--max-memory-mb``)."""
    try:
        yield
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc).replace("max_memory_mb=", "--max-memory-mb ")) from None
