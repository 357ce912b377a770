/* server.c — OpenAI-compatible transcription server on libmicrohttpd.
 *
 * Threading: libmicrohttpd runs one thread per connection.  A transcription request streams its
 * multipart body through the multipart parser into a temporary file, then becomes a job in the
 * bounded pool (jobs.c); the connection thread waits for it, polling its socket so that a client
 * that goes away cancels the job.  Models load in a background thread (/ready is 503 until they
 * are loaded).  Signals are blocked in every thread and taken by sigwait() in server_run, so the
 * server has no global mutable state. */
#define _GNU_SOURCE
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "amanuensis.h"
#include "audio/audio.h"
#include "audio/pcm.h"
#include "common/util.h"
#include "diarize/attach.h"
#include "result/json.h"
#include "server/jobs.h"
#include "server/live.h"
#include "server/metrics.h"
#include "server/multipart.h"
#ifdef AM_HAVE_WSLAY
#include "server/realtime.h"
#endif
#include "server/web_assets.h"
#include "text/sbuf.h"
#include "text/utf8.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

#define FIELD_MAX 8192           /* longest text field (prompt)                                */
#define MAX_PARTS 64

typedef struct server {
    const server_config *cfg;
    char names[SERVER_MAX_MODELS][128];
    char paths[SERVER_MAX_MODELS][4096];
    am_model *models[SERVER_MAX_MODELS];
    atomic_int loaded;           /* 0 loading, 1 loaded, -1 failed                             */
    atomic_int draining;
    atomic_long in_flight;       /* requests with a context (not idle keep-alive connections)  */
    atomic_long conn_open;       /* TCP connections held now                                   */
    atomic_ulong conn_total, conn_refused;   /* accepted; closed at once past --max-connections */
    char load_err[512];
    int threads_per_job;
    unsigned long long max_body;
    job_pool pool;
    live_hub live;               /* stream=true uploads and realtime WebSockets (live.c)        */
    metrics met;
    struct MHD_Daemon *daemon;
    pthread_t loader;
    int loader_started;
} server;

enum { F_NONE, F_FILE, F_MODEL, F_LANGUAGE, F_PROMPT, F_FORMAT, F_TEMPERATURE, F_GRANULARITY, F_STREAM, F_DIARIZE,
       F_DIARIZE_THRESHOLD, F_IGNORED };
enum { RF_JSON, RF_TEXT, RF_SRT, RF_VTT, RF_VERBOSE, RF_DIARIZED };

typedef struct req {
    server *srv;
    int ep;
    double t0;
    int status;                  /* HTTP status queued (0: none yet)                           */
    int upload;                  /* 1 for the audio endpoints                                   */
    int translate;
    /* error found while receiving: answered at the final call */
    int err_status;
    char err_msg[300];
    const char *err_type, *err_code, *err_param;
    /* body */
    unsigned long long received;
    mp_parser *mp;
    int field;
    sbuf value;
    int n_parts;
    int fd;
    char *path;                  /* the upload: /proc/self/fd/N (unlinked) or a TMPDIR name       */
    int path_is_fd;              /* 1: path names fd, there is nothing to unlink                 */
    unsigned long long file_bytes;
    int got_file;
    char filename[MP_MAX_NAME + 1];
    /* fields */
    char model[128];
    char language[16];
    char *prompt;
    int format;
    int has_format;
    float temperature;
    int has_temperature;
    int want_words, want_segments, has_granularity;
    int stream;                  /* stream=true: server-sent events (live.c)                     */
    int diarize;                 /* diarize=true, or response_format=diarized_json               */
    float diarize_threshold;     /* diarize_threshold=X (turns diarize on); 0: the default       */
    live_ws *ws;                 /* a WebSocket waiting for its upgrade                           */
    job *job;
    struct MHD_Connection *conn;
} req;

/* ---- helpers ------------------------------------------------------------------------------ */

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...) {
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "amanuensis: serve: %s\n", buf);
}

static int route(const char *url) {
    if (!strcmp(url, "/v1/audio/transcriptions") || !strcmp(url, "/audio/transcriptions")) return EP_TRANSCRIPTIONS;
    if (!strcmp(url, "/v1/audio/translations") || !strcmp(url, "/audio/translations")) return EP_TRANSLATIONS;
    if (!strcmp(url, "/v1/models") || !strncmp(url, "/v1/models/", 11)) return EP_MODELS;
    if (!strcmp(url, "/health")) return EP_HEALTH;
    if (!strcmp(url, "/ready")) return EP_READY;
    if (!strcmp(url, "/metrics")) return EP_METRICS;
    if (!strcmp(url, "/v1/realtime") || !strcmp(url, "/realtime")) return EP_REALTIME;
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) return EP_WEB;
    for (int i = 0; i < am_web_n_assets; i++)
        if (!strcmp(url, am_web_assets[i].path)) return EP_WEB;
    return EP_OTHER;
}

static MHD_RESULT send_body(req *r, int status, const char *ctype, char *body, size_t len, int take,
                            const char *h1, const char *v1) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body, take ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        if (take) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (h1 && v1) MHD_add_response_header(resp, h1, v1);
    MHD_RESULT rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES) r->status = status;
    return rc;
}

static MHD_RESULT send_sbuf(req *r, int status, const char *ctype, sbuf *b, const char *h1, const char *v1) {
    size_t len;
    char *p = sb_take(b, &len);
    if (!p) return send_body(r, 500, "application/json",
                             "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}",
                             88, 0, NULL, NULL);
    return send_body(r, status, ctype, p, len, 1, h1, v1);
}

/* OpenAI error shape: {"error": {"message", "type", "param", "code"}} */
static MHD_RESULT send_error_h(req *r, int status, const char *type, const char *code, const char *param,
                               const char *msg, const char *h1, const char *v1) {
    sbuf b = {0};
    sb_puts(&b, "{\"error\":{\"message\":");
    json_cstring(&b, msg);
    sb_puts(&b, ",\"type\":");
    json_cstring(&b, type);
    sb_puts(&b, ",\"param\":");
    if (param) json_cstring(&b, param); else sb_puts(&b, "null");
    sb_puts(&b, ",\"code\":");
    if (code) json_cstring(&b, code); else sb_puts(&b, "null");
    sb_puts(&b, "}}\n");
    return send_sbuf(r, status, "application/json", &b, h1, v1);
}

static MHD_RESULT send_error(req *r, int status, const char *type, const char *code, const char *param,
                             const char *msg) {
    return send_error_h(r, status, type, code, param, msg, NULL, NULL);
}

/* remember an error found while the body streams in (answered at the end of the body) */
static void req_fail(req *r, int status, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void req_fail(req *r, int status, const char *code, const char *param, const char *fmt, ...) {
    if (r->err_status) return;      /* keep the first */
    r->err_status = status;
    r->err_type = status >= 500 ? "server_error" : "invalid_request_error";
    r->err_code = code;
    r->err_param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err_msg, sizeof r->err_msg, fmt, ap);
    va_end(ap);
    if (status == 413) metrics_reject(&r->srv->met, REJ_TOO_LARGE);
    else if (status == 507 || (code && !strcmp(code, "temp_file"))) metrics_reject(&r->srv->met, REJ_STORAGE);
}

