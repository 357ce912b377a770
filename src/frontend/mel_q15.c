/* mel_q15.c — integer-only log-mel front end (see mel_q15.h for the pipeline and its scaling).
 * The 400-point transform is exact (no zero padding): mixed-radix Stockham autosort, radices
 * 4, 4, 5, 5, decimation in frequency, the same index maps as the float64 version in mel.c. */
#define _POSIX_C_SOURCE 200809L
#include "frontend/mel_q15.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "frontend/mel.h"

#define N AM_N_FFT
#define NF AM_N_FREQ
#define PRE_SHIFT 10 /* windowed sample: Q30 product >> 10, |v| <= 2^20 */
#define Q24 (1 << 24)
#define LOG10_2_Q30 323228497LL /* round(log10(2) * 2^30) */
#define FLOOR_Q24 (-10LL * Q24) /* log10(1e-10) */

/* round(log2(1 + i/256) * 2^24), i = 0 .. 256 */
static const uint32_t k_log2_table[257] = {
    0u, 94364u, 188362u, 281996u, 375270u, 468185u, 560745u, 652952u,
    744810u, 836320u, 927485u, 1018309u, 1108793u, 1198939u, 1288752u, 1378232u,
    1467383u, 1556207u, 1644705u, 1732882u, 1820738u, 1908277u, 1995500u, 2082410u,
    2169009u, 2255299u, 2341283u, 2426963u, 2512340u, 2597417u, 2682196u, 2766679u,
    2850868u, 2934766u, 3018374u, 3101694u, 3184728u, 3267478u, 3349946u, 3432134u,
    3514044u, 3595678u, 3677038u, 3758124u, 3838941u, 3919488u, 3999768u, 4079782u,
    4159533u, 4239023u, 4318251u, 4397222u, 4475935u, 4554394u, 4632599u, 4710552u,
    4788255u, 4865709u, 4942916u, 5019878u, 5096595u, 5173071u, 5249305u, 5325300u,
    5401057u, 5476578u, 5551864u, 5626916u, 5701737u, 5776327u, 5850688u, 5924821u,
    5998727u, 6072409u, 6145867u, 6219103u, 6292118u, 6364913u, 6437490u, 6509850u,
    6581994u, 6653924u, 6725641u, 6797146u, 6868440u, 6939525u, 7010402u, 7081072u,
    7151536u, 7221795u, 7291852u, 7361706u, 7431359u, 7500812u, 7570066u, 7639123u,
    7707984u, 7776649u, 7845119u, 7913397u, 7981483u, 8049377u, 8117082u, 8184598u,
    8251926u, 8319067u, 8386022u, 8452793u, 8519380u, 8585785u, 8652008u, 8718050u,
    8783912u, 8849596u, 8915102u, 8980431u, 9045584u, 9110562u, 9175366u, 9239998u,
    9304457u, 9368745u, 9432863u, 9496811u, 9560591u, 9624203u, 9687648u, 9750928u,
    9814042u, 9876993u, 9939780u, 10002404u, 10064867u, 10127170u, 10189312u, 10251295u,
    10313120u, 10374787u, 10436298u, 10497652u, 10558852u, 10619897u, 10680789u, 10741528u,
    10802114u, 10862550u, 10922835u, 10982970u, 11042956u, 11102794u, 11162484u, 11222028u,
    11281425u, 11340677u, 11399784u, 11458748u, 11517568u, 11576245u, 11634780u, 11693175u,
    11751428u, 11809542u, 11867517u, 11925353u, 11983051u, 12040612u, 12098037u, 12155325u,
    12212479u, 12269497u, 12326382u, 12383133u, 12439752u, 12496238u, 12552593u, 12608817u,
    12664911u, 12720875u, 12776710u, 12832416u, 12887994u, 12943445u, 12998770u, 13053968u,
    13109041u, 13163988u, 13218811u, 13273511u, 13328087u, 13382540u, 13436871u, 13491080u,
    13545168u, 13599135u, 13652983u, 13706711u, 13760320u, 13813810u, 13867183u, 13920438u,
    13973576u, 14026597u, 14079503u, 14132294u, 14184969u, 14237530u, 14289978u, 14342312u,
    14394532u, 14446641u, 14498638u, 14550523u, 14602297u, 14653961u, 14705514u, 14756958u,
    14808293u, 14859519u, 14910637u, 14961648u, 15012551u, 15063347u, 15114037u, 15164621u,
    15215099u, 15265473u, 15315742u, 15365906u, 15415967u, 15465925u, 15515779u, 15565531u,
    15615181u, 15664730u, 15714177u, 15763523u, 15812769u, 15861915u, 15910962u, 15959909u,
    16008758u, 16057508u, 16106160u, 16154714u, 16203172u, 16251532u, 16299796u, 16347964u,
    16396036u, 16444013u, 16491896u, 16539683u, 16587377u, 16634976u, 16682482u, 16729896u,
    16777216u,
};

