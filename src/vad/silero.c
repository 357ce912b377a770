/* silero.c — Silero VAD v6 (16 kHz model) in plain C: the loader for whisper.cpp's ggml file and
 * the forward pass of one 32 ms frame.
 *
 * File layout (little-endian int32 unless noted; written by whisper.cpp's
 * models/convert-silero-vad-to-ggml.py):
 *   magic 0x67676d6c, len + model type ("silero-16k"), version major minor patch,
 *   window (512), context (64), n_encoder_layers (4),
 *   per layer: in_channels, out_channels, kernel (129/128/3, 128/64/3, 64/64/3, 64/128/3),
 *   lstm input (128), lstm hidden (128), final conv in (128), final conv out (1),
 *   then tensors until the end of the file: n_dims, name length, ftype (0 f32, 1 f16),
 *   n_dims sizes (ggml order: fastest first), the name, the data (no alignment padding).
 *
 * Forward pass of one frame (shapes as [channels][time]):
 *   x[640]    = context[64] | frame[512] | reflect(x)[64]      (torch 'reflect': x[576+j] = x[574-j])
 *   stft      = conv1d(x, basis[258][256], stride 128)  -> [258][4]
 *   mag[129][4] = sqrt(re^2 + im^2), re = rows 0..128, im = rows 129..257
 *   enc0: conv1d k3 pad1 stride1 129->128, relu -> [128][4]
 *   enc1: conv1d k3 pad1 stride2 128->64,  relu -> [64][2]
 *   enc2: conv1d k3 pad1 stride2 64->64,   relu -> [64][1]
 *   enc3: conv1d k3 pad1 stride1 64->128,  relu -> [128][1]
 *   LSTM cell (gates i, f, g, o; W_ih, W_hh [512][128]) on the 128 features, state (h, c) carried
 *   prob = sigmoid(w_out . relu(h) + b_out)
 *
 * The front end (STFT + encoder) of different frames is independent and runs on several threads
 * over blocks of frames; the LSTM then runs over the block in order.  vad_silero_frame runs the
 * same pass on one frame at a time for live audio, with the state carried in a vad_silero_state. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "common/util.h"
#include "vad/vad.h"
#include "audio/pcm.h"

#define SIL_MAGIC 0x67676d6cu
#define SIL_PADDED 640         /* 64 context + 512 frame + 64 reflected                 */
#define SIL_NFFT 256           /* STFT kernel                                            */
#define SIL_HOP 128            /* STFT stride                                            */
#define SIL_NBIN 129           /* frequency bins                                         */
#define SIL_T 4                /* STFT columns per frame                                 */
#define SIL_H 128              /* LSTM size                                              */
#define SIL_BLOCK 512          /* frames per front-end block                             */
#define SIL_MAX_THREADS 16

static const int sil_in[4] = {129, 128, 64, 64};
static const int sil_out[4] = {128, 64, 64, 128};
static const int sil_stride[4] = {1, 2, 2, 1};

/* All weights as float32, PyTorch layouts. */
struct vad_silero {
    float *basis;          /* [258][256]                          */
    float *enc_w[4];       /* [out][in][3]                        */
    float *enc_b[4];       /* [out]                               */
    float *w_ih, *w_hh;    /* [512][128]                          */
    float *b_ih, *b_hh;    /* [512]                               */
    float *w_out;          /* [128]                               */
    float b_out;
};

/* ---- loading ------------------------------------------------------------------------------ */

typedef struct reader {
    const uint8_t *p;
    size_t size, pos;
} reader;

