/* resample.c — band-limited sample-rate conversion with a Kaiser-windowed sinc, polyphase.
 *
 * Design
 *  - The ratio out/in is reduced by the gcd to L/M.  Output sample k sits at input time
 *    t_k = k * M / L (input samples), i.e. both signals start at t = 0 and keep their own grid;
 *    samples outside [0, n_in) count as zero.
 *  - Low-pass cutoff fc = 0.97 * min(in, out) / 2, Kaiser window beta 9, 32 / (2 fc / in) taps:
 *    the same filter as libswresample's defaults, so that our output matches what FFmpeg (and
 *    faster-whisper, our reference, which resamples with it) feed the model.
 *  - One filter row per phase p = (k * M) mod L, each row normalised to unit DC gain.  When the
 *    exact table (L rows) would be too large (odd rates such as 44101 Hz give L = 16000), a table of
 *    P < L rows is used and rows are linearly interpolated (error well below the stopband).
 *  - Output length = ceil(n_in * out / in): the last output sample is the last one whose time
 *    lies inside the input's span [0, n_in / in).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "audio/audio.h"

#define RS_KAISER_BETA 9.0
#define RS_CUTOFF 0.97      /* cutoff, fraction of the lower Nyquist                  */
#define RS_FILTER_SIZE 32.0 /* taps for a cutoff at the input Nyquist (libswresample) */
#define RS_MAX_TABLE (1u << 21) /* most floats in the coefficient table (8 MiB)       */
#define RS_PI 3.14159265358979323846

/* The coefficient table: n_rows rows of n_taps floats; row r is the kernel sampled for the
 * fractional input offset r / n_rows. */
typedef struct rs_filter {
    float *rows;
    size_t n_rows;  /* L when exact, else P (and an extra row n_rows for interpolation) */
    size_t n_taps;  /* even */
    int exact;      /* 1: row index is the phase itself; 0: interpolate between rows     */
} rs_filter;

static uint64_t gcd_u64(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Modified Bessel function of the first kind, order 0 (power series; converges fast for x < 30). */
static double bessel_i0(double x) {
    double sum = 1.0, term = 1.0, q = x * x / 4.0;
    for (int k = 1; k < 200; k++) {
        term *= q / ((double)k * (double)k);
        sum += term;
        if (term < sum * 1e-17) break;
    }
    return sum;
}

/* The continuous kernel at offset x (input samples) from the output instant: windowed sinc with
 * cutoff fc_n (cycles per input sample), window half-width `half`. */
static double rs_kernel(double x, double fc_n, double half, double i0_beta) {
    double r = x / half;
    if (r <= -1.0 || r >= 1.0) return 0.0;
    double w = bessel_i0(RS_KAISER_BETA * sqrt(1.0 - r * r)) / i0_beta;
    double a = 2.0 * RS_PI * fc_n * x;
    double s = fabs(a) < 1e-12 ? 1.0 : sin(a) / a;
    return 2.0 * fc_n * s * w;
}

/* Build the coefficient rows.  Row r covers fractional offset f = r / n_rows; its tap j
 * (0 <= j < n_taps) weights input sample n0 + j - (n_taps/2 - 1) for an output at n0 + f. */
static int rs_filter_build(rs_filter *flt, int in_rate, int out_rate, uint64_t L) {
    double low = (in_rate < out_rate ? in_rate : out_rate) / 2.0; /* lower Nyquist, Hz */
    double fc_n = RS_CUTOFF * low / in_rate;
    /* 32 taps per zero-crossing span of the output band, as libswresample's default filter
     * (filter_size 32, Kaiser beta 9, cutoff 0.97), which FFmpeg and faster-whisper use */
    size_t n_taps = (size_t)ceil(RS_FILTER_SIZE / (2.0 * fc_n));
    n_taps += n_taps & 1; /* even: as many taps before as after the output instant */
    if (n_taps < 8) n_taps = 8;
    double half = (double)n_taps / 2.0;
    double i0_beta = bessel_i0(RS_KAISER_BETA);

    flt->n_taps = n_taps;
    flt->exact = (uint64_t)L * n_taps <= RS_MAX_TABLE;
    if (flt->exact) {
        flt->n_rows = (size_t)L;
    } else {
        flt->n_rows = RS_MAX_TABLE / n_taps;
        if (flt->n_rows < 64) flt->n_rows = 64;
    }
    size_t rows_alloc = flt->n_rows + (flt->exact ? 0 : 1); /* interpolation reads row r + 1 */
    flt->rows = malloc(rows_alloc * n_taps * sizeof *flt->rows);
    if (!flt->rows) return AM_E_NOMEM;

    long first = -((long)n_taps / 2 - 1); /* offset of tap 0 relative to n0 */
    for (size_t r = 0; r < rows_alloc; r++) {
        double frac = (double)r / (double)flt->n_rows;
        float *row = flt->rows + r * n_taps;
        double sum = 0.0;
        for (size_t j = 0; j < n_taps; j++) {
            double c = rs_kernel(frac - (double)(first + (long)j), fc_n, half, i0_beta);
            row[j] = (float)c;
            sum += c;
        }
        /* unit DC gain per row removes phase-dependent ripple */
        if (sum != 0.0)
            for (size_t j = 0; j < n_taps; j++) row[j] = (float)(row[j] / sum);
    }
    return AM_OK;
}

/* Dot product of n coefficients with n samples; four accumulators for instruction-level parallelism. */
static float rs_dot(const float *c, const float *x, size_t n) {
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        a0 += c[j] * x[j];
        a1 += c[j + 1] * x[j + 1];
        a2 += c[j + 2] * x[j + 2];
        a3 += c[j + 3] * x[j + 3];
    }
    for (; j < n; j++) a0 += c[j] * x[j];
    return (a0 + a1) + (a2 + a3);
}

