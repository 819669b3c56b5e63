/*
 * team.c -- see team.h.  Protocol:
 *
 *   starter (caller)                          worker k
 *   ----------------                          --------
 *   job = *j; cursor = 0; pending = W
 *   gen += 1
 *   slot[k] = gen|POSTED, k = 1 .. W   --->   sees its slot change (spin, or
 *   wake sleepers (if any)                    sleep on work_cv); CAS
 *                                             gen|POSTED -> gen|RUNNING, or
 *                                             finds it REVOKED and waits again
 *   join: take pieces (caller = 1)            takes pieces until none is left
 *   none left: CAS gen|POSTED ->              slot = gen|IDLE; pending -= 1;
 *     gen|REVOKED for workers not started,    the last one wakes a blocked
 *     pending -= 1 for each               <-- joiner
 *   wait pending == 0 (spin, or sleep on
 *   done_cv; up to a deadline)
 *
 * Each worker watches its own slot (its own cache line), so a job touches
 * only the workers it uses, and a worker reads the job only after its
 * compare-and-swap to RUNNING succeeded, which the starter never undoes: the
 * starter rewrites the job only once pending is 0, i.e. once every posted
 * worker is idle again or was revoked before it read anything.
 *
 * Counters are C11 sequentially consistent atomics.  A thread about to sleep
 * first counts itself (sleepers, joiners) and then re-checks its predicate
 * under the mutex; a thread that changes a predicate reads the count after
 * the change and, if anybody may sleep, broadcasts under the mutex.  Either
 * the sleeper sees the change or the waker sees the sleeper, so no wake-up
 * is lost, and an uncontended handover takes no lock at all.
 */
#include "team.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A slot holds gen << 2 | phase. */
enum { PH_IDLE = 0, PH_POSTED = 1, PH_RUNNING = 2, PH_REVOKED = 3 };

/* A worker's slot, alone on its cache line. */
typedef struct {
    _Alignas(64) atomic_uint_fast64_t state;
    atomic_int asleep;  /* the worker sleeps (or is about to) on work_cv */
} dpa_slot;

