/* cpu_backend.c — Whisper's encoder and decoder on the CPU (float32 activations, W8A8 or float32
 * linear layers).
 *
 * Notation: T = n_audio_ctx (1500), d = model width, H = heads, dh = d / H, F = 2T mel frames,
 * R = rows of a decoder step (the tokens of every sequence in the batch, stacked), C = n_text_ctx.
 *
 * The backend (one per model) places the weights: int8 layers are packed into the panel layout of
 * gemm_int8.h (the model's row-major int8 copies are released), the convolutions are transposed
 * for the NN kernel; norms, biases and positions are read from the model where they are.  A
 * session (one per transcription) owns its threads, scratch, encoder outputs and caches.
 * Every linear layer goes through linear_forward(), the one place a weight matrix is applied. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/cpu_step.h"
#include "backend/cpu/gemm_int8.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/threadpool.h"
#include "common/util.h"
#include "model/model.h"

#define ATTN_ROWS 64 /* query rows per encoder attention task */

/* A linear layer as the CPU applies it: float32 w [n_out][n_in], or packed int8 (q.q != NULL). */
typedef struct cpu_linear {
    const float *w;
    const float *b; /* [n_out] or NULL */
    am_i8w q;
    int n_out, n_in;
} cpu_linear;

typedef struct cpu_enc_layer {
    cpu_linear qkv, out, fc1, fc2;
} cpu_enc_layer;

typedef struct cpu_dec_layer {
    cpu_linear qkv, out, cross_q, cross_kv, cross_out, fc1, fc2;
} cpu_dec_layer;

typedef struct cpu_weights {
    cpu_enc_layer *enc;       /* [n_audio_layer] */
    cpu_dec_layer *dec;       /* [n_text_layer]  */
    cpu_linear out_proj;      /* vocabulary projection (tied to the token embeddings), no bias */
    cpu_linear conv1, conv2;  /* float: w is the transposed weight [n_in][n_out] (NN kernel) */
} cpu_weights;

typedef struct cpu_backend {
    am_backend base;
    cpu_weights W;
    void **allocs;            /* every placed array, freed with the backend */
    int n_allocs, cap_allocs;
    int i8_path;
} cpu_backend;

typedef struct cpu_session {
    am_session base;
    const am_model *m;
    const cpu_weights *W; /* the backend's placed weights (shared, read-only) */
    am_pool *pool;
    int n_threads;
    /* encoder scratch (one window at a time) */
    /* the convolutions' buffers share memory with the transformer's: they are never live together */
    float *im2col;   /* [max(F·n_mels·3, T·d·3)], inside mlp's memory */
    float *conv;     /* [F][d], inside qkv's memory */
    float *x;        /* [T][d] residual stream */
    float *h;        /* [T][d] normalised input of a block */
    float *qkv;      /* [T][3d] (at least F·d: conv) */
    float *kt;       /* [d][T] = [H][dh][T]: K transposed, head by head */
    float *attn;     /* [T][d] */
    float *mlp;      /* [T][4d] (at least the im2col size) */
    float *scores;   /* [n_threads][ATTN_ROWS][max(T, C)] */
    /* resident per window slot */
    float *enc_out;  /* [max_windows][T][d] */
    float *cross_kt; /* [max_windows][n_text_layer][d][T]  Kᵀ per decoder layer ([H][dh][T]) */
    float *cross_v;  /* [max_windows][n_text_layer][T][d]  V per decoder layer */
    int n_encoded;
    /* resident per sequence slot */
    float *self_k;   /* [max_seqs][n_text_layer][C][d] */
    float *self_v;   /* [max_seqs][n_text_layer][C][d] */
    /* decoder scratch, grown to R rows on demand */
    int cap_rows;
    float *dx, *dn, *dqkv, *dq, *dattn, *dmlp; /* [R][d], [R][3d], [R][4d] ... */
    int *row_seq, *row_pos;                    /* [R] sequence index and position of each row */
    int *grp_row, *grp_len, n_groups;          /* runs of consecutive rows on the same window */
    /* cross-attention capture for word alignment (NULL when not capturing) */
    float *capture;
    const int (*capture_heads)[2];
    int n_capture_heads, capture_layer;
    /* int8 (W8A8): quantised activations of the current linear layer, kernel path, sticky OOM flag */
    am_i8_scratch i8;
    int i8_path;
    int oom;
    /* decode_step: the logits of the step and scratch for the rules, [rows][n_vocab], [n_vocab] */
    float *step_logits, *step_work;
    int cap_step_rows;
} cpu_session;

/* y[n][L.n_out] = x[n][L.n_in] · L.wᵀ + bias (bias may be NULL).
 * Float weights: float32 GEMM.  int8 weights (L.q): W8A8 — x quantised per row at run time, int8 ×
 * int8 → int32, rescaled by the row and channel scales (gemm_int8.h); y stays float32. */
static void linear_apply(cpu_session *b, const cpu_linear *L, int n, const float *x, float *y, const float *bias) {
    if (L->q.q) {
        if (gemm_i8(b->pool, b->i8_path, n, L->n_out, L->n_in, x, L->n_in, &L->q, bias, y, L->n_out, &b->i8) != 0)
            b->oom = 1;
    } else {
        gemm_f32(b->pool, n, L->n_out, L->n_in, x, L->n_in, L->w, L->n_in, bias, y, L->n_out);
    }
}

static void linear_forward(cpu_session *b, const cpu_linear *L, int n, const float *x, float *y) {
    linear_apply(b, L, n, x, y, L->b);
}

