/*
 * avx512.h -- what the AVX-512 paths of every scheme share (private to
 * dpa/src): the target they are compiled for, and writing 16 records from
 * their ids and 32-bit random words.
 *
 * Include only on x86 with GCC or Clang (DPA_AVX512_X86).  Functions that
 * use these helpers carry DPA_AVX512_TARGET; they run only when
 * dpa_cpu_paths() reports DPA_PATH_AVX512 (fill.h), which needs AVX-512 F,
 * BW, VL and DQ and the OS saving ZMM state.
 */
#ifndef DPA_AVX512_H
#define DPA_AVX512_H

#include <stdint.h>
#include <string.h>

#include "fill.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define DPA_AVX512_X86 1
#include <immintrin.h>

#define DPA_AVX512_TARGET __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512dq")))

/* The ids of records i .. i+15 as two vectors of eight int64 (records
 * i..i+7, i+8..i+15); lanes past n are 0. */
DPA_AVX512_TARGET static inline void avx512_ids16(const dpa_ids *ids, int64_t i, int64_t n,
                                                   __m512i v[2])
{
    int64_t m = n - i;
    if (ids->ids) {
        __mmask8 k0 = (__mmask8)(m >= 8 ? 0xff : (1u << m) - 1);
        __mmask8 k1 = (__mmask8)(m >= 16 ? 0xff : m <= 8 ? 0 : (1u << (m - 8)) - 1);
        v[0] = _mm512_maskz_loadu_epi64(k0, ids->ids + i);
        v[1] = _mm512_maskz_loadu_epi64(k1, ids->ids + i + 8);
    } else {
        /* first + (i + lane) * step, modulo 2**64 as dpa_id_at computes it. */
        const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
        uint64_t step = (uint64_t)ids->step;
        uint64_t at = (uint64_t)ids->first + (uint64_t)i * step;
        __m512i s = _mm512_set1_epi64((int64_t)step);
        __m512i base = _mm512_set1_epi64((int64_t)at);
        v[0] = _mm512_add_epi64(base, _mm512_mullo_epi64(lane, s));
        v[1] = _mm512_add_epi64(v[0], _mm512_set1_epi64((int64_t)(8u * step)));
    }
}

/* The low (hi = 0) or high (hi = 1) 32-bit halves of 16 int64 ids, in
 * lane order. */
DPA_AVX512_TARGET static inline __m512i avx512_id_words(const __m512i v[2], int hi)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    return _mm512_permutex2var_epi32(v[0], _mm512_add_epi32(even, _mm512_set1_epi32(hi)), v[1]);
}

/*
 * Five float64 fields of 16 records from ten words per record, in lane
 * order: field k of lane l is low[k] + span[k] * u with
 * u = ((x[2k] >> 5) * 2**26 + (x[2k+1] >> 6)) / 2**53, CPython's random()
 * of two 32-bit outputs.  The 53-bit integer is formed exactly in a 64-bit
 * lane, converted exactly, and scaled by a power of two (exact), so u is the
 * double the portable code computes; the multiply and the add are separate
 * instructions, each rounded (never an FMA).  f[k][0] holds lanes 0..7,
 * f[k][1] lanes 8..15.
 */
DPA_AVX512_TARGET static inline void avx512_fields16(const __m512i x[10], const double low[5],
                                                      const double span[5], __m512d f[5][2])
{
    /* Dword pairs (x[2k+1] lane q, x[2k] lane q) -> 64-bit lane q. */
    const __m512i pair_lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22,
                                              7, 23);
    const __m512i pair_hi = _mm512_add_epi32(pair_lo, _mm512_set1_epi32(8));
    const __m512i low6 = _mm512_set1_epi32(~63);
    const __m512d scale = _mm512_set1_pd(1.0 / 9007199254740992.0);
    int k, h;
    for (k = 0; k < DPA_NFIELDS; k++) {
        /* hi word a >> 5, lo word c & ~63: the pair >> 6 is (a >> 5) * 2**26 + (c >> 6). */
        __m512i a = _mm512_srli_epi32(x[2 * k], 5);
        __m512i c = _mm512_and_si512(x[2 * k + 1], low6);
        __m512d lo = _mm512_set1_pd(low[k]), sp = _mm512_set1_pd(span[k]);
        for (h = 0; h < 2; h++) {
            __m512i q = _mm512_permutex2var_epi32(c, h ? pair_hi : pair_lo, a);
            __m512d u = _mm512_mul_pd(_mm512_cvtepu64_pd(_mm512_srli_epi64(q, 6)), scale);
            f[k][h] = _mm512_add_pd(lo, _mm512_mul_pd(sp, u));
        }
    }
}

