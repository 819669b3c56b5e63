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

/* One round of a block: the state c0..c3 and the round's key words. */
#define PHILOX_ROUND16(c0, c1, c2, c3, k0, k1)                                  \
    do {                                                                       \
        __m512i hi0_, lo0_, hi1_, lo1_;                                        \
        mulhilo16(m0, c0, &hi0_, &lo0_);                                       \
        mulhilo16(m1, c2, &hi1_, &lo1_);                                       \
        c0 = _mm512_ternarylogic_epi32(hi1_, c1, k0, 0x96); /* a ^ b ^ c */    \
        c1 = lo1_;                                                             \
        c2 = _mm512_ternarylogic_epi32(hi0_, c3, k1, 0x96);                    \
        c3 = lo0_;                                                             \
    } while (0)

/*
 * The three blocks b = 0, 1, 2 of a sample have the counters (lo, hi,
 * epoch, b): the same but for the last word.  So the first rounds share
 * work: round 0's M1 * epoch is one scalar product, its M0 * lo is common
 * to the blocks, and its outputs differ between blocks only in word 2 (by
 * b); round 1's M0 product and round 2's M1 product are common again.  That
 * is 9 instead of 18 vector products in rounds 0..2; from round 3 on the
 * blocks differ everywhere.  The result is the same function.
 */
DPA_AVX512_TARGET void dpa_philox_fill_avx512(const philox_plan *p, const dpa_ids *ids,
                                              char *rec, int64_t n, int64_t itemsize)
{
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0), m1 = _mm512_set1_epi32((int)PHILOX_M1);
    const uint64_t e1 = (uint64_t)PHILOX_M1 * p->epoch; /* round 0's M1 * c2, all lanes */
    __m512i rk0[10], rk1[10];
    int64_t i;
    int r;
    for (r = 0; r < 10; r++) {
        rk0[r] = _mm512_set1_epi32((int)(p->key[0] + (uint32_t)r * PHILOX_W0));
        rk1[r] = _mm512_set1_epi32((int)(p->key[1] + (uint32_t)r * PHILOX_W1));
    }
    for (i = 0; i < n; i += 16) {
        __m512i id[2], lo, hi, c0[3], c1[3], c2[3], c3[3], x[10];
        __m512i hi0, lo0, s0, s1, s3, t2;
        __m512d f[5][2];
        int b;
        avx512_ids16(ids, i, n, id);
        lo = avx512_id_words(id, 0);
        hi = avx512_id_words(id, 1);
        /* Round 0: (lo, hi, epoch, b). */
        mulhilo16(m0, lo, &hi0, &lo0);
        s0 = _mm512_ternarylogic_epi32(_mm512_set1_epi32((int)(uint32_t)(e1 >> 32)), hi, rk0[0],
                                       0x96);
        s1 = _mm512_set1_epi32((int)(uint32_t)e1);
        s3 = lo0;
        t2 = _mm512_xor_si512(hi0, rk1[0]); /* block b's word 2 is t2 ^ b */
        /* Round 1: word 0 (s0) is common, word 2 is not. */
        mulhilo16(m0, s0, &hi0, &lo0);
        for (b = 0; b < 3; b++) {
            __m512i hi1, lo1;
            mulhilo16(m1, _mm512_xor_si512(t2, _mm512_set1_epi32(b)), &hi1, &lo1);
            c0[b] = _mm512_ternarylogic_epi32(hi1, s1, rk0[1], 0x96);
            c1[b] = lo1;
        }
        s0 = _mm512_ternarylogic_epi32(hi0, s3, rk1[1], 0x96); /* common word 2 */
        s3 = lo0;                                              /* common word 3 */
        /* Round 2: word 2 (s0) is common, word 0 is not. */
        {
            __m512i hi1, lo1;
            mulhilo16(m1, s0, &hi1, &lo1);
            for (b = 0; b < 3; b++) {
                mulhilo16(m0, c0[b], &hi0, &lo0);
                c0[b] = _mm512_ternarylogic_epi32(hi1, c1[b], rk0[2], 0x96);
                c1[b] = lo1;
                c2[b] = _mm512_ternarylogic_epi32(hi0, s3, rk1[2], 0x96);
                c3[b] = lo0;
            }
        }
        for (r = 3; r < 10; r++)
            for (b = 0; b < 3; b++) PHILOX_ROUND16(c0[b], c1[b], c2[b], c3[b], rk0[r], rk1[r]);
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
