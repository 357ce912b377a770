/* campplus.c — see campplus.h.  Activations are time-major: the 2-D head holds [T][F][C] (channels
 * innermost, with a zero border: see bordered), the 1-D part [T][C].  Weights are reordered at
 * create time to the order of a receptive field's elements in memory, so that out[pos][cout] =
 * field[pos] · w[cout] + b[cout] is a product: gemm_nn_f32 on the weights stored k-major
 * (backend/cpu/attention.h), or W8A8 gemm_i8 on the quantised ones.  The head's float
 * convolutions multiply the activations in place, one product per kernel row; the others gather
 * each field into one row first (im2col). */
#include "diarize/campplus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/gemm_int8.h"
#include "backend/cpu/kernels.h"
#include "common/util.h"
#include "model/model.h"

#define BN_EPS 1e-5
#define M_CH 32       /* the head's channels */
#define N_FREQ 80
#define TDNN_CH 128
#define GROWTH 32
#define BN_CH 128     /* bn_size * growth */
#define SEG_LEN 100   /* the CAM context's run of frames */
#define MAX_CH 1024

typedef struct {
    float *w; /* [cout][k], k in the im2col row's order (NULL once quantised or made k-major) */
    float *wt; /* [k][cout]: w k-major, for the products of many rows (lin_kmajor) */
    float *b; /* [cout] or NULL */
    int cout, k;
    int8_t *q; /* int8: the packed rows (gemm_int8.h), their scales and sums; else NULL */
    float *qscale;
    int32_t *qsum;
} lin;

typedef struct {
    float *scale, *shift; /* y = x * scale + shift, per channel */
    int c;
} affine;

typedef struct {
    int cin, dil;
    affine bn1, bn2;
    lin linear1, local, cam1, cam2;
} cam_layer;

static const int BLOCK_LAYERS[3] = {12, 24, 16};
static const int BLOCK_DIL[3] = {1, 2, 2};

struct diar_campplus {
    lin conv1;            /* head: 1 -> 32, BN folded */
    lin res[4][3];        /* layer1.0, layer1.1, layer2.0, layer2.1: conv1, conv2, shortcut (w NULL: identity) */
    lin conv2;            /* head: 32 -> 32, stride (2,1), BN folded */
    lin tdnn;             /* 320 x 5 -> 128, BN folded */
    cam_layer *layers;    /* 12 + 24 + 16 */
    affine transit_bn[3];
    lin transit[3];
    affine out_bn;
    lin dense;            /* 1024 -> 192 */
    affine dense_bn;
    int int8, i8_path;
};

/* ---- create ------------------------------------------------------------------------------------ */

typedef struct {
    const diar_weights *w;
    char *err;
    size_t err_size;
    int rc;
} loader;

static const float *get(loader *L, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    if (L->rc != AM_OK) return NULL;
    const int64_t dims[4] = {d0, d1, d2, d3};
    char full[160];
    snprintf(full, sizeof full, "campplus.%s", name);
    const float *p = diar_weights_get(L->w, full, nd, dims, L->err, L->err_size);
    if (!p) L->rc = AM_E_MODEL;
    return p;
}

static void *alloc(loader *L, size_t n) {
    if (L->rc != AM_OK) return NULL;
    void *p = malloc(n ? n : 1);
    if (!p) L->rc = am_fail(L->err, L->err_size, AM_E_NOMEM, "CAM++: out of memory");
    return p;
}

