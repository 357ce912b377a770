/* jobs.c — bounded job queue and worker pool (see jobs.h). */
#include "server/jobs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

static int job_abort_cb(void *user) {
    job *j = user;
    return atomic_load(&j->cancel) != 0;
}

job *job_new(void) {
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->params = am_params_default();
    j->params.abort_callback = job_abort_cb;
    j->params.abort_user_data = j;
    j->refs = 1;
    j->fd = -1;
    j->state = JOB_QUEUED;
    atomic_init(&j->cancel, 0);
    return j;
}

static void job_free(job *j) {
    if (j->fd >= 0) close(j->fd);
    if (j->path) {
        if (j->unlink_path) unlink(j->path);
        free(j->path);
    }
    free(j->prompt);
    if (j->result) am_result_free(j->result);
    free(j);
}

void job_release(job_pool *p, job *j) {
    if (!j) return;
    int last;
    if (p) {
        pthread_mutex_lock(&p->mu);
        last = --j->refs == 0;
        pthread_mutex_unlock(&p->mu);
    } else {
        last = --j->refs == 0;
    }
    if (last) job_free(j);
}

static void run_job(job *j) {
    double t0 = am_now();
    am_audio *audio = NULL;
    size_t n = 0;
    j->queued_seconds = t0 - j->submitted_at;
    if (atomic_load(&j->cancel)) {
        j->status = AM_E_ABORTED;
        snprintf(j->err, sizeof j->err, "cancelled before it started");
        return;
    }
    int rc = am_audio_open(j->path, &audio, j->err, sizeof j->err);
    if (rc == AM_OK) n = am_audio_n_samples(audio);
    if (rc == AM_OK && n == 0) {
        rc = AM_E_AUDIO;
        snprintf(j->err, sizeof j->err, "the audio is empty");
    }
    if (rc == AM_OK) {
        j->audio_seconds = (double)n / AM_SAMPLE_RATE;
        rc = am_transcribe_audio(j->model, audio, &j->params, &j->result, j->err, sizeof j->err);
        /* until the decoder polls abort_callback, a cancelled job still runs to its end */
        if (rc == AM_OK && atomic_load(&j->cancel)) {
            am_result_free(j->result);
            j->result = NULL;
            rc = AM_E_ABORTED;
            snprintf(j->err, sizeof j->err, "cancelled");
        }
    }
    am_audio_close(audio);
    j->status = rc;
    j->processing_seconds = am_now() - t0;
}

static void *worker_main(void *arg) {
    job_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping) pthread_cond_wait(&p->work_cv, &p->mu);
        if (!p->head) break;                     /* stopping and nothing left */
        job *j = p->head;
        p->head = j->next;
        if (!p->head) p->tail = NULL;
        j->next = NULL;
        p->n_waiting--;
        p->n_running++;
        j->state = JOB_RUNNING;
        pthread_mutex_unlock(&p->mu);

        run_job(j);

        pthread_mutex_lock(&p->mu);
        p->n_running--;
        j->state = JOB_DONE;
        if (j->status == AM_OK) {
            p->jobs_ok++;
            p->audio_seconds_total += j->audio_seconds;
            p->processing_seconds_total += j->processing_seconds;
            am_stats st;
            am_result_stats(j->result, &st);
            p->encode_calls_total += (unsigned long)st.encode_calls;
            p->decode_calls_total += (unsigned long)st.decode_calls;
            p->submissions_total += st.submissions;
            p->bytes_to_device_total += st.bytes_to_device;
            p->bytes_from_device_total += st.bytes_from_device;
            p->mel_seconds_total += st.mel_seconds;
            p->encode_seconds_total += st.encode_seconds;
            p->decode_seconds_total += st.decode_seconds;
            if (st.session_bytes > p->session_bytes_max) p->session_bytes_max = (unsigned long)st.session_bytes;
        } else if (j->status == AM_E_ABORTED) {
            p->jobs_cancelled++;
        } else {
            p->jobs_failed++;
        }
        pthread_cond_broadcast(&p->done_cv);
        int last = --j->refs == 0;
        pthread_mutex_unlock(&p->mu);
        if (last) job_free(j);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int pool_start(job_pool *p, int workers, int queue_cap) {
    memset(p, 0, sizeof *p);
    if (workers < 1 || queue_cap < 0) return -1;
    pthread_condattr_t ca;
    if (pthread_mutex_init(&p->mu, NULL)) return -1;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&p->work_cv, &ca) || pthread_cond_init(&p->done_cv, &ca)) {
        pthread_condattr_destroy(&ca);
        return -1;
    }
    pthread_condattr_destroy(&ca);
    p->queue_cap = queue_cap;
    p->n_workers = workers;
    p->threads = calloc((size_t)workers, sizeof *p->threads);
    if (!p->threads) return -1;
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p)) {
            pool_stop(p);
            return -1;
        }
        p->n_threads_started++;
    }
    return 0;
}

