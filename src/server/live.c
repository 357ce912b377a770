/* live.c — live transcription in the server (see live.h).
 *
 * SSE: the upload is decoded before the answer starts (a bad file is a 400 as without stream),
 * then a thread feeds its samples to an am_stream in step-sized pieces, as fast as it goes, and
 * writes each event as `data: {...}\n\n` into a buffer; libmicrohttpd's content reader (the
 * connection's thread) takes from it, waiting while it is empty, and a client that goes away
 * cancels the stream.
 *
 * WebSocket: after libmicrohttpd's upgrade a thread owns the socket (non-blocking): it polls,
 * reads at most RECV_BUDGET bytes into the rt_session (realtime.c), feeds what audio is buffered
 * in one am_stream_feed (so a stream that falls behind gets a longer step and no audio is
 * dropped), writes the events, and closes on the peer's close, after --idle-timeout of silence,
 * or when the server shuts down. */
#define _GNU_SOURCE
#include "server/live.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "audio/pcm.h"
#include "common/util.h"
#include "result/json.h"
#ifdef AM_HAVE_WSLAY
#include "server/realtime.h"
#endif

#define RECV_BUDGET (256u << 10)     /* bytes read between two feeds                               */
#define FEED_MAX_S 10                /* audio in one am_stream_feed at most (seconds)              */

struct live_stream {                 /* an active stream, for the hub's lag gauge                  */
    live_stream *next;
    int kind;
    double lag;                      /* seconds of audio received and not yet fed when the latest
                                        feed began (what piled up while the stream was busy)       */
};

int live_hub_init(live_hub *h) {
    atomic_init(&h->ws_threads, 0);
    h->active = 0;
    h->list = NULL;
    memset(h->total, 0, sizeof h->total);
    memset(h->failed, 0, sizeof h->failed);
    h->audio_seconds = h->compute_seconds = h->final_latency_sum = 0;
    h->final_count = 0;
    return pthread_mutex_init(&h->mu, NULL) ? -1 : 0;
}

void live_hub_destroy(live_hub *h) { pthread_mutex_destroy(&h->mu); }

int live_acquire(live_hub *h) {
    pthread_mutex_lock(&h->mu);
    int ok = h->active < h->max_streams;
    if (ok) h->active++;
    pthread_mutex_unlock(&h->mu);
    return ok ? 0 : -1;
}

void live_release(live_hub *h) {
    pthread_mutex_lock(&h->mu);
    h->active--;
    pthread_mutex_unlock(&h->mu);
}

static void hub_add(live_hub *h, live_stream *ls, int kind) {
    ls->kind = kind;
    ls->lag = 0;
    pthread_mutex_lock(&h->mu);
    ls->next = h->list;
    h->list = ls;
    h->total[kind]++;
    pthread_mutex_unlock(&h->mu);
}

static void hub_remove(live_hub *h, live_stream *ls, int failed) {
    pthread_mutex_lock(&h->mu);
    for (live_stream **pp = &h->list; *pp; pp = &(*pp)->next)
        if (*pp == ls) {
            *pp = ls->next;
            break;
        }
    if (failed) h->failed[ls->kind]++;
    pthread_mutex_unlock(&h->mu);
}

static void hub_fed(live_hub *h, live_stream *ls, size_t n, double compute, double lag) {
    pthread_mutex_lock(&h->mu);
    h->audio_seconds += (double)n / AM_SAMPLE_RATE;
    h->compute_seconds += compute;
    ls->lag = lag;
    pthread_mutex_unlock(&h->mu);
}

static void hub_final(live_hub *h, const am_stream_event *ev) {
    if (ev->type != AM_STREAM_FINAL || !ev->text || !ev->text[0]) return;
    double lat = ev->emitted_at - ev->end + ev->compute_seconds;
    if (lat < 0) lat = 0;
    pthread_mutex_lock(&h->mu);
    h->final_latency_sum += lat;
    h->final_count++;
    pthread_mutex_unlock(&h->mu);
}

