/* vk_backend.c — Whisper's encoder and decoder on a GPU through Vulkan (backend.h).
 *
 * Notation as in backend/cpu/cpu_backend.c: T = n_audio_ctx (1500), F = 2T mel frames, d = width,
 * H = heads (head size 64), C = n_text_ctx, V = n_vocab, R = rows of a decoder call.
 *
 * The backend uploads every weight once into one device buffer (float32, half, or int8 with a
 * scale per row, by the model's precision).  A session holds, on the device: the encoder's
 * scratch, each window's encoder output and cross-attention K|V ([W][T][2d] per decoder layer),
 * the self-attention caches ([S][C][2d] per layer), the decoder's scratch and the logits; and in
 * host-visible memory the small per-call tables (rows, copies, step rules and state, candidates).
 *
 * One queue submission per call: `encode` replays the command buffer recorded for its number of
 * windows; `decode_step` replays the one recorded for its row and sequence buckets (pending cache
 * copies, the decoder, the vocabulary projection and the step rules, shaders/step.comp), and reads
 * back only the candidates. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "backend/backend.h"
#include "backend/vulkan/vk_backend.h"
#include "backend/vulkan/vk_runtime.h"
#include "backend/vulkan/vk_shaders.h"
#include "common/util.h"
#include "frontend/mel.h"
#include "model/model.h"

enum { FMT_F32 = 0, FMT_F16 = 1, FMT_I8 = 2 };
enum { MM_BIAS = 1, MM_GELU = 2, MM_ACC = 4 };
enum { ATT_CROSS = 1, ATT_SELF = 2 }; /* attention.comp's modes */
#define HEAD 64
#define ALIGN 256

/* A linear layer placed in the weight buffer: byte offsets of w, bias and (int8) scale. */
typedef struct vk_linear {
    size_t w, b, s, w_bytes;
    int fmt, n_out, n_in, has_bias;
} vk_linear;

typedef struct vk_enc_layer {
    vk_linear qkv, out, fc1, fc2;
    size_t attn_ln_g, attn_ln_b, mlp_ln_g, mlp_ln_b;
} vk_enc_layer;

typedef struct vk_dec_layer {
    vk_linear qkv, out, cross_q, cross_kv, cross_out, fc1, fc2;
    size_t attn_ln_g, attn_ln_b, cross_ln_g, cross_ln_b, mlp_ln_g, mlp_ln_b;
} vk_dec_layer;

enum { P_MATMUL, P_MATMUL_F16, P_MATMUL_I8, P_LAYERNORM, P_ATTENTION, P_IM2COL, P_ADD, P_EMBED, P_KV_STORE, P_CACHE_COPY, P_GATHER, P_STEP,
       P_PROB, P_TRANSPOSE, P_SOFTMAX, P_MEL_FRAMES, P_MEL_POWER, P_MEL_LOG, P_QUANTIZE, N_PIPES };

typedef struct vk_backend {
    am_backend base;
    vk_ctx *ctx;
    vk_pipe pipes[N_PIPES];
    vk_buf weights;
    vk_enc_layer *enc;
    vk_dec_layer *dec;
    vk_linear conv1, conv2, vocab; /* vocab: the projection (tied embeddings or the int8 copy) */
    size_t enc_pos, enc_ln_g, enc_ln_b, dec_pos, dec_ln_g, dec_ln_b;
    size_t embed;                  /* the decoder's input table [V][d] */
    int embed_fmt;
    uint32_t mm_blocks;            /* matmul.comp column blocks per workgroup: 1 on GPUs, more on CPUs */
} vk_backend;

/* A recorded decoder command: rows bucket, sequences bucket, what it ends with. */
typedef enum { CMD_STEP, CMD_LOGITS } cmd_kind;
typedef struct dec_cmd {
    vk_cmd cmd;
    int rows, seqs;
    cmd_kind kind;
} dec_cmd;

#define MAX_DEC_CMDS 64

typedef struct vk_session {
    am_session base;
    vk_backend *be;
    const am_hparams *hp;
    vk_stream st;                           /* its command pool and fence */
    /* device buffers */
    vk_buf x, h, qkv, attn, mlp;            /* encoder scratch */
    vk_buf kt, scores;                      /* Vᵀ [H][64][T]; scores of score_heads heads [G][T][T] */
    vk_buf xq_enc, xs_enc, xq_dec, xs_dec;  /* int8 activations and row scales (W8A8), encoder / decoder */
    const vk_buf *xq, *xs;                  /* the pair the commands being recorded use */
    int score_heads;
    vk_buf enc_out;                         /* [W][T][d] */
    vk_buf *cross;                          /* [n_text_layer] × [W][T][2d] */
    vk_buf *cache;                          /* [n_text_layer] × [S][C][2d] */
    vk_buf dx, dn, dqkv, dq, dattn, dmlp;   /* decoder scratch, [cap_rows][·] */
    vk_buf last, logits;                    /* [cap_logit_rows][d], [cap_logit_rows][V] */
    int cap_rows, cap_logit_rows;
    /* host-visible tables */
    vk_buf mel;                             /* [W][n_mels][F] */
    vk_buf rows;                            /* ivec4 [cap_rows]: token, pos, slot, window */
    vk_buf counts;                          /* uint[4]: rows, pending copies */
    vk_buf copies;                          /* ivec4 [S]: dst, src, n_pos */
    vk_buf gather_idx;                      /* int [cap_logit_rows] */
    vk_buf step_seq;                        /* ivec4 [2·cap_logit_rows] */
    vk_buf step_u;                          /* float [cap_draws] */
    vk_buf mask;                            /* uint [V/32] */
    vk_buf rules;                           /* int [16] */
    vk_buf out;                             /* candidates */
    vk_buf cap_map, capture, next_tok, next_p;
    int cap_draws, cap_out_words;
    int n_pending;                          /* cache copies waiting for the next decoder call */
    int n_encoded;
    /* recorded commands */
    vk_cmd *enc_cmds;                       /* [W] by window count (cb NULL until recorded) */
    dec_cmd dec_cmds[MAX_DEC_CMDS];
    int n_dec_cmds;
} vk_session;

static size_t align_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }
static int next_pow2(int n, int lo) {
    int b = lo;
    while (b < n) b *= 2;
    return b;
}

/* ---- weights ------------------------------------------------------------------------------- */

/* Placement is two passes over the same code: the first (img == NULL) sizes the buffer, the
 * second writes the host image that is uploaded. */
typedef struct placer {
    unsigned char *img;
    size_t off;
} placer;

static size_t place_bytes(placer *pl, const void *src, size_t bytes) {
    size_t at = pl->off;
    if (pl->img && src) memcpy(pl->img + at, src, bytes);
    pl->off = align_up(at + bytes);
    return at;
}

static size_t place_floats(placer *pl, const float *src, size_t n) { return place_bytes(pl, src, n * sizeof(float)); }

/* A float matrix as half (fmt 1) or float (fmt 0), row-major as given. */
static size_t place_matrix(placer *pl, const float *w, size_t n, int fmt) {
    if (fmt == FMT_F32) return place_floats(pl, w, n);
    size_t at = pl->off;
    if (pl->img) {
        uint16_t *o = (uint16_t *)(pl->img + at);
        for (size_t i = 0; i < n; i++) o[i] = model_f32_to_f16(w[i]);
    }
    pl->off = align_up(at + n * 2);
    return at;
}

/* A weight w[n_out][n_in] (float, or int8 q when q != NULL), row-major as matmul.comp reads it. */
static size_t place_rows(placer *pl, const float *w, const int8_t *q, int n_out, int n_in, int fmt) {
    const size_t n = (size_t)n_out * n_in;
    if (fmt != FMT_I8) return place_matrix(pl, w, n, fmt);
    size_t at = pl->off;
    if (pl->img)
        for (size_t i = 0; i < n; i++) ((int8_t *)(pl->img + at))[i] = q[i] == -128 ? -127 : q[i];
    pl->off = align_up(at + n);
    return at;
}

static void place_linear(placer *pl, const am_linear *l, int float_fmt, vk_linear *out) {
    out->n_out = l->n_out;
    out->n_in = l->n_in;
    out->has_bias = l->b != NULL;
    if (l->q) {
        out->fmt = FMT_I8;
        out->w_bytes = (size_t)l->n_out * l->n_in;
        out->w = place_rows(pl, NULL, l->q, l->n_out, l->n_in, FMT_I8);
        out->s = place_floats(pl, l->scale, (size_t)l->n_out);
    } else {
        out->fmt = float_fmt;
        out->w_bytes = (size_t)l->n_out * l->n_in * (float_fmt == FMT_F32 ? 4 : 2);
        out->w = place_rows(pl, l->w, NULL, l->n_out, l->n_in, float_fmt);
        out->s = out->w;
    }
    out->b = l->b ? place_floats(pl, l->b, (size_t)l->n_out) : out->w;
}