void pool_stop(job_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads_started; i++) pthread_join(p->threads[i], NULL);
    p->n_threads_started = 0;
    free(p->threads);
    p->threads = NULL;
}

int pool_full(job_pool *p) {
    pthread_mutex_lock(&p->mu);
    /* a job is refused when every worker is busy and the waiting room is full */
    int full = p->n_waiting >= p->queue_cap && p->n_running + p->n_waiting >= p->n_workers;
    pthread_mutex_unlock(&p->mu);
    return full;
}

void pool_counts(job_pool *p, int *waiting, int *running) {
    pthread_mutex_lock(&p->mu);
    if (waiting) *waiting = p->n_waiting;
    if (running) *running = p->n_running;
    pthread_mutex_unlock(&p->mu);
}

int pool_submit(job_pool *p, job *j) {
    pthread_mutex_lock(&p->mu);
    /* idle workers take jobs at once; otherwise the job waits if there is room */
    int idle = p->n_workers - p->n_running - p->n_waiting;
    if (p->stopping || (idle <= 0 && p->n_waiting >= p->queue_cap)) {
        pthread_mutex_unlock(&p->mu);
        return -1;
    }
    j->refs++;
    j->state = JOB_QUEUED;
    j->submitted_at = am_now();
    j->next = NULL;
    if (p->tail) p->tail->next = j;
    else p->head = j;
    p->tail = j;
    p->n_waiting++;
    pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static void abs_deadline(struct timespec *ts, double seconds_from_now) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    if (seconds_from_now < 0) seconds_from_now = 0;
    long long ns = (long long)(seconds_from_now * 1e9);
    ts->tv_sec += (time_t)(ns / 1000000000LL);
    ts->tv_nsec += (long)(ns % 1000000000LL);
    if (ts->tv_nsec >= 1000000000L) { ts->tv_sec++; ts->tv_nsec -= 1000000000L; }
}

int pool_wait(job_pool *p, job *j, double deadline, int (*gone)(void *ctx), void *ctx) {
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (j->state == JOB_DONE) { pthread_mutex_unlock(&p->mu); return WAIT_DONE; }
        double left = deadline - am_now();
        if (left <= 0) { pthread_mutex_unlock(&p->mu); return WAIT_TIMEOUT; }
        struct timespec ts;
        abs_deadline(&ts, left < 0.1 ? left : 0.1);
        int rc = pthread_cond_timedwait(&p->done_cv, &p->mu, &ts);
        if (rc == ETIMEDOUT && j->state != JOB_DONE && gone) {
            pthread_mutex_unlock(&p->mu);
            int g = gone(ctx);
            pthread_mutex_lock(&p->mu);
            if (g && j->state != JOB_DONE) { pthread_mutex_unlock(&p->mu); return WAIT_GONE; }
        }
    }
}

void pool_cancel(job_pool *p, job *j) {
    pthread_mutex_lock(&p->mu);
    atomic_store(&j->cancel, 1);
    if (j->state == JOB_QUEUED) {
        job **pp = &p->head;
        job *prev = NULL;
        while (*pp && *pp != j) { prev = *pp; pp = &(*pp)->next; }
        if (*pp == j) {
            *pp = j->next;
            if (p->tail == j) p->tail = prev;
            j->next = NULL;
            p->n_waiting--;
            p->jobs_cancelled++;
            j->state = JOB_DONE;
            j->status = AM_E_ABORTED;
            snprintf(j->err, sizeof j->err, "cancelled while queued");
            j->refs--;            /* the pool's reference; the caller still holds one */
            pthread_cond_broadcast(&p->done_cv);
        }
    }
    pthread_mutex_unlock(&p->mu);
}
