/*
 * team.h -- hand blocks of records to a team of worker threads, cheaply.
 *
 * The workers are Python threads (dpa._team starts them with `threading`)
 * that call dpa_team_work() with the GIL released and stay in C until the
 * team stops.  A job (the kernel's fill function and plan, the ids, the
 * output and each part's bounds) is handed over through shared memory, never
 * through Python objects, so no GIL is taken on the way.
 *
 * The team knows no scheme.  A job carries a fill function of the one
 * signature dpa_fill_fn (fill.h) and an opaque plan, and the team calls
 * fill(plan, ids, rec, n, ...) for each piece of records.  A new scheme is
 *   1. its kernel file in src/ (a plan struct and a dpa_fill_fn),
 *   2. its kernel class in _core.pyx (a subclass of Kernel that builds the
 *      plan and declares the fill function and record layout), and
 *   3. its entry in the scheme table of dpa/seeding.py;
 * nothing here or in team.c changes.  dpa.torch's pixel noise runs the same
 * way: a plan and a fill function of that signature (noise_kernel.h).
 *
 * Two ways to run a job:
 *   - in the foreground (dpa_team_start(..., caller = 1), then
 *     dpa_team_join): the calling thread is participant 0 and takes pieces
 *     with the workers; join returns when the job is complete;
 *   - in the background (caller = 0): only workers run it, and the caller
 *     returns to Python at once (a stream's consumer works on the previous
 *     block meanwhile); it later polls (dpa_team_poll) or waits
 *     (dpa_team_join) without taking pieces itself.
 * Join waits up to a deadline, so that the caller can take the GIL between
 * waits and see a KeyboardInterrupt; dpa_team_cancel() then makes every
 * participant stop after its current piece, and a join after it returns
 * once no participant writes any more.  Pieces are at most `max_chunk`
 * records, which bounds how long that takes.
 *
 * Why not a Python executor: on virtual machines waking a sleeping thread
 * costs on the order of 100 microseconds, and a Python handoff wakes several
 * (the worker, then the GIL's holder, then the caller).  Generating a batch
 * of 65,536 philox records takes about 500 microseconds on two threads, so
 * that handoff alone would cost a third of the batch.  Here a worker that
 * finishes a part spins (with a pause instruction, yielding the CPU every few
 * microseconds to any thread that is runnable, so that spinners never starve
 * the caller that is about to post the next job) for up to `spin_ns`
 * nanoseconds watching for the next job before it sleeps on a condition
 * variable -- spin-then-block, as OpenMP runtimes do -- and the caller waits
 * for its workers the same way.  Back-to-back jobs then change hands in well
 * under a microsecond; an idle team sleeps.  A worker that was asleep and has
 * not started by the time the caller ran out of pieces is *revoked* (its slot
 * is taken back with a compare-and-swap), so a small job never waits for a
 * sleeping thread to wake up.
 *
 * Results never depend on the team: every record is written once, by the
 * same function of its id.
 */
#ifndef DPA_TEAM_H
#define DPA_TEAM_H

#include <stdint.h>

#include "fill.h"

/* At most this many parts per job (the caller plus 255 workers). */
#define DPA_TEAM_MAX_PARTS 256

/* One fill job over records [0, bounds[nparts]).  Record i's id is
 * dpa_id_at(&ids, i); with row_len > 0 the records are instead rows of
 * row_len records, row r's record j having id
 * ids.first + r * row_step + j * ids.step (ids.ids must be NULL) -- the round-robin
 * batches of a range, one per row, as one job.  With chunk == 0 part k is
 * records [bounds[k], bounds[k+1]); with chunk > 0 (in a team) the nparts
 * participants instead take pieces from a shared cursor until none is left,
 * each piece 1/(2 nparts) of what remains rounded down to a multiple of
 * `grain`, but at least `chunk` and at most `max_chunk` (if > 0) records
 * (guided scheduling): a participant that is descheduled or slow then holds
 * up the others by one small piece at most.  Either way each record is
 * written once, by the same function of its id. */