/* The decoder's input table: the float embeddings, their half copy, or the int8 projection
 * dequantised to half (models stored in int8). */
static size_t place_embedding(placer *pl, const am_model *m, int float_fmt, int *fmt) {
    const am_hparams *hp = &m->hp;
    const size_t n = (size_t)hp->n_vocab * hp->n_text_state;
    if (m->w.tok_emb) {
        *fmt = float_fmt;
        return place_matrix(pl, m->w.tok_emb, n, float_fmt);
    }
    *fmt = FMT_F16;
    if (m->w.tok_emb_f16) return place_bytes(pl, m->w.tok_emb_f16, n * 2);
    size_t at = pl->off;
    if (pl->img) {
        uint16_t *o = (uint16_t *)(pl->img + at);
        const am_linear *q = &m->w.out_proj;
        for (size_t i = 0; i < n; i++) o[i] = model_f32_to_f16((float)q->q[i] * q->scale[i / (size_t)hp->n_text_state]);
    }
    pl->off = align_up(at + n * 2);
    return at;
}

static void place_all(vk_backend *be, placer *pl, const am_model *m, int float_fmt) {
    const am_hparams *hp = &m->hp;
    const am_weights *w = &m->w;
    const size_t d = (size_t)hp->n_audio_state, dt = (size_t)hp->n_text_state;
    place_linear(pl, &w->conv1, FMT_F32, &be->conv1); /* the convolutions stay float32 */
    place_linear(pl, &w->conv2, FMT_F32, &be->conv2);
    be->enc_pos = place_floats(pl, w->enc_pos, (size_t)hp->n_audio_ctx * d);
    for (int l = 0; l < hp->n_audio_layer; l++) {
        const am_encoder_layer *L = &w->enc[l];
        vk_enc_layer *P = &be->enc[l];
        place_linear(pl, &L->attn_qkv, float_fmt, &P->qkv);
        place_linear(pl, &L->attn_out, float_fmt, &P->out);
        place_linear(pl, &L->fc1, float_fmt, &P->fc1);
        place_linear(pl, &L->fc2, float_fmt, &P->fc2);
        P->attn_ln_g = place_floats(pl, L->attn_ln.gamma, d);
        P->attn_ln_b = place_floats(pl, L->attn_ln.beta, d);
        P->mlp_ln_g = place_floats(pl, L->mlp_ln.gamma, d);
        P->mlp_ln_b = place_floats(pl, L->mlp_ln.beta, d);
    }
    be->enc_ln_g = place_floats(pl, w->enc_ln.gamma, d);
    be->enc_ln_b = place_floats(pl, w->enc_ln.beta, d);
    for (int l = 0; l < hp->n_text_layer; l++) {
        const am_decoder_layer *L = &w->dec[l];
        vk_dec_layer *P = &be->dec[l];
        place_linear(pl, &L->attn_qkv, float_fmt, &P->qkv);
        place_linear(pl, &L->attn_out, float_fmt, &P->out);
        place_linear(pl, &L->cross_q, float_fmt, &P->cross_q);
        place_linear(pl, &L->cross_kv, float_fmt, &P->cross_kv);
        place_linear(pl, &L->cross_out, float_fmt, &P->cross_out);
        place_linear(pl, &L->fc1, float_fmt, &P->fc1);
        place_linear(pl, &L->fc2, float_fmt, &P->fc2);
        P->attn_ln_g = place_floats(pl, L->attn_ln.gamma, dt);
        P->attn_ln_b = place_floats(pl, L->attn_ln.beta, dt);
        P->cross_ln_g = place_floats(pl, L->cross_ln.gamma, dt);
        P->cross_ln_b = place_floats(pl, L->cross_ln.beta, dt);
        P->mlp_ln_g = place_floats(pl, L->mlp_ln.gamma, dt);
        P->mlp_ln_b = place_floats(pl, L->mlp_ln.beta, dt);
    }
    be->dec_pos = place_floats(pl, w->dec_pos, (size_t)hp->n_text_ctx * dt);
    be->dec_ln_g = place_floats(pl, w->dec_ln.gamma, dt);
    be->dec_ln_b = place_floats(pl, w->dec_ln.beta, dt);
    be->embed = place_embedding(pl, m, float_fmt, &be->embed_fmt);
    if (w->out_proj.q) {
        place_linear(pl, &w->out_proj, float_fmt, &be->vocab);
    } else { /* tied: the embedding table itself */
        vk_linear v = {be->embed, be->embed, be->embed, (size_t)hp->n_vocab * dt * (be->embed_fmt == FMT_F32 ? 4 : 2),
                       be->embed_fmt, hp->n_vocab, (int)dt, 0};
        be->vocab = v;
    }
    be->vocab.has_bias = 0;
}

/* ---- recording helpers --------------------------------------------------------------------- */

static vk_range whole(const vk_buf *b) { vk_range r = {b, 0, 0}; return r; }
static vk_range part(const vk_buf *b, size_t off, size_t size) { vk_range r = {b, off, size}; return r; }

/* One product of matmul.comp: Y[M][N] (+)= α · X[M][K] · W[K][N] (+ bias), `batch` of them. */
typedef struct mm_args {
    vk_range w, bias, scale, x_scale; /* x_scale: the int8 activations' row scales (FMT_I8) */
    uint32_t M, N, K, ldx, ldw, ldy, x_off, w_off, y_off, fmt, flags;
    float alpha;
    uint32_t x_batch, w_batch, y_batch, batch;
} mm_args;

static void rec_matmul(vk_backend *be, vk_cmd *cmd, const vk_buf *X, const vk_buf *Y, const mm_args *a) {
    vk_range bind[6] = {whole(X), a->w, a->bias, whole(Y), a->scale, a->x_scale.b ? a->x_scale : a->scale};
    struct {
        uint32_t M, N, K, ldx, ldw, ldy, x_off, w_off, y_off, fmt, flags;
        float alpha;
        uint32_t x_batch, w_batch, y_batch, n_blocks;
    } pc = {a->M, a->N, a->K, a->ldx, a->ldw, a->ldy, a->x_off, a->w_off, a->y_off, a->fmt, a->flags, a->alpha,
            a->x_batch, a->w_batch, a->y_batch, be->mm_blocks};
    const int pipe = a->fmt == FMT_F16 ? P_MATMUL_F16 : a->fmt == FMT_I8 ? P_MATMUL_I8 : P_MATMUL;
    const uint32_t cols = 4 * pc.n_blocks;
    vk_cmd_dispatch(be->ctx, cmd, &be->pipes[pipe], bind, &pc, sizeof pc, (a->N + cols - 1) / cols, (a->M + 3) / 4,
                    a->batch ? a->batch : 1);
}

/* y[M][n_out] (+)= x[M][n_in] · Wᵀ (+ b): x at float offset xo (row stride ldx) of X, y likewise. */
static void rec_linear(vk_session *s, vk_cmd *cmd, const vk_linear *L, const vk_buf *X, size_t xo, uint32_t ldx,
                       const vk_buf *Y, size_t yo, uint32_t ldy, uint32_t M, uint32_t flags) {
    const vk_buf *W = &s->be->weights;
    if (L->has_bias) flags |= MM_BIAS;
    mm_args a = {part(W, L->w, L->w_bytes), part(W, L->b, (size_t)L->n_out * 4), part(W, L->s, (size_t)L->n_out * 4),
                 {NULL, 0, 0}, M, (uint32_t)L->n_out, (uint32_t)L->n_in, ldx, (uint32_t)L->n_in, ldy, (uint32_t)xo, 0,
                 (uint32_t)yo, (uint32_t)L->fmt, flags, 1.0f, 0, 0, 0, 1};
    if (L->fmt == FMT_I8) { /* W8A8: the rows quantised first (rows of n_in int8 in xq, scales in xs) */
        uint32_t pq[4] = {M, (uint32_t)L->n_in, ldx, (uint32_t)xo};
        vk_range qb[3] = {whole(X), whole(s->xq), whole(s->xs)};
        vk_cmd_dispatch(s->be->ctx, cmd, &s->be->pipes[P_QUANTIZE], qb, pq, sizeof pq, M < 65535 ? M : 65535,
                        (M + 65534) / 65535, 1);
        a.x_scale = whole(s->xs);
        a.ldx = (uint32_t)L->n_in;
        a.x_off = 0;
        X = s->xq;
    }
    rec_matmul(s->be, cmd, X, Y, &a);
}

static void rec_layernorm(vk_session *s, vk_cmd *cmd, const vk_buf *X, size_t x_off, size_t g, size_t b,
                          const vk_buf *Y, size_t y_off, uint32_t n, uint32_t d) {
    vk_backend *be = s->be;
    vk_range bind[4] = {part(X, x_off, (size_t)n * d * 4), part(&be->weights, g, d * 4), part(&be->weights, b, d * 4),
                        part(Y, y_off, (size_t)n * d * 4)};
    uint32_t pc[4] = {n, d, d, d};
    vk_cmd_dispatch(be->ctx, cmd, &be->pipes[P_LAYERNORM], bind, pc, sizeof pc, n, 1, 1);
}

