"""DPA's parameter dicts gathered into arrays, in blocks, by the compiled core.

DPA's consumers read ``params[key]`` dict by dict.  :func:`gather` reads a
whole block of dicts with ``dpa._core.dict_fields`` when every one is a plain
``dict`` whose keys are DPA's (the five parameters, then ``hash`` and ``rank``
where present), in the same order, with ``float`` parameters, a 64-character
ASCII ``hash`` and an ``int`` ``rank``; anything else is read value by value in
Python (:func:`values_of`), with the errors DPA's loops raise.  The statistics
need only the five parameters: :func:`gather_floats` reads those of any plain
dicts holding them as floats.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._core import dict_fields, dict_floats
from ..config import FIELDS

__all__ = ["HASH_WIDTH", "KINDS", "Gathered", "gather", "gather_floats", "layout_of", "values_of"]

#: How each key's value is held: 0 a float, 1 a 64-character string, 2 an int.
KINDS = {**{f: 0 for f in FIELDS}, "hash": 1, "rank": 2}
HASH_WIDTH = 64


class Gathered(NamedTuple):
    """A block of dicts with one layout: ``keys`` in order, the float values
    (one column per float key, in key order), the hashes as bytes, the ranks."""

    keys: tuple[str, ...]
    floats: np.ndarray
    strings: np.ndarray | None
    ints: np.ndarray | None

    def columns(self) -> list[np.ndarray]:
        """The float64 column of each of DPA's five parameters, in ``FIELDS`` order."""
        float_keys = [k for k in self.keys if KINDS[k] == 0]
        return [self.floats[:, float_keys.index(f)] for f in FIELDS]


def layout_of(item: Any) -> tuple[str, ...] | None:
    """The keys of ``item`` if it is a dict :func:`gather` can read, else None."""
    if type(item) is not dict:
        return None
    keys = tuple(item)
    if len(keys) > len(KINDS) or not set(FIELDS) <= set(keys) or not set(keys) <= set(KINDS):
        return None
    return keys


def gather(dicts: list[Any]) -> Gathered | None:
    """The values of ``dicts`` if they all have the layout of the first, else None."""
    if not dicts:
        return None
    keys = layout_of(dicts[0])
    if keys is None:
        return None
    n = len(dicts)
    kinds = [KINDS[k] for k in keys]
    floats = np.empty((n, kinds.count(0)), np.float64, order="F")  # a contiguous column per key
    strings = np.empty((n, HASH_WIDTH), np.uint8) if 1 in kinds else None
    ints = np.empty(n, np.int64) if 2 in kinds else None
    if dict_fields(dicts, 0, keys, kinds, floats, strings, ints) != n:
        return None
    return Gathered(keys, floats, strings, ints)


def gather_floats(dicts: list[Any]) -> list[np.ndarray] | None:
    """The float64 column of each of DPA's five parameters of ``dicts`` (a column
    per field of ``FIELDS``) if every item is a plain dict holding them as
    floats, whatever else it holds; else None.  What the statistics read."""
    floats = np.empty((len(dicts), len(FIELDS)), np.float64, order="F")
    if dict_floats(dicts, FIELDS, floats) != len(dicts):
        return None
    return [floats[:, j] for j in range(len(FIELDS))]


def values_of(dicts: list[Any]) -> list[list[Any]]:
    """``[[p[field] for p in dicts] for field in FIELDS]``: DPA's own reading."""
    return [[p[f] for p in dicts] for f in FIELDS]
