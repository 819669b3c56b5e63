/*
 * noise_kernel.c -- philox-normal-v1 pixel noise (see noise_kernel.h).
 *
 * Two paths, bit-identical: portable C, one Philox block (four pixels) at a
 * time, and AVX2, eight blocks (32 pixels) in flight with Box-Muller on four
 * binary64 lanes.  Every step is the specification's sequence of basic
 * IEEE-754 operations, in the same order on both paths: no libm, no FMA
 * (the AVX2 code is compiled for "avx2" alone, which has no FMA, and the
 * build passes -ffp-contract=off).
 */
#include "noise_kernel.h"

#include <string.h>

#include "philox_kernel.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define NOISE_X86 1
#include <immintrin.h>
#else
#define NOISE_X86 0
#endif

/* The binary64 values nearest to ln 2, pi/4 and sqrt(1/2). */
#define NOISE_LN2 0x1.62e42fefa39efp-1
#define NOISE_PI_4 0x1.921fb54442d18p-1
#define NOISE_SQRT_HALF 0x1.6a09e667f3bcdp-1
/* The last word of the counter of block q is NOISE_TAG + q. */
#define NOISE_TAG 0x80000000u

/* ln: 2 / (2k + 1), k = 1 .. 8 (atanh series in s = (f - 1) / (f + 1)). */
static const double LOG_C[8] = {
    0x1.5555555555555p-1, 0x1.999999999999ap-2, 0x1.2492492492492p-2, 0x1.c71c71c71c71cp-3,
    0x1.745d1745d1746p-3, 0x1.3b13b13b13b14p-3, 0x1.1111111111111p-3, 0x1.e1e1e1e1e1e1ep-4,
};
/* sin: (-1)^k / (2k + 1)!, k = 1 .. 7. */
static const double SIN_C[7] = {
    -0x1.5555555555555p-3, 0x1.1111111111111p-7, -0x1.a01a01a01a01ap-13, 0x1.71de3a556c734p-19,
    -0x1.ae64567f544e4p-26, 0x1.6124613a86d09p-33, -0x1.ae7f3e733b81fp-41,
};
/* cos: (-1)^k / (2k)!, k = 1 .. 8. */
static const double COS_C[8] = {
    -0x1.0000000000000p-1, 0x1.5555555555555p-5, -0x1.6c16c16c16c17p-10, 0x1.a01a01a01a01ap-16,
    -0x1.27e4fb7789f5cp-22, 0x1.1eed8eff8d898p-29, -0x1.93974a8c07c9dp-37, 0x1.ae7f3e733b81fp-45,
};

/* ---- portable ---------------------------------------------------------------- */

/* ln u for u in [2**-32, 1]: u = 2**e * f, f in [sqrt(1/2), sqrt(2)). */
static inline double noise_log(double u)
{
    uint64_t bits;
    double g, f, e, s, z, p;
    int64_t x;
    int k;
    memcpy(&bits, &u, 8);
    x = (int64_t)(bits >> 52) - 1022; /* frexp: u = g * 2**x, g in [0.5, 1) */
    bits = (bits & UINT64_C(0x000fffffffffffff)) | UINT64_C(0x3fe0000000000000);
    memcpy(&g, &bits, 8);
    if (g < NOISE_SQRT_HALF) {
        f = g + g;
        e = (double)(x - 1);
    } else {
        f = g;
        e = (double)x;
    }
    s = (f - 1.0) / (f + 1.0);
    z = s * s;
    p = LOG_C[7];
    for (k = 6; k >= 0; k--) p = p * z + LOG_C[k];
    return e * NOISE_LN2 + ((s + s) + (s * z) * p);
}

