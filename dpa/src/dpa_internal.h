/*
 * dpa_internal.h -- what dpa_kernel.c and dpa_avx512.c share (private to
 * dpa/src; the kernel's interface is dpa_kernel.h).
 *
 * A group is up to DPA_GROUP_MAX samples computed side by side.  Its
 * per-lane state lives in arrays of rows, `stride` lanes apart: word k of
 * lane l is at a[k * stride + l].  The stages of a group are
 *   1. the hash: the first message prefix || decimal(id), then the chain;
 *   2. MT19937: seeded from the last digest word, ten tempered outputs;
 *   3. the records.
 * Each stage has several implementations (portable and AVX2 lanes, SHA-NI,
 * AVX-512, scalar for a few lanes), all giving the same bits; dpa_fill
 * (dpa_kernel.c) and dpa_fill_avx512 (dpa_avx512.c) pick them per group.
 * SHA-NI's code is in dpa_shani.c.
 */
#ifndef DPA_INTERNAL_H
#define DPA_INTERNAL_H

#include <stdint.h>

#include "dpa_kernel.h"

/* Lanes of the widest group (AVX-512: four vectors of 16). */
#define DPA_GROUP_MAX 64

/* MT19937 as CPython seeds it: state words 2..10 are kept in slots 0..8 and
 * 397..406 in slots 9..18 of the seeding's second loop. */
#define MT_N 624
#define MT_N_KEEP 19
#define MT_KEEP_HI 9

/* At most this many lanes go to the scalar MT19937 (dpa_mt_scalar): a few
 * interleaved scalar chains finish in the latency of one, sooner than the
 * latency of one vector chain. */
#define DPA_MT_SCALAR_MAX 4

extern const uint32_t dpa_sha256_k[64];
extern const uint32_t dpa_sha256_iv[8];

/* init_genrand(19650218), the state init_by_array starts from; built once. */
const uint32_t *dpa_mt_init_table(void);

/* Block `b` (64 bytes) of the first message prefix || decimal(id) with the
 * SHA-256 padding; returns how many blocks the message has. */
int dpa_first_block(const dpa_plan *p, uint64_t id, int b, unsigned char block[64]);

/* The digest in lowercase hex, 64 characters (no terminator). */
void dpa_write_hex(char *dst, const uint32_t h[8]);

/* Five fields of one record from ten MT19937 outputs, `stride` apart. */
void dpa_write_fields(const dpa_plan *p, const uint32_t *out, int stride, char *dst);

/* SHA-NI (dpa_shani.c; call only when dpa_cpu_paths() has DPA_PATH_SHANI).
 * dpa_shani_hash: stage 1 for lanes 0 .. m-1 of the block of ids starting at
 * record i, st[k * stride + l] gets word k of lane l's final digest;
 * dpa_shani_chain_rows: the chain alone, from the first-message digests in
 * st; dpa_shani_compress_bytes: one compression of a 64-byte block. */
void dpa_shani_hash(const dpa_plan *p, const dpa_ids *ids, int64_t i, int m, uint32_t *st,
                    int stride);
void dpa_shani_chain_rows(const dpa_plan *p, int m, uint32_t *st, int stride);
void dpa_shani_compress_bytes(uint32_t st[8], const unsigned char block[64]);

/* Stage 2 in scalar code for m <= DPA_MT_SCALAR_MAX lanes: seeds seed[l],
 * outputs out[k * stride + l], k = 0 .. 9. */
void dpa_mt_scalar(const uint32_t *seed, int m, uint32_t *out, int stride);

/* A buffer of DPA_SCRATCH_BYTES, 64-byte aligned, owned by the calling
 * thread (made on its first call, freed when the thread exits); NULL if it
 * could not be allocated. */
#define DPA_SCRATCH_BYTES ((int64_t)MT_N * DPA_GROUP_MAX * 4)
void *dpa_thread_scratch(void);

/* The AVX-512 fill (dpa_avx512.c), dpa_fill's arguments; call only when
 * dpa_cpu_paths() has DPA_PATH_AVX512.  `paths` may add DPA_PATH_SHANI, which
 * it uses where SHA-NI is measured faster (see dpa_chain_calibration). */
int dpa_fill_avx512(const dpa_plan *p, const dpa_ids *ids, char *rec, int64_t n,
                    int64_t itemsize, int64_t hash_offset, int paths);

#endif