/* eval-mode BatchNorm "<prefix>running_mean" etc. as an affine map (affine=0: no weight/bias) */
static affine bn_load(loader *L, const char *prefix, int c, int has_affine) {
    affine a = {NULL, NULL, c};
    char n[160];
    snprintf(n, sizeof n, "%srunning_mean", prefix);
    const float *rm = get(L, n, 1, c, 0, 0, 0);
    snprintf(n, sizeof n, "%srunning_var", prefix);
    const float *rv = get(L, n, 1, c, 0, 0, 0);
    const float *g = NULL, *b = NULL;
    if (has_affine) {
        snprintf(n, sizeof n, "%sweight", prefix);
        g = get(L, n, 1, c, 0, 0, 0);
        snprintf(n, sizeof n, "%sbias", prefix);
        b = get(L, n, 1, c, 0, 0, 0);
    }
    a.scale = alloc(L, sizeof(float) * (size_t)c);
    a.shift = alloc(L, sizeof(float) * (size_t)c);
    if (L->rc != AM_OK) return a;
    for (int i = 0; i < c; i++) {
        double s = (g ? g[i] : 1.0) / sqrt((double)rv[i] + BN_EPS);
        a.scale[i] = (float)s;
        a.shift[i] = (float)((b ? b[i] : 0.0) - rm[i] * s);
    }
    return a;
}

/* a 2-D conv [cout][cin][kf][kt] reordered to rows [kt][kf][cin] (the im2col order below), with the
 * following BatchNorm "<bn>" folded in */
static lin conv2d_load(loader *L, const char *name, const char *bn, int cout, int cin, int ks) {
    lin l = {.cout = cout, .k = ks * ks * cin};
    const float *w = get(L, name, 4, cout, cin, ks, ks);
    affine a = bn_load(L, bn, cout, 1);
    l.w = alloc(L, sizeof(float) * (size_t)cout * (size_t)l.k);
    l.b = alloc(L, sizeof(float) * (size_t)cout);
    if (L->rc == AM_OK)
        for (int o = 0; o < cout; o++) {
            for (int c = 0; c < cin; c++)
                for (int f = 0; f < ks; f++)
                    for (int t = 0; t < ks; t++)
                        l.w[(size_t)o * l.k + (size_t)(t * ks + f) * cin + c] =
                            w[(((size_t)o * cin + c) * ks + f) * ks + t] * a.scale[o];
            l.b[o] = a.shift[o];
        }
    free(a.scale);
    free(a.shift);
    return l;
}

/* a 1-D conv [cout][cin][k] reordered to rows [k][cin]; bias "<bias>" (NULL: none); the BatchNorm
 * "<bn>" after it folded in (NULL: none) */
static lin conv1d_load(loader *L, const char *name, const char *bias, const char *bn, int cout, int cin, int k) {
    lin l = {.cout = cout, .k = k * cin};
    const float *w = get(L, name, 3, cout, cin, k, 0);
    const float *b = bias ? get(L, bias, 1, cout, 0, 0, 0) : NULL;
    affine a = {NULL, NULL, 0};
    if (bn) a = bn_load(L, bn, cout, 1);
    l.w = alloc(L, sizeof(float) * (size_t)cout * (size_t)l.k);
    if (b || bn) l.b = alloc(L, sizeof(float) * (size_t)cout);
    if (L->rc == AM_OK)
        for (int o = 0; o < cout; o++) {
            float s = bn ? a.scale[o] : 1.0f;
            for (int c = 0; c < cin; c++)
                for (int j = 0; j < k; j++) l.w[(size_t)o * l.k + (size_t)j * cin + c] = w[((size_t)o * cin + c) * k + j] * s;
            if (l.b) l.b[o] = (b ? b[o] * s : 0.0f) + (bn ? a.shift[o] : 0.0f);
        }
    free(a.scale);
    free(a.shift);
    return l;
}

static void lin_free(lin *l) {
    free(l->w);
    free(l->wt);
    free(l->b);
    free(l->q);
    free(l->qscale);
    free(l->qsum);
}

/* W8A8: the rows quantised per output channel (model_quantize_rows's rule) and packed */
static void lin_quantize(loader *L, lin *l) {
    if (L->rc != AM_OK || !l->w) return;
    int8_t *rows = alloc(L, (size_t)l->cout * (size_t)l->k);
    l->q = alloc(L, gemm_i8_packed_size(l->cout, l->k));
    l->qscale = alloc(L, sizeof(float) * (size_t)l->cout);
    l->qsum = alloc(L, sizeof(int32_t) * (size_t)l->cout);
    if (L->rc == AM_OK) {
        model_quantize_rows(l->cout, l->k, l->w, l->k, rows, l->k, l->qscale);
        gemm_i8_pack(l->cout, l->k, rows, l->k, l->q, l->qsum);
        free(l->w);
        l->w = NULL;
    }
    free(rows);
}