/* radix-5 constants in Q15: cos 2pi/5, cos 4pi/5, sin 2pi/5, sin 4pi/5 */
#define C1 10126
#define C2 (-26510)
#define S1 31164
#define S2 19261

int16_t mel_q15_from_float(float x) {
    float v = x * 32768.0f;
    if (!(v > -32768.0f)) return v != v ? 0 : -32768; /* also NaN -> 0 */
    if (v >= 32767.0f) return 32767;
    return (int16_t)lrintf(v);
}

int32_t mel_q15_log2_q24(uint64_t v) {
    if (v == 0) return INT32_MIN;
    int e = 63 - __builtin_clzll(v);
    uint64_t norm = v << (63 - e);               /* leading one at bit 63 */
    unsigned idx = (unsigned)(norm >> 55) & 0xff; /* next 8 bits           */
    int64_t rem = (int64_t)((norm >> 39) & 0xffff);
    int64_t lo = k_log2_table[idx], hi = k_log2_table[idx + 1];
    return (int32_t)((int64_t)e * Q24 + lo + (((hi - lo) * rem + (1 << 15)) >> 16));
}

/* ---- fixed-point FFT --------------------------------------------------------------------------- */

typedef struct {
    int n_stages;
    int radix[4];
    int16_t twr[4][N], twi[4][N]; /* stage s: [p * r + k] = exp(-2 pi i k p / n_s) in Q15 */
} q15_plan;

static int16_t q15_const(double x) {
    long v = lround(x * 32768.0);
    return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
}

static void plan_init(q15_plan *pl) {
    static const int radices[4] = {4, 4, 5, 5};
    pl->n_stages = 4;
    int len = N;
    for (int s = 0; s < 4; s++) {
        int r = radices[s], m = len / r;
        pl->radix[s] = r;
        for (int p = 0; p < m; p++)
            for (int k = 0; k < r; k++) {
                double ang = -2.0 * 3.14159265358979323846 * (double)(k * p) / (double)len;
                pl->twr[s][p * r + k] = q15_const(cos(ang));
                pl->twi[s][p * r + k] = q15_const(sin(ang));
            }
        len = m;
    }
}

/* (sum of Q15 products + 2^14) >> 15 */
static inline int32_t rq15(int64_t acc) { return (int32_t)((acc + (1 << 14)) >> 15); }

static inline void dft4(int32_t *re, int32_t *im) {
    int32_t s02r = re[0] + re[2], s02i = im[0] + im[2], d02r = re[0] - re[2], d02i = im[0] - im[2];
    int32_t s13r = re[1] + re[3], s13i = im[1] + im[3], d13r = re[1] - re[3], d13i = im[1] - im[3];
    re[0] = s02r + s13r; im[0] = s02i + s13i;
    re[2] = s02r - s13r; im[2] = s02i - s13i;
    re[1] = d02r + d13i; im[1] = d02i - d13r; /* d02 - i d13 */
    re[3] = d02r - d13i; im[3] = d02i + d13r;
}

static inline void dft5(int32_t *re, int32_t *im) {
    int64_t t1r = (int64_t)re[1] + re[4], t1i = (int64_t)im[1] + im[4];
    int64_t t2r = (int64_t)re[2] + re[3], t2i = (int64_t)im[2] + im[3];
    int64_t d1r = (int64_t)re[1] - re[4], d1i = (int64_t)im[1] - im[4];
    int64_t d2r = (int64_t)re[2] - re[3], d2i = (int64_t)im[2] - im[3];
    int32_t a0r = re[0], a0i = im[0];
    re[0] = (int32_t)(a0r + t1r + t2r); im[0] = (int32_t)(a0i + t1i + t2i);
    int32_t m1r = a0r + rq15(C1 * t1r + C2 * t2r), m1i = a0i + rq15(C1 * t1i + C2 * t2i);
    int32_t m2r = a0r + rq15(C2 * t1r + C1 * t2r), m2i = a0i + rq15(C2 * t1i + C1 * t2i);
    int32_t n1r = rq15(S1 * d1r + S2 * d2r), n1i = rq15(S1 * d1i + S2 * d2i);
    int32_t n2r = rq15(S2 * d1r - S1 * d2r), n2i = rq15(S2 * d1i - S1 * d2i);
    re[1] = m1r + n1i; im[1] = m1i - n1r;
    re[4] = m1r - n1i; im[4] = m1i + n1r;
    re[2] = m2r + n2i; im[2] = m2i - n2r;
    re[3] = m2r - n2i; im[3] = m2i + n2r;
}