/* logits[n][V] = x[n][d] · Eᵀ, the vocabulary projection (E = token embeddings, no bias). */
static void vocab_projection(cpu_session *b, int n, const float *x, float *logits) {
    linear_apply(b, &b->W->out_proj, n, x, logits, NULL);
}

/* The decoder's input embedding of `token` (float models: tok_emb; int8 models: the half copy,
 * or the packed int8 projection dequantised when the file itself was int8). */
static void embedding_row(const cpu_session *b, int token, float *out) {
    const am_model *m = b->m;
    const int d = m->hp.n_text_state;
    if (m->w.tok_emb) {
        memcpy(out, m->w.tok_emb + (size_t)token * d, (size_t)d * sizeof(float));
    } else if (m->w.tok_emb_f16) {
        const uint16_t *h = m->w.tok_emb_f16 + (size_t)token * d;
        for (int c = 0; c < d; c++) out[c] = model_f16_to_f32(h[c]);
    } else {
        gemm_i8_unpack_row(&b->W->out_proj.q, token, out);
    }
}

/* ---- encoder -------------------------------------------------------------------------------- */

/* The encoder's row-parallel jobs split their n rows into tasks of 64: task's first row in *r0,
 * returns how many rows it has. */
static int row_block(int task, int n, int *r0) {
    *r0 = task * 64;
    return n - *r0 < 64 ? n - *r0 : 64;
}

/* y[M][N] = x[M][K] · Wᵀ + b for a float layer whose weight is held transposed (wt [K][N]): NN
 * GEMM on the AVX-512/AVX2 kernel, 64-row blocks over the pool.  The convolutions use it. */
typedef struct nn_job {
    int M, N, K;
    const float *x, *wt, *bias;
    float *y;
} nn_job;

static void nn_task(void *ctx, int task, int thread) {
    (void)thread;
    nn_job *j = ctx;
    int r0, rows = row_block(task, j->M, &r0);
    float *y = j->y + (size_t)r0 * j->N;
    gemm_nn_f32(rows, j->N, j->K, j->x + (size_t)r0 * j->K, j->K, j->wt, j->N, y, j->N);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < j->N; c++) y[(size_t)r * j->N + c] += j->bias[c];
}

/* L.w holds the weight transposed, [n_in][n_out]. */
static void linear_forward_t(cpu_session *b, const cpu_linear *L, int M, const float *x, float *y) {
    nn_job j = {M, L->n_out, L->n_in, x, L->w, L->b, y};
    am_pool_run(b->pool, (M + 63) / 64, nn_task, &j);
}

/* Row-parallel helpers for the encoder's [T][d] element-wise work, 64 rows per task, so that
 * nothing serial is left between the GEMMs (what keeps 2 threads near 2x). */
typedef struct rows_job {
    int n, d;
    const float *x, *gamma, *beta, *add;
    float *y;
} rows_job;

static void ln_task(void *ctx, int task, int thread) { /* y = LN(x (+= add)) */
    (void)thread;
    rows_job *j = ctx;
    int r0, rows = row_block(task, j->n, &r0);
    size_t off = (size_t)r0 * j->d;
    if (j->add) add_inplace((size_t)rows * j->d, (float *)j->x + off, j->add + off);
    if (j->y) layer_norm(rows, j->d, j->x + off, j->gamma, j->beta, j->y + off);
}

/* x += add (if add), then y = LayerNorm(x) (if y); rows in parallel. */
static void add_layer_norm(cpu_session *b, int n, int d, float *x, const float *add, const am_layernorm *ln, float *y) {
    rows_job j = {n, d, x, ln ? ln->gamma : NULL, ln ? ln->beta : NULL, add, ln ? y : NULL};
    am_pool_run(b->pool, (n + 63) / 64, ln_task, &j);
}

/* im2col for a k=3, pad=1 convolution over time.  src is [C][F] (channel-major) when
 * channel_major, else [F][C]; out row t holds src[c][t·stride + k − 1] at c·3 + k. */
typedef struct im2col_job {
    const float *src;
    int C, F, channel_major, stride, T_out;
    float *out;
} im2col_job;

static void im2col_task(void *ctx, int task, int thread) {
    (void)thread;
    im2col_job *j = ctx;
    int t0, n = row_block(task, j->T_out, &t0);
    for (int t = t0; t < t0 + n; t++) {
        float *row = j->out + (size_t)t * j->C * 3;
        for (int k = 0; k < 3; k++) {
            int s = t * j->stride + k - 1;
            if (s < 0 || s >= j->F) {
                for (int c = 0; c < j->C; c++) row[c * 3 + k] = 0.0f;
            } else if (j->channel_major) {
                for (int c = 0; c < j->C; c++) row[c * 3 + k] = j->src[(size_t)c * j->F + s];
            } else {
                const float *col = j->src + (size_t)s * j->C;
                for (int c = 0; c < j->C; c++) row[c * 3 + k] = col[c];
            }
        }
    }
}

static void im2col_parallel(cpu_session *b, const float *src, int C, int F, int channel_major, int stride, int T_out,
                            float *out) {
    im2col_job j = {src, C, F, channel_major, stride, T_out, out};
    am_pool_run(b->pool, (T_out + 63) / 64, im2col_task, &j);
}

typedef struct copy_job {
    const float *src;
    float *dst;
    int n, d, lds;
} copy_job;

