/*
 * team.h -- hand blocks of records to a team of worker threads, cheaply.
 *
 * The workers are Python threads (dpa.engine starts them with `threading`)
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
 * nothing here or in team.c changes.
 *
 * Why not a Python executor: on virtual machines waking a sleeping thread
 * costs on the order of 100 microseconds, and a Python handoff wakes several
 * (the worker, then the GIL's holder, then the caller).  Generating a batch
 * of 65,536 philox records takes about 500 microseconds on two threads, so
 * that handoff alone would cost a third of the batch.  Here a worker that
 * finishes a part spins (with a pause instruction) for up to `spin_ns`
 * nanoseconds watching for the next job before it sleeps on a condition
 * variable -- spin-then-block, as OpenMP runtimes do -- and the caller waits
 * for its workers the same way.  Back-to-back jobs then change hands in well
 * under a microsecond; an idle team sleeps.
 *
 * Results never depend on the team: every part writes its own records.
 */
#ifndef DPA_TEAM_H
#define DPA_TEAM_H

#include <stdint.h>

#include "fill.h"

/* At most this many parts per job (the caller plus 255 workers). */
#define DPA_TEAM_MAX_PARTS 256

/* One fill job over records [0, bounds[nparts]).  With chunk == 0 part k is
 * records [bounds[k], bounds[k+1]); with chunk > 0 (in a team) the nparts
 * participants instead take pieces from a shared cursor until none is left,
 * each piece 1/(2 nparts) of what remains but at least `chunk` records
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
    int64_t bounds[DPA_TEAM_MAX_PARTS + 1];
} dpa_job;

typedef struct dpa_team dpa_team;

/* A team with no workers yet; NULL if out of memory.  Never freed while a
 * worker may be inside it (the engine keeps teams for the process's life). */
dpa_team *dpa_team_new(int64_t spin_ns);

/* The body of worker `index` (1 .. DPA_TEAM_MAX_PARTS - 1): runs part `index`
 * of every job that has one, until dpa_team_stop().  Call without the GIL. */
void dpa_team_work(dpa_team *team, int index);

/* Block until `count` workers have entered dpa_team_work(). */
void dpa_team_wait_ready(dpa_team *team, int count);

/* Run `job`: part 0 in the calling thread, part k in worker k (the workers
 * 1 .. nparts-1 must have entered dpa_team_work()).  One job at a time per
 * team.  Returns 0, or -1 if a part could not allocate scratch memory. */
int dpa_team_run(dpa_team *team, const dpa_job *job);

/* Run part `part` of `job` (its static bounds) in the calling thread; 0 or
 * -1 as dpa_team_run. */
int dpa_job_run_part(const dpa_job *job, int part);

/* Make every worker return from dpa_team_work() once it is idle. */
void dpa_team_stop(dpa_team *team);

#endif