/* Forward DFT of (xr, xi)[N] using (wr, wi) as work; returns 0 when the result is in x, 1 in w. */
static int fft_q15(const q15_plan *pl, int32_t *xr, int32_t *xi, int32_t *wr, int32_t *wi) {
    int32_t *sr = xr, *si = xi, *dr = wr, *di = wi;
    int len = N, stride = 1;
    for (int s = 0; s < pl->n_stages; s++) {
        const int r = pl->radix[s], m = len / r;
        for (int p = 0; p < m; p++) {
            const int16_t *twr = pl->twr[s] + p * r, *twi = pl->twi[s] + p * r;
            for (int u = 0; u < stride; u++) {
                int32_t ar[5], ai[5];
                for (int j = 0; j < r; j++) {
                    ar[j] = sr[u + stride * (p + j * m)];
                    ai[j] = si[u + stride * (p + j * m)];
                }
                if (r == 4) dft4(ar, ai);
                else dft5(ar, ai);
                const int o = u + stride * r * p;
                dr[o] = ar[0]; /* twiddle 1 for k = 0 */
                di[o] = ai[0];
                for (int k = 1; k < r; k++) {
                    if (p == 0) {
                        dr[o + stride * k] = ar[k];
                        di[o + stride * k] = ai[k];
                    } else {
                        dr[o + stride * k] = rq15((int64_t)ar[k] * twr[k] - (int64_t)ai[k] * twi[k]);
                        di[o + stride * k] = rq15((int64_t)ar[k] * twi[k] + (int64_t)ai[k] * twr[k]);
                    }
                }
            }
        }
        int32_t *t = sr; sr = dr; dr = t;
        t = si; si = di; di = t;
        len = m;
        stride *= r;
    }
    return sr == xr ? 0 : 1;
}

void mel_q15_dft400(int32_t *re, int32_t *im) {
    q15_plan *pl = malloc(sizeof *pl);
    int32_t wr[N], wi[N];
    if (!pl) return;
    plan_init(pl);
    if (fft_q15(pl, re, im, wr, wi)) {
        memcpy(re, wr, sizeof wr);
        memcpy(im, wi, sizeof wi);
    }
    free(pl);
}

/* ---- log-mel ------------------------------------------------------------------------------------ */

typedef struct {
    int k0, k1;
} q15_span;

typedef struct {
    const int16_t *padded;
    const int16_t *window;   /* [N] Q15          */
    const q15_plan *plan;
    const uint16_t *weights; /* [n_mels][NF]     */
    const q15_span *spans;
    int64_t const_q24;       /* scale constant    */
    int n_mels, n_frames, frame_begin, frame_end;
    int32_t *out;            /* [n_mels][n_frames] log10 in Q24 */
    int32_t max_log;
} q15_job;

static void frame_log_mel(const q15_job *j, int t, const uint64_t *P, int32_t *mx) {
    uint64_t tot = 0;
    for (int k = 0; k < NF; k++) tot += P[k];
    int s = 0;
    if (tot) {
        int bits = 64 - __builtin_clzll(tot);
        s = bits > 47 ? bits - 47 : 0;
    }
    for (int m = 0; m < j->n_mels; m++) {
        const uint16_t *w = j->weights + (size_t)m * NF;
        uint64_t acc = 0;
        for (int k = j->spans[m].k0; k < j->spans[m].k1; k++) acc += (P[k] >> s) * w[k];
        int64_t l10 = FLOOR_Q24;
        if (acc) {
            int64_t l2 = (int64_t)mel_q15_log2_q24(acc) + (int64_t)s * Q24;
            l10 = ((l2 * LOG10_2_Q30 + (1LL << 29)) >> 30) + j->const_q24;
            if (l10 < FLOOR_Q24) l10 = FLOOR_Q24;
        }
        j->out[(size_t)m * j->n_frames + t] = (int32_t)l10;
        if (l10 > *mx) *mx = (int32_t)l10;
    }
}

