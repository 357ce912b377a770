/* threadpool.c — see threadpool.h.  Tasks are handed out by an atomic counter, so uneven tasks
 * balance themselves; a generation number tells workers that a new job has arrived.
 *
 * Waiting: a decoder step is ~35 small jobs of tens of microseconds each, and a futex wake-up
 * costs about as much as the job.  So a worker that has just finished a job, and the caller
 * waiting for the others, first poll for up to SPIN_NS (with the CPU's pause hint), then sleep on
 * the condition variable.  An idle pool therefore spins for at most SPIN_NS after its last job
 * and then uses no CPU. */
#define _GNU_SOURCE /* SCHED_IDLE */
#include "backend/cpu/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_NS 100000L /* 100 µs */

struct am_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    atomic_ulong generation;  /* bumped for each job (written under lock)  */
    int stopping;
    int n_sleeping;           /* workers blocked on `wake` (under lock)    */
    /* the current job */
    am_task_fn fn;
    void *ctx;
    int n_tasks;
    atomic_int next_task;
    atomic_int busy_workers;  /* workers still inside the job  */
};

typedef struct worker_arg {
    am_pool *pool;
    int index;
} worker_arg;

static void run_tasks(am_pool *p, int thread) {
    for (;;) {
        int t = atomic_fetch_add(&p->next_task, 1);
        if (t >= p->n_tasks) break;
        p->fn(p->ctx, t, thread);
    }
}

static long elapsed_ns(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

/* Poll until *v != old (1) or SPIN_NS pass (0). */
static int spin_until_changed(atomic_ulong *v, unsigned long old) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 1;; i++) {
        if (atomic_load_explicit(v, memory_order_acquire) != old) return 1;
        cpu_relax();
        if ((i & 63) == 0 && elapsed_ns(&t0) > SPIN_NS) return 0;
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    am_pool *p = wa->pool;
    int index = wa->index;
    free(wa);
    unsigned long seen = 0;
    for (;;) {
        if (!spin_until_changed(&p->generation, seen)) {
            pthread_mutex_lock(&p->lock);
            p->n_sleeping++;
            while (!p->stopping && atomic_load(&p->generation) == seen) pthread_cond_wait(&p->wake, &p->lock);
            p->n_sleeping--;
            int stop = p->stopping;
            pthread_mutex_unlock(&p->lock);
            if (stop) break;
        }
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (seen == (unsigned long)-1) break; /* am_pool_destroy while spinning */
        run_tasks(p, index);
        if (atomic_fetch_sub(&p->busy_workers, 1) == 1) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
    return NULL;
}

am_pool *am_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    am_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next_task, 0);
    atomic_init(&p->busy_workers, 0);
    atomic_init(&p->generation, 0);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) { free(p); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) { p->n_threads = i; break; }
        wa->pool = p;
        wa->index = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n_threads = i;
            break;
        }
    }
    return p;
}

void am_pool_destroy(am_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    atomic_store(&p->generation, (unsigned long)-1); /* wakes spinning workers too */
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

int am_pool_size(const am_pool *p) { return p ? p->n_threads : 1; }

void am_pool_run_deferred(am_pool *p, int n_tasks, am_task_fn fn, void *ctx, const atomic_int *join) {
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || (n_tasks == 1 && !join)) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next_task, 0);
    atomic_store(&p->busy_workers, p->n_threads - 1);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release); /* publishes the job */
    if (p->n_sleeping > 0) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    if (join) { /* the caller joins when told to, unless the workers have taken every task by then */
        const struct timespec tick = {0, 2000000};
        while (!atomic_load(join) && atomic_load(&p->next_task) < n_tasks) nanosleep(&tick, NULL);
    }
    run_tasks(p, 0);
    /* wait for the workers: poll briefly, then sleep */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 1; atomic_load_explicit(&p->busy_workers, memory_order_acquire) > 0; i++) {
        cpu_relax();
        if ((i & 63) == 0 && elapsed_ns(&t0) > SPIN_NS) {
            pthread_mutex_lock(&p->lock);
            while (atomic_load(&p->busy_workers) > 0) pthread_cond_wait(&p->done, &p->lock);
            pthread_mutex_unlock(&p->lock);
            break;
        }
    }
}

void am_pool_run(am_pool *p, int n_tasks, am_task_fn fn, void *ctx) { am_pool_run_deferred(p, n_tasks, fn, ctx, NULL); }

int am_pool_set_background(am_pool *p) {
    if (!p) return -1;
    int failed = 0;
#ifdef SCHED_IDLE
    const struct sched_param none = {0};
    for (int i = 1; i < p->n_threads; i++) failed |= pthread_setschedparam(p->threads[i], SCHED_IDLE, &none) != 0;
#else
    failed = 1;
#endif
    return failed ? -1 : 0;
}