static int rd_i32(reader *r, int32_t *v) {
    if (r->size - r->pos < 4) return 0;
    const uint8_t *b = r->p + r->pos;
    *v = (int32_t)((uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24));
    r->pos += 4;
    return 1;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* The tensors the file must hold: name, dims (ggml order, size-1 dims dropped), destination. */
typedef struct tensor_spec {
    const char *name;
    int n_dims;
    int dims[3];
    float **dst;       /* NULL: the scalar b_out */
    int seen;
} tensor_spec;

void vad_silero_free(vad_silero *v) {
    if (!v) return;
    free(v->basis);
    for (int i = 0; i < 4; i++) {
        free(v->enc_w[i]);
        free(v->enc_b[i]);
    }
    free(v->w_ih);
    free(v->w_hh);
    free(v->b_ih);
    free(v->b_hh);
    free(v->w_out);
    free(v);
}

#define BAD(...) (rc = am_fail(err, err_size, AM_E_MODEL, __VA_ARGS__), vad_silero_free(v), rc)

int vad_silero_load_memory(const void *data, size_t size, vad_silero **out, char *err, size_t err_size) {
    if (!out || (!data && size)) return am_fail(err, err_size, AM_E_INVALID_ARG, "vad_silero_load: NULL argument");
    *out = NULL;
    int rc;
    reader r = {data, size, 0};
    vad_silero *v = calloc(1, sizeof *v);
    if (!v) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");

    int32_t magic, len;
    if (!rd_i32(&r, &magic) || (uint32_t)magic != SIL_MAGIC) return BAD("not a ggml Silero VAD file (bad magic)");
    if (!rd_i32(&r, &len) || len < 1 || len > 64 || r.size - r.pos < (size_t)len)
        return BAD("Silero VAD file: bad model type string");
    if (len != 10 || memcmp(r.p + r.pos, "silero-16k", 10) != 0)
        return BAD("Silero VAD file: model type is not silero-16k");
    r.pos += (size_t)len;

    /* version (3), window, context, n_layers, 4 x (in, out, kernel), lstm in/hidden, final in/out */
    int32_t h[3 + 3 + 12 + 4];
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        if (!rd_i32(&r, &h[i])) return BAD("Silero VAD file: truncated header");
    if (h[3] != VAD_WINDOW || h[4] != VAD_CONTEXT || h[5] != 4)
        return BAD("Silero VAD file: unsupported window %d / context %d / %d encoder layers (512/64/4 expected)",
                   h[3], h[4], h[5]);
    for (int l = 0; l < 4; l++)
        if (h[6 + 3 * l] != sil_in[l] || h[7 + 3 * l] != sil_out[l] || h[8 + 3 * l] != 3)
            return BAD("Silero VAD file: unexpected encoder layer %d shape %dx%dx%d", l, h[6 + 3 * l],
                       h[7 + 3 * l], h[8 + 3 * l]);
    if (h[18] != SIL_H || h[19] != SIL_H || h[20] != SIL_H || h[21] != 1)
        return BAD("Silero VAD file: unexpected LSTM/output sizes");

    tensor_spec specs[] = {
        {"_model.encoder.0.reparam_conv.weight", 3, {3, 129, 128}, &v->enc_w[0], 0},
        {"_model.encoder.0.reparam_conv.bias", 1, {128}, &v->enc_b[0], 0},
        {"_model.encoder.1.reparam_conv.weight", 3, {3, 128, 64}, &v->enc_w[1], 0},
        {"_model.encoder.1.reparam_conv.bias", 1, {64}, &v->enc_b[1], 0},
        {"_model.encoder.2.reparam_conv.weight", 3, {3, 64, 64}, &v->enc_w[2], 0},
        {"_model.encoder.2.reparam_conv.bias", 1, {64}, &v->enc_b[2], 0},
        {"_model.encoder.3.reparam_conv.weight", 3, {3, 64, 128}, &v->enc_w[3], 0},
        {"_model.encoder.3.reparam_conv.bias", 1, {128}, &v->enc_b[3], 0},
        {"_model.decoder.rnn.weight_ih", 2, {128, 512}, &v->w_ih, 0},
        {"_model.decoder.rnn.weight_hh", 2, {128, 512}, &v->w_hh, 0},
        {"_model.decoder.rnn.bias_ih", 1, {512}, &v->b_ih, 0},
        {"_model.decoder.rnn.bias_hh", 1, {512}, &v->b_hh, 0},
        {"_model.decoder.decoder.2.weight", 1, {128}, &v->w_out, 0},
        {"_model.decoder.decoder.2.bias", 0, {0}, NULL, 0},
        {"_model.stft.forward_basis_buffer", 2, {256, 258}, &v->basis, 0},
    };
    const size_t n_specs = sizeof specs / sizeof specs[0];

    while (r.pos < r.size) {
        int32_t nd, nl, ft;
        if (!rd_i32(&r, &nd) || !rd_i32(&r, &nl) || !rd_i32(&r, &ft))
            return BAD("Silero VAD file: truncated tensor header");
        if (nd < 0 || nd > 4) return BAD("Silero VAD file: tensor with %d dimensions", nd);
        if (nl < 1 || nl > 256) return BAD("Silero VAD file: bad tensor name length %d", nl);
        if (ft != 0 && ft != 1) return BAD("Silero VAD file: unsupported tensor type %d", ft);
        int dims[4], n_sq = 0;
        uint64_t count = 1;
        for (int i = 0; i < nd; i++) {
            int32_t d;
            if (!rd_i32(&r, &d)) return BAD("Silero VAD file: truncated tensor header");
            if (d < 1 || d > 65536) return BAD("Silero VAD file: bad tensor dimension %d", d);
            count *= (uint64_t)d;
            if (d != 1) dims[n_sq++] = d;
        }
        if (r.size - r.pos < (size_t)nl) return BAD("Silero VAD file: truncated tensor name");
        const char *name = (const char *)r.p + r.pos;
        r.pos += (size_t)nl;
        uint64_t bytes = count * (ft == 1 ? 2u : 4u);
        if ((uint64_t)(r.size - r.pos) < bytes) return BAD("Silero VAD file: truncated tensor data");
        const uint8_t *tdata = r.p + r.pos;
        r.pos += (size_t)bytes;

        tensor_spec *s = NULL;
        for (size_t i = 0; i < n_specs; i++)
            if (strlen(specs[i].name) == (size_t)nl && memcmp(specs[i].name, name, (size_t)nl) == 0) s = &specs[i];
        if (!s) continue; /* unknown tensors are ignored */
        if (s->seen) return BAD("Silero VAD file: duplicate tensor %s", s->name);
        int ok = n_sq == s->n_dims;
        for (int i = 0; ok && i < n_sq; i++) ok = dims[i] == s->dims[i];
        if (!ok) return BAD("Silero VAD file: tensor %s has an unexpected shape", s->name);
        s->seen = 1;

        float *f = malloc((size_t)count * sizeof *f);
        if (!f) return (vad_silero_free(v), am_fail(err, err_size, AM_E_NOMEM, "out of memory"));
        for (uint64_t i = 0; i < count; i++) {
            if (ft == 1) {
                f[i] = half_to_float((uint16_t)(tdata[2 * i] | (tdata[2 * i + 1] << 8)));
            } else {
                uint32_t u = (uint32_t)tdata[4 * i] | ((uint32_t)tdata[4 * i + 1] << 8) |
                             ((uint32_t)tdata[4 * i + 2] << 16) | ((uint32_t)tdata[4 * i + 3] << 24);
                memcpy(&f[i], &u, sizeof u);
            }
            if (!isfinite(f[i])) {
                free(f);
                return BAD("Silero VAD file: tensor %s holds a non-finite value", s->name);
            }
        }
        if (s->dst) {
            *s->dst = f;
        } else {
            v->b_out = f[0];
            free(f);
        }
    }
    for (size_t i = 0; i < n_specs; i++)
        if (!specs[i].seen) return BAD("Silero VAD file: tensor %s is missing", specs[i].name);
    *out = v;
    return AM_OK;
}

int vad_silero_load(const char *path, vad_silero **out, char *err, size_t err_size) {
    if (!path || !out) return am_fail(err, err_size, AM_E_INVALID_ARG, "vad_silero_load: NULL argument");
    *out = NULL;
    unsigned char *buf = NULL;
    size_t size = 0;
    int rc = am_read_file(path, &buf, &size, err, err_size);
    if (rc != AM_OK) return rc;
    char sub[200] = "";
    rc = vad_silero_load_memory(buf, size, out, sub, sizeof sub);
    free(buf);
    if (rc != AM_OK) return am_fail(err, err_size, rc, "%s: %s", path, sub);
    return AM_OK;
}

/* ---- forward pass ------------------------------------------------------------------------- */

/* Dot product with 8 partial sums (lets the compiler use vector registers without -ffast-math). */
static float dot(const float *a, const float *b, int n) {
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    for (; i < n; i++) s[0] += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* conv1d, kernel 3, padding 1, then relu.  in[c_in][t_in] -> out[c_out][t_out].
 * col[t_out][c_in * 3] is scratch: the input patch of each output column (zeros outside). */
static void conv3_relu(const float *w, const float *b, int c_in, int c_out, int stride, const float *in, int t_in,
                       float *out, int t_out, float *col) {
    const int k = c_in * 3;
    for (int t = 0; t < t_out; t++)
        for (int c = 0; c < c_in; c++)
            for (int j = 0; j < 3; j++) {
                int src = t * stride + j - 1;
                col[t * k + c * 3 + j] = (src >= 0 && src < t_in) ? in[c * t_in + src] : 0.0f;
            }
    for (int o = 0; o < c_out; o++)
        for (int t = 0; t < t_out; t++) {
            float y = b[o] + dot(w + (size_t)o * k, col + t * k, k);
            out[o * t_out + t] = y > 0.0f ? y : 0.0f;
        }
}

/* STFT magnitude + encoder of one frame: x[640] -> feat[128]. */
static void front_end(const vad_silero *v, const float *x, float *feat) {
    float mag[SIL_NBIN * SIL_T], e0[128 * 4], e1[64 * 2], e2[64];
    float col[SIL_T * SIL_NBIN * 3];
    for (int t = 0; t < SIL_T; t++) {
        const float *xs = x + t * SIL_HOP;
        for (int f = 0; f < SIL_NBIN; f++) {
            float re = dot(v->basis + (size_t)f * SIL_NFFT, xs, SIL_NFFT);
            float im = dot(v->basis + (size_t)(f + SIL_NBIN) * SIL_NFFT, xs, SIL_NFFT);
            mag[f * SIL_T + t] = sqrtf(re * re + im * im);
        }
    }
    conv3_relu(v->enc_w[0], v->enc_b[0], 129, 128, sil_stride[0], mag, 4, e0, 4, col);
    conv3_relu(v->enc_w[1], v->enc_b[1], 128, 64, sil_stride[1], e0, 4, e1, 2, col);
    conv3_relu(v->enc_w[2], v->enc_b[2], 64, 64, sil_stride[2], e1, 2, e2, 1, col);
    conv3_relu(v->enc_w[3], v->enc_b[3], 64, 128, sil_stride[3], e2, 1, feat, 1, col);
}

/* x[576..640) = torch 'reflect' padding of x[0..576): x[576 + j] = x[574 - j]. */
static void reflect_pad(float *x) {
    const int L = VAD_CONTEXT + VAD_WINDOW; /* 576 */
    for (int j = 0; j < SIL_PADDED - L; j++) x[L + j] = x[L - 2 - j];
}

/* Build frame i's padded input x[640] from the (virtually zero-padded) audio; blk holds the
 * samples from (b0 * 512 − 64) on, zeros where they fall outside the signal. */
static void frame_input(const float *blk, size_t b0, size_t n, size_t i, float *x) {
    const size_t start = i * VAD_WINDOW; /* the frame; the context is the 64 samples before */
    for (int j = 0; j < VAD_CONTEXT + VAD_WINDOW; j++) {
        size_t s = start + (size_t)j; /* sample index + 64 */
        x[j] = (s >= VAD_CONTEXT && s - VAD_CONTEXT < n) ? blk[s - b0 * VAD_WINDOW] : 0.0f;
    }
    if (i == 0) memset(x, 0, VAD_CONTEXT * sizeof *x);
    reflect_pad(x);
}

typedef struct fe_job {
    const vad_silero *v;
    const float *blk;       /* the block's samples (frame_input) */
    size_t b0, n, first, count; /* frames [first, first + count) of the block starting at frame b0 */
    float *feat;            /* [count][128] */
} fe_job;

static void *fe_run(void *arg) {
    fe_job *j = arg;
    float x[SIL_PADDED];
    for (size_t i = 0; i < j->count; i++) {
        frame_input(j->blk, j->b0, j->n, j->first + i, x);
        front_end(j->v, x, j->feat + i * SIL_H);
    }
    return NULL;
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* One LSTM step on a frame's features feat[128], state (hs, cs) updated in place; returns the
 * frame's speech probability. */
static float lstm_step(const vad_silero *v, const float *feat, float *hs, float *cs) {
    float gates[4 * SIL_H];
    for (int g = 0; g < 4 * SIL_H; g++)
        gates[g] = v->b_ih[g] + v->b_hh[g] + dot(v->w_ih + (size_t)g * SIL_H, feat, SIL_H) +
                   dot(v->w_hh + (size_t)g * SIL_H, hs, SIL_H);
    float acc = v->b_out;
    for (int k = 0; k < SIL_H; k++) {
        float ig = sigmoidf(gates[k]), fg = sigmoidf(gates[SIL_H + k]);
        float gg = tanhf(gates[2 * SIL_H + k]), og = sigmoidf(gates[3 * SIL_H + k]);
        cs[k] = fg * cs[k] + ig * gg;
        hs[k] = og * tanhf(cs[k]);
    }
    for (int k = 0; k < SIL_H; k++) acc += v->w_out[k] * (hs[k] > 0.0f ? hs[k] : 0.0f);
    return sigmoidf(acc);
}

void vad_silero_state_reset(vad_silero_state *st) { memset(st, 0, sizeof *st); }

float vad_silero_frame(const vad_silero *v, vad_silero_state *st, const float *frame) {
    float x[SIL_PADDED], feat[SIL_H];
    memcpy(x, st->context, VAD_CONTEXT * sizeof *x);
    memcpy(x + VAD_CONTEXT, frame, VAD_WINDOW * sizeof *x);
    reflect_pad(x);
    memcpy(st->context, frame + VAD_WINDOW - VAD_CONTEXT, VAD_CONTEXT * sizeof *x);
    front_end(v, x, feat);
    return lstm_step(v, feat, st->h, st->c);
}

int vad_silero_probs(const vad_silero *v, const float *pcm, size_t n, int n_threads, float **probs,
                     size_t *n_frames) {
    if (!v || !probs || !n_frames || (!pcm && n)) return AM_E_INVALID_ARG;
    pcm_store *st = pcm_store_view(pcm, n);
    if (!st) return AM_E_NOMEM;
    int rc = vad_silero_probs_store(v, st, n_threads, probs, n_frames);
    pcm_store_free(st);
    return rc;
}

int vad_silero_probs_store(const vad_silero *v, const pcm_store *pcm, int n_threads, float **probs,
                           size_t *n_frames) {
    if (!v || !probs || !n_frames || !pcm) return AM_E_INVALID_ARG;
    *probs = NULL;
    *n_frames = 0;
    const size_t n = pcm_store_size(pcm), nf = n / VAD_WINDOW + 1;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > SIL_MAX_THREADS) n_threads = SIL_MAX_THREADS;
    float *p = malloc(nf * sizeof *p);
    float *feat = malloc((size_t)SIL_BLOCK * SIL_H * sizeof *feat);
    float *blk = malloc(((size_t)SIL_BLOCK * VAD_WINDOW + VAD_CONTEXT) * sizeof *blk);
    if (!p || !feat || !blk) {
        free(p);
        free(feat);
        free(blk);
        return AM_E_NOMEM;
    }
    float hs[SIL_H] = {0}, cs[SIL_H] = {0};

    for (size_t b0 = 0; b0 < nf; b0 += SIL_BLOCK) {
        size_t nb = nf - b0 < SIL_BLOCK ? nf - b0 : SIL_BLOCK;
        /* the block's samples: from 64 before its first frame to the end of its last */
        int rc;
        if (b0 == 0) {
            memset(blk, 0, VAD_CONTEXT * sizeof *blk);
            rc = pcm_store_read(pcm, 0, nb * VAD_WINDOW, blk + VAD_CONTEXT);
        } else {
            rc = pcm_store_read(pcm, b0 * VAD_WINDOW - VAD_CONTEXT, nb * VAD_WINDOW + VAD_CONTEXT, blk);
        }
        if (rc != AM_OK) {
            free(p);
            free(feat);
            free(blk);
            return rc;
        }
        /* front end of the block, split over threads (the calling thread takes the first share) */
        int nt = n_threads;
        if ((size_t)nt > nb / 16) nt = (int)(nb / 16) > 0 ? (int)(nb / 16) : 1;
        fe_job jobs[SIL_MAX_THREADS];
        pthread_t tid[SIL_MAX_THREADS];
        int started[SIL_MAX_THREADS] = {0};
        size_t per = (nb + (size_t)nt - 1) / (size_t)nt;
        for (int t = 0; t < nt; t++) {
            size_t f0 = (size_t)t * per, c = f0 < nb ? (nb - f0 < per ? nb - f0 : per) : 0;
            jobs[t] = (fe_job){v, blk, b0, n, b0 + f0, c, feat + f0 * SIL_H};
            if (t > 0 && c > 0) started[t] = pthread_create(&tid[t], NULL, fe_run, &jobs[t]) == 0;
        }
        fe_run(&jobs[0]);
        for (int t = 1; t < nt; t++) {
            if (started[t]) pthread_join(tid[t], NULL);
            else if (jobs[t].count) fe_run(&jobs[t]); /* thread creation failed: do it here */
        }
        /* LSTM over the block in order */
        for (size_t i = 0; i < nb; i++) p[b0 + i] = lstm_step(v, feat + i * SIL_H, hs, cs);
    }
    free(feat);
    free(blk);
    *probs = p;
    *n_frames = nf;
    return AM_OK;
}
