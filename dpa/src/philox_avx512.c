/*
 * philox_avx512.c -- the AVX-512 path of philox-v1 (philox_kernel.h).
 *
 * Sixteen samples per step, one sample per 32-bit lane, their three counter
 * blocks in flight at once (each block's ten rounds are a dependent chain;
 * the blocks are independent).  A 32 x 32 -> 64-bit multiply of sixteen
 * lanes is two vpmuludq (even lanes, then odd lanes shifted down) whose
 * halves are merged under a mask by vpshufd; the round's two XORs are one
 * vpternlogd.  The records are written as in avx512.h.  Bit-identical to
 * the portable path; built with -ffp-contract=off like every kernel.
 */
#include "philox_kernel.h"

#include "avx512.h"

#if DPA_AVX512_X86

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* hi and lo 32-bit halves of m * c in each of sixteen 32-bit lanes. */
DPA_AVX512_TARGET static inline void mulhilo16(__m512i m, __m512i c, __m512i *hi, __m512i *lo)
{
    __m512i pe = _mm512_mul_epu32(c, m);                        /* lanes 0, 2, ..: 64-bit */
    __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(c, 32), m); /* lanes 1, 3, .. */
    /* odd lanes of lo: po's low dwords moved up; even lanes of hi: pe's high
     * dwords moved down. */
    *lo = _mm512_mask_shuffle_epi32(pe, 0xaaaa, po, _MM_PERM_CCAA);
    *hi = _mm512_mask_shuffle_epi32(po, 0x5555, pe, _MM_PERM_DDBB);
}

DPA_AVX512_TARGET void dpa_philox_fill_avx512(const philox_plan *p, const dpa_ids *ids,
                                              char *rec, int64_t n, int64_t itemsize)
{
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0), m1 = _mm512_set1_epi32((int)PHILOX_M1);
    const __m512i epoch = _mm512_set1_epi32((int)p->epoch);
    uint32_t rk0[10], rk1[10];
    int64_t i;
    int r;
    for (r = 0; r < 10; r++) {
        rk0[r] = p->key[0] + (uint32_t)r * PHILOX_W0;
        rk1[r] = p->key[1] + (uint32_t)r * PHILOX_W1;
    }
    for (i = 0; i < n; i += 16) {
        __m512i id[2], c0[3], c1[3], c2[3], c3[3], x[10];
        __m512d f[5][2];
        int b;
        avx512_ids16(ids, i, n, id);
        for (b = 0; b < 3; b++) {
            c0[b] = avx512_id_words(id, 0);
            c1[b] = avx512_id_words(id, 1);
            c2[b] = epoch;
            c3[b] = _mm512_set1_epi32(b);
        }
        for (r = 0; r < 10; r++) {
            const __m512i k0 = _mm512_set1_epi32((int)rk0[r]), k1 = _mm512_set1_epi32((int)rk1[r]);
            for (b = 0; b < 3; b++) {
                __m512i hi0, lo0, hi1, lo1;
                mulhilo16(m0, c0[b], &hi0, &lo0);
                mulhilo16(m1, c2[b], &hi1, &lo1);
                c0[b] = _mm512_ternarylogic_epi32(hi1, c1[b], k0, 0x96); /* a ^ b ^ c */
                c1[b] = lo1;
                c2[b] = _mm512_ternarylogic_epi32(hi0, c3[b], k1, 0x96);
                c3[b] = lo0;
            }
        }
        for (b = 0; b < 3; b++) {
            x[4 * b + 0] = c0[b];
            x[4 * b + 1] = c1[b];
            if (b < 2) {
                x[4 * b + 2] = c2[b];
                x[4 * b + 3] = c3[b];
            }
        }
        avx512_fields16(x, p->low, p->span, f);
        avx512_store16(id, f, rec + i * itemsize, itemsize, (int)(n - i < 16 ? n - i : 16));
    }
}

#endif
