# Included by dpa/_core.pyx (``include "_json.pxi"``); compiled with its directives.
#
# JSON text of parameter records in the layouts DPA 0.2.1's savers write, and
# the reverse: the fields of DPA's parameter dicts gathered into arrays.  The
# public wrapper is ``dpa.compat._jsontext``, which checks its input and falls
# back to the ``json`` module for anything these functions do not handle.
# Layers, in order:
#
# 1. ``dpa_shortest`` (C, below): a double as Python's ``repr`` writes it, which
#    is what ``json`` writes for a finite float.  The digits are the shortest
#    that round-trip, the closest to the value when several are shortest, ties
#    to even: Ryu (Adams, "Ryu: fast float-to-string conversion", PLDI 2018),
#    here with 64-bit operations only.  Its tables of powers of five are
#    computed exactly, with Python integers, when the module is imported
#    (``_ryu_tables``).  Then CPython's layout: positional notation when the
#    decimal exponent is in [-4, 16), with ``.0`` after an integer, else
#    ``d.ddde+XX`` with at least two exponent digits; ``-0.0`` keeps its sign.
#    JSON's ``NaN``, ``Infinity`` and ``-Infinity`` for the others.
# 2. ``json_records``: records joined by ",\n", each a fixed sequence of
#    (literal prefix, value) pairs and a suffix, values taken from a float64
#    column set, a column of 64-byte ASCII strings (DPA's hex hash) or an int64
#    column.  The caller builds the literals for the layout (``json.dump`` with
#    ``indent=2`` at depth 2, or DPA's one-line streaming records).
# 3. ``dict_fields``: the values of a run of dicts whose keys are exactly a
#    given tuple, in order, with exact types (``float`` for the five
#    parameters, ``str`` of 64 safe ASCII characters for ``hash``, ``int`` for
#    ``rank``); it stops at the first dict that differs.

from cpython.dict cimport PyDict_Next, PyDict_Size
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_GET_LENGTH