typedef struct att_args {
    const vk_buf *q, *kv, *o;
    size_t kv_off, kv_size;
    uint32_t n_rows, mode, n_keys, group_keys, q_ld, q_col, kv_ld, k_col, v_col, o_ld, layer, capture;
} att_args;

static void rec_attention(vk_session *s, vk_cmd *cmd, const att_args *a, uint32_t n_heads) {
    vk_backend *be = s->be;
    /* commands that do not capture bind a buffer that lives as long as they do (never written) */
    vk_range bind[6] = {whole(a->q), part(a->kv, a->kv_off, a->kv_size), whole(a->o), whole(&s->rows),
                        whole(a->capture ? &s->capture : &s->counts), whole(&s->cap_map)};
    struct {
        uint32_t n_rows, mode, n_keys, group_keys, q_ld, q_col, kv_ld, k_col, v_col, o_ld, layer, n_heads, capture;
        float scale;
    } pc = {a->n_rows, a->mode, a->n_keys, a->group_keys, a->q_ld, a->q_col, a->kv_ld, a->k_col, a->v_col, a->o_ld,
            a->layer, n_heads, a->capture, 1.0f / sqrtf((float)HEAD)};
    vk_cmd_dispatch(be->ctx, cmd, &be->pipes[P_ATTENTION], bind, &pc, sizeof pc, a->n_rows, n_heads, 1);
}

/* grid for n elements of a 256-wide 1-D shader (y carries the overflow past 65535 groups) */
static void grid_1d(size_t n, uint32_t *gx, uint32_t *gy) {
    size_t groups = (n + 255) / 256;
    *gx = groups < 65535 ? (uint32_t)groups : 65535;
    *gy = (uint32_t)((groups + 65534) / 65535);
}

static void rec_im2col(vk_session *s, vk_cmd *cmd, const vk_buf *src, size_t src_off, const vk_buf *dst, uint32_t C,
                       uint32_t F, uint32_t channel_major, uint32_t stride, uint32_t T_out) {
    vk_range bind[2] = {part(src, src_off, (size_t)C * F * 4), whole(dst)};
    uint32_t pc[5] = {C, F, channel_major, stride, T_out}, gx, gy;
    grid_1d((size_t)T_out * C * 3, &gx, &gy);
    vk_cmd_dispatch(s->be->ctx, cmd, &s->be->pipes[P_IM2COL], bind, pc, sizeof pc, gx, gy, 1);
}

/* ---- the encoder ----------------------------------------------------------------------------- */

/* attn [T][d] = softmax(Q Kᵀ / 8) V, head by head, from qkv [T][3d]: Vᵀ of every head into vt
 * [H][64][T], then for groups of heads the scores [G][T][T], their softmax, and the product with V. */
static void rec_encoder_attention(vk_session *s, vk_cmd *cmd, uint32_t T, uint32_t d, uint32_t H) {
    vk_backend *be = s->be;
    uint32_t pt[4] = {T, d, 3 * d, 2 * d};
    vk_range tb[2] = {whole(&s->qkv), whole(&s->kt)};
    vk_cmd_dispatch(be->ctx, cmd, &be->pipes[P_TRANSPOSE], tb, pt, sizeof pt, (T + 15) / 16, (d + 15) / 16, 1);
    const vk_range none = whole(&s->kt);
    for (uint32_t h0 = 0; h0 < H; h0 += (uint32_t)s->score_heads) {
        uint32_t g = H - h0 < (uint32_t)s->score_heads ? H - h0 : (uint32_t)s->score_heads;
        /* scores[j][t][u] = q_t · k_u / 8 for heads h0 + j */
        mm_args qk = {whole(&s->qkv), none, none, {NULL, 0, 0}, T, T, HEAD, 3 * d, 3 * d, T, h0 * HEAD, d + h0 * HEAD, 0, FMT_F32, 0,
                      1.0f / sqrtf((float)HEAD), HEAD, HEAD, T * T, g};
        rec_matmul(s->be, cmd, &s->qkv, &s->scores, &qk);
        uint32_t ps[2] = {g * T, T};
        vk_range sb[1] = {whole(&s->scores)};
        vk_cmd_dispatch(be->ctx, cmd, &be->pipes[P_SOFTMAX], sb, ps, sizeof ps, g * T < 65535 ? g * T : 65535,
                        (g * T + 65534) / 65535, 1);
        /* attn[t][(h0 + j)·64 + e] = Σ_u p[j][t][u] v_u[e] */
        mm_args pv = {whole(&s->kt), none, none, {NULL, 0, 0}, T, HEAD, T, T, T, d, 0, h0 * HEAD * T, h0 * HEAD, FMT_F32, 0,
                      1.0f, T * T, HEAD * T, HEAD, g};
        rec_matmul(s->be, cmd, &s->scores, &s->attn, &pv);
    }
}

static void rec_encode_window(vk_session *s, vk_cmd *cmd, int w) {
    vk_backend *be = s->be;
    s->xq = &s->xq_enc;
    s->xs = &s->xs_enc;
    const am_hparams *hp = s->hp;
    const uint32_t T = (uint32_t)hp->n_audio_ctx, F = 2 * T, d = (uint32_t)hp->n_audio_state, nm = (uint32_t)hp->n_mels;
    const uint32_t H = (uint32_t)hp->n_audio_head;
    /* conv1: mel [n_mels][F] → [F][d], GELU; conv2 (stride 2) → x [T][d], GELU; + positions */
    rec_im2col(s, cmd, &s->mel, (size_t)w * nm * F * 4, &s->mlp, nm, F, 1, 1, F);
    rec_linear(s, cmd, &be->conv1, &s->mlp, 0, nm * 3, &s->qkv, 0, d, F, MM_GELU);
    rec_im2col(s, cmd, &s->qkv, 0, &s->mlp, d, F, 0, 2, T);
    rec_linear(s, cmd, &be->conv2, &s->mlp, 0, d * 3, &s->x, 0, d, T, MM_GELU);
    vk_range add_bind[2] = {part(&be->weights, be->enc_pos, (size_t)T * d * 4), whole(&s->x)};
    uint32_t n = T * d, gx, gy;
    grid_1d(n, &gx, &gy);
    vk_cmd_dispatch(be->ctx, cmd, &be->pipes[P_ADD], add_bind, &n, sizeof n, gx, gy, 1);
    for (int l = 0; l < hp->n_audio_layer; l++) {
        const vk_enc_layer *P = &be->enc[l];
        /* x += Attention(LN(x)); x += MLP(LN(x)) */
        rec_layernorm(s, cmd, &s->x, 0, P->attn_ln_g, P->attn_ln_b, &s->h, 0, T, d);
        rec_linear(s, cmd, &P->qkv, &s->h, 0, d, &s->qkv, 0, 3 * d, T, 0); /* [T][3d] */
        rec_encoder_attention(s, cmd, T, d, H);
        rec_linear(s, cmd, &P->out, &s->attn, 0, d, &s->x, 0, d, T, MM_ACC);
        rec_layernorm(s, cmd, &s->x, 0, P->mlp_ln_g, P->mlp_ln_b, &s->h, 0, T, d);
        rec_linear(s, cmd, &P->fc1, &s->h, 0, d, &s->mlp, 0, 4 * d, T, MM_GELU);
        rec_linear(s, cmd, &P->fc2, &s->mlp, 0, 4 * d, &s->x, 0, d, T, MM_ACC);
    }
    const size_t eo = (size_t)w * T * d;
    rec_layernorm(s, cmd, &s->x, 0, be->enc_ln_g, be->enc_ln_b, &s->enc_out, eo * 4, T, d);
    /* cross-attention K | V of every decoder layer, [T][2d] in the window's slot */
    for (int l = 0; l < hp->n_text_layer; l++)
        rec_linear(s, cmd, &be->dec[l].cross_kv, &s->enc_out, eo, d, &s->cross[l], (size_t)w * T * 2 * d, 2 * d, T, 0);
}

