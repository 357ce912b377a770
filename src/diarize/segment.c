/* segment.c — see segment.h.  Activations are time-major ([T][C]) and every product is
 * gemm_nn_f32 (backend/cpu/attention.h) on weights stored k-major ([K][N]) at create time.  A
 * convolution's rows are windows of its time-major input, so the input itself is the GEMM's A with
 * a row stride of one step (no im2col copy).  The sinc filters are symmetric (cosine) or
 * antisymmetric (sine), so each pair of taps k and 250 - k is summed (or subtracted) first and
 * multiplied once.  The LSTM's input products for all frames of all the batch's chunks are one GEMM
 * per direction; the recurrence is one [B][128] x [128][512] product per frame for the B chunks
 * side by side, summed into those (gemm_nn_f32_acc), its gates through vm_exp_inplace.  Means,
 * variances and the log-softmax are summed in double. */
#include "diarize/segment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/vmath.h"
#include "common/util.h"

#define N_SINC 80
#define SINC_TAPS 251
#define SINC_STRIDE 10
#define SINC_HALF (SINC_TAPS / 2) /* 125: taps k and 250 - k pair up around the centre tap 125 */
#define CONV_CH 60
#define CONV_TAPS 5
#define HID 128
#define GATES (4 * HID)
#define N_LAYERS 4
#define LIN 128
#define IN_EPS 1e-5

typedef struct {
    float *wih, *whh, *b; /* [in][512] packed (gemm_nn_pack), [128][512] k-major, bias_ih + bias_hh [512] */
    int in;
} lstm_dir;

struct diar_segmenter {
    float wav_w, wav_b;
    float *sinc_cos, *sinc_sin;        /* [126][40] taps 0..125 of the cosine filters, [125][40] taps 0..124 of the sine */
    double sinc_sum[N_SINC];           /* the sum of each filter's 251 taps (0 for the sine filters) */
    float *conv_w[2], *conv_b[2];      /* [5 * cin][60], rows [tap][cin] */
    float *norm_w[3], *norm_b[3];      /* 80, 60, 60 */
    lstm_dir lstm[N_LAYERS][2];
    float *lin_w[2], *lin_b[2];        /* [256][128], [128][128] */
    float *cls_w, *cls_b;              /* [128][7] */
};

typedef struct {
    const diar_weights *w;
    char *err;
    size_t err_size;
    int rc;
} loader;

static const float *get(loader *L, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2) {
    if (L->rc != AM_OK) return NULL;
    const int64_t dims[3] = {d0, d1, d2};
    char full[160];
    snprintf(full, sizeof full, "segmentation.%s", name);
    const float *p = diar_weights_get(L->w, full, nd, dims, L->err, L->err_size);
    if (!p) L->rc = AM_E_MODEL;
    return p;
}

/* a copy of tensor `name` (n floats) */
static float *copy(loader *L, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2) {
    const float *p = get(L, name, nd, d0, d1, d2);
    if (!p) return NULL;
    size_t n = (size_t)d0 * (size_t)(nd > 1 ? d1 : 1) * (size_t)(nd > 2 ? d2 : 1);
    float *q = malloc(sizeof(float) * n);
    if (!q) {
        L->rc = am_fail(L->err, L->err_size, AM_E_NOMEM, "segmentation: out of memory");
        return NULL;
    }
    memcpy(q, p, sizeof(float) * n);
    return q;
}

/* a k-major copy of tensor `name` [rows][cols]: [cols][rows], gemm_nn_f32's B */
static float *copy_t(loader *L, const char *name, int64_t rows, int64_t cols) {
    const float *p = get(L, name, 2, rows, cols, 0);
    if (!p) return NULL;
    float *q = malloc(sizeof(float) * (size_t)rows * (size_t)cols);
    if (!q) {
        L->rc = am_fail(L->err, L->err_size, AM_E_NOMEM, "segmentation: out of memory");
        return NULL;
    }
    transpose_f32((int)rows, (int)cols, p, (int)cols, q, (int)rows);
    return q;
}