cdef extern from "Python.h":
    bint PyFloat_CheckExact(object o)
    bint PyLong_CheckExact(object o)
    bint PyUnicode_CheckExact(object o)
    bint PyDict_CheckExact(object o)
    bint PyUnicode_IS_ASCII(object o)
    const char *PyUnicode_DATA(object o)
    long long PyLong_AsLongLongAndOverflow(object o, int *overflow) except? -1

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>

    /* Ryu's tables: 5^-q and 5^i scaled to 125 significant bits, low word first. */
    static uint64_t dpa_ryu_pow5_inv[342][2];
    static uint64_t dpa_ryu_pow5[326][2];

    static inline uint64_t dpa_umul128(uint64_t a, uint64_t b, uint64_t *hi) {
        uint64_t a_lo = (uint32_t)a, a_hi = a >> 32, b_lo = (uint32_t)b, b_hi = b >> 32;
        uint64_t b00 = a_lo * b_lo, b01 = a_lo * b_hi, b10 = a_hi * b_lo, b11 = a_hi * b_hi;
        uint64_t mid1 = b10 + (b00 >> 32);
        uint64_t mid2 = b01 + (uint32_t)mid1;
        *hi = b11 + (mid1 >> 32) + (mid2 >> 32);
        return (mid2 << 32) | (uint32_t)b00;
    }

    /* (m * mul) >> j for the 128-bit mul; 64 < j < 128 here. */
    static inline uint64_t dpa_mulshift64(uint64_t m, const uint64_t *mul, int j) {
        uint64_t high1, high0;
        uint64_t low1 = dpa_umul128(m, mul[1], &high1);
        dpa_umul128(m, mul[0], &high0);
        uint64_t sum = high0 + low1;
        if (sum < high0) ++high1;
        int dist = j - 64;
        return dist == 0 ? sum : (high1 << (64 - dist)) | (sum >> dist);
    }

    static const char dpa_digit_pairs[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";

    static inline uint32_t dpa_pow5bits(int32_t e) { return (uint32_t)(((uint32_t)e * 1217359) >> 19) + 1; }
    static inline uint32_t dpa_log10pow2(int32_t e) { return ((uint32_t)e * 78913) >> 18; }
    static inline uint32_t dpa_log10pow5(int32_t e) { return ((uint32_t)e * 732923) >> 20; }

    static inline uint32_t dpa_pow5factor(uint64_t v) {
        uint32_t count = 0;
        for (;;) {
            uint64_t q = v / 5;
            if (v - 5 * q != 0) break;
            v = q;
            ++count;
        }
        return count;
    }
    static inline int dpa_multiple_of_pow5(uint64_t v, uint32_t p) { return dpa_pow5factor(v) >= p; }
    static inline int dpa_multiple_of_pow2(uint64_t v, uint32_t p) { return (v & ((1ull << p) - 1)) == 0; }

    /* The shortest decimal of a finite, non-zero double: digits * 10^exponent. */
    static inline void dpa_ryu_d2d(uint64_t mantissa, uint32_t exponent, uint64_t *digits,
                                   int32_t *exp10) {
        int32_t e2;
        uint64_t m2;
        if (exponent == 0) {
            e2 = 1 - 1023 - 52 - 2;
            m2 = mantissa;
        } else {
            e2 = (int32_t)exponent - 1023 - 52 - 2;
            m2 = (1ull << 52) | mantissa;
        }
        const int even = (m2 & 1) == 0;
        const int accept_bounds = even;
        const uint64_t mv = 4 * m2;
        const uint32_t mm_shift = mantissa != 0 || exponent <= 1;
        uint64_t vr, vp, vm;
        int32_t e10;
        int vm_zeros = 0, vr_zeros = 0;
        if (e2 >= 0) {
            const uint32_t q = dpa_log10pow2(e2) - (e2 > 3);
            e10 = (int32_t)q;
            const int32_t k = 125 + (int32_t)dpa_pow5bits((int32_t)q) - 1;
            const int32_t i = -e2 + (int32_t)q + k;
            vr = dpa_mulshift64(4 * m2, dpa_ryu_pow5_inv[q], i);
            vp = dpa_mulshift64(4 * m2 + 2, dpa_ryu_pow5_inv[q], i);
            vm = dpa_mulshift64(4 * m2 - 1 - mm_shift, dpa_ryu_pow5_inv[q], i);
            if (q <= 21) {
                if (mv % 5 == 0) {
                    vr_zeros = dpa_multiple_of_pow5(mv, q);
                } else if (accept_bounds) {
                    vm_zeros = dpa_multiple_of_pow5(mv - 1 - mm_shift, q);
                } else {
                    vp -= dpa_multiple_of_pow5(mv + 2, q);
                }
            }
        } else {
            const uint32_t q = dpa_log10pow5(-e2) - (-e2 > 1);
            e10 = (int32_t)q + e2;
            const int32_t i = -e2 - (int32_t)q;
            const int32_t k = (int32_t)dpa_pow5bits(i) - 125;
            const int32_t j = (int32_t)q - k;
            vr = dpa_mulshift64(4 * m2, dpa_ryu_pow5[i], j);
            vp = dpa_mulshift64(4 * m2 + 2, dpa_ryu_pow5[i], j);
            vm = dpa_mulshift64(4 * m2 - 1 - mm_shift, dpa_ryu_pow5[i], j);
            if (q <= 1) {
                vr_zeros = 1;
                if (accept_bounds) {
                    vm_zeros = mm_shift == 1;
                } else {
                    --vp;
                }
            } else if (q < 63) {
                vr_zeros = dpa_multiple_of_pow2(mv, q);
            }
        }
        int32_t removed = 0;
        uint8_t last = 0;
        uint64_t output;
        if (vm_zeros || vr_zeros) {
            for (;;) {
                const uint64_t vp10 = vp / 10, vm10 = vm / 10;
                if (vp10 <= vm10) break;
                const uint64_t vr10 = vr / 10;
                vm_zeros &= vm - 10 * vm10 == 0;
                vr_zeros &= last == 0;
                last = (uint8_t)(vr - 10 * vr10);
                vr = vr10; vp = vp10; vm = vm10;
                ++removed;
            }
            if (vm_zeros) {
                for (;;) {
                    const uint64_t vm10 = vm / 10;
                    if (vm - 10 * vm10 != 0) break;
                    const uint64_t vp10 = vp / 10, vr10 = vr / 10;
                    vr_zeros &= last == 0;
                    last = (uint8_t)(vr - 10 * vr10);
                    vr = vr10; vp = vp10; vm = vm10;
                    ++removed;
                }
            }
            if (vr_zeros && last == 5 && vr % 2 == 0) last = 4;  /* ties to even */
            output = vr + ((vr == vm && (!accept_bounds || !vm_zeros)) || last >= 5);
        } else {
            int round_up = 0;
            if (vp / 100 > vm / 100) {
                round_up = vr % 100 >= 50;
                vr /= 100; vp /= 100; vm /= 100;
                removed += 2;
            }
            for (;;) {
                const uint64_t vp10 = vp / 10, vm10 = vm / 10;
                if (vp10 <= vm10) break;
                const uint64_t vr10 = vr / 10;
                round_up = vr - 10 * vr10 >= 5;
                vr = vr10; vp = vp10; vm = vm10;
                ++removed;
            }
            output = vr + (vr == vm || round_up);
        }
        *digits = output;
        *exp10 = e10 + removed;
    }

    /* x as repr(float) (json for a finite float), at out; returns the length (<= 25). */
    static inline int dpa_shortest(double x, char *out) {
        uint64_t bits;
        memcpy(&bits, &x, 8);
        const int sign = (int)(bits >> 63);
        const uint64_t mantissa = bits & ((1ull << 52) - 1);
        const uint32_t exponent = (uint32_t)((bits >> 52) & 0x7ff);
        char *p = out;
        if (exponent == 0x7ff) {
            if (mantissa) { memcpy(p, "NaN", 3); return 3; }
            if (sign) { memcpy(p, "-Infinity", 9); return 9; }
            memcpy(p, "Infinity", 8); return 8;
        }
        if (sign) *p++ = '-';
        if (exponent == 0 && mantissa == 0) { memcpy(p, "0.0", 3); return (int)(p - out) + 3; }
        uint64_t digits;
        int32_t e10;
        dpa_ryu_d2d(mantissa, exponent, &digits, &e10);
        char buf[20];
        int n = 0;
        while (digits >= 100) {  /* two digits at a time */
            const uint64_t q = digits / 100;
            n += 2;
            memcpy(buf + 20 - n, dpa_digit_pairs + 2 * (digits - 100 * q), 2);
            digits = q;
        }
        if (digits >= 10) { n += 2; memcpy(buf + 20 - n, dpa_digit_pairs + 2 * digits, 2); }
        else { n += 1; buf[20 - n] = (char)('0' + digits); }
        const char *d = buf + 20 - n;
        const int32_t decpt = e10 + n;       /* value = 0.d1d2..dn * 10^decpt */
        if (decpt > -4 && decpt <= 16) {
            if (decpt <= 0) {
                *p++ = '0'; *p++ = '.';
                for (int32_t z = 0; z < -decpt; ++z) *p++ = '0';
                memcpy(p, d, (size_t)n); p += n;
            } else if (decpt < n) {
                memcpy(p, d, (size_t)decpt); p += decpt;
                *p++ = '.';
                memcpy(p, d + decpt, (size_t)(n - decpt)); p += n - decpt;
            } else {
                memcpy(p, d, (size_t)n); p += n;
                for (int32_t z = n; z < decpt; ++z) *p++ = '0';
                *p++ = '.'; *p++ = '0';
            }
        } else {
            *p++ = d[0];
            if (n > 1) { *p++ = '.'; memcpy(p, d + 1, (size_t)(n - 1)); p += n - 1; }
            int32_t e = decpt - 1;
            *p++ = 'e';
            *p++ = e < 0 ? '-' : '+';
            if (e < 0) e = -e;
            if (e >= 100) { *p++ = (char)('0' + e / 100); e %= 100; *p++ = (char)('0' + e / 10); }
            else { *p++ = (char)('0' + e / 10); }
            *p++ = (char)('0' + e % 10);
        }
        return (int)(p - out);
    }

    static inline int dpa_int64_text(int64_t v, char *out) {
        char buf[24];
        int n = 0;
        uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        do { buf[23 - n] = (char)('0' + u % 10); u /= 10; ++n; } while (u);
        char *p = out;
        if (v < 0) *p++ = '-';
        memcpy(p, buf + 24 - n, (size_t)n);
        return (int)(p - out) + n;
    }
    """
    uint64_t dpa_ryu_pow5_inv[342][2]
    uint64_t dpa_ryu_pow5[326][2]
    int dpa_shortest(double x, char *out) noexcept nogil
    int dpa_int64_text(int64_t v, char *out) noexcept nogil


def _ryu_tables():
    """Fill Ryu's two tables with exact integer arithmetic (module import)."""
    cdef object i, bits, v  # Python integers: the values have up to 790 bits
    mask = (1 << 64) - 1
    for i in range(342):  # ceil-ish 2**(pow5bits(i) - 1 + 125) / 5**i, as Ryu defines it
        bits = ((i * 1217359) >> 19) + 1
        v = (1 << (bits - 1 + 125)) // (5 ** i) + 1
        dpa_ryu_pow5_inv[i][0] = v & mask
        dpa_ryu_pow5_inv[i][1] = v >> 64
    for i in range(326):  # 5**i scaled to 125 bits, rounded down
        bits = ((i * 1217359) >> 19) + 1
        v = (5 ** i) >> (bits - 125) if bits >= 125 else (5 ** i) << (125 - bits)
        dpa_ryu_pow5[i][0] = v & mask
        dpa_ryu_pow5[i][1] = v >> 64


_ryu_tables()

#: Most bytes one value takes: a double (25), a quoted 64-byte string (66), an int64 (20).
_JSON_VALUE_MAX = 66


def float_repr(const double[::1] values):
    """float_repr(values) -> list of str

    ``repr(float(v))`` of each value as the compiled formatter writes it
    (``NaN``, ``Infinity``, ``-Infinity`` for the non-finite, as JSON): a test
    hook for the formatter of :func:`json_records`.
    """
    cdef char buf[32]
    cdef Py_ssize_t i
    cdef int n
    out = []
    for i in range(values.shape[0]):
        n = dpa_shortest(values[i], buf)
        out.append(buf[:n].decode("ascii"))
    return out


def json_records(list prefixes, bytes suffix, const double[:, :] floats,
                 const unsigned char[:, ::1] strings=None, const int64_t[:] ints=None,
                 list kinds=None, out=None):
    """json_records(prefixes, suffix, floats, strings=None, ints=None, kinds=None, out=None) -> (buffer, length)

    The JSON text of ``floats.shape[0]`` records joined by ``b",\\n"``,
    written at the start of ``out`` (a 1-D uint8 array) if it is large
    enough, else of a new array; returns that array and the text's length,
    so that a caller reusing its buffer touches no fresh memory per block.
    Record ``r`` is, for each field ``k``, ``prefixes[k]`` then its value,
    and then ``suffix``.  ``kinds[k]`` says where the value comes from: 0 the
    next column of ``floats`` (``repr`` of the double), 1 the row of
    ``strings`` (64 ASCII bytes, written between quotes as they are), 2 the
    row of ``ints``.  Default kinds: one float per column of ``floats``.
    The caller guarantees the strings need no JSON escaping.
    """
    cdef Py_ssize_t n = floats.shape[0]
    cdef Py_ssize_t nfields, r, k, pos = 0, col
    cdef Py_ssize_t width = strings.shape[1] if strings is not None else 0
    if kinds is None:
        kinds = [0] * floats.shape[1]
    nfields = len(kinds)
    if len(prefixes) != nfields:
        raise ValueError("json_records: one prefix per field")
    cdef int kind_of[16]
    cdef const char *pre[16]
    cdef Py_ssize_t pre_len[16]
    if nfields > 16:
        raise ValueError("json_records: at most 16 fields")
    cdef Py_ssize_t nfloat = 0, literal = len(suffix) + 2
    cdef bytes literal_bytes
    for k in range(nfields):
        kind_of[k] = kinds[k]
        if kind_of[k] == 0:
            nfloat += 1
        elif kind_of[k] == 1:
            if strings is None or strings.shape[0] != n:
                raise ValueError("json_records: a string field needs strings of one row per record")
        elif kind_of[k] == 2:
            if ints is None or ints.shape[0] != n:
                raise ValueError("json_records: an int field needs ints of one row per record")
        else:
            raise ValueError("json_records: kinds are 0, 1 or 2")
        literal_bytes = prefixes[k]
        pre[k] = <const char *>literal_bytes
        pre_len[k] = len(literal_bytes)
        literal += pre_len[k]
    if nfloat != floats.shape[1]:
        raise ValueError("json_records: one float kind per column of floats")
    if width > _JSON_VALUE_MAX - 2:
        raise ValueError("json_records: strings of at most 64 bytes")
    cdef const char *suf = <const char *>suffix
    cdef Py_ssize_t suf_len = len(suffix)
    cdef Py_ssize_t cap = max(n * (literal + nfields * _JSON_VALUE_MAX), 1)
    if out is not None and out.dtype == np.uint8 and out.ndim == 1 and out.shape[0] >= cap \
            and out.flags.c_contiguous and out.flags.writeable:
        buf = out
    else:
        buf = np.empty(cap, dtype=np.uint8)
    cdef unsigned char[::1] view = buf
    cdef char *o = <char *>&view[0]
    with nogil:
        for r in range(n):
            if r:
                o[pos] = b','
                o[pos + 1] = b'\n'
                pos += 2
            col = 0
            for k in range(nfields):
                memcpy(o + pos, pre[k], <size_t>pre_len[k])
                pos += pre_len[k]
                if kind_of[k] == 0:
                    pos += dpa_shortest(floats[r, col], o + pos)
                    col += 1
                elif kind_of[k] == 1:
                    o[pos] = b'"'
                    memcpy(o + pos + 1, &strings[r, 0], <size_t>width)
                    o[pos + 1 + width] = b'"'
                    pos += width + 2
                else:
                    pos += dpa_int64_text(ints[r], o + pos)
            memcpy(o + pos, suf, <size_t>suf_len)
            pos += suf_len
    return buf, pos


cdef inline bint _safe_ascii(object s, Py_ssize_t width):
    """``s`` is a str of ``width`` ASCII characters that JSON writes unescaped."""
    cdef const char *p
    cdef Py_ssize_t i
    cdef unsigned char c
    if not PyUnicode_CheckExact(s) or PyUnicode_GET_LENGTH(s) != width or not PyUnicode_IS_ASCII(s):
        return False
    p = PyUnicode_DATA(s)
    for i in range(width):
        c = <unsigned char>p[i]
        if c < 0x20 or c == 0x22 or c == 0x5c or c == 0x7f:
            return False
    return True


def dict_fields(list dicts, Py_ssize_t start, tuple keys, list kinds, double[:, :] floats,
                unsigned char[:, ::1] strings=None, int64_t[::1] ints=None):
    """dict_fields(dicts, start, keys, kinds, floats, strings=None, ints=None) -> int

    Gather the values of ``dicts[start:]`` into the arrays, row by row, for
    as long as each is exactly a ``dict`` whose keys are ``keys`` in order
    and whose values have the types of ``kinds`` (0: a ``float`` into the
    next column of ``floats``; 1: a ``str`` of ``strings.shape[1]`` ASCII
    characters JSON writes unescaped, into ``strings``; 2: an ``int`` of
    int64 range, not a bool, into ``ints``).  At most ``floats.shape[0]``
    rows.  Returns the number of rows gathered: it stops at the first dict
    that differs, which the caller handles some other way.
    """
    cdef Py_ssize_t nkeys = len(keys), limit = floats.shape[0], r = 0, k, col, pos, i
    cdef Py_ssize_t width = strings.shape[1] if strings is not None else 0
    cdef PyObject *key
    cdef PyObject *value
    cdef object d, v
    cdef int kind_of[16]
    cdef int overflow = 0
    if nkeys > 16 or len(kinds) != nkeys:
        raise ValueError("dict_fields: one kind per key, at most 16")
    for k in range(nkeys):
        kind_of[k] = kinds[k]
        if kind_of[k] == 1 and (strings is None or strings.shape[0] < limit):
            raise ValueError("dict_fields: a string key needs strings")
        if kind_of[k] == 2 and (ints is None or ints.shape[0] < limit):
            raise ValueError("dict_fields: an int key needs ints")
    limit = min(limit, len(dicts) - start)
    while r < limit:
        d = dicts[start + r]
        if not PyDict_CheckExact(d) or PyDict_Size(d) != nkeys:
            break
        pos = 0
        k = 0
        col = 0
        while PyDict_Next(d, &pos, &key, &value):
            if key != <PyObject *>keys[k] and <object>key != keys[k]:
                break
            v = <object>value
            if kind_of[k] == 0:
                if not PyFloat_CheckExact(v):
                    break
                floats[r, col] = PyFloat_AS_DOUBLE(v)
                col += 1
            elif kind_of[k] == 1:
                if not _safe_ascii(v, width):
                    break
                memcpy(&strings[r, 0], PyUnicode_DATA(v), <size_t>width)
            else:
                if not PyLong_CheckExact(v):
                    break
                ints[r] = PyLong_AsLongLongAndOverflow(v, &overflow)
                if overflow:
                    break
            k += 1
        if k != nkeys:
            break
        r += 1
    return r


cdef extern from "Python.h":
    object _PyDict_NewPresized(Py_ssize_t minused)
    int PyDict_SetItem(object d, object key, object value) except -1
    object PyFloat_FromDouble(double v)
    object PyUnicode_DecodeASCII(const char *s, Py_ssize_t size, const char *errors)


def record_dicts(tuple keys, const double[:, :] floats, const unsigned char[:, ::1] strings=None,
                 tuple extra=()):
    """record_dicts(keys, floats, strings=None, extra=()) -> list of dict

    One dict per row: ``keys[k]`` maps to the row's ``floats[:, k]`` for the
    float columns, then (with ``strings``) the next key to the row of
    ``strings`` decoded as ASCII, then the ``(key, value)`` pairs of
    ``extra``, in that order: DPA's dicts of kernel records (the public
    wrapper is ``dpa.records.records_to_dicts``).
    """
    cdef Py_ssize_t n = floats.shape[0], ncol = floats.shape[1], r, k
    cdef Py_ssize_t width = strings.shape[1] if strings is not None else 0
    cdef Py_ssize_t size = ncol + (1 if strings is not None else 0) + len(extra)
    if len(keys) != ncol + (1 if strings is not None else 0):
        raise ValueError("record_dicts: one key per float column, and one for the strings")
    if strings is not None and strings.shape[0] != n:
        raise ValueError("record_dicts: one row of strings per record")
    cdef list out = [None] * n
    cdef object d
    for r in range(n):
        d = _PyDict_NewPresized(size)
        for k in range(ncol):
            PyDict_SetItem(d, keys[k], PyFloat_FromDouble(floats[r, k]))
        if strings is not None:
            PyDict_SetItem(d, keys[ncol], PyUnicode_DecodeASCII(
                <const char *>&strings[r, 0], width, NULL))
        for key, value in extra:
            PyDict_SetItem(d, key, value)
        out[r] = d
    return out


cdef extern from "Python.h":
    PyObject *PyDict_GetItemWithError(object d, object key) except? NULL


def dict_floats(list dicts, tuple keys, double[:, :] floats):
    """dict_floats(dicts, keys, floats) -> int

    Gather ``d[keys[k]]`` of each dict into ``floats[row, k]``, for as long
    as each item is exactly a ``dict`` holding every key with an exact
    ``float`` value (other keys and their values are not read).  At most
    ``floats.shape[0]`` rows; returns the number gathered: it stops at the
    first item that differs, which the caller reads some other way.
    """
    cdef Py_ssize_t n = min(len(dicts), floats.shape[0]), nkeys = len(keys), r, k
    cdef PyObject *value
    cdef object d
    if floats.shape[1] != nkeys:
        raise ValueError("dict_floats: one column per key")
    for r in range(n):
        d = dicts[r]
        if not PyDict_CheckExact(d):
            return r
        for k in range(nkeys):
            value = PyDict_GetItemWithError(d, keys[k])
            if value == NULL or not PyFloat_CheckExact(<object>value):
                return r
            floats[r, k] = PyFloat_AS_DOUBLE(<object>value)
    return n