/* Dot product where the window [start, start + n) may stick out of [0, n_in): zeros outside. */
static float rs_dot_edge(const float *c, const float *in, size_t n_in, long start, size_t n) {
    float acc = 0.0f;
    for (size_t j = 0; j < n; j++) {
        long i = start + (long)j;
        if (i >= 0 && (size_t)i < n_in) acc += c[j] * in[i];
    }
    return acc;
}

int audio_resample(const float *in, size_t n_in, int in_rate, int out_rate, float **out, size_t *n_out) {
    if (!out || !n_out || in_rate <= 0 || out_rate <= 0 || (!in && n_in)) return AM_E_INVALID_ARG;
    *out = NULL;
    *n_out = 0;

    if (in_rate == out_rate) {
        float *copy = malloc((n_in ? n_in : 1) * sizeof *copy);
        if (!copy) return AM_E_NOMEM;
        if (n_in) memcpy(copy, in, n_in * sizeof *copy);
        *out = copy;
        *n_out = n_in;
        return AM_OK;
    }

    uint64_t g = gcd_u64((uint64_t)in_rate, (uint64_t)out_rate);
    uint64_t L = (uint64_t)out_rate / g, M = (uint64_t)in_rate / g;
    if (n_in > (UINT64_MAX - M) / L) return AM_E_INVALID_ARG;
    uint64_t total = ((uint64_t)n_in * L + M - 1) / M; /* ceil(n_in * out / in) */
    if (total > SIZE_MAX / sizeof(float)) return AM_E_NOMEM;

    rs_filter flt;
    int rc = rs_filter_build(&flt, in_rate, out_rate, L);
    if (rc != AM_OK) return rc;

    float *y = malloc((total ? (size_t)total : 1) * sizeof *y);
    if (!y) {
        free(flt.rows);
        return AM_E_NOMEM;
    }
    float *blend = flt.exact ? NULL : malloc(flt.n_taps * sizeof *blend); /* interpolated row */
    if (!flt.exact && !blend) {
        free(flt.rows);
        free(y);
        return AM_E_NOMEM;
    }

    const size_t T = flt.n_taps;
    const long first = -((long)T / 2 - 1);
    for (uint64_t k = 0; k < total; k++) {
        uint64_t pos = k * M; /* output time in units of 1/L input samples */
        long n0 = (long)(pos / L);
        uint64_t phase = pos % L;
        const float *c;
        if (flt.exact) {
            c = flt.rows + (size_t)phase * T;
        } else {
            double f = (double)phase / (double)L * (double)flt.n_rows;
            size_t r = (size_t)f;
            if (r >= flt.n_rows) r = flt.n_rows - 1;
            float a = (float)(f - (double)r);
            const float *r0 = flt.rows + r * T, *r1 = r0 + T;
            for (size_t j = 0; j < T; j++) blend[j] = r0[j] + a * (r1[j] - r0[j]);
            c = blend;
        }
        long start = n0 + first;
        if (start >= 0 && (size_t)start + T <= n_in)
            y[k] = rs_dot(c, in + start, T);
        else
            y[k] = rs_dot_edge(c, in, n_in, start, T);
    }

    free(blend);
    free(flt.rows);
    *out = y;
    *n_out = (size_t)total;
    return AM_OK;
}
