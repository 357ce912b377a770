/* realtime.c — the OpenAI Realtime transcription protocol over wslay (see realtime.h).
 *
 * Pieces: a small JSON reader for the client's events (a node table over the message, strings
 * unescaped on demand), base64, a streaming 24 kHz -> 16 kHz resampler (windowed sinc, two
 * phases), the items (an item opens at speech start or at its first text and ends at speech end or
 * commit), and the WebSocket handshake key (SHA-1). */
#define _GNU_SOURCE
#include "server/realtime.h"

#ifdef AM_HAVE_WSLAY

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>

#include "result/json.h"
#include "text/sbuf.h"

/* ---- JSON reader -------------------------------------------------------------------------------- */

enum { JN_NULL, JN_BOOL, JN_NUM, JN_STR, JN_ARR, JN_OBJ };
#define JMAX_NODES 256
#define JMAX_DEPTH 16

typedef struct jnode {
    int type;
    const char *p;        /* the value's text (a string: between its quotes)                    */
    size_t n;
    const char *kp;       /* the member's key (between its quotes), in an object                 */
    size_t kn;
    int child, next;      /* first element or member; next sibling (-1: none)                   */
} jnode;

typedef struct jdoc {
    jnode nodes[JMAX_NODES];
    int n;
    const char *s, *e;    /* cursor and end                                                      */
} jdoc;

static void jws(jdoc *d) {
    while (d->s < d->e && (*d->s == ' ' || *d->s == '\t' || *d->s == '\n' || *d->s == '\r')) d->s++;
}

static int jhex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* a string's body; the cursor is past the opening quote.  Returns 0 and the span, or -1. */
static int jstring_span(jdoc *d, const char **p, size_t *n) {
    const char *a = d->s;
    while (d->s < d->e) {
        unsigned char c = (unsigned char)*d->s;
        if (c == '"') {
            *p = a;
            *n = (size_t)(d->s - a);
            d->s++;
            return 0;
        }
        if (c < 0x20) return -1;
        if (c == '\\') {
            if (d->e - d->s < 2) return -1;
            char x = d->s[1];
            if (x == 'u') {
                if (d->e - d->s < 6) return -1;
                for (int i = 2; i < 6; i++)
                    if (jhex(d->s[i]) < 0) return -1;
                d->s += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", x)) return -1;
            d->s += 2;
            continue;
        }
        d->s++;
    }
    return -1;
}

static int jvalue(jdoc *d, int depth);

static int jnew(jdoc *d, int type) {
    if (d->n >= JMAX_NODES) return -1;
    jnode *x = &d->nodes[d->n];
    memset(x, 0, sizeof *x);
    x->type = type;
    x->child = x->next = -1;
    return d->n++;
}

static int jlist(jdoc *d, int depth, int obj) {
    int id = jnew(d, obj ? JN_OBJ : JN_ARR);
    if (id < 0 || depth >= JMAX_DEPTH) return -1;
    const char *start = d->s - 1;
    int last = -1;
    jws(d);
    if (d->s < d->e && *d->s == (obj ? '}' : ']')) {
        d->s++;
        d->nodes[id].p = start;
        d->nodes[id].n = (size_t)(d->s - start);
        return id;
    }
    for (;;) {
        const char *kp = NULL;
        size_t kn = 0;
        jws(d);
        if (obj) {
            if (d->s >= d->e || *d->s != '"') return -1;
            d->s++;
            if (jstring_span(d, &kp, &kn)) return -1;
            jws(d);
            if (d->s >= d->e || *d->s != ':') return -1;
            d->s++;
        }
        int v = jvalue(d, depth + 1);
        if (v < 0) return -1;
        d->nodes[v].kp = kp;
        d->nodes[v].kn = kn;
        if (last < 0) d->nodes[id].child = v;
        else d->nodes[last].next = v;
        last = v;
        jws(d);
        if (d->s >= d->e) return -1;
        char c = *d->s++;
        if (c == ',') continue;
        if (c != (obj ? '}' : ']')) return -1;
        d->nodes[id].p = start;
        d->nodes[id].n = (size_t)(d->s - start);
        return id;
    }
}

static int jvalue(jdoc *d, int depth) {
    jws(d);
    if (d->s >= d->e) return -1;
    char c = *d->s;
    if (c == '{' || c == '[') {
        d->s++;
        return jlist(d, depth, c == '{');
    }
    if (c == '"') {
        d->s++;
        int id = jnew(d, JN_STR);
        if (id < 0) return -1;
        return jstring_span(d, &d->nodes[id].p, &d->nodes[id].n) ? -1 : id;
    }
    static const struct { const char *w; int type; } lit[] = {{"null", JN_NULL}, {"true", JN_BOOL}, {"false", JN_BOOL}};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(lit[i].w);
        if ((size_t)(d->e - d->s) >= l && !memcmp(d->s, lit[i].w, l)) {
            int id = jnew(d, lit[i].type);
            if (id < 0) return -1;
            d->nodes[id].p = d->s;
            d->nodes[id].n = l;
            d->s += l;
            return id;
        }
    }
    /* a number: -?digits[.digits][e[+-]digits] */
    const char *a = d->s;
    if (d->s < d->e && *d->s == '-') d->s++;
    const char *digits = d->s;
    while (d->s < d->e && *d->s >= '0' && *d->s <= '9') d->s++;
    if (d->s == digits) return -1;
    if (d->s < d->e && *d->s == '.') {
        d->s++;
        const char *f = d->s;
        while (d->s < d->e && *d->s >= '0' && *d->s <= '9') d->s++;
        if (d->s == f) return -1;
    }
    if (d->s < d->e && (*d->s == 'e' || *d->s == 'E')) {
        d->s++;
        if (d->s < d->e && (*d->s == '+' || *d->s == '-')) d->s++;
        const char *f = d->s;
        while (d->s < d->e && *d->s >= '0' && *d->s <= '9') d->s++;
        if (d->s == f) return -1;
    }
    int id = jnew(d, JN_NUM);
    if (id < 0) return -1;
    d->nodes[id].p = a;
    d->nodes[id].n = (size_t)(d->s - a);
    return id;
}