/* a float layer run by lin_run: w made k-major (gemm_nn_f32's B) */
static void lin_kmajor(loader *L, lin *l) {
    if (L->rc != AM_OK || !l->w) return;
    l->wt = alloc(L, sizeof(float) * (size_t)l->cout * (size_t)l->k);
    if (L->rc != AM_OK) return;
    transpose_f32(l->cout, l->k, l->w, l->k, l->wt, l->cout);
    free(l->w);
    l->w = NULL;
}

/* C[i][j] += b[j] for M rows of n (row stride ldc) */
static void add_row_bias(int M, int n, float *C, int ldc, const float *b) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < n; j++) c[j] += b[j];
    }
}

/* out[M][cout] (row stride ldc) = A[M][k] · wᵀ + b, in float or W8A8 */
static int lin_run(const diar_campplus *m, const lin *l, int M, const float *A, int lda, float *C, int ldc,
                   am_i8_scratch *s) {
    if (!l->q) {
        gemm_nn_f32(M, l->cout, l->k, A, lda, l->wt, l->cout, C, ldc);
        if (l->b) add_row_bias(M, l->cout, C, ldc, l->b);
        return 0;
    }
    am_i8w W = {l->q, l->qscale, l->qsum, l->cout, l->k};
    return gemm_i8(NULL, m->i8_path, M, l->cout, l->k, A, lda, &W, l->b, C, ldc, s);
}

static void affine_free(affine *a) {
    free(a->scale);
    free(a->shift);
}

void diar_campplus_free(diar_campplus *m) {
    if (!m) return;
    lin_free(&m->conv1);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) lin_free(&m->res[i][j]);
    lin_free(&m->conv2);
    lin_free(&m->tdnn);
    if (m->layers)
        for (int i = 0; i < 12 + 24 + 16; i++) {
            cam_layer *c = &m->layers[i];
            affine_free(&c->bn1);
            affine_free(&c->bn2);
            lin_free(&c->linear1);
            lin_free(&c->local);
            lin_free(&c->cam1);
            lin_free(&c->cam2);
        }
    free(m->layers);
    for (int i = 0; i < 3; i++) {
        affine_free(&m->transit_bn[i]);
        lin_free(&m->transit[i]);
    }
    affine_free(&m->out_bn);
    lin_free(&m->dense);
    affine_free(&m->dense_bn);
    free(m);
}

