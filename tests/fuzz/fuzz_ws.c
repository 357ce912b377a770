/* fuzz_ws.c — fuzz target for the realtime WebSocket session (src/server/realtime.c): WebSocket
 * frames (libwslay) carrying the client's JSON events, base64 pcm16 audio, the 24 kHz resampler and
 * the items built from a stream's events.
 *
 * The input is what a client sends, read in pieces whose sizes come from its first byte.  The
 * engine is a fake: every feed answers speech start, a partial and a final, a commit answers a final
 * and speech end, a reset to the model "bad" is refused, and a feed past 20 s of audio fails.  What
 * the session writes is parsed back as server frames: each must be a whole unmasked text frame
 * holding one JSON object, or a close or pong frame; and each item's deltas, joined, must be its
 * completed transcript (compared as the JSON string bodies).
 *
 * Built by the Makefile (make fuzz-short / make fuzz) when libwslay is there, with the standalone
 * driver tests/fuzz/driver.c or with libFuzzer; seeds in tests/fuzz/corpus/ws, tokens in
 * tests/fuzz/ws.dict. */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/realtime.h"

typedef struct peer {
    const uint8_t *in;
    size_t n, off;
    size_t piece;             /* bytes per recv                                                */
    int would_block;          /* alternate: every other recv would block                       */
    uint8_t *out;             /* what the session wrote                                         */
    size_t n_out, cap_out;
    rt_session *rt;
    double fed;               /* seconds fed to the fake engine                                */
    unsigned long feeds;
} peer;

static ssize_t p_recv(void *ctx, uint8_t *buf, size_t len) {
    peer *p = ctx;
    if (p->off >= p->n) return -1;                 /* the client is gone */
    if ((p->would_block ^= 1) == 0) return 0;
    size_t k = p->n - p->off;
    if (k > len) k = len;
    if (k > p->piece) k = p->piece;
    memcpy(buf, p->in + p->off, k);
    p->off += k;
    return (ssize_t)k;
}

static ssize_t p_send(void *ctx, const uint8_t *buf, size_t len) {
    peer *p = ctx;
    if (p->n_out + len > p->cap_out) {
        size_t c = (p->n_out + len) * 2;
        uint8_t *o = realloc(p->out, c);
        if (!o) abort();
        p->out = o;
        p->cap_out = c;
    }
    memcpy(p->out + p->n_out, buf, len);
    p->n_out += len;
    return (ssize_t)len;
}

static void emit(peer *p, int type, const char *text, double t) {
    am_stream_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.text = text;
    ev.start = t > 1 ? t - 1 : 0;
    ev.end = t;
    ev.emitted_at = t;
    rt_stream_event(p->rt, &ev);
}

static int e_feed(void *ctx, const float *pcm, size_t n, char *err, size_t err_size) {
    peer *p = ctx;
    for (size_t i = 0; i < n; i++)
        if (!(pcm[i] >= -1.5f && pcm[i] <= 1.5f)) abort();   /* pcm16 stays in range after resampling */
    p->fed += (double)n / AM_SAMPLE_RATE;
    if (p->fed > 20) {
        snprintf(err, err_size, "fake engine: too much audio");
        return AM_E_BACKEND;
    }
    p->feeds++;
    if (p->feeds % 3 == 1) emit(p, AM_STREAM_SPEECH_START, "", p->fed);
    emit(p, AM_STREAM_PARTIAL, p->feeds % 2 ? " maybe" : "", p->fed);
    emit(p, AM_STREAM_FINAL, p->feeds % 4 ? " word\"\\\n\xc3\xa9" : "", p->fed);
    if (p->feeds % 5 == 0) emit(p, AM_STREAM_SPEECH_END, "", p->fed);
    return AM_OK;
}

static int e_finish(void *ctx, char *err, size_t err_size) {
    peer *p = ctx;
    (void)err;
    (void)err_size;
    emit(p, AM_STREAM_FINAL, " end", p->fed);
    emit(p, AM_STREAM_SPEECH_END, "", p->fed);
    return AM_OK;
}

static int e_reset(void *ctx, const char *model, const char *language, char *err, size_t err_size) {
    (void)ctx;
    (void)language;
    if (!strcmp(model, "bad")) {
        snprintf(err, err_size, "no model 'bad'");
        return AM_E_INVALID_ARG;
    }
    return AM_OK;
}

