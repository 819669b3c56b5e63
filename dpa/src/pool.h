/*
 * pool.h -- memory for large record arrays whose pages stay touched.
 *
 * A new NumPy array of hundreds of megabytes is fresh memory: every 4 KiB
 * page faults on its first write, and on virtual machines first touch can run
 * ten times slower than the writes themselves.  dpa's own record arrays above
 * DPA_POOL_MIN_BYTES are allocated through these functions (a NumPy
 * allocation handler, NEP 49, installed by _core.pyx only around dpa's
 * allocation of a result): each is a private anonymous mapping (with
 * MADV_HUGEPAGE where the kernel offers it), and when NumPy frees it -- when
 * the array and every view of it are gone -- the mapping goes to a pool
 * instead of back to the kernel.  The next large allocation of about the
 * same size (within a quarter plus 2 MiB) takes it from the pool, its pages
 * already touched.
 *
 * The pool holds at most `limit` bytes (dpa_pool_set_limit), the oldest
 * mappings leaving first; mappings larger than the limit are unmapped at
 * once.  An array's memory is never in the pool while the array lives, so
 * arrays stay independent.  The pool's mutex is held across fork() (through
 * pthread_atfork), so a child inherits a consistent pool and registry and
 * frees its copies of the parent's arrays through them.
 *
 * The functions have the signatures of NumPy's PyDataMemAllocator; `ctx` is
 * unused.  Allocations below DPA_POOL_MIN_BYTES (an array resized down, say)
 * go to malloc and free.
 */
#ifndef DPA_POOL_H
#define DPA_POOL_H

#include <stddef.h>
#include <stdint.h>

/* Below this many bytes, arrays come from malloc (it recycles small blocks). */
#define DPA_POOL_MIN_BYTES (1u << 20)

void *dpa_pool_malloc(void *ctx, size_t size);
void *dpa_pool_calloc(void *ctx, size_t nelem, size_t elsize);
void *dpa_pool_realloc(void *ctx, void *ptr, size_t new_size);
void dpa_pool_free(void *ctx, void *ptr, size_t size);

/* Set the most bytes the pool keeps (0: keep nothing, unmap on free);
 * evicts down to it.  Returns the previous limit. */
size_t dpa_pool_set_limit(size_t bytes);

/* Counters: bytes kept in the pool, allocations served from the pool and
 * from new mappings, mappings alive (in arrays). */
typedef struct {
    size_t held_bytes;
    uint64_t hits;
    uint64_t misses;
    uint64_t live;
    size_t limit;
} dpa_pool_stats;

void dpa_pool_get_stats(dpa_pool_stats *out);

#endif