int diar_campplus_create(const diar_weights *w, int int8, diar_campplus **out, char *err, size_t err_size) {
    *out = NULL;
    loader L = {w, err, err_size, AM_OK};
    diar_campplus *m = calloc(1, sizeof *m);
    if (!m) return am_fail(err, err_size, AM_E_NOMEM, "CAM++: out of memory");
    char n1[160], n2[160], n3[160];
    m->conv1 = conv2d_load(&L, "head.conv1.weight", "head.bn1.", M_CH, 1, 3);
    for (int s = 0; s < 2; s++)
        for (int b = 0; b < 2; b++) {
            lin *r = m->res[s * 2 + b];
            snprintf(n1, sizeof n1, "head.layer%d.%d.conv1.weight", s + 1, b);
            snprintf(n2, sizeof n2, "head.layer%d.%d.bn1.", s + 1, b);
            r[0] = conv2d_load(&L, n1, n2, M_CH, M_CH, 3);
            snprintf(n1, sizeof n1, "head.layer%d.%d.conv2.weight", s + 1, b);
            snprintf(n2, sizeof n2, "head.layer%d.%d.bn2.", s + 1, b);
            r[1] = conv2d_load(&L, n1, n2, M_CH, M_CH, 3);
            if (b == 0) { /* the stride-2 block: a 1x1 conv + BN shortcut */
                snprintf(n1, sizeof n1, "head.layer%d.%d.shortcut.0.weight", s + 1, b);
                snprintf(n2, sizeof n2, "head.layer%d.%d.shortcut.1.", s + 1, b);
                r[2] = conv2d_load(&L, n1, n2, M_CH, M_CH, 1);
            }
        }
    m->conv2 = conv2d_load(&L, "head.conv2.weight", "head.bn2.", M_CH, M_CH, 3);
    /* tdnn: the head's 320 channels are c * 10 + f; our rows are [k][f][c]: load, then permute */
    m->tdnn = conv1d_load(&L, "xvector.tdnn.linear.weight", NULL, "xvector.tdnn.nonlinear.batchnorm.", TDNN_CH,
                          M_CH * 10, 5);
    if (L.rc == AM_OK) {
        float *row = alloc(&L, sizeof(float) * (size_t)m->tdnn.k);
        for (int o = 0; L.rc == AM_OK && o < TDNN_CH; o++) {
            float *wo = m->tdnn.w + (size_t)o * m->tdnn.k;
            for (int j = 0; j < 5; j++)
                for (int f = 0; f < 10; f++)
                    for (int c = 0; c < M_CH; c++) row[j * 320 + f * M_CH + c] = wo[j * 320 + c * 10 + f];
            memcpy(wo, row, sizeof(float) * (size_t)m->tdnn.k);
        }
        free(row);
    }
    m->layers = L.rc == AM_OK ? calloc(12 + 24 + 16, sizeof *m->layers) : NULL;
    if (L.rc == AM_OK && !m->layers) L.rc = am_fail(err, err_size, AM_E_NOMEM, "CAM++: out of memory");
    int ch = TDNN_CH, li = 0;
    for (int b = 0; b < 3 && L.rc == AM_OK; b++) {
        for (int i = 0; i < BLOCK_LAYERS[b]; i++, li++) {
            cam_layer *c = &m->layers[li];
            char p[96];
            snprintf(p, sizeof p, "xvector.block%d.tdnnd%d.", b + 1, i + 1);
            c->cin = ch + i * GROWTH;
            c->dil = BLOCK_DIL[b];
            snprintf(n1, sizeof n1, "%snonlinear1.batchnorm.", p);
            c->bn1 = bn_load(&L, n1, c->cin, 1);
            snprintf(n1, sizeof n1, "%slinear1.weight", p);
            c->linear1 = conv1d_load(&L, n1, NULL, NULL, BN_CH, c->cin, 1);
            snprintf(n1, sizeof n1, "%snonlinear2.batchnorm.", p);
            c->bn2 = bn_load(&L, n1, BN_CH, 1);
            snprintf(n1, sizeof n1, "%scam_layer.linear_local.weight", p);
            c->local = conv1d_load(&L, n1, NULL, NULL, GROWTH, BN_CH, 3);
            snprintf(n1, sizeof n1, "%scam_layer.linear1.weight", p);
            snprintf(n2, sizeof n2, "%scam_layer.linear1.bias", p);
            c->cam1 = conv1d_load(&L, n1, n2, NULL, BN_CH / 2, BN_CH, 1);
            snprintf(n1, sizeof n1, "%scam_layer.linear2.weight", p);
            snprintf(n3, sizeof n3, "%scam_layer.linear2.bias", p);
            c->cam2 = conv1d_load(&L, n1, n3, NULL, GROWTH, BN_CH / 2, 1);
        }
        ch += BLOCK_LAYERS[b] * GROWTH;
        snprintf(n1, sizeof n1, "xvector.transit%d.nonlinear.batchnorm.", b + 1);
        m->transit_bn[b] = bn_load(&L, n1, ch, 1);
        snprintf(n1, sizeof n1, "xvector.transit%d.linear.weight", b + 1);
        m->transit[b] = conv1d_load(&L, n1, NULL, NULL, ch / 2, ch, 1);
        ch /= 2;
    }
    m->out_bn = bn_load(&L, "xvector.out_nonlinear.batchnorm.", ch, 1);
    m->dense = conv1d_load(&L, "xvector.dense.linear.weight", NULL, NULL, DIAR_CAMPPLUS_DIM, 2 * ch, 1);
    m->dense_bn = bn_load(&L, "xvector.dense.nonlinear.batchnorm.", DIAR_CAMPPLUS_DIM, 0);
    m->int8 = int8;
    m->i8_path = gemm_i8_best_path();
    if (int8) {
        /* the layers whose int8 error is small (measured on speech, see campplus.h): the head's last
         * convolution, each CAM layer's 1x1 and k3 convolutions, and the transition layers */
        lin_quantize(&L, &m->conv2);
        for (int i = 0; i < 12 + 24 + 16 && m->layers; i++) {
            lin_quantize(&L, &m->layers[i].linear1);
            lin_quantize(&L, &m->layers[i].local);
        }
        for (int i = 0; i < 3; i++) lin_quantize(&L, &m->transit[i]);
    }
    /* the float layers of many rows k-major (cam1, cam2 and dense, of one row, stay as they are) */
    lin_kmajor(&L, &m->conv1);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) lin_kmajor(&L, &m->res[i][j]);
    lin_kmajor(&L, &m->conv2);
    lin_kmajor(&L, &m->tdnn);
    for (int i = 0; i < 12 + 24 + 16 && m->layers; i++) {
        lin_kmajor(&L, &m->layers[i].linear1);
        lin_kmajor(&L, &m->layers[i].local);
    }
    for (int i = 0; i < 3; i++) lin_kmajor(&L, &m->transit[i]);
    if (L.rc != AM_OK) {
        diar_campplus_free(m);
        return L.rc;
    }
    *out = m;
    return AM_OK;
}

