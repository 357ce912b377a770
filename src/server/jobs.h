/* jobs.h — bounded job queue and worker pool for transcription requests.
 *
 * A job is created by a connection thread after its upload is complete, submitted to the pool
 * (refused when the queue is full), run by a worker (read the temporary audio file, am_transcribe)
 * and waited for by the connection thread, which may cancel it (client gone, timeout).  Jobs are
 * reference counted: the connection and the pool each hold one reference; the temporary file is
 * unlinked when the last reference goes. */
#ifndef AM_SERVER_JOBS_H
#define AM_SERVER_JOBS_H

#include <pthread.h>
#include <stdatomic.h>

#include "amanuensis.h"

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

typedef struct job {
    /* inputs (owned) */
    char *path;                  /* the upload: /proc/self/fd/N of fd, or a temporary file name */
    int fd;                      /* the upload's descriptor (-1: none), closed on free           */
    int unlink_path;             /* 1: path is a name in TMPDIR, unlinked on free                */
    am_model *model;             /* shared, read-only                                          */
    am_params params;            /* language/initial_prompt point into the fields below        */
    char language[16];
    char *prompt;
    /* outputs */
    int status;                  /* am_status                                                  */
    char err[256];
    am_result *result;
    double audio_seconds, queued_seconds, processing_seconds;
    /* bookkeeping (pool mutex) */
    int state;
    int refs;
    atomic_int cancel;
    double submitted_at;
    struct job *next;
} job;

typedef struct job_pool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv;      /* a job is queued or the pool stops                          */
    pthread_cond_t done_cv;      /* a job finished                                              */
    job *head, *tail;
    int n_waiting, n_running;
    int queue_cap, n_workers;
    int stopping;
    pthread_t *threads;
    int n_threads_started;
    /* totals (mu) */
    double audio_seconds_total, processing_seconds_total;
    /* backend work of the finished jobs (am_stats), and the largest session one of them held */
    unsigned long encode_calls_total, decode_calls_total, session_bytes_max;
    unsigned long long submissions_total, bytes_to_device_total, bytes_from_device_total;
    double mel_seconds_total, encode_seconds_total, decode_seconds_total;
    unsigned long jobs_ok, jobs_failed, jobs_cancelled;
} job_pool;

/* Returns 0 or -1 (errno-style failure to start threads). */
int pool_start(job_pool *p, int workers, int queue_cap);
/* Stops the workers after the queue is empty and running jobs end; joins them. */
void pool_stop(job_pool *p);

job *job_new(void);                      /* refs = 1 (the caller's)                              */
void job_release(job_pool *p, job *j);   /* drop one reference (p may be NULL before submit)     */

/* Queue a job; the pool takes its own reference.  Returns 0, or -1 when the queue is full. */
int pool_submit(job_pool *p, job *j);
/* 1 when a new job would be refused right now. */
int pool_full(job_pool *p);
void pool_counts(job_pool *p, int *waiting, int *running);

enum { WAIT_DONE, WAIT_TIMEOUT, WAIT_GONE };
/* Wait for j to finish until the monotonic deadline (am_now() seconds); every ~100 ms calls
 * gone(ctx) and returns WAIT_GONE when it returns nonzero.  Does not cancel by itself. */
int pool_wait(job_pool *p, job *j, double deadline, int (*gone)(void *ctx), void *ctx);
/* Cancel: a queued job is removed at once (status AM_E_ABORTED); a running one is asked to stop
 * through params.abort_callback. */
void pool_cancel(job_pool *p, job *j);

#endif
