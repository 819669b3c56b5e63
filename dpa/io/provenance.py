"""Provenance: the sidecar ``OUT.npy.json`` beside every ``.npy`` dpa writes.

The whole schema is here: what :func:`dpa.io.save_npy` and
:func:`dpa.io.convert_json` record, the keys ``--resume`` compares, and how a
reader gets back the config, the seeding and the sample ids of the records
(for ``verify``) or the method of a DPA statistics block (for ``stats``).
The seeding keys themselves are :meth:`dpa.Seeding.to_dict` (a stream's
:meth:`~dpa.ParamStream.seeding_provenance`), read back with
:meth:`dpa.Seeding.from_dict`.

Keys, in file order: ``format``, ``producer``, ``scheme``, ``config``, the ids
(``start_id``, ``count`` and ``step`` unless 1; or ``"ids": "sample_id"``,
``ids_sha256`` and ``count``), the other seeding keys (``rank``,
``base_seed``, ``epoch``, ``prefix``), ``hash``, ``fields``, ``dtype``, any
extra keys, then ``npy_header_bytes``, ``npy_bytes``, ``dpa_version`` and
``created``.  A conversion records ``verified`` and ``source`` (``path``,
``format``, ``bytes``, ``metadata``, ``statistics``) instead of ``fields``
and ``dtype``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..config import AugmentationConfig
from ..seeding import Seeding
from ..stream import ParamStream
from .._validate import MAX_SAMPLE_ID, show
from .errors import InputError
from .jsonread import read_json_file
from .npy import descr

__all__ = [
    "PROVENANCE_FORMAT",
    "RESUME_KEYS",
    "RecordedIds",
    "array_provenance",
    "check_id_range",
    "config_of",
    "convert_provenance",
    "describes",
    "dpa_stats_method",
    "finish_provenance",
    "jsonable",
    "parse_config",
    "partial_paths",
    "provenance_problems",
    "provenance_path",
    "read_provenance",
    "recorded_ids",
    "resume_conflict",
    "seeding_of",
    "sidecar_tmp",
    "source_statistics",
    "stats_method_for",
    "stream_provenance",
]

PROVENANCE_FORMAT = "dpa-provenance/1"

#: A sidecar is a few kilobytes (a conversion's holds the source's metadata
#: and statistics); anything far larger is not one.
_MAX_PROVENANCE_BYTES = 64 << 20

#: Provenance keys that must agree for ``--resume`` to continue a partial file.
RESUME_KEYS = ("scheme", "config", "start_id", "count", "step", "ids", "ids_sha256", "rank",
               "base_seed", "epoch", "prefix", "hash", "dtype")


# ---- where it is -----------------------------------------------------------------


def provenance_path(path: str | os.PathLike) -> Path:
    """The provenance sidecar of ``path``: ``OUT.npy`` -> ``OUT.npy.json``."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def sidecar_tmp(path: str | os.PathLike) -> Path:
    """The sidecar's temporary name while it is written: ``OUT.npy.json.partial``."""
    side = provenance_path(path)
    return side.with_name(side.name + ".partial")