/* ---- forward ----------------------------------------------------------------------------------- */

/* The 2-D head keeps its activations zero-bordered: [T + 2][F + 2][C], the frames and frequencies
 * of the padding 0, so that a 3x3 tap never needs a bounds check.  Element (t, f) of a bordered
 * buffer p of F frequencies is p[((t + 1) * (F + 2) + f + 1) * C]. */
static float *bordered(float *p, int F, int C) { return p + (size_t)(F + 3) * C; }

/* zero the border of p [T + 2][F + 2][C] */
static void zero_border(float *p, int T, int F, int C) {
    size_t row = (size_t)(F + 2) * C;
    memset(p, 0, sizeof(float) * row);
    memset(p + (size_t)(T + 1) * row, 0, sizeof(float) * row);
    for (int t = 1; t <= T; t++) {
        memset(p + (size_t)t * row, 0, sizeof(float) * C);
        memset(p + (size_t)t * row + (size_t)(F + 1) * C, 0, sizeof(float) * C);
    }
}

/* y = conv of the bordered x [T + 2][F + 2][cin] with a ks x ks kernel (ks 1 or 3, pad ks / 2),
 * stride sf on frequency, + bias, + res (NULL: none; bordered like y), clamped at 0 when relu:
 * into the bordered yp [T + 2][Fo + 2][cout] (its border zeroed) when out_bordered, else the plain
 * yp [T][Fo][cout].  Float weights: for each frame and kernel row kt, the taps (kf, cin) of output
 * frequency fo are ks * cin contiguous floats of x starting sf * fo * cin further on, so each
 * kernel row is one product with A = x itself (row stride sf * cin), summed into y
 * (gemm_nn_f32_acc).  W8A8 weights: the rows gathered (cols: [Fo][ks * ks * cin]) and quantised. */
