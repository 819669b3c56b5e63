/*
 * philox_kernel.c -- philox-v1 records (see philox_kernel.h).
 *
 * Three paths, bit-identical: portable C one sample at a time; AVX2 with the
 * three counter blocks of eight samples in flight at once (the 10 rounds of
 * one block are a dependent chain; the blocks are independent); AVX-512,
 * sixteen samples at a time (philox_avx512.c).
 * Build with -ffp-contract=off.
 */
#include "philox_kernel.h"

#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define PHILOX_X86 1
#include <immintrin.h>
#else
#define PHILOX_X86 0
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */
#define LANES 8

void dpa_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    int r;
    for (r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* Words -> five values, one sample. */
static inline void philox_values(const philox_plan *p, const uint32_t x[10], double v[5])
{
    int k;
    for (k = 0; k < DPA_NFIELDS; k++) {
        double a = (double)(x[2 * k] >> 5), c = (double)(x[2 * k + 1] >> 6);
        double u = (a * 67108864.0 + c) * (1.0 / 9007199254740992.0);
        v[k] = p->low[k] + p->span[k] * u;
    }
}

static void philox_fill_portable(const philox_plan *p, const dpa_ids *ids, int64_t i0,
                                 char *rec, int64_t n, int64_t itemsize)
{
    int64_t i;
    for (i = i0; i < n; i++) {
        char *r = rec + i * itemsize;
        int64_t sid = dpa_id_at(ids, i);
        uint64_t id = (uint64_t)sid;
        uint32_t ctr[4], x[12];
        double v[5];
        int b;
        memcpy(r, &sid, 8);
        ctr[0] = (uint32_t)id;
        ctr[1] = (uint32_t)(id >> 32);
        ctr[2] = p->epoch;
        for (b = 0; b < 3; b++) {
            ctr[3] = (uint32_t)b;
            dpa_philox4x32_10(ctr, p->key, x + 4 * b);
        }
        philox_values(p, x, v);
        memcpy(r + 8, v, sizeof(v));
    }
}

#if PHILOX_X86
#pragma GCC push_options
#pragma GCC target("avx2")

/* hi and lo 32-bit halves of m * c in each of eight 32-bit lanes. */
static inline void mulhilo8(__m256i m, __m256i c, __m256i *hi, __m256i *lo)
{
    __m256i pe = _mm256_mul_epu32(c, m);
    __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(c, 32), m);
    *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xaa);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xaa);
}

static void philox_fill_avx2(const philox_plan *p, const dpa_ids *ids, char *rec, int64_t n,
                             int64_t itemsize)
{
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    const __m256d scale26 = _mm256_set1_pd(67108864.0);
    const __m256d scale53 = _mm256_set1_pd(1.0 / 9007199254740992.0);
    int64_t i;
    for (i = 0; i + LANES <= n; i += LANES) {
        uint32_t lo32[LANES], hi32[LANES];
        double vals[DPA_NFIELDS][LANES];
        int64_t sid[LANES];
        __m256i c0[3], c1[3], c2[3], c3[3], x[12];
        uint32_t k0 = p->key[0], k1 = p->key[1];
        int l, b, r, k;
        for (l = 0; l < LANES; l++) {
            sid[l] = dpa_id_at(ids, i + l);
            lo32[l] = (uint32_t)(uint64_t)sid[l];
            hi32[l] = (uint32_t)((uint64_t)sid[l] >> 32);
        }
        for (b = 0; b < 3; b++) {
            c0[b] = _mm256_loadu_si256((const __m256i *)lo32);
            c1[b] = _mm256_loadu_si256((const __m256i *)hi32);
            c2[b] = _mm256_set1_epi32((int)p->epoch);
            c3[b] = _mm256_set1_epi32(b);
        }
        for (r = 0; r < 10; r++) {
            const __m256i kk0 = _mm256_set1_epi32((int)k0), kk1 = _mm256_set1_epi32((int)k1);
            for (b = 0; b < 3; b++) {
                __m256i hi0, lo0, hi1, lo1;
                mulhilo8(m0, c0[b], &hi0, &lo0);
                mulhilo8(m1, c2[b], &hi1, &lo1);
                c0[b] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[b]), kk0);
                c1[b] = lo1;
                c2[b] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[b]), kk1);
                c3[b] = lo0;
            }
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        for (b = 0; b < 3; b++) {
            x[4 * b + 0] = c0[b];
            x[4 * b + 1] = c1[b];
            x[4 * b + 2] = c2[b];
            x[4 * b + 3] = c3[b];
        }
        for (k = 0; k < DPA_NFIELDS; k++) {
            /* >> 5 and >> 6 leave 27 and 26 bits: exact as signed int32. */
            __m256i a = _mm256_srli_epi32(x[2 * k], 5), c = _mm256_srli_epi32(x[2 * k + 1], 6);
            const __m256d low = _mm256_set1_pd(p->low[k]), span = _mm256_set1_pd(p->span[k]);
            int h;
            for (h = 0; h < 2; h++) {
                __m128i a4 = h ? _mm256_extracti128_si256(a, 1) : _mm256_castsi256_si128(a);
                __m128i c4 = h ? _mm256_extracti128_si256(c, 1) : _mm256_castsi256_si128(c);
                __m256d u = _mm256_mul_pd(
                    _mm256_add_pd(_mm256_mul_pd(_mm256_cvtepi32_pd(a4), scale26),
                                  _mm256_cvtepi32_pd(c4)),
                    scale53);
                /* Separate multiply and add: never an FMA. */
                _mm256_storeu_pd(vals[k] + 4 * h, _mm256_add_pd(low, _mm256_mul_pd(span, u)));
            }
        }
        for (l = 0; l < LANES; l++) {
            char *dst = rec + (i + l) * itemsize;
            memcpy(dst, &sid[l], 8);
            for (k = 0; k < DPA_NFIELDS; k++) memcpy(dst + 8 + 8 * k, &vals[k][l], 8);
        }
    }
    if (i < n) philox_fill_portable(p, ids, i, rec, n, itemsize);
}

#pragma GCC pop_options
#endif

int dpa_philox_fill(const void *plan, const dpa_ids *ids, char *rec, int64_t n,
                    int64_t itemsize, int64_t hash_offset, int paths)
{
    const philox_plan *p = (const philox_plan *)plan;
    (void)hash_offset; /* no hash field */
#if PHILOX_X86
    paths &= dpa_cpu_paths();
    if (paths & DPA_PATH_AVX512) {
        dpa_philox_fill_avx512(p, ids, rec, n, itemsize);
        return 0;
    }
    if (paths & DPA_PATH_AVX2) {
        philox_fill_avx2(p, ids, rec, n, itemsize);
        return 0;
    }
#endif
    (void)paths;
    philox_fill_portable(p, ids, 0, rec, n, itemsize);
    return 0;
}