static void close_upload_file(req *r) {
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
}

/* forget the upload: its descriptor and, when it has one, its name */
static void drop_upload(req *r) {
    close_upload_file(r);
    if (r->path) {
        if (!r->path_is_fd) unlink(r->path);
        free(r->path);
        r->path = NULL;
    }
}

/* The upload goes to a private (0600) file in TMPDIR that is unlinked as soon as it is created and
 * read back by the job through /proc/self/fd/N: no name is left in TMPDIR whatever happens to the
 * process, SIGKILL included.  Without /proc the file keeps its name until the job ends. */
static int open_upload_file(req *r) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    size_t n = strlen(dir) + 40;
    char *tmpl = malloc(n);
    if (!tmpl) {
        errno = ENOMEM;
        return -1;
    }
    snprintf(tmpl, n, "%s/amanuensis-upload-XXXXXX", dir);
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        int e = errno;
        free(tmpl);
        errno = e;
        return -1;
    }
    char proc[64];
    struct stat a, b;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    char *pp = NULL;
    if (fstat(fd, &a) == 0 && stat(proc, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
        (pp = am_strndup(proc, strlen(proc))) != NULL) {
        unlink(tmpl);
        free(tmpl);
        r->path = pp;
        r->path_is_fd = 1;
    } else {
        r->path = tmpl;
        r->path_is_fd = 0;
    }
    r->fd = fd;
    return 0;
}

/* a full disk (or a file size limit) is the server's storage, not the client's request */
static int storage_full(int e) { return e == ENOSPC || e == EDQUOT || e == EFBIG; }

static void req_free(server *s, req *r) {
    drop_upload(r);
    free(r->mp);
    sb_free(&r->value);
    free(r->prompt);
    if (r->job) job_release(&s->pool, r->job);
    if (r->ws && !live_ws_started(r->ws)) live_ws_discard(r->ws);   /* the upgrade never happened */
    free(r);
}

static int ct_equal(const char *a, const char *b) {   /* constant time in the length of b */
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++) d |= (unsigned char)(a[i % (la ? la : 1)] ^ b[i]);
    return d == 0;
}

/* ---- multipart callbacks ---------------------------------------------------------------------- */

static int field_id(const char *name) {
    if (!strcmp(name, "file")) return F_FILE;
    if (!strcmp(name, "model")) return F_MODEL;
    if (!strcmp(name, "language")) return F_LANGUAGE;
    if (!strcmp(name, "prompt")) return F_PROMPT;
    if (!strcmp(name, "response_format")) return F_FORMAT;
    if (!strcmp(name, "temperature")) return F_TEMPERATURE;
    if (!strcmp(name, "timestamp_granularities[]") || !strcmp(name, "timestamp_granularities"))
        return F_GRANULARITY;
    if (!strcmp(name, "stream")) return F_STREAM;
    if (!strcmp(name, "diarize")) return F_DIARIZE;
    if (!strcmp(name, "diarize_threshold")) return F_DIARIZE_THRESHOLD;
    return F_IGNORED;
}

static int on_part_begin(void *user, const mp_part *part) {
    req *r = user;
    if (++r->n_parts > MAX_PARTS) {
        req_fail(r, 400, "invalid_multipart", NULL, "too many form fields (at most %d)", MAX_PARTS);
        return 1;
    }
    r->field = field_id(part->name);
    r->value.len = 0;
    if (r->value.p) r->value.p[0] = '\0';
    if (r->field == F_FILE) {
        if (r->got_file) {
            req_fail(r, 400, "invalid_value", "file", "more than one 'file' field");
            return 1;
        }
        r->got_file = 1;
        snprintf(r->filename, sizeof r->filename, "%s", part->filename);
        if (open_upload_file(r) != 0) {
            int e = errno;
            if (storage_full(e))
                req_fail(r, 507, "insufficient_storage", NULL, "cannot create a temporary file: %s", strerror(e));
            else
                req_fail(r, 500, "temp_file", NULL, "cannot create a temporary file: %s", strerror(e));
            return 1;
        }
    }
    return 0;
}

static int on_part_data(void *user, const char *data, size_t size) {
    req *r = user;
    if (r->field == F_FILE) {
        while (size > 0) {
            ssize_t w = write(r->fd, data, size);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                int e = w < 0 ? errno : ENOSPC;
                if (storage_full(e))
                    req_fail(r, 507, "insufficient_storage", NULL,
                             "cannot write the upload to a temporary file: %s", strerror(e));
                else
                    req_fail(r, 500, "temp_file", NULL, "cannot write the upload to a temporary file: %s",
                             strerror(e));
                return 1;
            }
            data += w;
            size -= (size_t)w;
            r->file_bytes += (unsigned long long)w;
        }
    } else if (r->field != F_IGNORED && r->field != F_NONE) {
        if (r->value.len + size > FIELD_MAX) {
            req_fail(r, 400, "invalid_value", NULL, "a form field is longer than %d bytes", FIELD_MAX);
            return 1;
        }
        sb_put(&r->value, data, size);
        if (r->value.oom) {
            req_fail(r, 500, NULL, NULL, "out of memory");
            return 1;
        }
    }
    return 0;
}

static int parse_format(const char *v) {
    if (!strcmp(v, "json")) return RF_JSON;
    if (!strcmp(v, "text")) return RF_TEXT;
    if (!strcmp(v, "srt")) return RF_SRT;
    if (!strcmp(v, "vtt")) return RF_VTT;
    if (!strcmp(v, "verbose_json")) return RF_VERBOSE;
    if (!strcmp(v, "diarized_json")) return RF_DIARIZED;
    return -1;
}