/* cos and sin of 2 pi b / 2**32: an octant's angle in [0, pi/4], then signs. */
static inline void noise_cos_sin(uint32_t b, double *cos_out, double *sin_out)
{
    uint32_t o = b >> 29, m = b & 0x1fffffffu, q;
    double alpha, a, ps, pc, s, c, t;
    int k;
    if (o & 1) m = 0x20000000u - m;
    alpha = ((double)m * 0x1p-29) * NOISE_PI_4;
    a = alpha * alpha;
    ps = SIN_C[6];
    for (k = 5; k >= 0; k--) ps = ps * a + SIN_C[k];
    s = alpha + (alpha * a) * ps;
    pc = COS_C[7];
    for (k = 6; k >= 0; k--) pc = pc * a + COS_C[k];
    c = 1.0 + a * pc;
    if (o & 1) s = -s;
    q = ((o + 1) >> 1) & 3;
    if (q & 1) {
        t = c;
        c = -s;
        s = t;
    }
    if (q & 2) {
        c = -c;
        s = -s;
    }
    *cos_out = c;
    *sin_out = s;
}

void dpa_noise_pair(uint32_t a, uint32_t b, double z[2])
{
    double u = ((double)a + 1.0) * 0x1p-32; /* (0, 1], exact */
    double r = __builtin_sqrt(-2.0 * noise_log(u));
    double c, s;
    noise_cos_sin(b, &c, &s);
    z[0] = r * c;
    z[1] = r * s;
}

/* Pixels [first, first + count) of one sample. */
static void noise_row_portable(const uint32_t key[2], uint64_t id, uint32_t epoch, double std,
                               int64_t first, int64_t count, float *out)
{
    int64_t j = first, end = first + count;
    while (j < end) {
        uint32_t ctr[4], x[4];
        double z[4];
        int lane;
        ctr[0] = (uint32_t)id;
        ctr[1] = (uint32_t)(id >> 32);
        ctr[2] = epoch;
        ctr[3] = NOISE_TAG + (uint32_t)(j >> 2);
        dpa_philox4x32_10(ctr, key, x);
        dpa_noise_pair(x[0], x[1], z);
        dpa_noise_pair(x[2], x[3], z + 2);
        for (lane = (int)(j & 3); lane < 4 && j < end; lane++, j++)
            out[j - first] = (float)(std * z[lane]);
    }
}

/* ---- AVX2 ---------------------------------------------------------------------- */

#if NOISE_X86
#pragma GCC push_options
#pragma GCC target("avx2")

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* hi and lo 32-bit halves of m * c in each of eight 32-bit lanes. */
static inline void noise_mulhilo8(__m256i m, __m256i c, __m256i *hi, __m256i *lo)
{
    __m256i pe = _mm256_mul_epu32(c, m);
    __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(c, 32), m);
    *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xaa);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xaa);
}

static inline __m256d horner4(const double *c, int last, __m256d x)
{
    __m256d p = _mm256_set1_pd(c[last]);
    int k;
    for (k = last - 1; k >= 0; k--) p = _mm256_add_pd(_mm256_mul_pd(p, x), _mm256_set1_pd(c[k]));
    return p;
}

