/*
 * dpa_shani.c -- the DPA scheme's hash with the x86 SHA extensions
 * (dpa_internal.h has the stages of a group).
 *
 * sha256rnds2 does two rounds; its latency is longer than its issue
 * interval, so two samples' chains are interleaved (a lone sample runs
 * alone, which is faster than beside an unused lane).  The digest becomes
 * the next step's hex message with SSSE3 shuffles, and the constant blocks
 * use their pre-expanded W[t] + K[t].  Compiled for SHA, SSE4.1 and SSSE3
 * only (target attributes); called only where dpa_cpu_paths() has
 * DPA_PATH_SHANI.
 */
#include <string.h>

#include "dpa_internal.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define K256 dpa_sha256_k
#define SHA256_IV dpa_sha256_iv

#pragma GCC push_options
#pragma GCC target("sha,sse4.1,ssse3")

#define SHANI_K(g) _mm_loadu_si128((const __m128i *)(K256 + 4 * (g)))

/* Four rounds: state (s0 = ABEF, s1 = CDGH), wk = W + K for those rounds. */
#define SHANI_RND4(s0, s1, wk)                                                  \
    do {                                                                       \
        s1 = _mm_sha256rnds2_epu32(s1, s0, wk);                                \
        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(wk, 0x0e));       \
    } while (0)

/* W[4g .. 4g+3] for g >= 4 in m[g % 4], from the previous sixteen words. */
#define SHANI_SCHED(m, g)                                                       \
    (m)[(g) % 4] = _mm_sha256msg2_epu32(                                        \
        _mm_add_epi32(_mm_sha256msg1_epu32((m)[(g) % 4], (m)[((g) + 1) % 4]),   \
                      _mm_alignr_epi8((m)[((g) + 3) % 4], (m)[((g) + 2) % 4], 4)), \
        (m)[((g) + 3) % 4])

/* H0..H7 (dwords A,B,C,D / E,F,G,H) to the ABEF / CDGH form of sha256rnds2. */
static inline void shani_pack(__m128i abcd, __m128i efgh, __m128i *s0, __m128i *s1)
{
    __m128i t = _mm_shuffle_epi32(abcd, 0xb1);
    efgh = _mm_shuffle_epi32(efgh, 0x1b);
    *s0 = _mm_alignr_epi8(t, efgh, 8);
    *s1 = _mm_blend_epi16(efgh, t, 0xf0);
}

static inline void shani_unpack(__m128i s0, __m128i s1, __m128i *abcd, __m128i *efgh)
{
    __m128i t = _mm_shuffle_epi32(s0, 0x1b);
    s1 = _mm_shuffle_epi32(s1, 0xb1);
    *abcd = _mm_blend_epi16(t, s1, 0xf0);
    *efgh = _mm_alignr_epi8(s1, t, 8);
}

/* Eight state words to the hex message words of the next step: each byte
 * splits into (low, high) nibbles, word pairs swap into big-endian order, and
 * pshufb maps nibbles to '0'..'9', 'a'..'f'. */
static inline void shani_hex(__m128i x, __m128i *lo, __m128i *hi)
{
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m128i digits = _mm_setr_epi8('0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
                                         'a', 'b', 'c', 'd', 'e', 'f');
    __m128i lo_n = _mm_and_si128(x, mask);
    __m128i hi_n = _mm_and_si128(_mm_srli_epi16(x, 4), mask);
    *lo = _mm_shuffle_epi8(digits, _mm_shuffle_epi32(_mm_unpacklo_epi8(lo_n, hi_n), 0xb1));
    *hi = _mm_shuffle_epi8(digits, _mm_shuffle_epi32(_mm_unpackhi_epi8(lo_n, hi_n), 0xb1));
}

/* One block from bytes, state as H0..H7. */
void dpa_shani_compress_bytes(uint32_t st[8], const unsigned char block[64])
{
    const __m128i bswap = _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
    __m128i s0, s1, save0, save1, wk, m[4];
    int g;
    shani_pack(_mm_loadu_si128((const __m128i *)st), _mm_loadu_si128((const __m128i *)(st + 4)),
               &s0, &s1);
    save0 = s0;
    save1 = s1;
    for (g = 0; g < 4; g++)
        m[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(block + 16 * g)), bswap);
#pragma GCC unroll 16
    for (g = 0; g < 16; g++) {
        if (g >= 4) SHANI_SCHED(m, g);
        wk = _mm_add_epi32(m[g % 4], SHANI_K(g));
        SHANI_RND4(s0, s1, wk);
    }
    s0 = _mm_add_epi32(s0, save0);
    s1 = _mm_add_epi32(s1, save1);
    {
        __m128i abcd, efgh;
        shani_unpack(s0, s1, &abcd, &efgh);
        _mm_storeu_si128((__m128i *)st, abcd);
        _mm_storeu_si128((__m128i *)(st + 4), efgh);
    }
}

