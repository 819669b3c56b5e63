/*
 * dpa_lanes.h -- lane-major group kernels, included twice by dpa_kernel.c:
 * once for the portable build and once inside `#pragma GCC target("avx2")`
 * with LANES_FN(name) giving the clone a suffix.  The source is plain C over
 * arrays indexed [..][lane]; the compiler vectorizes the lane loops (SSE2 on
 * any x86-64, AVX2 in the clone).  Integer-only, so both clones give
 * identical bits.
 *
 * Expects: DPA_GROUP, LANES_FN, and the helpers of dpa_kernel.c above it.
 */

/* SHA-256 compression of one block per lane.  w[t][l] holds W[t] for
 * t < 16 (the message) and is expanded in place; st[8][l] is updated. */
static void LANES_FN(compress_msg)(uint32_t st[8][DPA_GROUP],
                                   uint32_t w[64][DPA_GROUP])
{
    uint32_t a[DPA_GROUP], b[DPA_GROUP], c[DPA_GROUP], d[DPA_GROUP];
    uint32_t e[DPA_GROUP], f[DPA_GROUP], g[DPA_GROUP], h[DPA_GROUP];
    int t, l;
    for (t = 16; t < 64; t++)
        for (l = 0; l < DPA_GROUP; l++)
            w[t][l] = SSIG1(w[t - 2][l]) + w[t - 7][l] + SSIG0(w[t - 15][l]) + w[t - 16][l];
    for (l = 0; l < DPA_GROUP; l++) {
        a[l] = st[0][l]; b[l] = st[1][l]; c[l] = st[2][l]; d[l] = st[3][l];
        e[l] = st[4][l]; f[l] = st[5][l]; g[l] = st[6][l]; h[l] = st[7][l];
    }
    for (t = 0; t < 64; t += 8) {
        LANE_ROUND(a, b, c, d, e, f, g, h, w[t + 0][l] + K256[t + 0]);
        LANE_ROUND(h, a, b, c, d, e, f, g, w[t + 1][l] + K256[t + 1]);
        LANE_ROUND(g, h, a, b, c, d, e, f, w[t + 2][l] + K256[t + 2]);
        LANE_ROUND(f, g, h, a, b, c, d, e, w[t + 3][l] + K256[t + 3]);
        LANE_ROUND(e, f, g, h, a, b, c, d, w[t + 4][l] + K256[t + 4]);
        LANE_ROUND(d, e, f, g, h, a, b, c, w[t + 5][l] + K256[t + 5]);
        LANE_ROUND(c, d, e, f, g, h, a, b, w[t + 6][l] + K256[t + 6]);
        LANE_ROUND(b, c, d, e, f, g, h, a, w[t + 7][l] + K256[t + 7]);
    }
    for (l = 0; l < DPA_GROUP; l++) {
        st[0][l] += a[l]; st[1][l] += b[l]; st[2][l] += c[l]; st[3][l] += d[l];
        st[4][l] += e[l]; st[5][l] += f[l]; st[6][l] += g[l]; st[7][l] += h[l];
    }
}

/* SHA-256 compression of the same constant block in every lane, given its
 * pre-expanded W[t] + K[t] (no message schedule to compute). */
static void LANES_FN(compress_wk)(uint32_t st[8][DPA_GROUP], const uint32_t wk[64])
{
    uint32_t a[DPA_GROUP], b[DPA_GROUP], c[DPA_GROUP], d[DPA_GROUP];
    uint32_t e[DPA_GROUP], f[DPA_GROUP], g[DPA_GROUP], h[DPA_GROUP];
    int t, l;
    for (l = 0; l < DPA_GROUP; l++) {
        a[l] = st[0][l]; b[l] = st[1][l]; c[l] = st[2][l]; d[l] = st[3][l];
        e[l] = st[4][l]; f[l] = st[5][l]; g[l] = st[6][l]; h[l] = st[7][l];
    }
    for (t = 0; t < 64; t += 8) {
        LANE_ROUND(a, b, c, d, e, f, g, h, wk[t + 0]);
        LANE_ROUND(h, a, b, c, d, e, f, g, wk[t + 1]);
        LANE_ROUND(g, h, a, b, c, d, e, f, wk[t + 2]);
        LANE_ROUND(f, g, h, a, b, c, d, e, wk[t + 3]);
        LANE_ROUND(e, f, g, h, a, b, c, d, wk[t + 4]);
        LANE_ROUND(d, e, f, g, h, a, b, c, wk[t + 5]);
        LANE_ROUND(c, d, e, f, g, h, a, b, wk[t + 6]);
        LANE_ROUND(b, c, d, e, f, g, h, a, wk[t + 7]);
    }
    for (l = 0; l < DPA_GROUP; l++) {
        st[0][l] += a[l]; st[1][l] += b[l]; st[2][l] += c[l]; st[3][l] += d[l];
        st[4][l] += e[l]; st[5][l] += f[l]; st[6][l] += g[l]; st[7][l] += h[l];
    }
}

