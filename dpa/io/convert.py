"""DPA's JSON files into ``.npy``: :func:`convert_json` and :func:`read_config`.

Events from :mod:`dpa.io.jsonread` become record arrays in one reused buffer
(:class:`_ConvertState`), each record validated field by field, optionally
recomputed with the core kernel and its statistics gathered for comparison
with the file's own block; :func:`dpa.io.save.save_npy` writes them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import check_bool, check_instance, check_int, check_path, show
from ..config import FIELDS, AugmentationConfig
from ..engine import generate_seeded
from ..records import MAX_SAMPLE_ID, record_dtype
from ..seeding import Seeding
from .destination import check_destination, temporary_paths
from .errors import InputError, OutputError, VerificationError
from .files import same_inode
from .jsonread import (JSON_BATCH, LAYOUTS, _JsonText, detect_format, dpa_json_events,
                       jsonl_events, open_text)
from .provenance import (PROVENANCE_FORMAT, convert_provenance, dpa_stats_method, jsonable,
                         parse_config, provenance_path)
from .save import DEFAULT_MAX_MEMORY_MB, SaveResult, save_npy
from .stats import StatsAccumulator, differing_statistics
from .verify import mismatch_error

__all__ = ["convert_json", "read_config"]


_HEX = np.zeros(256, dtype=bool)
_HEX[np.frombuffer(b"0123456789abcdef", np.uint8)] = True


class _NoId:
    """The ``sample_id`` of a record that carries none."""


def _check_ids(items: list, first_id: int, where: Callable[[int], str]) -> None:
    """Every record that carries a ``sample_id`` must carry the id of its position."""
    n = len(items)
    ids = [r.get("sample_id", _NoId) for r in items]
    kinds = set(map(type, ids))
    if kinds == {type}:  # no record carries one (``type(_NoId)`` is ``type``)
        return
    want = range(first_id, first_id + n)
    if kinds == {int} and ids == list(want):
        return
    for k, v in enumerate(ids):
        if v is _NoId:
            continue
        if type(v) is not int:
            raise InputError(f"{where(k)}: sample_id is not an integer: {show(v)}")
        if v != want[k]:
            raise InputError(f"{where(k)}: sample_id is {show(v)} but --start-id + position "
                             f"gives {want[k]}")


def check_not_input(src: Path, dest: Path) -> None:
    """Refuse an output (or any name dpa writes beside it) that is the input file."""
    try:
        source = os.stat(src)
    except OSError:
        return  # a missing input is reported when it is opened
    for name in (dest, provenance_path(dest), *temporary_paths(dest)):
        try:
            st = os.stat(name)
        except OSError:
            continue
        if same_inode(st, source):
            what = "the output" if name == dest else f"{name}, which dpa writes beside it,"
            raise OutputError(f"cannot write {dest}: {what} is the input file {src}; choose "
                              "another output")


def _records_into(items: list, out: np.ndarray, first_index: int, first_id: int,
                  where: Callable[[int], str]) -> None:
    """Fill ``out`` (len(items) records) from DPA's record dicts, validating."""
    n = len(items)
    if n == 0:
        return
    if not all(type(r) is dict for r in items):
        i = next(k for k, r in enumerate(items) if type(r) is not dict)
        raise InputError(f"{where(i)}: is {type(items[i]).__name__}, not an object")
    out["sample_id"] = np.arange(first_id, first_id + n, dtype=np.int64)
    _check_ids(items, first_id, where)
    for name in FIELDS:
        try:
            col = [r[name] for r in items]
        except KeyError:
            i = next(k for k, r in enumerate(items) if name not in r)
            if not any(f in items[i] for f in FIELDS):
                raise InputError(f"{where(i)}: holds none of DPA's fields {list(FIELDS)} (its "
                                 f"keys: {show(sorted(map(str, items[i]))[:8])}): not a layout "
                                 f"dpa reads; {LAYOUTS}") from None
            raise InputError(f"{where(i)}: field {name!r} is missing") from None
        kinds = set(map(type, col))
        if not kinds <= {float, int}:
            i = next(k for k, v in enumerate(col) if type(v) not in (float, int))
            raise InputError(f"{where(i)}: field {name!r} is not a number: {show(col[i])}")
        try:
            values = np.array(col, dtype=np.float64)
        except OverflowError:
            i = next(k for k, v in enumerate(col) if abs(v) > 1.7976931348623157e308)
            raise InputError(f"{where(i)}: field {name!r} is out of float range: "
                             f"{show(col[i])}") from None
        finite = np.isfinite(values)
        if not finite.all():
            i = int(np.argmin(finite))
            raise InputError(f"{where(i)}: field {name!r} is not a finite number: {show(col[i])}")
        out[name] = values
    if "hash" in out.dtype.names:
        try:
            col = [r["hash"] for r in items]
        except KeyError:
            i = next(k for k, r in enumerate(items) if "hash" not in r)
            raise InputError(f"{where(i)}: field 'hash' is missing") from None
        bad = None
        if not set(map(type, col)) <= {str} or set(map(len, col)) != {64}:
            bad = next(k for k, v in enumerate(col) if type(v) is not str or len(v) != 64)
        else:
            try:
                raw = "".join(col).encode("ascii")
            except UnicodeEncodeError:
                bad = next(k for k, v in enumerate(col) if not v.isascii())
            else:
                ok = _HEX[np.frombuffer(raw, np.uint8)].reshape(n, 64).all(axis=1)
                if not ok.all():
                    bad = int(np.argmin(ok))
        if bad is not None:
            raise InputError(
                f"{where(bad)}: field 'hash' is not 64 lowercase hex digits: {show(col[bad])}"
            )
        out["hash"] = np.frombuffer(raw, dtype="S64")


