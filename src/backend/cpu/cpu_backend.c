/* cpu_backend.c — Whisper's encoder and decoder in float32 on the CPU.
 *
 * Notation: T = n_audio_ctx (1500), d = model width, H = heads, dh = d / H, F = 2T mel frames,
 * n = tokens fed in this decoder call, P = positions already in the self-attention cache.
 * Weights are the model's (read-only, shared); every buffer here belongs to this backend. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/threadpool.h"
#include "common/util.h"

#define ATTN_ROWS 64 /* query rows per encoder attention task */

typedef struct cpu_backend {
    am_backend base;
    const am_model *m;
    am_pool *pool;
    int n_threads;
    /* encoder */
    float *im2col;   /* [F][max(n_mels, d)·3] */
    float *conv;     /* [F][d] */
    float *x;        /* [T][d]  residual stream, then the encoder output */
    float *h;        /* [T][d]  normalised input of a block */
    float *qkv;      /* [T][3d] */
    float *vt;       /* [H][dh][T]  V transposed per head */
    float *attn;     /* [T][d] */
    float *mlp;      /* [T][4d] */
    float *scores;   /* [n_threads][ATTN_ROWS][max(T, n_text_ctx)] */
    /* decoder */
    float *cross_kv; /* [n_text_layer][T][2d]  K | V of the encoder output, per layer */
    float *self_k;   /* [n_text_layer][n_text_ctx][d] */
    float *self_v;   /* [n_text_layer][n_text_ctx][d] */
    float *dx, *dn, *dqkv, *dq, *dattn, *dmlp; /* [n_text_ctx][...] */
    float *dlast;    /* [n_text_ctx][d] rows whose logits are wanted */
    int have_encoding;
} cpu_backend;

/* ---- encoder -------------------------------------------------------------------------------- */

/* im2col for a k=3, pad=1 convolution over time.  src is [C][F] (channel-major) when
 * channel_major, else [F][C]; out row t holds src[c][t·stride + k − 1] at c·3 + k. */
static void im2col_k3(const float *src, int C, int F, int channel_major, int stride, int T_out, float *out) {
    for (int t = 0; t < T_out; t++) {
        float *row = out + (size_t)t * C * 3;
        for (int k = 0; k < 3; k++) {
            int s = t * stride + k - 1;
            if (s < 0 || s >= F) {
                for (int c = 0; c < C; c++) row[c * 3 + k] = 0.0f;
            } else if (channel_major) {
                for (int c = 0; c < C; c++) row[c * 3 + k] = src[(size_t)c * F + s];
            } else {
                const float *col = src + (size_t)s * C;
                for (int c = 0; c < C; c++) row[c * 3 + k] = col[c];
            }
        }
    }
}

typedef struct enc_attn_job {
    cpu_backend *b;
    int T, d, H, dh, row_blocks;
} enc_attn_job;

static void transpose_v_task(void *ctx, int head, int thread) {
    (void)thread;
    enc_attn_job *j = ctx;
    const float *v = j->b->qkv + 2 * j->d + head * j->dh;
    float *vt = j->b->vt + (size_t)head * j->dh * j->T;
    for (int t = 0; t < j->T; t++)
        for (int e = 0; e < j->dh; e++) vt[(size_t)e * j->T + t] = v[(size_t)t * 3 * j->d + e];
}

/* One task: ATTN_ROWS query rows of one head.  S = softmax(Q Kᵀ / √dh), O = S V. */
static void enc_attn_task(void *ctx, int task, int thread) {
    enc_attn_job *j = ctx;
    cpu_backend *b = j->b;
    int head = task / j->row_blocks, r0 = (task % j->row_blocks) * ATTN_ROWS;
    int rows = j->T - r0 < ATTN_ROWS ? j->T - r0 : ATTN_ROWS;
    int ld = 3 * j->d;
    int sld = b->m->hp.n_audio_ctx > b->m->hp.n_text_ctx ? b->m->hp.n_audio_ctx : b->m->hp.n_text_ctx;
    float *S = b->scores + (size_t)thread * ATTN_ROWS * sld;
    const float *Q = b->qkv + (size_t)r0 * ld + head * j->dh;
    const float *K = b->qkv + j->d + head * j->dh;
    gemm_f32_serial(rows, j->T, j->dh, Q, ld, K, ld, NULL, S, sld); /* S [rows][T] */
    float scale = 1.0f / sqrtf((float)j->dh);
    for (int r = 0; r < rows; r++) {
        float *s = S + (size_t)r * sld;
        for (int t = 0; t < j->T; t++) s[t] *= scale;
        softmax_inplace(j->T, s);
    }
    const float *VT = b->vt + (size_t)head * j->dh * j->T;
    gemm_f32_serial(rows, j->dh, j->T, S, sld, VT, j->T, NULL, b->attn + (size_t)r0 * j->d + head * j->dh, j->d);
}