static int vk_encode(am_session *base, const float *mel, int n_windows) {
    vk_session *s = (vk_session *)base;
    const am_hparams *hp = s->hp;
    if (n_windows < 1 || n_windows > base->max_windows || !mel) return AM_E_INVALID_ARG;
    const size_t per = (size_t)hp->n_mels * 2 * hp->n_audio_ctx;
    memcpy(s->mel.map, mel, (size_t)n_windows * per * sizeof(float));
    vk_cmd *cmd = &s->enc_cmds[n_windows - 1];
    if (!cmd->cb) { /* recorded once per window count, replayed after */
        if (vk_cmd_begin(s->be->ctx, &s->st, cmd) != AM_OK) return AM_E_BACKEND;
        for (int w = 0; w < n_windows; w++) rec_encode_window(s, cmd, w);
        if (vk_cmd_end(s->be->ctx, cmd) != AM_OK) return AM_E_BACKEND;
    }
    int rc = vk_cmd_run(s->be->ctx, cmd, s->base.error, sizeof s->base.error);
    if (rc != AM_OK) return rc;
    s->n_encoded = n_windows;
    base->stats.encode_calls++;
    base->stats.submissions = s->st.submissions;
    base->stats.windows_encoded += (uint64_t)n_windows;
    base->stats.bytes_to_device += (uint64_t)n_windows * per * sizeof(float);
    return AM_OK;
}

static int vk_encoder_output(am_session *base, int window, float *out) {
    vk_session *s = (vk_session *)base;
    if (window < 0 || window >= s->n_encoded || !out) return AM_E_INVALID_ARG;
    const size_t n = (size_t)s->hp->n_audio_ctx * s->hp->n_audio_state;
    return vk_buf_download(s->be->ctx, &s->enc_out, (size_t)window * n * 4, out, n * 4, s->base.error, sizeof s->base.error);
}

/* ---- the decoder ----------------------------------------------------------------------------- */

/* The decoder over R rows (the row table), leaving the residual stream in dx [R][d]. */
static void rec_decoder(vk_session *s, vk_cmd *cmd, uint32_t R, int capture) {
    vk_backend *be = s->be;
    s->xq = &s->xq_dec;
    s->xs = &s->xs_dec;
    const am_hparams *hp = s->hp;
    const uint32_t d = (uint32_t)hp->n_text_state, H = (uint32_t)hp->n_text_head, C = (uint32_t)hp->n_text_ctx;
    const uint32_t T = (uint32_t)hp->n_audio_ctx;
    const uint32_t S = (uint32_t)s->base.max_seqs;
    uint32_t pc2[2] = {d, C};
    for (int l = 0; l < hp->n_text_layer; l++) { /* pending beam reorders first */
        vk_range bind[3] = {whole(&s->cache[l]), whole(&s->counts), whole(&s->copies)};
        vk_cmd_dispatch(be->ctx, cmd, &be->pipes[P_CACHE_COPY], bind, pc2, sizeof pc2, 16, S, 1);
    }
    uint32_t pe[3] = {R, d, (uint32_t)be->embed_fmt};
    vk_range eb[4] = {part(&be->weights, be->embed, (size_t)hp->n_vocab * d * (be->embed_fmt == FMT_F32 ? 4 : 2)),
                      part(&be->weights, be->dec_pos, (size_t)C * d * 4), whole(&s->rows), whole(&s->dx)};
    vk_cmd_dispatch(be->ctx, cmd, &be->pipes[P_EMBED], eb, pe, sizeof pe, 1, R, 1);
    for (int l = 0; l < hp->n_text_layer; l++) {
        const vk_dec_layer *P = &be->dec[l];
        /* causal self-attention: this call's K, V into the cache slots first */
        rec_layernorm(s, cmd, &s->dx, 0, P->attn_ln_g, P->attn_ln_b, &s->dn, 0, R, d);
        rec_linear(s, cmd, &P->qkv, &s->dn, 0, d, &s->dqkv, 0, 3 * d, R, 0);
        vk_range kb[4] = {whole(&s->dqkv), whole(&s->rows), whole(&s->cache[l]), whole(&s->counts)};
        vk_cmd_dispatch(be->ctx, cmd, &be->pipes[P_KV_STORE], kb, pc2, sizeof pc2, 1, R, 1);
        att_args sa = {&s->dqkv, &s->cache[l], &s->dattn, 0, 0, R, ATT_SELF, 0, C, 3 * d, 0, 2 * d, 0, d, d,
                       (uint32_t)l, 0};
        rec_attention(s, cmd, &sa, H);
        rec_linear(s, cmd, &P->out, &s->dattn, 0, d, &s->dx, 0, d, R, MM_ACC);
        /* cross-attention over the row's window */
        rec_layernorm(s, cmd, &s->dx, 0, P->cross_ln_g, P->cross_ln_b, &s->dn, 0, R, d);
        rec_linear(s, cmd, &P->cross_q, &s->dn, 0, d, &s->dq, 0, d, R, 0);
        att_args ca = {&s->dq, &s->cross[l], &s->dattn, 0, 0, R, ATT_CROSS, T, T, d, 0, 2 * d, 0, d, d,
                       (uint32_t)l, (uint32_t)capture};
        rec_attention(s, cmd, &ca, H);
        rec_linear(s, cmd, &P->cross_out, &s->dattn, 0, d, &s->dx, 0, d, R, MM_ACC);
        /* MLP */
        rec_layernorm(s, cmd, &s->dx, 0, P->mlp_ln_g, P->mlp_ln_b, &s->dn, 0, R, d);
        rec_linear(s, cmd, &P->fc1, &s->dn, 0, d, &s->dmlp, 0, 4 * d, R, MM_GELU);
        rec_linear(s, cmd, &P->fc2, &s->dmlp, 0, 4 * d, &s->dx, 0, d, R, MM_ACC);
    }
}

/* logits [n][V] = LN(dx[gather_idx[i]]) · Eᵀ */
static void rec_logits(vk_session *s, vk_cmd *cmd, uint32_t n) {
    vk_backend *be = s->be;
    s->xq = &s->xq_dec;
    s->xs = &s->xs_dec;
    const uint32_t d = (uint32_t)s->hp->n_text_state, V = (uint32_t)s->hp->n_vocab;
    uint32_t pg[2] = {n, d};
    vk_range gb[3] = {whole(&s->dx), whole(&s->gather_idx), whole(&s->last)};
    vk_cmd_dispatch(be->ctx, cmd, &be->pipes[P_GATHER], gb, pg, sizeof pg, 1, n, 1);
    rec_layernorm(s, cmd, &s->last, 0, be->dec_ln_g, be->dec_ln_b, &s->last, 0, n, d);
    rec_linear(s, cmd, &be->vocab, &s->last, 0, d, &s->logits, 0, V, n, 0);
}

static void rec_step(vk_session *s, vk_cmd *cmd, uint32_t n) {
    vk_backend *be = s->be;
    vk_range bind[6] = {whole(&s->logits), whole(&s->mask), whole(&s->step_seq), whole(&s->step_u), whole(&s->out),
                        whole(&s->rules)};
    vk_cmd_dispatch(be->ctx, cmd, &be->pipes[P_STEP], bind, NULL, 0, n, 1, 1);
}

static void destroy_dec_cmds(vk_session *s) {
    for (int i = 0; i < s->n_dec_cmds; i++) vk_cmd_free(s->be->ctx, &s->dec_cmds[i].cmd);
    s->n_dec_cmds = 0;
}

/* Grow the decoder's buffers to R rows and n logit rows (recorded commands are dropped). */
static int ensure_capacity(vk_session *s, int R, int n) {
    vk_ctx *c = s->be->ctx;
    const size_t d = (size_t)s->hp->n_text_state, V = (size_t)s->hp->n_vocab;
    int rc = AM_OK;
    if (R > s->cap_rows) {
        int cap = next_pow2(R, 64);
        destroy_dec_cmds(s);
        vk_buf *bufs[] = {&s->dx, &s->dn, &s->dq, &s->dattn, &s->dqkv, &s->dmlp, &s->rows};
        size_t widths[] = {d * 4, d * 4, d * 4, d * 4, 3 * d * 4, 4 * d * 4, 16};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0] && rc == AM_OK; i++) {
            vk_buf_destroy(c, bufs[i]);
            rc = vk_buf_create(c, (size_t)cap * widths[i], i == 6 ? VK_BUF_HOST : VK_BUF_DEVICE, bufs[i],
                               s->base.error, sizeof s->base.error);
        }
        if (rc != AM_OK) return rc;
        s->cap_rows = cap;
    }
    if (n > s->cap_logit_rows) {
        int cap = next_pow2(n, 8);
        destroy_dec_cmds(s);
        vk_buf_destroy(c, &s->last);
        vk_buf_destroy(c, &s->logits);
        vk_buf_destroy(c, &s->gather_idx);
        vk_buf_destroy(c, &s->step_seq);
        vk_buf_destroy(c, &s->out);
        rc = vk_buf_create(c, (size_t)cap * d * 4, VK_BUF_DEVICE, &s->last, s->base.error, sizeof s->base.error);
        if (rc == AM_OK) rc = vk_buf_create(c, (size_t)cap * V * 4, VK_BUF_DEVICE, &s->logits, s->base.error, sizeof s->base.error);
        if (rc == AM_OK) rc = vk_buf_create(c, (size_t)cap * 4, VK_BUF_HOST, &s->gather_idx, s->base.error, sizeof s->base.error);
        if (rc == AM_OK) rc = vk_buf_create(c, (size_t)cap * 32, VK_BUF_HOST, &s->step_seq, s->base.error, sizeof s->base.error);
        s->cap_out_words = cap * (2 * AM_STEP_MAX_K + 1) + 2 * s->cap_draws;
        if (rc == AM_OK)
            rc = vk_buf_create(c, (size_t)s->cap_out_words * 4, VK_BUF_HOST, &s->out, s->base.error, sizeof s->base.error);
        if (rc != AM_OK) return rc;
        s->cap_logit_rows = cap;
    }
    const size_t rows = (size_t)(s->cap_rows > s->cap_logit_rows ? s->cap_rows : s->cap_logit_rows);
    if (s->xs_dec.size < rows * 4) { /* the decoder's int8 activations: its widest input is 4d */
        destroy_dec_cmds(s);
        vk_buf_destroy(c, &s->xq_dec);
        vk_buf_destroy(c, &s->xs_dec);
        rc = vk_buf_create(c, rows * 4 * d, VK_BUF_DEVICE, &s->xq_dec, s->base.error, sizeof s->base.error);
        if (rc == AM_OK) rc = vk_buf_create(c, rows * 4, VK_BUF_DEVICE, &s->xs_dec, s->base.error, sizeof s->base.error);
    }
    return rc;
}