def _config_diff(a: AugmentationConfig, b: AugmentationConfig) -> str:
    da, db = a.to_dict(), b.to_dict()
    for k in da:
        if da[k] != db[k]:
            return f"{k}: {json.dumps(jsonable(da[k]))} vs {json.dumps(jsonable(db[k]))}"
    return ""


def convert_json(
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    start_id: int = 0,
    config: AugmentationConfig | None = None,
    rank: int | None = None,
    base_seed: int = 0,
    hash: bool | None = None,
    verify: bool = False,
    format: str = "auto",
    force: bool = False,
    max_memory_mb: float = DEFAULT_MAX_MEMORY_MB,
    threads: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    direct: bool | None = None,
) -> SaveResult:
    """convert_json(input, output, *, start_id=0, config=None, rank=None, base_seed=0, hash=None, verify=False, format="auto", force=False, max_memory_mb=64, threads=None, progress=None, direct=None)

    Convert a JSON file DPA 0.2.1 wrote (or JSON Lines) to a ``.npy`` of records.

    The file is read incrementally: memory stays bounded for any file size.
    Records carry no sample id in DPA's files; record ``k`` gets
    ``start_id + k``.  The output is written atomically as by
    :func:`save_npy`, with provenance recording the source file, its
    metadata and its statistics block.

    Parameters
    ----------
    input : str or PathLike
        ``save_augmentation_chain`` or ``save_augmentation_stream`` output
        (a top-level object with ``metadata``, ``augmentations`` and maybe
        ``statistics``), a bare JSON array of records, or JSON Lines (one
        record object per line).
    output : str or PathLike
        The ``.npy`` to write.
    start_id : int
        Sample id of the first record.
    config : AugmentationConfig, optional
        The config the records were generated with; DPA's files carry it in
        ``metadata.config`` (a different one given here is an error).  Needed
        for ``verify`` when the file does not carry it.
    rank, base_seed : int, optional
        DPA's rank-aware seeding, if the records were generated with it (for
        ``verify`` and the provenance).
    hash : bool, optional
        Keep the records' ``hash`` field (``PARAM_HASH_DTYPE``).  Default:
        keep it if the first record has one.
    verify : bool
        Recompute every record with the core kernel and compare bit for bit;
        compare the file's ``statistics`` block with the statistics of the
        records too.  The first mismatch raises :class:`VerificationError` and
        nothing is written.
    format : {"auto", "dpa", "jsonl"}
        Input format; ``"auto"`` looks at the first key.
    force, max_memory_mb, threads, progress, direct
        As in :func:`save_npy`.

    Raises
    ------
    InputError
        Missing file, invalid or truncated JSON, a missing or non-numeric
        field (the message names the record index and field).
    VerificationError
        With ``verify``: the first record or statistic that differs.
    OutputError
        As in :func:`save_npy`.
    """
    src = check_path(input, "input")
    dest = check_path(output, "output")
    start_id = check_int(start_id, "start_id", minimum=0, maximum=MAX_SAMPLE_ID,
                         rule="should be in [0, 2**63-1]")
    if config is not None:
        check_instance(config, "config", AugmentationConfig, "an AugmentationConfig or None")
    if format not in ("auto", "dpa", "jsonl"):
        raise ValueError(f"format should be 'auto', 'dpa' or 'jsonl', but got format={format!r}")
    if hash is not None and not isinstance(hash, bool):
        raise TypeError(f"hash should be None or a bool, but got hash={hash!r}")
    verify = check_bool(verify, "verify")
    force = check_bool(force, "force")
    # Validate the seeding now, not after reading the file.
    seeding = Seeding.from_args("dpa", rank, base_seed)
    check_not_input(src, dest)
    with open_text(src, newline="") as f:
        fmt = detect_format(f, src) if format == "auto" else format
        check_destination(dest, force)
        state = _ConvertState(src, fmt, start_id, config, seeding, hash, verify, threads)
        events = dpa_json_events(f, src) if fmt == "dpa" else jsonl_events(f, src)
        result = save_npy(
            state.arrays(events, progress), dest, force=force, max_memory_mb=max_memory_mb,
            provenance=state.provenance, direct=direct,
        )
    return result


