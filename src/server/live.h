/* live.h — live transcription in the server: `stream=true` uploads answered with server-sent
 * events, and the `/v1/realtime` WebSocket (realtime.h), each driving one am_stream on its own
 * thread.  The hub counts them against --max-streams and keeps their figures for /metrics. */
#ifndef AM_SERVER_LIVE_H
#define AM_SERVER_LIVE_H

#include <pthread.h>
#include <stdatomic.h>

#include "amanuensis.h"
#include "text/sbuf.h"

struct MHD_Connection;
struct MHD_Response;
struct MHD_UpgradeResponseHandle;
struct pcm_store;

enum { LIVE_SSE, LIVE_WS, LIVE_KINDS };

typedef struct live_stream live_stream;

typedef struct live_hub {
    int max_streams;
    int threads;                     /* am_stream decode threads                                */
    double idle_timeout;             /* seconds a WebSocket may stay silent                     */
    am_model *const *models;         /* the server's loaded models, names[i] for models[i]      */
    const char (*names)[128];
    int n_models;
    const atomic_int *draining;      /* the server is shutting down: WebSockets close (1001)    */
    atomic_int ws_threads;           /* WebSocket threads alive (the server waits for them)     */
    pthread_mutex_t mu;
    int active;                      /* streams now (mu)                                         */
    live_stream *list;               /* the active streams, for their lag (mu)                   */
    unsigned long total[LIVE_KINDS], failed[LIVE_KINDS];
    double audio_seconds, compute_seconds;
    double final_latency_sum;        /* (audio fed past the words' end when committed) + compute  */
    unsigned long final_count;
} live_hub;

int live_hub_init(live_hub *h);
void live_hub_destroy(live_hub *h);
/* Take a stream slot (0), or -1 when --max-streams are running. */
int live_acquire(live_hub *h);
void live_release(live_hub *h);
/* The hub's figures in Prometheus text format. */
void live_metrics(live_hub *h, sbuf *out);

/* A server-sent-events response transcribing `audio` (taken) live with models[model]: deltas of
 * committed text, then the whole text; language/prompt may be NULL.  Holds a stream slot the
 * caller took, released when the response is freed.  NULL (the slot released) when out of memory
 * or when the stream cannot start (err says why). */
struct MHD_Response *live_sse_response(live_hub *h, struct MHD_Connection *conn, struct pcm_store *audio, int model,
                                       const char *language, const char *prompt, double deadline, char *err,
                                       size_t err_size);

/* A WebSocket connection waiting for its upgrade (holds a stream slot); live_ws_handler is the
 * MHD_UpgradeHandler to pass with it to MHD_create_response_for_upgrade.  live_ws_discard frees
 * one whose upgrade never happened (live_ws_started says whether it did). */
typedef struct live_ws live_ws;
live_ws *live_ws_new(live_hub *h);
void live_ws_discard(live_ws *w);
int live_ws_started(const live_ws *w);
void live_ws_handler(void *cls, struct MHD_Connection *connection, void *con_cls, const char *extra_in,
                     size_t extra_in_size, int sock, struct MHD_UpgradeResponseHandle *urh);

#endif
