/* stream.c — `amanuensis stream`: live transcription (the am_stream_* API of amanuensis.h) of a file,
 * of standard input (any format FFmpeg reads, or raw PCM with --format/--rate) or of a microphone.
 *
 * Input.  A file is decoded first (audio_read_file into a spooled sample store) and read back by
 * range.  Standard input and the microphone are read by a reader thread into a queue (raw PCM is
 * converted and resampled to 16 kHz here, block by block, with src/audio's resampler: the samples
 * are those audio_resample gives on the whole signal).
 *
 * Pacing.  --speed max feeds pieces of 100 ms (as a sound card hands them over) as fast as they are
 * decoded, so two runs give the same events; the stream decodes every --step of them.  --speed
 * realtime feeds a file by the wall clock (standard input and
 * the microphone pace themselves); each round feeds everything that has arrived in one
 * am_stream_feed call, so when compute falls behind the step grows and no audio is dropped.
 *
 * Output.  --output text: committed text as lines (a line ends at a sentence end or at the end of
 * speech); on a terminal the partial follows it and is rewritten in place.  --output jsonl: one JSON
 * object per event.  -o FORMAT writes am_stream_result at the end.  SIGINT finishes the stream. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "amanuensis.h"
#include "audio/audio.h"
#include "audio/pcm.h"
#include "cli/cli.h"
#include "common/util.h"
#include "result/json.h"
#include "text/sbuf.h"

#ifdef AM_HAVE_AVDEVICE
#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#endif

#define SR AM_SAMPLE_RATE
#define MAX_OUT_FORMATS 5

static void stream_usage(FILE *f) {
    fprintf(f,
            "usage: amanuensis stream -m MODEL [options] [FILE|-]\n"
            "\n"
            "Live transcription: words are committed as two successive decodes agree on them; the rest is\n"
            "shown as a partial. FILE is any input transcribe reads; '-' or none reads standard input.\n"
            "\n"
            "  -m, --model PATH|NAME     model (as transcribe's -m)\n"
            "      --format s16le|f32le  standard input is raw mono PCM of this sample format ...\n"
            "      --rate HZ             ... at this sample rate (resampled to 16 kHz)\n"
            "      --mic                 capture from the default microphone (FFmpeg's pulse or alsa input)\n"
            "      --step SECONDS        new audio between decodes (default 1.0; at least 0.1)\n"
            "      --vad on|off          Silero VAD gates decoding, end of speech commits (default on)\n"
            "      --policy local-agreement|alignatt  which words are final: those two successive decodes\n"
            "                            agree on (default), or those the alignment puts --alignatt-margin\n"
            "                            seconds (default 0.6) before the end of the audio heard\n"
            "      --trim SECONDS        past this much buffered audio, cut the buffer at a committed\n"
            "                            segment end (default 15)\n"
            "      --max-buffer SECONDS  past this, commit what is pending and cut (default 25, at most 30)\n"
            "      --speed realtime|max  realtime: a file is fed by the wall clock, what has piled up fed at\n"
            "                            once (default); max: pieces of 100 ms as fast as it goes\n"
            "                            (deterministic)\n"
            "  -l, --language CODE       spoken language (default: en; auto on multilingual models)\n"
            "  -t, --threads N           threads (default: all cores)\n"
            "      --beam-size N         beam search width (default 1: greedy)\n"
            "      --backend NAME        where the model runs (as transcribe's)\n"
            "      --output text|jsonl   text: committed text as lines, the partial rewritten in place on a\n"
            "                            terminal (default); jsonl: one JSON object per event\n"
            "      --timing              jsonl: a \"compute\" member (wall seconds of the decode; not\n"
            "                            deterministic)\n"
            "  -o, --output-format F     at the end write the committed transcript as txt, srt, vtt, json\n"
            "                            or tsv (repeatable) to <input name>.<ext> (stream.<ext> for stdin)\n"
            "      --output-file PATH    ... to PATH instead (one format; from PATH's extension when no -o)\n"
            "      --stats               samples fed and processed, audio and compute seconds on stderr\n"
            "  -h, --help                this help\n");
}

/* ---- SIGINT ----------------------------------------------------------------------------------- */

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the process */
}

/* ---- raw PCM resampled block by block ------------------------------------------------------- */

/* audio_resample's output k sits at input time k*M/L (L/M = 16000/rate reduced) and reads the
 * input within its filter's reach; samples outside the signal count as zero.  A segment that starts
 * at a multiple of M sees the same phases, so output k computed from a segment holding its whole
 * reach equals the whole signal's.  `reach` bounds the filter's half-length (32 / (2 fc / in) taps,
 * fc = 0.97 of the lower Nyquist, resample.c) with room to spare. */
typedef struct rs_stream {
    int rate;
    uint64_t L, M;
    uint64_t reach;
    float *in;          /* input kept: global samples [in0, in0 + n_in) */
    size_t n_in, cap;
    uint64_t in0;
    uint64_t out_next;  /* next global output sample */
} rs_stream;