/* Check the sequences and write the row table, the gather index and the counts.  *R_out rows. */
static int write_rows(vk_session *s, const am_decode_seq *seqs, int n_seqs, int *R_out) {
    const am_hparams *hp = s->hp;
    int R = 0;
    if (n_seqs < 1 || !seqs) return AM_E_INVALID_ARG;
    for (int i = 0; i < n_seqs; i++) {
        const am_decode_seq *sq = &seqs[i];
        if (sq->slot < 0 || sq->slot >= s->base.max_seqs || sq->window < 0 || sq->window >= s->n_encoded ||
            sq->n_tokens < 1 || sq->n_past < 0 || sq->n_past + sq->n_tokens > hp->n_text_ctx || !sq->tokens)
            return AM_E_INVALID_ARG;
        for (int t = 0; t < sq->n_tokens; t++)
            if (sq->tokens[t] < 0 || sq->tokens[t] >= hp->n_vocab) return AM_E_INVALID_ARG;
        R += sq->n_tokens;
    }
    int rc = ensure_capacity(s, R, n_seqs);
    if (rc != AM_OK) return rc;
    int32_t *rows = s->rows.map, *gi = s->gather_idx.map;
    for (int i = 0, r = 0; i < n_seqs; i++) {
        for (int t = 0; t < seqs[i].n_tokens; t++, r++) {
            int32_t *e = rows + 4 * r;
            e[0] = seqs[i].tokens[t];
            e[1] = seqs[i].n_past + t;
            e[2] = seqs[i].slot;
            e[3] = seqs[i].window;
        }
        gi[i] = r - 1;
    }
    int Rb = next_pow2(R, 8), nb = next_pow2(n_seqs, 1);
    memset(rows + 4 * R, 0, (size_t)(Rb - R) * 16); /* padding rows: valid, never stored */
    for (int i = n_seqs; i < nb; i++) gi[i] = 0;
    uint32_t *counts = s->counts.map;
    counts[0] = (uint32_t)R;
    counts[1] = (uint32_t)s->n_pending;
    s->base.stats.rows_decoded += (uint64_t)R;
    s->base.stats.bytes_to_device += (uint64_t)R * 16 + (uint64_t)n_seqs * 4 + 8 + (uint64_t)s->n_pending * 16;
    *R_out = R;
    return AM_OK;
}

/* The command for (kind, R, n), recorded at its first use. */
static vk_cmd *dec_command(vk_session *s, cmd_kind kind, int R, int n) {
    int Rb = next_pow2(R, 8), nb = next_pow2(n, 1);
    for (int i = 0; i < s->n_dec_cmds; i++)
        if (s->dec_cmds[i].kind == kind && s->dec_cmds[i].rows == Rb && s->dec_cmds[i].seqs == nb)
            return &s->dec_cmds[i].cmd;
    if (s->n_dec_cmds == MAX_DEC_CMDS) destroy_dec_cmds(s);
    dec_cmd *dc = &s->dec_cmds[s->n_dec_cmds];
    if (vk_cmd_begin(s->be->ctx, &s->st, &dc->cmd) != AM_OK) return NULL;
    rec_decoder(s, &dc->cmd, (uint32_t)Rb, 0);
    rec_logits(s, &dc->cmd, (uint32_t)nb);
    if (kind == CMD_STEP) rec_step(s, &dc->cmd, (uint32_t)nb);
    if (vk_cmd_end(s->be->ctx, &dc->cmd) != AM_OK) {
        vk_cmd_free(s->be->ctx, &dc->cmd);
        return NULL;
    }
    dc->kind = kind;
    dc->rows = Rb;
    dc->seqs = nb;
    s->n_dec_cmds++;
    return &dc->cmd;
}

static int run_decoder(vk_session *s, cmd_kind kind, const am_decode_seq *seqs, int n_seqs) {
    int R, rc = write_rows(s, seqs, n_seqs, &R);
    if (rc != AM_OK) return rc;
    vk_cmd *cmd = dec_command(s, kind, R, n_seqs);
    if (!cmd) return am_fail(s->base.error, sizeof s->base.error, AM_E_BACKEND, "vulkan: cannot record a decoder step");
    rc = vk_cmd_run(s->be->ctx, cmd, s->base.error, sizeof s->base.error);
    s->n_pending = 0;
    s->base.stats.decode_calls++;
    s->base.stats.submissions = s->st.submissions;
    return rc;
}

static int vk_decode_logits(am_session *base, const am_decode_seq *seqs, int n_seqs, float *logits) {
    vk_session *s = (vk_session *)base;
    if (n_seqs < 1 || n_seqs > base->max_seqs || !logits) return AM_E_INVALID_ARG;
    int rc = run_decoder(s, CMD_LOGITS, seqs, n_seqs);
    if (rc != AM_OK) return rc;
    size_t bytes = (size_t)n_seqs * s->hp->n_vocab * 4;
    base->stats.bytes_from_device += bytes;
    return vk_buf_download(s->be->ctx, &s->logits, 0, logits, bytes, s->base.error, sizeof s->base.error);
}

/* The step's rules and state into the host tables the step shader reads. */
static int write_step_tables(vk_session *s, const am_step_rules *r, const am_step_seq *state, int n, int *n_draws) {
    const int V = s->hp->n_vocab;
    int32_t *rules = s->rules.map;
    float temp = r->temperature > 0 ? r->temperature : 1.0f;
    int32_t vals[12] = {V, r->k, n, r->eot, r->blank_id, r->suppress_blank, r->timestamp_begin, r->no_timestamps,
                        r->max_initial_ts, r->report_id, 0, 0};
    memcpy(&vals[10], &temp, 4);
    memcpy(rules, vals, sizeof vals);
    uint32_t *mask = s->mask.map;
    memset(mask, 0, (size_t)(V + 31) / 32 * 4);
    if (r->mask_ids) {
        for (int i = 0; i < r->n_mask_ids; i++)
            if (r->mask_ids[i] >= 0 && r->mask_ids[i] < V) mask[r->mask_ids[i] >> 5] |= 1u << (r->mask_ids[i] & 31);
    } else if (r->mask) {
        for (int i = 0; i < V; i++)
            if (r->mask[i]) mask[i >> 5] |= 1u << (i & 31);
    }
    int32_t *sq = s->step_seq.map;
    float *u = s->step_u.map;
    int draws = 0;
    for (int i = 0; i < n; i++) {
        const am_step_seq *st = &state[i];
        if (st->n_draws < 0 || draws + st->n_draws > s->cap_draws) return AM_E_INVALID_ARG;
        int32_t e[8] = {st->n, st->last, st->penultimate, st->last_timestamp, st->n_draws, draws, 0, 0};
        memcpy(sq + 8 * i, e, sizeof e);
        for (int j = 0; j < st->n_draws; j++) u[draws + j] = (float)st->u[j];
        draws += st->n_draws;
    }
    memset(sq + 8 * n, 0, (size_t)(next_pow2(n, 1) - n) * 32);
    s->base.stats.bytes_to_device += sizeof vals + (uint64_t)(V + 31) / 32 * 4 + (uint64_t)n * 32 + (uint64_t)draws * 4;
    *n_draws = draws;
    return AM_OK;
}