/* dpa_noise_pair on four lanes: words a, b (uint32) to z0, z1. */
static inline void noise_pair4(__m128i a, __m128i b, __m256d *z0, __m256d *z1)
{
    const __m256d one = _mm256_set1_pd(1.0);
    const __m256d sign = _mm256_set1_pd(-0.0);
    const __m128i one32 = _mm_set1_epi32(1);
    __m256d ad, u, g, e, f, s, z, logu, r, alpha, a2, sn, cs, t;
    __m256i bits, lt;
    __m128i o, m, odd, q;
    __m256i odd64, q1, q2;
    /* u = (a + 1) * 2**-32, a read as unsigned: exact */
    ad = _mm256_add_pd(_mm256_cvtepi32_pd(_mm_xor_si128(a, _mm_set1_epi32((int)0x80000000u))),
                       _mm256_set1_pd(2147483648.0));
    u = _mm256_mul_pd(_mm256_add_pd(ad, one), _mm256_set1_pd(0x1p-32));
    /* frexp: the exponent field as a double (2**52 + E, minus 2**52), exact */
    bits = _mm256_castpd_si256(u);
    e = _mm256_sub_pd(
        _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(bits, 52),
                                            _mm256_set1_epi64x(0x4330000000000000LL))),
        _mm256_set1_pd(4503599627370496.0));
    e = _mm256_sub_pd(e, _mm256_set1_pd(1022.0));
    g = _mm256_castsi256_pd(
        _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000fffffffffffffLL)),
                        _mm256_set1_epi64x(0x3fe0000000000000LL)));
    lt = _mm256_castpd_si256(_mm256_cmp_pd(g, _mm256_set1_pd(NOISE_SQRT_HALF), _CMP_LT_OQ));
    f = _mm256_blendv_pd(g, _mm256_add_pd(g, g), _mm256_castsi256_pd(lt));
    e = _mm256_blendv_pd(e, _mm256_sub_pd(e, one), _mm256_castsi256_pd(lt));
    s = _mm256_div_pd(_mm256_sub_pd(f, one), _mm256_add_pd(f, one));
    z = _mm256_mul_pd(s, s);
    logu = _mm256_add_pd(_mm256_mul_pd(e, _mm256_set1_pd(NOISE_LN2)),
                         _mm256_add_pd(_mm256_add_pd(s, s),
                                       _mm256_mul_pd(_mm256_mul_pd(s, z), horner4(LOG_C, 7, z))));
    r = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), logu));
    /* the angle */
    o = _mm_srli_epi32(b, 29);
    m = _mm_and_si128(b, _mm_set1_epi32(0x1fffffff));
    odd = _mm_cmpeq_epi32(_mm_and_si128(o, one32), one32);
    m = _mm_blendv_epi8(m, _mm_sub_epi32(_mm_set1_epi32(0x20000000), m), odd);
    alpha = _mm256_mul_pd(_mm256_mul_pd(_mm256_cvtepi32_pd(m), _mm256_set1_pd(0x1p-29)),
                          _mm256_set1_pd(NOISE_PI_4));
    a2 = _mm256_mul_pd(alpha, alpha);
    sn = _mm256_add_pd(alpha, _mm256_mul_pd(_mm256_mul_pd(alpha, a2), horner4(SIN_C, 6, a2)));
    cs = _mm256_add_pd(one, _mm256_mul_pd(a2, horner4(COS_C, 7, a2)));
    odd64 = _mm256_cvtepi32_epi64(odd);
    sn = _mm256_xor_pd(sn, _mm256_and_pd(_mm256_castsi256_pd(odd64), sign));
    q = _mm_and_si128(_mm_srli_epi32(_mm_add_epi32(o, one32), 1), _mm_set1_epi32(3));
    q1 = _mm256_cvtepi32_epi64(_mm_cmpeq_epi32(_mm_and_si128(q, one32), one32));
    q2 = _mm256_cvtepi32_epi64(_mm_cmpeq_epi32(_mm_and_si128(q, _mm_set1_epi32(2)),
                                               _mm_set1_epi32(2)));
    t = cs;
    cs = _mm256_blendv_pd(cs, _mm256_xor_pd(sn, sign), _mm256_castsi256_pd(q1));
    sn = _mm256_blendv_pd(sn, t, _mm256_castsi256_pd(q1));
    cs = _mm256_xor_pd(cs, _mm256_and_pd(_mm256_castsi256_pd(q2), sign));
    sn = _mm256_xor_pd(sn, _mm256_and_pd(_mm256_castsi256_pd(q2), sign));
    *z0 = _mm256_mul_pd(r, cs);
    *z1 = _mm256_mul_pd(r, sn);
}