static void copy_rows_task(void *ctx, int task, int thread) { /* dst[r][0..d) = src[r][0..d), 64 rows */
    (void)thread;
    copy_job *j = ctx;
    int r0, rows = row_block(task, j->n, &r0);
    for (int r = r0; r < r0 + rows; r++)
        memcpy(j->dst + (size_t)r * j->d, j->src + (size_t)r * j->lds, (size_t)j->d * sizeof(float));
}

typedef struct enc_attn_job {
    cpu_session *b;
    int T, d, H, dh, row_blocks, sld;
} enc_attn_job;

/* Kᵀ of one head: kt[h·dh + e][t] = K[t][h·dh + e], K read from src (row stride lds). */
typedef struct transpose_job {
    const float *src;
    float *dst;
    int T, dh, lds;
} transpose_job;

static void transpose_k_task(void *ctx, int head, int thread) {
    (void)thread;
    transpose_job *j = ctx;
    transpose_f32(j->T, j->dh, j->src + (size_t)head * j->dh, j->lds, j->dst + (size_t)head * j->dh * j->T, j->T);
}

/* One task: ATTN_ROWS query rows of one head.  O = softmax(Q Kᵀ / √dh) V. */
static void enc_attn_task(void *ctx, int task, int thread) {
    enc_attn_job *j = ctx;
    cpu_session *b = j->b;
    int head = task / j->row_blocks, r0 = (task % j->row_blocks) * ATTN_ROWS;
    int rows = j->T - r0 < ATTN_ROWS ? j->T - r0 : ATTN_ROWS;
    int ld = 3 * j->d;
    float *S = b->scores + (size_t)thread * ATTN_ROWS * j->sld;
    const float *Q = b->qkv + (size_t)r0 * ld + head * j->dh;           /* [rows][dh] */
    const float *KT = b->kt + (size_t)head * j->dh * j->T;              /* [dh][T] */
    const float *V = b->qkv + 2 * j->d + head * j->dh;                  /* [T][dh] */
    attention_block(rows, j->T, j->dh, 1.0f / sqrtf((float)j->dh), Q, ld, KT, j->T, V, ld, S, j->sld,
                    b->attn + (size_t)r0 * j->d + head * j->dh, j->d, NULL);
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

static int max_ctx(const am_hparams *hp) { return hp->n_audio_ctx > hp->n_text_ctx ? hp->n_audio_ctx : hp->n_text_ctx; }

/* One window: mel [n_mels][F] → enc_out [T][d] and cross K|V of every decoder layer. */
static void encode_window(cpu_session *b, const float *mel, float *enc_out, float *cross_kt, float *cross_v) {
    const am_hparams *hp = &b->m->hp;
    const am_weights *w = &b->m->w;
    const int T = hp->n_audio_ctx, F = 2 * T, d = hp->n_audio_state, H = hp->n_audio_head, dh = d / H;

    /* conv1: mel [n_mels][F] → [F][d], GELU */
    im2col_parallel(b, mel, hp->n_mels, F, 1, 1, F, b->im2col);
    linear_forward_t(b, &b->W->conv1, F, b->im2col, b->conv);
    gelu_parallel(b->pool, b->conv, (size_t)F * d);
    /* conv2 (stride 2): [F][d] → [T][d], GELU, + positions */
    im2col_parallel(b, b->conv, d, F, 0, 2, T, b->im2col);
    linear_forward_t(b, &b->W->conv2, T, b->im2col, b->x);
    gelu_parallel(b->pool, b->x, (size_t)T * d);
    add_layer_norm(b, T, d, b->x, w->enc_pos, NULL, NULL);

    enc_attn_job job = {b, T, d, H, dh, (T + ATTN_ROWS - 1) / ATTN_ROWS, max_ctx(hp)};
    for (int l = 0; l < hp->n_audio_layer; l++) {
        const am_encoder_layer *L = &w->enc[l];
        const cpu_enc_layer *P = &b->W->enc[l];
        /* x += Attention(LN(x)) */
        add_layer_norm(b, T, d, b->x, NULL, &L->attn_ln, b->h);
        linear_forward(b, &P->qkv, T, b->h, b->qkv); /* [T][3d] */
        transpose_job tk = {b->qkv + d, b->kt, T, dh, 3 * d};
        am_pool_run(b->pool, H, transpose_k_task, &tk);
        am_pool_run(b->pool, H * job.row_blocks, enc_attn_task, &job);
        linear_forward(b, &P->out, T, b->attn, b->h);
        /* x += attention; x += MLP(LN(x)) */
        add_layer_norm(b, T, d, b->x, b->h, &L->mlp_ln, b->h);
        linear_forward(b, &P->fc1, T, b->h, b->mlp); /* [T][4d] */
        gelu_parallel(b->pool, b->mlp, (size_t)T * 4 * d);
        linear_forward(b, &P->fc2, T, b->mlp, b->h);
        add_layer_norm(b, T, d, b->x, b->h, NULL, NULL);
    }
    add_layer_norm(b, T, d, b->x, NULL, &w->enc_ln, enc_out); /* encoder output [T][d] */

    /* cross-attention K | V of every decoder layer, computed once per window (into the qkv scratch,
     * [T][2d]); kept as Kᵀ [d][T] and V [T][d] */
    for (int l = 0; l < hp->n_text_layer; l++) {
        linear_forward(b, &b->W->dec[l].cross_kv, T, enc_out, b->qkv);
        transpose_job tk = {b->qkv, cross_kt + (size_t)l * d * T, T, dh, 2 * d};
        am_pool_run(b->pool, H, transpose_k_task, &tk);
        copy_job cv = {b->qkv + d, cross_v + (size_t)l * T * d, T, d, 2 * d};
        am_pool_run(b->pool, (T + 63) / 64, copy_rows_task, &cv);
    }
}

static int cpu_encode(am_session *base, const float *mel, int n_windows) {
    cpu_session *b = (cpu_session *)base;
    const am_hparams *hp = &b->m->hp;
    if (n_windows < 1 || n_windows > base->max_windows) return AM_E_INVALID_ARG;
    const size_t T = (size_t)hp->n_audio_ctx, d = (size_t)hp->n_audio_state;
    b->oom = 0;
    for (int wi = 0; wi < n_windows; wi++)
        encode_window(b, mel + (size_t)wi * hp->n_mels * 2 * T, b->enc_out + (size_t)wi * T * d,
                      b->cross_kt + (size_t)wi * hp->n_text_layer * d * T, b->cross_v + (size_t)wi * hp->n_text_layer * T * d);
    b->n_encoded = n_windows;
    base->stats.encode_calls++;
    base->stats.windows_encoded += (uint64_t)n_windows;
    return b->oom ? AM_E_NOMEM : AM_OK;
}

/* ---- decoder -------------------------------------------------------------------------------- */

typedef struct dec_attn_job {
    cpu_session *b;
    const am_decode_seq *seqs;
    const float *q; /* [R][ldq], head h at h·dh */
    int ldq;
    int layer, H, dh, d;
} dec_attn_job;

/* One (row, head): causal self-attention over the row's cache slot (keys 0..pos). */
static void dec_self_task(void *ctx, int task, int thread) {
    dec_attn_job *j = ctx;
    cpu_session *b = j->b;
    const am_hparams *hp = &b->m->hp;
    int r = task / j->H, h = task % j->H;
    const am_decode_seq *sq = &j->seqs[b->row_seq[r]];
    size_t off = ((size_t)sq->slot * hp->n_text_layer + j->layer) * hp->n_text_ctx * j->d + (size_t)h * j->dh;
    const float *K = b->self_k + off, *V = b->self_v + off; /* [n_keys][dh], row stride d */
    int n_keys = b->row_pos[r] + 1;
    float *s = b->scores + (size_t)thread * ATTN_ROWS * max_ctx(hp);
    const float *q = j->q + (size_t)r * j->ldq + h * j->dh;
    /* s[t] = q · k_t / √dh, softmax, o = Σ_t s[t] v_t */
    gemm_f32_serial(1, n_keys, j->dh, q, j->dh, K, j->d, NULL, s, n_keys);
    softmax_scaled_inplace(n_keys, s, 1.0f / sqrtf((float)j->dh));
    gemm_nn_f32(1, j->dh, n_keys, s, n_keys, V, j->d, b->dattn + (size_t)r * j->d + h * j->dh, j->d);
}

/* One (group, head): cross-attention of a run of rows that read the same window's encoder K/V
 * (the beams of one sequence, or the rows of a prompt), as one block of attention. */
static void dec_cross_task(void *ctx, int task, int thread) {
    dec_attn_job *j = ctx;
    cpu_session *b = j->b;
    const am_hparams *hp = &b->m->hp;
    const int T = hp->n_audio_ctx;
    int g = task / j->H, h = task % j->H;
    int r0 = b->grp_row[g], rows = b->grp_len[g];
    int window = j->seqs[b->row_seq[r0]].window;
    const size_t wl = (size_t)window * hp->n_text_layer + j->layer;
    const float *KT = b->cross_kt + wl * j->d * T + (size_t)h * j->dh * T; /* [dh][T] */
    const float *V = b->cross_v + wl * T * j->d + (size_t)h * j->dh;       /* [T][dh], row stride d */
    float *raw = NULL;
    if (b->capture)
        for (int c = 0; c < b->n_capture_heads; c++)
            if (b->capture_heads[c][0] == j->layer && b->capture_heads[c][1] == h)
                raw = b->capture + ((size_t)c * b->capture_layer + r0) * T;
    float *S = b->scores + (size_t)thread * ATTN_ROWS * max_ctx(hp);
    attention_block(rows, T, j->dh, 1.0f / sqrtf((float)j->dh), j->q + (size_t)r0 * j->ldq + h * j->dh, j->ldq, KT,
                    T, V, j->d, S, T, b->dattn + (size_t)r0 * j->d + h * j->dh, j->d, raw);
}

static int ensure_rows(cpu_session *b, int R) {
    if (R <= b->cap_rows) return AM_OK;
    const size_t d = (size_t)b->m->hp.n_text_state;
    int cap = R > 2 * b->cap_rows ? R : 2 * b->cap_rows;
    float **bufs[] = {&b->dx, &b->dn, &b->dq, &b->dattn};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        float *p = realloc(*bufs[i], (size_t)cap * d * sizeof(float));
        if (!p) return AM_E_NOMEM;
        *bufs[i] = p;
    }
    float *p = realloc(b->dqkv, (size_t)cap * 3 * d * sizeof(float));
    if (!p) return AM_E_NOMEM;
    b->dqkv = p;
    p = realloc(b->dmlp, (size_t)cap * 4 * d * sizeof(float));
    if (!p) return AM_E_NOMEM;
    b->dmlp = p;
    int **ibufs[] = {&b->row_seq, &b->row_pos, &b->grp_row, &b->grp_len};
    for (size_t i = 0; i < sizeof ibufs / sizeof ibufs[0]; i++) {
        int *q = realloc(*ibufs[i], (size_t)cap * sizeof(int));
        if (!q) return AM_E_NOMEM;
        *ibufs[i] = q;
    }
    b->cap_rows = cap;
    return AM_OK;
}

