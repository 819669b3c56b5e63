/*
 * dpa_kernel.h -- the DPA 0.2.1 parameter kernel, in C.
 *
 * One sample with id n, message prefix p and chain depth D is computed as
 *
 *   h   = SHA-256(p || decimal(n))                          (FIPS 180-4)
 *   h   = SHA-256(hex(h) || decimal(fib(i)))   for i = 0 .. D-1
 *   s   = last 32-bit word of h                (= int(hexdigest, 16) % 2**32)
 *   mt  = MT19937 init_by_array({s}, 1)        (Matsumoto & Nishimura 1998,
 *                                                as CPython's random.seed)
 *   u_k = ((o[2k] >> 5) * 2**26 + (o[2k+1] >> 6)) / 2**53,  o = first ten outputs
 *   v_k = low_k + span_k * u_k                  (random.uniform), k = 0 .. 4
 *
 * Layers, in order:
 *   1. the plan (dpa_plan): everything that depends on the config but not on
 *      the sample -- the prefix, and the constant tail blocks of every chain
 *      step (decimal(fib(i)) plus SHA padding), pre-expanded into W[t] + K[t];
 *   2. group kernels: up to 32 samples at a time (64 on AVX-512), in
 *      stages -- the hash (first message, then the chain), MT19937, the
 *      records -- each with several bit-identical implementations:
 *      lane-major C that the compiler vectorizes across samples (portable
 *      and AVX2 clones of one source, 32 and 8 lanes wide), SHA-NI two
 *      samples at a time, AVX-512 sixteen samples per vector
 *      (dpa_avx512.c), and scalar MT19937 for a few samples;
 *   3. dpa_fill(): picks the implementations from the paths in effect and
 *      the group's size (a call of n ids costs about n samples of work),
 *      and writes records; it is this scheme's dpa_fill_fn (fill.h), which
 *      the team calls by pointer.
 *
 * All arithmetic is on 32-bit integers except the final uniform, which is
 * compiled without FP contraction so that low + span * u is never an FMA.
 * Kernels assume valid input (validated in Python) and never touch Python.
 */
#ifndef DPA_KERNEL_H
#define DPA_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "fill.h"

typedef struct {
    const unsigned char *prefix; /* bytes hashed before decimal(sample_id) */
    int64_t prefix_len;
    int64_t depth;               /* chain steps, >= 1 */
    const uint32_t *tail_wk;     /* 64 words (W[t] + K[t]) per tail block */
    const int64_t *tail_start;   /* depth + 1 entries: step i uses blocks
                                    tail_start[i] .. tail_start[i+1]-1 */
    double low[DPA_NFIELDS];     /* float(low) per field */
    double span[DPA_NFIELDS];    /* float(high - low) per field */
} dpa_plan;

/* Bytes of the hex digest DPA records can carry. */
#define DPA_HASH_SIZE 64

/* Fill the 64 words W[t] + K[t] of one constant 64-byte block. */
void dpa_expand_block(const unsigned char block[64], uint32_t wk[64]);

/*
 * The scheme's dpa_fill_fn (fill.h); `plan` is a dpa_plan.  Fills n records
 * of `itemsize` bytes at `rec`, one pass: each record gets its int64 sample
 * id at offset 0, five float64 fields at offsets 8 .. 40, and the
 * 64-character hex digest at `hash_offset` when it is >= 0.  `paths`
 * selects accelerated paths (masked by dpa_cpu_paths()).
 * Returns 0, or -1 if the AVX-512 path's per-thread scratch buffer could not
 * be allocated (once per thread; nothing is allocated per call).
 */
int dpa_fill(const void *plan, const dpa_ids *ids, char *rec, int64_t n, int64_t itemsize,
             int64_t hash_offset, int paths);

/*
 * SHA-NI or AVX-512 for the hash chain, where both are enabled: the one
 * measured faster on this CPU, once per process (16 lanes of a short chain
 * on each, best of several turns; about half a millisecond, in the first
 * call that needs it).  Returns DPA_PATH_AVX512 or DPA_PATH_SHANI, or the
 * one of the two this CPU has (0 for neither); ns[0] and ns[1], if ns is not
 * NULL, get the measured nanoseconds of the 16 lanes on AVX-512 and on
 * SHA-NI (0 when not measured).  Results never depend on the choice.
 */
int dpa_chain_choice(double ns[2]);

/* Test hook: make dpa_chain_choice() return `choice` (DPA_PATH_AVX512 or
 * DPA_PATH_SHANI) where both are available; 0 restores the measured one. */
void dpa_force_chain_choice(int choice);

/* One SHA-256 compression of a 64-byte block, for measuring the hash limit. */
void dpa_sha256_compress_bytes(uint32_t state[8], const unsigned char block[64],
                               int paths);

#endif