static void *q15_worker(void *arg) {
    q15_job *j = arg;
    int32_t xr[N], xi[N], wr[N], wi[N];
    uint64_t P0[NF], P1[NF];
    int32_t mx = (int32_t)FLOOR_Q24;
    for (int t = j->frame_begin; t < j->frame_end; t += 2) {
        const int t1 = t + 1 < j->frame_end ? t + 1 : -1;
        const int16_t *a = j->padded + (size_t)t * AM_HOP, *b = t1 >= 0 ? j->padded + (size_t)t1 * AM_HOP : NULL;
        for (int n = 0; n < N; n++) {
            xr[n] = ((int32_t)a[n] * j->window[n] + (1 << (PRE_SHIFT - 1))) >> PRE_SHIFT;
            xi[n] = b ? ((int32_t)b[n] * j->window[n] + (1 << (PRE_SHIFT - 1))) >> PRE_SHIFT : 0;
        }
        const int in_w = fft_q15(j->plan, xr, xi, wr, wi);
        const int32_t *zr = in_w ? wr : xr, *zi = in_w ? wi : xi;
        for (int k = 0; k < NF; k++) {
            const int kn = (N - k) % N;
            /* 2A = Z[k] + conj Z[N-k],  2B = -i (Z[k] - conj Z[N-k]) */
            int64_t ar = (int64_t)zr[k] + zr[kn], ai = (int64_t)zi[k] - zi[kn];
            int64_t br = (int64_t)zi[k] + zi[kn], bi = (int64_t)zr[kn] - zr[k];
            P0[k] = (uint64_t)(ar * ar) + (uint64_t)(ai * ai);
            P1[k] = (uint64_t)(br * br) + (uint64_t)(bi * bi);
        }
        frame_log_mel(j, t, P0, &mx);
        if (t1 >= 0) frame_log_mel(j, t1, P1, &mx);
    }
    j->max_log = mx;
    return NULL;
}

static size_t reflect_index(long long i, size_t len) {
    if (len == 1) return 0;
    const long long period = 2 * ((long long)len - 1);
    long long j = i % period;
    if (j < 0) j += period;
    if (j >= (long long)len) j = period - j;
    return (size_t)j;
}

int mel_q15_raw_frames(const int16_t *padded, int n_frames, int n_mels, const float *filters, int n_threads,
                       int32_t *out, int32_t *max_q24) {
    if (!padded || n_frames <= 0 || n_mels <= 0 || !filters || !out || !max_q24) return AM_E_INVALID_ARG;
    const int nf = n_frames;
    uint16_t *weights = malloc((size_t)n_mels * NF * sizeof *weights);
    q15_span *spans = malloc((size_t)n_mels * sizeof *spans);
    q15_plan *plan = malloc(sizeof *plan);
    if (!weights || !spans || !plan) {
        free(weights); free(spans); free(plan);
        return AM_E_NOMEM;
    }
    int16_t window[N];
    for (int j = 0; j < N; j++)
        window[j] = (int16_t)lround((0.5 - 0.5 * cos(2.0 * 3.14159265358979323846 * j / N)) * 32767.0);
    plan_init(plan);

    /* filter weights: u16 with the common scale 2^qf */
    float wmax = 0.0f;
    for (size_t i = 0; i < (size_t)n_mels * NF; i++) wmax = filters[i] > wmax ? filters[i] : wmax;
    int qf = 0;
    if (wmax > 0.0f)
        while (qf < 62 && ldexp((double)wmax, qf + 1) < 65535.0) qf++;
    for (int m = 0; m < n_mels; m++) {
        int k0 = NF, k1 = 0;
        for (int k = 0; k < NF; k++) {
            double v = filters[(size_t)m * NF + k] > 0.0f ? ldexp((double)filters[(size_t)m * NF + k], qf) : 0.0;
            long q = lround(v);
            weights[(size_t)m * NF + k] = (uint16_t)(q > 65535 ? 65535 : q);
            if (q > 0) {
                if (k < k0) k0 = k;
                k1 = k + 1;
            }
        }
        spans[m].k0 = k0 < k1 ? k0 : 0;
        spans[m].k1 = k0 < k1 ? k1 : 0;
    }
    /* mel = M · 2^s / (4 K^2 2^qf), K = 32768 · 32767 / 2^PRE_SHIFT (sample, window, pre-shift; the 4 is the
     * doubled split) */
    const double K = 32768.0 * 32767.0 / (double)(1 << PRE_SHIFT);
    const int64_t const_q24 = llround(-log10(4.0 * K * K * ldexp(1.0, qf)) * Q24);

    if (n_threads < 1) n_threads = 1;
    if (n_threads > 64) n_threads = 64;
    if (n_threads > 1 && nf / n_threads < 200) n_threads = nf / 200 > 1 ? nf / 200 : 1;
    q15_job jobs[64];
    pthread_t tids[64];
    int started[64] = {0};
    /* Frames go through the FFT in pairs (2i, 2i+1) that share its block scaling, so every thread
     * starts at an even frame: the pairs, and so the result, do not depend on the thread count. */
    for (int i = 0; i < n_threads; i++)
        jobs[i] = (q15_job){padded, window, plan, weights, spans, const_q24, n_mels, nf,
                            (int)((long long)nf * i / n_threads) & ~1,
                            i + 1 < n_threads ? (int)((long long)nf * (i + 1) / n_threads) & ~1 : nf, out,
                            (int32_t)FLOOR_Q24};
    for (int i = 1; i < n_threads; i++) started[i] = pthread_create(&tids[i], NULL, q15_worker, &jobs[i]) == 0;
    q15_worker(&jobs[0]);
    for (int i = 1; i < n_threads; i++) {
        if (started[i]) pthread_join(tids[i], NULL);
        else q15_worker(&jobs[i]);
    }
    int32_t gmax = (int32_t)FLOOR_Q24;
    for (int i = 0; i < n_threads; i++) gmax = jobs[i].max_log > gmax ? jobs[i].max_log : gmax;
    *max_q24 = gmax;
    free(weights); free(spans); free(plan);
    return AM_OK;
}