typedef struct {
    dpa_fill_fn fill;         /* the scheme's kernel (fill.h) */
    const void *plan;         /* its plan, passed to fill as it is */
    dpa_ids ids;              /* the ids of record 0 onwards */
    char *rec;                /* record 0 */
    int64_t itemsize;
    int64_t hash_offset;      /* passed to fill; -1 for none */
    int paths;
    int nparts;               /* 1 .. DPA_TEAM_MAX_PARTS */
    int64_t chunk;            /* 0: static parts; > 0: smallest piece, records */
    int64_t max_chunk;        /* largest piece (chunk > 0); 0: no limit */
    int64_t grain;            /* pieces are multiples of this (but the last); >= 1 */
    int64_t row_len;          /* > 0: records are rows of this many (see above) */
    int64_t row_step;         /* id distance between the first records of two rows */
    int64_t notify_left;      /* background: wake a waiting joiner once at most this
                                 many records are left to take (0: none), so that it
                                 is awake, not asleep, when the job completes */
    int64_t bounds[DPA_TEAM_MAX_PARTS + 1];
} dpa_job;

typedef struct dpa_team dpa_team;

/* A team with no workers yet; NULL if out of memory.  Never freed while a
 * worker may be inside it (the engine keeps teams for the process's life). */
dpa_team *dpa_team_new(int64_t spin_ns);

/* The body of worker `index` (1 .. DPA_TEAM_MAX_PARTS - 1): runs its part of
 * every job posted to it, until dpa_team_stop().  Call without the GIL. */
void dpa_team_work(dpa_team *team, int index);

/* Block until `count` workers have entered dpa_team_work(). */
void dpa_team_wait_ready(dpa_team *team, int count);

/* Post `job` and return its generation (> 0) at once.  With `caller` = 1 the
 * calling thread is participant 0 (it runs part 0, or takes pieces, in
 * dpa_team_join) and workers 1 .. nparts-1 the others; with `caller` = 0
 * workers 1 .. nparts run it (static part k-1 in worker k) and nparts must be
 * below DPA_TEAM_MAX_PARTS.  The workers used must have entered
 * dpa_team_work().  One job at a time per team: the previous job must be
 * complete (joined, or polled complete).  Not thread-safe against another
 * start; the engine serialises them. */
uint64_t dpa_team_start(dpa_team *team, const dpa_job *job, int caller);

/* Take part in job `gen` if its caller does (or, for a background job, if
 * `help` is set: the joiner then takes the pieces left like a worker), then
 * wait for the workers until the job is complete or the monotonic clock
 * passes `deadline_ns` (< 0: no deadline; the deadline is checked between
 * pieces).  Returns 1 when the job is complete (or was superseded by a later
 * one), -1 when it is complete but a piece could not allocate scratch memory,
 * 0 at the deadline.  Only the job's starter joins it; call without the GIL. */
int dpa_team_join(dpa_team *team, uint64_t gen, int64_t deadline_ns, int help);

/* 1 (or -1, as join) if job `gen` is complete, else 0; never blocks, writes
 * nothing, and may be called from any thread. */
int dpa_team_poll(dpa_team *team, uint64_t gen);

/* Ask every participant of job `gen` to stop after its current piece; the
 * records not yet written stay as they were.  Join it afterwards. */
void dpa_team_cancel(dpa_team *team, uint64_t gen);

/* Run `job` in the foreground: start(job, 1) and join without deadline.
 * Returns 0, or -1 if a part could not allocate scratch memory. */
int dpa_team_run(dpa_team *team, const dpa_job *job);

/* Run records [a, a + n) of `job` in the calling thread; 0 or -1 as the
 * job's fill function. */
int dpa_job_run_range(const dpa_job *job, int64_t a, int64_t n);

/* Run part `part` of `job` (its static bounds) in the calling thread. */
int dpa_job_run_part(const dpa_job *job, int part);

/* The monotonic clock, in nanoseconds (deadlines of dpa_team_join). */
int64_t dpa_now_ns(void);

/* Make every worker return from dpa_team_work() once it is idle. */
void dpa_team_stop(dpa_team *team);

#endif