/* The decoder stack over every row of the batch; leaves the residual stream in b->dx [R][d]. */
static int decoder_forward(cpu_session *b, const am_decode_seq *seqs, int n_seqs, int *rows_out) {
    const am_hparams *hp = &b->m->hp;
    const am_weights *w = &b->m->w;
    const int d = hp->n_text_state, H = hp->n_text_head, dh = d / H, C = hp->n_text_ctx;
    int R = 0;
    for (int s = 0; s < n_seqs; s++) {
        const am_decode_seq *sq = &seqs[s];
        if (sq->slot < 0 || sq->slot >= b->base.max_seqs || sq->window < 0 || sq->window >= b->n_encoded ||
            sq->n_tokens < 1 || sq->n_past < 0 || sq->n_past + sq->n_tokens > C || !sq->tokens)
            return AM_E_INVALID_ARG;
        for (int i = 0; i < sq->n_tokens; i++)
            if (sq->tokens[i] < 0 || sq->tokens[i] >= hp->n_vocab) return AM_E_INVALID_ARG;
        R += sq->n_tokens;
    }
    b->base.stats.rows_decoded += (uint64_t)R;
    if (ensure_rows(b, R) != AM_OK) return AM_E_NOMEM;
    /* x[r] = token embedding + learned position */
    for (int s = 0, r = 0; s < n_seqs; s++)
        for (int i = 0; i < seqs[s].n_tokens; i++, r++) {
            b->row_seq[r] = s;
            b->row_pos[r] = seqs[s].n_past + i;
            const float *p = w->dec_pos + (size_t)b->row_pos[r] * d;
            float *xr = b->dx + (size_t)r * d;
            embedding_row(b, seqs[s].tokens[i], xr); /* int8 models: dequantised from out_proj */
            for (int c = 0; c < d; c++) xr[c] += p[c];
        }
    /* cross-attention groups: runs of rows on one window, at most ATTN_ROWS each */
    b->n_groups = 0;
    for (int r = 0; r < R; r++) {
        int g = b->n_groups - 1;
        if (g >= 0 && b->grp_len[g] < ATTN_ROWS && seqs[b->row_seq[r]].window == seqs[b->row_seq[r - 1]].window) {
            b->grp_len[g]++;
        } else {
            b->grp_row[b->n_groups] = r;
            b->grp_len[b->n_groups++] = 1;
        }
    }
    for (int l = 0; l < hp->n_text_layer; l++) {
        const am_decoder_layer *L = &w->dec[l];
        const cpu_dec_layer *P = &b->W->dec[l];
        /* causal self-attention: append this step's K, V to each row's cache slot first */
        layer_norm(R, d, b->dx, L->attn_ln.gamma, L->attn_ln.beta, b->dn);
        linear_forward(b, &P->qkv, R, b->dn, b->dqkv); /* [R][3d] */
        for (int r = 0; r < R; r++) {
            size_t off = (((size_t)seqs[b->row_seq[r]].slot * hp->n_text_layer + l) * C + b->row_pos[r]) * d;
            memcpy(b->self_k + off, b->dqkv + (size_t)r * 3 * d + d, (size_t)d * sizeof(float));
            memcpy(b->self_v + off, b->dqkv + (size_t)r * 3 * d + 2 * d, (size_t)d * sizeof(float));
        }
        dec_attn_job sa = {b, seqs, b->dqkv, 3 * d, l, H, dh, d};
        am_pool_run(b->pool, R * H, dec_self_task, &sa);
        linear_forward(b, &P->out, R, b->dattn, b->dn);
        add_inplace((size_t)R * d, b->dx, b->dn);
        /* cross-attention over the window's encoder output */
        layer_norm(R, d, b->dx, L->cross_ln.gamma, L->cross_ln.beta, b->dn);
        linear_forward(b, &P->cross_q, R, b->dn, b->dq);
        dec_attn_job ca = {b, seqs, b->dq, d, l, H, dh, d};
        am_pool_run(b->pool, b->n_groups * H, dec_cross_task, &ca);
        linear_forward(b, &P->cross_out, R, b->dattn, b->dn);
        add_inplace((size_t)R * d, b->dx, b->dn);
        /* MLP */
        layer_norm(R, d, b->dx, L->mlp_ln.gamma, L->mlp_ln.beta, b->dn);
        linear_forward(b, &P->fc1, R, b->dn, b->dmlp);
        gelu_inplace((size_t)R * 4 * d, b->dmlp);
        linear_forward(b, &P->fc2, R, b->dmlp, b->dn);
        add_inplace((size_t)R * d, b->dx, b->dn);
    }
    *rows_out = R;
    return AM_OK;
}