static uint64_t gcd64(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static void rs_init(rs_stream *r, int rate) {
    memset(r, 0, sizeof *r);
    r->rate = rate;
    uint64_t g = gcd64((uint64_t)rate, SR);
    r->L = SR / g;
    r->M = (uint64_t)rate / g;
    r->reach = (uint64_t)(20.0 * rate / (rate < SR ? rate : SR)) + 8;
}

/* Add n input samples (final: the input ends) and hand the 16 kHz samples now complete to emit. */
static int rs_push(rs_stream *r, const float *x, size_t n, int final, int (*emit)(void *, const float *, size_t),
                   void *user) {
    if (r->rate == SR) return n ? emit(user, x, n) : AM_OK;
    if (r->cap - r->n_in < n) {
        size_t cap = r->cap ? r->cap : 16384;
        while (cap - r->n_in < n) cap *= 2;
        float *g = realloc(r->in, cap * sizeof *g);
        if (!g) return AM_E_NOMEM;
        r->in = g;
        r->cap = cap;
    }
    if (n) memcpy(r->in + r->n_in, x, n * sizeof *x);
    r->n_in += n;
    const uint64_t total = r->in0 + r->n_in;
    uint64_t k_end = final ? (total * r->L + r->M - 1) / r->M
                           : (total > r->reach ? (total - r->reach) * r->L / r->M : 0);
    if (k_end <= r->out_next) return AM_OK;
    uint64_t t = r->out_next * r->M / r->L; /* input sample under the first output */
    uint64_t s = t > r->reach ? (t - r->reach) / r->M * r->M : 0;
    if (s < r->in0) return AM_E_INTERNAL; /* kept history is always enough (trimmed below) */
    float *y = NULL;
    size_t n_y = 0;
    int rc = audio_resample(r->in + (s - r->in0), (size_t)(total - s), r->rate, SR, &y, &n_y);
    if (rc != AM_OK) return rc;
    uint64_t j0 = r->out_next - s * r->L / r->M, j1 = k_end - s * r->L / r->M;
    if (j1 > n_y) j1 = n_y;
    rc = j1 > j0 ? emit(user, y + j0, (size_t)(j1 - j0)) : AM_OK;
    free(y);
    r->out_next = k_end;
    /* keep what the next outputs may read */
    t = r->out_next * r->M / r->L;
    s = t > r->reach ? (t - r->reach) / r->M * r->M : 0;
    if (s > r->in0) {
        size_t drop = (size_t)(s - r->in0);
        memmove(r->in, r->in + drop, (r->n_in - drop) * sizeof *r->in);
        r->n_in -= drop;
        r->in0 = s;
    }
    return rc;
}

/* ---- the queue between a reader thread and the feeding loop -------------------------------- */

typedef struct sample_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    float *v;
    size_t n, cap;
    uint64_t pushed;   /* samples pushed since the start */
    int eof;           /* the reader is done */
    int rc;            /* its status (AM_OK, or the error in err) */
    char err[512];
} sample_queue;

static int queue_push(void *user, const float *x, size_t n) {
    sample_queue *q = user;
    pthread_mutex_lock(&q->mu);
    if (q->cap - q->n < n) {
        size_t cap = q->cap ? q->cap : SR * 4;
        while (cap - q->n < n) cap *= 2;
        float *g = realloc(q->v, cap * sizeof *g);
        if (!g) {
            pthread_mutex_unlock(&q->mu);
            return AM_E_NOMEM;
        }
        q->v = g;
        q->cap = cap;
    }
    memcpy(q->v + q->n, x, n * sizeof *x);
    q->n += n;
    q->pushed += n;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return AM_OK;
}

static void queue_close(sample_queue *q, int rc, const char *err) {
    pthread_mutex_lock(&q->mu);
    q->eof = 1;
    q->rc = rc;
    if (rc != AM_OK) snprintf(q->err, sizeof q->err, "%s", err);
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* What the reader threads read. */
typedef struct reader {
    sample_queue *q;
    int raw_f32;   /* raw: f32le (else s16le) */
    int rate;      /* raw: input rate */
    struct AVFormatContext *device; /* --mic: the opened capture device */
} reader;

/* --mic's device when the run ends before its reader starts. */
static void reader_close_device(reader *rd) {
#ifdef AM_HAVE_AVDEVICE
    if (rd->device) avformat_close_input(&rd->device);
#else
    (void)rd;
#endif
}

static void *raw_reader_main(void *arg) {
    reader *rd = arg;
    const size_t width = rd->raw_f32 ? 4 : 2;
    unsigned char buf[16384];
    float x[16384 / 2];
    size_t have = 0;
    rs_stream rs;
    rs_init(&rs, rd->rate);
    int rc = AM_OK;
    char err[256] = "";
    for (;;) {
        ssize_t got = read(STDIN_FILENO, buf + have, sizeof buf - have);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = am_fail(err, sizeof err, AM_E_IO, "stdin: %s", strerror(errno));
            break;
        }
        have += (size_t)got;
        size_t n = have / width;
        for (size_t i = 0; i < n; i++) {
            const unsigned char *p = buf + i * width;
            if (rd->raw_f32) {
                uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
                float f;
                memcpy(&f, &u, sizeof f);
                x[i] = f != f ? 0.0f : f < -1.0f ? -1.0f : f > 1.0f ? 1.0f : f; /* NaN as silence */
            } else {
                x[i] = (float)(int16_t)(uint16_t)(p[0] | p[1] << 8) * (1.0f / 32768.0f); /* as wav.c */
            }
        }
        memmove(buf, buf + n * width, have - n * width);
        have -= n * width;
        if ((rc = rs_push(&rs, x, n, got == 0, queue_push, rd->q)) != AM_OK) {
            am_fail(err, sizeof err, rc, "stdin: %s", am_status_string(rc));
            break;
        }
        if (got == 0) break;
    }
    free(rs.in);
    queue_close(rd->q, rc, err);
    return NULL;
}

