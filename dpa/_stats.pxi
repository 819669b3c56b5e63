# Included by dpa/_core.pyx (``include "_stats.pxi"``); compiled with its directives.
#
# DPA's streaming statistics (``save_augmentation_stream``): Welford's
# recurrence in float64, in record order, one value after another.  The loop
# is the very sequence of IEEE operations CPython runs for DPA's code,
#
#     n += 1; delta = v - mean; mean += delta / n; m2 += delta * (v - mean)
#
# with ``n`` a double equal to the integer count (CPython converts the int
# exactly below 2**53), so the results are equal bit for bit.  setup.py
# compiles with -ffp-contract=off and without fast-math: no fused
# multiply-add, no reassociation, no reciprocal for the division.


cdef void _welford_run(const double *x, Py_ssize_t count, double *n, double *mean,
                       double *m2) noexcept nogil:
    cdef Py_ssize_t i
    cdef double v, delta
    cdef double cn = n[0]
    cdef double cmean = mean[0]
    cdef double cm2 = m2[0]
    for i in range(count):
        v = x[i]
        cn = cn + 1.0
        delta = v - cmean
        cmean = cmean + delta / cn
        cm2 = cm2 + delta * (v - cmean)
    n[0] = cn
    mean[0] = cmean
    m2[0] = cm2


def welford_update(const double[::1] values, double n, double mean, double m2):
    """welford_update(values, n, mean, m2) -> (n, mean, m2)

    Continue Welford's recurrence from the state ``(n, mean, m2)`` (``n`` the
    count so far, as a float) over ``values`` (1-D, C-contiguous float64), in
    order, with the GIL released.  The public wrapper is ``dpa.io.stats``.
    """
    cdef Py_ssize_t count = values.shape[0]
    if count:
        with nogil:
            _welford_run(&values[0], count, &n, &mean, &m2)
    return n, mean, m2