static int on_part_end(void *user) {
    req *r = user;
    const char *v = r->value.p ? r->value.p : "";
    size_t n = r->value.len;
    if (r->field != F_FILE && r->field != F_IGNORED && memchr(v, '\0', n)) {
        req_fail(r, 400, "invalid_value", NULL, "a form field contains a NUL byte");
        return 1;
    }
    switch (r->field) {
    case F_FILE:
        if (!r->path_is_fd) close_upload_file(r);    /* else the descriptor keeps the file alive */
        break;
    case F_MODEL:
        if (n == 0 || n >= sizeof r->model) {
            req_fail(r, 400, "invalid_value", "model", "'model' must be a model name (1 to %zu characters)",
                     sizeof r->model - 1);
            return 1;
        }
        memcpy(r->model, v, n + 1);
        break;
    case F_LANGUAGE: {
        if (n == 0) break;
        int ok = n >= 2 && n <= 8;
        for (size_t i = 0; ok && i < n; i++)
            ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') || (v[i] == '-' && i > 0);
        if (!ok) {
            req_fail(r, 400, "invalid_value", "language", "'language' must be an ISO-639-1 code such as 'en'");
            return 1;
        }
        for (size_t i = 0; i < n; i++) r->language[i] = (char)((v[i] >= 'A' && v[i] <= 'Z') ? v[i] + 32 : v[i]);
        r->language[n] = '\0';
        break;
    }
    case F_PROMPT:
        free(r->prompt);
        r->prompt = am_strndup(v, n);
        if (!r->prompt) {
            req_fail(r, 500, NULL, NULL, "out of memory");
            return 1;
        }
        break;
    case F_FORMAT: {
        int f = parse_format(v);
        if (f < 0) {
            req_fail(r, 400, "invalid_value", "response_format",
                     "'response_format' must be one of json, text, srt, verbose_json, vtt, diarized_json");
            return 1;
        }
        r->format = f;
        r->has_format = 1;
        break;
    }
    case F_TEMPERATURE: {
        char *end;
        errno = 0;
        double t = n ? strtod(v, &end) : NAN;
        if (n == 0 || errno || *end || !isfinite(t) || t < 0 || t > 1) {
            req_fail(r, 400, "invalid_value", "temperature", "'temperature' must be a number between 0 and 1");
            return 1;
        }
        r->temperature = (float)t;
        r->has_temperature = 1;
        break;
    }
    case F_GRANULARITY:
        if (!strcmp(v, "word")) r->want_words = 1;
        else if (!strcmp(v, "segment")) r->want_segments = 1;
        else {
            req_fail(r, 400, "invalid_value", "timestamp_granularities",
                     "'timestamp_granularities[]' values must be 'segment' or 'word'");
            return 1;
        }
        r->has_granularity = 1;
        break;
    case F_DIARIZE:
        if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "1")) r->diarize = 1;
        else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "0")) r->diarize = 0;
        else {
            req_fail(r, 400, "invalid_value", "diarize", "'diarize' must be true or false");
            return 1;
        }
        break;
    case F_DIARIZE_THRESHOLD: {
        char *end;
        errno = 0;
        double t = n ? strtod(v, &end) : NAN;
        if (n == 0 || errno || *end || !(t > 0 && t < 2)) {
            req_fail(r, 400, "invalid_value", "diarize_threshold",
                     "'diarize_threshold' must be a number between 0 and 2 (exclusive)");
            return 1;
        }
        r->diarize_threshold = (float)t;
        break;
    }
    case F_STREAM:
        if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "1")) r->stream = 1;
        else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "0")) r->stream = 0;
        else {
            req_fail(r, 400, "invalid_value", "stream", "'stream' must be true or false");
            return 1;
        }
        break;
    default:
        break;
    }
    r->field = F_NONE;
    return 0;
}

static const mp_callbacks mp_cb = {on_part_begin, on_part_data, on_part_end};

/* ---- simple endpoints ------------------------------------------------------------------------- */

static MHD_RESULT handle_models(server *s, req *r, const char *url) {
    const char *id = !strncmp(url, "/v1/models/", 11) ? url + 11 : NULL;
    sbuf b = {0};
    if (!id) sb_puts(&b, "{\"object\":\"list\",\"data\":[");
    int found = 0;
    for (int i = -1; i < s->cfg->n_models; i++) {
        const char *name = i < 0 ? "whisper-1" : s->names[i];
        if (id && strcmp(id, name)) continue;
        if (found++ && !id) sb_puts(&b, ",");
        sb_puts(&b, "{\"id\":");
        json_cstring(&b, name);
        sb_puts(&b, ",\"object\":\"model\",\"created\":0,\"owned_by\":\"amanuensis\"}");
    }
    if (id && !found) {
        sb_free(&b);
        char msg[200];
        snprintf(msg, sizeof msg, "The model '%.100s' does not exist", id);
        return send_error(r, 404, "invalid_request_error", "model_not_found", "model", msg);
    }
    if (!id) sb_puts(&b, "]}");
    sb_puts(&b, "\n");
    return send_sbuf(r, 200, "application/json", &b, NULL, NULL);
}

static MHD_RESULT handle_metrics(server *s, req *r) {
    sbuf b = {0};
    int waiting, running;
    pool_counts(&s->pool, &waiting, &running);
    pthread_mutex_lock(&s->pool.mu);
    double audio = s->pool.audio_seconds_total, proc = s->pool.processing_seconds_total;
    unsigned long ok = s->pool.jobs_ok, failed = s->pool.jobs_failed, cancelled = s->pool.jobs_cancelled;
    unsigned long enc_calls = s->pool.encode_calls_total, dec_calls = s->pool.decode_calls_total;
    unsigned long session_max = s->pool.session_bytes_max;
    unsigned long long submissions = s->pool.submissions_total, to_dev = s->pool.bytes_to_device_total,
                       from_dev = s->pool.bytes_from_device_total;
    double mel_s = s->pool.mel_seconds_total, enc_s = s->pool.encode_seconds_total, dec_s = s->pool.decode_seconds_total;
    pthread_mutex_unlock(&s->pool.mu);
    metrics_render(&s->met, &b);
    sb_printf(&b,
              "# HELP amanuensis_queue_depth Jobs waiting for a worker.\n# TYPE amanuensis_queue_depth gauge\n"
              "amanuensis_queue_depth %d\n"
              "# HELP amanuensis_queue_capacity Jobs that may wait (--queue).\n# TYPE amanuensis_queue_capacity gauge\n"
              "amanuensis_queue_capacity %d\n"
              "# HELP amanuensis_jobs_running Jobs being transcribed.\n# TYPE amanuensis_jobs_running gauge\n"
              "amanuensis_jobs_running %d\n"
              "# HELP amanuensis_workers Worker threads (--workers).\n# TYPE amanuensis_workers gauge\n"
              "amanuensis_workers %d\n",
              waiting, s->cfg->queue, running, s->cfg->workers);
    sb_printf(&b,
              "# HELP amanuensis_requests_in_flight Requests being received, queued or processed.\n"
              "# TYPE amanuensis_requests_in_flight gauge\namanuensis_requests_in_flight %ld\n"
              "# HELP amanuensis_model_loaded 1 when every model is loaded.\n# TYPE amanuensis_model_loaded gauge\n"
              "amanuensis_model_loaded %d\n",
              (long)atomic_load(&s->in_flight), atomic_load(&s->loaded) == 1);
    sb_printf(&b,
              "# HELP amanuensis_connections_open TCP connections open now.\n"
              "# TYPE amanuensis_connections_open gauge\namanuensis_connections_open %ld\n"
              "# HELP amanuensis_connections_total TCP connections accepted.\n"
              "# TYPE amanuensis_connections_total counter\namanuensis_connections_total %lu\n"
              "# HELP amanuensis_connections_refused_total Connections closed on arrival (--max-connections reached).\n"
              "# TYPE amanuensis_connections_refused_total counter\namanuensis_connections_refused_total %lu\n",
              (long)atomic_load(&s->conn_open), (unsigned long)atomic_load(&s->conn_total),
              (unsigned long)atomic_load(&s->conn_refused));
    sb_printf(&b,
              "# HELP amanuensis_audio_seconds_total Seconds of audio transcribed.\n"
              "# TYPE amanuensis_audio_seconds_total counter\namanuensis_audio_seconds_total %.3f\n"
              "# HELP amanuensis_processing_seconds_total Seconds workers spent decoding and transcribing.\n"
              "# TYPE amanuensis_processing_seconds_total counter\namanuensis_processing_seconds_total %.3f\n",
              audio, proc);
    sb_printf(&b,
              "# HELP amanuensis_jobs_total Jobs finished, by result.\n# TYPE amanuensis_jobs_total counter\n"
              "amanuensis_jobs_total{result=\"ok\"} %lu\namanuensis_jobs_total{result=\"failed\"} %lu\n"
              "amanuensis_jobs_total{result=\"cancelled\"} %lu\n",
              ok, failed, cancelled);
    /* each model's weights are placed by its backend once, at load; workers share them and each
     * job holds only a session (caches, scratch) */
    sb_printf(&b, "# HELP amanuensis_model_weight_bytes Bytes of weights each model's backend placed (once, at load).\n"
                  "# TYPE amanuensis_model_weight_bytes gauge\n");
    for (int i = 0; atomic_load(&s->loaded) == 1 && i < s->cfg->n_models; i++) {
        am_model_info mi;
        am_model_get_info(s->models[i], &mi);
        sb_printf(&b, "amanuensis_model_weight_bytes{model=\"%s\",backend=\"%s\"} %lu\n", s->names[i], mi.backend,
                  (unsigned long)mi.weight_bytes);
    }
    sb_printf(&b,
              "# HELP amanuensis_session_bytes_max Memory of the largest per-job backend session so far.\n"
              "# TYPE amanuensis_session_bytes_max gauge\namanuensis_session_bytes_max %lu\n"
              "# HELP amanuensis_backend_calls_total Backend calls (device submissions) of finished jobs, by stage.\n"
              "# TYPE amanuensis_backend_calls_total counter\n"
              "amanuensis_backend_calls_total{stage=\"encode\"} %lu\namanuensis_backend_calls_total{stage=\"decode\"} %lu\n"
              "# HELP amanuensis_device_submissions_total Device queue submissions of finished jobs (0 on the CPU).\n"
              "# TYPE amanuensis_device_submissions_total counter\namanuensis_device_submissions_total %llu\n"
              "# HELP amanuensis_device_bytes_total Bytes copied between host and device by finished jobs.\n"
              "# TYPE amanuensis_device_bytes_total counter\n"
              "amanuensis_device_bytes_total{direction=\"to_device\"} %llu\n"
              "amanuensis_device_bytes_total{direction=\"from_device\"} %llu\n"
              "# HELP amanuensis_stage_seconds_total Seconds finished jobs spent per stage.\n"
              "# TYPE amanuensis_stage_seconds_total counter\n"
              "amanuensis_stage_seconds_total{stage=\"mel\"} %.6f\namanuensis_stage_seconds_total{stage=\"encode\"} %.6f\n"
              "amanuensis_stage_seconds_total{stage=\"decode\"} %.6f\n",
              session_max, enc_calls, dec_calls, submissions, to_dev, from_dev, mel_s, enc_s, dec_s);
    live_metrics(&s->live, &b);
    return send_sbuf(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b, NULL, NULL);
}

