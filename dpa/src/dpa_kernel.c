/*
 * dpa_kernel.c -- see dpa_kernel.h for the algorithm and the layers.
 *
 * Paths (chosen at run time, all bit-identical, each tested):
 *   portable  lane-major C, vectorized by the compiler for the baseline ISA;
 *   AVX2      the same source compiled for AVX2 (dpa_lanes.h, included once
 *             per width and target);
 *   SHA-NI    the hash with the x86 SHA extensions, two samples interleaved
 *             to hide the latency of sha256rnds2 (dpa_shani.c);
 *   AVX-512   sixteen samples per vector (dpa_avx512.c).
 * A group of 32 samples runs the 32-lane kernels; a group of at most 8 (a
 * call of a few ids, the tail of a call) the 8-lane ones, and at most
 * DPA_MT_SCALAR_MAX lanes run MT19937 in scalar code, so a small call costs
 * about its own samples.  No scratch memory is allocated per call: groups
 * live on the stack, the AVX-512 path's MT19937 state in a per-thread
 * buffer.
 * Build with -ffp-contract=off (setup.py does): the only floating-point
 * expression, low + span * u, must round twice as Python does, never fuse.
 */
#include "dpa_kernel.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dpa_internal.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define DPA_X86 1
#include <immintrin.h>
#else
#define DPA_X86 0
#endif

/* Samples per group: lanes of the vectorized kernels.  32 lanes give the
 * MT19937 seeding chain enough independent work to hide its latency;
 * DPA_NARROW lanes serve groups of at most that many samples. */
#define DPA_GROUP 32
#define DPA_NARROW 8

/* ---- SHA-256 constants and helpers (FIPS 180-4, section 4.2.2) ---------- */

const uint32_t dpa_sha256_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u,
    0x923f82a4u, 0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
    0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u,
    0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u,
    0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
    0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au,
    0x5b9cca4fu, 0x682e6ff3u, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};

const uint32_t dpa_sha256_iv[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                      0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};

