/* segment.c — see segment.h.  Activations are time-major ([T][C]); convolutions are im2col +
 * gemm_f32_serial with the weights reordered to the rows' [tap][channel] order at create time; the
 * LSTM's input products for all frames are one GEMM per direction, the recurrence one 512 x 128
 * product per frame.  Means, variances and the log-softmax are summed in double. */
#include "diarize/segment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "backend/cpu/kernels.h"
#include "common/util.h"

#define N_SINC 80
#define SINC_TAPS 251
#define SINC_STRIDE 10
#define CONV_CH 60
#define CONV_TAPS 5
#define HID 128
#define GATES (4 * HID)
#define N_LAYERS 4
#define LIN 128
#define IN_EPS 1e-5

typedef struct {
    float *wih, *whh, *b; /* [512][in], [512][128], bias_ih + bias_hh [512] */
    int in;
} lstm_dir;

struct diar_segmenter {
    float wav_w, wav_b;
    float *sinc;                       /* [80][251] */
    float *conv_w[2], *conv_b[2];      /* [60][5 * cin] rows [tap][cin] */
    float *norm_w[3], *norm_b[3];      /* 80, 60, 60 */
    lstm_dir lstm[N_LAYERS][2];
    float *lin_w[2], *lin_b[2];        /* [128][256], [128][128] */
    float *cls_w, *cls_b;              /* [7][128] */
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

void diar_seg_free(diar_segmenter *m) {
    if (!m) return;
    free(m->sinc);
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

/* asteroid's ParamSincFB filters from the learned band edges, in double */
static int make_sinc(loader *L, diar_segmenter *m) {
    const char *fb = "sincnet.conv1d.0.filterbank.";
    char n[96];
    snprintf(n, sizeof n, "%slow_hz_", fb);
    const float *low_hz = get(L, n, 2, N_SINC / 2, 1, 0);
    snprintf(n, sizeof n, "%sband_hz_", fb);
    const float *band_hz = get(L, n, 2, N_SINC / 2, 1, 0);
    snprintf(n, sizeof n, "%swindow_", fb);
    const float *win = get(L, n, 1, SINC_TAPS / 2, 0, 0);
    snprintf(n, sizeof n, "%sn_", fb);
    const float *tn = get(L, n, 2, 1, SINC_TAPS / 2, 0);
    if (L->rc != AM_OK) return L->rc;
    m->sinc = malloc(sizeof(float) * N_SINC * SINC_TAPS);
    if (!m->sinc) return L->rc = am_fail(L->err, L->err_size, AM_E_NOMEM, "segmentation: out of memory");
    const int half = SINC_TAPS / 2;
    for (int i = 0; i < N_SINC / 2; i++) {
        double low = 50.0 + fabs((double)low_hz[i]);
        double high = low + 50.0 + fabs((double)band_hz[i]);
        if (high < 50.0) high = 50.0;
        if (high > 8000.0) high = 8000.0;
        double band = high - low;
        float *c = m->sinc + (size_t)i * SINC_TAPS, *s = m->sinc + (size_t)(N_SINC / 2 + i) * SINC_TAPS;
        for (int k = 0; k < half; k++) {
            double t = tn[k], fl = low * t, fh = high * t;
            double cl = (sin(fh) - sin(fl)) / (t / 2) * win[k];
            double sl = (cos(fl) - cos(fh)) / (t / 2) * win[k];
            c[k] = (float)(cl / (2 * band));
            c[SINC_TAPS - 1 - k] = (float)(cl / (2 * band));
            s[k] = (float)(sl / (2 * band));
            s[SINC_TAPS - 1 - k] = (float)(-sl / (2 * band));
        }
        c[half] = (float)(2 * band / (2 * band));
        s[half] = 0.0f;
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
                    m->conv_w[i][((size_t)o * CONV_TAPS + k) * cin + c] = cw[((size_t)o * cin + c) * CONV_TAPS + k];
    }
    for (int l = 0; l < N_LAYERS; l++)
        for (int d = 0; d < 2; d++) {
            lstm_dir *ld = &m->lstm[l][d];
            const char *sfx = d ? "_reverse" : "";
            ld->in = l == 0 ? CONV_CH : 2 * HID;
            snprintf(n, sizeof n, "lstm.weight_ih_l%d%s", l, sfx);
            ld->wih = copy(&L, n, 2, GATES, ld->in, 0);
            snprintf(n, sizeof n, "lstm.weight_hh_l%d%s", l, sfx);
            ld->whh = copy(&L, n, 2, GATES, HID, 0);
            snprintf(n, sizeof n, "lstm.bias_ih_l%d%s", l, sfx);
            ld->b = copy(&L, n, 1, GATES, 0, 0);
            snprintf(n, sizeof n, "lstm.bias_hh_l%d%s", l, sfx);
            const float *bhh = get(&L, n, 1, GATES, 0, 0);
            if (L.rc == AM_OK)
                for (int g = 0; g < GATES; g++) ld->b[g] += bhh[g];
        }
    for (int i = 0; i < 2; i++) {
        snprintf(n, sizeof n, "linear.%d.weight", i);
        m->lin_w[i] = copy(&L, n, 2, LIN, i == 0 ? 2 * HID : LIN, 0);
        snprintf(n, sizeof n, "linear.%d.bias", i);
        m->lin_b[i] = copy(&L, n, 1, LIN, 0, 0);
    }
    m->cls_w = copy(&L, "classifier.weight", 2, DIAR_SEG_CLASSES, LIN, 0);
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

/* x[T][C] <- leaky_relu(instance_norm(maxpool3(x))), pooling into the first T/3 rows */
static void pool_norm_leaky(float *x, size_t T, int C, const float *g, const float *b) {
    size_t To = T / 3;
    for (size_t t = 0; t < To; t++)
        for (int c = 0; c < C; c++) {
            float v = x[(3 * t) * C + c], v1 = x[(3 * t + 1) * C + c], v2 = x[(3 * t + 2) * C + c];
            v = v1 > v ? v1 : v;
            x[t * C + c] = v2 > v ? v2 : v;
        }
    for (int c = 0; c < C; c++) {
        double s = 0.0, s2 = 0.0;
        for (size_t t = 0; t < To; t++) s += x[t * C + c];
        double mu = s / (double)To;
        for (size_t t = 0; t < To; t++) {
            double d = x[t * C + c] - mu;
            s2 += d * d;
        }
        double scale = g[c] / sqrt(s2 / (double)To + IN_EPS), shift = b[c] - mu * scale;
        for (size_t t = 0; t < To; t++) {
            float v = (float)(x[t * C + c] * scale + shift);
            x[t * C + c] = v >= 0.0f ? v : 0.01f * v;
        }
    }
}

static float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

/* tanh through one expf (libm's tanhf goes through expm1f, and was ~10% of the network's time);
 * within 1e-7 of tanh (float64) from -20 to 20, as tanhf is */
static float tanh_fast(float v) {
    float e = expf(-2.0f * fabsf(v)), r = (1.0f - e) / (1.0f + e);
    return v < 0.0f ? -r : r;
}

/* one direction of one LSTM layer over x[T][in] into y[t][off .. off + 128) (row stride 256) */
static void lstm_run(const lstm_dir *d, const float *x, size_t T, int reverse, float *y, int off, float *pre) {
    gemm_f32_serial((int)T, GATES, d->in, x, d->in, d->wih, d->in, d->b, pre, GATES);
    float h[HID] = {0}, c[HID] = {0}, g[GATES];
    for (size_t s = 0; s < T; s++) {
        size_t t = reverse ? T - 1 - s : s;
        gemm_f32_serial(1, GATES, HID, h, HID, d->whh, HID, pre + t * GATES, g, GATES);
        for (int k = 0; k < HID; k++) {
            float i = sigm(g[k]), f = sigm(g[HID + k]), gg = tanh_fast(g[2 * HID + k]), o = sigm(g[3 * HID + k]);
            c[k] = f * c[k] + i * gg;
            h[k] = o * tanh_fast(c[k]);
        }
        memcpy(y + t * 2 * HID + off, h, sizeof h);
    }
}

int diar_seg_forward(const diar_segmenter *m, const float *x, size_t n, float *logp, char *err, size_t err_size) {
    size_t nf = diar_seg_frames(n);
    if (nf == 0) return am_fail(err, err_size, AM_E_INVALID_ARG, "segmentation: %zu samples give no frame", n);
    size_t T0 = conv_out(n, SINC_TAPS, SINC_STRIDE), T1 = T0 / 3;
    const size_t BLOCK = 512; /* sinc-conv rows gathered at a time */
    size_t cols = BLOCK * SINC_TAPS;
    if (cols < T1 * CONV_TAPS * N_SINC) cols = T1 * CONV_TAPS * N_SINC;
    size_t need = n + cols + T0 * N_SINC + T1 * CONV_CH + 2 * nf * 2 * HID + nf * GATES;
    float *mem = malloc(sizeof(float) * need);
    if (!mem) return am_fail(err, err_size, AM_E_NOMEM, "segmentation: out of memory for %zu samples", n);
    float *wav = mem, *col = wav + n, *a = col + cols, *b = a + T0 * N_SINC, *h0 = b + T1 * CONV_CH,
          *h1 = h0 + nf * 2 * HID, *pre = h1 + nf * 2 * HID;

    /* the waveform's instance norm */
    double s = 0.0, s2 = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    double mu = s / (double)n;
    for (size_t i = 0; i < n; i++) s2 += (x[i] - mu) * (x[i] - mu);
    double scale = m->wav_w / sqrt(s2 / (double)n + IN_EPS), shift = m->wav_b - mu * scale;
    for (size_t i = 0; i < n; i++) wav[i] = (float)(x[i] * scale + shift);

    /* sinc filters, stride 10, |x| -> a[T0][80] */
    for (size_t t0 = 0; t0 < T0; t0 += BLOCK) {
        size_t nb = T0 - t0 < BLOCK ? T0 - t0 : BLOCK;
        for (size_t t = 0; t < nb; t++)
            memcpy(col + t * SINC_TAPS, wav + (t0 + t) * SINC_STRIDE, sizeof(float) * SINC_TAPS);
        gemm_f32_serial((int)nb, N_SINC, SINC_TAPS, col, SINC_TAPS, m->sinc, SINC_TAPS, NULL, a + t0 * N_SINC, N_SINC);
    }
    for (size_t i = 0; i < T0 * N_SINC; i++) a[i] = fabsf(a[i]);
    pool_norm_leaky(a, T0, N_SINC, m->norm_w[0], m->norm_b[0]); /* a[T1][80] */

    /* two conv1d k5 + pool + norm + leaky: a[T1][80] -> b[.][60] -> a[nf][60] */
    size_t Tin = T1;
    const float *src = a;
    float *dst = b;
    for (int i = 0; i < 2; i++) {
        int cin = i == 0 ? N_SINC : CONV_CH;
        size_t To = Tin - CONV_TAPS + 1;
        for (size_t t = 0; t < To; t++) memcpy(col + t * CONV_TAPS * cin, src + t * cin, sizeof(float) * CONV_TAPS * cin);
        gemm_f32_serial((int)To, CONV_CH, CONV_TAPS * cin, col, CONV_TAPS * cin, m->conv_w[i], CONV_TAPS * cin,
                        m->conv_b[i], dst, CONV_CH);
        pool_norm_leaky(dst, To, CONV_CH, m->norm_w[i + 1], m->norm_b[i + 1]);
        Tin = To / 3;
        src = dst;
        dst = a;
    }
    /* src: [nf][60].  LSTM layers: h0 / h1 [nf][256] */
    lstm_run(&m->lstm[0][0], src, nf, 0, h0, 0, pre);
    lstm_run(&m->lstm[0][1], src, nf, 1, h0, HID, pre);
    for (int l = 1; l < N_LAYERS; l++) {
        lstm_run(&m->lstm[l][0], h0, nf, 0, h1, 0, pre);
        lstm_run(&m->lstm[l][1], h0, nf, 1, h1, HID, pre);
        float *tmp = h0;
        h0 = h1;
        h1 = tmp;
    }
    /* h0: the last layer's [nf][256].  Linear layers with leaky ReLU, classifier, log-softmax */
    float *l1 = h1, *l2 = pre;
    gemm_f32_serial((int)nf, LIN, 2 * HID, h0, 2 * HID, m->lin_w[0], 2 * HID, m->lin_b[0], l1, LIN);
    for (size_t i = 0; i < nf * LIN; i++) l1[i] = l1[i] >= 0.0f ? l1[i] : 0.01f * l1[i];
    gemm_f32_serial((int)nf, LIN, LIN, l1, LIN, m->lin_w[1], LIN, m->lin_b[1], l2, LIN);
    for (size_t i = 0; i < nf * LIN; i++) l2[i] = l2[i] >= 0.0f ? l2[i] : 0.01f * l2[i];
    gemm_f32_serial((int)nf, DIAR_SEG_CLASSES, LIN, l2, LIN, m->cls_w, LIN, m->cls_b, logp, DIAR_SEG_CLASSES);
    for (size_t t = 0; t < nf; t++) {
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