static MHD_RESULT handle_web(req *r, const char *url) {
    if (!strcmp(url, "/")) url = "/index.html";
    for (int i = 0; i < am_web_n_assets; i++) {
        const web_asset *a = &am_web_assets[i];
        if (strcmp(url, a->path)) continue;
        const char *ext = strrchr(a->path, '.');
        const char *ct = "application/octet-stream";
        if (ext && !strcmp(ext, ".html")) ct = "text/html; charset=utf-8";
        else if (ext && !strcmp(ext, ".css")) ct = "text/css; charset=utf-8";
        else if (ext && !strcmp(ext, ".js")) ct = "text/javascript; charset=utf-8";
        else if (ext && !strcmp(ext, ".svg")) ct = "image/svg+xml";
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(a->size, (void *)a->data, MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", ct);
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
                                "'unsafe-inline'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'");
        MHD_RESULT rc = MHD_queue_response(r->conn, 200, resp);
        MHD_destroy_response(resp);
        if (rc == MHD_YES) r->status = 200;
        return rc;
    }
    return send_error(r, 404, "invalid_request_error", "not_found", NULL, "no such page");
}

/* ---- transcription ---------------------------------------------------------------------------- */

static const char *language_name(const char *code) {
    static const char *const tab[][2] = {
        {"en", "english"}, {"zh", "chinese"}, {"de", "german"}, {"es", "spanish"}, {"ru", "russian"},
        {"ko", "korean"}, {"fr", "french"}, {"ja", "japanese"}, {"pt", "portuguese"}, {"tr", "turkish"},
        {"pl", "polish"}, {"ca", "catalan"}, {"nl", "dutch"}, {"ar", "arabic"}, {"sv", "swedish"},
        {"it", "italian"}, {"id", "indonesian"}, {"hi", "hindi"}, {"fi", "finnish"}, {"vi", "vietnamese"},
        {"he", "hebrew"}, {"uk", "ukrainian"}, {"el", "greek"}, {"ms", "malay"}, {"cs", "czech"},
        {"ro", "romanian"}, {"da", "danish"}, {"hu", "hungarian"}, {"ta", "tamil"}, {"no", "norwegian"},
        {"th", "thai"}, {"ur", "urdu"}, {"hr", "croatian"}, {"bg", "bulgarian"}, {"lt", "lithuanian"},
        {"la", "latin"}, {"cy", "welsh"}, {"sk", "slovak"}, {"fa", "persian"}, {"lv", "latvian"},
        {"sr", "serbian"}, {"sl", "slovenian"}, {"et", "estonian"}, {"is", "icelandic"}};
    if (!code) return "english";
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(code, tab[i][0])) return tab[i][1];
    return code;
}

/* The result's whole text stripped as Python's str.strip(): [*a, *z) of the returned string. */
static const char *stripped_text(const am_result *res, size_t *a, size_t *z) {
    const char *t = am_result_text(res);
    utf8_strip(t, strlen(t), a, z);
    return t;
}

static int result_has_words(const am_result *res) {
    for (size_t i = 0; i < am_result_n_segments(res); i++)
        if (am_result_segment(res, i)->words) return 1;
    return 0;
}