void live_metrics(live_hub *h, sbuf *b) {
    static const char *const kind[LIVE_KINDS] = {"sse", "websocket"};
    pthread_mutex_lock(&h->mu);
    double lag = 0;
    for (live_stream *ls = h->list; ls; ls = ls->next)
        if (ls->lag > lag) lag = ls->lag;
    sb_printf(b,
              "# HELP amanuensis_streams_active Live streams now (stream=true uploads and realtime WebSockets).\n"
              "# TYPE amanuensis_streams_active gauge\namanuensis_streams_active %d\n"
              "# HELP amanuensis_streams_max Live streams that may run at once (--max-streams).\n"
              "# TYPE amanuensis_streams_max gauge\namanuensis_streams_max %d\n"
              "# HELP amanuensis_streams_total Live streams started, by kind.\n# TYPE amanuensis_streams_total counter\n",
              h->active, h->max_streams);
    for (int k = 0; k < LIVE_KINDS; k++) sb_printf(b, "amanuensis_streams_total{kind=\"%s\"} %lu\n", kind[k], h->total[k]);
    sb_puts(b, "# HELP amanuensis_streams_failed_total Live streams ended by an error, by kind.\n"
               "# TYPE amanuensis_streams_failed_total counter\n");
    for (int k = 0; k < LIVE_KINDS; k++)
        sb_printf(b, "amanuensis_streams_failed_total{kind=\"%s\"} %lu\n", kind[k], h->failed[k]);
    sb_printf(b,
              "# HELP amanuensis_stream_audio_seconds_total Seconds of audio fed to live streams.\n"
              "# TYPE amanuensis_stream_audio_seconds_total counter\namanuensis_stream_audio_seconds_total %.3f\n"
              "# HELP amanuensis_stream_compute_seconds_total Wall seconds live streams spent in am_stream_feed.\n"
              "# TYPE amanuensis_stream_compute_seconds_total counter\namanuensis_stream_compute_seconds_total %.3f\n"
              "# HELP amanuensis_stream_lag_seconds Audio received and not yet fed when a stream's latest feed began, "
              "largest over the active streams.\n"
              "# TYPE amanuensis_stream_lag_seconds gauge\namanuensis_stream_lag_seconds %.3f\n"
              "# HELP amanuensis_stream_final_latency_seconds Committed text: audio fed past its last word's end when "
              "it was committed, plus that decode's compute.\n"
              "# TYPE amanuensis_stream_final_latency_seconds summary\n"
              "amanuensis_stream_final_latency_seconds_sum %.3f\namanuensis_stream_final_latency_seconds_count %lu\n",
              h->audio_seconds, h->compute_seconds, lag, h->final_latency_sum, h->final_count);
    pthread_mutex_unlock(&h->mu);
}

static am_stream_params stream_params(live_hub *h, const char *language, const char *prompt) {
    am_stream_params p = am_stream_params_default();
    p.decode.n_threads = h->threads;
    if (language && language[0]) p.decode.language = language;
    if (prompt && prompt[0]) p.decode.initial_prompt = prompt;
    return p;
}

/* ---- server-sent events ------------------------------------------------------------------------- */

typedef struct sse {
    live_hub *hub;
    live_stream ls;
    struct MHD_Connection *conn;
    pcm_store *audio;
    am_model *model;
    char language[16];
    char *prompt;
    double deadline;
    pthread_t thread;
    int thread_started;
    atomic_int cancel;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sbuf out;                    /* event bytes not yet sent (mu)                               */
    size_t sent;                 /* of out (mu)                                                 */
    int done;                    /* the thread wrote its last event (mu)                        */
    int failed;
    sbuf text;                   /* the deltas so far                                           */
} sse;

static void sse_push(sse *x, sbuf *ev) {
    pthread_mutex_lock(&x->mu);
    sb_puts(&x->out, "data: ");
    sb_put(&x->out, ev->p ? ev->p : "", ev->len);
    sb_puts(&x->out, "\n\n");
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    sb_free(ev);
}