void diar_seg_free(diar_segmenter *m) {
    if (!m) return;
    free(m->sinc_cos);
    free(m->sinc_sin);
    for (int i = 0; i < 2; i++) {
        free(m->conv_w[i]);
        free(m->conv_b[i]);
        free(m->lin_w[i]);
        free(m->lin_b[i]);
    }
    for (int i = 0; i < 3; i++) {
        free(m->norm_w[i]);
        free(m->norm_b[i]);
    }
    for (int l = 0; l < N_LAYERS; l++)
        for (int d = 0; d < 2; d++) {
            free(m->lstm[l][d].wih);
            free(m->lstm[l][d].whh);
            free(m->lstm[l][d].b);
        }
    free(m->cls_w);
    free(m->cls_b);
    free(m);
}

/* asteroid's ParamSincFB filters from the learned band edges, in double.  Filter i's taps k and
 * 250 - k are equal (cosine, i < 40) or opposite (sine, whose centre tap is 0): only taps 0..125
 * (cosine) and 0..124 (sine) are kept, k-major. */
static int make_sinc(loader *L, diar_segmenter *m) {
    const char *fb = "sincnet.conv1d.0.filterbank.";
    char n[96];
    snprintf(n, sizeof n, "%slow_hz_", fb);
    const float *low_hz = get(L, n, 2, N_SINC / 2, 1, 0);
    snprintf(n, sizeof n, "%sband_hz_", fb);
    const float *band_hz = get(L, n, 2, N_SINC / 2, 1, 0);
    snprintf(n, sizeof n, "%swindow_", fb);
    const float *win = get(L, n, 1, SINC_HALF, 0, 0);
    snprintf(n, sizeof n, "%sn_", fb);
    const float *tn = get(L, n, 2, 1, SINC_HALF, 0);
    if (L->rc != AM_OK) return L->rc;
    const int nh = N_SINC / 2;
    m->sinc_cos = malloc(sizeof(float) * (SINC_HALF + 1) * nh);
    m->sinc_sin = malloc(sizeof(float) * SINC_HALF * nh);
    if (!m->sinc_cos || !m->sinc_sin)
        return L->rc = am_fail(L->err, L->err_size, AM_E_NOMEM, "segmentation: out of memory");
    for (int i = 0; i < nh; i++) {
        double low = 50.0 + fabs((double)low_hz[i]);
        double high = low + 50.0 + fabs((double)band_hz[i]);
        if (high < 50.0) high = 50.0;
        if (high > 8000.0) high = 8000.0;
        double band = high - low;
        for (int k = 0; k < SINC_HALF; k++) {
            double t = tn[k], fl = low * t, fh = high * t;
            double cl = (sin(fh) - sin(fl)) / (t / 2) * win[k];
            double sl = (cos(fl) - cos(fh)) / (t / 2) * win[k];
            m->sinc_cos[k * nh + i] = (float)(cl / (2 * band));
            m->sinc_sin[k * nh + i] = (float)(sl / (2 * band));
        }
        m->sinc_cos[SINC_HALF * nh + i] = (float)(2 * band / (2 * band));
        double sum = m->sinc_cos[SINC_HALF * nh + i];
        for (int k = 0; k < SINC_HALF; k++) sum += 2.0 * m->sinc_cos[k * nh + i];
        m->sinc_sum[i] = sum;
        m->sinc_sum[nh + i] = 0.0;
    }
    return AM_OK;
}

