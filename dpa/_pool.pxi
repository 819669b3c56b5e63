# Large result arrays whose pages stay touched: a NumPy allocation handler
# (NEP 49) over the bounded pool of src/pool.c, installed only around dpa's
# own allocation of a result (see src/pool.h).  Included by _core.pyx.

from cpython.pycapsule cimport PyCapsule_New
from cpython.ref cimport Py_INCREF

cdef extern from *:
    """
    #include "src/pool.h"
    static PyDataMem_Handler dpa_pool_handler = {
        "dpa_pool", 1,
        {NULL, dpa_pool_malloc, dpa_pool_calloc, dpa_pool_realloc, dpa_pool_free}
    };
    """
    cnp.PyDataMem_Handler dpa_pool_handler

cdef extern from "src/pool.h" nogil:
    size_t DPA_POOL_MIN_BYTES
    ctypedef struct dpa_pool_stats:
        size_t held_bytes
        uint64_t hits
        uint64_t misses
        uint64_t live
        size_t limit
    size_t dpa_pool_set_limit(size_t bytes)
    void dpa_pool_get_stats(dpa_pool_stats *out)

_POOL_HANDLER = PyCapsule_New(&dpa_pool_handler, "mem_handler", NULL)

#: Arrays of at least this many bytes come from the pool.
POOL_MIN_BYTES = DPA_POOL_MIN_BYTES


def empty_pooled(Py_ssize_t n, dtype):
    """``np.empty(n, dtype)`` with its memory from the pool (``src/pool.h``).

    The array is an ordinary NumPy array that owns its data; when it and
    every view of it are gone, its mapping returns to the pool.
    """
    old = cnp.PyDataMem_SetHandler(_POOL_HANDLER)
    try:
        return np.empty(n, dtype)
    finally:
        cnp.PyDataMem_SetHandler(old)


def pool_set_limit(size_t nbytes):
    """Keep at most ``nbytes`` of freed mappings (0: none); returns the old limit."""
    return dpa_pool_set_limit(nbytes)


def pool_stats():
    """``{"held_bytes", "hits", "misses", "live", "limit"}`` of the pool."""
    cdef dpa_pool_stats st
    dpa_pool_get_stats(&st)
    return {"held_bytes": st.held_bytes, "hits": st.hits, "misses": st.misses,
            "live": st.live, "limit": st.limit}


cdef extern from "numpy/arrayobject.h":
    object PyArray_Empty_ "PyArray_Empty" (int nd, cnp.npy_intp *dims, cnp.dtype descr,
                                           int fortran)


def empty_records(Py_ssize_t n, cnp.dtype dtype):
    """``np.empty(n, dtype)`` for a small result, without NumPy's argument parsing."""
    cdef cnp.npy_intp dims[1]
    dims[0] = n
    Py_INCREF(dtype)  # PyArray_Empty steals a reference
    return PyArray_Empty_(1, dims, dtype, 0)
