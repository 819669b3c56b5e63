# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Compiled kernels of dpa (private; use the public modules).

Layers, in order (see ``src/dpa_kernel.h`` for the algorithm):

1. C kernels in ``src/``: ``dpa_fill`` computes DPA 0.2.1 records for a block
   of sample ids, choosing portable, AVX2 or SHA-NI code at run time.
2. This module: ``DPAKernel`` holds a plan (prefix, depth, ranges and the
   pre-expanded constant blocks of the hash chain) and fills slices of a
   record array with the GIL released.  Inputs are validated by the Python
   callers (``dpa.engine``); these functions only check what would otherwise
   corrupt memory.
"""

from libc.stdint cimport int64_t, uint32_t
from libc.string cimport memcpy

import numpy as np
cimport numpy as cnp

cnp.import_array()

cdef extern from "src/dpa_kernel.h" nogil:
    int DPA_PATH_AVX2
    int DPA_PATH_SHANI
    ctypedef struct dpa_plan:
        const unsigned char *prefix
        int64_t prefix_len
        int64_t depth
        const uint32_t *tail_wk
        const int64_t *tail_start
        double low[5]
        double span[5]
    int dpa_cpu_paths()
    void dpa_expand_block(const unsigned char *block, uint32_t *wk)
    int dpa_fill(const dpa_plan *plan, char *rec, int64_t n, int64_t itemsize,
                 int64_t hash_offset, int paths)
    void dpa_sha256_compress_bytes(uint32_t *state, const unsigned char *block, int paths)

PATH_AVX2 = DPA_PATH_AVX2
PATH_SHANI = DPA_PATH_SHANI
_CPU_PATHS = dpa_cpu_paths()  # also builds the kernel's constant tables, with the GIL held


def cpu_paths():
    """Bitmask of the accelerated paths this CPU supports (``PATH_*``)."""
    return _CPU_PATHS


def chain_tail_blocks(fib_strings):
    """Pre-expanded tail blocks of the hash chain, for ``DPAKernel``.

    Step ``i`` hashes ``hex(h) + fib_strings[i]``: 64 bytes that depend on the
    sample, then ``fib_strings[i]`` and the SHA-256 padding, which do not.
    Returns ``(wk, start)``: ``wk`` a ``(blocks, 64)`` uint32 array of
    ``W[t] + K[t]`` per constant block, ``start`` the first block of each step.
    """
    cdef Py_ssize_t i, b
    tails = []
    start = np.zeros(len(fib_strings) + 1, dtype=np.int64)
    for i, s in enumerate(fib_strings):
        msg_len = 64 + len(s)
        tail_len = (len(s) + 9 + 63) // 64 * 64
        tail = s + b"\x80" + bytes(tail_len - len(s) - 9) + (8 * msg_len).to_bytes(8, "big")
        tails.append(tail)
        start[i + 1] = start[i] + tail_len // 64
    cdef bytes blob = b"".join(tails)
    cdef cnp.ndarray[uint32_t, ndim=2] wk = np.empty((start[len(fib_strings)], 64), dtype=np.uint32)
    cdef const unsigned char *p = blob
    for b in range(wk.shape[0]):
        dpa_expand_block(p + 64 * b, &wk[b, 0])
    return wk, start


cdef class DPAKernel:
    """A compiled plan for DPA 0.2.1's scheme: fills records for sample ids.

    Parameters
    ----------
    prefix : bytes
        Hashed before the decimal sample id (``b""``, or DPA's rank-aware
        ``b"{base_seed}:{rank}:"``).
    tail_wk, tail_start : ndarray
        From :func:`chain_tail_blocks` for the config's depth.
    lows, spans : sequence of 5 floats
        ``float(low)`` and ``float(high - low)`` per field.
    """

    cdef dpa_plan plan
    cdef bytes _prefix
    cdef object _wk, _start

    def __cinit__(self, bytes prefix, cnp.ndarray tail_wk, cnp.ndarray tail_start, lows, spans):
        cdef int k
        if tail_wk.dtype != np.uint32 or not tail_wk.flags.c_contiguous or tail_wk.ndim != 2 \
                or tail_wk.shape[1] != 64:
            raise ValueError("tail_wk must be a C-contiguous (blocks, 64) uint32 array")
        if tail_start.dtype != np.int64 or not tail_start.flags.c_contiguous \
                or tail_start.ndim != 1 or tail_start.shape[0] < 2 \
                or tail_start[tail_start.shape[0] - 1] != tail_wk.shape[0]:
            raise ValueError("tail_start must be int64 with depth + 1 entries ending at len(tail_wk)")
        if len(lows) != 5 or len(spans) != 5:
            raise ValueError("lows and spans must have 5 entries")
        self._prefix = prefix
        self._wk = tail_wk
        self._start = tail_start
        self.plan.prefix = <const unsigned char *>self._prefix
        self.plan.prefix_len = len(prefix)
        self.plan.depth = tail_start.shape[0] - 1
        self.plan.tail_wk = <const uint32_t *>cnp.PyArray_DATA(tail_wk)
        self.plan.tail_start = <const int64_t *>cnp.PyArray_DATA(tail_start)
        for k in range(5):
            self.plan.low[k] = float(lows[k])
            self.plan.span[k] = float(spans[k])

    def fill(self, cnp.ndarray out, Py_ssize_t start, Py_ssize_t stop, int hash_offset, int paths):
        """Fill ``out[start:stop]`` (sample ids already set) with the GIL released.

        ``out`` is a C-contiguous 1-D record array whose first field is the
        int64 sample id followed by five float64 fields; ``hash_offset`` is
        the byte offset of a 64-byte hash field, or -1.
        """
        cdef char *base
        cdef int64_t itemsize = out.itemsize
        cdef int rc
        if out.ndim != 1 or not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("out must be a writeable C-contiguous 1-D array")
        if not (0 <= start <= stop <= out.shape[0]):
            raise IndexError(f"bad slice [{start}:{stop}] of {out.shape[0]} records")
        if itemsize < 48 or (hash_offset >= 0 and (hash_offset < 48 or hash_offset > itemsize - 64)):
            raise ValueError("record layout does not fit the item size")
        base = <char *>cnp.PyArray_DATA(out) + start * itemsize
        with nogil:
            rc = dpa_fill(&self.plan, base, stop - start, itemsize, hash_offset, paths)
        if rc != 0:
            raise MemoryError("dpa kernel could not allocate its scratch memory")


def fill_range_ids(cnp.ndarray out, Py_ssize_t start, Py_ssize_t stop, int64_t first, int64_t step):
    """Set ``out[start:stop]['sample_id']`` to ``first, first + step, ...``.

    The caller guarantees every value fits in int64.
    """
    cdef char *base
    cdef int64_t itemsize = out.itemsize, v
    cdef Py_ssize_t i
    if out.ndim != 1 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be a writeable C-contiguous 1-D array")
    if not (0 <= start <= stop <= out.shape[0]):
        raise IndexError(f"bad slice [{start}:{stop}] of {out.shape[0]} records")
    base = <char *>cnp.PyArray_DATA(out)
    with nogil:
        for i in range(start, stop):
            v = first + (<int64_t>(i - start)) * step
            memcpy(base + i * itemsize, &v, 8)


def sha256_compress_loop(Py_ssize_t nblocks, int paths):
    """Run ``nblocks`` dependent SHA-256 compressions (benchmark helper).

    Returns the final state, so the work cannot be optimised away.
    """
    cdef uint32_t state[8]
    cdef unsigned char block[64]
    cdef Py_ssize_t i
    cdef int k
    for k in range(8):
        state[k] = 0x6a09e667u + k
    for k in range(64):
        block[k] = k
    with nogil:
        for i in range(nblocks):
            dpa_sha256_compress_bytes(state, block, paths)
            block[0] = <unsigned char>state[0]
    return [state[k] for k in range(8)]
