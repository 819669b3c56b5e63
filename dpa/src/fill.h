/*
 * fill.h -- what every scheme's kernel and the team share: the record
 * layout, the sample ids of a block, the CPU paths, and the one signature of
 * a fill function.
 *
 * A scheme's kernel (dpa_kernel.c, philox_kernel.c, ...) defines a plan
 * struct -- everything its records depend on besides the sample id -- and
 * exports one function of type dpa_fill_fn.  The team (team.h) calls that
 * function through a pointer and never knows which scheme it runs.
 */
#ifndef DPA_FILL_H
#define DPA_FILL_H

#include <stdint.h>

/* Every record starts with the int64 sample id at offset 0 and DPA_NFIELDS
 * float64 at offsets 8 .. 8 * DPA_NFIELDS: DPA_RECORD_SIZE bytes.  A scheme
 * may write more after that (DPA's hex digest at `hash_offset`). */
#define DPA_NFIELDS 5
#define DPA_RECORD_SIZE (8 + 8 * DPA_NFIELDS)

/* Bits of a fill function's `paths` argument.  0 is the portable path; a
 * kernel masks the bits with dpa_cpu_paths() and ignores those it has no
 * code for.  Every path gives the same bits.
 *   DPA_PATH_AVX2    AVX2 (and the OS saving YMM state);
 *   DPA_PATH_SHANI   the SHA extensions (with SSE4.1 and SSSE3);
 *   DPA_PATH_AVX512  AVX-512 F, BW, VL and DQ (Skylake-SP and later, Zen 4
 *                    and later), and the OS saving opmask and ZMM state. */
#define DPA_PATH_AVX2 1
#define DPA_PATH_SHANI 2
#define DPA_PATH_AVX512 4

/* Which accelerated paths this CPU and OS support (DPA_PATH_* bits), from
 * CPUID and XGETBV; cached. */
int dpa_cpu_paths(void);

/* Sample ids of a block of records: ids[i] if ids is not NULL, else
 * first + i * step (the caller guarantees every value fits in int64). */
typedef struct {
    const int64_t *ids;
    int64_t first, step;
} dpa_ids;

static inline int64_t dpa_id_at(const dpa_ids *s, int64_t i)
{
    return s->ids ? s->ids[i] : (int64_t)((uint64_t)s->first + (uint64_t)i * (uint64_t)s->step);
}

/*
 * Fill n records of `itemsize` bytes at `rec`, record i for sample id
 * dpa_id_at(ids, i), with `plan` (the scheme's own plan struct).
 * `hash_offset` is where a scheme with a hash field writes it, -1 for none;
 * a scheme without one ignores it (the caller checks the layout against what
 * the kernel declares, see _core.pyx).  `paths`: DPA_PATH_* bits.
 * Returns 0, or -1 if scratch memory could not be allocated.  Must be
 * callable from any thread at once, without the GIL; records depend only on
 * the plan and their ids.
 */
typedef int (*dpa_fill_fn)(const void *plan, const dpa_ids *ids, char *rec, int64_t n,
                           int64_t itemsize, int64_t hash_offset, int paths);

#endif