/* x = max(x, max - 8); (x + 4) / 4: Q24 -> float */
void mel_q15_normalise(const int32_t *raw, size_t n, int32_t max_q24, float *out) {
    const int64_t floor_q24 = (int64_t)max_q24 - 8LL * Q24;
    for (size_t i = 0; i < n; i++) {
        int64_t x = raw[i] < floor_q24 ? floor_q24 : raw[i];
        out[i] = (float)(x + 4LL * Q24) * (1.0f / (float)(4 * Q24));
    }
}

int mel_q15_log_spectrogram_i16(const int16_t *samples, size_t n_samples, int n_mels, const float *filters,
                                int n_threads, float **out, int *n_frames) {
    if (out) *out = NULL;
    if (n_frames) *n_frames = 0;
    if (!samples || n_samples == 0 || n_mels <= 0 || !filters || !out || !n_frames) return AM_E_INVALID_ARG;
    const size_t len = n_samples + AM_HOP, frames = len / AM_HOP;
    if (frames > (size_t)0x7fffffff / (size_t)n_mels) return AM_E_INVALID_ARG;
    const int nf = (int)frames, pad = N / 2;
    const size_t padded_len = len + 2 * (size_t)pad;
    int16_t *padded = malloc(padded_len * sizeof *padded);
    int32_t *logs = malloc((size_t)n_mels * frames * sizeof *logs);
    float *result = malloc((size_t)n_mels * frames * sizeof *result);
    if (!padded || !logs || !result) {
        free(padded); free(logs); free(result);
        return AM_E_NOMEM;
    }
    for (size_t i = 0; i < padded_len; i++) {
        const size_t j = reflect_index((long long)i - pad, len);
        padded[i] = j < n_samples ? samples[j] : 0;
    }
    int32_t gmax = 0;
    int rc = mel_q15_raw_frames(padded, nf, n_mels, filters, n_threads, logs, &gmax);
    free(padded);
    if (rc == AM_OK) mel_q15_normalise(logs, (size_t)n_mels * frames, gmax, result);
    free(logs);
    if (rc != AM_OK) {
        free(result);
        return rc;
    }
    *out = result;
    *n_frames = nf;
    return AM_OK;
}

int mel_q15_log_spectrogram(const float *samples, size_t n_samples, int n_mels, const float *filters, int n_threads,
                            float **out, int *n_frames) {
    if (out) *out = NULL;
    if (n_frames) *n_frames = 0;
    if (!samples || n_samples == 0) return AM_E_INVALID_ARG;
    int16_t *q = malloc(n_samples * sizeof *q);
    if (!q) return AM_E_NOMEM;
    for (size_t i = 0; i < n_samples; i++) q[i] = mel_q15_from_float(samples[i]);
    int rc = mel_q15_log_spectrogram_i16(q, n_samples, n_mels, filters, n_threads, out, n_frames);
    free(q);
    return rc;
}
