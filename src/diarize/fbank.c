/* fbank.c — see fbank.h. */
#include "diarize/fbank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"

#define N_FFT 512
#define N_BINS (N_FFT / 2) /* the Nyquist bin has no filter weight (as torchaudio) */

size_t diar_fbank_frames(size_t n) { return n < DIAR_FBANK_WINDOW ? 0 : 1 + (n - DIAR_FBANK_WINDOW) / DIAR_FBANK_SHIFT; }

static double kaldi_mel(double f) { return 1127.0 * log(1.0 + f / 700.0); }

/* in-place radix-2 complex FFT of N_FFT points; tw[k] = exp(-2 pi i k / N_FFT), k < N_FFT / 2 */
static void fft512(double *re, double *im, const double *tw_re, const double *tw_im) {
    for (int i = 1, j = 0; i < N_FFT; i++) {
        int bit = N_FFT >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j |= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    for (int len = 2; len <= N_FFT; len <<= 1) {
        int step = N_FFT / len;
        for (int i = 0; i < N_FFT; i += len)
            for (int k = 0; k < len / 2; k++) {
                double wr = tw_re[k * step], wi = tw_im[k * step];
                int a = i + k, b = i + k + len / 2;
                double xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
            }
    }
}

int diar_fbank(const float *x, size_t n, float *out) {
    size_t n_frames = diar_fbank_frames(n);
    if (n_frames == 0) return AM_OK;
    /* the filters: weights[m][k] on FFT bins [first[m], first[m] + count[m]) */
    double *mem = malloc(sizeof(double) * (DIAR_FBANK_BINS * N_BINS + DIAR_FBANK_WINDOW + 2 * N_FFT + N_FFT));
    if (!mem) return AM_E_NOMEM;
    double *weights = mem, *win = weights + DIAR_FBANK_BINS * N_BINS, *re = win + DIAR_FBANK_WINDOW, *im = re + N_FFT,
           *tw_re = im + N_FFT, *tw_im = tw_re + N_FFT / 2;
    int first[DIAR_FBANK_BINS], count[DIAR_FBANK_BINS];
    const double pi = 3.14159265358979323846;
    double mlow = kaldi_mel(20.0), mhigh = kaldi_mel(8000.0), delta = (mhigh - mlow) / (DIAR_FBANK_BINS + 1);
    double mel[N_BINS];
    for (int k = 0; k < N_BINS; k++) mel[k] = kaldi_mel(16000.0 / N_FFT * k);
    for (int m = 0; m < DIAR_FBANK_BINS; m++) {
        double left = mlow + m * delta, center = left + delta, right = center + delta;
        first[m] = -1;
        count[m] = 0;
        for (int k = 0; k < N_BINS; k++) {
            double up = (mel[k] - left) / (center - left), down = (right - mel[k]) / (right - center);
            double w = up < down ? up : down;
            if (w > 0.0) {
                if (first[m] < 0) first[m] = k;
                weights[m * N_BINS + first[m] + count[m]++] = w;
            }
        }
        if (first[m] < 0) first[m] = 0;
    }
    for (int i = 0; i < DIAR_FBANK_WINDOW; i++)
        win[i] = pow(0.5 - 0.5 * cos(2.0 * pi * i / (DIAR_FBANK_WINDOW - 1)), 0.85);
    for (int k = 0; k < N_FFT / 2; k++) {
        tw_re[k] = cos(2.0 * pi * k / N_FFT);
        tw_im[k] = -sin(2.0 * pi * k / N_FFT);
    }
    const double floor_ = 1.1920928955078125e-07; /* FLT_EPSILON, torchaudio's floor */
    for (size_t f = 0; f < n_frames; f++) {
        const float *s = x + f * DIAR_FBANK_SHIFT;
        double mean = 0.0;
        for (int i = 0; i < DIAR_FBANK_WINDOW; i++) mean += s[i];
        mean /= DIAR_FBANK_WINDOW;
        double prev = (double)s[0] - mean;
        for (int i = 0; i < DIAR_FBANK_WINDOW; i++) {
            double v = (double)s[i] - mean;
            re[i] = (v - 0.97 * prev) * win[i];
            prev = v;
        }
        memset(re + DIAR_FBANK_WINDOW, 0, sizeof(double) * (N_FFT - DIAR_FBANK_WINDOW));
        memset(im, 0, sizeof(double) * N_FFT);
        fft512(re, im, tw_re, tw_im);
        for (int k = 0; k < N_BINS; k++) re[k] = re[k] * re[k] + im[k] * im[k];
        float *o = out + f * DIAR_FBANK_BINS;
        for (int m = 0; m < DIAR_FBANK_BINS; m++) {
            double e = 0.0;
            const double *w = weights + m * N_BINS;
            for (int k = 0; k < count[m]; k++) e += w[first[m] + k] * re[first[m] + k];
            o[m] = (float)log(e > floor_ ? e : floor_);
        }
    }
    free(mem);
    return AM_OK;
}

void diar_fbank_mean_norm(float *feats, size_t n_frames) {
    if (n_frames == 0) return;
    for (int m = 0; m < DIAR_FBANK_BINS; m++) {
        double s = 0.0;
        for (size_t f = 0; f < n_frames; f++) s += feats[f * DIAR_FBANK_BINS + m];
        double mean = s / (double)n_frames;
        for (size_t f = 0; f < n_frames; f++)
            feats[f * DIAR_FBANK_BINS + m] = (float)((double)feats[f * DIAR_FBANK_BINS + m] - mean);
    }
}