int diar_seg_create(const diar_weights *w, diar_segmenter **out, char *err, size_t err_size) {
    *out = NULL;
    loader L = {w, err, err_size, AM_OK};
    diar_segmenter *m = calloc(1, sizeof *m);
    if (!m) return am_fail(err, err_size, AM_E_NOMEM, "segmentation: out of memory");
    const float *ww = get(&L, "sincnet.wav_norm1d.weight", 1, 1, 0, 0);
    const float *wb = get(&L, "sincnet.wav_norm1d.bias", 1, 1, 0, 0);
    if (L.rc == AM_OK) {
        m->wav_w = ww[0];
        m->wav_b = wb[0];
    }
    make_sinc(&L, m);
    char n[96];
    for (int i = 0; i < 3; i++) {
        int c = i == 0 ? N_SINC : CONV_CH;
        snprintf(n, sizeof n, "sincnet.norm1d.%d.weight", i);
        m->norm_w[i] = copy(&L, n, 1, c, 0, 0);
        snprintf(n, sizeof n, "sincnet.norm1d.%d.bias", i);
        m->norm_b[i] = copy(&L, n, 1, c, 0, 0);
    }
    for (int i = 0; i < 2; i++) {
        int cin = i == 0 ? N_SINC : CONV_CH;
        snprintf(n, sizeof n, "sincnet.conv1d.%d.weight", i + 1);
        const float *cw = get(&L, n, 3, CONV_CH, cin, CONV_TAPS);
        snprintf(n, sizeof n, "sincnet.conv1d.%d.bias", i + 1);
        m->conv_b[i] = copy(&L, n, 1, CONV_CH, 0, 0);
        if (L.rc != AM_OK) break;
        m->conv_w[i] = malloc(sizeof(float) * CONV_CH * CONV_TAPS * (size_t)cin);
        if (!m->conv_w[i]) {
            L.rc = am_fail(err, err_size, AM_E_NOMEM, "segmentation: out of memory");
            break;
        }
        for (int o = 0; o < CONV_CH; o++)
            for (int c = 0; c < cin; c++)
                for (int k = 0; k < CONV_TAPS; k++)
                    m->conv_w[i][((size_t)k * cin + c) * CONV_CH + o] = cw[((size_t)o * cin + c) * CONV_TAPS + k];
    }
    for (int l = 0; l < N_LAYERS; l++)
        for (int d = 0; d < 2; d++) {
            lstm_dir *ld = &m->lstm[l][d];
            const char *sfx = d ? "_reverse" : "";
            ld->in = l == 0 ? CONV_CH : 2 * HID;
            snprintf(n, sizeof n, "lstm.weight_ih_l%d%s", l, sfx);
            float *wih = copy_t(&L, n, GATES, ld->in);
            if (wih && !(ld->wih = malloc(sizeof(float) * gemm_nn_packed_size(ld->in, GATES))))
                L.rc = am_fail(err, err_size, AM_E_NOMEM, "segmentation: out of memory");
            if (ld->wih) gemm_nn_pack(ld->in, GATES, wih, GATES, ld->wih);
            free(wih);
            snprintf(n, sizeof n, "lstm.weight_hh_l%d%s", l, sfx);
            ld->whh = copy_t(&L, n, GATES, HID);
            snprintf(n, sizeof n, "lstm.bias_ih_l%d%s", l, sfx);
            ld->b = copy(&L, n, 1, GATES, 0, 0);
            snprintf(n, sizeof n, "lstm.bias_hh_l%d%s", l, sfx);
            const float *bhh = get(&L, n, 1, GATES, 0, 0);
            if (L.rc == AM_OK)
                for (int g = 0; g < GATES; g++) ld->b[g] += bhh[g];
        }
    for (int i = 0; i < 2; i++) {
        snprintf(n, sizeof n, "linear.%d.weight", i);
        m->lin_w[i] = copy_t(&L, n, LIN, i == 0 ? 2 * HID : LIN);
        snprintf(n, sizeof n, "linear.%d.bias", i);
        m->lin_b[i] = copy(&L, n, 1, LIN, 0, 0);
    }
    m->cls_w = copy_t(&L, "classifier.weight", DIAR_SEG_CLASSES, LIN);
    m->cls_b = copy(&L, "classifier.bias", 1, DIAR_SEG_CLASSES, 0, 0);
    if (L.rc != AM_OK) {
        diar_seg_free(m);
        return L.rc;
    }
    *out = m;
    return AM_OK;
}

/* ---- forward ----------------------------------------------------------------------------------- */

static size_t conv_out(size_t n, size_t k, size_t stride) { return n < k ? 0 : (n - k) / stride + 1; }

size_t diar_seg_frames(size_t n) {
    size_t t = conv_out(n, SINC_TAPS, SINC_STRIDE) / 3;
    t = conv_out(t, CONV_TAPS, 1) / 3;
    return conv_out(t, CONV_TAPS, 1) / 3;
}

/* c[i][j] += bias[j] for `rows` rows of n */
static void add_bias(size_t rows, int n, float *c, const float *bias) {
    for (size_t i = 0; i < rows; i++) add_inplace((size_t)n, c + i * (size_t)n, bias);
}

static void leaky_relu(size_t n, float *x) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] >= 0.0f ? x[i] : 0.01f * x[i];
}