static MHD_RESULT respond_result(server *s, req *r, const job *j) {
    const am_result *res = j->result;
    sbuf b = {0};
    const char *warn_h = NULL, *warn_v = NULL;
    if (r->want_words && !result_has_words(res)) {
        warn_h = "X-Amanuensis-Warning";
        warn_v = "word timestamps are not available in this build; 'words' is empty";
    }
    switch (r->format) {
    case RF_JSON: {
        size_t a, z;
        const char *t = stripped_text(res, &a, &z);
        sb_puts(&b, "{\"text\": ");
        json_string(&b, t + a, z - a);
        sb_puts(&b, "}\n");
        return send_sbuf(r, 200, "application/json", &b, warn_h, warn_v);
    }
    case RF_TEXT: {
        size_t a, z;
        const char *t = stripped_text(res, &a, &z);
        sb_put(&b, t + a, z - a);
        sb_puts(&b, "\n");
        return send_sbuf(r, 200, "text/plain; charset=utf-8", &b, warn_h, warn_v);
    }
    case RF_SRT:
    case RF_VTT: {
        char *mem = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&mem, &len);
        if (!f) return send_error(r, 500, "server_error", NULL, NULL, "out of memory");
        int rc = am_write_result(res, r->format == RF_SRT ? AM_FORMAT_SRT : AM_FORMAT_VTT, f);
        if (fclose(f) != 0 || rc != AM_OK || !mem) {
            free(mem);
            return send_error(r, 500, "server_error", NULL, NULL, "cannot format the result");
        }
        return send_body(r, 200, r->format == RF_SRT ? "application/x-subrip; charset=utf-8" : "text/vtt; charset=utf-8",
                         mem, len, 1, warn_h, warn_v);
    }
    case RF_DIARIZED:
        json_diarized(&b, res, r->translate ? "translate" : "transcribe");
        sb_putc(&b, '\n');
        return send_sbuf(r, 200, "application/json", &b, warn_h, warn_v);
    default: break;
    }
    /* verbose_json: OpenAI's layout, from the same serialiser as the json file */
    json_result_options o = {r->translate ? "translate" : "transcribe", language_name(am_result_language(res)), 1,
                             !r->has_granularity || r->want_segments,
                             r->want_words ? JSON_WORDS_TOP_LEVEL : JSON_WORDS_NONE};
    json_result(&b, res, &o);
    sb_putc(&b, '\n');
    (void)s;
    return send_sbuf(r, 200, "application/json", &b, warn_h, warn_v);
}

/* nonzero when the client closed its side of the connection */
static int client_gone(void *ctx) {
    req *r = ctx;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    int fd = ci->connect_fd;
    struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&pfd, 1, 0) <= 0) return 0;
    if (pfd.revents & (POLLHUP | POLLERR | POLLRDHUP)) return 1;
    if (pfd.revents & POLLIN) {
        char c;
        ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) return 1;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return 1;
    }
    return 0;
}

static int find_model(server *s, const char *name) {
    if (!name[0] || !strcmp(name, "whisper-1")) return 0;
    for (int i = 0; i < s->cfg->n_models; i++)
        if (!strcmp(name, s->names[i])) return i;
    return -1;
}

static MHD_RESULT send_429(server *s, req *r) {
    int waiting, running;
    pool_counts(&s->pool, &waiting, &running);
    char ra[16];
    snprintf(ra, sizeof ra, "%d", 1 + waiting / (s->cfg->workers > 0 ? s->cfg->workers : 1));
    metrics_reject(&s->met, REJ_QUEUE_FULL);
    return send_error_h(r, 429, "rate_limit_error", "queue_full", NULL,
                        "the server is busy: the transcription queue is full; retry later", "Retry-After", ra);
}

static MHD_RESULT send_streams_full(server *s, req *r) {
    metrics_reject(&s->met, REJ_STREAMS_FULL);
    char msg[160];
    snprintf(msg, sizeof msg, "the server is running its %d live streams (--max-streams); retry later", s->live.max_streams);
    return send_error_h(r, 429, "rate_limit_error", "streams_full", NULL, msg, "Retry-After", "1");
}

/* stream=true: the audio is decoded here (a bad file is a 400, as without stream), then live.c
 * answers with server-sent events */
static MHD_RESULT respond_stream(server *s, req *r, int mi) {
    if (r->translate)
        return send_error(r, 400, "invalid_request_error", "unsupported", "stream",
                          "stream=true is supported on /v1/audio/transcriptions only");
    if (live_acquire(&s->live) != 0) return send_streams_full(s, r);
    char err[256] = "", msg[400];
    pcm_store *audio = pcm_store_new(1);
    int rc = audio ? audio_read_file(r->path, audio, err, sizeof err) : AM_E_NOMEM;
    /* messages name the temporary file: keep only what follows "PATH: " */
    size_t plen = strlen(r->path);
    if (!strncmp(err, r->path, plen) && !strncmp(err + plen, ": ", 2)) memmove(err, err + plen + 2, strlen(err + plen + 2) + 1);
    drop_upload(r);
    if (rc == AM_OK && pcm_store_size(audio) == 0) {
        rc = AM_E_AUDIO;
        snprintf(err, sizeof err, "the audio is empty");
    }
    if (rc != AM_OK) {
        pcm_store_free(audio);
        live_release(&s->live);
        if (rc == AM_E_NOMEM) return send_error(r, 500, "server_error", NULL, NULL, "out of memory");
        snprintf(msg, sizeof msg, "could not decode the audio file: %s", err);
        return send_error(r, 400, "invalid_request_error", "invalid_audio", "file", msg);
    }
    struct MHD_Response *resp = live_sse_response(&s->live, r->conn, audio, mi, r->language, r->prompt,
                                                  r->t0 + s->cfg->timeout, err, sizeof err);
    if (!resp) {
        snprintf(msg, sizeof msg, "cannot start the stream: %s", err);
        return send_error(r, 500, "server_error", NULL, NULL, msg);
    }
    MHD_RESULT q = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    if (q == MHD_YES) r->status = 200;
    return q;
}

