/*
 * dpa_avx512.c -- the AVX-512 path of the DPA scheme (dpa_kernel.h has the
 * algorithm, dpa_internal.h the stages of a group).
 *
 * A group is up to 64 samples: four blocks of 16, one sample per 32-bit
 * lane of a ZMM register.
 *   hash    SHA-256 sixteen lanes wide ("multi-buffer"): a round is three
 *           vprord and a vpternlogd for each of the two sigmas, a
 *           vpternlogd each for Ch and Maj, and six additions; the state
 *           (8 vectors) and the message schedule (16) stay in registers.
 *           The digest becomes the next step's hex message with vpshufb
 *           and byte unpacks.  Constant blocks use their pre-expanded
 *           W[t] + K[t] as a broadcast operand.
 *   MT19937 the group's 1,247-step seeding chains, up to four vectors in
 *           lockstep.  A 32-bit multiply is two vpmuludq merged under a
 *           mask (latency 5 + 1) rather than vpmulld (latency 10): with so
 *           few independent chains the latency is what counts (measured
 *           during development: 100 against 108 ns per sample for four
 *           vectors, 4.3 against 5.2 us for one).
 *   records ids, fields and stores as in avx512.h; the hex digests as the
 *           chain's hex messages, transposed to one vector per record.
 * A block of few samples is cheaper on SHA-NI (one or two lanes at a time)
 * and MT19937 of at most DPA_MT_SCALAR_MAX lanes in scalar code, so a call
 * of a few ids costs about its own samples.
 *
 * SHA-NI or AVX-512 for the hash: where both are enabled, the faster on the
 * CPU at hand, measured once per process (dpa_chain_choice).  The two are
 * never interleaved: the SHA instructions exist only in the legacy SSE
 * encoding, and mixing them with 512-bit code costs a state transition per
 * instruction (measured: 16 AVX-512 lanes plus one SHA-NI chain in one loop
 * ran at 226 ns per compression, against 10 ns for the AVX-512 lanes alone).
 * The compiler separates the two with vzeroupper at each call.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "avx512.h"
#include "dpa_internal.h"

#if DPA_AVX512_X86

#define K256 dpa_sha256_k

#define T3(a, b, c, imm) _mm512_ternarylogic_epi32(a, b, c, imm)
#define XOR3 0x96 /* a ^ b ^ c */
#define CHOOSE 0xca /* a ? b : c, bitwise (SHA's Ch) */
#define MAJORITY 0xe8
#define ROR(x, n) _mm512_ror_epi32(x, n)
#define ADD(a, b) _mm512_add_epi32(a, b)

/* One round; the caller rotates the names of a..h. */
#define RND16(a, b, c, d, e, f, g, h, wk)                                        \
    do {                                                                       \
        __m512i t1_ = ADD(ADD(h, T3(ROR(e, 6), ROR(e, 11), ROR(e, 25), XOR3)),   \
                          ADD(T3(e, f, g, CHOOSE), wk));                       \
        __m512i t2_ = ADD(T3(ROR(a, 2), ROR(a, 13), ROR(a, 22), XOR3),           \
                          T3(a, b, c, MAJORITY));                              \
        d = ADD(d, t1_);                                                       \
        h = ADD(t1_, t2_);                                                     \
    } while (0)

#define SSIG0_16(x) T3(ROR(x, 7), ROR(x, 18), _mm512_srli_epi32(x, 3), XOR3)
#define SSIG1_16(x) T3(ROR(x, 17), ROR(x, 19), _mm512_srli_epi32(x, 10), XOR3)

/* Round u of a message block: the schedule word (u >= 16) in place in
 * w[u % 16], then the round. */
#define MSG_RND16(u, a, b, c, d, e, f, g, h)                                    \
    do {                                                                       \
        if ((u) >= 16)                                                         \
            w[(u) & 15] = ADD(ADD(SSIG1_16(w[((u) - 2) & 15]), w[((u) - 7) & 15]), \
                              ADD(SSIG0_16(w[((u) - 15) & 15]), w[(u) & 15]));  \
        RND16(a, b, c, d, e, f, g, h, ADD(w[(u) & 15], _mm512_set1_epi32((int)K256[u]))); \
    } while (0)

/* Compression of one message block per lane: w[0..15] the message words
 * (overwritten by the schedule), st the state, updated. */