AM_VECTOR_CLONES static int conv2d(const diar_campplus *m, const lin *l, const float *xp, int T, int F, int cin,
                                   int ks, int sf, const float *res, int relu, float *yp, int out_bordered,
                                   float *cols, am_i8_scratch *s) {
    const int pad = ks / 2, Fo = (F + 2 * pad - ks) / sf + 1, cout = l->cout, kr = ks * cin;
    const size_t xrow = (size_t)(F + 2) * cin, yrow = (size_t)(out_bordered ? Fo + 2 : Fo) * cout;
    float *y0 = out_bordered ? bordered(yp, Fo, cout) : yp;
    const float *r0 = res ? bordered((float *)res, Fo, cout) : NULL;
    for (int t = 0; t < T; t++) {
        /* kernel row kt of output frame t reads bordered frame t + kt + 1 - pad, from column 1 - pad */
        const float *x0 = xp + (size_t)(t + 1 - pad) * xrow + (size_t)(1 - pad) * cin;
        float *yt = y0 + (size_t)t * yrow;
        if (l->q) {
            for (int fo = 0; fo < Fo; fo++)
                for (int kt = 0; kt < ks; kt++)
                    memcpy(cols + (size_t)fo * l->k + (size_t)kt * kr, x0 + (size_t)kt * xrow + (size_t)sf * fo * cin,
                           sizeof(float) * (size_t)kr);
            if (lin_run(m, l, Fo, cols, l->k, yt, cout, s)) return -1;
        } else {
            for (int kt = 0; kt < ks; kt++)
                (kt ? gemm_nn_f32_acc : gemm_nn_f32)(Fo, cout, kr, x0 + (size_t)kt * xrow, sf * cin,
                                                     l->wt + (size_t)kt * kr * cout, cout, yt, cout);
        }
        const size_t n = (size_t)Fo * cout; /* frame t of y: n contiguous floats, as of res */
        if (!l->q && l->b) add_row_bias(Fo, cout, yt, cout, l->b); /* (gemm_i8 added it) */
        if (res) {
            const float *rt = r0 + (size_t)t * yrow;
            for (size_t i = 0; i < n; i++) yt[i] += rt[i];
        }
        if (relu)
            for (size_t i = 0; i < n; i++) yt[i] = yt[i] > 0.0f ? yt[i] : 0.0f;
    }
    if (out_bordered) zero_border(yp, T, Fo, cout);
    return 0;
}

/* y[to][cout] (row stride ldy) = conv1d of x[t][cin] (row stride ldx): kernel l->k / cin taps,
 * stride, dilation, pad; cols: scratch [to][k] */
static int conv1d(const diar_campplus *m, const lin *l, const float *x, int ldx, int T, int cin, int stride, int dil,
                  int pad, float *y, int ldy, int To, float *cols, am_i8_scratch *s) {
    int taps = l->k / cin;
    for (int t = 0; t < To; t++)
        for (int j = 0; j < taps; j++) {
            int tt = t * stride + j * dil - pad;
            float *dst = cols + (size_t)t * l->k + (size_t)j * cin;
            if (tt < 0 || tt >= T)
                memset(dst, 0, sizeof(float) * (size_t)cin);
            else
                memcpy(dst, x + (size_t)tt * ldx, sizeof(float) * (size_t)cin);
        }
    return lin_run(m, l, To, cols, l->k, y, ldy, s);
}

/* y[t][c] = relu(x[t][c] * scale[c] + shift[c]) for c < a->c */
AM_VECTOR_CLONES static void bn_relu(const affine *a, const float *x, int ldx, int T, float *y, int ldy) {
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * ldx;
        float *yt = y + (size_t)t * ldy;
        for (int c = 0; c < a->c; c++) {
            float v = xt[c] * a->scale[c] + a->shift[c];
            yt[c] = v > 0.0f ? v : 0.0f;
        }
    }
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