/* the whole message as one value; returns its node or -1 */
static int jparse(jdoc *d, const char *s, size_t n) {
    if (n == 0) return -1;                 /* (an empty message may come with a NULL pointer) */
    d->n = 0;
    d->s = s;
    d->e = s + n;
    int root = jvalue(d, 0);
    if (root < 0) return -1;
    jws(d);
    return d->s == d->e ? root : -1;
}

/* the member `key` of object node o (keys compared as written), or -1 */
static int jget(const jdoc *d, int o, const char *key) {
    if (o < 0 || d->nodes[o].type != JN_OBJ) return -1;
    size_t kl = strlen(key);
    for (int c = d->nodes[o].child; c >= 0; c = d->nodes[c].next)
        if (d->nodes[c].kn == kl && !memcmp(d->nodes[c].kp, key, kl)) return c;
    return -1;
}

/* a string node unescaped into out[cap] (NUL-terminated, UTF-8); returns its length or -1 (not a
 * string, too long) */
static long jstr(const jdoc *d, int id, char *out, size_t cap) {
    if (id < 0 || d->nodes[id].type != JN_STR || cap == 0) return -1;
    const char *p = d->nodes[id].p, *e = p + d->nodes[id].n;
    size_t o = 0;
    while (p < e) {
        unsigned cp;
        if (*p != '\\') {
            if (o + 1 >= cap) return -1;
            out[o++] = *p++;
            continue;
        }
        char x = p[1];
        p += 2;
        switch (x) {
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            cp = (unsigned)(jhex(p[0]) << 12 | jhex(p[1]) << 8 | jhex(p[2]) << 4 | jhex(p[3]));
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && e - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = (unsigned)(jhex(p[2]) << 12 | jhex(p[3]) << 8 | jhex(p[4]) << 4 | jhex(p[5]));
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;    /* a lone surrogate */
            break;
        default: cp = (unsigned char)x; break;             /* " \ / */
        }
        unsigned char u[4];
        size_t k = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (k == 1) u[0] = (unsigned char)cp;
        else if (k == 2) { u[0] = (unsigned char)(0xC0 | cp >> 6); u[1] = (unsigned char)(0x80 | (cp & 63)); }
        else if (k == 3) {
            u[0] = (unsigned char)(0xE0 | cp >> 12);
            u[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
            u[2] = (unsigned char)(0x80 | (cp & 63));
        } else {
            u[0] = (unsigned char)(0xF0 | cp >> 18);
            u[1] = (unsigned char)(0x80 | ((cp >> 12) & 63));
            u[2] = (unsigned char)(0x80 | ((cp >> 6) & 63));
            u[3] = (unsigned char)(0x80 | (cp & 63));
        }
        if (o + k >= cap) return -1;
        memcpy(out + o, u, k);
        o += k;
    }
    out[o] = '\0';
    return (long)o;
}

/* a number node as an integer in [lo, hi]; returns 0 or -1 */
static int jint(const jdoc *d, int id, long lo, long hi, long *out) {
    if (id < 0 || d->nodes[id].type != JN_NUM || d->nodes[id].n > 30) return -1;
    char buf[32];
    memcpy(buf, d->nodes[id].p, d->nodes[id].n);
    buf[d->nodes[id].n] = '\0';
    double v = strtod(buf, NULL);
    if (!(v >= (double)lo && v <= (double)hi) || v != floor(v)) return -1;
    *out = (long)v;
    return 0;
}

/* ---- base64 ------------------------------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* s[n] -> out (at least n / 4 * 3 + 3 bytes); "=" padding optional, nothing after it.  Returns the
 * byte count or -1. */
static long b64_decode(const char *s, size_t n, unsigned char *out) {
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0, i = 0, pad = 0;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '=') break;
        int v = b64_value(c);
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    for (; i < n; i++, pad++)
        if (s[i] != '=') return -1;
    if (pad > 2 || bits >= 6 || (pad && (n % 4))) return -1;
    return (long)o;
}