DPA_AVX512_TARGET static inline void compress_msg16(__m512i st[8], __m512i w[16])
{
    __m512i a = st[0], b = st[1], c = st[2], d = st[3];
    __m512i e = st[4], f = st[5], g = st[6], h = st[7];
    int t;
#pragma GCC unroll 8
    for (t = 0; t < 64; t += 8) {
        MSG_RND16(t + 0, a, b, c, d, e, f, g, h);
        MSG_RND16(t + 1, h, a, b, c, d, e, f, g);
        MSG_RND16(t + 2, g, h, a, b, c, d, e, f);
        MSG_RND16(t + 3, f, g, h, a, b, c, d, e);
        MSG_RND16(t + 4, e, f, g, h, a, b, c, d);
        MSG_RND16(t + 5, d, e, f, g, h, a, b, c);
        MSG_RND16(t + 6, c, d, e, f, g, h, a, b);
        MSG_RND16(t + 7, b, c, d, e, f, g, h, a);
    }
    st[0] = ADD(st[0], a); st[1] = ADD(st[1], b); st[2] = ADD(st[2], c); st[3] = ADD(st[3], d);
    st[4] = ADD(st[4], e); st[5] = ADD(st[5], f); st[6] = ADD(st[6], g); st[7] = ADD(st[7], h);
}

/* Compression of the same constant block in every lane, from its
 * pre-expanded W[t] + K[t]. */
DPA_AVX512_TARGET static inline void compress_wk16(__m512i st[8], const uint32_t *wk)
{
    __m512i a = st[0], b = st[1], c = st[2], d = st[3];
    __m512i e = st[4], f = st[5], g = st[6], h = st[7];
    int t;
#pragma GCC unroll 8
    for (t = 0; t < 64; t += 8) {
        RND16(a, b, c, d, e, f, g, h, _mm512_set1_epi32((int)wk[t + 0]));
        RND16(h, a, b, c, d, e, f, g, _mm512_set1_epi32((int)wk[t + 1]));
        RND16(g, h, a, b, c, d, e, f, _mm512_set1_epi32((int)wk[t + 2]));
        RND16(f, g, h, a, b, c, d, e, _mm512_set1_epi32((int)wk[t + 3]));
        RND16(e, f, g, h, a, b, c, d, _mm512_set1_epi32((int)wk[t + 4]));
        RND16(d, e, f, g, h, a, b, c, _mm512_set1_epi32((int)wk[t + 5]));
        RND16(c, d, e, f, g, h, a, b, _mm512_set1_epi32((int)wk[t + 6]));
        RND16(b, c, d, e, f, g, h, a, _mm512_set1_epi32((int)wk[t + 7]));
    }
    st[0] = ADD(st[0], a); st[1] = ADD(st[1], b); st[2] = ADD(st[2], c); st[3] = ADD(st[3], d);
    st[4] = ADD(st[4], e); st[5] = ADD(st[5], f); st[6] = ADD(st[6], g); st[7] = ADD(st[7], h);
}

/* A digest word x per lane -> the two message words of its eight lowercase
 * hex characters: w[0] = chars of x >> 16, w[1] = chars of x & 0xffff, each
 * as the big-endian word SHA-256 reads.  The nibbles of every byte become
 * characters with vpshufb; interleaving the low- and high-nibble characters
 * (vpunpck[lh]bw) puts each 16-bit half's four characters into one dword,
 * and vpermt2d sorts the dwords back into lane order. */
DPA_AVX512_TARGET static inline void hex16(__m512i x, __m512i *w_hi, __m512i *w_lo)
{
    const __m512i digits = _mm512_broadcast_i32x4(
        _mm_setr_epi8('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e',
                      'f'));
    const __m512i nib = _mm512_set1_epi8(0x0f);
    /* After the unpacks, 128-bit lane j holds (lo(4j), hi(4j), lo(4j+1),
     * hi(4j+1)) in u and the same for lanes 4j+2, 4j+3 in v. */
    const __m512i sel_hi = _mm512_setr_epi32(1, 3, 17, 19, 5, 7, 21, 23, 9, 11, 25, 27, 13, 15,
                                             29, 31);
    const __m512i sel_lo = _mm512_sub_epi32(sel_hi, _mm512_set1_epi32(1));
    __m512i cl = _mm512_shuffle_epi8(digits, _mm512_and_si512(x, nib));
    __m512i ch = _mm512_shuffle_epi8(digits, _mm512_and_si512(_mm512_srli_epi32(x, 4), nib));
    __m512i u = _mm512_unpacklo_epi8(cl, ch), v = _mm512_unpackhi_epi8(cl, ch);
    *w_hi = _mm512_permutex2var_epi32(u, sel_hi, v);
    *w_lo = _mm512_permutex2var_epi32(u, sel_lo, v);
}

