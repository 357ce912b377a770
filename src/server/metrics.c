/* metrics.c — Prometheus counters (see metrics.h). */
#include "server/metrics.h"

#include <string.h>

static const double bucket_le[METRICS_N_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600};

static const char *const ep_names[EP_COUNT] = {
    "/v1/audio/transcriptions", "/v1/audio/translations", "/v1/models", "/health", "/ready",
    "/metrics", "/", "/v1/realtime", "other"};

static const char *const rej_names[REJ_COUNT] = {"queue_full", "too_large", "storage", "model_loading",
                                                 "shutting_down", "streams_full"};

const char *metrics_endpoint_name(int ep) { return ep >= 0 && ep < EP_COUNT ? ep_names[ep] : "other"; }

int metrics_init(metrics *m) {
    memset(m, 0, sizeof *m);
    return pthread_mutex_init(&m->mu, NULL) ? -1 : 0;
}

void metrics_destroy(metrics *m) { pthread_mutex_destroy(&m->mu); }

void metrics_request(metrics *m, int ep, int status, double seconds) {
    if (ep < 0 || ep >= EP_COUNT) ep = EP_OTHER;
    if (status < 100 || status > 599) status = 599;
    pthread_mutex_lock(&m->mu);
    m->requests[ep][status]++;
    if (ep == EP_TRANSCRIPTIONS || ep == EP_TRANSLATIONS) {
        for (int i = 0; i < METRICS_N_BUCKETS; i++)
            if (seconds <= bucket_le[i]) m->latency_buckets[i]++;
        m->latency_count++;
        m->latency_sum += seconds;
    }
    pthread_mutex_unlock(&m->mu);
}

void metrics_add(metrics *m, unsigned long *counter, unsigned long n) {
    pthread_mutex_lock(&m->mu);
    *counter += n;
    pthread_mutex_unlock(&m->mu);
}

void metrics_reject(metrics *m, int reason) {
    if (reason < 0 || reason >= REJ_COUNT) return;
    pthread_mutex_lock(&m->mu);
    m->rejected[reason]++;
    if (reason == REJ_QUEUE_FULL) m->rejected_queue_full++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_render(metrics *m, sbuf *o) {
    pthread_mutex_lock(&m->mu);
    sb_puts(o, "# HELP amanuensis_http_requests_total HTTP requests served, by endpoint and status code.\n"
               "# TYPE amanuensis_http_requests_total counter\n");
    for (int ep = 0; ep < EP_COUNT; ep++)
        for (int s = 100; s < 600; s++)
            if (m->requests[ep][s])
                sb_printf(o, "amanuensis_http_requests_total{endpoint=\"%s\",code=\"%d\"} %lu\n", ep_names[ep], s,
                          m->requests[ep][s]);
    sb_puts(o, "# HELP amanuensis_request_duration_seconds Latency of transcription and translation requests "
               "(first byte received to response queued).\n"
               "# TYPE amanuensis_request_duration_seconds histogram\n");
    for (int i = 0; i < METRICS_N_BUCKETS; i++)
        sb_printf(o, "amanuensis_request_duration_seconds_bucket{le=\"%g\"} %lu\n", bucket_le[i],
                  m->latency_buckets[i]);
    sb_printf(o, "amanuensis_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n", m->latency_count);
    sb_printf(o, "amanuensis_request_duration_seconds_sum %.6f\n", m->latency_sum);
    sb_printf(o, "amanuensis_request_duration_seconds_count %lu\n", m->latency_count);
    sb_printf(o, "# HELP amanuensis_upload_bytes_total Request body bytes received on the audio endpoints.\n"
                 "# TYPE amanuensis_upload_bytes_total counter\namanuensis_upload_bytes_total %lu\n", m->upload_bytes);
    sb_printf(o, "# HELP amanuensis_rejected_total Requests refused with 429 because the queue was full.\n"
                 "# TYPE amanuensis_rejected_total counter\namanuensis_rejected_total %lu\n", m->rejected_queue_full);
    sb_puts(o, "# HELP amanuensis_requests_rejected_total Audio requests refused before they became a job, by reason "
               "(queue_full 429, too_large 413, storage 507: the upload did not fit in TMPDIR, model_loading 503, "
               "shutting_down 503, streams_full 429: --max-streams live streams are running).\n# TYPE amanuensis_requests_rejected_total counter\n");
    for (int i = 0; i < REJ_COUNT; i++)
        sb_printf(o, "amanuensis_requests_rejected_total{reason=\"%s\"} %lu\n", rej_names[i], m->rejected[i]);
    sb_printf(o, "# HELP amanuensis_timeouts_total Requests that ran past --timeout.\n"
                 "# TYPE amanuensis_timeouts_total counter\namanuensis_timeouts_total %lu\n", m->timeouts);
    sb_printf(o, "# HELP amanuensis_client_disconnects_total Jobs cancelled because the client went away.\n"
                 "# TYPE amanuensis_client_disconnects_total counter\namanuensis_client_disconnects_total %lu\n",
              m->disconnects);
    pthread_mutex_unlock(&m->mu);
}