/* Encoded standard input (or the microphone): decoded block by block into the queue. */
static void *decoded_reader_main(void *arg) {
    reader *rd = arg;
    char err[512] = "";
    int rc = AM_E_NOMEM;
    pcm_store *sink = pcm_store_sink(queue_push, rd->q);
    if (!sink) {
        snprintf(err, sizeof err, "out of memory");
    } else {
#ifdef AM_HAVE_FFMPEG
        rc = audio_ffmpeg_read_stream(stdin, 0, NULL, 0, "stdin: ", sink, err, sizeof err);
#else
        rc = audio_read_file("-", sink, err, sizeof err); /* WAV only: read whole, then fed */
#endif
    }
    pcm_store_free(sink);
    queue_close(rd->q, rc, err);
    return NULL;
}

#ifdef AM_HAVE_AVDEVICE
/* The microphone's blocks go to the queue until SIGINT. */
static int mic_push(void *user, const float *x, size_t n) {
    return g_interrupted ? AM_E_ABORTED : queue_push(user, x, n);
}

/* The default capture device of PulseAudio, else of ALSA, asked for 16 kHz mono; NULL with the
 * message in err when neither opens.  The ALSA library writes its own complaints to stderr: they
 * go to /dev/null while the devices are tried (before the reader thread starts), so that the
 * failure is one line. */
static AVFormatContext *mic_open(char *err, size_t err_size) {
    static const char *const devices[] = {"pulse", "alsa"};
    char why[160] = "";
    AVFormatContext *fmt = NULL;
    av_log_set_level(AV_LOG_QUIET);
    avdevice_register_all();
    fflush(stderr);
    int saved = dup(STDERR_FILENO), devnull = open("/dev/null", O_WRONLY);
    if (saved >= 0 && devnull >= 0) dup2(devnull, STDERR_FILENO);
    for (size_t i = 0; i < sizeof devices / sizeof *devices && !fmt; i++) {
        const AVInputFormat *in = av_find_input_format(devices[i]);
        if (!in) continue;
        AVDictionary *o = NULL;
        av_dict_set(&o, "sample_rate", "16000", 0);
        av_dict_set(&o, "channels", "1", 0);
        int ret = avformat_open_input(&fmt, "default", in, &o);
        av_dict_free(&o);
        if (ret < 0) {
            fmt = NULL;
            char e[64];
            av_strerror(ret, e, sizeof e);
            size_t at = strlen(why);
            snprintf(why + at, sizeof why - at, "%s%s: %s", at ? "; " : "", devices[i], e);
        }
    }
    if (saved >= 0) {
        dup2(saved, STDERR_FILENO);
        close(saved);
    }
    if (devnull >= 0) close(devnull);
    if (!fmt) snprintf(err, err_size, "--mic: no capture device could be opened (%s)", why[0] ? why : "no pulse or alsa input");
    return fmt;
}

/* The opened device decoded (and resampled when it gives another rate) by src/audio/ffmpeg.c into
 * the queue until SIGINT. */
static void *mic_reader_main(void *arg) {
    reader *rd = arg;
    char err[512] = "";
    int rc;
    pcm_store *sink = pcm_store_sink(mic_push, rd->q);
    if (!sink) {
        avformat_close_input(&rd->device);
        rc = am_fail(err, sizeof err, AM_E_NOMEM, "out of memory");
    } else {
        rc = audio_ffmpeg_read_opened(rd->device, "microphone: ", sink, err, sizeof err);
        if (rc == AM_E_ABORTED) rc = AM_OK;
    }
    pcm_store_free(sink);
    queue_close(rd->q, rc, err);
    return NULL;
}
#endif

/* ---- events ------------------------------------------------------------------------------------ */

enum { OUT_TEXT, OUT_JSONL };

typedef struct stream_out {
    int mode;          /* OUT_* */
    int timing;        /* jsonl: "compute" */
    int tty;           /* text on a terminal: partial shown and rewritten */
    sbuf line;         /* text: the committed text of the current line */
    sbuf partial;      /* text on a terminal: the partial shown after it */
    uint64_t n_events[4];
    int failed;        /* stdout could not be written */
} stream_out;

