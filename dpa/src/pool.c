/*
 * pool.c -- see pool.h.
 *
 * Two tables under one mutex: the registry of live mappings (an open-
 * addressing hash set of (address, length), so that free() recognises its
 * own pointers whatever size NumPy passes it), and the pool of free mappings
 * (an array kept in the order they were freed, oldest first).
 */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
    void *addr;   /* NULL: empty; TOMB: deleted */
    size_t len;
} entry;

#define TOMB ((void *)1)
#define POOL_MAX_ENTRIES 64
#define ROUND (64u << 10) /* mapping lengths are multiples of this */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static entry *reg = NULL;   /* live mappings */
static size_t reg_cap = 0;  /* a power of two, or 0 */
static size_t reg_used = 0; /* entries not NULL (live and tombstones) */

static entry pool[POOL_MAX_ENTRIES]; /* free mappings, oldest first */
static int pool_n = 0;
static size_t pool_bytes = 0;
static size_t pool_limit = (size_t)1 << 30;

static uint64_t n_hits = 0, n_misses = 0, n_live = 0;

static void before_fork(void) { pthread_mutex_lock(&lock); }
static void after_fork(void) { pthread_mutex_unlock(&lock); }
static void init_once(void) { pthread_atfork(before_fork, after_fork, after_fork); }

static size_t slot_of(const void *addr, size_t cap)
{
    uintptr_t x = (uintptr_t)addr >> 16; /* mappings are at least 64 KiB apart */
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 7) & (cap - 1);
}

static int reg_insert(void *addr, size_t len);

static int reg_grow(void)
{
    entry *old = reg;
    size_t old_cap = reg_cap, k;
    size_t cap = reg_cap ? 2 * reg_cap : 64;
    entry *fresh = (entry *)calloc(cap, sizeof(entry));
    if (!fresh)
        return -1;
    reg = fresh;
    reg_cap = cap;
    reg_used = 0;
    for (k = 0; k < old_cap; k++)
        if (old[k].addr != NULL && old[k].addr != TOMB)
            reg_insert(old[k].addr, old[k].len);
    free(old);
    return 0;
}

static int reg_insert(void *addr, size_t len)
{
    size_t k;
    if ((reg_used + 1) * 2 > reg_cap && reg_grow() != 0)
        return -1;
    for (k = slot_of(addr, reg_cap);; k = (k + 1) & (reg_cap - 1)) {
        if (reg[k].addr == NULL || reg[k].addr == TOMB) {
            if (reg[k].addr == NULL)
                reg_used++;
            reg[k].addr = addr;
            reg[k].len = len;
            return 0;
        }
    }
}

/* Remove `addr`; its length, or 0 if it is not a mapping of ours. */
static size_t reg_remove(void *addr)
{
    size_t k, len;
    if (reg_cap == 0)
        return 0;
    for (k = slot_of(addr, reg_cap); reg[k].addr != NULL; k = (k + 1) & (reg_cap - 1)) {
        if (reg[k].addr == addr) {
            len = reg[k].len;
            reg[k].addr = TOMB;
            return len;
        }
    }
    return 0;
}

static void pool_drop(int i)
{
    munmap(pool[i].addr, pool[i].len);
    pool_bytes -= pool[i].len;
    memmove(&pool[i], &pool[i + 1], sizeof(entry) * (size_t)(pool_n - i - 1));
    pool_n--;
}

static void evict_to(size_t limit)
{
    while (pool_n > 0 && pool_bytes > limit)
        pool_drop(0);
}

/* A mapping of at least `len` bytes: from the pool (*reused = 1), or new. */
static void *map(size_t len, int *reused)
{
    void *addr = NULL;
    size_t got = 0, waste = len / 4 + (2u << 20);
    int i, best = -1;
    for (i = 0; i < pool_n; i++)
        if (pool[i].len >= len && pool[i].len - len <= waste &&
            (best < 0 || pool[i].len < pool[best].len))
            best = i;
    if (best >= 0) {
        addr = pool[best].addr;
        got = pool[best].len;
        pool_bytes -= got;
        memmove(&pool[best], &pool[best + 1], sizeof(entry) * (size_t)(pool_n - best - 1));
        pool_n--;
        n_hits++;
        *reused = 1;
    } else {
        addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (addr == MAP_FAILED)
            return NULL;
#ifdef MADV_HUGEPAGE
        madvise(addr, len, MADV_HUGEPAGE); /* advice: ignored where not granted */
#endif
        got = len;
        n_misses++;
        *reused = 0;
    }
    if (reg_insert(addr, got) != 0) {
        munmap(addr, got);
        return NULL;
    }
    n_live++;
    return addr;
}