/* The hex digests of sixteen lanes (digest word k of lane l at
 * st[k * stride + l]) as 64 characters at dst + l * itemsize, l < m: the
 * message words of hex16 are the characters in big-endian dwords, so they
 * are transposed to one vector per lane (two rounds of unpacks, then 4 x 4
 * blocks of 128 bits) and byte-swapped. */
DPA_AVX512_TARGET static void hex_records16(const uint32_t *st, int stride, char *dst,
                                            int64_t itemsize, int m)
{
    const __m512i bswap = _mm512_broadcast_i32x4(
        _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12));
    __m512i r[16], t[16], u[16];
    int k, b, i, j;
    for (k = 0; k < 8; k++)
        hex16(_mm512_loadu_si512((const void *)(st + k * stride)), &r[2 * k], &r[2 * k + 1]);
    for (k = 0; k < 16; k += 2) {
        t[k] = _mm512_unpacklo_epi32(r[k], r[k + 1]);
        t[k + 1] = _mm512_unpackhi_epi32(r[k], r[k + 1]);
    }
    /* u[4b + i], 128-bit block j: words 4b .. 4b+3 of lane 4j + i. */
    for (b = 0; b < 4; b++) {
        u[4 * b + 0] = _mm512_unpacklo_epi64(t[4 * b], t[4 * b + 2]);
        u[4 * b + 1] = _mm512_unpackhi_epi64(t[4 * b], t[4 * b + 2]);
        u[4 * b + 2] = _mm512_unpacklo_epi64(t[4 * b + 1], t[4 * b + 3]);
        u[4 * b + 3] = _mm512_unpackhi_epi64(t[4 * b + 1], t[4 * b + 3]);
    }
    for (i = 0; i < 4; i++) {
        __m512i v0 = _mm512_shuffle_i32x4(u[i], u[4 + i], 0x44);
        __m512i v1 = _mm512_shuffle_i32x4(u[i], u[4 + i], 0xee);
        __m512i v2 = _mm512_shuffle_i32x4(u[8 + i], u[12 + i], 0x44);
        __m512i v3 = _mm512_shuffle_i32x4(u[8 + i], u[12 + i], 0xee);
        __m512i c[4];
        c[0] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        c[1] = _mm512_shuffle_i32x4(v0, v2, 0xdd);
        c[2] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        c[3] = _mm512_shuffle_i32x4(v1, v3, 0xdd);
        for (j = 0; j < 4; j++)
            if (4 * j + i < m)
                _mm512_storeu_si512((void *)(dst + (4 * j + i) * itemsize),
                                    _mm512_shuffle_epi8(c[j], bswap));
    }
}

/* The chain steps for sixteen lanes: st holds the digest of the first
 * message on entry and the final digest on return. */
DPA_AVX512_TARGET static void chain16(const dpa_plan *p, __m512i st[8])
{
    int64_t i, blk;
    int k;
    for (i = 0; i < p->depth; i++) {
        __m512i w[16];
        for (k = 0; k < 8; k++) {
            hex16(st[k], &w[2 * k], &w[2 * k + 1]);
            st[k] = _mm512_set1_epi32((int)dpa_sha256_iv[k]);
        }
        compress_msg16(st, w);
        for (blk = p->tail_start[i]; blk < p->tail_start[i + 1]; blk++)
            compress_wk16(st, p->tail_wk + 64 * blk);
    }
}

/* Stage 1 for lanes 0 .. m-1 (m <= 16) of the ids from record i: the first
 * message (lanes with fewer blocks keep their state under a mask), then the
 * chain; st[k * stride + l] gets word k of lane l's digest. */