struct dpa_team {
    dpa_slot slot[DPA_TEAM_MAX_PARTS];  /* slot[k]: worker k's current post */
    pthread_mutex_t mutex;
    pthread_cond_t work_cv;   /* a new post, or stop */
    pthread_cond_t done_cv;   /* pieces exhausted, pending reached 0, a worker ready */
    _Alignas(64) atomic_int_fast64_t cursor;  /* next piece's first record (guided jobs) */
    _Alignas(64) atomic_int pending;          /* posted workers not yet idle or revoked */
    atomic_int failed;
    /* The generation asked to stop: a cancel names its job, so a late cancel of
     * a finished job (from a finalizer, in any thread) never stops the next. */
    atomic_uint_fast64_t cancel_gen;
    atomic_int stop;
    atomic_int sleepers;      /* workers counted before sleeping on work_cv */
    atomic_int joiners;       /* joiners counted before sleeping on done_cv */
    atomic_int caller_done;   /* the job's caller has taken its share */
    atomic_uint_fast64_t gen; /* the current job's generation; 0 before the first */
    int caller;               /* written by the starter before the slots change */
    int nposted;
    int ready;                /* workers inside dpa_team_work (under mutex) */
    int64_t spin_ns;
    dpa_job job;              /* written by the starter before the slots change */
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

int64_t dpa_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void wake(pthread_mutex_t *mutex, pthread_cond_t *cv, atomic_int *count)
{
    if (atomic_load(count) > 0) {
        pthread_mutex_lock(mutex);
        pthread_cond_broadcast(cv);
        pthread_mutex_unlock(mutex);
    }
}

dpa_team *dpa_team_new(int64_t spin_ns)
{
    dpa_team *team;
    pthread_condattr_t attr;
    int k;
    if (posix_memalign((void **)&team, 64, sizeof(*team)) != 0)
        return NULL;
    memset(team, 0, sizeof(*team));
    for (k = 0; k < DPA_TEAM_MAX_PARTS; k++) {
        atomic_init(&team->slot[k].state, 0);
        atomic_init(&team->slot[k].asleep, 0);
    }
    pthread_mutex_init(&team->mutex, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);  /* deadlines are monotonic */
    pthread_cond_init(&team->work_cv, NULL);
    pthread_cond_init(&team->done_cv, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&team->cursor, 0);
    atomic_init(&team->pending, 0);
    atomic_init(&team->failed, 0);
    atomic_init(&team->cancel_gen, UINT64_MAX);  /* no generation */
    atomic_init(&team->stop, 0);
    atomic_init(&team->sleepers, 0);
    atomic_init(&team->joiners, 0);
    atomic_init(&team->caller_done, 1);
    atomic_init(&team->gen, 0);
    team->spin_ns = spin_ns;
    return team;
}

/* ---- pieces of a job ------------------------------------------------------ */

static inline int64_t id_add(int64_t a, int64_t k, int64_t step)
{
    return (int64_t)((uint64_t)a + (uint64_t)k * (uint64_t)step);  /* no signed overflow */
}

int dpa_job_run_range(const dpa_job *job, int64_t a, int64_t n)
{
    dpa_ids ids = job->ids;
    int64_t row, j, take;
    int rc = 0;
    if (n <= 0)
        return 0;
    if (ids.ids != NULL) {
        ids.ids += a;
        return job->fill(job->plan, &ids, job->rec + a * job->itemsize, n, job->itemsize,
                         job->hash_offset, job->paths);
    }
    if (job->row_len <= 0) {
        ids.first = id_add(ids.first, a, ids.step);
        return job->fill(job->plan, &ids, job->rec + a * job->itemsize, n, job->itemsize,
                         job->hash_offset, job->paths);
    }
    while (n > 0) {  /* rows: one call per row's share of the range */
        row = a / job->row_len;
        j = a % job->row_len;
        take = job->row_len - j < n ? job->row_len - j : n;
        ids.first = id_add(id_add(job->ids.first, row, job->row_step), j, ids.step);
        if (job->fill(job->plan, &ids, job->rec + a * job->itemsize, take, job->itemsize,
                      job->hash_offset, job->paths) != 0)
            rc = -1;
        a += take;
        n -= take;
    }
    return rc;
}

int dpa_job_run_part(const dpa_job *job, int part)
{
    return dpa_job_run_range(job, job->bounds[part], job->bounds[part + 1] - job->bounds[part]);
}

/* Guided: a share of what is left, a multiple of the grain, within
 * [chunk, max_chunk], so that the last pieces are small. */
static int64_t piece_size(const dpa_job *job, int64_t left)
{
    int64_t size = left / (2 * (int64_t)job->nparts);
    size -= size % job->grain;
    if (size < job->chunk)
        size = job->chunk;
    if (job->max_chunk > 0 && size > job->max_chunk)
        size = job->max_chunk;
    return size < left ? size : left;
}

static inline int cancelled(dpa_team *team)
{
    return atomic_load(&team->cancel_gen) == atomic_load(&team->gen);
}

static int exhausted(dpa_team *team)
{
    return atomic_load(&team->cursor) >= team->job.bounds[team->job.nparts]
           || cancelled(team);
}

/* Few enough records left that a background joiner should be awake. */
static int near_end(dpa_team *team)
{
    return atomic_load(&team->cursor) >= team->job.bounds[team->job.nparts] - team->job.notify_left
           || cancelled(team);
}

/* A background joiner spins (yielding) for at least this long once near the end. */
#define BACKGROUND_SPIN_NS 1000000

/* Take pieces of the team's guided job until none is left, a stop was asked
 * for, or (deadline >= 0) the clock passed the deadline after a piece.
 * Returns 1 when no piece is left for this participant, 0 at the deadline. */
static int take_pieces(dpa_team *team, int64_t deadline_ns)
{
    const dpa_job *job = &team->job;
    int64_t end = job->bounds[job->nparts], a, size;
    for (;;) {
        if (cancelled(team))
            return 1;
        a = atomic_load(&team->cursor);
        if (a >= end)
            return 1;
        size = piece_size(job, end - a);
        if (!atomic_compare_exchange_weak(&team->cursor, &a, a + size))
            continue;
        if (end - (a + size) <= job->notify_left)
            wake(&team->mutex, &team->done_cv, &team->joiners);  /* a background joiner */
        if (dpa_job_run_range(job, a, size) != 0)
            atomic_store(&team->failed, 1);
        if (deadline_ns >= 0 && dpa_now_ns() >= deadline_ns)
            return exhausted(team);
    }
}

/* ---- workers ---------------------------------------------------------------- */

static int new_post_or_stop(dpa_team *team, int index, uint64_t seen)
{
    return (atomic_load(&team->slot[index].state) >> 2) != seen || atomic_load(&team->stop);
}

static void wait_for_post(dpa_team *team, int index, uint64_t seen)
{
    int64_t deadline;
    int k;
    if (new_post_or_stop(team, index, seen))
        return;
    if (team->spin_ns > 0) {
        deadline = dpa_now_ns() + team->spin_ns;
        do {
            for (k = 0; k < 64; k++) {
                cpu_relax();
                if (new_post_or_stop(team, index, seen))
                    return;
            }
            /* Let a runnable thread have this CPU: the caller that is about
             * to post the next job (a stream's consumer between blocks) may
             * be waiting for one, and spinners must not starve it. */
            sched_yield();
        } while (dpa_now_ns() < deadline);
    }
    pthread_mutex_lock(&team->mutex);
    atomic_fetch_add(&team->sleepers, 1);
    atomic_store(&team->slot[index].asleep, 1);  /* before the check: see dpa_team_start */
    while (!new_post_or_stop(team, index, seen))
        pthread_cond_wait(&team->work_cv, &team->mutex);
    atomic_store(&team->slot[index].asleep, 0);
    atomic_fetch_sub(&team->sleepers, 1);
    pthread_mutex_unlock(&team->mutex);
}

void dpa_team_work(dpa_team *team, int index)
{
    atomic_uint_fast64_t *slot = &team->slot[index].state;
    uint64_t seen, s;
    pthread_mutex_lock(&team->mutex);
    seen = atomic_load(slot) >> 2;
    team->ready++;
    pthread_cond_broadcast(&team->done_cv);
    pthread_mutex_unlock(&team->mutex);
    for (;;) {
        wait_for_post(team, index, seen);
        if (atomic_load(&team->stop))
            break;
        s = atomic_load(slot);
        seen = s >> 2;
        if ((s & 3) != PH_POSTED || !atomic_compare_exchange_strong(slot, &s, seen << 2 | PH_RUNNING))
            continue;  /* revoked before it started */
        if (team->job.chunk <= 0) {
            if (dpa_job_run_part(&team->job, team->caller ? index : index - 1) != 0)
                atomic_store(&team->failed, 1);
        } else {
            take_pieces(team, -1);
        }
        atomic_store(slot, seen << 2 | PH_IDLE);
        if (atomic_fetch_sub(&team->pending, 1) == 1)
            wake(&team->mutex, &team->done_cv, &team->joiners);
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

/* ---- starting and joining ----------------------------------------------------- */

uint64_t dpa_team_start(dpa_team *team, const dpa_job *job, int caller)
{
    uint64_t gen;
    int k, workers = caller ? job->nparts - 1 : job->nparts;
    memcpy(&team->job, job, sizeof(*job));
    if (team->job.grain < 1)
        team->job.grain = 1;
    team->caller = caller;
    team->nposted = workers;
    atomic_store(&team->caller_done, !caller);
    atomic_store(&team->cursor, 0);
    atomic_store(&team->failed, 0);
    atomic_store(&team->pending, workers);
    gen = atomic_load(&team->gen) + 1;
    atomic_store(&team->gen, gen);
    for (k = 1; k <= workers; k++)
        atomic_store(&team->slot[k].state, gen << 2 | PH_POSTED);
    /* Wake the sleepers only if a posted worker is one of them: waking the
     * team's other workers for nothing costs the CPUs the job runs on (a
     * stream's background jobs leave more workers than a small call posts).
     * A worker marks itself asleep before it checks for a post, and the
     * posts are stored before the marks are read, so none is missed. */
    for (k = 1; k <= workers; k++)
        if (atomic_load(&team->slot[k].asleep)) {
            wake(&team->mutex, &team->work_cv, &team->sleepers);
            break;
        }
    wake(&team->mutex, &team->done_cv, &team->joiners);  /* a joiner of a superseded job */
    return gen;
}

static int job_done(dpa_team *team, uint64_t gen)
{
    return atomic_load(&team->gen) != gen || atomic_load(&team->pending) == 0;
}

/* Take back the posts of workers that have not started: nobody needs them. */
static void revoke_idle(dpa_team *team, uint64_t gen)
{
    uint64_t s;
    int k;
    for (k = 1; k <= team->nposted; k++) {
        s = gen << 2 | PH_POSTED;
        if (atomic_compare_exchange_strong(&team->slot[k].state, &s, gen << 2 | PH_REVOKED))
            atomic_fetch_sub(&team->pending, 1);
    }
}

static int status(dpa_team *team, uint64_t gen)
{
    if (atomic_load(&team->gen) != gen)
        return 1;
    return atomic_load(&team->failed) ? -1 : 1;
}

int dpa_team_join(dpa_team *team, uint64_t gen, int64_t deadline_ns, int help)
{
    const int background = !team->caller;
    int64_t spin_end = -1, now;
    int revoked = 0, near, k;
    if (atomic_load(&team->gen) != gen)
        return 1;
    if (background && help && team->job.chunk > 0 && !take_pieces(team, deadline_ns))
        return 0;
    if (!atomic_load(&team->caller_done)) {
        if (team->job.chunk <= 0) {
            if (dpa_job_run_part(&team->job, 0) != 0)
                atomic_store(&team->failed, 1);
        } else if (!take_pieces(team, deadline_ns)) {
            return 0;
        }
        atomic_store(&team->caller_done, 1);
    }
    for (;;) {
        if (job_done(team, gen))
            return status(team, gen);
        if (!revoked && team->job.chunk > 0 && exhausted(team)) {
            revoke_idle(team, gen);
            revoked = 1;
            continue;
        }
        now = dpa_now_ns();
        if (deadline_ns >= 0 && now >= deadline_ns)
            return 0;
        /* Spin once the end is near (the last pieces are running); a
         * background joiner shares the CPUs with the workers, so it yields,
         * and it waits asleep until few records are left. */
        near = !background || revoked || near_end(team);
        if (near) {
            if (spin_end < 0)
                spin_end = now + (background && team->spin_ns < BACKGROUND_SPIN_NS
                                  ? BACKGROUND_SPIN_NS : team->spin_ns);
            if (now < spin_end) {
                for (k = 0; k < 64 && !job_done(team, gen); k++) {
                    if (background)
                        sched_yield();
                    else
                        cpu_relax();
                }
                if (!background)
                    sched_yield();  /* as a spinning worker does */
                continue;
            }
        }
        pthread_mutex_lock(&team->mutex);
        atomic_fetch_add(&team->joiners, 1);
        while (!job_done(team, gen) && (near || !near_end(team))) {
            if (deadline_ns < 0) {
                pthread_cond_wait(&team->done_cv, &team->mutex);
            } else {
                struct timespec ts;
                ts.tv_sec = deadline_ns / 1000000000;
                ts.tv_nsec = deadline_ns % 1000000000;
                if (pthread_cond_timedwait(&team->done_cv, &team->mutex, &ts) != 0)
                    break;  /* the deadline: checked above */
            }
        }
        atomic_fetch_sub(&team->joiners, 1);
        pthread_mutex_unlock(&team->mutex);
    }
}

int dpa_team_poll(dpa_team *team, uint64_t gen)
{
    if (atomic_load(&team->gen) != gen)
        return 1;
    if (!atomic_load(&team->caller_done) || atomic_load(&team->pending) != 0)
        return 0;
    return status(team, gen);
}

void dpa_team_cancel(dpa_team *team, uint64_t gen)
{
    atomic_store(&team->cancel_gen, gen);
}

int dpa_team_run(dpa_team *team, const dpa_job *job)
{
    if (job->nparts <= 1)
        return dpa_job_run_part(job, 0);
    return dpa_team_join(team, dpa_team_start(team, job, 1), -1, 0) < 0 ? -1 : 0;
}

void dpa_team_stop(dpa_team *team)
{
    pthread_mutex_lock(&team->mutex);
    atomic_store(&team->stop, 1);
    pthread_cond_broadcast(&team->work_cv);
    pthread_mutex_unlock(&team->mutex);
}
