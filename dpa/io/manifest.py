"""The sharded dataset format: a directory of ``.npy`` shards and its manifest.

A dataset ``OUT/`` holds:

``shard-000000.npy``, ``shard-000001.npy``, ...
    Shard ``k``: the records of ids ``plan.shard_ids(k)``, a ``.npy`` written
    by :func:`dpa.io.save_npy`, loadable alone (``np.load(mmap_mode="r")``),
    with its own provenance ``shard-000000.npy.json`` (which also records
    ``shard`` and the file's ``sha256``), so that ``verify`` works on it alone.
``manifest.json``
    Written last, atomically: the format, the provenance of all the records
    (the keys of :func:`dpa.io.provenance.stream_provenance`: config, seeding,
    ``start_id``, ``count``, ``step``), ``shard_records``, and one entry per
    shard (file, ``start_id``, ``count``, ``bytes``, ``sha256``).  Until it
    exists the dataset does not: readers report it incomplete and read
    nothing.
``manifest.partial.json``
    While an export runs, and after one was interrupted: the plan (the
    manifest without its shard list), so that ``--resume`` continues with the
    same layout.  Removed once the manifest is in place.

A shard is a pure function of the plan and its index: the records are
``dpa.generate`` of its ids, so any worker can (re)write any shard, and a
single-file export of the same ids holds the same records.

This module holds the names, :class:`DatasetPlan` (the layout and provenance),
:class:`ShardInfo` (one manifest entry), reading the manifest, and the atomic
JSON write used for the manifest and the plan.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from .._validate import check_bool, check_instance, check_positive_int
from ..config import AugmentationConfig
from ..records import record_dtype
from ..seeding import Seeding
from ..stream import ParamStream
from .errors import InputError, OutputError, os_message
from .provenance import (RESUME_KEYS, config_of, jsonable, recorded_ids, seeding_of,
                         stream_provenance)
from .files import fsync_dir, rename_noreplace, replace_durably, unlink_quiet, write_new_file

__all__ = [
    "DATASET_FORMAT",
    "MANIFEST_NAME",
    "MAX_SHARD_RECORDS",
    "MIN_SHARD_RECORDS",
    "PLAN_FORMAT",
    "PLAN_NAME",
    "DatasetPlan",
    "ShardInfo",
    "file_sha256",
    "first_difference",
    "is_dataset_file",
    "manifest_doc",
    "read_manifest",
    "read_plan",
    "shard_name",
    "write_json_atomic",
]

DATASET_FORMAT = "dpa-dataset/1"
PLAN_FORMAT = "dpa-dataset-plan/1"
MANIFEST_NAME = "manifest.json"
PLAN_NAME = "manifest.partial.json"

#: Shards hold at least one export batch (64 Ki records) unless the dataset is
#: smaller, and at most 8 Mi records (384 MiB of 48-byte records): a few
#: seconds of work per task on one core, small enough to redo when a worker
#: is lost (see docs/scale-out.md).
MIN_SHARD_RECORDS = 1 << 16
MAX_SHARD_RECORDS = 1 << 23

#: Shards per thread of the cluster when the size is chosen for the caller:
#: enough for Dask to balance the load, few enough that per-task costs vanish.
SHARDS_PER_THREAD = 4
#: ... but each shard at least this much work for one thread (nanoseconds, from
#: the scheme's cost per record), while there is a shard per thread: a shard's
#: fixed costs (a task, two files, their fsyncs, the SHA-256 finish) are a few
#: tens of milliseconds.  Measured with the DPA scheme, 5M records on 2 workers:
#: shards of 0.5 s (625,000 records) made 3.46M records/s, of 1 s 3.69M.
MIN_SHARD_NS = 1_000_000_000

_SHARD_FILE = re.compile(r"shard-[0-9]+\.npy(\..+)?")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def shard_name(index: int) -> str:
    """The file name of shard ``index``: ``shard-000042.npy``."""
    return f"shard-{index:06d}.npy"


def is_dataset_file(name: str) -> bool:
    """Whether ``name`` (a file name in a dataset directory) is one dpa writes
    there: the manifest, the plan, a shard, its provenance or their temporaries."""
    return (name.startswith((MANIFEST_NAME, PLAN_NAME))
            or _SHARD_FILE.fullmatch(name) is not None)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of the file at ``path``, read ``chunk`` bytes at a time."""
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(view):
            h.update(view[:n])
    return h.hexdigest()


def first_difference(found: dict, expected: dict) -> str | None:
    """The first of the provenance keys that identify records
    (:data:`dpa.io.provenance.RESUME_KEYS`) on which ``found`` differs from
    ``expected``, as ``"KEY=FOUND, not EXPECTED"``; None if they agree."""
    for key in RESUME_KEYS:
        if found.get(key) != expected.get(key):
            return f"{key}={json.dumps(found.get(key))}, not {json.dumps(expected.get(key))}"
    return None