typedef struct gelu_job {
    float *x;
    size_t n, chunk;
} gelu_job;

static void gelu_task(void *ctx, int task, int thread) {
    (void)thread;
    gelu_job *g = ctx;
    size_t s = (size_t)task * g->chunk, e = s + g->chunk < g->n ? s + g->chunk : g->n;
    gelu_inplace(e - s, g->x + s);
}

static void gelu_parallel(am_pool *pool, float *x, size_t n) {
    gelu_job g = {x, n, 16384};
    am_pool_run(pool, (int)((n + g.chunk - 1) / g.chunk), gelu_task, &g);
}

static int cpu_encode(am_backend *base, const float *mel) {
    cpu_backend *b = (cpu_backend *)base;
    const am_hparams *hp = &b->m->hp;
    const am_weights *w = &b->m->w;
    const int T = hp->n_audio_ctx, F = 2 * T, d = hp->n_audio_state, H = hp->n_audio_head, dh = d / H;

    /* conv1: mel [n_mels][F] → [F][d], GELU */
    im2col_k3(mel, hp->n_mels, F, 1, 1, F, b->im2col);
    gemm_f32(b->pool, F, d, hp->n_mels * 3, b->im2col, hp->n_mels * 3, w->conv1.w, w->conv1.n_in, w->conv1.b,
             b->conv, d);
    gelu_parallel(b->pool, b->conv, (size_t)F * d);
    /* conv2 (stride 2): [F][d] → [T][d], GELU, + positions */
    im2col_k3(b->conv, d, F, 0, 2, T, b->im2col);
    gemm_f32(b->pool, T, d, d * 3, b->im2col, d * 3, w->conv2.w, w->conv2.n_in, w->conv2.b, b->x, d);
    gelu_parallel(b->pool, b->x, (size_t)T * d);
    add_inplace((size_t)T * d, b->x, w->enc_pos);

    enc_attn_job job = {b, T, d, H, dh, (T + ATTN_ROWS - 1) / ATTN_ROWS};
    for (int l = 0; l < hp->n_audio_layer; l++) {
        const am_encoder_layer *L = &w->enc[l];
        /* x += Attention(LN(x)) */
        layer_norm(T, d, b->x, L->attn_ln.gamma, L->attn_ln.beta, b->h);
        gemm_f32(b->pool, T, 3 * d, d, b->h, d, L->attn_qkv.w, d, L->attn_qkv.b, b->qkv, 3 * d); /* [T][3d] */
        am_pool_run(b->pool, H, transpose_v_task, &job);
        am_pool_run(b->pool, H * job.row_blocks, enc_attn_task, &job);
        gemm_f32(b->pool, T, d, d, b->attn, d, L->attn_out.w, d, L->attn_out.b, b->h, d);
        add_inplace((size_t)T * d, b->x, b->h);
        /* x += MLP(LN(x)) */
        layer_norm(T, d, b->x, L->mlp_ln.gamma, L->mlp_ln.beta, b->h);
        gemm_f32(b->pool, T, 4 * d, d, b->h, d, L->fc1.w, d, L->fc1.b, b->mlp, 4 * d); /* [T][4d] */
        gelu_parallel(b->pool, b->mlp, (size_t)T * 4 * d);
        gemm_f32(b->pool, T, d, 4 * d, b->mlp, 4 * d, L->fc2.w, 4 * d, L->fc2.b, b->h, d);
        add_inplace((size_t)T * d, b->x, b->h);
    }
    layer_norm(T, d, b->x, w->enc_ln.gamma, w->enc_ln.beta, b->x); /* encoder output [T][d] */

    /* cross-attention K | V of every decoder layer, computed once per window */
    for (int l = 0; l < hp->n_text_layer; l++) {
        const am_linear *kv = &w->dec[l].cross_kv;
        gemm_f32(b->pool, T, kv->n_out, d, b->x, d, kv->w, d, kv->b, b->cross_kv + (size_t)l * T * kv->n_out,
                 kv->n_out);
    }
    b->have_encoding = 1;
    return AM_OK;
}

/* ---- decoder -------------------------------------------------------------------------------- */

typedef struct dec_attn_job {
    cpu_backend *b;
    const float *q;   /* [n][ldq], head h at h·dh */
    int ldq;
    const float *k, *v; /* key/value rows, head h at h·dh, row stride ldkv */
    int ldkv;
    int n, H, dh, d;
    int n_keys_base;  /* causal: query i sees keys [0, n_keys_base + i]; cross: all n_keys_base */
    int causal;
} dec_attn_job;

