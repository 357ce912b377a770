/* metrics.h — request counters and latency histogram, rendered in Prometheus text format. */
#ifndef AM_SERVER_METRICS_H
#define AM_SERVER_METRICS_H

#include <pthread.h>

#include "text/sbuf.h"

enum {
    EP_TRANSCRIPTIONS, EP_TRANSLATIONS, EP_MODELS, EP_HEALTH, EP_READY, EP_METRICS, EP_WEB, EP_REALTIME, EP_OTHER,
    EP_COUNT
};

#define METRICS_N_BUCKETS 14

/* why a request was refused before it became a job (amanuensis_requests_rejected_total{reason}) */
enum { REJ_QUEUE_FULL, REJ_TOO_LARGE, REJ_STORAGE, REJ_MODEL_LOADING, REJ_SHUTTING_DOWN, REJ_STREAMS_FULL, REJ_COUNT };

typedef struct metrics {
    pthread_mutex_t mu;
    unsigned long requests[EP_COUNT][600];     /* by endpoint and HTTP status               */
    unsigned long latency_buckets[METRICS_N_BUCKETS]; /* transcription/translation requests */
    unsigned long latency_count;
    double latency_sum;
    unsigned long upload_bytes;
    unsigned long rejected_queue_full, timeouts, disconnects;
    unsigned long rejected[REJ_COUNT];
} metrics;

const char *metrics_endpoint_name(int ep);
int metrics_init(metrics *m);
void metrics_destroy(metrics *m);
/* Count a finished request (status 100..599); latency is observed for the audio endpoints. */
void metrics_request(metrics *m, int ep, int status, double seconds);
void metrics_add(metrics *m, unsigned long *counter, unsigned long n);
void metrics_reject(metrics *m, int reason);        /* one REJ_* refusal                          */
/* Append the counters (not the gauges, which the server adds) to out. */
void metrics_render(metrics *m, sbuf *out);

#endif