static const char *event_name(am_stream_event_type t) {
    switch (t) {
    case AM_STREAM_PARTIAL: return "partial";
    case AM_STREAM_FINAL: return "final";
    case AM_STREAM_SPEECH_START: return "speech_start";
    case AM_STREAM_SPEECH_END: return "speech_end";
    }
    return "unknown";
}

static void write_jsonl(stream_out *o, const am_stream_event *e) {
    sbuf b = {0};
    sb_puts(&b, "{\"type\": ");
    json_cstring(&b, event_name(e->type));
    sb_puts(&b, ", \"text\": ");
    json_cstring(&b, e->text);
    sb_puts(&b, ", \"start\": ");
    json_seconds(&b, e->start);
    sb_puts(&b, ", \"end\": ");
    json_seconds(&b, e->end);
    sb_puts(&b, ", \"emitted_at\": ");
    json_seconds(&b, e->emitted_at);
    if (e->type == AM_STREAM_FINAL) {
        sb_puts(&b, ", \"words\": [");
        for (int i = 0; i < e->n_words; i++) {
            const am_word *w = &e->words[i];
            sb_puts(&b, i ? ", {\"word\": " : "{\"word\": ");
            json_cstring(&b, w->word);
            sb_puts(&b, ", \"start\": ");
            json_seconds(&b, w->start);
            sb_puts(&b, ", \"end\": ");
            json_seconds(&b, w->end);
            sb_puts(&b, ", \"probability\": ");
            json_real(&b, w->probability);
            sb_putc(&b, '}');
        }
        sb_putc(&b, ']');
    }
    if (o->timing && (e->type == AM_STREAM_PARTIAL || e->type == AM_STREAM_FINAL)) {
        sb_puts(&b, ", \"compute\": ");
        json_seconds(&b, e->compute_seconds);
    }
    sb_puts(&b, "}\n");
    if (b.oom || fwrite(b.p, 1, b.len, stdout) != b.len) o->failed = 1;
    sb_free(&b);
}

/* Columns of the terminal (80 when unknown). */
static int terminal_width(void) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

/* The end of s that fits in `cols` columns (one column per code point). */
static const char *tail_columns(const char *s, size_t len, int cols) {
    const char *p = s + len;
    int n = 0;
    while (p > s) {
        const char *q = p - 1;
        while (q > s && ((unsigned char)*q & 0xC0) == 0x80) q--;
        if (++n > cols) break;
        p = q;
    }
    return p;
}

/* A terminal: the current line's committed text, then the partial (dim), in place. */
static void redraw(stream_out *o) {
    sbuf b = {0};
    if (o->line.len) sb_put(&b, o->line.p, o->line.len);
    size_t committed = b.len;
    if (o->partial.len) sb_put(&b, o->partial.p, o->partial.len);
    if (b.oom) {
        sb_free(&b);
        return;
    }
    const char *from = b.len ? tail_columns(b.p, b.len, terminal_width() - 1) : "";
    size_t off = b.len ? (size_t)(from - b.p) : 0;
    fputs("\r\033[2K", stdout);
    if (off < committed) fwrite(b.p + off, 1, committed - off, stdout);
    if (b.len > committed) {
        size_t p0 = off > committed ? off : committed;
        fputs("\033[2m", stdout);
        fwrite(b.p + p0, 1, b.len - p0, stdout);
        fputs("\033[0m", stdout);
    }
    sb_free(&b);
}

/* End the current text line. */
static void end_line(stream_out *o) {
    if (o->line.len == 0) return;
    if (o->tty) {
        fputs("\r\033[2K", stdout);
        fwrite(o->line.p, 1, o->line.len, stdout);
    }
    fputc('\n', stdout);
    o->line.len = 0;
}

static void write_text(stream_out *o, const am_stream_event *e) {
    if (e->type == AM_STREAM_FINAL) o->partial.len = 0; /* the partial that follows replaces it */
    if (e->type == AM_STREAM_FINAL && e->text[0]) {
        const char *t = e->text;
        if (o->line.len == 0) t += strspn(t, " ");
        sb_puts(&o->line, t);
        if (!o->tty) fputs(t, stdout);
        size_t n = strlen(e->text);
        while (n > 0 && e->text[n - 1] == ' ') n--;
        if (n > 0 && strchr(".?!", e->text[n - 1])) end_line(o);
    } else if (e->type == AM_STREAM_SPEECH_END) {
        end_line(o);
    } else if (e->type == AM_STREAM_PARTIAL && o->tty) {
        o->partial.len = 0;
        const char *t = e->text;
        if (o->line.len == 0) t += strspn(t, " ");
        sb_puts(&o->partial, t);
        if (o->line.oom || o->partial.oom) o->failed = 1;
    }
    if (o->tty) redraw(o);
}