static int vk_decode_step(am_session *base, const am_decode_seq *seqs, int n_seqs, const am_step_rules *rules,
                          const am_step_seq *state, am_step_out *out) {
    vk_session *s = (vk_session *)base;
    const int nv = s->hp->n_vocab;
    if (!rules || !state || !out || rules->k < 0 || rules->k > AM_STEP_MAX_K || rules->eot < 0 || rules->eot >= nv ||
        rules->blank_id >= nv || rules->report_id >= nv || rules->timestamp_begin >= nv || rules->no_timestamps >= nv)
        return AM_E_INVALID_ARG;
    if (n_seqs < 1 || n_seqs > base->max_seqs) return AM_E_INVALID_ARG;
    int rc = ensure_capacity(s, 1, n_seqs), n_draws = 0;
    if (rc == AM_OK) rc = write_step_tables(s, rules, state, n_seqs, &n_draws);
    if (rc == AM_OK) rc = run_decoder(s, CMD_STEP, seqs, n_seqs);
    if (rc != AM_OK) return rc;
    /* the candidates: k ids, k log-probs and the report per sequence, then the draws */
    const uint32_t *w = s->out.map;
    const int k = rules->k, stride = 2 * k + 1;
    for (int i = 0; i < n_seqs; i++) {
        const uint32_t *row = w + (size_t)i * stride;
        for (int j = 0; j < k; j++) {
            out->tok[(size_t)i * k + j] = (int32_t)row[j];
            memcpy(&out->lp[(size_t)i * k + j], &row[k + j], 4);
        }
        if (out->report_lp) memcpy(&out->report_lp[i], &row[2 * k], 4);
    }
    const uint32_t *dw = w + (size_t)n_seqs * stride;
    for (int j = 0; j < n_draws; j++) {
        if (out->draw_tok) out->draw_tok[j] = (int32_t)dw[2 * j];
        if (out->draw_lp) memcpy(&out->draw_lp[j], &dw[2 * j + 1], 4);
    }
    base->stats.bytes_from_device += (uint64_t)(n_seqs * stride + 2 * n_draws) * 4;
    return AM_OK;
}

static int vk_cross_scores(am_session *base, const am_decode_seq *seq, const int (*heads)[2], int n_heads,
                           float *scores, int vocab_limit, float *next_p) {
    vk_session *s = (vk_session *)base;
    const am_hparams *hp = s->hp;
    const int L = hp->n_text_layer, H = hp->n_text_head, T = hp->n_audio_ctx, V = hp->n_vocab;
    vk_ctx *c = s->be->ctx;
    for (int i = 0; i < n_heads; i++)
        if (heads[i][0] < 0 || heads[i][0] >= L || heads[i][1] < 0 || heads[i][1] >= H) return AM_E_INVALID_ARG;
    if (next_p && (vocab_limit < 1 || vocab_limit > V)) return AM_E_INVALID_ARG;
    if (!seq || seq->n_tokens < 1) return AM_E_INVALID_ARG;
    const int R = seq->n_tokens, n_next = next_p ? R - 1 : 0;
    int rc = ensure_capacity(s, R, n_next > 0 ? n_next : 1);
    if (rc != AM_OK) return rc;
    /* capture buffers sized for this call */
    vk_buf_destroy(c, &s->capture);
    vk_buf_destroy(c, &s->next_tok);
    vk_buf_destroy(c, &s->next_p);
    rc = vk_buf_create(c, (size_t)(n_heads ? n_heads : 1) * R * T * 4, VK_BUF_HOST, &s->capture, s->base.error, sizeof s->base.error);
    if (rc == AM_OK) rc = vk_buf_create(c, (size_t)R * 4, VK_BUF_HOST, &s->next_tok, s->base.error, sizeof s->base.error);
    if (rc == AM_OK) rc = vk_buf_create(c, (size_t)R * 4, VK_BUF_HOST, &s->next_p, s->base.error, sizeof s->base.error);
    if (rc != AM_OK) return rc;
    int32_t *map = s->cap_map.map;
    for (int i = 0; i < L * H; i++) map[i] = -1;
    for (int i = 0; i < n_heads; i++) map[heads[i][0] * H + heads[i][1]] = i;
    int Rr;
    if ((rc = write_rows(s, seq, 1, &Rr)) != AM_OK) return rc;
    int32_t *gi = s->gather_idx.map, *nt = s->next_tok.map;
    for (int i = 0; i < n_next; i++) {
        gi[i] = i;
        nt[i] = seq->tokens[i + 1];
    }
    /* recorded for this call only: the row count is exact (the capture is [head][R][T]) */
    vk_cmd cmd;
    if (vk_cmd_begin(c, &s->st, &cmd) != AM_OK) return AM_E_BACKEND;
    rec_decoder(s, &cmd, (uint32_t)R, 1);
    if (n_next > 0) {
        rec_logits(s, &cmd, (uint32_t)n_next);
        uint32_t pc[3] = {(uint32_t)n_next, (uint32_t)V, (uint32_t)vocab_limit};
        vk_range bind[3] = {whole(&s->logits), whole(&s->next_tok), whole(&s->next_p)};
        vk_cmd_dispatch(c, &cmd, &s->be->pipes[P_PROB], bind, pc, sizeof pc, (uint32_t)n_next, 1, 1);
    }
    rc = vk_cmd_end(c, &cmd);
    if (rc == AM_OK) rc = vk_cmd_run(c, &cmd, s->base.error, sizeof s->base.error);
    vk_cmd_free(c, &cmd);
    s->n_pending = 0;
    base->stats.decode_calls++;
    base->stats.submissions = s->st.submissions;
    if (rc != AM_OK) return rc;
    memcpy(scores, s->capture.map, (size_t)n_heads * R * T * 4);
    if (n_next > 0) memcpy(next_p, s->next_p.map, (size_t)n_next * 4);
    base->stats.bytes_from_device += (uint64_t)n_heads * R * T * 4 + (uint64_t)n_next * 4;
    return AM_OK;
}

/* Beam reordering: queued, and done on the device at the start of the next decoder call. */
static int vk_copy_cache(am_session *base, int dst, int src, int n_pos) {
    vk_session *s = (vk_session *)base;
    if (dst < 0 || src < 0 || dst >= base->max_seqs || src >= base->max_seqs || n_pos < 0 || n_pos > s->hp->n_text_ctx)
        return AM_E_INVALID_ARG;
    if (dst == src || n_pos == 0) return AM_OK;
    int32_t *q = s->copies.map;
    for (int i = 0; i < s->n_pending; i++) /* a copy must not read a slot an earlier one writes */
        if (q[4 * i] == src || q[4 * i] == dst || q[4 * i + 1] == dst) return AM_E_INVALID_ARG;
    if (s->n_pending == base->max_seqs) return AM_E_INVALID_ARG;
    int32_t e[4] = {dst, src, n_pos, 0};
    memcpy(q + 4 * s->n_pending++, e, sizeof e);
    return AM_OK;
}

/* ---- the log-mel ----------------------------------------------------------------------------------- */

#define MEL_CHUNK 3000                       /* frames per pass through the STFT buffers */
#define MEL_MAX_FRAMES (100u * 60 * 60 * 2)   /* 2 hours; longer signals go to the host front end */

/* The float front end's log-mel (frontend/mel.h) on the device, in one submission: frames, their
 * 400-point DFT as a product with a cos/sin basis, powers, the filters (a product), log10, the
 * global maximum and the final scaling, transposed to [n_mels][n_frames]. */