# ---- the plan ----------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetPlan:
    """DatasetPlan(ids, config, seeding, hash, shard_records)

    What a sharded dataset holds and how it is cut: the records of ``ids``
    (a range, any step) for ``config`` and ``seeding``, with DPA's hash if
    ``hash``, in shards of ``shard_records`` records (the last one may be
    shorter; a dataset of no records has one empty shard).  A frozen value:
    it travels to the workers, and each shard is a function of it and the
    shard's index.
    """

    ids: range
    config: AugmentationConfig
    seeding: Seeding
    hash: bool
    shard_records: int

    def __post_init__(self) -> None:
        check_instance(self.ids, "ids", range, "a range")
        check_instance(self.config, "config", AugmentationConfig, "an AugmentationConfig")
        check_instance(self.seeding, "seeding", Seeding, "a dpa.Seeding")
        check_bool(self.hash, "hash")
        check_positive_int(self.shard_records, "shard_records")

    @staticmethod
    def auto_shard_records(count: int, parallelism: int = 1, ns_per_record: float = 0.0) -> int:
        """Records per shard for ``count`` records written ``parallelism`` at a
        time: about :data:`SHARDS_PER_THREAD` equal shards per thread, but at
        least :data:`MIN_SHARD_NS` of work at ``ns_per_record`` (the scheme's
        cost, :attr:`dpa.Seeding.ns_per_record`) as long as every thread gets a
        shard, within :data:`MIN_SHARD_RECORDS` .. :data:`MAX_SHARD_RECORDS`."""
        threads = max(1, parallelism)
        want = -(-count // (SHARDS_PER_THREAD * threads))
        if ns_per_record > 0:
            want = max(want, min(int(MIN_SHARD_NS / ns_per_record), -(-count // threads)))
        return max(1, min(count, max(MIN_SHARD_RECORDS, min(want, MAX_SHARD_RECORDS))))

    @property
    def count(self) -> int:
        """Records in the dataset."""
        return len(self.ids)

    @property
    def dtype(self) -> np.dtype:
        """The record dtype."""
        return record_dtype(self.hash)

    @property
    def num_shards(self) -> int:
        """How many shards (at least one)."""
        return max(1, math.ceil(self.count / self.shard_records))

    def shard_ids(self, index: int) -> range:
        """The ids of shard ``index``."""
        a = index * self.shard_records
        return self.ids[a:a + self.shard_records]

    def stream(self, ids: range | None = None) -> ParamStream:
        """A stream of ``ids`` (default: all) with the plan's config and seeding."""
        return ParamStream(self.ids if ids is None else ids, self.config,
                           param_seeding=self.seeding)

    def shard_provenance(self, index: int) -> dict:
        """The provenance :func:`dpa.io.save_npy` gives shard ``index``
        (before the keys added when it is written)."""
        ids = self.shard_ids(index)
        return stream_provenance(self.stream(ids), ids, self.dtype, self.hash)

    def provenance(self) -> dict:
        """The provenance of all the records (the manifest's ``provenance``)."""
        prov = stream_provenance(self.stream(), self.ids, self.dtype, self.hash)
        prov["producer"] = "dpa.io.save_dataset"
        return prov

    def to_dict(self) -> dict[str, Any]:
        """The plan file's contents (:data:`PLAN_NAME`)."""
        return {"format": PLAN_FORMAT, "provenance": self.provenance(),
                "shard_records": self.shard_records, "shards": self.num_shards}

    @classmethod
    def from_dict(cls, doc: Any, where: str) -> DatasetPlan:
        """The plan a manifest or plan file ``doc`` records; :class:`InputError`
        naming ``where`` if it is not a valid one."""
        if not isinstance(doc, dict) or not isinstance(doc.get("provenance"), dict):
            raise InputError(f"{where}: no provenance, so not a dpa dataset manifest")
        prov = doc["provenance"]
        ids = recorded_ids(prov, where)
        if ids.sha256 is not None:
            raise InputError(f"{where}: a dataset's ids are a range, but the provenance "
                             "records an id list")
        count, size = prov.get("count"), doc.get("shard_records")
        for name, value in (("count", count), ("shard_records", size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{where}: {name} should be a non-negative integer, "
                                 f"but is {value!r}")
        if size == 0:
            raise InputError(f"{where}: shard_records should be positive, but is 0")
        if not isinstance(prov.get("hash", False), bool):
            raise InputError(f"{where}: provenance hash should be true or false")
        try:
            plan = cls(ids.block(0, count), config_of(prov, where), seeding_of(prov, where),
                       prov.get("hash", False), size)
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
        wrong = first_difference(prov, plan.provenance())
        if wrong is not None:
            raise InputError(f"{where}: the provenance contradicts itself: {wrong} as its "
                             "config, seeding and ids give it")
        return plan


# ---- the manifest ------------------------------------------------------------------


@dataclass(frozen=True)
class ShardInfo:
    """One shard as the manifest lists it, and as a shard task reports it.

    ``kept`` is set (never written) when an existing shard was verified and
    kept by ``--resume`` instead of being written again.
    """

    index: int
    file: str
    start_id: int
    count: int
    nbytes: int
    sha256: str
    kept: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry."""
        return {"file": self.file, "start_id": self.start_id, "count": self.count,
                "bytes": self.nbytes, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, index: int, entry: Any, plan: DatasetPlan, where: str) -> ShardInfo:
        """Entry ``index`` of a manifest, checked against the plan."""
        ids = plan.shard_ids(index)
        want = {"file": shard_name(index), "start_id": ids.start, "count": len(ids)}
        if not isinstance(entry, dict):
            raise InputError(f"{where}: shard {index} is not an object")
        for key, value in want.items():
            if entry.get(key) != value:
                raise InputError(f"{where}: shard {index} should have {key}={json.dumps(value)} "
                                 f"by the dataset's layout, but has {json.dumps(entry.get(key))}")
        sha, nbytes = entry.get("sha256"), entry.get("bytes")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise InputError(f"{where}: shard {index} has no valid sha256")
        if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
            raise InputError(f"{where}: shard {index} has no valid byte count")
        return cls(index, want["file"], ids.start, len(ids), nbytes, sha)


def manifest_doc(plan: DatasetPlan, shards: list[ShardInfo]) -> dict[str, Any]:
    """The manifest of ``plan`` written as ``shards`` (in index order)."""
    return jsonable({
        "format": DATASET_FORMAT,
        "producer": "dpa.io.save_dataset",
        "count": plan.count,
        "shard_records": plan.shard_records,
        "provenance": plan.provenance(),
        "shards": [s.to_dict() for s in shards],
        "dpa_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {os_message(exc)}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


def read_manifest(directory: Path) -> tuple[DatasetPlan, list[ShardInfo], dict[str, Any]]:
    """``(plan, shards, manifest)`` of the dataset ``directory``.

    Raises :class:`InputError`: no such directory, not a dataset, an
    incomplete one (no manifest yet: an export is running or was
    interrupted), or a manifest that is not valid.
    """
    manifest = directory / MANIFEST_NAME
    if not directory.is_dir():
        what = "no such directory" if not directory.exists() else "not a directory"
        raise InputError(f"{directory}: {what}")
    if not manifest.is_file():
        try:
            ours = any(is_dataset_file(name) for name in os.listdir(directory))
        except OSError as exc:
            raise InputError(f"{directory}: cannot read: {os_message(exc)}") from None
        if ours:
            raise InputError(f"{directory}: incomplete dataset: {MANIFEST_NAME} is not written "
                             "(an export is running, or was interrupted: rerun it with "
                             "--resume to finish it); nothing is read before it is")
        raise InputError(f"{directory}: not a dpa dataset (no {MANIFEST_NAME})")
    doc = _read_json(manifest)
    if not isinstance(doc, dict) or doc.get("format") != DATASET_FORMAT:
        raise InputError(f"{manifest}: not a dpa dataset manifest "
                         f"(no \"format\": \"{DATASET_FORMAT}\")")
    plan = DatasetPlan.from_dict(doc, str(manifest))
    entries = doc.get("shards")
    if not isinstance(entries, list) or len(entries) != plan.num_shards:
        got = len(entries) if isinstance(entries, list) else "no"
        raise InputError(f"{manifest}: the layout has {plan.num_shards} shards but the "
                         f"manifest lists {got}")
    shards = [ShardInfo.from_dict(i, e, plan, str(manifest)) for i, e in enumerate(entries)]
    if doc.get("count") != plan.count:
        raise InputError(f"{manifest}: count {doc.get('count')!r} disagrees with the "
                         f"provenance's {plan.count}")
    return plan, shards, doc


def read_plan(directory: Path) -> DatasetPlan | None:
    """The plan of an interrupted export in ``directory``, or None if there is none."""
    path = directory / PLAN_NAME
    if not path.exists():
        return None
    doc = _read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise InputError(f"{path}: not a dpa export plan (no \"format\": \"{PLAN_FORMAT}\")")
    return DatasetPlan.from_dict(doc, str(path))


# ---- writing JSON atomically -------------------------------------------------------


def write_json_atomic(path: Path, doc: Any, *, replace: bool) -> None:
    """Write ``doc`` to ``path`` as JSON, atomically: created exclusively as
    ``path.tmp`` (never through a link, :mod:`dpa.io.files`), flushed, then
    renamed into place (``replace=False``: never over an existing ``path``),
    and the directory flushed."""
    tmp = path.with_name(path.name + ".tmp")
    data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
    try:
        if replace:
            replace_durably(path, tmp, data)
            return
        write_new_file(tmp, data, stale=True)  # a leftover there is ours: never written through
        try:
            rename_noreplace(tmp, path)
        except FileExistsError:
            raise OutputError(f"{path} appeared meanwhile; not replaced") from None
    except OSError as exc:
        unlink_quiet(tmp)
        raise OutputError(f"cannot write {path}: {os_message(exc)}") from None
    except BaseException:
        unlink_quiet(tmp)
        raise
    fsync_dir(path.parent)