/* The chain steps i = 0 .. depth-1 for every lane: st holds the digest of
 * the previous step on entry and the final digest on return. */
static void LANES_FN(chain)(const dpa_plan *p, uint32_t st[8][DPA_GROUP],
                            uint32_t w[64][DPA_GROUP])
{
    int64_t i, blk;
    int k, l;
    for (i = 0; i < p->depth; i++) {
        /* Block 0: the 64 lowercase hex characters of the previous digest. */
        for (k = 0; k < 8; k++)
            for (l = 0; l < DPA_GROUP; l++) {
                w[2 * k][l] = hex_word(st[k][l] >> 16);
                w[2 * k + 1][l] = hex_word(st[k][l] & 0xffffu);
            }
        for (k = 0; k < 8; k++)
            for (l = 0; l < DPA_GROUP; l++)
                st[k][l] = SHA256_IV[k];
        LANES_FN(compress_msg)(st, w);
        /* Then decimal(fib(i)) and the padding: constant, pre-expanded. */
        for (blk = p->tail_start[i]; blk < p->tail_start[i + 1]; blk++)
            LANES_FN(compress_wk)(st, p->tail_wk + 64 * blk);
    }
}

/* MT19937 seeded as init_by_array({seed}, 1), first ten tempered outputs per
 * lane.  Only state words 0..10 and 397..406 are needed for ten outputs, but
 * init_by_array is a 1,247-step dependent chain per lane, so lanes run it in
 * lockstep. */
static void LANES_FN(mt_first10)(const uint32_t seed[DPA_GROUP],
                                 uint32_t out[10][DPA_GROUP])
{
    uint32_t x[MT_N][DPA_GROUP];      /* state after the first loop */
    uint32_t keep[MT_N_KEEP][DPA_GROUP];
    uint32_t prev[DPA_GROUP], x1b[DPA_GROUP], y1[DPA_GROUP];
    int i, k, l;
    for (l = 0; l < DPA_GROUP; l++) prev[l] = MT_INIT[0];
    /* First loop: i = 1 .. 623, key word added each step (j stays 0). */
    for (i = 1; i < MT_N; i++)
        for (l = 0; l < DPA_GROUP; l++) {
            uint32_t v = (MT_INIT[i] ^ ((prev[l] ^ (prev[l] >> 30)) * 1664525u)) + seed[l];
            x[i][l] = v;
            prev[l] = v;
        }
    /* 624th step, after the wrap mt[0] = mt[623]: i = 1 again. */
    for (l = 0; l < DPA_GROUP; l++) {
        x1b[l] = (x[1][l] ^ ((prev[l] ^ (prev[l] >> 30)) * 1664525u)) + seed[l];
        prev[l] = x1b[l];
    }
    /* Second loop: i = 2 .. 623, minus i; keep words 2..10 and 397..406. */
    for (i = 2; i < MT_N; i++) {
        for (l = 0; l < DPA_GROUP; l++) {
            uint32_t v = (x[i][l] ^ ((prev[l] ^ (prev[l] >> 30)) * 1566083941u)) - (uint32_t)i;
            prev[l] = v;
        }
        k = mt_keep_slot(i);
        if (k >= 0)
            for (l = 0; l < DPA_GROUP; l++) keep[k][l] = prev[l];
    }
    /* Last step after the wrap: i = 1, then mt[0] = 0x80000000. */
    for (l = 0; l < DPA_GROUP; l++)
        y1[l] = (x1b[l] ^ ((prev[l] ^ (prev[l] >> 30)) * 1566083941u)) - 1u;
    /* Twist for outputs 0..9 and temper. */
    for (k = 0; k < 10; k++)
        for (l = 0; l < DPA_GROUP; l++) {
            uint32_t cur = (k == 0) ? 0x80000000u : (k == 1 ? y1[l] : keep[k - 2][l]);
            uint32_t nxt = (k == 0) ? y1[l] : keep[k - 1][l];
            uint32_t y = (cur & 0x80000000u) | (nxt & 0x7fffffffu);
            uint32_t v = keep[MT_KEEP_HI + k][l] ^ (y >> 1) ^ ((0u - (y & 1u)) & 0x9908b0dfu);
            v ^= v >> 11;
            v ^= (v << 7) & 0x9d2c5680u;
            v ^= (v << 15) & 0xefc60000u;
            v ^= v >> 18;
            out[k][l] = v;
        }
}