def read_config(path: str | os.PathLike) -> AugmentationConfig:
    """read_config(path)

    The augmentation config a JSON file holds: a mapping of
    ``AugmentationConfig`` fields (as DPA's ``asdict`` writes them), a DPA
    file's ``metadata.config``, or a dpa provenance file's ``config``.  A DPA
    file is read only up to its ``augmentations`` array, so its size does
    not matter.

    Raises :class:`InputError` naming the file for anything else, including
    an invalid config (e.g. ``low >= high``).
    """
    p = check_path(path)
    top: dict[str, Any] = {}
    with open_text(p) as f:
        text = _JsonText(f, p, chunk=1 << 16)
        for key in text.object_keys("at the start of the config"):
            if key == "augmentations":  # the records of a DPA file: the config came before
                break
            top[key] = text.value(f"in the value of {key!r}")
    if isinstance(top.get("metadata"), dict) and "config" in top["metadata"]:
        cfg, where = top["metadata"]["config"], "metadata.config"
    elif "config" in top and top.get("format") == PROVENANCE_FORMAT:
        cfg, where = top["config"], "config"
    else:
        cfg, where = top, "the config"
    if cfg is None:
        raise InputError(f"{p}: {where} is null: the file records no config")
    return parse_config(cfg, f"{p}: {where}")