/* x[T][C] <- leaky_relu(instance_norm(x)) (affine g, b).  sum: 2 * C doubles of scratch. */
AM_VECTOR_CLONES static void norm_leaky(float *x, size_t T, int C, const float *g, const float *b, double *sum) {
    double *s = sum, *s2 = sum + C;
    for (int c = 0; c < C; c++) s[c] = s2[c] = 0.0;
    for (size_t t = 0; t < T; t++)
        for (int c = 0; c < C; c++) s[c] += x[t * C + c];
    for (int c = 0; c < C; c++) s[c] /= (double)T; /* the means */
    for (size_t t = 0; t < T; t++)
        for (int c = 0; c < C; c++) {
            double d = x[t * C + c] - s[c];
            s2[c] += d * d;
        }
    /* the sums in double: on a constant input (silence) the variance is 0 and 1 / sqrt(eps) magnifies
     * any rounding of x - mean 316 times; a constant's mean is then exactly its value */
    float mean[N_SINC], scale[N_SINC];
    for (int c = 0; c < C; c++) {
        mean[c] = (float)s[c];
        scale[c] = (float)(g[c] / sqrt(s2[c] / (double)T + IN_EPS));
    }
    for (size_t t = 0; t < T; t++) { /* x - mean is exact where x is near its mean (0 on a constant) */
        float *xt = x + t * C;
        for (int c = 0; c < C; c++) {
            float v = (xt[c] - mean[c]) * scale[c] + b[c];
            xt[c] = v >= 0.0f ? v : 0.01f * v;
        }
    }
}

/* x[T][C] <- maxpool3(x) in its first T / 3 rows */
static void maxpool3(float *x, size_t T, int C) {
    for (size_t t = 0; t < T / 3; t++) {
        const float *r0 = x + 3 * t * C, *r1 = r0 + C, *r2 = r1 + C;
        float *o = x + t * C;
        for (int c = 0; c < C; c++) {
            float v = r1[c] > r0[c] ? r1[c] : r0[c];
            o[c] = r2[c] > v ? r2[c] : v;
        }
    }
}

/* The sinc filters (stride 10) over x[0..len) - m0, before the waveform's instance norm:
 * G[conv_out(len)][80].  Per output step t, u = the pair sums and v = the pair differences of its
 * 251 samples (m0 cancels in v); cos = u · sinc_cos, sin = v · sinc_sin.  uv: 2 * 512 * 126 floats. */
#define SINC_BLOCK 512
static void sinc_raw(const diar_segmenter *m, const float *x, size_t len, float m0, float *G, float *uv) {
    const size_t T = conv_out(len, SINC_TAPS, SINC_STRIDE);
    const int nh = N_SINC / 2, U = SINC_HALF + 1;
    float *u = uv, *v = uv + SINC_BLOCK * U;
    for (size_t t0 = 0; t0 < T; t0 += SINC_BLOCK) {
        size_t nb = T - t0 < SINC_BLOCK ? T - t0 : SINC_BLOCK;
        for (size_t t = 0; t < nb; t++) {
            const float *w = x + (t0 + t) * SINC_STRIDE;
            float *ut = u + t * U, *vt = v + t * U;
            for (int k = 0; k < SINC_HALF; k++) {
                ut[k] = (w[k] - m0) + (w[SINC_TAPS - 1 - k] - m0);
                vt[k] = w[k] - w[SINC_TAPS - 1 - k];
            }
            ut[SINC_HALF] = w[SINC_HALF] - m0;
        }
        gemm_nn_f32((int)nb, nh, U, u, U, m->sinc_cos, nh, G + t0 * N_SINC, N_SINC);
        gemm_nn_f32((int)nb, nh, SINC_HALF, v, U, m->sinc_sin, nh, G + t0 * N_SINC + nh, N_SINC);
    }
}

/* The rest of SincNet for one chunk of n samples x[0..n), from its filters' raw outputs G (rows
 * from the chunk's start; sinc_raw of the chunk's samples minus m0) -> out[nf][60].
 * The waveform's instance norm y = (x - mu) * scale + wav_b is affine, so each filter's output on
 * y is scale * G + (wav_b - (mu - m0) * scale) * (the sum of its taps), which is 0 for the sine
 * filters.  work: chunk_work(n) floats. */
static size_t chunk_work(size_t n) {
    size_t T1 = conv_out(n, SINC_TAPS, SINC_STRIDE) / 3;
    return T1 * N_SINC + T1 * CONV_CH;
}

