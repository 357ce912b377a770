/* threadpool.h — a fixed pool of worker threads running parallel-for loops.
 * Between jobs a worker polls for at most 100 µs (decoder steps are runs of short jobs), then
 * sleeps on a condition variable, so an idle pool uses no CPU; the calling thread takes part in
 * each job, so a pool of n threads starts n - 1 workers. */
#ifndef AM_THREADPOOL_H
#define AM_THREADPOOL_H

#include <stdatomic.h>

typedef struct am_pool am_pool;

/* fn(ctx, task, thread) for task in [0, n_tasks); `thread` in [0, am_pool_size) names the
 * thread running it (for per-thread scratch). */
typedef void (*am_task_fn)(void *ctx, int task, int thread);

am_pool *am_pool_create(int n_threads);
void am_pool_destroy(am_pool *pool);
int am_pool_size(const am_pool *pool);
/* Run every task and return when all have finished.  pool may be NULL (runs serially). */
void am_pool_run(am_pool *pool, int n_tasks, am_task_fn fn, void *ctx);
/* The same, except that the calling thread (task thread 0) takes part only once *join is nonzero
 * (checked every 2 ms), or when the workers have already taken every task: work begun in the
 * background by the workers alone, which the caller joins when it is free. */
void am_pool_run_deferred(am_pool *pool, int n_tasks, am_task_fn fn, void *ctx, const atomic_int *join);
/* The workers (not the calling thread) run at idle priority from now on (Linux's SCHED_IDLE: they
 * get a core only when no other thread wants it, and a waking thread preempts them).  An
 * unprivileged thread cannot raise its priority again, so this is for pools that live as long as
 * one background job.  Returns 0, or -1 when not every worker could be changed (or on other
 * systems). */
int am_pool_set_background(am_pool *pool);

#endif
