/* threadpool.h — a fixed pool of worker threads running parallel-for loops.
 * Between jobs a worker polls for at most 100 µs (decoder steps are runs of short jobs), then
 * sleeps on a condition variable, so an idle pool uses no CPU; the calling thread takes part in
 * each job, so a pool of n threads starts n - 1 workers. */
#ifndef AM_THREADPOOL_H
#define AM_THREADPOOL_H

typedef struct am_pool am_pool;

/* fn(ctx, task, thread) for task in [0, n_tasks); `thread` in [0, am_pool_size) names the
 * thread running it (for per-thread scratch). */
typedef void (*am_task_fn)(void *ctx, int task, int thread);

am_pool *am_pool_create(int n_threads);
void am_pool_destroy(am_pool *pool);
int am_pool_size(const am_pool *pool);
/* Run every task and return when all have finished.  pool may be NULL (runs serially). */
void am_pool_run(am_pool *pool, int n_tasks, am_task_fn fn, void *ctx);

#endif