/*
 * Write records 0 .. m-1 (m <= 16) at `rec`, `itemsize` bytes apart: the
 * int64 id and the five fields (avx512_fields16) of each.  48-byte records
 * (the record dtypes without a hash) are transposed in registers and
 * written eight records, six full vectors, at a time; other layouts go
 * through a staging block on the stack.
 */
DPA_AVX512_TARGET static inline void avx512_store16(const __m512i id[2], __m512d f[5][2],
                                                     char *rec, int64_t itemsize, int m)
{
    int h, l, k;
    if (itemsize == DPA_RECORD_SIZE && m == 16) {
        /* Columns (id, f0 .. f4) of eight records -> six rows of 8 qwords.
         * First pairs of columns, four records each: p[c][h] holds columns
         * 2c, 2c+1 of records 4h .. 4h+3 as (r, 2c), (r, 2c+1), ... */
        const __m512i pair_lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
        const __m512i pair_hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
        /* Row vector j of four records = pairs (0,1), (2,3), (4,5) of record
         * 4h + j*8/6 ...: from p[0], p[1] (two-source permute) and p[2]
         * (merged under a mask).  a_ij / b_ij: indices into (p0, p1) and p2. */
        const __m512i a0 = _mm512_setr_epi64(0, 1, 8, 9, 0, 0, 2, 3);
        const __m512i b0 = _mm512_setr_epi64(0, 0, 0, 0, 0, 1, 0, 0);
        const __m512i a1 = _mm512_setr_epi64(10, 11, 0, 0, 4, 5, 12, 13);
        const __m512i b1 = _mm512_setr_epi64(0, 0, 2, 3, 0, 0, 0, 0);
        const __m512i a2 = _mm512_setr_epi64(0, 0, 6, 7, 14, 15, 0, 0);
        const __m512i b2 = _mm512_setr_epi64(4, 5, 0, 0, 0, 0, 6, 7);
        for (h = 0; h < 2; h++) {
            __m512i col[6], p[3][2];
            char *dst = rec + 8 * h * DPA_RECORD_SIZE;
            col[0] = id[h];
            for (k = 0; k < DPA_NFIELDS; k++) col[k + 1] = _mm512_castpd_si512(f[k][h]);
            for (k = 0; k < 3; k++) {
                p[k][0] = _mm512_permutex2var_epi64(col[2 * k], pair_lo, col[2 * k + 1]);
                p[k][1] = _mm512_permutex2var_epi64(col[2 * k], pair_hi, col[2 * k + 1]);
            }
            for (l = 0; l < 2; l++) {
                __m512i r0 = _mm512_mask_permutexvar_epi64(
                    _mm512_permutex2var_epi64(p[0][l], a0, p[1][l]), 0x30, b0, p[2][l]);
                __m512i r1 = _mm512_mask_permutexvar_epi64(
                    _mm512_permutex2var_epi64(p[0][l], a1, p[1][l]), 0x0c, b1, p[2][l]);
                __m512i r2 = _mm512_mask_permutexvar_epi64(
                    _mm512_permutex2var_epi64(p[0][l], a2, p[1][l]), 0xc3, b2, p[2][l]);
                _mm512_storeu_si512((void *)(dst + 4 * l * DPA_RECORD_SIZE), r0);
                _mm512_storeu_si512((void *)(dst + 4 * l * DPA_RECORD_SIZE + 64), r1);
                _mm512_storeu_si512((void *)(dst + 4 * l * DPA_RECORD_SIZE + 128), r2);
            }
        }
        return;
    }
    {
        int64_t col[6][16];
        for (h = 0; h < 2; h++) {
            _mm512_storeu_si512((void *)(col[0] + 8 * h), id[h]);
            for (k = 0; k < DPA_NFIELDS; k++) _mm512_storeu_pd(col[k + 1] + 8 * h, f[k][h]);
        }
        for (l = 0; l < m; l++) {
            char *dst = rec + l * itemsize;
            for (k = 0; k < 6; k++) memcpy(dst + 8 * k, &col[k][l], 8);
        }
    }
}

#endif /* x86 */
#endif