DPA_AVX512_TARGET static void hash16(const dpa_plan *p, const dpa_ids *ids, int64_t i, int m,
                                     uint32_t *st, int stride)
{
    __m512i s[8];
    uint64_t id[16];
    int nblk[16], maxblk = 1, l, k, b;
    for (l = 0; l < 16; l++) id[l] = l < m ? (uint64_t)dpa_id_at(ids, i + l) : 0u;
    for (k = 0; k < 8; k++) s[k] = _mm512_set1_epi32((int)dpa_sha256_iv[k]);
    for (b = 0; b < maxblk; b++) {
        uint32_t words[16][16];
        __m512i w[16], old[8];
        __mmask16 active = 0;
        for (l = 0; l < 16; l++) {
            unsigned char block[64];
            int nb = dpa_first_block(p, id[l], b, block);
            if (b == 0) {
                nblk[l] = nb;
                if (nb > maxblk) maxblk = nb;
            }
            if (b < nblk[l]) active |= (__mmask16)(1u << l);
            for (k = 0; k < 16; k++)
                words[k][l] = ((uint32_t)block[4 * k] << 24) | ((uint32_t)block[4 * k + 1] << 16) |
                              ((uint32_t)block[4 * k + 2] << 8) | block[4 * k + 3];
        }
        for (k = 0; k < 16; k++) w[k] = _mm512_loadu_si512((const void *)words[k]);
        for (k = 0; k < 8; k++) old[k] = s[k];
        compress_msg16(s, w);
        for (k = 0; k < 8; k++) s[k] = _mm512_mask_mov_epi32(old[k], active, s[k]);
    }
    chain16(p, s);
    for (k = 0; k < 8; k++) {
        uint32_t row[16];
        _mm512_storeu_si512((void *)row, s[k]);
        memcpy(st + k * stride, row, 4 * (size_t)m);
    }
}

/* ---- MT19937, nvec vectors of 16 lanes in lockstep ------------------------ */

/* The low 32 bits of z * k in each of sixteen lanes. */
DPA_AVX512_TARGET static inline __m512i mullo16(__m512i z, __m512i k)
{
    __m512i pe = _mm512_mul_epu32(z, k);
    __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(z, 32), k);
    return _mm512_mask_shuffle_epi32(pe, 0xaaaa, po, _MM_PERM_CCAA);
}

#define MT_Z(v) _mm512_xor_si512(v, _mm512_srli_epi32(v, 30)) /* v ^ (v >> 30) */

/* Seeds seed[v * 16 + l] (v < nvec), outputs out[k * stride + 16 v + l];
 * x: scratch for MT_N * nvec vectors (the state after the first loop). */
DPA_AVX512_TARGET __attribute__((always_inline)) static inline void mt16(
    const uint32_t *seed, const int nvec, uint32_t *out, int stride, __m512i *x)
{
    const uint32_t *init = dpa_mt_init_table();
    const __m512i k1 = _mm512_set1_epi32(1664525), k2 = _mm512_set1_epi32(1566083941);
    __m512i s[4], prev[4], x1b[4], y1[4], keep[MT_N_KEEP][4];
    int i, k, v;
    for (v = 0; v < nvec; v++) {
        s[v] = _mm512_loadu_si512((const void *)(seed + 16 * v));
        prev[v] = _mm512_set1_epi32((int)init[0]);
    }
    /* First loop: i = 1 .. 623, the key word added each step. */
    for (i = 1; i < MT_N; i++) {
        const __m512i c = _mm512_set1_epi32((int)init[i]);
        for (v = 0; v < nvec; v++) {
            prev[v] = ADD(_mm512_xor_si512(c, mullo16(MT_Z(prev[v]), k1)), s[v]);
            x[4 * i + v] = prev[v];
        }
    }
    /* 624th step after the wrap mt[0] = mt[623]: i = 1 again. */
    for (v = 0; v < nvec; v++)
        prev[v] = x1b[v] = ADD(_mm512_xor_si512(x[4 + v], mullo16(MT_Z(prev[v]), k1)), s[v]);
    /* Second loop: i = 2 .. 623, minus i; keep words 2..10 and 397..406. */
    for (i = 2; i < MT_N; i++) {
        const __m512i c = _mm512_set1_epi32(i);
        for (v = 0; v < nvec; v++)
            prev[v] = _mm512_sub_epi32(_mm512_xor_si512(x[4 * i + v], mullo16(MT_Z(prev[v]), k2)), c);
        k = (i <= 10) ? i - 2 : (i >= 397 && i <= 406) ? i - 397 + MT_KEEP_HI : -1;
        if (k >= 0)
            for (v = 0; v < nvec; v++) keep[k][v] = prev[v];
    }
    for (v = 0; v < nvec; v++)
        y1[v] = _mm512_sub_epi32(_mm512_xor_si512(x1b[v], mullo16(MT_Z(prev[v]), k2)),
                                 _mm512_set1_epi32(1));
    /* Twist for outputs 0..9 and temper. */
    for (v = 0; v < nvec; v++)
        for (k = 0; k < 10; k++) {
            const __m512i top = _mm512_set1_epi32(0x7fffffff);
            __m512i cur = k == 0 ? _mm512_set1_epi32((int)0x80000000u) : k == 1 ? y1[v] : keep[k - 2][v];
            __m512i nxt = k == 0 ? y1[v] : keep[k - 1][v];
            __m512i y = T3(top, nxt, cur, CHOOSE); /* (cur & 0x80000000) | (nxt & 0x7fffffff) */
            __m512i mag = _mm512_maskz_mov_epi32(_mm512_test_epi32_mask(y, _mm512_set1_epi32(1)),
                                                 _mm512_set1_epi32((int)0x9908b0dfu));
            __m512i t = T3(keep[MT_KEEP_HI + k][v], _mm512_srli_epi32(y, 1), mag, XOR3);
            t = _mm512_xor_si512(t, _mm512_srli_epi32(t, 11));
            /* a ^ (b & c) is ternary-logic 0x78 */
            t = T3(t, _mm512_slli_epi32(t, 7), _mm512_set1_epi32((int)0x9d2c5680u), 0x78);
            t = T3(t, _mm512_slli_epi32(t, 15), _mm512_set1_epi32((int)0xefc60000u), 0x78);
            t = _mm512_xor_si512(t, _mm512_srli_epi32(t, 18));
            _mm512_storeu_si512((void *)(out + k * stride + 16 * v), t);
        }
}

