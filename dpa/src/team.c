/*
 * team.c -- see team.h.  Protocol:
 *
 *   caller                                  worker k
 *   ------                                  --------
 *   job = *j; pending = nparts - 1
 *   slot[k] += 1, k = 1 .. nparts-1   --->  sees its slot change (spin, or
 *   broadcast work_cv                       sleep on work_cv), runs part k,
 *   run part 0                              pending -= 1; the last one
 *   wait pending == 0 (spin, or sleep  <--  signals done_cv
 *   on done_cv)
 *
 * Each worker watches its own slot (its own cache line), so a job touches
 * only the workers it uses, and a worker reads the job only while the caller
 * waits for it.  Counters are C11 sequentially consistent atomics; the
 * condition variables' predicates are re-checked under the mutex, so no
 * wake-up is lost.
 */
#include "team.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A worker's job counter, alone on its cache line. */
typedef struct {
    _Alignas(64) atomic_uint_fast64_t generation;
} dpa_slot;

struct dpa_team {
    dpa_slot slot[DPA_TEAM_MAX_PARTS];  /* slot[k]: worker k's jobs so far */
    pthread_mutex_t mutex;
    pthread_cond_t work_cv;   /* a new job or stop */
    pthread_cond_t done_cv;   /* pending reached 0, or a worker became ready */
    atomic_int pending;
    atomic_int_fast64_t cursor;   /* next chunk's first record (chunked jobs) */
    atomic_int failed;
    atomic_int stop;
    int ready;                /* workers inside dpa_team_work (under mutex) */
    int64_t spin_ns;
    dpa_job job;              /* written by the caller before the slots change */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Spin until done(team, arg) or spin_ns pass; returns done()'s last value. */
static int spin_until(dpa_team *team, int (*done)(dpa_team *, uint64_t), uint64_t arg)
{
    int64_t deadline;
    int k;
    if (done(team, arg))
        return 1;
    if (team->spin_ns <= 0)
        return 0;
    deadline = now_ns() + team->spin_ns;
    for (;;) {
        for (k = 0; k < 64; k++) {
            cpu_relax();
            if (done(team, arg))
                return 1;
        }
        if (now_ns() >= deadline)
            return done(team, arg);
    }
}

/* arg: worker index << 48 | the low 48 bits of the slot value it last saw. */
static int new_job_or_stop(dpa_team *team, uint64_t arg)
{
    uint64_t seen = arg & 0xffffffffffffULL;
    int index = (int)(arg >> 48);
    return (atomic_load(&team->slot[index].generation) & 0xffffffffffffULL) != seen
           || atomic_load(&team->stop);
}

static int all_parts_done(dpa_team *team, uint64_t unused)
{
    (void)unused;
    return atomic_load(&team->pending) == 0;
}

dpa_team *dpa_team_new(int64_t spin_ns)
{
    dpa_team *team;
    int k;
    if (posix_memalign((void **)&team, 64, sizeof(*team)) != 0)
        return NULL;
    memset(team, 0, sizeof(*team));
    for (k = 0; k < DPA_TEAM_MAX_PARTS; k++)
        atomic_init(&team->slot[k].generation, 0);
    pthread_mutex_init(&team->mutex, NULL);
    pthread_cond_init(&team->work_cv, NULL);
    pthread_cond_init(&team->done_cv, NULL);
    atomic_init(&team->pending, 0);
    atomic_init(&team->failed, 0);
    atomic_init(&team->cursor, 0);
    atomic_init(&team->stop, 0);
    team->spin_ns = spin_ns;
    return team;
}

/* Records [a, a + n) of `job`. */
static int run_range(const dpa_job *job, int64_t a, int64_t n)
{
    dpa_ids ids = job->ids;
    char *rec = job->rec + a * job->itemsize;
    if (n <= 0)
        return 0;
    if (ids.ids != NULL)
        ids.ids += a;
    else
        ids.first = (int64_t)((uint64_t)ids.first + (uint64_t)a * (uint64_t)ids.step);
    return job->fill(job->plan, &ids, rec, n, job->itemsize, job->hash_offset, job->paths);
}

int dpa_job_run_part(const dpa_job *job, int part)
{
    return run_range(job, job->bounds[part], job->bounds[part + 1] - job->bounds[part]);
}

/* Participant `part`'s share of a job run by the team. */
static int run_share(dpa_team *team, const dpa_job *job, int part)
{
    int64_t end = job->bounds[job->nparts], a;
    int rc = 0;
    if (job->chunk <= 0)
        return dpa_job_run_part(job, part);
    a = atomic_load(&team->cursor);
    while (a < end) {
        /* Guided: a share of what is left, never below `chunk` records and
         * rounded to whole 64-record groups, so the last pieces are small. */
        int64_t size = (end - a) / (2 * job->nparts) / 64 * 64;
        if (size < job->chunk)
            size = job->chunk;
        if (size > end - a)
            size = end - a;
        if (!atomic_compare_exchange_weak(&team->cursor, &a, a + size))
            continue;  /* `a` now holds the cursor's current value */
        if (run_range(job, a, size) != 0)
            rc = -1;
        a = atomic_load(&team->cursor);
    }
    return rc;
}

void dpa_team_work(dpa_team *team, int index)
{
    uint64_t seen, arg;
    pthread_mutex_lock(&team->mutex);
    seen = atomic_load(&team->slot[index].generation) & 0xffffffffffffULL;
    team->ready++;
    pthread_cond_broadcast(&team->done_cv);
    pthread_mutex_unlock(&team->mutex);
    for (;;) {
        arg = (uint64_t)index << 48 | seen;
        if (!spin_until(team, new_job_or_stop, arg)) {
            pthread_mutex_lock(&team->mutex);
            while (!new_job_or_stop(team, arg))
                pthread_cond_wait(&team->work_cv, &team->mutex);
            pthread_mutex_unlock(&team->mutex);
        }
        if (atomic_load(&team->stop))
            break;
        seen = (seen + 1) & 0xffffffffffffULL;  /* one job per slot change */
        if (run_share(team, &team->job, index) != 0)
            atomic_store(&team->failed, 1);
        if (atomic_fetch_sub(&team->pending, 1) == 1) {
            pthread_mutex_lock(&team->mutex);
            pthread_cond_signal(&team->done_cv);
            pthread_mutex_unlock(&team->mutex);
        }
    }
    pthread_mutex_lock(&team->mutex);
    team->ready--;
    pthread_cond_broadcast(&team->done_cv);
    pthread_mutex_unlock(&team->mutex);
}

void dpa_team_wait_ready(dpa_team *team, int count)
{
    pthread_mutex_lock(&team->mutex);
    while (team->ready < count)
        pthread_cond_wait(&team->done_cv, &team->mutex);
    pthread_mutex_unlock(&team->mutex);
}

int dpa_team_run(dpa_team *team, const dpa_job *job)
{
    int rc, k;
    if (job->nparts <= 1)
        return dpa_job_run_part(job, 0);
    memcpy(&team->job, job, sizeof(*job));
    atomic_store(&team->failed, 0);
    atomic_store(&team->pending, job->nparts - 1);
    atomic_store(&team->cursor, 0);
    pthread_mutex_lock(&team->mutex);
    for (k = 1; k < job->nparts; k++)
        atomic_fetch_add(&team->slot[k].generation, 1);
    pthread_cond_broadcast(&team->work_cv);
    pthread_mutex_unlock(&team->mutex);
    rc = run_share(team, &team->job, 0);
    if (!spin_until(team, all_parts_done, 0)) {
        pthread_mutex_lock(&team->mutex);
        while (!all_parts_done(team, 0))
            pthread_cond_wait(&team->done_cv, &team->mutex);
        pthread_mutex_unlock(&team->mutex);
    }
    return (rc != 0 || atomic_load(&team->failed)) ? -1 : 0;
}

void dpa_team_stop(dpa_team *team)
{
    pthread_mutex_lock(&team->mutex);
    atomic_store(&team->stop, 1);
    pthread_cond_broadcast(&team->work_cv);
    pthread_mutex_unlock(&team->mutex);
}
