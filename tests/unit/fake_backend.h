/* fake_backend.h — a scripted backend for the decoding tests (test_decode.c, test_oom.c).
 *
 * It keeps, per cache slot, the tokens fed so far (its "KV cache"), copies them on copy_cache,
 * and answers each decoder row from a script: a function of the encoded window and the slot's
 * tokens since the last start-of-transcript.  It has no decode_step, so the search applies the
 * reference rules (backend/step.h) to its logits.  fake_model() wraps it in an English-only model
 * with a synthetic vocabulary (token i < 256: byte i; others the word " w<i>"). */
#ifndef AM_FAKE_BACKEND_H
#define AM_FAKE_BACKEND_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "backend/backend.h"
#include "model/model.h"
#include "text/tokenizer.h"

#define NV 51864
#define EOT 50256
#define SOT 50257
#define TB (NV - 1501)
#define NO_SPEECH (TB - 2)
#define NO_TS (TB - 1)
#define CTX 448
#define MAX_SLOTS 256

typedef struct fake fake;
/* Fill row[NV] for a sequence whose tokens since its last sot are h[0..n) (sot excluded), on the
 * window-th window encoded so far. */
typedef void (*script_fn)(const fake *f, int window, const int *h, int n, float *row);

struct fake {
    am_backend base;
    script_fn script;
    uint64_t seed;               /* for the random scripts */
    int fail_session, fail_encode; /* inject AM_E_BACKEND */
    int windows_encoded, decode_rows;
};

typedef struct fake_session {
    am_session base;
    int hist[MAX_SLOTS][CTX];
    int window_id[64];
} fake_session;

static am_session *fake_session_create(am_backend *b, const am_session_config *cfg, int *status, char *err,
                                       size_t err_size) {
    fake *f = (fake *)b;
    if (f->fail_session || cfg->max_seqs > MAX_SLOTS) {
        *status = AM_E_BACKEND;
        snprintf(err, err_size, "fake: device lost");
        return NULL;
    }
    fake_session *s = calloc(1, sizeof *s);
    if (!s) {
        *status = AM_E_NOMEM;
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    s->base.backend = b;
    s->base.max_seqs = cfg->max_seqs;
    s->base.max_windows = cfg->max_windows;
    return &s->base;
}

static void fake_session_destroy(am_session *s) { free(s); }

static int fake_encode(am_session *base, const float *mel, int n) {
    fake_session *s = (fake_session *)base;
    fake *f = (fake *)base->backend;
    (void)mel;
    if (f->fail_encode) return AM_E_BACKEND;
    for (int i = 0; i < n; i++) s->window_id[i] = f->windows_encoded++;
    return AM_OK;
}

static int fake_logits(am_session *base, const am_decode_seq *seqs, int n, float *logits) {
    fake_session *s = (fake_session *)base;
    fake *f = (fake *)base->backend;
    for (int i = 0; i < n; i++) {
        const am_decode_seq *q = &seqs[i];
        if (q->slot < 0 || q->slot >= base->max_seqs || q->n_past + q->n_tokens > CTX) return AM_E_INVALID_ARG;
        int *h = s->hist[q->slot];
        memcpy(h + q->n_past, q->tokens, (size_t)q->n_tokens * sizeof(int));
        int len = q->n_past + q->n_tokens, from = 0;
        for (int t = 0; t < len; t++)
            if (h[t] == SOT) from = t + 1;
        f->script(f, s->window_id[q->window], h + from, len - from, logits + (size_t)i * NV);
        f->decode_rows++;
    }
    return AM_OK;
}

/* Word alignment: token i of the sequence attends most to frame 10 + 20·i (0.4 s per token), the
 * same on every head; next_p from the script's rows. */
static int fake_cross_scores(am_session *base, const am_decode_seq *seq, const int (*heads)[2], int n_heads,
                             float *scores, int vocab_limit, float *next_p) {
    fake_session *s = (fake_session *)base;
    fake *f = (fake *)base->backend;
    const int T = f->base.model->hp.n_audio_ctx, n = seq->n_tokens;
    (void)heads;
    if (n > CTX) return AM_E_INVALID_ARG;
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < n; i++)
            for (int t = 0; t < T; t++) {
                float d = (float)(t - (10 + 20 * i));
                scores[((size_t)h * n + i) * T + t] = -0.01f * d * d;
            }
    if (!next_p) return AM_OK;
    float *row = malloc(NV * sizeof(float));
    if (!row) return AM_E_NOMEM;
    int from = 0;
    for (int i = 0; i < n; i++)
        if (seq->tokens[i] == SOT) from = i + 1;
    for (int i = 0; i + 1 < n; i++) {
        f->script(f, s->window_id[seq->window], seq->tokens + from, i + 1 > from ? i + 1 - from : 0, row);
        next_p[i] = step_prob_within(row, vocab_limit, seq->tokens[i + 1]);
    }
    free(row);
    return AM_OK;
}

static int fake_copy_cache(am_session *base, int dst, int src, int n_pos) {
    fake_session *s = (fake_session *)base;
    memcpy(s->hist[dst], s->hist[src], (size_t)n_pos * sizeof(int));
    return AM_OK;
}

static int fake_encoder_output(am_session *s, int window, float *out) { return AM_E_UNSUPPORTED; }
static void fake_destroy(am_backend *b) { (void)b; }

static const am_backend_ops fake_ops = {fake_session_create, fake_session_destroy, fake_encode,       NULL,
                                        fake_logits,         fake_cross_scores,    fake_copy_cache, fake_encoder_output,
                                        fake_destroy,        NULL};

/* An English-only model on the fake backend (NULL if the tokenizer cannot be built). */
static am_model *fake_model(fake *f) {
    static char names[EOT][10];
    static const char *tokens[EOT];
    static int lens[EOT];
    for (int i = 0; i < EOT; i++) {
        if (i < 256) {
            names[i][0] = (char)i;
            lens[i] = 1;
        } else {
            lens[i] = snprintf(names[i], sizeof names[i], " w%d", i);
        }
        tokens[i] = names[i];
    }
    am_model *m = calloc(1, sizeof *m);
    char err[256];
    if (!m) return NULL;
    m->tok = tokenizer_from_bytes(tokens, lens, EOT, NV, err, sizeof err);
    if (!m->tok) {
        free(m);
        return NULL;
    }
    am_hparams hp = {NV, 80, 1500, 8, 1, 1, CTX, 8, 1, 1};
    m->hp = hp;
    f->base.ops = &fake_ops;
    f->base.name = "fake";
    f->base.model = m;
    m->backend = &f->base;
    return m;
}

static void row_fill(float *row, float v) {
    for (int i = 0; i < NV; i++) row[i] = v;
}

#endif