/* ---- SHA-NI or AVX-512 for the hash: measured once ------------------------ */

static pthread_once_t choice_once = PTHREAD_ONCE_INIT;
static double choice_ns[2]; /* AVX-512, SHA-NI: ns for one block of 16 lanes */
static int forced_choice;   /* test hook: 0 = measured */

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e9 * (double)t.tv_sec + (double)t.tv_nsec;
}

/*
 * Time 16 lanes of a depth-2 chain (five compressions per lane) on both,
 * taking turns, best of seven each, after about 100 us of AVX-512 work: an
 * Intel core runs 512-bit code at a fraction of its rate for some tens of
 * microseconds while it powers up the upper lanes.  About half a
 * millisecond, once per process, in the first fill that could use both.
 */
DPA_AVX512_TARGET static void measure_choice(void)
{
    static const int64_t start[3] = {0, 1, 2};
    unsigned char blk[64];
    uint32_t wk[128], st[8 * 16];
    dpa_plan p;
    dpa_ids ids;
    double t0, best[2] = {1e300, 1e300};
    int b, r, path;
    for (b = 0; b < 2; b++) { /* decimal(fib(b)) and padding, after 64 hex bytes */
        memset(blk, 0, sizeof(blk));
        blk[0] = (unsigned char)('0' + b);
        blk[1] = 0x80;
        blk[62] = (65 * 8) >> 8;
        blk[63] = (65 * 8) & 0xff;
        dpa_expand_block(blk, wk + 64 * b);
    }
    memset(&p, 0, sizeof(p));
    p.prefix = (const unsigned char *)"";
    p.depth = 2;
    p.tail_wk = wk;
    p.tail_start = start;
    ids.ids = NULL;
    ids.first = 1000000007;
    ids.step = 1;
    t0 = now_ns();
    while (now_ns() - t0 < 100000.0) hash16(&p, &ids, 0, 16, st, 16);
    for (r = 0; r < 7; r++)
        for (path = 0; path < 2; path++) {
            double t = now_ns();
            if (path == 0)
                hash16(&p, &ids, 0, 16, st, 16);
            else
                dpa_shani_hash(&p, &ids, 0, 16, st, 16);
            t = now_ns() - t;
            if (t < best[path]) best[path] = t;
        }
    choice_ns[0] = best[0];
    choice_ns[1] = best[1];
}