/* the mean of x[0..n), summed in double */
static double mean_of(const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s / (double)n;
}

AM_VECTOR_CLONES static void sincnet_chunk(const diar_segmenter *m, const float *x, size_t n, float m0,
                                           const float *G, float *out, float *work) {
    const size_t T1 = conv_out(n, SINC_TAPS, SINC_STRIDE) / 3;
    float *a = work, *b = a + T1 * N_SINC;
    double sum[2 * N_SINC];

    /* the waveform's instance norm: its mean and scale in double */
    double mu = mean_of(x, n), s2 = 0.0;
    for (size_t i = 0; i < n; i++) s2 += (x[i] - mu) * (x[i] - mu);
    double scale = m->wav_w / sqrt(s2 / (double)n + IN_EPS);
    float sc = (float)scale, sh[N_SINC];
    for (int f = 0; f < N_SINC; f++) sh[f] = (float)((m->wav_b - (mu - m0) * scale) * m->sinc_sum[f]);

    /* |filters| and max-pool 3 in one pass: a[t][f] = max over j < 3 of |sc G[3t + j][f] + sh[f]| */
    for (size_t t = 0; t < T1; t++) {
        const float *g0 = G + 3 * t * N_SINC, *g1 = g0 + N_SINC, *g2 = g1 + N_SINC;
        float *o = a + t * N_SINC;
        for (int f = 0; f < N_SINC; f++) {
            float v0 = fabsf(sc * g0[f] + sh[f]), v1 = fabsf(sc * g1[f] + sh[f]), v2 = fabsf(sc * g2[f] + sh[f]);
            float v = v1 > v0 ? v1 : v0;
            o[f] = v2 > v ? v2 : v;
        }
    }
    norm_leaky(a, T1, N_SINC, m->norm_w[0], m->norm_b[0], sum); /* a[T1][80] */

    /* two conv1d k5 + pool + norm + leaky: a[T1][80] -> b[.][60] -> out[nf][60].  Output row t's
     * receptive field is input rows t .. t + 4, contiguous: the input is A with row stride cin. */
    size_t Tin = T1;
    for (int i = 0; i < 2; i++) {
        int cin = i == 0 ? N_SINC : CONV_CH;
        const float *src = i == 0 ? a : b;
        float *dst = i == 0 ? b : a;
        size_t To = Tin - CONV_TAPS + 1;
        gemm_nn_f32((int)To, CONV_CH, CONV_TAPS * cin, src, cin, m->conv_w[i], CONV_CH, dst, CONV_CH);
        add_bias(To, CONV_CH, dst, m->conv_b[i]);
        maxpool3(dst, To, CONV_CH);
        norm_leaky(dst, To / 3, CONV_CH, m->norm_w[i + 1], m->norm_b[i + 1], sum);
        Tin = To / 3;
    }
    memcpy(out, a, sizeof(float) * Tin * CONV_CH);
}

/* SincNet of B chunks of n samples, chunk b at x + start[b] -> feat[B][nf][60].  When the chunks
 * overlap (starts sorted, on the filters' 10-sample stride, their span shorter than B * n) the
 * filters run once over the span and each chunk takes its rows; otherwise once per chunk.
 * Returns AM_OK or AM_E_NOMEM. */
static int sincnet_batch(const diar_segmenter *m, const float *x, const size_t *start, int B, size_t n, float *feat,
                         char *err, size_t err_size) {
    const size_t nf = diar_seg_frames(n);
    int shared = B > 1;
    for (int b = 1; b < B && shared; b++)
        shared = start[b] >= start[b - 1] && (start[b] - start[0]) % SINC_STRIDE == 0;
    size_t span = shared ? start[B - 1] - start[0] + n : n;
    if (shared && span >= (size_t)B * n) {
        shared = 0;
        span = n;
    }
    const size_t rows = conv_out(span, SINC_TAPS, SINC_STRIDE);
    float *mem = malloc(sizeof(float) * (rows * N_SINC + 2 * SINC_BLOCK * (SINC_HALF + 1) + chunk_work(n)));
    if (!mem) return am_fail(err, err_size, AM_E_NOMEM, "segmentation: out of memory for %d x %zu samples", B, n);
    float *G = mem, *uv = G + rows * N_SINC, *work = uv + 2 * SINC_BLOCK * (SINC_HALF + 1);
    if (shared) {
        const float *xs = x + start[0];
        float m0 = (float)mean_of(xs, span);
        sinc_raw(m, xs, span, m0, G, uv);
        for (int b = 0; b < B; b++)
            sincnet_chunk(m, x + start[b], n, m0, G + (start[b] - start[0]) / SINC_STRIDE * N_SINC,
                          feat + (size_t)b * nf * CONV_CH, work);
    } else {
        for (int b = 0; b < B; b++) {
            const float *xb = x + start[b];
            float m0 = (float)mean_of(xb, n);
            sinc_raw(m, xb, n, m0, G, uv);
            sincnet_chunk(m, xb, n, m0, G, feat + (size_t)b * nf * CONV_CH, work);
        }
    }
    free(mem);
    return AM_OK;
}

