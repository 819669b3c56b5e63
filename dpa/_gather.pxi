# Included by dpa/_core.pyx (``include "_gather.pxi"``); compiled with its directives.
#
# The strided row gather of the batch engine (dpa.batch): round-robin batch j
# of an array of N records is rows j, j + n, j + 2n, ... copied into a
# C-contiguous batch.  Layers, in order:
#
# 1. ``_gather_rows``: the nogil loop, one memcpy per row.  Rows of any size
#    (48-byte parameter records, 112-byte records with hash, image rows).
# 2. ``gather_strided``: checks everything that could corrupt memory (shapes,
#    dtypes, bounds, row layout) with the GIL held, then runs the loop with
#    the GIL released.  The public wrapper is ``dpa.batch``; callers there
#    validate user input first, so these checks only guard the kernel.

from libc.string cimport memcpy
cimport numpy as cnp


cdef void _gather_rows(char *dst, const char *src, Py_ssize_t src_stride,
                       Py_ssize_t row_bytes, Py_ssize_t start, Py_ssize_t step,
                       Py_ssize_t count) noexcept nogil:
    """Copy ``count`` rows ``start, start + step, ...`` of ``src`` to ``dst``.

    ``src_stride`` is the byte distance between consecutive rows of the
    source (it may be negative or larger than a row); ``dst`` rows are packed.
    """
    cdef Py_ssize_t k
    cdef const char *s = src + start * src_stride
    cdef Py_ssize_t jump = step * src_stride
    for k in range(count):
        memcpy(dst, s, <size_t>row_bytes)
        dst += row_bytes
        s += jump


cdef Py_ssize_t _row_bytes(cnp.ndarray a) except -2:
    """Bytes of one row ``a[i]`` if its elements are packed C-order, else -1."""
    cdef Py_ssize_t size = a.itemsize
    cdef int d
    for d in range(a.ndim - 1, 0, -1):
        if a.shape[d] != 1 and a.strides[d] != size:
            return -1
        size *= a.shape[d]
    return size


def gather_strided(cnp.ndarray src, cnp.ndarray out, Py_ssize_t start, Py_ssize_t step):
    """gather_strided(src, out, start, step)

    Copy rows ``start, start + step, ...`` of ``src`` into ``out``.

    ``out[k] = src[start + k * step]`` for ``k < len(out)``, with the GIL
    released during the copy (one ``memcpy`` per row).  ``src`` may be
    read-only (a ``np.memmap`` opened with ``mode="r"``) and strided along
    its first axis; each row must be packed in C order.

    Parameters
    ----------
    src : ndarray
        At least 1-D, of any dtype without Python objects (structured record
        arrays of any item size included).
    out : ndarray
        Writeable, C-contiguous, with ``src``'s dtype and ``src.shape[1:]``;
        ``len(out)`` rows are copied.
    start : int
        First row, ``0 <= start < len(src)`` (any value if ``len(out) == 0``).
    step : int
        Distance between rows, ``>= 1``.

    Returns
    -------
    ndarray
        ``out``.

    Raises
    ------
    ValueError
        On a dtype or shape mismatch, object dtype, unpacked rows, a
        non-contiguous or read-only ``out``, or a non-positive ``step``.
    IndexError
        If the last row ``start + (len(out) - 1) * step`` is out of range.
    """
    cdef Py_ssize_t n, count, row
    if src.ndim < 1:
        raise ValueError("src should be at least 1-D, but got a 0-d array")
    if src.dtype.hasobject:
        raise ValueError(f"src should not hold Python objects, but has dtype {src.dtype}")
    if out.dtype != src.dtype:
        raise ValueError(f"out should have src's dtype {src.dtype}, but has {out.dtype}")
    src_shape = (<object>src).shape
    out_shape = (<object>out).shape
    if out.ndim != src.ndim or out_shape[1:] != src_shape[1:]:
        raise ValueError(f"out should have shape (k,) + {src_shape[1:]}, but has {out_shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out should be a writeable C-contiguous array")
    if step < 1:
        raise ValueError(f"step should be a positive integer, but got step={step}")
    row = _row_bytes(src)
    if row < 0:
        raise ValueError("each row of src should be packed in C order")
    n = src.shape[0]
    count = out.shape[0]
    if count == 0 or row == 0:
        return out
    if start < 0 or start >= n:
        raise IndexError(f"start should be in [0, {n}), but got start={start}")
    if count - 1 > (n - 1 - start) // step:
        raise IndexError(
            f"row {int(start) + (int(count) - 1) * int(step)} (start={start}, step={step}, "
            f"{count} rows) is out of range for {n} rows")
    cdef char *dst = <char *>cnp.PyArray_DATA(out)
    cdef const char *base = <const char *>cnp.PyArray_DATA(src)
    cdef Py_ssize_t stride = src.strides[0]
    with nogil:
        _gather_rows(dst, base, stride, row, start, step, count)
    return out
