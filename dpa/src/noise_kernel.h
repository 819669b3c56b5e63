/*
 * noise_kernel.h -- reproducible pixel noise, `philox-normal-v1`.
 *
 * The noise at pixel j of sample `id` is a pure function of (seed, epoch,
 * id, j) and the sample's std (docs/schemes.md, "The philox-normal-v1
 * specification"):
 *
 *   key        = (seed mod 2**32, seed div 2**32)
 *   counter(q) = (id mod 2**32, id div 2**32, epoch, 2**31 + q)   q = j div 4
 *   x          = philox4x32_10(counter(q), key)
 *   (z0, z1)   = normal_pair(x0, x1),  (z2, z3) = normal_pair(x2, x3)
 *   noise[j]   = binary32(std * z[j mod 4])
 *
 * normal_pair is Box-Muller, r = sqrt(-2 ln u) with u = (a + 1) / 2**32 and
 * the angle 2 pi b / 2**32, where ln, cos and sin are the specification's
 * own range reductions and polynomials in basic IEEE-754 binary64 operations
 * (correctly rounded + - * / sqrt, no FMA: build with -ffp-contract=off).
 * libm is never called, so every machine, compiler and path gives the same
 * bits.  The counters' last word has its top bit set, so they never meet
 * philox-v1's parameter counters (blocks 0, 1, 2) of the same key.
 */
#ifndef DPA_NOISE_KERNEL_H
#define DPA_NOISE_KERNEL_H

#include <stdint.h>

#include "fill.h"

/* Pixels per sample are below 2**33 (q below 2**31). */
#define DPA_NOISE_MAX_PIXELS (INT64_C(1) << 33)

/*
 * Noise for n samples, `count` pixels each, starting at pixel `first`:
 * row i (sample ids[i], epoch epochs[i], std stds[i]) is written to
 * out + i * row_stride, pixel first + k at out[i * row_stride + k].
 * Requires first >= 0, first + count <= DPA_NOISE_MAX_PIXELS, ids >= 0.
 * `paths`: DPA_PATH_* bits (fill.h); DPA_PATH_AVX2 has code of its own.
 * Thread-safe, no allocation, callable without the GIL.
 */
void dpa_noise_fill(uint64_t seed, const int64_t *ids, const uint32_t *epochs,
                    const double *stds, int64_t n, int64_t first, int64_t count, float *out,
                    int64_t row_stride, int paths);

/*
 * The noise as a job of the worker team (team.h): a plan and a fill
 * function of the one signature dpa_fill_fn (fill.h), so that the team runs
 * it as it runs a record scheme, without knowing it.  The job's items are
 * the plan's float32 values, rows of `count`: item k is pixel
 * first + k mod count of row k div count, written at out[k].
 */
typedef struct {
    uint64_t seed;
    const int64_t *ids;      /* per row: sample id (>= 0), epoch, std */
    const uint32_t *epochs;
    const double *stds;
    int64_t first;           /* the pixel of item 0 of each row */
    int64_t count;           /* pixels per row, >= 1 */
    float *out;              /* rows * count values; the job's output */
} dpa_noise_plan;

/*
 * The dpa_fill_fn of a noise job: fills the n items at `rec`, which must
 * point into the plan's `out` (item k at out + k; the caller passes out as
 * the job's output, with an item size of 4 bytes).  The ids, itemsize and
 * hash_offset are not used: where an item lies says which value it is.
 * Returns 0 (no allocation).
 */
int dpa_noise_fill_items(const void *plan, const dpa_ids *ids, char *rec, int64_t n,
                         int64_t itemsize, int64_t hash_offset, int paths);

/* The Box-Muller step alone (a test hook): z[0], z[1] from words a, b. */
void dpa_noise_pair(uint32_t a, uint32_t b, double z[2]);

#endif