static int vk_log_mel(am_backend *b, const float *x, size_t n, int n_mels, const float *filters, float **out,
                      int *n_frames, char *err, size_t err_size) {
    vk_backend *be = (vk_backend *)b;
    vk_ctx *c = be->ctx;
    const size_t L = n + AM_HOP, F = L / AM_HOP;
    *out = NULL;
    if (n == 0) return am_fail(err, err_size, AM_E_INVALID_ARG, "log-mel of an empty signal");
    if (F > MEL_MAX_FRAMES) return mel_log_spectrogram(x, n, n_mels, filters, 0, out, n_frames);
    const size_t C = F < MEL_CHUNK ? F : MEL_CHUNK, nm = (size_t)n_mels;
    vk_stream st = {0};
    vk_buf sig = {0}, frames = {0}, spec = {0}, power = {0}, basis = {0}, filt = {0}, mel = {0}, top = {0}, res = {0};
    int rc = vk_stream_create(c, &st, err, err_size);
    struct { vk_buf *b; size_t bytes; vk_buf_kind kind; } plan[] = {
        {&sig, L * 4, VK_BUF_HOST}, {&frames, C * 400 * 4, VK_BUF_DEVICE}, {&spec, C * 402 * 4, VK_BUF_DEVICE},
        {&power, C * 204 * 4, VK_BUF_DEVICE}, {&basis, 402 * 400 * 4, VK_BUF_HOST}, {&filt, nm * 204 * 4, VK_BUF_HOST},
        {&mel, F * nm * 4, VK_BUF_DEVICE}, {&top, 16, VK_BUF_DEVICE}, {&res, F * nm * 4, VK_BUF_HOST}};
    for (size_t i = 0; i < sizeof plan / sizeof plan[0] && rc == AM_OK; i++) {
        rc = vk_buf_create(c, plan[i].bytes, plan[i].kind, plan[i].b, err, err_size);
        if (rc == AM_OK && plan[i].kind == VK_BUF_HOST && !plan[i].b->map)
            rc = am_fail(err, err_size, AM_E_BACKEND, "vulkan: no host-visible memory");
    }
    if (rc == AM_OK) {
        float *sp = sig.map, *bp = basis.map, *fp = filt.map;
        memcpy(sp, x, n * 4);
        memset(sp + n, 0, AM_HOP * 4);
        for (int f = 0; f < 201; f++) /* rows (cos, −sin) of each bin: the DFT as a product */
            for (int j = 0; j < 400; j++) {
                double a = 6.283185307179586 * (double)((f * j) % 400) / 400.0;
                bp[(2 * f) * 400 + j] = (float)cos(a);
                bp[(2 * f + 1) * 400 + j] = (float)-sin(a);
            }
        for (size_t m = 0; m < nm; m++) {
            memcpy(fp + m * 204, filters + m * AM_N_FREQ, AM_N_FREQ * 4);
            memset(fp + m * 204 + AM_N_FREQ, 0, 3 * 4);
        }
    }
    vk_cmd cmd = {0};
    if (rc == AM_OK && (rc = vk_cmd_begin(c, &st, &cmd)) == AM_OK) {
        vk_cmd_fill(c, &cmd, &top, 0, 16, 0);
        const vk_range none = whole(&basis);
        for (size_t t0 = 0; t0 < F; t0 += C) {
            uint32_t cn = (uint32_t)(F - t0 < C ? F - t0 : C), gx, gy;
            uint32_t pf[3] = {(uint32_t)t0, cn, (uint32_t)L};
            vk_range fb[2] = {whole(&sig), whole(&frames)};
            grid_1d((size_t)cn * 400, &gx, &gy);
            vk_cmd_dispatch(c, &cmd, &be->pipes[P_MEL_FRAMES], fb, pf, sizeof pf, gx, gy, 1);
            mm_args dft = {whole(&basis), none, none, {NULL, 0, 0}, cn, 402, 400, 400, 400, 402, 0, 0, 0, FMT_F32, 0, 1.0f, 0, 0, 0, 1};
            rec_matmul(be, &cmd, &frames, &spec, &dft);
            vk_range pb[2] = {whole(&spec), whole(&power)};
            grid_1d((size_t)cn * 204, &gx, &gy);
            vk_cmd_dispatch(c, &cmd, &be->pipes[P_MEL_POWER], pb, &cn, sizeof cn, gx, gy, 1);
            mm_args fm = {whole(&filt), none, none, {NULL, 0, 0}, cn, (uint32_t)nm, 204, 204, 204, (uint32_t)nm, 0, 0,
                          (uint32_t)(t0 * nm), FMT_F32, 0, 1.0f, 0, 0, 0, 1};
            rec_matmul(be, &cmd, &power, &mel, &fm);
        }
        for (uint32_t pass = 0; pass < 2; pass++) {
            uint32_t pl[3] = {(uint32_t)F, (uint32_t)nm, pass}, gx, gy;
            vk_range lb[3] = {whole(&mel), whole(&top), whole(&res)};
            grid_1d(F * nm, &gx, &gy);
            vk_cmd_dispatch(c, &cmd, &be->pipes[P_MEL_LOG], lb, pl, sizeof pl, gx, gy, 1);
        }
        rc = vk_cmd_end(c, &cmd);
        if (rc == AM_OK) rc = vk_cmd_run(c, &cmd, err, err_size);
        vk_cmd_free(c, &cmd);
    }
    if (rc == AM_OK) {
        if (!(*out = malloc(F * nm * 4))) rc = am_fail(err, err_size, AM_E_NOMEM, "out of memory");
        else memcpy(*out, res.map, F * nm * 4);
        *n_frames = (int)F;
    }
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) vk_buf_destroy(c, plan[i].b);
    vk_stream_destroy(c, &st);
    return rc;
}

/* ---- sessions ---------------------------------------------------------------------------------- */

static void vk_session_destroy(am_session *base) {
    vk_session *s = (vk_session *)base;
    if (!s) return;
    vk_ctx *c = s->be->ctx;
    destroy_dec_cmds(s);
    for (int i = 0; s->enc_cmds && i < base->max_windows; i++) vk_cmd_free(c, &s->enc_cmds[i]);
    free(s->enc_cmds);
    vk_stream_destroy(c, &s->st);
    for (int l = 0; l < s->hp->n_text_layer; l++) {
        if (s->cross) vk_buf_destroy(c, &s->cross[l]);
        if (s->cache) vk_buf_destroy(c, &s->cache[l]);
    }
    free(s->cross);
    free(s->cache);
    vk_buf *bufs[] = {&s->x, &s->h, &s->qkv, &s->attn, &s->mlp, &s->kt, &s->scores, &s->xq_enc, &s->xs_enc,
                      &s->xq_dec, &s->xs_dec, &s->enc_out, &s->dx, &s->dn, &s->dqkv, &s->dq,
                      &s->dattn, &s->dmlp, &s->last, &s->logits, &s->mel, &s->rows, &s->counts, &s->copies,
                      &s->gather_idx, &s->step_seq, &s->step_u, &s->mask, &s->rules, &s->out, &s->cap_map,
                      &s->capture, &s->next_tok, &s->next_p};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vk_buf_destroy(c, bufs[i]);
    free(s);
}

static am_session *vk_session_create(am_backend *b, const am_session_config *cfg, int *status, char *err,
                                     size_t err_size) {
    vk_backend *be = (vk_backend *)b;
    const am_hparams *hp = &b->model->hp;
    vk_session *s = calloc(1, sizeof *s);
    *status = AM_E_NOMEM;
    if (!s) { am_fail(err, err_size, AM_E_NOMEM, "out of memory"); return NULL; }
    s->base.backend = b;
    s->base.max_seqs = cfg->max_seqs;
    s->base.max_windows = cfg->max_windows;
    s->be = be;
    s->hp = hp;
    vk_ctx *c = be->ctx;
    const size_t T = (size_t)hp->n_audio_ctx, F = 2 * T, d = (size_t)hp->n_audio_state, dt = (size_t)hp->n_text_state;
    const size_t C = (size_t)hp->n_text_ctx, W = (size_t)cfg->max_windows, S = (size_t)cfg->max_seqs;
    const int L = hp->n_text_layer;
    s->cap_draws = cfg->max_seqs * 8 + 64;
    /* heads whose T × T scores are held at once: at most 64 MiB (a storage binding's range is
     * 128 MiB on some devices) */
    s->score_heads = (int)((64u << 20) / (T * T * 4));
    if (s->score_heads > hp->n_audio_head) s->score_heads = hp->n_audio_head;
    if (s->score_heads < 1) s->score_heads = 1;
    s->enc_cmds = calloc(W, sizeof *s->enc_cmds);
    s->cross = calloc((size_t)L, sizeof *s->cross);
    s->cache = calloc((size_t)L, sizeof *s->cache);
    int rc = s->enc_cmds && s->cross && s->cache ? AM_OK : am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    if (rc == AM_OK) rc = vk_stream_create(c, &s->st, err, err_size);
    const size_t im2col = F * hp->n_mels * 3 > T * 3 * d ? F * hp->n_mels * 3 : T * 3 * d;
    struct { vk_buf *b; size_t bytes; vk_buf_kind kind; } plan[] = {
        {&s->x, T * d * 4, VK_BUF_DEVICE},
        {&s->h, T * d * 4, VK_BUF_DEVICE},
        {&s->qkv, (T * 3 * d > F * d ? T * 3 * d : F * d) * 4, VK_BUF_DEVICE},
        {&s->attn, T * d * 4, VK_BUF_DEVICE},
        {&s->mlp, (T * 4 * d > im2col ? T * 4 * d : im2col) * 4, VK_BUF_DEVICE},
        {&s->enc_out, W * T * d * 4, VK_BUF_DEVICE},
        {&s->kt, T * d * 4, VK_BUF_DEVICE},
        {&s->scores, (size_t)s->score_heads * T * T * 4, VK_BUF_DEVICE},
        {&s->xq_enc, T * 4 * d, VK_BUF_DEVICE},
        {&s->xs_enc, T * 4, VK_BUF_DEVICE},
        {&s->mel, W * hp->n_mels * F * 4, VK_BUF_HOST},
        {&s->counts, 16, VK_BUF_HOST},
        {&s->copies, S * 16, VK_BUF_HOST},
        {&s->step_u, (size_t)s->cap_draws * 4, VK_BUF_HOST},
        {&s->mask, ((size_t)hp->n_vocab + 31) / 32 * 4, VK_BUF_HOST},
        {&s->rules, 64, VK_BUF_HOST},
        {&s->cap_map, (size_t)L * hp->n_text_head * 4, VK_BUF_HOST},
        {&s->capture, 16, VK_BUF_HOST},
    };
    uint64_t bytes = 0;
    for (size_t i = 0; i < sizeof plan / sizeof plan[0] && rc == AM_OK; i++) {
        rc = vk_buf_create(c, plan[i].bytes, plan[i].kind, plan[i].b, err, err_size);
        if (rc == AM_OK && plan[i].kind == VK_BUF_HOST && !plan[i].b->map)
            rc = am_fail(err, err_size, AM_E_BACKEND, "vulkan: no host-visible memory");
        bytes += plan[i].bytes;
    }
    for (int l = 0; l < L && rc == AM_OK; l++) {
        rc = vk_buf_create(c, W * T * 2 * dt * 4, VK_BUF_DEVICE, &s->cross[l], err, err_size);
        if (rc == AM_OK) rc = vk_buf_create(c, S * C * 2 * dt * 4, VK_BUF_DEVICE, &s->cache[l], err, err_size);
        bytes += W * T * 2 * dt * 4 + S * C * 2 * dt * 4;
    }
    if (rc == AM_OK && (rc = ensure_capacity(s, (int)C, 8)) != AM_OK) am_fail(err, err_size, rc, "%s", s->base.error);
    if (rc != AM_OK) {
        *status = rc;
        vk_session_destroy(&s->base);
        return NULL;
    }
    s->base.bytes = bytes;
    *status = AM_OK;
    return &s->base;
}

