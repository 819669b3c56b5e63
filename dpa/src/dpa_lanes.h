/*
 * dpa_lanes.h -- lane-major group kernels, included by dpa_kernel.c once per
 * (width, target): 32 and 8 lanes, portable and inside
 * `#pragma GCC target("avx2")`, with LANES_FN(name) giving each clone its
 * suffix.  The source is plain C over arrays indexed [..][lane]; the
 * compiler vectorizes the lane loops (SSE2 on any x86-64, AVX2 in the
 * clones).  Integer-only, so every clone gives identical bits.  The 8-lane
 * clones serve groups of a few samples, so that a call of n ids costs about
 * n samples of work.
 *
 * Expects: LANES_N (lanes), LANES_FN, LANE_ROUND (over `l < LANES_N`), and
 * the helpers of dpa_kernel.c above it.
 */

/* SHA-256 compression of one block per lane.  w[t][l] holds W[t] for
 * t < 16 (the message) and is expanded in place; st[8][l] is updated. */
static void LANES_FN(compress_msg)(uint32_t st[8][LANES_N],
                                   uint32_t w[64][LANES_N])
{
    uint32_t a[LANES_N], b[LANES_N], c[LANES_N], d[LANES_N];
    uint32_t e[LANES_N], f[LANES_N], g[LANES_N], h[LANES_N];
    int t, l;
    for (t = 16; t < 64; t++)
        for (l = 0; l < LANES_N; l++)
            w[t][l] = SSIG1(w[t - 2][l]) + w[t - 7][l] + SSIG0(w[t - 15][l]) + w[t - 16][l];
    for (l = 0; l < LANES_N; l++) {
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
    for (l = 0; l < LANES_N; l++) {
        st[0][l] += a[l]; st[1][l] += b[l]; st[2][l] += c[l]; st[3][l] += d[l];
        st[4][l] += e[l]; st[5][l] += f[l]; st[6][l] += g[l]; st[7][l] += h[l];
    }
}

/* SHA-256 compression of the same constant block in every lane, given its
 * pre-expanded W[t] + K[t] (no message schedule to compute). */
static void LANES_FN(compress_wk)(uint32_t st[8][LANES_N], const uint32_t wk[64])
{
    uint32_t a[LANES_N], b[LANES_N], c[LANES_N], d[LANES_N];
    uint32_t e[LANES_N], f[LANES_N], g[LANES_N], h[LANES_N];
    int t, l;
    for (l = 0; l < LANES_N; l++) {
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
    for (l = 0; l < LANES_N; l++) {
        st[0][l] += a[l]; st[1][l] += b[l]; st[2][l] += c[l]; st[3][l] += d[l];
        st[4][l] += e[l]; st[5][l] += f[l]; st[6][l] += g[l]; st[7][l] += h[l];
    }
}

/* The chain steps i = 0 .. depth-1 for every lane: st holds the digest of
 * the previous step on entry and the final digest on return. */
static void LANES_FN(chain)(const dpa_plan *p, uint32_t st[8][LANES_N],
                            uint32_t w[64][LANES_N])
{
    int64_t i, blk;
    int k, l;
    for (i = 0; i < p->depth; i++) {
        /* Block 0: the 64 lowercase hex characters of the previous digest. */
        for (k = 0; k < 8; k++)
            for (l = 0; l < LANES_N; l++) {
                w[2 * k][l] = hex_word(st[k][l] >> 16);
                w[2 * k + 1][l] = hex_word(st[k][l] & 0xffffu);
            }
        for (k = 0; k < 8; k++)
            for (l = 0; l < LANES_N; l++)
                st[k][l] = SHA256_IV[k];
        LANES_FN(compress_msg)(st, w);
        /* Then decimal(fib(i)) and the padding: constant, pre-expanded. */
        for (blk = p->tail_start[i]; blk < p->tail_start[i + 1]; blk++)
            LANES_FN(compress_wk)(st, p->tail_wk + 64 * blk);
    }
}

/* The first message of lanes 0 .. m-1 (m <= LANES_N) of the ids from
 * record i: st[k][l] gets lane l's digest of prefix || decimal(id).  Lanes
 * whose message has fewer blocks keep their state through the extra blocks;
 * lanes past m hash id 0 and are ignored.  w: scratch. */
static void LANES_FN(first)(const dpa_plan *p, const dpa_ids *ids, int64_t i, int m,
                            uint32_t st[8][LANES_N], uint32_t w[64][LANES_N])
{
    uint32_t old[8][LANES_N];
    int64_t id[LANES_N];
    int nblk[LANES_N];
    unsigned char block[64];
    int l, k, b, maxblk = 1;
    for (l = 0; l < LANES_N; l++) {
        id[l] = l < m ? dpa_id_at(ids, i + l) : 0;
        for (k = 0; k < 8; k++) st[k][l] = SHA256_IV[k];
    }
    for (b = 0; b < maxblk; b++) {
        for (l = 0; l < LANES_N; l++) {
            int nb = dpa_first_block(p, (uint64_t)id[l], b, block);
            if (b == 0) {
                nblk[l] = nb;
                if (nb > maxblk) maxblk = nb;
            }
            for (k = 0; k < 16; k++) w[k][l] = load_be32(block + 4 * k);
        }
        memcpy(old, st, sizeof(old));
        LANES_FN(compress_msg)(st, w);
        for (l = 0; l < LANES_N; l++)
            if (b >= nblk[l])
                for (k = 0; k < 8; k++) st[k][l] = old[k][l];
    }
}

/* Stage 1 for lanes 0 .. m-1: the first message, then the chain; st[k][l]
 * gets lane l's final digest. */
static void LANES_FN(hash)(const dpa_plan *p, const dpa_ids *ids, int64_t i, int m,
                           uint32_t st[8][LANES_N])
{
    uint32_t w[64][LANES_N];
    LANES_FN(first)(p, ids, i, m, st, w);
    LANES_FN(chain)(p, st, w);
}

/* MT19937 seeded as init_by_array({seed}, 1), first ten tempered outputs per
 * lane.  Only state words 0..10 and 397..406 are needed for ten outputs, but
 * init_by_array is a 1,247-step dependent chain per lane, so lanes run it in
 * lockstep. */
static void LANES_FN(mt_first10)(const uint32_t seed[LANES_N],
                                 uint32_t out[10][LANES_N])
{
    uint32_t x[MT_N][LANES_N];      /* state after the first loop */
    uint32_t keep[MT_N_KEEP][LANES_N];
    uint32_t prev[LANES_N], x1b[LANES_N], y1[LANES_N];
    int i, k, l;
    for (l = 0; l < LANES_N; l++) prev[l] = MT_INIT[0];
    /* First loop: i = 1 .. 623, key word added each step (j stays 0). */
    for (i = 1; i < MT_N; i++)
        for (l = 0; l < LANES_N; l++) prev[l] = x[i][l] = mt_step1(MT_INIT[i], prev[l], seed[l]);
    /* 624th step, after the wrap mt[0] = mt[623]: i = 1 again. */
    for (l = 0; l < LANES_N; l++) prev[l] = x1b[l] = mt_step1(x[1][l], prev[l], seed[l]);
    /* Second loop: i = 2 .. 623, minus i; keep words 2..10 and 397..406. */
    for (i = 2; i < MT_N; i++) {
        for (l = 0; l < LANES_N; l++) prev[l] = mt_step2(x[i][l], prev[l], (uint32_t)i);
        k = mt_keep_slot(i);
        if (k >= 0)
            for (l = 0; l < LANES_N; l++) keep[k][l] = prev[l];
    }
    /* Last step after the wrap: i = 1, then mt[0] = 0x80000000. */
    for (l = 0; l < LANES_N; l++) y1[l] = mt_step2(x1b[l], prev[l], 1u);
    /* Twist for outputs 0..9 and temper. */
    for (k = 0; k < 10; k++)
        for (l = 0; l < LANES_N; l++)
            out[k][l] = mt_output(k == 0 ? 0x80000000u : k == 1 ? y1[l] : keep[k - 2][l],
                                  k == 0 ? y1[l] : keep[k - 1][l], keep[MT_KEEP_HI + k][l]);
}