def partial_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(OUT.npy.partial, OUT.npy.partial.json)``: an unfinished export and its journal."""
    p = Path(path)
    return p.with_name(p.name + ".partial"), p.with_name(p.name + ".partial.json")


def read_provenance(path: str | os.PathLike) -> dict[str, Any] | None:
    """The provenance dpa recorded beside ``path``, or ``None`` if there is none.

    Raises :class:`InputError` if the sidecar exists but is not dpa's.
    """
    side = provenance_path(path)
    try:
        prov = read_json_file(side, "provenance", _MAX_PROVENANCE_BYTES)
    except FileNotFoundError:
        return None
    if not isinstance(prov, dict) or prov.get("format") != PROVENANCE_FORMAT:
        raise InputError(f"{side}: not a dpa provenance file (no \"format\": \"{PROVENANCE_FORMAT}\")")
    return prov


# ---- writing ---------------------------------------------------------------------


def jsonable(obj: Any) -> Any:
    """``obj`` as JSON would give it back (tuples as lists), for comparisons."""
    return json.loads(json.dumps(obj))


def _ids_sha256(ids: np.ndarray) -> str:
    """Hex SHA-256 of sample ids as little-endian int64 bytes (``ids_sha256``)."""
    return hashlib.sha256(np.ascontiguousarray(ids, dtype="<i8")).hexdigest()


def stream_provenance(stream: ParamStream, ids: range | np.ndarray, dtype: np.dtype,
                      hash: bool) -> dict:
    """The provenance of exporting ``ids`` (a range or an int64 array) of ``stream``.

    The seeding keys are the stream's :meth:`~dpa.ParamStream.seeding_provenance`.
    A range of ids is ``start_id``, ``count`` (and ``step`` unless 1); an
    array of ids (a shuffled or padded distributed stream) is ``"ids":
    "sample_id"`` (the ids are the file's own ``sample_id`` column), its
    ``ids_sha256`` and ``count``.
    """
    seeding = dict(stream.seeding_provenance())
    prov: dict[str, Any] = {
        "format": PROVENANCE_FORMAT,
        "producer": "dpa.io.save_npy",
        "scheme": seeding.pop("scheme"),
        "config": stream.config.to_dict(),
    }
    if isinstance(ids, range):
        prov["start_id"] = ids.start
        prov["count"] = len(ids)
        if ids.step != 1:
            prov["step"] = ids.step
    else:
        prov["ids"] = "sample_id"
        prov["ids_sha256"] = _ids_sha256(ids)
        prov["count"] = len(ids)
    prov.update(seeding)
    prov["hash"] = bool(hash)
    prov["fields"] = list(dtype.names)
    prov["dtype"] = descr(dtype)
    return jsonable(prov)


def array_provenance(dtype: np.dtype) -> dict:
    """The provenance of saving arrays: only what the file holds."""
    return {"format": PROVENANCE_FORMAT, "producer": "dpa.io.save_npy",
            "fields": list(dtype.names or []), "dtype": descr(dtype)}


def convert_provenance(seeding: Seeding, config: AugmentationConfig | None, start_id: int,
                       hash: bool, verified: bool, src: Path, fmt: str,
                       meta: dict[str, Any]) -> dict:
    """The provenance of converting the DPA JSON (``fmt="dpa"``) or JSON Lines
    file ``src`` whose top-level keys other than the records are ``meta``."""
    try:
        size = src.stat().st_size
    except OSError:
        size = None
    source = {
        "path": str(src.resolve()),
        "format": {"dpa": "dpa-json", "jsonl": "json-lines"}[fmt],
        "bytes": size,
    }
    if meta.get("metadata") is not None:
        source["metadata"] = meta["metadata"]
    if meta.get("statistics") is not None:
        source["statistics"] = meta["statistics"]
    return {
        "producer": "dpa.io.convert_json",
        **seeding.to_dict(),
        "config": config.to_dict() if config is not None else None,
        "start_id": start_id,
        "hash": hash,
        "verified": verified,
        "source": source,
    }


def _extra(extra: dict | Callable[[], dict] | None) -> dict:
    if extra is None:
        return {}
    value = extra() if callable(extra) else extra
    if not isinstance(value, dict):
        raise TypeError(f"provenance should be a dict, but got {type(value).__name__}")
    return value


def finish_provenance(base: dict, extra: dict | Callable[[], dict] | None, count: int,
                      nbytes: int, header: int) -> dict:
    """``base`` and the caller's ``extra`` keys (a callable is called now), with
    the format, the size of what was written, the version and the time."""
    prov = dict(base)
    prov.update(_extra(extra))
    prov["format"] = PROVENANCE_FORMAT
    prov["count"] = count
    prov["npy_header_bytes"] = header
    prov["npy_bytes"] = nbytes
    prov["dpa_version"] = __version__
    prov["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return jsonable(prov)


def resume_conflict(old: Any, new: dict) -> str | None:
    """The first of :data:`RESUME_KEYS` on which an interrupted export's
    provenance ``old`` and this one's ``new`` differ, described, or None."""
    old = old if isinstance(old, dict) else {}
    for key in RESUME_KEYS:
        if old.get(key) != new.get(key):
            return (f"the interrupted export has {key}={json.dumps(old.get(key))} but this one "
                    f"has {key}={json.dumps(new.get(key))}")
    return None


# ---- reading ---------------------------------------------------------------------


def describes(prov: dict, count: int, dtype: np.dtype) -> bool:
    """Whether ``prov`` can be the provenance of ``count`` records of ``dtype``."""
    return prov.get("count") in (None, count) and prov.get("dtype") in (None, descr(dtype))


def config_of(prov: dict, where: str) -> AugmentationConfig:
    """The config of the records; :class:`InputError` naming ``where`` if none or invalid."""
    cfg = prov.get("config")
    if cfg is None:
        raise InputError(f"{where}: the provenance records no config, so records cannot be recomputed")
    return parse_config(cfg, f"{where}: provenance config")


def parse_config(cfg: Any, what: str) -> AugmentationConfig:
    """``AugmentationConfig.from_dict(cfg)``; :class:`InputError` ``"WHAT is invalid: ..."``."""
    try:
        return AugmentationConfig.from_dict(cfg)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} is invalid: {exc}") from None