/* one direction of one LSTM layer over B sequences x[B][T][in] into y[b][t][off .. off + 128) (row
 * stride 256), which is also where the recurrence reads its state h from.  pre: B * T * 512 floats,
 * the gates' inputs, which each step's h · whh is summed into in place; work: B * (128 + 512) floats. */
AM_VECTOR_CLONES static void lstm_run(const lstm_dir *d, const float *x, int B, size_t T, int reverse, float *y,
                                      int off, float *pre, float *work) {
    gemm_nn_f32_packed(B * (int)T, GATES, d->in, x, d->in, d->wih, pre, GATES); /* pre[B][T][512] = x · wih */
    const size_t ys = T * 2 * HID, ps = T * GATES; /* the distance between two sequences' rows of y and pre */
    float *c = work, *e = c + B * HID;
    memset(c, 0, sizeof(float) * B * HID);
    for (size_t s = 0; s < T; s++) {
        size_t t = reverse ? T - 1 - s : s;
        float *g = pre + t * GATES; /* sequence b's gates: g + b * ps */
        if (s > 0) /* g[b] += h[b] · whh, h[b] = y[b][previous t] (0 before the first step) */
            gemm_nn_f32_acc(B, GATES, HID, y + (reverse ? t + 1 : t - 1) * 2 * HID + off, (int)ys, d->whh, GATES, g,
                            (int)ps);
        /* gates i, f, g, o: sigmoid(v) = 1 / (1 + exp(-v)); tanh(v) = sign(v) (1 - e) / (1 + e), e = exp(-2|v|) */
        for (int b = 0; b < B; b++) {
            float *gb = g + b * ps, *eb = e + (size_t)b * GATES;
            for (int k = 0; k < GATES; k++) gb[k] += d->b[k];
            for (int k = 0; k < 2 * HID; k++) eb[k] = -gb[k];
            for (int k = 2 * HID; k < 3 * HID; k++) eb[k] = -2.0f * fabsf(gb[k]);
            for (int k = 3 * HID; k < GATES; k++) eb[k] = -gb[k];
        }
        vm_exp_inplace((size_t)B * GATES, e);
        for (int b = 0; b < B; b++) {
            const float *gb = g + b * ps;
            float *eb = e + (size_t)b * GATES, *cb = c + b * HID;
            for (int k = 0; k < HID; k++) {
                float i = 1.0f / (1.0f + eb[k]), f = 1.0f / (1.0f + eb[HID + k]);
                float r = (1.0f - eb[2 * HID + k]) / (1.0f + eb[2 * HID + k]), gg = gb[2 * HID + k] < 0.0f ? -r : r;
                cb[k] = f * cb[k] + i * gg;
            }
            for (int k = 0; k < HID; k++) eb[k] = -2.0f * fabsf(cb[k]); /* over the i gate's, used */
        }
        for (int b = 0; b < B; b++) vm_exp_inplace(HID, e + (size_t)b * GATES);
        for (int b = 0; b < B; b++) {
            const float *eb = e + (size_t)b * GATES, *cb = c + b * HID;
            float *hb = y + b * ys + t * 2 * HID + off;
            for (int k = 0; k < HID; k++) {
                float o = 1.0f / (1.0f + eb[3 * HID + k]), r = (1.0f - eb[k]) / (1.0f + eb[k]);
                hb[k] = o * (cb[k] < 0.0f ? -r : r);
            }
        }
    }
}