static void *big(size_t size, int zero)
{
    size_t len = (size + ROUND - 1) / ROUND * ROUND;
    void *addr;
    int reused = 0;
    pthread_once(&once, init_once);
    pthread_mutex_lock(&lock);
    addr = map(len, &reused);
    pthread_mutex_unlock(&lock);
    if (addr && zero && reused)
        memset(addr, 0, size); /* a new mapping is zero already */
    return addr;
}

void *dpa_pool_malloc(void *ctx, size_t size)
{
    (void)ctx;
    if (size < DPA_POOL_MIN_BYTES)
        return malloc(size ? size : 1);
    return big(size, 0);
}

void *dpa_pool_calloc(void *ctx, size_t nelem, size_t elsize)
{
    size_t size;
    (void)ctx;
    if (elsize && nelem > (size_t)-1 / elsize)
        return NULL;
    size = nelem * elsize;
    if (size < DPA_POOL_MIN_BYTES)
        return calloc(size ? nelem : 1, size ? elsize : 1);
    return big(size, 1);
}

void dpa_pool_free(void *ctx, void *ptr, size_t size)
{
    size_t len;
    (void)ctx;
    (void)size; /* the registry knows; NumPy's figure is not relied on */
    if (ptr == NULL)
        return;
    pthread_mutex_lock(&lock);
    len = reg_remove(ptr);
    if (len == 0) {
        pthread_mutex_unlock(&lock);
        free(ptr);
        return;
    }
    n_live--;
    if (len > pool_limit) {
        pthread_mutex_unlock(&lock);
        munmap(ptr, len);
        return;
    }
    if (pool_n == POOL_MAX_ENTRIES)
        pool_drop(0);
    pool[pool_n].addr = ptr;
    pool[pool_n].len = len;
    pool_n++;
    pool_bytes += len;
    evict_to(pool_limit);
    pthread_mutex_unlock(&lock);
}

void *dpa_pool_realloc(void *ctx, void *ptr, size_t new_size)
{
    size_t len;
    void *fresh;
    if (ptr == NULL)
        return dpa_pool_malloc(ctx, new_size);
    pthread_mutex_lock(&lock);
    len = 0;
    if (reg_cap) { /* look the pointer up without removing it */
        size_t k;
        for (k = slot_of(ptr, reg_cap); reg[k].addr != NULL; k = (k + 1) & (reg_cap - 1))
            if (reg[k].addr == ptr) {
                len = reg[k].len;
                break;
            }
    }
    pthread_mutex_unlock(&lock);
    if (len == 0) /* malloc's (small when made): it stays malloc's, whatever its size */
        return realloc(ptr, new_size ? new_size : 1);
    if (new_size <= len && new_size >= DPA_POOL_MIN_BYTES)
        return ptr; /* fits where it is */
    fresh = dpa_pool_malloc(ctx, new_size);
    if (!fresh)
        return NULL;
    memcpy(fresh, ptr, new_size < len ? new_size : len);
    dpa_pool_free(ctx, ptr, len);
    return fresh;
}

size_t dpa_pool_set_limit(size_t bytes)
{
    size_t old;
    pthread_once(&once, init_once);
    pthread_mutex_lock(&lock);
    old = pool_limit;
    pool_limit = bytes;
    evict_to(bytes);
    pthread_mutex_unlock(&lock);
    return old;
}

void dpa_pool_get_stats(dpa_pool_stats *out)
{
    pthread_mutex_lock(&lock);
    out->held_bytes = pool_bytes;
    out->hits = n_hits;
    out->misses = n_misses;
    out->live = n_live;
    out->limit = pool_limit;
    pthread_mutex_unlock(&lock);
}