/* per item: the deltas' JSON string bodies joined (item ids are "item_NNNNNN": 1 + NNNNNN) */
#define MAX_ITEMS 4096
typedef struct items {
    char *text[MAX_ITEMS];
    size_t len[MAX_ITEMS];
    unsigned char done[MAX_ITEMS];
} items;

/* in a server event p[n] (ends with "}), the number of "item_id":"item_N" and the string body of
 * member `key` (the last member: from its opening quote to the final quote) */
static int member(const char *p, size_t n, const char *key, long *item, const char **body, size_t *blen) {
    static const char idpat[] = "\"item_id\":\"item_";
    const char *id = memmem(p, n, idpat, sizeof idpat - 1);
    char pat[40];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *k = memmem(p, n, pat, strlen(pat));
    if (!id || !k) return -1;
    *item = strtol(id + sizeof idpat - 1, NULL, 10);
    *body = k + strlen(pat);
    if (n < 2 || p[n - 1] != '}' || p[n - 2] != '"' || *body > p + n - 2) abort();
    *blen = (size_t)(p + n - 2 - *body);
    return *item >= 0 && *item < MAX_ITEMS ? 0 : -1;
}

static void check_event(items *it, const char *p, size_t n) {
    long item;
    const char *body;
    size_t bl;
    if (memmem(p, n, "transcription.delta\"", 20) && member(p, n, "delta", &item, &body, &bl) == 0) {
        if (it->done[item]) abort();                       /* a delta after its item completed */
        char *t = realloc(it->text[item], it->len[item] + bl + 1);
        if (!t) abort();
        memcpy(t + it->len[item], body, bl);
        it->text[item] = t;
        it->len[item] += bl;
    } else if (memmem(p, n, "transcription.completed\"", 24) && member(p, n, "transcript", &item, &body, &bl) == 0) {
        if (it->done[item]++) abort();                     /* completed twice */
        if (bl != it->len[item] || (bl && memcmp(body, it->text[item], bl))) abort();
    }
}

/* the server's frames: unmasked, final, text holding "{...}" or close */
static void check_output(const uint8_t *b, size_t n) {
    items *it = calloc(1, sizeof *it);
    if (!it) abort();
    size_t i = 0;
    while (i < n) {
        if (n - i < 2) abort();
        uint8_t op = b[i] & 0x0f;
        if (!(b[i] & 0x80) || (b[i + 1] & 0x80)) abort();
        uint64_t len = b[i + 1] & 0x7f;
        i += 2;
        if (len == 126) {
            if (n - i < 2) abort();
            len = (uint64_t)b[i] << 8 | b[i + 1];
            i += 2;
        } else if (len == 127) {
            if (n - i < 8) abort();
            len = 0;
            for (int k = 0; k < 8; k++) len = len << 8 | b[i + (size_t)k];
            i += 8;
        }
        if (len > n - i) abort();
        if (op == 1) {
            if (len < 2 || b[i] != '{' || b[i + len - 1] != '}') abort();
            check_event(it, (const char *)b + i, (size_t)len);
        } else if (op != 8 && op != 10) {            /* close, pong */
            abort();
        }
        i += (size_t)len;
    }
    for (int k = 0; k < MAX_ITEMS; k++) free(it->text[k]);
    free(it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    peer p;
    memset(&p, 0, sizeof p);
    p.piece = 1 + data[0] % 64;
    if (data[0] & 0x80) p.piece = 4096;
    p.in = data + 1;
    p.n = size - 1;
    rt_io io = {p_recv, p_send, &p};
    rt_engine eng = {e_feed, e_finish, e_reset, &p};
    p.rt = rt_create(&io, &eng, "sess_fuzz");
    if (!p.rt) return 0;
    for (int round = 0; round < 100000 && rt_want_read(p.rt); round++) {
        if (rt_read(p.rt, 1024) != 0) break;
        if (rt_pending(p.rt)) rt_pump(p.rt, 16000);
        if (rt_write(p.rt) != 0) break;
        if (p.off >= p.n && !rt_want_write(p.rt)) break;
    }
    rt_write(p.rt);
    rt_free(p.rt);
    check_output(p.out, p.n_out);
    free(p.out);
    return 0;
}