static void on_event(const am_stream_event *e, void *user) {
    stream_out *o = user;
    if ((unsigned)e->type < 4) o->n_events[e->type]++;
    if (o->mode == OUT_JSONL) write_jsonl(o, e);
    else write_text(o, e);
    if (fflush(stdout) != 0) o->failed = 1;
}

/* ---- the feeding loop -------------------------------------------------------------------------- */

typedef struct feeder {
    am_stream *st;
    double compute;    /* wall seconds inside am_stream_feed / am_stream_finish */
    char err[1024];
} feeder;

static int feed(feeder *f, const float *x, size_t n) {
    double t0 = am_now();
    int rc = am_stream_feed(f->st, x, n, f->err, sizeof f->err);
    f->compute += am_now() - t0;
    return rc;
}

static void sleep_seconds(double s) {
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL); /* SIGINT cuts it short */
}

/* A decoded file in `pcm`: pieces of `piece` samples (max), or what the wall clock has reached
 * (realtime). */
static int feed_file(feeder *f, const pcm_store *pcm, size_t piece, int realtime) {
    const size_t total = pcm_store_size(pcm), tick = SR / 20;
    size_t cap = realtime ? SR * 4 : piece, pos = 0;
    float *buf = malloc(cap * sizeof *buf);
    if (!buf) return am_fail(f->err, sizeof f->err, AM_E_NOMEM, "out of memory");
    const double t0 = am_now();
    int rc = AM_OK;
    while (pos < total && !g_interrupted) {
        size_t n = total - pos < piece ? total - pos : piece;
        if (realtime) {
            double clock = (am_now() - t0) * SR;
            size_t reached = clock >= (double)total ? total : (size_t)clock;
            if (reached < total && reached < pos + tick) {
                sleep_seconds((double)(pos + tick - reached) / SR);
                continue;
            }
            n = reached - pos; /* everything that has piled up, in one feed */
            if (n > cap) {
                float *g = realloc(buf, n * sizeof *g);
                if (!g) {
                    rc = am_fail(f->err, sizeof f->err, AM_E_NOMEM, "out of memory");
                    break;
                }
                buf = g;
                cap = n;
            }
        }
        if ((rc = pcm_store_read(pcm, pos, n, buf)) != AM_OK) {
            am_fail(f->err, sizeof f->err, rc, "%s", pcm_store_error(pcm));
            break;
        }
        if ((rc = feed(f, buf, n)) != AM_OK) break;
        pos += n;
    }
    free(buf);
    return rc;
}

/* The queue of a reader thread: pieces of `piece` samples (max), or all that has arrived (realtime;
 * `paced`: no faster than the wall clock, for a regular file on standard input). */
static int feed_queue(feeder *f, sample_queue *q, size_t piece, int realtime, int paced) {
    size_t cap = SR * 4;
    float *buf = malloc(cap * sizeof *buf);
    if (!buf) return am_fail(f->err, sizeof f->err, AM_E_NOMEM, "out of memory");
    const double t0 = am_now();
    uint64_t taken = 0;
    int rc = AM_OK;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        size_t want = realtime ? 1 : piece;
        while (!g_interrupted && !q->eof && q->n < want) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&q->cv, &q->mu, &ts);
        }
        if (g_interrupted || (q->eof && q->rc != AM_OK)) {
            pthread_mutex_unlock(&q->mu);
            break;
        }
        size_t n = realtime ? q->n : q->n < piece ? q->n : piece;
        if (realtime && paced) {
            double clock = (am_now() - t0) * SR;
            if ((double)(taken + n) > clock) n = clock > (double)taken ? (size_t)(clock - (double)taken) : 0;
        }
        if (n > cap) {
            float *g = realloc(buf, n * sizeof *g);
            if (!g) {
                pthread_mutex_unlock(&q->mu);
                rc = am_fail(f->err, sizeof f->err, AM_E_NOMEM, "out of memory");
                break;
            }
            buf = g;
            cap = n;
        }
        memcpy(buf, q->v, n * sizeof *buf);
        memmove(q->v, q->v + n, (q->n - n) * sizeof *q->v);
        q->n -= n;
        int done = q->eof && q->n == 0;
        pthread_mutex_unlock(&q->mu);
        if (n == 0 && !done) {
            sleep_seconds(0.05);
            continue;
        }
        taken += n;
        if (n && (rc = feed(f, buf, n)) != AM_OK) break;
        if (done) break;
    }
    free(buf);
    if (rc == AM_OK && !g_interrupted) {
        pthread_mutex_lock(&q->mu);
        if (q->eof && q->rc != AM_OK) {
            rc = q->rc;
            snprintf(f->err, sizeof f->err, "%s", q->err);
        }
        pthread_mutex_unlock(&q->mu);
    }
    return rc;
}

/* ---- outputs at the end ----------------------------------------------------------------------- */