/* ---- the backend --------------------------------------------------------------------------------- */

static void vk_destroy(am_backend *b) {
    vk_backend *be = (vk_backend *)b;
    if (!be) return;
    if (be->ctx) {
        for (int i = 0; i < N_PIPES; i++) vk_pipe_destroy(be->ctx, &be->pipes[i]);
        vk_buf_destroy(be->ctx, &be->weights);
        vk_ctx_close(be->ctx);
    }
    free(be->enc);
    free(be->dec);
    free(be);
}

static const am_backend_ops vk_ops = {vk_session_create, vk_session_destroy, vk_encode,        vk_decode_step,
                                      vk_decode_logits,  vk_cross_scores,    vk_copy_cache,    vk_encoder_output,
                                      vk_destroy,        vk_log_mel};

/* The device holds the weights now: the model's copies of the large ones go back to the system
 * (norms, biases and positions are small and stay). */
static void release_linear(am_model *m, am_linear *l) {
    model_release(m, l->w);
    model_release(m, l->q);
    model_release(m, l->scale);
    l->w = NULL;
    l->q = NULL;
    l->scale = NULL;
}

static void release_host_weights(am_model *m) {
    am_weights *w = &m->w;
    for (int l = 0; l < m->hp.n_audio_layer; l++) {
        am_encoder_layer *L = &w->enc[l];
        am_linear *ls[] = {&L->attn_qkv, &L->attn_out, &L->fc1, &L->fc2};
        for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) release_linear(m, ls[i]);
    }
    for (int l = 0; l < m->hp.n_text_layer; l++) {
        am_decoder_layer *L = &w->dec[l];
        am_linear *ls[] = {&L->attn_qkv, &L->attn_out, &L->cross_q, &L->cross_kv, &L->cross_out, &L->fc1, &L->fc2};
        for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) release_linear(m, ls[i]);
    }
    release_linear(m, &w->out_proj);
    model_release(m, w->tok_emb);
    model_release(m, w->tok_emb_f16);
    w->tok_emb = NULL;
    w->tok_emb_f16 = NULL;
}

static int create_pipes(vk_backend *be, char *err, size_t err_size) {
    static const struct { int id, n_bindings; const char *name; uint32_t variant; } list[] = {
        {P_MATMUL, 6, "matmul", FMT_F32}, {P_MATMUL_F16, 6, "matmul", FMT_F16}, {P_MATMUL_I8, 6, "matmul", FMT_I8},
        {P_QUANTIZE, 3, "quantize", 0},
        {P_LAYERNORM, 4, "layernorm", 0}, {P_ATTENTION, 6, "attention", 0},
        {P_IM2COL, 2, "im2col", 0}, {P_ADD, 2, "add", 0}, {P_EMBED, 4, "embed", 0}, {P_KV_STORE, 4, "kv_store", 0},
        {P_CACHE_COPY, 3, "cache_copy", 0}, {P_GATHER, 3, "gather", 0}, {P_STEP, 6, "step", 0},
        {P_PROB, 3, "prob_within", 0}, {P_TRANSPOSE, 2, "transpose", 0}, {P_SOFTMAX, 1, "softmax", 0},
        {P_MEL_FRAMES, 2, "mel_frames", 0}, {P_MEL_POWER, 2, "mel_power", 0}, {P_MEL_LOG, 3, "mel_log", 0}};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        const vk_shader *sh = vk_shader_find(list[i].name);
        if (!sh) return am_fail(err, err_size, AM_E_BACKEND, "vulkan: shader %s is not built in", list[i].name);
        int rc = vk_pipe_create(be->ctx, list[i].name, sh->code, sh->size, list[i].n_bindings, list[i].variant,
                                &be->pipes[list[i].id], err, err_size);
        if (rc != AM_OK) return rc;
    }
    return AM_OK;
}

static int check_model(const am_model *m, char *err, size_t err_size) {
    const am_hparams *hp = &m->hp;
    if (hp->n_audio_state % hp->n_audio_head || hp->n_audio_state / hp->n_audio_head != HEAD ||
        hp->n_text_state % hp->n_text_head || hp->n_text_state / hp->n_text_head != HEAD)
        return am_fail(err, err_size, AM_E_BACKEND, "vulkan: heads of %d are not supported (64 only)",
                       hp->n_audio_state / hp->n_audio_head);
    if (hp->n_audio_state > 2048 || hp->n_text_state > 2048) /* layernorm.comp: 8 values per lane, 256 lanes */
        return am_fail(err, err_size, AM_E_BACKEND, "vulkan: model too wide for these shaders (state > 2048)");
    if (m->w.conv1.q || m->w.conv2.q || !m->w.conv1.w)
        return am_fail(err, err_size, AM_E_BACKEND, "vulkan: int8 convolutions are not supported");
    return AM_OK;
}

am_backend *backend_vulkan_create(am_model *m, int device, int *status, char *err, size_t err_size) {
    vk_backend *be = calloc(1, sizeof *be);
    int rc = AM_E_NOMEM;
    unsigned char *img = NULL;
    if (!be) { am_fail(err, err_size, rc, "out of memory"); goto fail; }
    be->base.ops = &vk_ops;
    be->base.name = "vulkan";
    be->base.model = m;
    if ((rc = check_model(m, err, err_size)) != AM_OK) goto fail;
    if ((rc = vk_ctx_open(device, &be->ctx, err, err_size)) != AM_OK) goto fail;
    if ((rc = create_pipes(be, err, err_size)) != AM_OK) goto fail;
    be->mm_blocks = be->ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 16 : 1;
    be->enc = calloc((size_t)m->hp.n_audio_layer, sizeof *be->enc);
    be->dec = calloc((size_t)m->hp.n_text_layer, sizeof *be->dec);
    rc = AM_E_NOMEM;
    if (!be->enc || !be->dec) { am_fail(err, err_size, rc, "out of memory"); goto fail; }
    const int float_fmt = m->precision == AM_PRECISION_F16 ? FMT_F16 : FMT_F32;
    placer sizing = {NULL, 0};
    place_all(be, &sizing, m, float_fmt);
    if (!(img = calloc(1, sizing.off))) { am_fail(err, err_size, rc, "out of memory placing the weights"); goto fail; }
    placer fill = {img, 0};
    place_all(be, &fill, m, float_fmt);
    if ((rc = vk_buf_create(be->ctx, sizing.off, VK_BUF_DEVICE, &be->weights, err, err_size)) != AM_OK) goto fail;
    if ((rc = vk_buf_upload(be->ctx, &be->weights, 0, img, sizing.off, err, err_size)) != AM_OK) goto fail;
    free(img);
    release_host_weights(m);
    be->base.weight_bytes = sizing.off;
    *status = AM_OK;
    return &be->base;
fail:
    free(img);
    vk_destroy(be ? &be->base : NULL);
    *status = rc;
    return NULL;
}

int backend_vulkan_device_count(int include_cpu) { return vk_device_count(include_cpu); }

void backend_vulkan_describe(int device, char *out, size_t size) { vk_device_describe(device, out, size); }

int backend_vulkan_first_gpu(char *why, size_t why_size) { return vk_first_gpu(why, why_size); }