class _ConvertState:
    """Turns parser events into record arrays (one reused buffer), checking as it goes."""

    def __init__(self, src: Path, fmt: str, start_id: int, config: AugmentationConfig | None,
                 seeding: Seeding, hash: bool | None, verify: bool, threads: int | None) -> None:
        self.src = src
        self.fmt = fmt
        self.start_id = start_id
        self.given_config = config
        self.config = config
        self.seeding = seeding
        self.hash = hash
        self.verify = verify
        self.threads = threads
        self.meta: dict[str, Any] = {}
        self.count = 0
        self.buf: np.ndarray | None = None
        self.expected: np.ndarray | None = None
        self.stats: StatsAccumulator | None = None

    def _where(self, first: int, lines: list[int] | None) -> Callable[[int], str]:
        def where(i: int) -> str:
            if lines is not None:
                return f"{self.src}: line {lines[i]} (record {first + i})"
            return f"{self.src}: record {first + i}"
        return where

    def _on_meta(self, key: str, value: Any) -> None:
        self.meta[key] = value
        if key != "metadata":
            return
        if not isinstance(value, dict):
            raise InputError(f"{self.src}: 'metadata' should be an object")
        cfg = value.get("config")
        if cfg is None:
            return
        file_config = parse_config(cfg, f"{self.src}: metadata.config")
        if self.given_config is not None and self.given_config != file_config:
            raise InputError(
                f"{self.src}: metadata.config differs from the config given "
                f"({_config_diff(file_config, self.given_config)})"
            )
        if self.count and self.verify and self.config is None:
            raise InputError(f"{self.src}: metadata comes after the records; pass the config "
                             "(--preset or --config) to verify")
        self.config = file_config

    def _first_batch(self, items: list) -> None:
        first = items[0] if items else {}
        if self.hash is not None:
            want_hash = self.hash
        else:
            want_hash = isinstance(first, dict) and "hash" in first
        dtype = record_dtype(want_hash)
        self.buf = np.empty(JSON_BATCH, dtype)
        if self.verify:
            if self.config is None:
                raise InputError(f"{self.src}: cannot verify: the file carries no config; pass "
                                 "--preset or --config (config=...)")
            self.expected = np.empty(JSON_BATCH, dtype)
            # DPA writes the statistics block after the records: gather the
            # records' statistics as they pass, to compare at the end.
            self.stats = StatsAccumulator(FIELDS, dpa_stats_method(self.meta.get("metadata")),
                                           f"{self.src}: ")

    def arrays(self, events: Iterator[tuple], progress) -> Iterator[np.ndarray]:
        pending: list = []
        lines: list[int] | None = [] if self.fmt == "jsonl" else None
        for ev in events:
            if ev[0] == "meta":
                self._on_meta(ev[1], ev[2])
                continue
            pending.extend(ev[1])
            if lines is not None:
                lines.extend(ev[2])
            while len(pending) >= JSON_BATCH:
                head = lines[:JSON_BATCH] if lines is not None else None
                yield self._convert(pending[:JSON_BATCH], head)
                del pending[:JSON_BATCH]
                if lines is not None:
                    del lines[:JSON_BATCH]
                if progress is not None:
                    progress(self.count, None)
        if pending or self.buf is None:
            yield self._convert(pending, lines)
        if progress is not None:
            progress(self.count, None)
        self._finish_checks()

    def _convert(self, items: list, lines: list[int] | None) -> np.ndarray:
        if self.buf is None:
            self._first_batch(items)
        n = len(items)
        first_id = self.start_id + self.count
        if n and first_id + n - 1 > MAX_SAMPLE_ID:
            raise InputError(
                f"{self.src}: record {self.count + n - 1} would get a sample id above 2**63-1"
            )
        out = self.buf[:n]
        _records_into(items, out, self.count, first_id, self._where(self.count, lines))
        if self.verify and n:
            exp = generate_seeded(range(first_id, first_id + n), self.config, self.seeding,
                                  out=self.expected[:n], hash="hash" in out.dtype.names,
                                  threads=self.threads)
            hint = "check --start-id and the config" if self.count == 0 else ""
            err = mismatch_error(str(self.src), out, exp, self.count, first_id, hint)
            if err is not None:
                raise err
        if self.stats is not None:
            self.stats.add(out, self.count)
        self.count += n
        return out

    def _finish_checks(self) -> None:
        meta = self.meta.get("metadata")
        if isinstance(meta, dict):
            declared = meta.get("num_samples")
            if isinstance(declared, int) and not isinstance(declared, bool) and declared != self.count:
                raise InputError(f"{self.src}: metadata.num_samples is {declared} but the file "
                                 f"holds {self.count} records")
        block = self.meta.get("statistics")
        if self.stats is not None and block is not None:
            got = self.stats.result()
            if not isinstance(block, dict):
                raise InputError(f"{self.src}: 'statistics' should be an object")
            diff = differing_statistics(block, got)
            if diff:
                name, key = diff[0]
                if key is None:
                    raise InputError(f"{self.src}: statistics.{name} is missing")
                theirs = block[name].get(key)
                raise VerificationError(
                    f"{self.src}: statistics.{name}.{key} is {theirs!r} in the file but "
                    f"{got[name][key]!r} recomputed ({self.stats.method} method)",
                    field=f"{name}.{key}", found=theirs, expected=got[name][key],
                )

    def provenance(self) -> dict:
        names = self.buf.dtype.names if self.buf is not None else ()
        return convert_provenance(self.seeding, self.config, self.start_id, "hash" in names,
                                  self.verify, self.src, self.fmt, self.meta)