int dpa_chain_choice(double ns[2])
{
    int choice;
    if (!(dpa_cpu_paths() & DPA_PATH_AVX512) || !(dpa_cpu_paths() & DPA_PATH_SHANI)) {
        if (ns) ns[0] = ns[1] = 0.0;
        return dpa_cpu_paths() & (DPA_PATH_AVX512 | DPA_PATH_SHANI);
    }
    pthread_once(&choice_once, measure_choice);
    if (ns) {
        ns[0] = choice_ns[0];
        ns[1] = choice_ns[1];
    }
    choice = choice_ns[0] <= choice_ns[1] ? DPA_PATH_AVX512 : DPA_PATH_SHANI;
    return forced_choice ? forced_choice : choice;
}

void dpa_force_chain_choice(int choice)
{
    forced_choice = choice;
}

/* Lanes (of 16) up to which a block is cheaper on SHA-NI, two lanes at a
 * time, than one 16-lane AVX-512 block: 16 where SHA-NI is faster anyway. */
static int shani_max_lanes(int paths)
{
    double ns[2];
    int k;
    if (!(paths & DPA_PATH_SHANI)) return 0;
    if (dpa_chain_choice(ns) == DPA_PATH_SHANI) return 16;
    for (k = 2; k <= 16 && ns[1] * k / 16.0 < ns[0]; k += 2)
        ;
    return k - 2; /* 2, 4, .., k - 2 lanes (and one fewer) are cheaper */
}

/* ---- the fill ------------------------------------------------------------- */

DPA_AVX512_TARGET int dpa_fill_avx512(const dpa_plan *p, const dpa_ids *ids, char *rec, int64_t n,
                                      int64_t itemsize, int64_t hash_offset, int paths)
{
    __m512i *x = (__m512i *)dpa_thread_scratch();
    const int shani_max = shani_max_lanes(paths);
    int64_t base;
    if (!x) return -1;
    for (base = 0; base < n; base += DPA_GROUP_MAX) {
        uint32_t st[8][DPA_GROUP_MAX], out[10][DPA_GROUP_MAX];
        int m = (int)(n - base < DPA_GROUP_MAX ? n - base : DPA_GROUP_MAX);
        int nvec = (m + 15) / 16, v, l, k;
        for (l = m; l < 16 * nvec; l++) st[7][l] = 0; /* seeds of unused lanes */
        for (v = 0; v < nvec; v++) {
            int mv = m - 16 * v < 16 ? m - 16 * v : 16;
            if (mv <= shani_max)
                dpa_shani_hash(p, ids, base + 16 * v, mv, &st[0][16 * v], DPA_GROUP_MAX);
            else
                hash16(p, ids, base + 16 * v, mv, &st[0][16 * v], DPA_GROUP_MAX);
        }
        if (m <= DPA_MT_SCALAR_MAX)
            dpa_mt_scalar(st[7], m, &out[0][0], DPA_GROUP_MAX);
        else
            switch (nvec) { /* nvec a constant in each copy: the vectors stay in registers */
            case 1: mt16(st[7], 1, &out[0][0], DPA_GROUP_MAX, x); break;
            case 2: mt16(st[7], 2, &out[0][0], DPA_GROUP_MAX, x); break;
            case 3: mt16(st[7], 3, &out[0][0], DPA_GROUP_MAX, x); break;
            default: mt16(st[7], 4, &out[0][0], DPA_GROUP_MAX, x); break;
            }
        for (v = 0; v < nvec; v++) {
            int mv = m - 16 * v < 16 ? m - 16 * v : 16;
            int64_t i = base + 16 * v;
            __m512i id[2], words[10];
            __m512d f[5][2];
            avx512_ids16(ids, i, n, id);
            for (k = 0; k < 10; k++) words[k] = _mm512_loadu_si512((const void *)&out[k][16 * v]);
            avx512_fields16(words, p->low, p->span, f);
            avx512_store16(id, f, rec + i * itemsize, itemsize, mv);
            if (hash_offset >= 0)
                hex_records16(&st[0][16 * v], DPA_GROUP_MAX, rec + i * itemsize + hash_offset,
                              itemsize, mv);
        }
    }
    return 0;
}

#else /* not x86: no AVX-512 path */

int dpa_chain_choice(double ns[2])
{
    if (ns) ns[0] = ns[1] = 0.0;
    return 0;
}

void dpa_force_chain_choice(int choice)
{
    (void)choice;
}

#endif