/* The decoder over the sequences, then LN and the vocabulary projection of each sequence's last
 * row: logits [n_seqs][n_vocab]. */
static int decode_last_rows(cpu_session *b, const am_decode_seq *seqs, int n_seqs, float *logits) {
    const int d = b->m->hp.n_text_state;
    if (n_seqs < 1 || n_seqs > b->base.max_seqs || !seqs || !logits) return AM_E_INVALID_ARG;
    b->oom = 0;
    int R, rc = decoder_forward(b, seqs, n_seqs, &R);
    if (rc != AM_OK) return rc;
    /* logits = LN(x_last) · token_embeddingᵀ for the last row of each sequence (in dq) */
    for (int s = 0, r = 0; s < n_seqs; s++) {
        r += seqs[s].n_tokens;
        memcpy(b->dq + (size_t)s * d, b->dx + (size_t)(r - 1) * d, (size_t)d * sizeof(float));
    }
    layer_norm(n_seqs, d, b->dq, b->m->w.dec_ln.gamma, b->m->w.dec_ln.beta, b->dq);
    vocab_projection(b, n_seqs, b->dq, logits);
    b->base.stats.decode_calls++;
    return b->oom ? AM_E_NOMEM : AM_OK;
}

static int cpu_decode_logits(am_session *base, const am_decode_seq *seqs, int n_seqs, float *logits) {
    return decode_last_rows((cpu_session *)base, seqs, n_seqs, logits);
}