static MHD_RESULT finish_upload(server *s, req *r) {
    if (!r->err_status) {
        if (mp_finish(r->mp) != MP_OK)
            req_fail(r, 400, "invalid_multipart", NULL, "malformed multipart body: %s", mp_error(r->mp));
    }
    if (r->err_status)
        return send_error(r, r->err_status, r->err_type, r->err_code, r->err_param, r->err_msg);
    if (!r->got_file)
        return send_error(r, 400, "invalid_request_error", "missing_file", "file",
                          "you must provide a 'file' field with the audio");
    if (r->file_bytes == 0)
        return send_error(r, 400, "invalid_request_error", "invalid_audio", "file", "the uploaded file is empty");
    if (r->has_granularity && r->format != RF_VERBOSE)
        return send_error(r, 400, "invalid_request_error", "invalid_value", "timestamp_granularities",
                          "timestamp_granularities[] requires response_format=verbose_json");
    int mi = find_model(s, r->model);
    if (mi < 0) {
        char msg[220];
        snprintf(msg, sizeof msg, "The model '%s' does not exist (see GET /v1/models)", r->model);
        return send_error(r, 404, "invalid_request_error", "model_not_found", "model", msg);
    }
    if (atomic_load(&s->loaded) != 1) {
        metrics_reject(&s->met, REJ_MODEL_LOADING);
        return send_error_h(r, 503, "server_error", "model_loading", NULL, "the model is still loading",
                            "Retry-After", "1");
    }
    int diarize = r->diarize || r->format == RF_DIARIZED || r->diarize_threshold > 0.0f;
    if (r->stream && diarize)
        return send_error(r, 400, "invalid_request_error", "invalid_value", "stream",
                          "stream=true does not diarize (diarize, response_format=diarized_json)");
    if (r->stream) return respond_stream(s, r, mi);
    if (diarize) {
        char wpath[4096];
        am_params dp = am_params_default();
        if (!diar_model_path(&dp, wpath, sizeof wpath))
            return send_error(r, 400, "invalid_request_error", "unsupported", NULL,
                              "this server has no diarization weights (scripts/fetch-model diarization)");
        if (access(wpath, R_OK) != 0) { /* named by $AMANUENSIS_DIARIZE_MODEL and not there: the server's fault */
            char msg[4200];
            snprintf(msg, sizeof msg, "diarization weights %s: %s", wpath, strerror(errno));
            return send_error(r, 500, "server_error", NULL, NULL, msg);
        }
    }

    job *j = job_new();
    if (!j) return send_error(r, 500, "server_error", NULL, NULL, "out of memory");
    r->job = j;
    j->path = r->path;               /* the job owns the file now (and unlinks it if it has a name) */
    j->unlink_path = !r->path_is_fd;
    j->fd = r->fd;
    r->path = NULL;
    r->fd = -1;
    j->model = s->models[mi];
    j->params.n_threads = s->threads_per_job;
    j->params.translate = r->translate;
    if (r->language[0]) {
        snprintf(j->language, sizeof j->language, "%s", r->language);
        j->params.language = j->language;
    }
    if (r->prompt && r->prompt[0]) {
        j->prompt = r->prompt;
        r->prompt = NULL;
        j->params.initial_prompt = j->prompt;
    }
    if (r->has_temperature) j->params.temperature = r->temperature;
    if (r->want_words) j->params.word_timestamps = 1;
    if (diarize) {
        j->params.diarize = 1;
        j->params.word_timestamps = 1; /* segments split where the speaker changes between words */
        if (r->diarize_threshold > 0.0f) j->params.diarize_threshold = r->diarize_threshold;
    }

    if (pool_submit(&s->pool, j) != 0) return send_429(s, r);

    double deadline = r->t0 + s->cfg->timeout;
    int w = pool_wait(&s->pool, j, deadline, client_gone, r);
    if (w == WAIT_GONE) {
        pool_cancel(&s->pool, j);
        metrics_add(&s->met, &s->met.disconnects, 1);
        r->status = 499;             /* nginx's "client closed request", for the metrics only */
        return MHD_NO;
    }
    if (w == WAIT_TIMEOUT) {
        pool_cancel(&s->pool, j);
        metrics_add(&s->met, &s->met.timeouts, 1);
        return send_error(r, 504, "server_error", "timeout", NULL, "the request ran past the server's --timeout");
    }
    char msg[400];
    /* messages name the temporary file: keep only what follows "PATH: " */
    size_t plen = strlen(j->path);
    if (!strncmp(j->err, j->path, plen) && !strncmp(j->err + plen, ": ", 2))
        memmove(j->err, j->err + plen + 2, strlen(j->err + plen + 2) + 1);
    switch (j->status) {
    case AM_OK:
        return respond_result(s, r, j);
    case AM_E_AUDIO:
    case AM_E_IO:
        snprintf(msg, sizeof msg, "could not decode the audio file: %s", j->err);
        return send_error(r, 400, "invalid_request_error", "invalid_audio", "file", msg);
    case AM_E_INVALID_ARG:
    case AM_E_UNSUPPORTED:
        return send_error(r, 400, "invalid_request_error", "unsupported", NULL, j->err);
    case AM_E_ABORTED:
        return send_error(r, 503, "server_error", "cancelled", NULL, "the job was cancelled");
    default:
        snprintf(msg, sizeof msg, "transcription failed: %s", j->err);
        return send_error(r, 500, "server_error", NULL, NULL, msg);
    }
}

/* first call of an audio request: everything that can be refused before the body is read */
static MHD_RESULT begin_upload(server *s, req *r, struct MHD_Connection *c) {
    if (atomic_load(&s->draining)) {
        metrics_reject(&s->met, REJ_SHUTTING_DOWN);
        return send_error(r, 503, "server_error", "shutting_down", NULL, "the server is shutting down");
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    char boundary[MP_MAX_BOUNDARY + 1];
    if (!ct || mp_boundary_from_content_type(ct, boundary, sizeof boundary) != 0)
        return send_error(r, 400, "invalid_request_error", "invalid_content_type", NULL,
                          "the body must be multipart/form-data with a valid boundary");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || *end) n = ~0ULL;
        if (n > s->max_body) {
            /* a small excess is read and dropped so that simple clients see the 413; a large one
             * is answered at once and the connection closed */
            if (n > 2 * s->max_body + (1u << 20)) {
                char msg[160];
                snprintf(msg, sizeof msg, "the request body is larger than the server's limit of %ld MB",
                         s->cfg->max_upload_mb);
                metrics_reject(&s->met, REJ_TOO_LARGE);
                return send_error(r, 413, "invalid_request_error", "request_too_large", "file", msg);
            }
            req_fail(r, 413, "request_too_large", "file", "the request body is larger than the server's limit of %ld MB",
                     s->cfg->max_upload_mb);
        }
    }
    if (atomic_load(&s->loaded) != 1) {
        metrics_reject(&s->met, REJ_MODEL_LOADING);
        return send_error_h(r, 503, "server_error", "model_loading", NULL, "the model is still loading",
                            "Retry-After", "1");
    }
    if (pool_full(&s->pool)) return send_429(s, r);
    r->mp = malloc(sizeof *r->mp);
    if (!r->mp) return send_error(r, 500, "server_error", NULL, NULL, "out of memory");
    if (mp_init(r->mp, boundary, &mp_cb, r) != 0)
        return send_error(r, 400, "invalid_request_error", "invalid_content_type", NULL, "invalid multipart boundary");
    return MHD_YES;
}

/* a token of a comma-separated header value (case-insensitive), or NULL */
static const char *header_token(const char *list, const char *token, size_t *len) {
    size_t tl = strlen(token);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *z = e;
        while (z > p && (z[-1] == ' ' || z[-1] == '\t')) z--;
        if ((size_t)(z - p) >= tl && !strncasecmp(p, token, tl) && (len || (size_t)(z - p) == tl)) {
            if (len) *len = (size_t)(z - p);
            return p;
        }
        p = e;
    }
    return NULL;
}