static void sse_error(sse *x, const char *code, const char *msg) {
    sbuf b = {0};
    sb_puts(&b, "{\"type\":\"error\",\"error\":{\"message\":");
    json_cstring(&b, msg);
    sb_puts(&b, ",\"type\":\"server_error\",\"param\":null,\"code\":");
    if (code) json_cstring(&b, code); else sb_puts(&b, "null");
    sb_puts(&b, "}}");
    x->failed = 1;
    sse_push(x, &b);
}

static void sse_on_event(const am_stream_event *ev, void *user) {
    sse *x = user;
    hub_final(x->hub, ev);
    if (ev->type != AM_STREAM_FINAL || !ev->text || !ev->text[0]) return;
    sb_puts(&x->text, ev->text);
    sbuf b = {0};
    sb_puts(&b, "{\"type\":\"transcript.text.delta\",\"delta\":");
    json_cstring(&b, ev->text);
    sb_puts(&b, "}");
    sse_push(x, &b);
}

static int sse_abort(void *user) {
    sse *x = user;
    return atomic_load(&x->cancel) || am_now() > x->deadline;
}

static void *sse_main(void *arg) {
    sse *x = arg;
    char err[256] = "";
    am_stream *st = NULL;
    am_stream_params p = stream_params(x->hub, x->language, x->prompt);
    p.decode.abort_callback = sse_abort;
    p.decode.abort_user_data = x;
    p.on_event = sse_on_event;
    p.user_data = x;
    int rc = am_stream_create(x->model, &p, &st, err, sizeof err);
    size_t n = pcm_store_size(x->audio);
    size_t step = (size_t)(p.step_s * AM_SAMPLE_RATE);
    if (step < 1600) step = 1600;
    float *buf = rc == AM_OK ? malloc(step * sizeof *buf) : NULL;
    if (rc == AM_OK && !buf) rc = am_fail(err, sizeof err, AM_E_NOMEM, "out of memory");
    for (size_t off = 0; rc == AM_OK && off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        if (sse_abort(x)) {
            rc = AM_E_ABORTED;
            break;
        }
        rc = pcm_store_read(x->audio, off, k, buf);
        if (rc != AM_OK) {
            snprintf(err, sizeof err, "cannot read the audio back: %s", pcm_store_error(x->audio));
            break;
        }
        double t0 = am_now();
        rc = am_stream_feed(st, buf, k, err, sizeof err);
        hub_fed(x->hub, &x->ls, k, am_now() - t0, (double)(n - off) / AM_SAMPLE_RATE);
    }
    if (rc == AM_OK) {
        double t0 = am_now();
        rc = am_stream_finish(st, err, sizeof err);
        hub_fed(x->hub, &x->ls, 0, am_now() - t0, 0);
    }
    free(buf);
    if (rc == AM_OK) {
        sbuf b = {0};
        sb_puts(&b, "{\"type\":\"transcript.text.done\",\"text\":");
        json_string(&b, x->text.p ? x->text.p : "", x->text.len);
        sb_puts(&b, "}");
        sse_push(x, &b);
    } else if (rc == AM_E_ABORTED && !atomic_load(&x->cancel)) {
        sse_error(x, "timeout", "the request ran past the server's --timeout");
    } else if (rc != AM_E_ABORTED) {
        char msg[320];
        snprintf(msg, sizeof msg, "transcription failed: %s", err[0] ? err : am_status_string(rc));
        sse_error(x, NULL, msg);
    }
    if (st) am_stream_free(st);
    pthread_mutex_lock(&x->mu);
    x->done = 1;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

/* nonzero when the client closed its side of the connection */
static int conn_gone(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd pfd = {.fd = ci->connect_fd, .events = POLLIN | POLLRDHUP};
    if (poll(&pfd, 1, 0) <= 0) return 0;
    if (pfd.revents & (POLLHUP | POLLERR | POLLRDHUP)) return 1;
    if (pfd.revents & POLLIN) {
        char c;
        ssize_t r = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return 1;
    }
    return 0;
}

static void wait_100ms(pthread_cond_t *cv, pthread_mutex_t *mu) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, mu, &ts);
}