static int ensure_step_rows(cpu_session *b, int n) {
    if (n <= b->cap_step_rows) return AM_OK;
    const size_t nv = (size_t)b->m->hp.n_vocab;
    float *p = realloc(b->step_logits, (size_t)n * nv * sizeof(float));
    if (!p) return AM_E_NOMEM;
    b->step_logits = p;
    b->cap_step_rows = n;
    return AM_OK;
}

static int cpu_decode_step(am_session *base, const am_decode_seq *seqs, int n_seqs, const am_step_rules *rules,
                           const am_step_seq *state, am_step_out *out) {
    cpu_session *b = (cpu_session *)base;
    const int nv = b->m->hp.n_vocab;
    if (!rules || !state || !out || rules->k < 0 || rules->k > AM_STEP_MAX_K || rules->eot < 0 || rules->eot >= nv ||
        rules->blank_id >= nv || rules->report_id >= nv || rules->timestamp_begin >= nv || rules->no_timestamps >= nv)
        return AM_E_INVALID_ARG;
    if (n_seqs < 1 || n_seqs > base->max_seqs) return AM_E_INVALID_ARG;
    if (ensure_step_rows(b, n_seqs) != AM_OK) return AM_E_NOMEM;
    int rc = decode_last_rows(b, seqs, n_seqs, b->step_logits);
    if (rc != AM_OK) return rc;
    for (int i = 0, d = 0; i < n_seqs; i++) {
        float *x = b->step_logits + (size_t)i * nv;
        cpu_step_row(rules, &state[i], x, nv, b->step_work, out->tok + (size_t)i * rules->k,
                     out->lp + (size_t)i * rules->k, out->report_lp ? &out->report_lp[i] : NULL,
                     out->draw_tok ? out->draw_tok + d : NULL, out->draw_lp ? out->draw_lp + d : NULL);
        d += state[i].n_draws;
    }
    return AM_OK;
}

static int cpu_cross_scores(am_session *base, const am_decode_seq *seq, const int (*heads)[2], int n_heads,
                            float *scores, int vocab_limit, float *next_p) {
    cpu_session *b = (cpu_session *)base;
    const am_hparams *hp = &b->m->hp;
    const int d = hp->n_text_state, nv = hp->n_vocab;
    for (int i = 0; i < n_heads; i++)
        if (heads[i][0] < 0 || heads[i][0] >= hp->n_text_layer || heads[i][1] < 0 || heads[i][1] >= hp->n_text_head)
            return AM_E_INVALID_ARG;
    if (next_p && (vocab_limit < 1 || vocab_limit > nv)) return AM_E_INVALID_ARG;
    b->capture = scores;
    b->capture_heads = heads;
    b->n_capture_heads = n_heads;
    b->capture_layer = seq->n_tokens;
    b->oom = 0;
    int R, rc = decoder_forward(b, seq, 1, &R);
    b->capture = NULL;
    if (rc != AM_OK) return rc;
    b->base.stats.decode_calls++;
    if (!next_p || R < 2) return b->oom ? AM_E_NOMEM : AM_OK;
    /* the rows' logits, a few at a time through the step buffer */
    const int chunk = 16;
    if (ensure_step_rows(b, chunk) != AM_OK) return AM_E_NOMEM;
    for (int r0 = 0; r0 < R - 1; r0 += chunk) {
        int n = R - 1 - r0 < chunk ? R - 1 - r0 : chunk;
        layer_norm(n, d, b->dx + (size_t)r0 * d, b->m->w.dec_ln.gamma, b->m->w.dec_ln.beta, b->dq);
        vocab_projection(b, n, b->dq, b->step_logits);
        for (int i = 0; i < n; i++)
            next_p[r0 + i] = step_prob_within(b->step_logits + (size_t)i * nv, vocab_limit, seq->tokens[r0 + i + 1]);
    }
    return b->oom ? AM_E_NOMEM : AM_OK;
}

static int cpu_copy_cache(am_session *base, int dst, int src, int n_pos) {
    cpu_session *b = (cpu_session *)base;
    const am_hparams *hp = &b->m->hp;
    if (dst < 0 || src < 0 || dst >= base->max_seqs || src >= base->max_seqs || n_pos < 0 || n_pos > hp->n_text_ctx)
        return AM_E_INVALID_ARG;
    if (dst == src || n_pos == 0) return AM_OK;
    const size_t d = (size_t)hp->n_text_state, C = (size_t)hp->n_text_ctx;
    for (int l = 0; l < hp->n_text_layer; l++) {
        size_t so = ((size_t)src * hp->n_text_layer + l) * C * d, dof = ((size_t)dst * hp->n_text_layer + l) * C * d;
        memcpy(b->self_k + dof, b->self_k + so, (size_t)n_pos * d * sizeof(float));
        memcpy(b->self_v + dof, b->self_v + so, (size_t)n_pos * d * sizeof(float));
    }
    return AM_OK;
}