/* GET /v1/realtime?intent=transcription: the WebSocket upgrade (live.c, realtime.c) */
static MHD_RESULT handle_realtime(server *s, req *r, struct MHD_Connection *c) {
#ifndef AM_HAVE_WSLAY
    (void)c;
    (void)s;
    return send_error(r, 501, "server_error", "not_implemented", NULL,
                      "this server was built without libwslay: no WebSocket endpoint");
#else
    if (atomic_load(&s->draining)) {
        metrics_reject(&s->met, REJ_SHUTTING_DOWN);
        return send_error(r, 503, "server_error", "shutting_down", NULL, "the server is shutting down");
    }
    const char *up = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade");
    const char *conn = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Connection");
    if (!up || !header_token(up, "websocket", NULL) || !conn || !header_token(conn, "upgrade", NULL))
        return send_error_h(r, 426, "invalid_request_error", "upgrade_required", NULL,
                            "this endpoint is a WebSocket (Upgrade: websocket)", "Upgrade", "websocket");
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *ver = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    if (!key || strlen(key) != 24 || !ver || strcmp(ver, "13"))
        return send_error_h(r, 400, "invalid_request_error", "invalid_websocket", NULL,
                            "a WebSocket handshake needs Sec-WebSocket-Key and Sec-WebSocket-Version 13",
                            "Sec-WebSocket-Version", "13");
    const char *intent = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "intent");
    if (!intent || strcmp(intent, "transcription"))
        return send_error(r, 400, "invalid_request_error", "invalid_value", "intent",
                          "only ?intent=transcription is supported (this server transcribes)");
    if (atomic_load(&s->loaded) != 1) {
        metrics_reject(&s->met, REJ_MODEL_LOADING);
        return send_error_h(r, 503, "server_error", "model_loading", NULL, "the model is still loading",
                            "Retry-After", "1");
    }
    if (live_acquire(&s->live) != 0) return send_streams_full(s, r);
    live_ws *w = live_ws_new(&s->live);
    if (!w) {
        live_release(&s->live);
        return send_error(r, 500, "server_error", NULL, NULL, "out of memory");
    }
    struct MHD_Response *resp = MHD_create_response_for_upgrade(live_ws_handler, w);
    if (!resp) {
        live_ws_discard(w);
        return send_error(r, 500, "server_error", NULL, NULL, "out of memory");
    }
    r->ws = w;                   /* req_free discards it if the upgrade never happens */
    char accept[29];
    rt_accept_key(key, accept);
    MHD_add_response_header(resp, "Upgrade", "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    /* a browser offers subprotocols (OpenAI's: "realtime", "openai-insecure-api-key.KEY"); one
     * that is offered must be chosen */
    const char *protos = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol");
    if (protos && header_token(protos, "realtime", NULL)) MHD_add_response_header(resp, "Sec-WebSocket-Protocol", "realtime");
    MHD_RESULT q = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    if (q == MHD_YES) r->status = 101;
    return q;
#endif
}

/* Authorization: Bearer KEY; on the WebSocket also the subprotocol "openai-insecure-api-key.KEY"
 * (a browser cannot set headers there).  Returns NULL, or why not. */
static const char *auth_fails(server *s, struct MHD_Connection *c, int ep) {
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && !strncasecmp(auth, "Bearer ", 7)) return ct_equal(auth + 7, s->cfg->api_key) ? NULL : "Incorrect API key provided.";
    const char *protos = ep == EP_REALTIME ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol") : NULL;
    size_t n = 0;
    const char *p = protos ? header_token(protos, "openai-insecure-api-key.", &n) : NULL;
    if (p) {
        char key[512];
        size_t kl = n - 24 < sizeof key - 1 ? n - 24 : sizeof key - 1;
        memcpy(key, p + 24, kl);
        key[kl] = '\0';
        return ct_equal(key, s->cfg->api_key) ? NULL : "Incorrect API key provided.";
    }
    return "You didn't provide an API key (Authorization: Bearer KEY).";
}

static MHD_RESULT on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                             const char *version, const char *upload_data, size_t *upload_data_size,
                             void **con_cls) {
    server *s = cls;
    req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->srv = s;
        r->conn = c;
        r->fd = -1;
        r->t0 = am_now();
        r->ep = route(url);
        atomic_fetch_add(&s->in_flight, 1);
        *con_cls = r;

        if (r->ep == EP_TRANSCRIPTIONS || r->ep == EP_TRANSLATIONS || r->ep == EP_MODELS || r->ep == EP_REALTIME) {
            const char *why = s->cfg->api_key ? auth_fails(s, c, r->ep) : NULL;
            if (why) return send_error(r, 401, "invalid_request_error", "invalid_api_key", NULL, why);
        }
        int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        switch (r->ep) {
        case EP_TRANSCRIPTIONS:
        case EP_TRANSLATIONS:
            if (strcmp(method, "POST"))
                return send_error_h(r, 405, "invalid_request_error", "method_not_allowed", NULL, "use POST",
                                    "Allow", "POST");
            r->upload = 1;
            r->translate = r->ep == EP_TRANSLATIONS;
            return begin_upload(s, r, c);
        case EP_OTHER:
            return send_error(r, 404, "invalid_request_error", "not_found", NULL, "no such endpoint");
        default:
            if (!is_get)
                return send_error_h(r, 405, "invalid_request_error", "method_not_allowed", NULL, "use GET",
                                    "Allow", "GET, HEAD");
            return MHD_YES;       /* answered at the next call, once any body is drained */
        }
    }

    if (!r->upload) {
        if (*upload_data_size) { *upload_data_size = 0; return MHD_YES; }   /* ignore a GET body */
        if (r->status) return MHD_YES;
        switch (r->ep) {
        case EP_HEALTH:
            return send_body(r, 200, "application/json", "{\"status\":\"ok\"}\n", 16, 0, NULL, NULL);
        case EP_READY: {
            int loaded = atomic_load(&s->loaded);
            if (loaded == 1 && !atomic_load(&s->draining) && !pool_full(&s->pool))
                return send_body(r, 200, "application/json", "{\"ready\":true}\n", 15, 0, NULL, NULL);
            const char *why = loaded == 0 ? "{\"ready\":false,\"reason\":\"model loading\"}\n"
                              : loaded < 0 ? "{\"ready\":false,\"reason\":\"model failed to load\"}\n"
                              : atomic_load(&s->draining) ? "{\"ready\":false,\"reason\":\"shutting down\"}\n"
                                                          : "{\"ready\":false,\"reason\":\"queue full\"}\n";
            return send_body(r, 503, "application/json", (char *)why, strlen(why), 0, NULL, NULL);
        }
        case EP_METRICS: return handle_metrics(s, r);
        case EP_MODELS: return handle_models(s, r, url);
        case EP_WEB: return handle_web(r, url);
        case EP_REALTIME: return handle_realtime(s, r, c);
        default: return send_error(r, 404, "invalid_request_error", "not_found", NULL, "no such endpoint");
        }
    }

    if (r->status) {                       /* answered early: drop the rest */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->received += n;
        metrics_add(&s->met, &s->met.upload_bytes, n);
        if (am_now() - r->t0 > s->cfg->timeout) {
            log_line("upload ran past --timeout; closing the connection");
            return MHD_NO;
        }
        if (r->received > s->max_body) {
            req_fail(r, 413, "request_too_large", "file", "the request body is larger than the server's limit of %ld MB",
                     s->cfg->max_upload_mb);
            if (r->received > 2 * s->max_body + (1u << 20)) return MHD_NO;   /* stop reading */
        }
        if (!r->err_status) {
            int rc = mp_feed(r->mp, upload_data, n);
            if (rc == MP_ERROR)
                req_fail(r, 400, "invalid_multipart", NULL, "malformed multipart body: %s", mp_error(r->mp));
        }
        if (r->err_status) {
            /* nothing more is kept: the temporary file goes now */
            drop_upload(r);
        }
        return MHD_YES;
    }
    return finish_upload(s, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    server *s = cls;
    req *r = *con_cls;
    (void)c;
    if (!r) return;
    int status = r->status ? r->status : 499;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status == 0) status = 499;
    metrics_request(&s->met, r->ep, status, am_now() - r->t0);
    req_free(s, r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    server *s = cls;
    (void)c;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&s->conn_open, 1);
        atomic_fetch_add(&s->conn_total, 1);
    } else {
        atomic_fetch_sub(&s->conn_open, 1);
    }
}