/* <input name without folder and extension>, or "stream" for standard input and the microphone. */
static void output_stem(const char *input, char *out, size_t size) {
    if (!input || !strcmp(input, "-")) {
        snprintf(out, size, "stream");
        return;
    }
    const char *base = strrchr(input, '/');
    base = base ? base + 1 : input;
    const char *dot = strrchr(base, '.');
    int n = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    snprintf(out, size, "%.*s", n, base);
}

/* One output through PATH.part and a rename (as transcribe's). */
static int write_result_file(const am_result *res, am_format format, const char *path) {
    char part[8200];
    snprintf(part, sizeof part, "%s.part", path);
    errno = 0;
    FILE *fo = fopen(part, "wb");
    int rc = fo ? am_write_result(res, format, fo) : AM_E_IO;
    if (fo && fclose(fo) != 0) rc = AM_E_IO;
    if (rc == AM_OK && rename(part, path) != 0) rc = AM_E_IO;
    if (rc != AM_OK) {
        int e = errno;
        if (fo) remove(part);
        fprintf(stderr, "amanuensis: cannot write %s: %s\n", path, e ? strerror(e) : am_status_string(rc));
        return -1;
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------------------- */

enum {
    S_FORMAT = 256, S_RATE, S_MIC, S_STEP, S_VAD, S_SPEED, S_BEAM, S_OUTPUT, S_TIMING, S_OUTFILE, S_STATS,
    S_BACKEND, S_POLICY, S_MARGIN, S_TRIM, S_MAXBUF
};

int cli_stream(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},          {"threads", required_argument, 0, 't'},
        {"language", required_argument, 0, 'l'},       {"format", required_argument, 0, S_FORMAT},
        {"rate", required_argument, 0, S_RATE},        {"mic", no_argument, 0, S_MIC},
        {"step", required_argument, 0, S_STEP},        {"vad", required_argument, 0, S_VAD},
        {"speed", required_argument, 0, S_SPEED},      {"beam-size", required_argument, 0, S_BEAM},
        {"output", required_argument, 0, S_OUTPUT},    {"timing", no_argument, 0, S_TIMING},
        {"output-format", required_argument, 0, 'o'},  {"output-file", required_argument, 0, S_OUTFILE},
        {"stats", no_argument, 0, S_STATS},            {"backend", required_argument, 0, S_BACKEND},
        {"policy", required_argument, 0, S_POLICY},    {"alignatt-margin", required_argument, 0, S_MARGIN},
        {"trim", required_argument, 0, S_TRIM},        {"max-buffer", required_argument, 0, S_MAXBUF},
        {"help", no_argument, 0, 'h'},                 {0, 0, 0, 0}};
    am_stream_params sp = am_stream_params_default();
    am_load_options load_opts = am_load_options_default();
    const char *model_arg = NULL, *out_file = NULL;
    int raw = 0, raw_f32 = 0, rate = 0, mic = 0, realtime = 1, stats = 0, bad = 0;
    int formats[MAX_OUT_FORMATS], n_formats = 0;
    stream_out out;
    memset(&out, 0, sizeof out);
    out.mode = OUT_TEXT;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "m:t:l:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_arg = optarg; break;
        case 't': {
            double v = cli_parse_double(optarg, "--threads", &bad);
            if (bad) return 2;
            if (v < 0 || v > 1024 || v != (int)v) return cli_die_usage("--threads must be a whole number 0..1024", optarg);
            sp.decode.n_threads = (int)v;
            break;
        }
        case 'l': sp.decode.language = optarg; break;
        case S_FORMAT:
            if (!strcmp(optarg, "s16le")) raw_f32 = 0;
            else if (!strcmp(optarg, "f32le")) raw_f32 = 1;
            else return cli_die_usage("--format must be s16le or f32le", optarg);
            raw = 1;
            break;
        case S_RATE: {
            double v = cli_parse_double(optarg, "--rate", &bad);
            if (bad) return 2;
            if (v != (int)v || v < 1000 || v > 384000) return cli_die_usage("--rate must be a whole number of Hz 1000..384000", optarg);
            rate = (int)v;
            break;
        }
        case S_MIC: mic = 1; break;
        case S_STEP: {
            double v = cli_parse_double(optarg, "--step", &bad);
            if (bad) return 2;
            if (!(v >= 0.1 && v <= 30)) return cli_die_usage("--step must be in [0.1, 30] seconds", optarg);
            sp.step_s = (float)v;
            break;
        }
        case S_VAD:
            if (!strcmp(optarg, "on")) sp.decode.vad = AM_VAD_SILERO;
            else if (!strcmp(optarg, "off")) sp.decode.vad = AM_VAD_OFF;
            else return cli_die_usage("--vad must be on or off", optarg);
            break;
        case S_POLICY:
            if (!strcmp(optarg, "local-agreement")) sp.policy = AM_STREAM_LOCAL_AGREEMENT;
            else if (!strcmp(optarg, "alignatt")) sp.policy = AM_STREAM_ALIGNATT;
            else return cli_die_usage("--policy must be local-agreement or alignatt", optarg);
            break;
        case S_TRIM:
        case S_MAXBUF: {
            double v = cli_parse_double(optarg, c == S_TRIM ? "--trim" : "--max-buffer", &bad);
            if (bad) return 2;
            if (c == S_TRIM) sp.trim_s = (float)v;
            else sp.max_buffer_s = (float)v; /* the range is am_stream_create's to check */
            break;
        }
        case S_MARGIN: {
            double v = cli_parse_double(optarg, "--alignatt-margin", &bad);
            if (bad) return 2;
            if (!(v >= 0 && v <= 10)) return cli_die_usage("--alignatt-margin must be in [0, 10] seconds", optarg);
            sp.alignatt_margin_s = (float)v;
            break;
        }
        case S_SPEED:
            if (!strcmp(optarg, "realtime")) realtime = 1;
            else if (!strcmp(optarg, "max")) realtime = 0;
            else return cli_die_usage("--speed must be realtime or max", optarg);
            break;
        case S_BEAM: {
            double v = cli_parse_double(optarg, "--beam-size", &bad);
            if (bad) return 2;
            if (v != (int)v || v < 1 || v > 64) return cli_die_usage("--beam-size must be a whole number 1..64", optarg);
            sp.decode.beam_size = (int)v;
            break;
        }
        case S_OUTPUT:
            if (!strcmp(optarg, "text")) out.mode = OUT_TEXT;
            else if (!strcmp(optarg, "jsonl")) out.mode = OUT_JSONL;
            else return cli_die_usage("--output must be text or jsonl", optarg);
            break;
        case S_TIMING: out.timing = 1; break;
        case 'o': {
            int f = am_format_from_name(optarg);
            if (f < 0) return cli_die_usage("unknown output format", optarg);
            if (n_formats < MAX_OUT_FORMATS) formats[n_formats++] = f;
            break;
        }
        case S_OUTFILE: out_file = optarg; break;
        case S_STATS: stats = 1; break;
        case S_BACKEND: load_opts.backend = optarg; break;
        case 'h': stream_usage(stdout); return 0;
        default: return 2; /* getopt printed the problem */
        }
    }
    if (!model_arg) return cli_die_usage("missing -m MODEL", NULL);
    if (argc - optind > 1) return cli_die_usage("stream takes one input", argv[optind + 1]);
    const char *input = optind < argc ? argv[optind] : "-";
    if (mic && optind < argc) return cli_die_usage("--mic takes no input file", input);
    if (mic && raw) return cli_die_usage("--format is for standard input, not --mic", NULL);
    if (raw && strcmp(input, "-") != 0) return cli_die_usage("--format is for standard input ('-')", input);
    if (raw && !rate) return cli_die_usage("--format needs --rate HZ", NULL);
    if (rate && !raw) return cli_die_usage("--rate needs --format", NULL);
    if (out_file && n_formats > 1) return cli_die_usage("--output-file takes one -o format", NULL);
    if (out_file && n_formats == 0) {
        const char *dot = strrchr(out_file, '.');
        int f = dot ? am_format_from_name(dot + 1) : -1;
        if (f < 0) return cli_die_usage("--output-file needs -o FORMAT (no known extension)", out_file);
        formats[n_formats++] = f;
    }