/* The whole chain for NL = 1 or 2 lanes, interleaved: st[L] holds lane L's
 * digest (H0..H7) of the first message on entry and the final digest on
 * return.  NL is a constant in each copy (shani_chain). */
__attribute__((always_inline)) static inline void shani_chain_n(const dpa_plan *p,
                                                                uint32_t st[2][8], const int NL)
{
    __m128i abcd[2], efgh[2], s0[2], s1[2], m[2][4], wk;
    __m128i iv0, iv1;
    int64_t i, blk;
    int g, L;
    shani_pack(_mm_loadu_si128((const __m128i *)SHA256_IV),
               _mm_loadu_si128((const __m128i *)(SHA256_IV + 4)), &iv0, &iv1);
    for (L = 0; L < NL; L++) {
        abcd[L] = _mm_loadu_si128((const __m128i *)st[L]);
        efgh[L] = _mm_loadu_si128((const __m128i *)(st[L] + 4));
    }
    for (i = 0; i < p->depth; i++) {
        for (L = 0; L < NL; L++) {
            shani_hex(abcd[L], &m[L][0], &m[L][1]);
            shani_hex(efgh[L], &m[L][2], &m[L][3]);
            s0[L] = iv0;
            s1[L] = iv1;
        }
#pragma GCC unroll 16
        for (g = 0; g < 16; g++) {
            for (L = 0; L < NL; L++) {
                if (g >= 4) SHANI_SCHED(m[L], g);
                wk = _mm_add_epi32(m[L][g % 4], SHANI_K(g));
                SHANI_RND4(s0[L], s1[L], wk);
            }
        }
        for (L = 0; L < NL; L++) {
            s0[L] = _mm_add_epi32(s0[L], iv0);
            s1[L] = _mm_add_epi32(s1[L], iv1);
        }
        for (blk = p->tail_start[i]; blk < p->tail_start[i + 1]; blk++) {
            const uint32_t *t = p->tail_wk + 64 * blk;
            __m128i save0[2], save1[2];
            for (L = 0; L < NL; L++) {
                save0[L] = s0[L];
                save1[L] = s1[L];
            }
#pragma GCC unroll 16
            for (g = 0; g < 16; g++) {
                wk = _mm_loadu_si128((const __m128i *)(t + 4 * g));
                for (L = 0; L < NL; L++) SHANI_RND4(s0[L], s1[L], wk);
            }
            for (L = 0; L < NL; L++) {
                s0[L] = _mm_add_epi32(s0[L], save0[L]);
                s1[L] = _mm_add_epi32(s1[L], save1[L]);
            }
        }
        for (L = 0; L < NL; L++) shani_unpack(s0[L], s1[L], &abcd[L], &efgh[L]);
    }
    for (L = 0; L < NL; L++) {
        _mm_storeu_si128((__m128i *)st[L], abcd[L]);
        _mm_storeu_si128((__m128i *)(st[L] + 4), efgh[L]);
    }
}

/* Two lanes interleaved hide the latency of sha256rnds2; a lone lane runs
 * alone, which is faster than beside an unused one. */
static void shani_chain(const dpa_plan *p, uint32_t st[2][8], int nl)
{
    if (nl == 2)
        shani_chain_n(p, st, 2);
    else
        shani_chain_n(p, st, 1);
}

void dpa_shani_chain_rows(const dpa_plan *p, int m, uint32_t *st, int stride)
{
    int l, k, L;
    for (l = 0; l < m; l += 2) {
        uint32_t h[2][8];
        int nl = m - l < 2 ? 1 : 2;
        for (L = 0; L < nl; L++)
            for (k = 0; k < 8; k++) h[L][k] = st[k * stride + l + L];
        shani_chain(p, h, nl);
        for (L = 0; L < nl; L++)
            for (k = 0; k < 8; k++) st[k * stride + l + L] = h[L][k];
    }
}

void dpa_shani_hash(const dpa_plan *p, const dpa_ids *ids, int64_t i, int m, uint32_t *st,
                    int stride)
{
    int l, k;
    for (l = 0; l < m; l += 2) {
        uint32_t h[2][8];
        int L, nl = m - l < 2 ? 1 : 2;
        for (L = 0; L < nl; L++) {
            /* The first message, one lane at a time (one or a few blocks). */
            uint64_t id = (uint64_t)dpa_id_at(ids, i + l + L);
            unsigned char block[64];
            int b = 0, nb;
            memcpy(h[L], SHA256_IV, sizeof(h[L]));
            do {
                nb = dpa_first_block(p, id, b, block);
                dpa_shani_compress_bytes(h[L], block);
            } while (++b < nb);
        }
        shani_chain(p, h, nl);
        for (L = 0; L < nl; L++)
            for (k = 0; k < 8; k++) st[k * stride + l + L] = h[L][k];
    }
}

#pragma GCC pop_options

#endif /* x86 */