int diar_seg_forward_chunks(const diar_segmenter *m, const float *x, const size_t *start, int B, size_t n,
                            float *logp, char *err, size_t err_size) {
    size_t nf = diar_seg_frames(n);
    if (nf == 0) return am_fail(err, err_size, AM_E_INVALID_ARG, "segmentation: %zu samples give no frame", n);
    if (B < 1) return am_fail(err, err_size, AM_E_INVALID_ARG, "segmentation: a batch of %d chunks", B);
    const size_t rows = (size_t)B * nf;
    size_t need = rows * CONV_CH + 2 * rows * 2 * HID + rows * GATES + (size_t)B * (HID + GATES);
    float *mem = malloc(sizeof(float) * need);
    if (!mem) return am_fail(err, err_size, AM_E_NOMEM, "segmentation: out of memory for %d x %zu samples", B, n);
    float *feat = mem, *h0 = feat + rows * CONV_CH, *h1 = h0 + rows * 2 * HID, *pre = h1 + rows * 2 * HID,
          *lw = pre + rows * GATES;

    int rc = sincnet_batch(m, x, start, B, n, feat, err, err_size); /* [B][nf][60] */
    if (rc != AM_OK) {
        free(mem);
        return rc;
    }
    /* LSTM layers: h0 / h1 [B][nf][256] */
    lstm_run(&m->lstm[0][0], feat, B, nf, 0, h0, 0, pre, lw);
    lstm_run(&m->lstm[0][1], feat, B, nf, 1, h0, HID, pre, lw);
    for (int l = 1; l < N_LAYERS; l++) {
        lstm_run(&m->lstm[l][0], h0, B, nf, 0, h1, 0, pre, lw);
        lstm_run(&m->lstm[l][1], h0, B, nf, 1, h1, HID, pre, lw);
        float *tmp = h0;
        h0 = h1;
        h1 = tmp;
    }
    /* h0: the last layer's [B][nf][256].  Linear layers with leaky ReLU, classifier, log-softmax */
    float *l1 = h1, *l2 = pre;
    gemm_nn_f32((int)rows, LIN, 2 * HID, h0, 2 * HID, m->lin_w[0], LIN, l1, LIN);
    add_bias(rows, LIN, l1, m->lin_b[0]);
    leaky_relu(rows * LIN, l1);
    gemm_nn_f32((int)rows, LIN, LIN, l1, LIN, m->lin_w[1], LIN, l2, LIN);
    add_bias(rows, LIN, l2, m->lin_b[1]);
    leaky_relu(rows * LIN, l2);
    gemm_nn_f32((int)rows, DIAR_SEG_CLASSES, LIN, l2, LIN, m->cls_w, DIAR_SEG_CLASSES, logp, DIAR_SEG_CLASSES);
    add_bias(rows, DIAR_SEG_CLASSES, logp, m->cls_b);
    for (size_t t = 0; t < rows; t++) {
        float *z = logp + t * DIAR_SEG_CLASSES;
        float mx = z[0];
        for (int k = 1; k < DIAR_SEG_CLASSES; k++) mx = z[k] > mx ? z[k] : mx;
        double se = 0.0;
        for (int k = 0; k < DIAR_SEG_CLASSES; k++) se += exp((double)z[k] - mx);
        double lse = mx + log(se);
        for (int k = 0; k < DIAR_SEG_CLASSES; k++) z[k] = (float)(z[k] - lse);
    }
    free(mem);
    return AM_OK;
}

int diar_seg_forward_batch(const diar_segmenter *m, const float *x, size_t n, int B, float *logp, char *err,
                           size_t err_size) {
    size_t *start = malloc(sizeof(size_t) * (B > 0 ? (size_t)B : 1));
    if (!start) return am_fail(err, err_size, AM_E_NOMEM, "segmentation: out of memory");
    for (int b = 0; b < B; b++) start[b] = (size_t)b * n;
    int rc = diar_seg_forward_chunks(m, x, start, B, n, logp, err, err_size);
    free(start);
    return rc;
}

int diar_seg_forward(const diar_segmenter *m, const float *x, size_t n, float *logp, char *err, size_t err_size) {
    size_t start = 0;
    return diar_seg_forward_chunks(m, x, &start, 1, n, logp, err, err_size);
}