static void b64_encode(const unsigned char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
}

/* ---- SHA-1 (the handshake key only) -------------------------------------------------------------- */

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    uint64_t bits = (uint64_t)len * 8;
    size_t total = ((len + 8) / 64 + 1) * 64;
    for (size_t off = 0; off < total; off += 64) {
        unsigned char blk[64];
        for (size_t i = 0; i < 64; i++) {
            size_t k = off + i;
            blk[i] = k < len ? msg[k] : k == len ? 0x80 : 0;
        }
        if (off + 64 == total)
            for (int i = 0; i < 8; i++) blk[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 | (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
        for (int i = 16; i < 80; i++) {
            uint32_t x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
            w[i] = x << 1 | x >> 31;
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
            else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
            else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
            else { f = b ^ c ^ d; k = 0xCA62C1D6; }
            uint32_t t = (a << 5 | a >> 27) + f + e + k + w[i];
            e = d; d = c; c = b << 30 | b >> 2; b = a; a = t;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
    }
    for (int i = 0; i < 20; i++) out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

void rt_accept_key(const char *key, char out[29]) {
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%.180s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    unsigned char dg[20];
    sha1((const unsigned char *)buf, (size_t)n, dg);
    b64_encode(dg, 20, out);
}

/* ---- 24 kHz -> 16 kHz ----------------------------------------------------------------------------- */

/* Output sample k sits at input position 1.5 k: two phases (on a sample, half-way between two) of a
 * Hann-windowed sinc low-pass at 7.2 kHz, RS_HALF input samples either side. */
#define RS_HALF 16
#define RS_TAPS (2 * RS_HALF + 1)

typedef struct resampler {
    float h[2][RS_TAPS + 1];
    float *x;             /* input not yet passed, with RS_HALF samples of history before `pos`   */
    size_t n, cap;
    size_t pos2;          /* 2 x the next output's input position, relative to x[0]               */
    int primed;           /* the RS_HALF zeros before the first sample are in x                    */
} resampler;

static void rs_init(resampler *r) {
    const double fc = 7200.0 / 24000.0;
    for (int ph = 0; ph < 2; ph++) {
        double sum = 0;
        for (int i = 0; i <= RS_TAPS; i++) {
            double t = (i - RS_HALF) - ph * 0.5;           /* tap i reads x[floor(p) - RS_HALF + i] */
            double w = fabs(t) >= RS_HALF + 1 ? 0 : 0.5 + 0.5 * cos(M_PI * t / (RS_HALF + 1));
            double s = t == 0 ? 2 * fc : sin(2 * M_PI * fc * t) / (M_PI * t);
            r->h[ph][i] = (float)(s * w);
            sum += s * w;
        }
        for (int i = 0; i <= RS_TAPS; i++) r->h[ph][i] = (float)(r->h[ph][i] / sum);
    }
    r->n = 0;
    r->pos2 = 2 * RS_HALF;
    r->primed = 0;
}

/* append in[n] at 24 kHz; writes the 16 kHz samples now computable to *out (grown as needed) */
static int rs_push(resampler *r, const float *in, size_t n, float **out, size_t *n_out, size_t *cap_out) {
    if (n == 0) return 0;
    if (r->n + n + RS_HALF > r->cap) {
        size_t c = (r->n + n + RS_HALF) * 2;
        float *x = realloc(r->x, c * sizeof *x);
        if (!x) return -1;
        r->x = x;
        r->cap = c;
    }
    if (!r->primed) {             /* output 0 sits on input sample 0 */
        memset(r->x, 0, RS_HALF * sizeof *r->x);
        r->n = RS_HALF;
        r->primed = 1;
    }
    memcpy(r->x + r->n, in, n * sizeof *in);
    r->n += n;
    while (r->pos2 / 2 + RS_HALF + 1 < r->n) {
        size_t base = r->pos2 / 2 - RS_HALF;
        const float *h = r->h[r->pos2 & 1];
        float acc = 0;
        for (int i = 0; i <= RS_TAPS; i++) acc += h[i] * r->x[base + (size_t)i];
        if (*n_out >= *cap_out) {
            size_t c = *cap_out ? *cap_out * 2 : 4096;
            float *o = realloc(*out, c * sizeof *o);
            if (!o) return -1;
            *out = o;
            *cap_out = c;
        }
        (*out)[(*n_out)++] = acc;
        r->pos2 += 3;
    }
    size_t drop = r->pos2 / 2 - RS_HALF;     /* keep RS_HALF samples before the next position */
    memmove(r->x, r->x + drop, (r->n - drop) * sizeof *r->x);
    r->n -= drop;
    r->pos2 -= 2 * drop;
    return 0;
}

/* ---- the session -------------------------------------------------------------------------------- */

struct rt_session {
    wslay_event_context_ptr ws;
    rt_io io;
    rt_engine eng;
    char id[64];
    unsigned long next_event, next_item;
    size_t budget;                   /* bytes rt_read may still take                                */
    int gone;                        /* the peer closed or failed                                   */
    int failed;                      /* the engine failed: nothing more is fed                      */
    /* configuration */
    int rate;                        /* 24000 or 16000                                              */
    int vad_turns;                   /* 1: items end at speech end; 0 (turn_detection null): at commit */
    char model[128], language[16];
    /* audio */
    resampler rs;
    float *pending;                  /* 16 kHz, waiting for rt_pump                                 */
    size_t n_pending, cap_pending;
    int odd_byte;                    /* a byte of a sample split between two appends (-1: none)     */
    int audio_since_commit;
    double offset_s;                 /* audio time of the engine's zero (it restarts at clear)       */
    double fed_s;                    /* audio fed since the engine's zero                           */
    /* the open item */
    int item_open, item_started;     /* item_started: speech_started was sent for it               */
    char item_id[32], prev_item[32];
    sbuf item_text;
    int closed_in_commit;
};

static int queue_text(rt_session *s, sbuf *b) {
    if (b->oom || !b->p) {
        sb_free(b);
        return -1;
    }
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)b->p, b->len};
    int rc = wslay_event_queue_msg(s->ws, &m);      /* copies the message */
    sb_free(b);
    return rc == 0 ? 0 : -1;
}

/* {"type": T, "event_id": "event_N" ... : the caller adds members and the closing brace */
static void ev_begin(rt_session *s, sbuf *b, const char *type) {
    sb_puts(b, "{\"type\":");
    json_cstring(b, type);
    sb_printf(b, ",\"event_id\":\"event_%lu\"", ++s->next_event);
}

static void send_error(rt_session *s, const char *code, const char *param, const char *client_event,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void send_error(rt_session *s, const char *code, const char *param, const char *client_event,
                       const char *fmt, ...) {
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sbuf b = {0};
    ev_begin(s, &b, "error");
    sb_puts(&b, ",\"error\":{\"type\":\"invalid_request_error\",\"code\":");
    json_cstring(&b, code);
    sb_puts(&b, ",\"message\":");
    json_cstring(&b, msg);
    sb_puts(&b, ",\"param\":");
    if (param) json_cstring(&b, param); else sb_puts(&b, "null");
    sb_puts(&b, ",\"event_id\":");
    if (client_event && client_event[0]) json_cstring(&b, client_event); else sb_puts(&b, "null");
    sb_puts(&b, "}}");
    queue_text(s, &b);
}

static void send_session(rt_session *s, const char *type) {
    sbuf b = {0};
    ev_begin(s, &b, type);
    sb_puts(&b, ",\"session\":{\"id\":");
    json_cstring(&b, s->id);
    sb_printf(&b, ",\"object\":\"realtime.transcription_session\",\"modalities\":[\"text\"],"
                  "\"input_audio_format\":\"pcm16\",\"input_audio_sample_rate\":%d,"
                  "\"input_audio_transcription\":{\"model\":", s->rate);
    json_cstring(&b, s->model[0] ? s->model : "whisper-1");
    sb_puts(&b, ",\"language\":");
    if (s->language[0]) json_cstring(&b, s->language); else sb_puts(&b, "null");
    sb_puts(&b, ",\"prompt\":\"\"},\"turn_detection\":");
    sb_puts(&b, s->vad_turns ? "{\"type\":\"server_vad\",\"threshold\":0.5,\"prefix_padding_ms\":0,"
                               "\"silence_duration_ms\":500}" : "null");
    sb_puts(&b, "}}");
    queue_text(s, &b);
}

static long ms(double seconds) { return seconds > 0 ? (long)(seconds * 1000 + 0.5) : 0; }

static void speech_started(rt_session *s, double start) {
    sbuf b = {0};
    s->item_started = 1;
    ev_begin(s, &b, "input_audio_buffer.speech_started");
    sb_printf(&b, ",\"audio_start_ms\":%ld,\"item_id\":\"%s\"}", ms(s->offset_s + start), s->item_id);
    queue_text(s, &b);
}

static void item_open(rt_session *s, int speech, double start) {
    if (s->item_open) return;
    s->item_open = 1;
    s->item_started = 0;
    snprintf(s->item_id, sizeof s->item_id, "item_%06lu", ++s->next_item);
    s->item_text.len = 0;
    if (s->item_text.p) s->item_text.p[0] = '\0';
    if (speech) speech_started(s, start);
}

/* speech_stopped (when speech_started was sent), committed, completed */
static void item_close(rt_session *s, double end) {
    if (!s->item_open) return;
    sbuf b = {0};
    if (s->item_started) {
        ev_begin(s, &b, "input_audio_buffer.speech_stopped");
        sb_printf(&b, ",\"audio_end_ms\":%ld,\"item_id\":\"%s\"}", ms(s->offset_s + end), s->item_id);
        queue_text(s, &b);
    }
    ev_begin(s, &b, "input_audio_buffer.committed");
    sb_puts(&b, ",\"previous_item_id\":");
    if (s->prev_item[0]) json_cstring(&b, s->prev_item); else sb_puts(&b, "null");
    sb_printf(&b, ",\"item_id\":\"%s\"}", s->item_id);
    queue_text(s, &b);
    ev_begin(s, &b, "conversation.item.input_audio_transcription.completed");
    sb_printf(&b, ",\"item_id\":\"%s\",\"content_index\":0,\"transcript\":", s->item_id);
    json_string(&b, s->item_text.p ? s->item_text.p : "", s->item_text.len);
    sb_puts(&b, "}");
    queue_text(s, &b);
    memcpy(s->prev_item, s->item_id, sizeof s->prev_item);
    s->item_open = 0;
    s->closed_in_commit = 1;
}

void rt_stream_event(rt_session *s, const am_stream_event *ev) {
    const char *text = ev->text ? ev->text : "";
    sbuf b = {0};
    switch (ev->type) {
    case AM_STREAM_SPEECH_START:
        if (!s->vad_turns) break;
        if (s->item_open && !s->item_started && s->item_text.len == 0) {   /* opened by a partial */
            speech_started(s, ev->start);
            break;
        }
        item_close(s, ev->start);
        item_open(s, 1, ev->start);
        break;
    case AM_STREAM_SPEECH_END:
        if (s->vad_turns) item_close(s, ev->end);
        break;
    case AM_STREAM_FINAL:
        if (!text[0]) break;
        item_open(s, 0, ev->start);
        sb_put(&s->item_text, text, strlen(text));
        ev_begin(s, &b, "conversation.item.input_audio_transcription.delta");
        sb_printf(&b, ",\"item_id\":\"%s\",\"content_index\":0,\"delta\":", s->item_id);
        json_cstring(&b, text);
        sb_puts(&b, "}");
        queue_text(s, &b);
        break;
    case AM_STREAM_PARTIAL:
        if (!s->item_open && !text[0]) break;
        item_open(s, 0, ev->start);
        ev_begin(s, &b, "conversation.item.input_audio_transcription.partial");
        sb_printf(&b, ",\"item_id\":\"%s\",\"content_index\":0,\"text\":", s->item_id);
        json_cstring(&b, text);
        sb_puts(&b, "}");
        queue_text(s, &b);
        break;
    default:
        break;
    }
}

static void engine_failed(rt_session *s, const char *err) {
    s->failed = 1;
    sbuf b = {0};
    ev_begin(s, &b, "error");
    sb_puts(&b, ",\"error\":{\"type\":\"server_error\",\"code\":\"transcription_failed\",\"message\":");
    json_cstring(&b, err);
    sb_puts(&b, ",\"param\":null,\"event_id\":null}}");
    queue_text(s, &b);
    rt_close(s, 1011, "transcription failed");
}

long rt_pump(rt_session *s, size_t max_samples) {
    if (s->failed || s->n_pending == 0) return 0;
    size_t n = s->n_pending;
    if (max_samples && n > max_samples) n = max_samples;
    char err[256] = "";
    int rc = s->eng.feed(s->eng.ctx, s->pending, n, err, sizeof err);
    memmove(s->pending, s->pending + n, (s->n_pending - n) * sizeof *s->pending);
    s->n_pending -= n;
    s->fed_s += (double)n / AM_SAMPLE_RATE;
    if (rc != AM_OK) {
        engine_failed(s, err[0] ? err : am_status_string(rc));
        return -1;
    }
    return (long)n;
}

size_t rt_pending(const rt_session *s) { return s->n_pending; }

static int engine_reset(rt_session *s, const char *client_event) {
    char err[256] = "";
    int rc = s->eng.reset(s->eng.ctx, s->model, s->language, err, sizeof err);
    if (rc == AM_E_INVALID_ARG) {
        send_error(s, "invalid_value", "session.input_audio_transcription", client_event, "%s", err);
        return -1;
    }
    if (rc != AM_OK) {
        engine_failed(s, err[0] ? err : am_status_string(rc));
        return -1;
    }
    s->offset_s += s->fed_s;
    s->fed_s = 0;
    return 0;
}

/* append: base64 pcm16 at s->rate */
static void on_append(rt_session *s, const jdoc *d, int root, const char *eid) {
    int a = jget(d, root, "audio");
    if (a < 0 || d->nodes[a].type != JN_STR) {
        send_error(s, "missing_required_parameter", "audio", eid, "input_audio_buffer.append needs 'audio' (base64 pcm16)");
        return;
    }
    const char *p = d->nodes[a].p;
    size_t n = d->nodes[a].n;
    char *plain = NULL;
    if (memchr(p, '\\', n)) {                          /* "\/" is legal JSON in base64 text */
        plain = malloc(n + 1);
        long l = plain ? jstr(d, a, plain, n + 1) : -1;
        if (l < 0) {
            free(plain);
            send_error(s, "invalid_value", "audio", eid, "'audio' is not valid base64");
            return;
        }
        p = plain;
        n = (size_t)l;
    }
    unsigned char *bytes = malloc(n / 4 * 3 + 4);
    long nb = bytes ? b64_decode(p, n, bytes + 1) : -1;
    free(plain);
    if (nb < 0) {
        free(bytes);
        send_error(s, "invalid_value", "audio", eid, "'audio' is not valid base64");
        return;
    }
    /* a sample split between appends: its first byte is kept in odd_byte */
    unsigned char *q = bytes + 1;
    size_t nq = (size_t)nb;
    if (s->odd_byte >= 0 && nq > 0) {
        q = bytes;
        q[0] = (unsigned char)s->odd_byte;
        nq++;
        s->odd_byte = -1;
    }
    size_t ns = nq / 2;
    if (nq % 2) s->odd_byte = q[nq - 1];
    float *x = malloc((ns ? ns : 1) * sizeof *x);
    if (!x) {
        free(bytes);
        engine_failed(s, "out of memory");
        return;
    }
    for (size_t i = 0; i < ns; i++) x[i] = (float)(int16_t)(uint16_t)(q[2 * i] | q[2 * i + 1] << 8) / 32768.0f;
    free(bytes);
    int rc = 0;
    if (ns == 0) {
        /* nothing whole yet */
    } else if (s->rate == 16000) {
        if (s->n_pending + ns > s->cap_pending) {
            size_t c = (s->n_pending + ns) * 2;
            float *np = realloc(s->pending, c * sizeof *np);
            if (!np) rc = -1;
            else { s->pending = np; s->cap_pending = c; }
        }
        if (rc == 0) {
            memcpy(s->pending + s->n_pending, x, ns * sizeof *x);
            s->n_pending += ns;
        }
    } else {
        rc = rs_push(&s->rs, x, ns, &s->pending, &s->n_pending, &s->cap_pending);
    }
    free(x);
    if (rc) {
        engine_failed(s, "out of memory");
        return;
    }
    if (ns) s->audio_since_commit = 1;
}

static void on_commit(rt_session *s, const char *eid) {
    if (!s->audio_since_commit && !s->item_open) {
        send_error(s, "input_audio_buffer_commit_empty", NULL, eid,
                   "Error committing input audio buffer: the buffer is empty");
        return;
    }
    if (s->rate != 16000) {                         /* the resampler's last samples */
        float zeros[RS_HALF + 2] = {0};
        if (rs_push(&s->rs, zeros, RS_HALF + 2, &s->pending, &s->n_pending, &s->cap_pending)) {
            engine_failed(s, "out of memory");
            return;
        }
        rs_init(&s->rs);
    }
    while (!s->failed && s->n_pending)
        if (rt_pump(s, 0) < 0) return;
    char err[256] = "";
    s->closed_in_commit = 0;
    int rc = s->eng.finish(s->eng.ctx, err, sizeof err);
    if (rc != AM_OK) {
        engine_failed(s, err[0] ? err : am_status_string(rc));
        return;
    }
    if (!s->item_open && !s->closed_in_commit) item_open(s, 0, s->fed_s);   /* silence: an empty item */
    item_close(s, s->fed_s);
    s->audio_since_commit = 0;
}

static void on_clear(rt_session *s, const char *eid) {
    s->n_pending = 0;
    s->odd_byte = -1;
    rs_init(&s->rs);
    s->audio_since_commit = 0;
    if (engine_reset(s, eid) != 0) return;
    /* what was committed of the open item stays its transcript */
    if (s->item_open) item_close(s, s->fed_s);
    sbuf b = {0};
    ev_begin(s, &b, "input_audio_buffer.cleared");
    sb_puts(&b, "}");
    queue_text(s, &b);
}

static void on_update(rt_session *s, const jdoc *d, int root, const char *type, const char *eid) {
    int sess = jget(d, root, "session");
    if (sess < 0 || d->nodes[sess].type != JN_OBJ) {
        send_error(s, "missing_required_parameter", "session", eid, "%s needs a 'session' object", type);
        return;
    }
    int rate = s->rate, vad = s->vad_turns;
    char model[128], language[16];
    memcpy(model, s->model, sizeof model);
    memcpy(language, s->language, sizeof language);
    int f = jget(d, sess, "input_audio_format");
    if (f >= 0 && d->nodes[f].type != JN_NULL) {
        char v[32];
        if (jstr(d, f, v, sizeof v) < 0 || strcmp(v, "pcm16")) {
            send_error(s, "invalid_value", "session.input_audio_format", eid,
                       "input_audio_format must be 'pcm16' (g711 is not supported)");
            return;
        }
    }
    int r = jget(d, sess, "input_audio_sample_rate");
    /* GA shape: session.audio.input.format.rate */
    if (r < 0) r = jget(d, jget(d, jget(d, jget(d, sess, "audio"), "input"), "format"), "rate");
    if (r >= 0) {
        long v;
        if (jint(d, r, 8000, 48000, &v) || (v != 16000 && v != 24000)) {
            send_error(s, "invalid_value", "session.input_audio_sample_rate", eid,
                       "the pcm16 sample rate must be 24000 (OpenAI's) or 16000");
            return;
        }
        rate = (int)v;
    }
    int t = jget(d, sess, "input_audio_transcription");
    if (t >= 0 && d->nodes[t].type == JN_OBJ) {
        int m = jget(d, t, "model"), l = jget(d, t, "language");
        if (m >= 0 && d->nodes[m].type != JN_NULL && jstr(d, m, model, sizeof model) < 0) {
            send_error(s, "invalid_value", "session.input_audio_transcription.model", eid, "'model' must be a model name");
            return;
        }
        if (l >= 0 && d->nodes[l].type == JN_NULL) language[0] = '\0';
        else if (l >= 0 && jstr(d, l, language, sizeof language) < 0) {
            send_error(s, "invalid_value", "session.input_audio_transcription.language", eid,
                       "'language' must be an ISO-639-1 code such as 'en'");
            return;
        }
    }
    int td = jget(d, sess, "turn_detection");
    if (td >= 0) vad = d->nodes[td].type != JN_NULL;
    if (strcmp(model, s->model) || strcmp(language, s->language)) {
        char om[128], ol[16];
        memcpy(om, s->model, sizeof om);
        memcpy(ol, s->language, sizeof ol);
        memcpy(s->model, model, sizeof model);
        memcpy(s->language, language, sizeof language);
        /* the buffered audio goes to the old stream first */
        while (!s->failed && s->n_pending)
            if (rt_pump(s, 0) < 0) return;
        if (engine_reset(s, eid) != 0) {
            memcpy(s->model, om, sizeof om);
            memcpy(s->language, ol, sizeof ol);
            return;
        }
    }
    if (rate != s->rate) {
        rs_init(&s->rs);
        s->odd_byte = -1;
    }
    s->rate = rate;
    s->vad_turns = vad;
    send_session(s, !strcmp(type, "transcription_session.update") ? "transcription_session.updated" : "session.updated");
}

static void on_message(rt_session *s, const uint8_t *msg, size_t len) {
    jdoc *d = malloc(sizeof *d);
    if (!d) {
        engine_failed(s, "out of memory");
        return;
    }
    int root = jparse(d, (const char *)msg, len);
    char type[64] = "", eid[128] = "";
    if (root < 0 || d->nodes[root].type != JN_OBJ) {
        send_error(s, "invalid_json", NULL, NULL, "the message is not a JSON object");
        free(d);
        return;
    }
    jstr(d, jget(d, root, "event_id"), eid, sizeof eid);
    if (jstr(d, jget(d, root, "type"), type, sizeof type) < 0) {
        send_error(s, "missing_required_parameter", "type", eid, "the event has no 'type'");
    } else if (!strcmp(type, "input_audio_buffer.append")) {
        on_append(s, d, root, eid);
    } else if (!strcmp(type, "input_audio_buffer.commit")) {
        on_commit(s, eid);
    } else if (!strcmp(type, "input_audio_buffer.clear")) {
        on_clear(s, eid);
    } else if (!strcmp(type, "transcription_session.update") || !strcmp(type, "session.update")) {
        on_update(s, d, root, type, eid);
    } else {
        send_error(s, "invalid_event", "type", eid, "unsupported event type '%s'", type);
    }
    free(d);
}

/* ---- wslay glue --------------------------------------------------------------------------------- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user) {
    rt_session *s = user;
    (void)flags;
    if (s->budget == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > s->budget) len = s->budget;
    ssize_t n = s->io.recv(s->io.ctx, buf, len);
    if (n > 0) {
        s->budget -= (size_t)n;
        return n;
    }
    if (n < 0) s->gone = 1;
    wslay_event_set_error(ctx, n == 0 ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user) {
    rt_session *s = user;
    (void)flags;
    ssize_t n = s->io.send(s->io.ctx, data, len);
    if (n > 0) return n;
    if (n < 0) s->gone = 1;
    wslay_event_set_error(ctx, n == 0 ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user) {
    rt_session *s = user;
    (void)ctx;
    if (arg->opcode == WSLAY_TEXT_FRAME) on_message(s, arg->msg, arg->msg_length);
    else if (arg->opcode == WSLAY_BINARY_FRAME)
        send_error(s, "invalid_event", NULL, NULL, "binary messages are not supported: send JSON events as text");
}

rt_session *rt_create(const rt_io *io, const rt_engine *engine, const char *id) {
    rt_session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->io = *io;
    s->eng = *engine;
    snprintf(s->id, sizeof s->id, "%s", id);
    s->rate = 24000;
    s->vad_turns = 1;
    s->odd_byte = -1;
    rs_init(&s->rs);
    struct wslay_event_callbacks cb = {ws_recv, ws_send, NULL, NULL, NULL, NULL, ws_on_msg};
    if (wslay_event_context_server_init(&s->ws, &cb, s) != 0) {
        free(s);
        return NULL;
    }
    wslay_event_config_set_max_recv_msg_length(s->ws, RT_MAX_MESSAGE);
    send_session(s, "session.created");
    return s;
}

void rt_free(rt_session *s) {
    if (!s) return;
    wslay_event_context_free(s->ws);
    free(s->rs.x);
    free(s->pending);
    sb_free(&s->item_text);
    free(s);
}

int rt_read(rt_session *s, size_t budget) {
    s->budget = budget;
    if (wslay_event_recv(s->ws) != 0 || s->gone) return -1;
    return 0;
}

int rt_write(rt_session *s) {
    if (wslay_event_send(s->ws) != 0 || s->gone) return -1;
    return 0;
}

int rt_want_read(const rt_session *s) { return wslay_event_want_read(s->ws); }
int rt_want_write(const rt_session *s) { return wslay_event_want_write(s->ws); }

void rt_close(rt_session *s, uint16_t code, const char *reason) {
    size_t n = reason ? strlen(reason) : 0;
    if (n > 120) n = 120;
    wslay_event_queue_close(s->ws, code, (const uint8_t *)reason, n);
}

#endif /* AM_HAVE_WSLAY */
