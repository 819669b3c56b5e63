"""``.npy`` files of records: headers, size checks, :func:`load`, :func:`iter_npy_blocks`.

Headers are numpy's own bytes (``numpy.lib.format``), so a file written by
dpa is byte-identical to ``numpy.save`` of the same array.  Only 1-D arrays
without Python objects are read.
"""

from __future__ import annotations

import contextlib
import io as _io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .._validate import check_int, check_path
from .errors import InputError, open_input

__all__ = ["READ_BLOCK", "descr", "iter_npy_blocks", "load", "npy_header", "read_layout"]

#: Records per block when reading a ``.npy`` for statistics or verification.
READ_BLOCK = 1 << 16


def npy_header(dtype: np.dtype, count: int) -> bytes:
    """numpy's header for a 1-D C-order array: the bytes ``numpy.save`` writes.

    numpy pads the header so its length does not depend on ``count``; a file
    whose length is not known in advance can have its header rewritten in
    place at the end.
    """
    d = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (count,)}
    buf = _io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, d)
    except ValueError:  # header too long for format 1.0
        buf = _io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, d)
    return buf.getvalue()


def descr(dtype: np.dtype) -> str:
    """The dtype as the ``.npy`` header spells it, e.g. ``"[('sample_id', '<i8'), ...]"``."""
    return repr(np.lib.format.dtype_to_descr(dtype))


def _read_header(f, path: Path) -> tuple[np.dtype, int, int]:
    """``(dtype, count, data offset)`` of a 1-D ``.npy`` open at its start.

    Any header numpy cannot parse (its parser raises ``ValueError``,
    ``SyntaxError``, ``tokenize.TokenError`` and others on malformed text) and
    any shape that is not one non-negative integer is an :class:`InputError`.
    """
    try:
        version = np.lib.format.read_magic(f)
    except (ValueError, EOFError) as exc:
        raise InputError(f"{path}: not a .npy file ({exc})") from None
    if version not in ((1, 0), (2, 0)):
        raise InputError(f"{path}: .npy format version {version} is not supported")
    try:
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    except Exception as exc:  # untrusted text through numpy's literal parser
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a .npy file (malformed header: {reason})") from None
    if fortran or len(shape) != 1:
        raise InputError(f"{path}: expected a 1-D array of records, but the file holds shape {shape}")
    count = shape[0]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InputError(f"{path}: malformed header: shape {shape} is not a count of records")
    if dtype.hasobject:
        raise InputError(f"{path}: holds Python objects, which dpa does not read")
    return dtype, int(count), f.tell()


def _open(path: Path):
    return open_input(path, "is a directory, not a .npy file", mode="rb", buffering=0)


def _check_size(f, path: Path, dtype: np.dtype, count: int, offset: int) -> None:
    need = offset + count * dtype.itemsize
    size = os.fstat(f.fileno()).st_size
    if size < need:
        raise InputError(
            f"{path}: truncated: the header announces {count:,} records ({need:,} bytes) "
            f"but the file holds {size:,} bytes"
        )


def read_layout(path: Path, *, check_size: bool = True) -> tuple[np.dtype, int, int]:
    """``(dtype, count, data offset)`` of the 1-D ``.npy`` at ``path``.

    Raises :class:`InputError` for a missing or non-``.npy`` file, another
    shape, and (with ``check_size``) a file shorter than its header announces.
    """
    with _open(path) as f:
        dtype, count, offset = _read_header(f, path)
        if check_size:
            _check_size(f, path, dtype, count, offset)
    return dtype, count, offset


def load(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """load(path, mmap=True)

    A ``.npy`` of records as an array: read-only memory-mapped by default (no
    memory is used until rows are touched), or read into memory.

    Raises :class:`InputError` for a missing, truncated or non-``.npy`` file,
    or one that is not a 1-D array.
    """
    p = check_path(path)
    read_layout(p)
    try:
        return np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{p}: cannot load: {exc}") from None


def iter_npy_blocks(path: str | os.PathLike, block_records: int = READ_BLOCK
                    ) -> Iterator[tuple[int, np.ndarray]]:
    """iter_npy_blocks(path, block_records=65536)

    Yield ``(first_index, records)`` blocks of a ``.npy`` in order, read into
    one reused buffer: memory stays at one block for a file of any size.
    Each block is only valid until the next one is requested (copy it to
    keep it).
    """
    p = check_path(path)
    if check_int(block_records, "block_records") < 1:
        raise ValueError(f"block_records should be positive, but got {block_records}")
    with _open(p) as f:
        dtype, count, offset = _read_header(f, p)
        _check_size(f, p, dtype, count, offset)
        with contextlib.suppress(AttributeError, OSError):
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        buf = np.empty(max(1, min(block_records, count)), dtype)
        raw = buf.view(np.uint8) if dtype.itemsize else buf
        f.seek(offset)
        i = 0
        while i < count:
            m = min(len(buf), count - i)
            want = m * dtype.itemsize
            mv = memoryview(raw)[:want]
            got = 0
            while got < want:
                r = f.readinto(mv[got:])
                if not r:
                    raise InputError(f"{p}: truncated at record {i + got // dtype.itemsize}")
                got += r
            yield i, buf[:m]
            i += m