#define K256 dpa_sha256_k
#define SHA256_IV dpa_sha256_iv

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define BSIG0(x) (ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define BSIG1(x) (ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define SSIG0(x) (ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))
#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))

/* One round in every lane; the caller rotates the names of a..h. */
#define LANE_ROUND(a, b, c, d, e, f, g, h, WK)                                  \
    for (l = 0; l < LANES_N; l++) {                                            \
        uint32_t t1_ = h[l] + BSIG1(e[l]) + CH(e[l], f[l], g[l]) + (WK);       \
        uint32_t t2_ = BSIG0(a[l]) + MAJ(a[l], b[l], c[l]);                    \
        d[l] += t1_;                                                           \
        h[l] = t1_ + t2_;                                                      \
    }

static inline uint32_t load_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Four lowercase hex characters of a 16-bit value, as the big-endian message
 * word SHA-256 reads them.  Branch-free so that it vectorizes: spread the
 * nibbles into bytes, add '0', and add 'a' - '0' - 10 = 39 where nibble > 9
 * (nibble + 6 carries into bit 4 exactly then). */
static inline uint32_t hex_word(uint32_t x)
{
    uint32_t b = ((x & 0xf000u) << 12) | ((x & 0x0f00u) << 8) | ((x & 0x00f0u) << 4) | (x & 0x000fu);
    uint32_t m = ((b + 0x06060606u) >> 4) & 0x01010101u;
    return b + 0x30303030u + m * 39u;
}

/* ---- MT19937 as CPython seeds it --------------------------------------- */

/* init_genrand(19650218): the state init_by_array starts from; constant,
 * built once (dpa_mt_init_table). */
static uint32_t MT_INIT[MT_N];
static pthread_once_t mt_init_once = PTHREAD_ONCE_INIT;

static void mt_init_table(void)
{
    int i;
    MT_INIT[0] = 19650218u;
    for (i = 1; i < MT_N; i++)
        MT_INIT[i] = 1812433253u * (MT_INIT[i - 1] ^ (MT_INIT[i - 1] >> 30)) + (uint32_t)i;
}

const uint32_t *dpa_mt_init_table(void)
{
    pthread_once(&mt_init_once, mt_init_table);
    return MT_INIT;
}

/* One step of init_by_array's first loop (key word s added) and of its
 * second (minus i), from the previous state word. */
static inline uint32_t mt_step1(uint32_t x, uint32_t prev, uint32_t s)
{
    return (x ^ ((prev ^ (prev >> 30)) * 1664525u)) + s;
}

static inline uint32_t mt_step2(uint32_t x, uint32_t prev, uint32_t i)
{
    return (x ^ ((prev ^ (prev >> 30)) * 1566083941u)) - i;
}

/* Output k of the first twist, tempered, from the seeded state words
 * cur = mt[k], nxt = mt[k + 1] and far = mt[k + 397]. */
static inline uint32_t mt_output(uint32_t cur, uint32_t nxt, uint32_t far)
{
    uint32_t y = (cur & 0x80000000u) | (nxt & 0x7fffffffu);
    uint32_t v = far ^ (y >> 1) ^ ((0u - (y & 1u)) & 0x9908b0dfu);
    v ^= v >> 11;
    v ^= (v << 7) & 0x9d2c5680u;
    v ^= (v << 15) & 0xefc60000u;
    return v ^ (v >> 18);
}

static inline int mt_keep_slot(int i)
{
    if (i >= 2 && i <= 10) return i - 2;
    if (i >= 397 && i <= 406) return i - 397 + MT_KEEP_HI;
    return -1;
}

/* ---- the lane-major kernels: portable, then the AVX2 clones -------------- */

#define LANES_N DPA_GROUP
#define LANES_FN(name) lanes_##name##_portable
#include "dpa_lanes.h"
#undef LANES_FN
#undef LANES_N
#define LANES_N DPA_NARROW
#define LANES_FN(name) lanes_##name##_portable8
#include "dpa_lanes.h"
#undef LANES_FN
#undef LANES_N

#if DPA_X86
#pragma GCC push_options
#pragma GCC target("avx2")
#define LANES_N DPA_GROUP
#define LANES_FN(name) lanes_##name##_avx2
#include "dpa_lanes.h"
#undef LANES_FN
#undef LANES_N
#define LANES_N DPA_NARROW
#define LANES_FN(name) lanes_##name##_avx2_8
#include "dpa_lanes.h"
#undef LANES_FN
#undef LANES_N
#pragma GCC pop_options
#endif

/* ---- portable single-block compression (first message, bench) ---------- */

static void compress_bytes_portable(uint32_t st[8], const unsigned char *block)
{
    uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
    int t;
    for (t = 0; t < 16; t++) w[t] = load_be32(block + 4 * t);
    for (t = 16; t < 64; t++) w[t] = SSIG1(w[t - 2]) + w[t - 7] + SSIG0(w[t - 15]) + w[t - 16];
    a = st[0]; b = st[1]; c = st[2]; d = st[3]; e = st[4]; f = st[5]; g = st[6]; h = st[7];
    for (t = 0; t < 64; t++) {
        t1 = h + BSIG1(e) + CH(e, f, g) + K256[t] + w[t];
        t2 = BSIG0(a) + MAJ(a, b, c);
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    st[0] += a; st[1] += b; st[2] += c; st[3] += d;
    st[4] += e; st[5] += f; st[6] += g; st[7] += h;
}

/* ---- constant blocks; one compression, dispatched ----------------------- */

void dpa_expand_block(const unsigned char block[64], uint32_t wk[64])
{
    uint32_t w[64];
    int t;
    for (t = 0; t < 16; t++) w[t] = load_be32(block + 4 * t);
    for (t = 16; t < 64; t++) w[t] = SSIG1(w[t - 2]) + w[t - 7] + SSIG0(w[t - 15]) + w[t - 16];
    for (t = 0; t < 64; t++) wk[t] = w[t] + K256[t];
}

void dpa_sha256_compress_bytes(uint32_t state[8], const unsigned char block[64], int paths)
{
#if DPA_X86
    if (paths & dpa_cpu_paths() & DPA_PATH_SHANI) {
        dpa_shani_compress_bytes(state, block);
        return;
    }
#endif
    (void)paths;
    compress_bytes_portable(state, block);
}

/* ---- MT19937 for a few lanes -------------------------------------------- */

/* Scalar code, the lanes interleaved so that their dependent chains overlap;
 * vectorizing would trade the 3-cycle scalar multiply for a vector multiply
 * of 10 cycles, so the loops stay scalar.  M is a constant in each copy
 * (dpa_mt_scalar), so the lane loops unroll and the lanes stay in
 * registers. */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_VECTORIZE __attribute__((optimize("no-tree-vectorize")))
#else
#define NO_VECTORIZE
#endif
NO_VECTORIZE __attribute__((always_inline)) static inline void mt_scalar_n(const uint32_t *seed, const int M, uint32_t *out,
                                             int stride)
{
    const uint32_t *init = dpa_mt_init_table();
    uint32_t x[MT_N][DPA_MT_SCALAR_MAX], keep[MT_N_KEEP][DPA_MT_SCALAR_MAX];
    uint32_t prev[DPA_MT_SCALAR_MAX], x1b[DPA_MT_SCALAR_MAX], y1;
    int i, k, l;
    for (l = 0; l < M; l++) prev[l] = init[0];
    for (i = 1; i < MT_N; i++)
        for (l = 0; l < M; l++) prev[l] = x[i][l] = mt_step1(init[i], prev[l], seed[l]);
    for (l = 0; l < M; l++) prev[l] = x1b[l] = mt_step1(x[1][l], prev[l], seed[l]);
    for (i = 2; i < MT_N; i++) {
        for (l = 0; l < M; l++) prev[l] = mt_step2(x[i][l], prev[l], (uint32_t)i);
        k = mt_keep_slot(i);
        if (k >= 0)
            for (l = 0; l < M; l++) keep[k][l] = prev[l];
    }
    for (l = 0; l < M; l++) {
        y1 = mt_step2(x1b[l], prev[l], 1u);
        for (k = 0; k < 10; k++)
            out[k * stride + l] = mt_output(k == 0 ? 0x80000000u : k == 1 ? y1 : keep[k - 2][l],
                                            k == 0 ? y1 : keep[k - 1][l], keep[MT_KEEP_HI + k][l]);
    }
}

NO_VECTORIZE void dpa_mt_scalar(const uint32_t *seed, int m, uint32_t *out, int stride)
{
    switch (m) {
    case 1: mt_scalar_n(seed, 1, out, stride); break;
    case 2: mt_scalar_n(seed, 2, out, stride); break;
    case 3: mt_scalar_n(seed, 3, out, stride); break;
    default: mt_scalar_n(seed, 4, out, stride); break;
    }
}

/* ---- per-thread scratch ------------------------------------------------- */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;
static __thread void *scratch;

static void scratch_key_make(void)
{
    scratch_key_ok = pthread_key_create(&scratch_key, free) == 0;
}

void *dpa_thread_scratch(void)
{
    void *buf;
    if (scratch) return scratch;
    pthread_once(&scratch_once, scratch_key_make);
    if (!scratch_key_ok || posix_memalign(&buf, 64, (size_t)DPA_SCRATCH_BYTES) != 0) return NULL;
    /* The key's destructor frees the buffer when the thread exits. */
    if (pthread_setspecific(scratch_key, buf) != 0) {
        free(buf);
        return NULL;
    }
    scratch = buf;
    return buf;
}

/* ---- records ------------------------------------------------------------ */

int dpa_first_block(const dpa_plan *p, uint64_t id, int b, unsigned char block[64])
{
    char digits[24];
    int nd = 0, j, nblocks;
    int64_t len, pos0 = 64 * (int64_t)b;
    uint64_t bits;
    do {
        digits[nd++] = (char)('0' + id % 10u);
        id /= 10u;
    } while (id);
    len = p->prefix_len + nd;
    nblocks = (int)((len + 9 + 63) / 64);
    memset(block, 0, 64);
    for (j = 0; j < 64; j++) {
        int64_t pos = pos0 + j;
        if (pos < p->prefix_len)
            block[j] = p->prefix[pos];
        else if (pos < len)
            block[j] = (unsigned char)digits[nd - 1 - (pos - p->prefix_len)];
        else {
            if (pos == len) block[j] = 0x80;
            break;
        }
    }
    if (b == nblocks - 1) {
        bits = (uint64_t)len * 8u;
        for (j = 0; j < 8; j++) block[63 - j] = (unsigned char)(bits >> (8 * j));
    }
    return nblocks;
}

void dpa_write_hex(char *dst, const uint32_t h[8])
{
    static const char digits[] = "0123456789abcdef";
    int k, j;
    for (k = 0; k < 8; k++)
        for (j = 0; j < 8; j++) dst[8 * k + j] = digits[(h[k] >> (28 - 4 * j)) & 0xfu];
}

void dpa_write_fields(const dpa_plan *p, const uint32_t *out, int stride, char *dst)
{
    double v[DPA_NFIELDS];
    int k;
    for (k = 0; k < DPA_NFIELDS; k++) {
        double a = (double)(out[2 * k * stride] >> 5), c = (double)(out[(2 * k + 1) * stride] >> 6);
        double u = (a * 67108864.0 + c) * (1.0 / 9007199254740992.0);
        v[k] = p->low[k] + p->span[k] * u;
    }
    memcpy(dst, v, sizeof(v));
}

/* Stages 1 and 2 of one group of m <= DPA_GROUP lanes on the portable, AVX2
 * and SHA-NI paths; st and out are rows of DPA_GROUP lanes. */
static void group_lanes(const dpa_plan *p, const dpa_ids *ids, int64_t base, int m, int paths,
                        uint32_t st[8][DPA_GROUP], uint32_t out[10][DPA_GROUP])
{
    const int use_avx2 = (paths & DPA_PATH_AVX2) != 0;
    int k, l;
    if (m <= DPA_NARROW) {
        uint32_t st8[8][DPA_NARROW], seed8[DPA_NARROW], out8[10][DPA_NARROW];
#if DPA_X86
        if (paths & DPA_PATH_SHANI)
            dpa_shani_hash(p, ids, base, m, &st8[0][0], DPA_NARROW);
        else if (use_avx2)
            lanes_hash_avx2_8(p, ids, base, m, st8);
        else
#endif
            lanes_hash_portable8(p, ids, base, m, st8);
        if (m <= DPA_MT_SCALAR_MAX) {
            dpa_mt_scalar(st8[7], m, &out8[0][0], DPA_NARROW);
        } else {
            for (l = 0; l < DPA_NARROW; l++) seed8[l] = st8[7][l];
#if DPA_X86
            if (use_avx2)
                lanes_mt_first10_avx2_8(seed8, out8);
            else
#endif
                lanes_mt_first10_portable8(seed8, out8);
        }
        for (k = 0; k < 8; k++)
            for (l = 0; l < m; l++) st[k][l] = st8[k][l];
        for (k = 0; k < 10; k++)
            for (l = 0; l < m; l++) out[k][l] = out8[k][l];
        return;
    }
#if DPA_X86
    if (paths & DPA_PATH_SHANI) {
        /* A full group's first messages are cheaper lane-major than one
         * SHA-NI lane at a time; the chain is faster on SHA-NI. */
        uint32_t w[64][DPA_GROUP];
        if (use_avx2)
            lanes_first_avx2(p, ids, base, m, st, w);
        else
            lanes_first_portable(p, ids, base, m, st, w);
        dpa_shani_chain_rows(p, m, &st[0][0], DPA_GROUP);
    } else if (use_avx2)
        lanes_hash_avx2(p, ids, base, m, st);
    else
#endif
        lanes_hash_portable(p, ids, base, m, st);
    {
        uint32_t seed[DPA_GROUP];
        for (l = 0; l < DPA_GROUP; l++) seed[l] = l < m ? st[7][l] : 0u;
#if DPA_X86
        if (use_avx2)
            lanes_mt_first10_avx2(seed, out);
        else
#endif
            lanes_mt_first10_portable(seed, out);
    }
}

int dpa_fill(const void *plan, const dpa_ids *ids, char *rec, int64_t n, int64_t itemsize,
             int64_t hash_offset, int paths)
{
    const dpa_plan *p = (const dpa_plan *)plan;
    uint32_t st[8][DPA_GROUP], out[10][DPA_GROUP];
    int64_t base;

    pthread_once(&mt_init_once, mt_init_table);
    paths &= dpa_cpu_paths();
#if DPA_X86
    /* A call of a few ids runs SHA-NI (or 8 lanes) and scalar MT19937
     * either way; keeping 512-bit instructions out of it keeps the core out
     * of its AVX-512 clock for the scalar work (measured: 4.1 against
     * 4.4 us for one id). */
    if ((paths & DPA_PATH_AVX512) && n > DPA_MT_SCALAR_MAX)
        return dpa_fill_avx512(p, ids, rec, n, itemsize, hash_offset, paths);
#endif
    for (base = 0; base < n; base += DPA_GROUP) {
        int m = (int)((n - base < DPA_GROUP) ? n - base : DPA_GROUP);
        int l, k;
        group_lanes(p, ids, base, m, paths, st, out);
        for (l = 0; l < m; l++) {
            char *r = rec + (base + l) * itemsize;
            int64_t id = dpa_id_at(ids, base + l);
            memcpy(r, &id, 8);
            dpa_write_fields(p, &out[0][l], DPA_GROUP, r + 8);
            if (hash_offset >= 0) {
                uint32_t h[8];
                for (k = 0; k < 8; k++) h[k] = st[k][l];
                dpa_write_hex(r + hash_offset, h);
            }
        }
    }
    return 0;
}