/* libmicrohttpd's messages, on stderr as its own logger writes them; the connections it closes
 * because --max-connections is reached are counted (it has no other hook for them) */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    server *s = cls;
    if (strstr(fmt, "connection limit")) atomic_fetch_add(&s->conn_refused, 1);
    vfprintf(stderr, fmt, ap);
}

/* ---- lifecycle -------------------------------------------------------------------------------- */

static void *loader_main(void *arg) {
    server *s = arg;
    if (s->cfg->load_delay_ms > 0) {
        struct timespec ts = {s->cfg->load_delay_ms / 1000, (long)(s->cfg->load_delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < s->cfg->n_models; i++) {
        char err[256];
        double t0 = am_now();
        am_load_options lo = am_load_options_default();
        lo.backend = s->cfg->backend;
        lo.device = s->cfg->device;
        if (am_model_load_ex(s->paths[i], &lo, &s->models[i], err, sizeof err) != AM_OK) {
            snprintf(s->load_err, sizeof s->load_err, "cannot load model %.200s: %.280s", s->paths[i], err);
            atomic_store(&s->loaded, -1);
            kill(getpid(), SIGUSR1);
            return NULL;
        }
        if (am_model_backend_warning(s->models[i])[0]) log_line("warning: %s", am_model_backend_warning(s->models[i]));
        log_line("model %s loaded in %.2f s on %s", s->names[i], am_now() - t0, am_model_backend(s->models[i]));
    }
    atomic_store(&s->loaded, 1);
    return NULL;
}

static void model_name(const char *arg, char *out, size_t size) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", arg);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = '\0';
    const char *base = strrchr(tmp, '/');
    base = base ? base + 1 : tmp;
    n = strlen(base); /* a display name: truncating a long one is fine */
    if (n >= size) n = size - 1;
    memcpy(out, base, n);
    out[n] = '\0';
    if (n > 4 && !strcmp(out + n - 4, ".bin")) out[n - 4] = '\0';
}

int server_run(const server_config *cfg) {
    server *s = calloc(1, sizeof *s);
    if (!s) {
        log_line("out of memory");
        return 1;
    }
    int status = 1;
    s->cfg = cfg;
    atomic_init(&s->loaded, 0);
    atomic_init(&s->draining, 0);
    atomic_init(&s->in_flight, 0);
    atomic_init(&s->conn_open, 0);
    atomic_init(&s->conn_total, 0);
    atomic_init(&s->conn_refused, 0);
    s->max_body = (unsigned long long)cfg->max_upload_mb << 20;
    s->threads_per_job = cfg->threads > 0 ? cfg->threads : am_cpu_count() / cfg->workers;
    if (s->threads_per_job < 1) s->threads_per_job = 1;

    for (int i = 0; i < cfg->n_models; i++) {
        char err[256];
        if (am_model_resolve(cfg->model_args[i], s->paths[i], sizeof s->paths[i], err, sizeof err) != AM_OK) {
            log_line("%s", err);
            free(s);
            return 1;
        }
        model_name(cfg->model_args[i], s->names[i], sizeof s->names[i]);
        for (int k = 0; k < i; k++)
            if (!strcmp(s->names[k], s->names[i])) {
                log_line("two models are named '%s'", s->names[i]);
                free(s);
                return 1;
            }
    }

    /* every thread started from here on inherits this mask; sigwait() below takes the signals */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);    /* past a file size limit, writing the upload fails (EFBIG): a 507 */

    if (metrics_init(&s->met) != 0) {
        free(s);
        return 1;
    }
    s->live.max_streams = cfg->max_streams;
    s->live.threads = cfg->threads > 0 ? cfg->threads : s->threads_per_job;
    s->live.idle_timeout = cfg->idle_timeout;
    s->live.models = s->models;
    s->live.names = (const char (*)[128])s->names;
    s->live.n_models = cfg->n_models;
    s->live.draining = &s->draining;
    if (live_hub_init(&s->live) != 0) {
        metrics_destroy(&s->met);
        free(s);
        return 1;
    }
    if (pool_start(&s->pool, cfg->workers, cfg->queue) != 0) {
        log_line("cannot start the worker threads");
        live_hub_destroy(&s->live);
        metrics_destroy(&s->met);
        free(s);
        return 1;
    }

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        log_line("cannot resolve --host %s: %s", cfg->host, gai_strerror(gai));
        goto out_pool;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (MHD_is_feature_supported(MHD_FEATURE_POLL)) flags |= MHD_USE_POLL;
#ifdef AM_HAVE_WSLAY
    flags |= MHD_ALLOW_UPGRADE;
#endif
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                                 MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) {
        log_line("cannot listen on %s:%d: %s", cfg->host, cfg->port, strerror(errno));
        goto out_pool;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    int bound = di ? (int)di->port : cfg->port;
    const char *h = cfg->host;
    int v6 = strchr(h, ':') != NULL;
    log_line("listening on http://%s%s%s:%d (%d worker%s, queue %d, %d thread%s per job)", v6 ? "[" : "", h,
             v6 ? "]" : "", bound, cfg->workers, cfg->workers == 1 ? "" : "s", cfg->queue, s->threads_per_job,
             s->threads_per_job == 1 ? "" : "s");

    if (pthread_create(&s->loader, NULL, loader_main, s) != 0) {
        log_line("cannot start the model loader");
        goto out_daemon;
    }
    s->loader_started = 1;

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGUSR1) {
            if (atomic_load(&s->loaded) < 0) {
                log_line("%s", s->load_err);
                status = 1;
                break;
            }
            continue;
        }
        if (sig == SIGHUP) continue;
        log_line("%s: finishing %ld request%s in flight, then exiting", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                 (long)atomic_load(&s->in_flight), atomic_load(&s->in_flight) == 1 ? "" : "s");
        atomic_store(&s->draining, 1);
        MHD_socket lsock = MHD_quiesce_daemon(s->daemon);
        double limit = am_now() + cfg->timeout + 5;
        while ((atomic_load(&s->in_flight) > 0 || atomic_load(&s->live.ws_threads) > 0) && am_now() < limit) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
        if (lsock != MHD_INVALID_SOCKET) close(lsock);
        status = 0;
        break;
    }

out_daemon:
    if (s->daemon) MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    if (s->loader_started) pthread_join(s->loader, NULL);
out_pool:
    pool_stop(&s->pool);
    /* WebSocket threads left (a peer that never answered the close) end within --idle-timeout */
    for (double limit = am_now() + cfg->idle_timeout + 10; atomic_load(&s->live.ws_threads) > 0 && am_now() < limit;) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < cfg->n_models; i++)
        if (s->models[i]) am_model_free(s->models[i]);
    metrics_destroy(&s->met);
    live_hub_destroy(&s->live);
    if (status == 0) log_line("stopped");
    free(s);
    return status;
}