static int cpu_encoder_output(am_session *base, int window, float *out) {
    const cpu_session *b = (const cpu_session *)base;
    if (window < 0 || window >= b->n_encoded || !out) return AM_E_INVALID_ARG;
    const size_t n = (size_t)b->m->hp.n_audio_ctx * b->m->hp.n_audio_state;
    memcpy(out, b->enc_out + (size_t)window * n, n * sizeof(float));
    return AM_OK;
}

/* ---- sessions ------------------------------------------------------------------------------- */

static void cpu_session_destroy(am_session *base) {
    cpu_session *b = (cpu_session *)base;
    if (!b) return;
    am_pool_destroy(b->pool);
    float **bufs[] = {&b->x, &b->h, &b->qkv, &b->kt, &b->attn, &b->mlp, &b->scores,
                      &b->enc_out, &b->cross_kt, &b->cross_v, &b->self_k, &b->self_v, &b->dx, &b->dn, &b->dqkv, &b->dq,
                      &b->dattn, &b->dmlp, &b->step_logits, &b->step_work};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(*bufs[i]);
    free(b->row_seq);
    free(b->row_pos);
    free(b->grp_row);
    free(b->grp_len);
    gemm_i8_scratch_free(&b->i8);
    free(b);
}

static am_session *cpu_session_create(am_backend *base, const am_session_config *cfg, int *status, char *err,
                                      size_t err_size) {
    cpu_backend *be = (cpu_backend *)base;
    const int max_seqs = cfg->max_seqs, max_windows = cfg->max_windows;
    cpu_session *b = calloc(1, sizeof *b);
    *status = AM_E_NOMEM;
    if (!b) { am_fail(err, err_size, AM_E_NOMEM, "out of memory"); return NULL; }
    b->base.backend = base;
    b->base.max_seqs = max_seqs;
    b->base.max_windows = max_windows;
    b->m = base->model;
    b->W = &be->W;
    b->i8_path = be->i8_path;
    b->n_threads = cfg->n_threads > 0 ? cfg->n_threads : am_cpu_count();
    const am_hparams *hp = &b->m->hp;
    const size_t T = (size_t)hp->n_audio_ctx, F = 2 * T, d = (size_t)hp->n_audio_state, C = (size_t)hp->n_text_ctx;
    const size_t L = (size_t)hp->n_text_layer;
    b->pool = am_pool_create(b->n_threads);
    b->n_threads = b->pool ? am_pool_size(b->pool) : 1;
    const size_t n_im2col = F * (size_t)hp->n_mels * 3 > T * d * 3 ? F * (size_t)hp->n_mels * 3 : T * d * 3;
    b->x = malloc(T * d * sizeof(float));
    b->h = malloc(T * d * sizeof(float));
    b->qkv = malloc((T * 3 * d > F * d ? T * 3 * d : F * d) * sizeof(float));
    b->kt = malloc(T * d * sizeof(float));
    b->attn = malloc(T * d * sizeof(float));
    b->mlp = malloc((T * 4 * d > n_im2col ? T * 4 * d : n_im2col) * sizeof(float));
    b->im2col = b->mlp;
    b->conv = b->qkv;
    b->scores = malloc((size_t)b->n_threads * ATTN_ROWS * (size_t)max_ctx(hp) * sizeof(float));
    b->enc_out = malloc((size_t)max_windows * T * d * sizeof(float));
    b->cross_kt = malloc((size_t)max_windows * L * d * T * sizeof(float));
    b->cross_v = malloc((size_t)max_windows * L * T * d * sizeof(float));
    b->self_k = calloc((size_t)max_seqs * L * C * d, sizeof(float));
    b->self_v = calloc((size_t)max_seqs * L * C * d, sizeof(float));
    b->step_work = malloc((size_t)hp->n_vocab * sizeof(float));
    if (!b->pool || !b->im2col || !b->conv || !b->x || !b->h || !b->qkv || !b->kt || !b->attn || !b->mlp ||
        !b->scores || !b->enc_out || !b->cross_kt || !b->cross_v || !b->self_k || !b->self_v || !b->step_work ||
        ensure_rows(b, (int)C) != AM_OK) {
        cpu_session_destroy(&b->base);
        am_fail(err, err_size, AM_E_NOMEM, "out of memory allocating a CPU session (%d sequences, %d windows)", max_seqs,
                max_windows);
        return NULL;
    }
    const size_t R = (size_t)b->cap_rows;
    b->base.bytes = sizeof(float) * (T * d * 7 + (T * 4 * d > n_im2col ? T * 4 * d : n_im2col) +
                                     (size_t)b->n_threads * ATTN_ROWS * (size_t)max_ctx(hp) + (size_t)max_windows * T * d +
                                     2 * (size_t)max_windows * L * d * T + 2 * (size_t)max_seqs * L * C * d +
                                     (size_t)hp->n_vocab + R * d * 4 + R * 3 * d + R * 4 * d) +
                    4 * R * sizeof(int);
    *status = AM_OK;
    return &b->base;
}

/* ---- the backend: weight placement ---------------------------------------------------------- */