#ifndef AM_HAVE_AVDEVICE
    if (mic) {
        fprintf(stderr, "amanuensis: --mic needs FFmpeg's input devices (libavdevice), which this build does not "
                        "have; pipe a recorder instead (arecord -f S16_LE -r 16000 -t raw | amanuensis stream -m MODEL "
                        "--format s16le --rate 16000 -)\n");
        return 1;
    }
#endif

    /* the input first: a missing or undecodable file fails before the model is loaded */
    pcm_store *pcm = NULL;
    if (!mic && strcmp(input, "-") != 0) {
        char err[1024] = "";
        if (!(pcm = pcm_store_new(1))) {
            fprintf(stderr, "amanuensis: out of memory\n");
            return 1;
        }
        if (audio_read_file(input, pcm, err, sizeof err) != AM_OK) {
            fprintf(stderr, "amanuensis: %s\n", err);
            pcm_store_free(pcm);
            return 1;
        }
    }
    static reader rd;
#ifdef AM_HAVE_AVDEVICE
    if (mic) {
        char err[512];
        if (!(rd.device = mic_open(err, sizeof err))) {
            fprintf(stderr, "amanuensis: %s\n", err);
            return 1;
        }
    }
#endif
    am_model *model = cli_load_model(model_arg, &load_opts);
    if (!model) {
        pcm_store_free(pcm);
        reader_close_device(&rd);
        return 1;
    }
    out.tty = out.mode == OUT_TEXT && isatty(STDOUT_FILENO);
    sp.on_event = on_event;
    sp.user_data = &out;
    feeder fd;
    memset(&fd, 0, sizeof fd);
    if (am_stream_create(model, &sp, &fd.st, fd.err, sizeof fd.err) != AM_OK) {
        fprintf(stderr, "amanuensis: %s\n", fd.err);
        am_model_free(model);
        pcm_store_free(pcm);
        reader_close_device(&rd);
        return 1;
    }

    if (sp.decode.vad != AM_VAD_OFF && !am_stream_gated(fd.st))
        fprintf(stderr, "amanuensis: warning: no Silero VAD weights found (silero-vad-v6.2.0-ggml.bin; see "
                        "AMANUENSIS_VAD_MODEL): every step is decoded, silence too\n");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: waits and sleeps are cut short */

    /* max: 100 ms pieces, as a sound card hands them over; the stream decodes every --step of
     * them, and an event's emitted_at is exact to 100 ms */
    const size_t piece = SR / 10;
    const double t_start = am_now();
    int rc;
    static sample_queue q; /* static: a reader blocked on stdin when SIGINT comes is left running */
    int reader_running = 0;
    pthread_t th;
    if (pcm) {
        rc = feed_file(&fd, pcm, piece, realtime);
    } else {
        pthread_mutex_init(&q.mu, NULL);
        pthread_cond_init(&q.cv, NULL);
        rd.q = &q;
        rd.raw_f32 = raw_f32;
        rd.rate = rate;
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        pthread_sigmask(SIG_BLOCK, &block, &old); /* SIGINT goes to this thread, not the reader */
        void *(*reader_main)(void *) = raw ? raw_reader_main : decoded_reader_main;
#ifdef AM_HAVE_AVDEVICE
        if (mic) reader_main = mic_reader_main;
#endif
        rc = pthread_create(&th, NULL, reader_main, &rd);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            reader_close_device(&rd);
            rc = am_fail(fd.err, sizeof fd.err, AM_E_NOMEM, "cannot start the reader thread");
        } else {
            reader_running = 1;
            struct stat st;
            int paced = !mic && fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode);
            rc = feed_queue(&fd, &q, piece, realtime, paced);
        }
    }
    if (rc == AM_OK) {
        double t0 = am_now();
        rc = am_stream_finish(fd.st, fd.err, sizeof fd.err);
        fd.compute += am_now() - t0;
    }
    const double wall = am_now() - t_start;
    if (out.mode == OUT_TEXT) {
        out.partial.len = 0;
        if (out.tty) redraw(&out);
        end_line(&out);
        fflush(stdout);
    }
    int status = 0;
    if (rc != AM_OK) {
        fprintf(stderr, "amanuensis: %s\n", fd.err[0] ? fd.err : am_status_string(rc));
        status = 1;
    }
    if (out.failed) {
        fprintf(stderr, "amanuensis: cannot write to standard output\n");
        status = 1;
    }
    if (n_formats > 0 && rc == AM_OK) {
        am_result *res = NULL;
        char err[1024] = "";
        if (am_stream_result(fd.st, &res, err, sizeof err) != AM_OK) {
            fprintf(stderr, "amanuensis: %s\n", err);
            status = 1;
        } else {
            char stem[4096], path[8192];
            output_stem(mic ? NULL : input, stem, sizeof stem);
            for (int i = 0; i < n_formats; i++) {
                if (out_file) snprintf(path, sizeof path, "%s", out_file);
                else snprintf(path, sizeof path, "%s.%s", stem, am_format_extension((am_format)formats[i]));
                if (write_result_file(res, (am_format)formats[i], path) != 0) status = 1;
            }
            am_result_free(res);
        }
    }
    const uint64_t fed = am_stream_samples_fed(fd.st), processed = am_stream_samples_processed(fd.st);
    if (stats) {
        double audio = (double)fed / SR;
        fprintf(stderr,
                "stream: samples fed %llu, processed %llu; audio %.3f s, compute %.3f s, compute/audio %.3f, "
                "wall %.3f s; events: %llu partial, %llu final, %llu speech_start, %llu speech_end\n",
                (unsigned long long)fed, (unsigned long long)processed, audio, fd.compute,
                audio > 0 ? fd.compute / audio : 0.0, wall, (unsigned long long)out.n_events[AM_STREAM_PARTIAL],
                (unsigned long long)out.n_events[AM_STREAM_FINAL],
                (unsigned long long)out.n_events[AM_STREAM_SPEECH_START],
                (unsigned long long)out.n_events[AM_STREAM_SPEECH_END]);
    }
    if (rc == AM_OK && fed != processed) {
        fprintf(stderr, "amanuensis: warning: %llu samples fed but %llu processed\n", (unsigned long long)fed,
                (unsigned long long)processed);
    }
    am_stream_free(fd.st);
    am_model_free(model);
    pcm_store_free(pcm);
    sb_free(&out.line);
    sb_free(&out.partial);
    if (reader_running) {
        pthread_mutex_lock(&q.mu);
        int eof = q.eof;
        pthread_mutex_unlock(&q.mu);
        if (eof) {
            pthread_join(th, NULL);
            free(q.v);
        } else {
            pthread_detach(th); /* blocked on its input (SIGINT): the process ends around it */
        }
    }
    return status;
}