/* Pixels [j, j + 32) of one sample, j a multiple of 4: blocks j/4 .. j/4 + 7. */
static inline void noise_group_avx2(const uint32_t key[2], uint64_t id, uint32_t epoch,
                                    __m256d std, int64_t j, float *out)
{
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    __m256i c0 = _mm256_set1_epi32((int)(uint32_t)id);
    __m256i c1 = _mm256_set1_epi32((int)(uint32_t)(id >> 32));
    __m256i c2 = _mm256_set1_epi32((int)epoch);
    __m256i c3 = _mm256_add_epi32(_mm256_set1_epi32((int)(NOISE_TAG + (uint32_t)(j >> 2))),
                                  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    uint32_t k0 = key[0], k1 = key[1];
    int r, h;
    for (r = 0; r < 10; r++) {
        __m256i hi0, lo0, hi1, lo1;
        noise_mulhilo8(m0, c0, &hi0, &lo0);
        noise_mulhilo8(m1, c2, &hi1, &lo1);
        c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
        c1 = lo1;
        c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (h = 0; h < 2; h++) {
        __m128i x0 = h ? _mm256_extracti128_si256(c0, 1) : _mm256_castsi256_si128(c0);
        __m128i x1 = h ? _mm256_extracti128_si256(c1, 1) : _mm256_castsi256_si128(c1);
        __m128i x2 = h ? _mm256_extracti128_si256(c2, 1) : _mm256_castsi256_si128(c2);
        __m128i x3 = h ? _mm256_extracti128_si256(c3, 1) : _mm256_castsi256_si128(c3);
        __m256d za0, za1, zb0, zb1;
        __m128 f0, f1, f2, f3;
        noise_pair4(x0, x1, &za0, &za1);
        noise_pair4(x2, x3, &zb0, &zb1);
        f0 = _mm256_cvtpd_ps(_mm256_mul_pd(std, za0)); /* lane k: pixel 4k of the half */
        f1 = _mm256_cvtpd_ps(_mm256_mul_pd(std, za1)); /* 4k + 1 */
        f2 = _mm256_cvtpd_ps(_mm256_mul_pd(std, zb0)); /* 4k + 2 */
        f3 = _mm256_cvtpd_ps(_mm256_mul_pd(std, zb1)); /* 4k + 3 */
        _MM_TRANSPOSE4_PS(f0, f1, f2, f3);
        _mm_storeu_ps(out + 16 * h, f0);
        _mm_storeu_ps(out + 16 * h + 4, f1);
        _mm_storeu_ps(out + 16 * h + 8, f2);
        _mm_storeu_ps(out + 16 * h + 12, f3);
    }
}

static void noise_row_avx2(const uint32_t key[2], uint64_t id, uint32_t epoch, double std,
                           int64_t first, int64_t count, float *out)
{
    int64_t j = first, end = first + count, head = (4 - (first & 3)) & 3;
    const __m256d vstd = _mm256_set1_pd(std);
    if (head > count) head = count;
    if (head) noise_row_portable(key, id, epoch, std, j, head, out);
    j += head;
    for (; j + 32 <= end; j += 32) noise_group_avx2(key, id, epoch, vstd, j, out + (j - first));
    if (j < end) noise_row_portable(key, id, epoch, std, j, end - j, out + (j - first));
}

#pragma GCC pop_options
#endif

void dpa_noise_fill(uint64_t seed, const int64_t *ids, const uint32_t *epochs,
                    const double *stds, int64_t n, int64_t first, int64_t count, float *out,
                    int64_t row_stride, int paths)
{
    uint32_t key[2];
    int64_t i;
    int avx2 = 0;
    key[0] = (uint32_t)seed;
    key[1] = (uint32_t)(seed >> 32);
#if NOISE_X86
    avx2 = (paths & dpa_cpu_paths() & DPA_PATH_AVX2) != 0;
#endif
    (void)paths;
    for (i = 0; i < n; i++) {
        uint64_t id = (uint64_t)ids[i];
        float *row = out + i * row_stride;
#if NOISE_X86
        if (avx2) {
            noise_row_avx2(key, id, epochs[i], stds[i], first, count, row);
            continue;
        }
#endif
        noise_row_portable(key, id, epochs[i], stds[i], first, count, row);
    }
    (void)avx2;
}

int dpa_noise_fill_items(const void *plan, const dpa_ids *ids, char *rec, int64_t n,
                         int64_t itemsize, int64_t hash_offset, int paths)
{
    const dpa_noise_plan *p = (const dpa_noise_plan *)plan;
    float *out = (float *)rec;
    int64_t k = out - p->out, row, j, take;
    (void)ids;
    (void)itemsize;
    (void)hash_offset;
    while (n > 0) {  /* one call per row's share of the items */
        row = k / p->count;
        j = k % p->count;
        take = p->count - j < n ? p->count - j : n;
        dpa_noise_fill(p->seed, p->ids + row, p->epochs + row, p->stds + row, 1,
                       p->first + j, take, out, p->count, paths);
        out += take;
        k += take;
        n -= take;
    }
    return 0;
}