static void dec_attn_task(void *ctx, int task, int thread) {
    dec_attn_job *j = ctx;
    cpu_backend *b = j->b;
    int i = task / j->H, h = task % j->H;
    int n_keys = j->causal ? j->n_keys_base + i + 1 : j->n_keys_base;
    int sld = b->m->hp.n_audio_ctx > b->m->hp.n_text_ctx ? b->m->hp.n_audio_ctx : b->m->hp.n_text_ctx;
    float *s = b->scores + (size_t)thread * ATTN_ROWS * sld;
    const float *q = j->q + (size_t)i * j->ldq + h * j->dh;
    /* s[t] = q · k_t / √dh */
    gemm_f32_serial(1, n_keys, j->dh, q, j->dh, j->k + h * j->dh, j->ldkv, NULL, s, n_keys);
    float scale = 1.0f / sqrtf((float)j->dh);
    for (int t = 0; t < n_keys; t++) s[t] *= scale;
    softmax_inplace(n_keys, s);
    /* o = Σ_t s[t] v_t */
    float *o = b->dattn + (size_t)i * j->d + h * j->dh;
    for (int e = 0; e < j->dh; e++) o[e] = 0.0f;
    for (int t = 0; t < n_keys; t++) {
        const float *v = j->v + (size_t)t * j->ldkv + h * j->dh;
        float p = s[t];
        for (int e = 0; e < j->dh; e++) o[e] += p * v[e];
    }
}

static int cpu_decode(am_backend *base, const int *tokens, int n, int P, const int *rows, int n_rows,
                      float *logits) {
    cpu_backend *b = (cpu_backend *)base;
    const am_hparams *hp = &b->m->hp;
    const am_weights *w = &b->m->w;
    const int d = hp->n_text_state, H = hp->n_text_head, dh = d / H, T = hp->n_audio_ctx, C = hp->n_text_ctx;
    if (!b->have_encoding || n < 1 || P < 0 || P + n > C || n_rows < 0 || n_rows > C) return AM_E_INVALID_ARG;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab) return AM_E_INVALID_ARG;
    for (int r = 0; r < n_rows; r++)
        if (rows[r] < 0 || rows[r] >= n) return AM_E_INVALID_ARG;

    /* x[i] = token embedding + learned position */
    for (int i = 0; i < n; i++) {
        const float *e = w->tok_emb + (size_t)tokens[i] * d, *p = w->dec_pos + (size_t)(P + i) * d;
        for (int c = 0; c < d; c++) b->dx[(size_t)i * d + c] = e[c] + p[c];
    }
    for (int l = 0; l < hp->n_text_layer; l++) {
        const am_decoder_layer *L = &w->dec[l];
        float *K = b->self_k + (size_t)l * C * d, *V = b->self_v + (size_t)l * C * d;
        /* causal self-attention */
        layer_norm(n, d, b->dx, L->attn_ln.gamma, L->attn_ln.beta, b->dn);
        gemm_f32(b->pool, n, 3 * d, d, b->dn, d, L->attn_qkv.w, d, L->attn_qkv.b, b->dqkv, 3 * d); /* [n][3d] */
        for (int i = 0; i < n; i++) {
            memcpy(K + (size_t)(P + i) * d, b->dqkv + (size_t)i * 3 * d + d, (size_t)d * sizeof(float));
            memcpy(V + (size_t)(P + i) * d, b->dqkv + (size_t)i * 3 * d + 2 * d, (size_t)d * sizeof(float));
        }
        dec_attn_job sa = {b, b->dqkv, 3 * d, K, V, d, n, H, dh, d, P, 1};
        am_pool_run(b->pool, n * H, dec_attn_task, &sa);
        gemm_f32(b->pool, n, d, d, b->dattn, d, L->attn_out.w, d, L->attn_out.b, b->dn, d);
        add_inplace((size_t)n * d, b->dx, b->dn);
        /* cross-attention over the encoder output */
        layer_norm(n, d, b->dx, L->cross_ln.gamma, L->cross_ln.beta, b->dn);
        gemm_f32(b->pool, n, d, d, b->dn, d, L->cross_q.w, d, L->cross_q.b, b->dq, d);
        const float *ckv = b->cross_kv + (size_t)l * T * 2 * d;
        dec_attn_job ca = {b, b->dq, d, ckv, ckv + d, 2 * d, n, H, dh, d, T, 0};
        am_pool_run(b->pool, n * H, dec_attn_task, &ca);
        gemm_f32(b->pool, n, d, d, b->dattn, d, L->cross_out.w, d, L->cross_out.b, b->dn, d);
        add_inplace((size_t)n * d, b->dx, b->dn);
        /* MLP */
        layer_norm(n, d, b->dx, L->mlp_ln.gamma, L->mlp_ln.beta, b->dn);
        gemm_f32(b->pool, n, 4 * d, d, b->dn, d, L->fc1.w, d, L->fc1.b, b->dmlp, 4 * d);
        gelu_inplace((size_t)n * 4 * d, b->dmlp);
        gemm_f32(b->pool, n, d, 4 * d, b->dmlp, 4 * d, L->fc2.w, 4 * d, L->fc2.b, b->dn, d);
        add_inplace((size_t)n * d, b->dx, b->dn);
    }
    if (n_rows == 0) return AM_OK;
    /* logits = LN(x) · token_embeddingᵀ for the wanted rows */
    for (int r = 0; r < n_rows; r++)
        memcpy(b->dlast + (size_t)r * d, b->dx + (size_t)rows[r] * d, (size_t)d * sizeof(float));
    layer_norm(n_rows, d, b->dlast, w->dec_ln.gamma, w->dec_ln.beta, b->dlast);
    gemm_f32(b->pool, n_rows, hp->n_vocab, d, b->dlast, d, w->tok_emb, d, NULL, logits, hp->n_vocab);
    return AM_OK;
}

