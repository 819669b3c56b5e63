# Included by dpa/_core.pyx (``include "_shuffle.pxi"``); compiled with its directives.
#
# The epoch shuffle of dpa.distributed: a balanced Feistel network on the
# smallest even-bit domain covering [0, n), restricted to [0, n) by cycle
# walking (see ``dpa.distributed.shuffle_positions`` for the definition, and
# tests/test_distributed.py for a pure-Python twin).  Layers, in order:
#
# 1. ``_permute``: eight positions in flight at a time (the round function is
#    the splitmix64 finalizer), so that eight multiply chains overlap.
# 2. ``feistel_permute``: checks what could corrupt memory, then permutes an
#    array of positions with the GIL released.  ``dpa.distributed`` validates
#    user input (positions in [0, n), keys) first.

cdef uint64_t _MIX1 = 0xBF58476D1CE4E5B9
cdef uint64_t _MIX2 = 0x94D049BB133111EB


cdef void _permute(const int64_t *src, int64_t *dst, Py_ssize_t count, const uint64_t *keys,
                   int rounds, int half, uint64_t mask, uint64_t n) noexcept nogil:
    """``dst[i] = perm(src[i])``, eight encryptions in flight at a time.

    One encryption is a chain of dependent multiplies; with rounds outside
    and lanes inside, eight independent chains overlap.  A lane whose result
    is still outside ``[0, n)`` encrypts it again (cycle walking); a lane
    that is done writes its result and takes the next position, so every
    pass does useful work.  ``dst`` may be ``src``: a result is written only
    to an index already read.
    """
    cdef uint64_t x[8]
    cdef uint64_t left[8]
    cdef uint64_t right[8]
    cdef Py_ssize_t idx[8]
    cdef Py_ssize_t nxt = 0
    cdef uint64_t z, t, y
    cdef int j, r, live = 0
    for j in range(8):
        if nxt < count:
            idx[j] = nxt
            x[j] = <uint64_t>src[nxt]
            nxt += 1
            live += 1
        else:
            idx[j] = -1
            x[j] = 0
    while live:
        for j in range(8):
            left[j] = x[j] >> half
            right[j] = x[j] & mask
        for r in range(rounds):
            for j in range(8):
                z = (right[j] ^ keys[r]) * _MIX1
                z = z ^ (z >> 31)
                z = z * _MIX2
                t = left[j] ^ (z >> (64 - half))
                left[j] = right[j]
                right[j] = t
        for j in range(8):
            if idx[j] < 0:
                continue
            y = (left[j] << half) | right[j]
            if y >= n:  # cycle walking: encrypt again
                x[j] = y
                continue
            dst[idx[j]] = <int64_t>y
            if nxt < count:
                idx[j] = nxt
                x[j] = <uint64_t>src[nxt]
                nxt += 1
            else:
                idx[j] = -1
                live -= 1


def feistel_permute(cnp.ndarray positions, cnp.ndarray out, uint64_t n, keys):
    """``out[i] = perm(positions[i])`` for the keyed permutation of ``0 .. n-1``.

    ``positions`` and ``out`` are C-contiguous int64 arrays of one length
    (they may be the same array); every position must lie in ``[0, n)``
    (checked by the caller) and ``n >= 2``; ``keys`` holds 1 to 16 round keys.
    """
    cdef uint64_t k[16]
    cdef int rounds = len(keys), half, r
    cdef uint64_t mask
    cdef Py_ssize_t count
    cdef const int64_t *src
    cdef int64_t *dst
    for a in (positions, out):
        if a.dtype != np.int64 or a.ndim != 1 or not a.flags.c_contiguous:
            raise ValueError("positions and out must be C-contiguous 1-D int64 arrays")
    if positions.shape[0] != out.shape[0] or not out.flags.writeable:
        raise ValueError("out must be writeable and as long as positions")
    if not (1 <= rounds <= 16) or n < 2:
        raise ValueError("feistel_permute needs 1 to 16 keys and n >= 2")
    for r in range(rounds):
        k[r] = keys[r]
    half = ((n - 1).bit_length() + 1) // 2
    mask = (<uint64_t>1 << half) - 1
    count = positions.shape[0]
    src = <const int64_t *>cnp.PyArray_DATA(positions)
    dst = <int64_t *>cnp.PyArray_DATA(out)
    with nogil:
        _permute(src, dst, count, k, rounds, half, mask, n)
    return out
