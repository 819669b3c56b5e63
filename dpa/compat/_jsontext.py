"""The JSON text of DPA 0.2.1's files, byte for byte, made in blocks.

DPA writes its records in two layouts:

``INDENT``
    ``json.dump(document, f, indent=2)`` (``save_augmentation_chain``, and
    ``save_augmentation_stream`` with statistics): each record an object over
    several lines at depth 2.
``LINE``
    ``save_augmentation_stream`` without statistics: each record on one line,
    ``"    " + json.dumps(record)``.

A block of records becomes the text of its records joined by ``",\\n"``, the
bytes ``json`` writes.  Kernel records, and dicts :func:`dpa.compat._gather.gather`
reads, are formatted by the compiled ``dpa._core.json_records`` (a float as
``repr`` writes it, which is what ``json`` writes); any other item by the
``json`` module itself.  :func:`document_head` and :func:`document_tail` give
the text around the records.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import numpy as np

from .._core import json_records
from ..config import FIELDS
from ..records import record_floats, record_hashes
from ._gather import KINDS, Gathered, gather, values_of

__all__ = ["INDENT", "LINE", "TextBlock", "TextBuffer", "dicts_block", "document_head",
           "document_tail", "item_text", "records_block"]

INDENT = "indent"
LINE = "line"


class TextBuffer:
    """The output buffer of the compiled formatter, reused from block to block.

    A block's text is a view into it, valid until the next block is made (the
    savers write it at once; keep ``bytes(view)`` to hold it longer).  Reusing
    it spares the fresh pages a new buffer per block costs.
    """

    def __init__(self) -> None:
        self._buf: np.ndarray | None = None

    def records(self, g: Gathered, layout: str) -> memoryview:
        """The text of gathered records in ``layout``."""
        prefixes, suffix = _literals(g.keys, layout)
        self._buf, n = json_records(prefixes, suffix, g.floats, g.strings, g.ints,
                                    [KINDS[k] for k in g.keys], self._buf)
        return memoryview(self._buf)[:n]


class TextBlock(NamedTuple):
    """The text of a block of records (bytes, or a view into a :class:`TextBuffer`)
    and their parameter values.

    ``columns`` (a float64 array per field of ``FIELDS``) when every value
    was a ``float``; else ``values`` (a list of the Python values per field),
    or None when the caller did not ask for values.
    """

    text: bytes | memoryview
    count: int
    columns: list[np.ndarray] | None
    values: list[list[Any]] | None


def _nested(obj: Any) -> str:
    """``obj`` as ``json.dump(..., indent=2)`` writes it at depth 1."""
    return json.dumps(obj, indent=2).replace("\n", "\n  ")


def document_head(meta: dict[str, Any], layout: str) -> bytes:
    """The text before the first record: the metadata and the opening of the array."""
    if layout == INDENT:
        return f'{{\n  "metadata": {_nested(meta)},\n  "augmentations": ['.encode("ascii")
    return ('{\n  "metadata": {\n    "num_samples": null,\n    "config": '
            f'{json.dumps(meta["config"])},\n    "streaming": true\n  }},\n'
            '  "augmentations": [\n').encode("ascii")


def document_tail(layout: str, count: int, statistics: dict[str, Any] | None = None) -> bytes:
    """The text after the last of ``count`` records (and the statistics, INDENT only)."""
    if layout == LINE:
        return b"\n  ]\n}\n"
    close = "]" if count == 0 else "\n  ]"
    if statistics is None:
        return f"{close}\n}}".encode("ascii")
    return f'{close},\n  "statistics": {_nested(statistics)}\n}}'.encode("ascii")


def record_separator(layout: str, first: bool) -> bytes:
    """What comes before a block of records in ``layout``."""
    if first:
        return b"\n" if layout == INDENT else b""
    return b",\n"


def item_text(item: Any, layout: str) -> str:
    """One record as ``json`` writes it in ``layout`` (any JSON-able item)."""
    if layout == INDENT:
        return "    " + json.dumps(item, indent=2).replace("\n", "\n    ")
    return "    " + json.dumps(item)


def _literals(keys: tuple[str, ...], layout: str) -> tuple[list[bytes], bytes]:
    names = [json.dumps(k) for k in keys]
    if layout == INDENT:
        prefixes = [f"    {{\n      {names[0]}: "] + [f",\n      {n}: " for n in names[1:]]
        return [p.encode("ascii") for p in prefixes], b"\n    }"
    prefixes = [f"    {{{names[0]}: "] + [f", {n}: " for n in names[1:]]
    return [p.encode("ascii") for p in prefixes], b"}"


def records_block(records: np.ndarray, extra: dict[str, Any], layout: str,
                  buffer: TextBuffer | None = None) -> TextBlock:
    """The text of kernel records (``dpa.PARAM_DTYPE``, with or without ``hash``)
    as DPA's dicts of them, with the ``extra`` keys (``rank``), would be written."""
    n = len(records)
    records = np.ascontiguousarray(records)
    columns = [records[f] for f in FIELDS]
    if n == 0:
        return TextBlock(b"", 0, columns, None)
    names = records.dtype.names
    keys = FIELDS + (("hash",) if "hash" in names else ()) + tuple(extra)
    floats = record_floats(records)
    strings = record_hashes(records) if "hash" in names else None
    ints = None
    for key, value in extra.items():
        if KINDS.get(key) != 2:
            raise ValueError(f"unexpected extra key {key!r}")
        ints = np.full(n, value, np.int64)
    text = (buffer or TextBuffer()).records(Gathered(keys, floats, strings, ints), layout)
    return TextBlock(text, n, columns, None)


def dicts_block(dicts: list[Any], layout: str, values: bool = True,
                buffer: TextBuffer | None = None) -> TextBlock:
    """The text of a list of items as ``json`` writes them in ``layout``.

    With ``values``, the parameter values too (``KeyError`` or ``TypeError``
    for an item without them, as DPA's statistics raise).
    """
    n = len(dicts)
    if n == 0:
        return TextBlock(b"", 0, [np.empty(0)] * len(FIELDS), None)
    g = gather(dicts)
    if g is not None:
        return TextBlock((buffer or TextBuffer()).records(g, layout), n, g.columns(), None)
    text = ",\n".join(item_text(d, layout) for d in dicts).encode("ascii")
    return TextBlock(text, n, None, values_of(dicts) if values else None)