/* ---- lifetime ------------------------------------------------------------------------------- */

static const float *cpu_encoder_output(const am_backend *base) {
    const cpu_backend *b = (const cpu_backend *)base;
    return b->have_encoding ? b->x : NULL;
}

static void cpu_destroy(am_backend *base) {
    cpu_backend *b = (cpu_backend *)base;
    if (!b) return;
    am_pool_destroy(b->pool);
    float **bufs[] = {&b->im2col, &b->conv, &b->x, &b->h, &b->qkv, &b->vt, &b->attn, &b->mlp, &b->scores,
                      &b->cross_kv, &b->self_k, &b->self_v, &b->dx, &b->dn, &b->dqkv, &b->dq, &b->dattn,
                      &b->dmlp, &b->dlast};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(*bufs[i]);
    free(b);
}

static const am_backend_ops cpu_ops = {"cpu-f32", cpu_encode, cpu_decode, cpu_encoder_output, cpu_destroy};

am_backend *backend_cpu_create(const am_model *m, int n_threads, char *err, size_t err_size) {
    cpu_backend *b = calloc(1, sizeof *b);
    if (!b) { am_fail(err, err_size, AM_E_NOMEM, "out of memory"); return NULL; }
    b->base.ops = &cpu_ops;
    b->m = m;
    b->n_threads = n_threads > 0 ? n_threads : am_cpu_count();
    const am_hparams *hp = &m->hp;
    const size_t T = (size_t)hp->n_audio_ctx, F = 2 * T, d = (size_t)hp->n_audio_state, C = (size_t)hp->n_text_ctx;
    const size_t cin = (size_t)(hp->n_mels > hp->n_audio_state ? hp->n_mels : hp->n_audio_state) * 3;
    const size_t sld = T > C ? T : C;
    b->pool = am_pool_create(b->n_threads);
    b->n_threads = am_pool_size(b->pool);
    b->im2col = malloc(F * cin * sizeof(float));
    b->conv = malloc(F * d * sizeof(float));
    b->x = malloc(T * d * sizeof(float));
    b->h = malloc(T * d * sizeof(float));
    b->qkv = malloc(T * 3 * d * sizeof(float));
    b->vt = malloc(T * d * sizeof(float));
    b->attn = malloc(T * d * sizeof(float));
    b->mlp = malloc(T * 4 * d * sizeof(float));
    b->scores = malloc((size_t)b->n_threads * ATTN_ROWS * sld * sizeof(float));
    b->cross_kv = malloc((size_t)hp->n_text_layer * T * 2 * d * sizeof(float));
    b->self_k = calloc((size_t)hp->n_text_layer * C * d, sizeof(float));
    b->self_v = calloc((size_t)hp->n_text_layer * C * d, sizeof(float));
    b->dx = malloc(C * d * sizeof(float));
    b->dn = malloc(C * d * sizeof(float));
    b->dqkv = malloc(C * 3 * d * sizeof(float));
    b->dq = malloc(C * d * sizeof(float));
    b->dattn = malloc(C * d * sizeof(float));
    b->dmlp = malloc(C * 4 * d * sizeof(float));
    b->dlast = malloc(C * d * sizeof(float));
    if (!b->pool || !b->im2col || !b->conv || !b->x || !b->h || !b->qkv || !b->vt || !b->attn || !b->mlp ||
        !b->scores || !b->cross_kv || !b->self_k || !b->self_v || !b->dx || !b->dn || !b->dqkv || !b->dq ||
        !b->dattn || !b->dmlp || !b->dlast) {
        cpu_destroy(&b->base);
        am_fail(err, err_size, AM_E_NOMEM, "out of memory allocating the CPU backend");
        return NULL;
    }
    return &b->base;
}