AM_VECTOR_CLONES static int campplus_forward(const diar_campplus *m, const float *feats, size_t n_frames,
                                             float *emb, char *err, size_t err_size) {
    if (n_frames < DIAR_CAMPPLUS_MIN_FRAMES || n_frames > (1u << 24))
        return am_fail(err, err_size, AM_E_INVALID_ARG, "CAM++: %zu frames (at least %d)", n_frames,
                       DIAR_CAMPPLUS_MIN_FRAMES);
    int T = (int)n_frames, T2 = (T - 1) / 2 + 1;
    /* scratch: three bordered head buffers [T + 2][82][32], the im2col rows, the dense-block buffers [T2][1024] */
    size_t head = (size_t)(T + 2) * (N_FREQ + 2) * M_CH;
    size_t cols = max_sz((size_t)N_FREQ * 9 * M_CH, max_sz((size_t)T2 * 5 * 320, (size_t)T2 * 3 * BN_CH));
    size_t blk = (size_t)T2 * MAX_CH;
    float *mem = malloc(sizeof(float) * (3 * head + cols + 3 * blk + (size_t)T2 * BN_CH));
    if (!mem) return am_fail(err, err_size, AM_E_NOMEM, "CAM++: out of memory for %zu frames", n_frames);
    am_i8_scratch s8 = {0};
    int bad = 0;
    float *a = mem, *b = a + head, *c = b + head, *col = c + head, *X = col + cols, *H = X + blk, *Y = H + blk,
          *H2 = Y + blk;

    /* head: [T][80][1] -> [T][80][32] -> residual stages -> [T][10][32], bordered until the last */
    for (int t = 0; t < T; t++) memcpy(bordered(c, N_FREQ, 1) + (size_t)t * (N_FREQ + 2), feats + (size_t)t * N_FREQ,
                                       sizeof(float) * N_FREQ);
    zero_border(c, T, N_FREQ, 1);
    bad |= conv2d(m, &m->conv1, c, T, N_FREQ, 1, 3, 1, NULL, 1, a, 1, col, &s8);
    int F = N_FREQ;
    for (int r = 0; r < 4; r++) {
        int sf = (r % 2 == 0) ? 2 : 1, Fo = (F + 2 - 3) / sf + 1;
        if (m->res[r][2].wt || m->res[r][2].q) { /* shortcut conv into c; the block's output then overwrites a */
            bad |= conv2d(m, &m->res[r][2], a, T, F, M_CH, 1, sf, NULL, 0, c, 1, col, &s8);
            bad |= conv2d(m, &m->res[r][0], a, T, F, M_CH, 3, sf, NULL, 1, b, 1, col, &s8);
            bad |= conv2d(m, &m->res[r][1], b, T, Fo, M_CH, 3, 1, c, 1, a, 1, col, &s8);
        } else { /* identity shortcut: the output goes to c, which becomes a */
            bad |= conv2d(m, &m->res[r][0], a, T, F, M_CH, 3, sf, NULL, 1, b, 1, col, &s8);
            bad |= conv2d(m, &m->res[r][1], b, T, Fo, M_CH, 3, 1, a, 1, c, 1, col, &s8);
            float *tmp = a;
            a = c;
            c = tmp;
        }
        F = Fo;
    }
    bad |= conv2d(m, &m->conv2, a, T, F, M_CH, 3, 2, NULL, 1, b, 0, col, &s8);
    F = (F + 2 - 3) / 2 + 1; /* 10: b is [T][320] with index f * 32 + c */

    /* tdnn: [T][320] -> X[T2][128] (BN folded, ReLU) */
    bad |= conv1d(m, &m->tdnn, b, F * M_CH, T, F * M_CH, 2, 1, 2, X, MAX_CH, T2, col, &s8);
    for (int t = 0; t < T2; t++)
        for (int k = 0; k < TDNN_CH; k++) X[(size_t)t * MAX_CH + k] = X[(size_t)t * MAX_CH + k] > 0 ? X[(size_t)t * MAX_CH + k] : 0;

    int ch = TDNN_CH, li = 0;
    for (int blk_i = 0; blk_i < 3; blk_i++) {
        for (int i = 0; i < BLOCK_LAYERS[blk_i]; i++, li++) {
            const cam_layer *L = &m->layers[li];
            bn_relu(&L->bn1, X, MAX_CH, T2, H, L->cin);
            bad |= lin_run(m, &L->linear1, T2, H, L->cin, H2, BN_CH, &s8);
            bn_relu(&L->bn2, H2, BN_CH, T2, H2, BN_CH);
            /* y -> the block's next 32 channels */
            float *dst = X + L->cin;
            bad |= conv1d(m, &L->local, H2, BN_CH, T2, BN_CH, 1, L->dil, L->dil, dst, MAX_CH, T2, col, &s8);
            /* the mask, constant over each run of SEG_LEN frames */
            double mean[BN_CH] = {0};
            for (int t = 0; t < T2; t++)
                for (int k = 0; k < BN_CH; k++) mean[k] += H2[(size_t)t * BN_CH + k];
            for (int k = 0; k < BN_CH; k++) mean[k] /= T2;
            for (int s0 = 0; s0 < T2; s0 += SEG_LEN) {
                int s1 = s0 + SEG_LEN < T2 ? s0 + SEG_LEN : T2;
                float ctx[BN_CH], hid[BN_CH / 2], msk[GROWTH];
                for (int k = 0; k < BN_CH; k++) {
                    double s = 0.0;
                    for (int t = s0; t < s1; t++) s += H2[(size_t)t * BN_CH + k];
                    ctx[k] = (float)(mean[k] + s / (s1 - s0));
                }
                gemm_f32_ref(1, BN_CH / 2, BN_CH, ctx, BN_CH, L->cam1.w, BN_CH, L->cam1.b, hid, BN_CH / 2);
                for (int k = 0; k < BN_CH / 2; k++) hid[k] = hid[k] > 0 ? hid[k] : 0;
                gemm_f32_ref(1, GROWTH, BN_CH / 2, hid, BN_CH / 2, L->cam2.w, BN_CH / 2, L->cam2.b, msk, GROWTH);
                for (int k = 0; k < GROWTH; k++) msk[k] = 1.0f / (1.0f + expf(-msk[k]));
                for (int t = s0; t < s1; t++)
                    for (int k = 0; k < GROWTH; k++) dst[(size_t)t * MAX_CH + k] *= msk[k];
            }
        }
        ch += BLOCK_LAYERS[blk_i] * GROWTH;
        bn_relu(&m->transit_bn[blk_i], X, MAX_CH, T2, H, ch);
        bad |= lin_run(m, &m->transit[blk_i], T2, H, ch, Y, MAX_CH, &s8);
        float *tmp = X;
        X = Y;
        Y = tmp;
        ch /= 2;
    }
    /* BN-ReLU, mean and unbiased standard deviation over frames, dense, affine-free BN */
    bn_relu(&m->out_bn, X, MAX_CH, T2, H, ch);
    float stats[2 * MAX_CH];
    for (int k = 0; k < ch; k++) {
        double s = 0.0, s2 = 0.0;
        for (int t = 0; t < T2; t++) s += H[(size_t)t * ch + k];
        double mu = s / T2;
        for (int t = 0; t < T2; t++) {
            double d = H[(size_t)t * ch + k] - mu;
            s2 += d * d;
        }
        stats[k] = (float)mu;
        stats[ch + k] = (float)sqrt(s2 / (T2 - 1));
    }
    gemm_f32_ref(1, DIAR_CAMPPLUS_DIM, 2 * ch, stats, 2 * ch, m->dense.w, 2 * ch, NULL, emb, DIAR_CAMPPLUS_DIM);
    for (int k = 0; k < DIAR_CAMPPLUS_DIM; k++) emb[k] = emb[k] * m->dense_bn.scale[k] + m->dense_bn.shift[k];
    free(mem);
    gemm_i8_scratch_free(&s8);
    if (bad) return am_fail(err, err_size, AM_E_NOMEM, "CAM++: out of memory");
    return AM_OK;
}

int diar_campplus_embed(const diar_campplus *m, const float *feats, size_t n_frames, float *emb, char *err,
                        size_t err_size) {
    return campplus_forward(m, feats, n_frames, emb, err, err_size);
}