/* libmicrohttpd's content reader, on the connection's thread: blocks until there is something */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    sse *x = cls;
    (void)pos;
    double quiet_since = am_now();
    pthread_mutex_lock(&x->mu);
    for (;;) {
        size_t have = x->out.len - x->sent;
        if (have) {
            size_t k = have < max ? have : max;
            memcpy(buf, x->out.p + x->sent, k);
            x->sent += k;
            if (x->sent == x->out.len) x->out.len = x->sent = 0;
            pthread_mutex_unlock(&x->mu);
            return (ssize_t)k;
        }
        if (x->done) {
            pthread_mutex_unlock(&x->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        wait_100ms(&x->cv, &x->mu);
        if (x->out.len == x->sent && !x->done) {
            pthread_mutex_unlock(&x->mu);
            if (conn_gone(x->conn)) {
                atomic_store(&x->cancel, 1);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            pthread_mutex_lock(&x->mu);
            if (am_now() - quiet_since > 10 && x->out.len == x->sent) {   /* a comment keeps proxies awake */
                sb_puts(&x->out, ": keep-alive\n\n");
                quiet_since = am_now();
            }
        }
    }
}

static void sse_free(void *cls) {
    sse *x = cls;
    atomic_store(&x->cancel, 1);
    if (x->thread_started) pthread_join(x->thread, NULL);
    hub_remove(x->hub, &x->ls, x->failed);
    live_release(x->hub);
    pcm_store_free(x->audio);
    free(x->prompt);
    sb_free(&x->out);
    sb_free(&x->text);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

struct MHD_Response *live_sse_response(live_hub *h, struct MHD_Connection *conn, pcm_store *audio, int model,
                                       const char *language, const char *prompt, double deadline, char *err,
                                       size_t err_size) {
    sse *x = calloc(1, sizeof *x);
    if (!x || pthread_mutex_init(&x->mu, NULL)) {
        free(x);
        pcm_store_free(audio);
        live_release(h);
        am_fail(err, err_size, AM_E_NOMEM, "out of memory");
        return NULL;
    }
    pthread_cond_init(&x->cv, NULL);
    x->hub = h;
    x->conn = conn;
    x->audio = audio;
    x->model = h->models[model];
    if (language) snprintf(x->language, sizeof x->language, "%s", language);
    x->prompt = prompt ? am_strdup(prompt) : NULL;
    x->deadline = deadline;
    atomic_init(&x->cancel, 0);
    hub_add(h, &x->ls, LIVE_SSE);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, x, sse_free);
    if (!resp) {
        sse_free(x);
        am_fail(err, err_size, AM_E_NOMEM, "out of memory");
        return NULL;
    }
    if (pthread_create(&x->thread, NULL, sse_main, x) != 0) {
        MHD_destroy_response(resp);              /* calls sse_free */
        am_fail(err, err_size, AM_E_NOMEM, "cannot start a stream thread");
        return NULL;
    }
    x->thread_started = 1;
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    return resp;
}

/* ---- WebSocket -------------------------------------------------------------------------------------- */

#ifdef AM_HAVE_WSLAY

struct live_ws {
    live_hub *hub;
    live_stream ls;
    atomic_int started;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    unsigned char *extra;            /* bytes libmicrohttpd read past the headers                 */
    size_t n_extra, extra_off;
    double last_rx;
    /* the engine */
    am_stream *st;
    rt_session *rt;
    int failed;
};

live_ws *live_ws_new(live_hub *h) {
    live_ws *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->hub = h;
    w->fd = -1;
    atomic_init(&w->started, 0);
    return w;
}

void live_ws_discard(live_ws *w) {
    if (!w) return;
    live_release(w->hub);
    free(w);
}

int live_ws_started(const live_ws *w) { return atomic_load(&w->started); }

static ssize_t ws_io_recv(void *ctx, uint8_t *buf, size_t len) {
    live_ws *w = ctx;
    if (w->extra_off < w->n_extra) {
        size_t k = w->n_extra - w->extra_off < len ? w->n_extra - w->extra_off : len;
        memcpy(buf, w->extra + w->extra_off, k);
        w->extra_off += k;
        return (ssize_t)k;
    }
    for (;;) {
        ssize_t n = recv(w->fd, buf, len, MSG_DONTWAIT);
        if (n > 0) {
            w->last_rx = am_now();
            return n;
        }
        if (n == 0) return -1;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
}

static ssize_t ws_io_send(void *ctx, const uint8_t *buf, size_t len) {
    live_ws *w = ctx;
    for (;;) {
        ssize_t n = send(w->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) return n;
        if (n < 0 && errno == EINTR) continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
}

static void ws_on_event(const am_stream_event *ev, void *user) {
    live_ws *w = user;
    hub_final(w->hub, ev);
    if (w->rt) rt_stream_event(w->rt, ev);
}

static int ws_feed(void *ctx, const float *pcm, size_t n, char *err, size_t err_size) {
    live_ws *w = ctx;
    double lag = (double)rt_pending(w->rt) / AM_SAMPLE_RATE;     /* n of it is fed now */
    double t0 = am_now();
    int rc = am_stream_feed(w->st, pcm, n, err, err_size);
    hub_fed(w->hub, &w->ls, n, am_now() - t0, lag);
    if (rc != AM_OK) w->failed = 1;
    return rc;
}

static int ws_finish(void *ctx, char *err, size_t err_size) {
    live_ws *w = ctx;
    double t0 = am_now();
    int rc = am_stream_finish(w->st, err, err_size);
    hub_fed(w->hub, &w->ls, 0, am_now() - t0, 0);
    if (rc != AM_OK) w->failed = 1;
    return rc;
}

/* a new stream for (model, language); the old one goes only when the new one starts */
static int ws_reset(void *ctx, const char *model, const char *language, char *err, size_t err_size) {
    live_ws *w = ctx;
    live_hub *h = w->hub;
    int mi = -1;
    if (!model[0] || !strcmp(model, "whisper-1")) mi = 0;
    for (int i = 0; mi < 0 && i < h->n_models; i++)
        if (!strcmp(model, h->names[i])) mi = i;
    if (mi < 0) return am_fail(err, err_size, AM_E_INVALID_ARG, "The model '%.100s' does not exist (see GET /v1/models)", model);
    size_t n = strlen(language);
    int ok = n == 0 || (n >= 2 && n <= 8);
    for (size_t i = 0; ok && i < n; i++)
        ok = (language[i] >= 'a' && language[i] <= 'z') || (language[i] == '-' && i > 0);
    if (!ok) return am_fail(err, err_size, AM_E_INVALID_ARG, "'language' must be an ISO-639-1 code such as 'en'");
    am_stream_params p = stream_params(h, language, NULL);
    p.on_event = ws_on_event;
    p.user_data = w;
    am_stream *st = NULL;
    int rc = am_stream_create(h->models[mi], &p, &st, err, err_size);
    if (rc != AM_OK) return rc;
    if (w->st) am_stream_free(w->st);
    w->st = st;
    return AM_OK;
}

static void *ws_main(void *arg) {
    live_ws *w = arg;
    live_hub *h = w->hub;
    int fl = fcntl(w->fd, F_GETFL);
    if (fl >= 0) fcntl(w->fd, F_SETFL, fl | O_NONBLOCK);
    w->last_rx = am_now();
    char err[256] = "";
    rt_io io = {ws_io_recv, ws_io_send, w};
    rt_engine eng = {ws_feed, ws_finish, ws_reset, w};
    char id[64];
    snprintf(id, sizeof id, "sess_%lx%lx", (unsigned long)time(NULL), (unsigned long)(uintptr_t)w & 0xffffff);
    int rc = ws_reset(w, "", "", err, sizeof err);
    w->rt = rt_create(&io, &eng, id);
    if (!w->rt) rc = AM_E_NOMEM;
    int closing = 0;
    if (rc != AM_OK && w->rt) {
        rt_close(w->rt, 1011, err[0] ? err : "cannot start the stream");
        closing = 1;
        w->failed = 1;
    }
    while (w->rt) {
        double now = am_now();
        if (!closing && atomic_load(h->draining)) {
            rt_close(w->rt, 1001, "the server is shutting down");
            closing = 1;
        }
        if (!closing && now - w->last_rx > h->idle_timeout) {
            rt_close(w->rt, 1001, "idle timeout");
            closing = 1;
        }
        if (closing && now - w->last_rx > h->idle_timeout + 5) break;    /* the peer never answered */
        short events = (short)((rt_want_read(w->rt) ? POLLIN : 0) | (rt_want_write(w->rt) ? POLLOUT : 0));
        if (!events) break;
        struct pollfd pfd = {.fd = w->fd, .events = events};
        int ready = w->extra_off < w->n_extra ? 1 : poll(&pfd, 1, 100);
        if (ready < 0 && errno != EINTR) break;
        if (ready > 0 && (pfd.revents & (POLLERR | POLLNVAL))) break;
        if (ready > 0 && ((pfd.revents & (POLLIN | POLLHUP)) || w->extra_off < w->n_extra) && rt_want_read(w->rt))
            if (rt_read(w->rt, RECV_BUDGET) != 0) break;
        if (rt_pending(w->rt) && rt_pump(w->rt, (size_t)FEED_MAX_S * AM_SAMPLE_RATE) < 0) closing = 1;
        if (rt_write(w->rt) != 0) break;
    }
    if (w->rt) rt_free(w->rt);
    if (w->st) am_stream_free(w->st);
    free(w->extra);
    hub_remove(h, &w->ls, w->failed);
    MHD_upgrade_action(w->urh, MHD_UPGRADE_ACTION_CLOSE);
    live_release(h);
    free(w);
    atomic_fetch_sub(&h->ws_threads, 1);
    return NULL;
}

void live_ws_handler(void *cls, struct MHD_Connection *connection, void *con_cls, const char *extra_in,
                     size_t extra_in_size, int sock, struct MHD_UpgradeResponseHandle *urh) {
    live_ws *w = cls;
    (void)connection;
    (void)con_cls;
    atomic_store(&w->started, 1);
    w->fd = sock;
    w->urh = urh;
    if (extra_in_size) {
        w->extra = malloc(extra_in_size);
        if (w->extra) {
            memcpy(w->extra, extra_in, extra_in_size);
            w->n_extra = extra_in_size;
        }
    }
    hub_add(w->hub, &w->ls, LIVE_WS);
    atomic_fetch_add(&w->hub->ws_threads, 1);
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &at, ws_main, w);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        hub_remove(w->hub, &w->ls, 1);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        live_release(w->hub);
        atomic_fetch_sub(&w->hub->ws_threads, 1);
        free(w->extra);
        free(w);
    }
}

#else /* without libwslay the endpoint answers 501 and these are never called */

struct live_ws {
    live_hub *hub;
};
live_ws *live_ws_new(live_hub *h) { (void)h; return NULL; }
void live_ws_discard(live_ws *w) { (void)w; }
int live_ws_started(const live_ws *w) { (void)w; return 0; }
void live_ws_handler(void *cls, struct MHD_Connection *connection, void *con_cls, const char *extra_in,
                     size_t extra_in_size, int sock, struct MHD_UpgradeResponseHandle *urh) {
    (void)cls; (void)connection; (void)con_cls; (void)extra_in; (void)extra_in_size; (void)sock; (void)urh;
}

#endif
