/*
 * philox_kernel.h -- the counter-based scheme `philox-v1`.
 *
 * Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as
 * easy as 1, 2, 3", SC'11) maps a 128-bit counter and a 64-bit key to 128
 * random bits.  philox-v1 makes a sample's five parameters a pure function of
 * (seed, epoch, sample id):
 *
 *   key     = (seed mod 2**32, seed div 2**32)              seed: uint64
 *   counter = (id mod 2**32, id div 2**32, epoch, block)    block = 0, 1, 2
 *   x[4*block + j] = philox4x32_10(counter, key)[j]         12 words, 10 used
 *   u_k     = ((x[2k] >> 5) * 2**26 + (x[2k+1] >> 6)) / 2**53   k = 0 .. 4
 *   v_k     = low_k + span_k * u_k                          (no FMA)
 *
 * u_k is built exactly as CPython's random() builds a double from two
 * 32-bit words.  Field order: rotation, brightness, noise, scale, contrast.
 */
#ifndef DPA_PHILOX_KERNEL_H
#define DPA_PHILOX_KERNEL_H

#include <stdint.h>

#include "fill.h"

typedef struct {
    uint32_t key[2];
    uint32_t epoch;
    double low[DPA_NFIELDS];
    double span[DPA_NFIELDS];
} philox_plan;

/* One Philox4x32-10 block: out = philox(ctr, key). */
void dpa_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* The scheme's dpa_fill_fn (fill.h); `plan` is a philox_plan.  Fills n
 * records, itemsize bytes apart, in one pass: the int64 sample id at offset 0
 * and five float64 at offsets 8..40.  philox-v1 has no hash field, so
 * `hash_offset` is ignored (callers pass -1).  `paths` as in fill.h:
 * DPA_PATH_AVX512, else DPA_PATH_AVX2, else portable C.  Always returns 0
 * (no scratch memory). */
int dpa_philox_fill(const void *plan, const dpa_ids *ids, char *rec, int64_t n,
                    int64_t itemsize, int64_t hash_offset, int paths);

/* The AVX-512 path (philox_avx512.c), for dpa_philox_fill only: call it
 * when dpa_cpu_paths() has DPA_PATH_AVX512. */
void dpa_philox_fill_avx512(const philox_plan *p, const dpa_ids *ids, char *rec, int64_t n,
                            int64_t itemsize);

#endif