static void *place_alloc(cpu_backend *be, size_t bytes) {
    if (be->n_allocs == be->cap_allocs) {
        int cap = be->cap_allocs ? 2 * be->cap_allocs : 64;
        void **g = realloc(be->allocs, (size_t)cap * sizeof *g);
        if (!g) return NULL;
        be->allocs = g;
        be->cap_allocs = cap;
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
    be->allocs[be->n_allocs++] = p;
    be->base.weight_bytes += bytes;
    return p;
}

/* A model layer → its CPU form: int8 rows are packed (and the model's copy released), float
 * layers are used where they are. */
static int place_linear(cpu_backend *be, am_model *m, am_linear *l, cpu_linear *out) {
    out->w = l->w;
    out->b = l->b;
    out->n_out = l->n_out;
    out->n_in = l->n_in;
    memset(&out->q, 0, sizeof out->q);
    if (!l->q) return AM_OK;
    int8_t *packed = place_alloc(be, gemm_i8_packed_size(l->n_out, l->n_in));
    float *scale = place_alloc(be, (size_t)l->n_out * sizeof(float));
    int32_t *sum = place_alloc(be, (size_t)l->n_out * sizeof(int32_t));
    if (!packed || !scale || !sum) return AM_E_NOMEM;
    gemm_i8_pack(l->n_out, l->n_in, l->q, l->n_in, packed, sum);
    memcpy(scale, l->scale, (size_t)l->n_out * sizeof(float));
    am_i8w q = {packed, scale, sum, l->n_out, l->n_in};
    out->q = q;
    model_release(m, l->q);
    model_release(m, l->scale);
    l->q = NULL;
    l->scale = NULL;
    return AM_OK;
}

/* A float convolution → the transposed weight [n_in][n_out] the NN kernel reads. */
static int place_conv(cpu_backend *be, const am_linear *l, cpu_linear *out) {
    float *wt = place_alloc(be, (size_t)l->n_in * l->n_out * sizeof(float));
    if (!wt || !l->w) return AM_E_NOMEM;
    transpose_f32(l->n_out, l->n_in, l->w, l->n_in, wt, l->n_out);
    cpu_linear c = {wt, l->b, {0}, l->n_out, l->n_in};
    *out = c;
    return AM_OK;
}

static void cpu_destroy(am_backend *base) {
    cpu_backend *be = (cpu_backend *)base;
    if (!be) return;
    for (int i = 0; i < be->n_allocs; i++) free(be->allocs[i]);
    free(be->allocs);
    free(be->W.enc);
    free(be->W.dec);
    free(be);
}

static const am_backend_ops cpu_ops = {cpu_session_create, cpu_session_destroy, cpu_encode,       cpu_decode_step,
                                       cpu_decode_logits,  cpu_cross_scores,    cpu_copy_cache, cpu_encoder_output,
                                       cpu_destroy,        NULL /* log_mel: on the host */};

const char *backend_cpu_kernels(void) { return gemm_i8_path_name(gemm_i8_best_path()); }

am_backend *backend_cpu_create(am_model *m, int *status, char *err, size_t err_size) {
    cpu_backend *be = calloc(1, sizeof *be);
    am_weights *w = &m->w;
    const am_hparams *hp = &m->hp;
    int rc = AM_E_NOMEM;
    if (!be) goto fail;
    be->base.ops = &cpu_ops;
    be->base.name = "cpu";
    be->base.model = m;
    be->i8_path = gemm_i8_best_path();
    be->W.enc = calloc((size_t)hp->n_audio_layer, sizeof *be->W.enc);
    be->W.dec = calloc((size_t)hp->n_text_layer, sizeof *be->W.dec);
    if (!be->W.enc || !be->W.dec) goto fail;
    rc = place_conv(be, &w->conv1, &be->W.conv1);
    if (rc == AM_OK) rc = place_conv(be, &w->conv2, &be->W.conv2);
    for (int i = 0; i < hp->n_audio_layer && rc == AM_OK; i++) {
        am_encoder_layer *L = &w->enc[i];
        cpu_enc_layer *P = &be->W.enc[i];
        if (rc == AM_OK) rc = place_linear(be, m, &L->attn_qkv, &P->qkv);
        if (rc == AM_OK) rc = place_linear(be, m, &L->attn_out, &P->out);
        if (rc == AM_OK) rc = place_linear(be, m, &L->fc1, &P->fc1);
        if (rc == AM_OK) rc = place_linear(be, m, &L->fc2, &P->fc2);
    }
    for (int i = 0; i < hp->n_text_layer && rc == AM_OK; i++) {
        am_decoder_layer *L = &w->dec[i];
        cpu_dec_layer *P = &be->W.dec[i];
        if (rc == AM_OK) rc = place_linear(be, m, &L->attn_qkv, &P->qkv);
        if (rc == AM_OK) rc = place_linear(be, m, &L->attn_out, &P->out);
        if (rc == AM_OK) rc = place_linear(be, m, &L->cross_q, &P->cross_q);
        if (rc == AM_OK) rc = place_linear(be, m, &L->cross_kv, &P->cross_kv);
        if (rc == AM_OK) rc = place_linear(be, m, &L->cross_out, &P->cross_out);
        if (rc == AM_OK) rc = place_linear(be, m, &L->fc1, &P->fc1);
        if (rc == AM_OK) rc = place_linear(be, m, &L->fc2, &P->fc2);
    }
    if (rc == AM_OK) {
        if (w->out_proj.q) { /* int8 models */
            rc = place_linear(be, m, &w->out_proj, &be->W.out_proj);
            be->W.out_proj.b = NULL;
        } else { /* float models: the token embeddings themselves */
            cpu_linear e = {w->tok_emb, NULL, {0}, hp->n_vocab, hp->n_text_state};
            be->W.out_proj = e;
        }
    }
    if (rc != AM_OK) goto fail;
    return &be->base;
fail:
    cpu_destroy(be ? &be->base : NULL);
    *status = AM_E_NOMEM;
    am_fail(err, err_size, AM_E_NOMEM, "out of memory placing the weights for the CPU backend");
    return NULL;
}