def seeding_of(prov: dict, where: str) -> Seeding:
    """The seeding of the records (:meth:`Seeding.from_dict`); :class:`InputError` if invalid."""
    try:
        return Seeding.from_dict(prov)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: provenance {exc}") from None


@dataclass(frozen=True)
class RecordedIds:
    """The sample ids of a file's records: ``start + k * step`` for record ``k``,
    or (``sha256`` set) the file's own ``sample_id`` column, whose SHA-256 as
    little-endian int64 is ``sha256``."""

    start: int = 0
    step: int = 1
    sha256: str | None = None

    def block(self, first: int, n: int) -> range:
        """The ids of records ``first .. first + n - 1`` (ranges only)."""
        return range(self.start + first * self.step, self.start + (first + n) * self.step, self.step)


def recorded_ids(prov: dict, where: str) -> RecordedIds:
    """The ids ``prov`` records; :class:`InputError` naming ``where`` if it records none."""
    start = prov.get("start_id")
    step = prov.get("step", 1)
    ids_from = prov.get("ids")
    want_sha = prov.get("ids_sha256")
    if ids_from is not None:
        if ids_from != "sample_id":
            raise InputError(f"{where}: provenance has ids={json.dumps(ids_from)}; the only "
                             "known value is \"sample_id\" (the file's sample_id column)")
        if not isinstance(want_sha, str) or not re.fullmatch(r"[0-9a-f]{64}", want_sha):
            raise InputError(f"{where}: provenance has \"ids\": \"sample_id\" but no valid "
                             "ids_sha256 (64 lowercase hex digits)")
        return RecordedIds(sha256=want_sha)
    if isinstance(start, bool) or not isinstance(start, int):
        raise InputError(f"{where}: provenance has neither start_id nor ids, so the sample ids "
                         "of the records are unknown")
    if not 0 <= start <= MAX_SAMPLE_ID:
        raise InputError(f"{where}: provenance start_id should be a sample id in [0, 2**63-1], "
                         f"but is {show(start)}")
    if isinstance(step, bool) or not isinstance(step, int) or step == 0:
        raise InputError(f"{where}: provenance step should be a non-zero integer, but is "
                         f"{show(step)}")
    return RecordedIds(start, step)


def check_id_range(ids: RecordedIds, count: int, where: str) -> None:
    """The ``count`` ids of ``ids`` (a start and a step) must all be sample ids."""
    if ids.sha256 is not None or count == 0:
        return
    last = ids.start + (count - 1) * ids.step
    if not 0 <= last <= MAX_SAMPLE_ID:
        raise InputError(f"{where}: provenance start_id {ids.start} and step {ids.step} give "
                         f"record {count - 1} the id {show(last)}, outside [0, 2**63-1]")


def dpa_stats_method(metadata: Any) -> str:
    """The method of the statistics block of a DPA file with this ``metadata``:
    ``save_augmentation_stream`` (``"streaming": true``) used Welford's
    recurrence, everything else DPA wrote the ``statistics`` module."""
    streaming = isinstance(metadata, dict) and metadata.get("streaming") is True
    return "welford" if streaming else "exact"


def _source(prov: dict | None) -> dict:
    source = (prov or {}).get("source")
    return source if isinstance(source, dict) else {}


def provenance_problems(prov: dict) -> list[str]:
    """What in a sidecar ``stats`` cannot use, one phrase each (the rest is
    used): ``source`` and its ``metadata`` and ``statistics`` must be objects."""
    problems = []
    source = prov.get("source")
    if source is not None and not isinstance(source, dict):
        problems.append(f"'source' should be an object, but is {show(source)}")
    elif isinstance(source, dict):
        for key in ("metadata", "statistics"):
            value = source.get(key)
            if value is not None and not isinstance(value, dict):
                problems.append(f"'source.{key}' should be an object, but is {show(value)}")
    return problems


def stats_method_for(prov: dict | None) -> str:
    """DPA's method for a file converted from a DPA JSON file with statistics
    (:func:`dpa_stats_method`); ``"exact"`` for anything else."""
    source = _source(prov)
    if isinstance(source.get("statistics"), dict):
        return dpa_stats_method(source.get("metadata"))
    return "exact"


def source_statistics(prov: dict | None) -> tuple[str, dict] | None:
    """``(file name, statistics block)`` of the DPA file a conversion read, or None."""
    source = _source(prov)
    block = source.get("statistics")
    if not isinstance(block, dict):
        return None
    return Path(str(source.get("path", "the source"))).name, block
