/* mel.c — Whisper's log-mel front end (faster-whisper's FeatureExtractor, re-derived).
 *
 * Maths
 * -----
 * Mel scale (Slaney / librosa htk=False):
 *     mel(f) = f / (200/3)                              for f <  1000 Hz
 *            = 15 + ln(f / 1000) / (ln(6.4) / 27)       for f >= 1000 Hz
 * n_mels + 2 points are spaced uniformly on the mel axis between mel(0) and mel(sr/2) and mapped
 * back to Hz: f_0 .. f_{n_mels+1}.  Filter m is the triangle rising from f_m to f_{m+1} and falling
 * to f_{m+2}, evaluated at the FFT bin centres k * sr / n_fft (k = 0 .. n_fft/2):
 *     w[m][k] = max(0, min((F_k - f_m) / (f_{m+1} - f_m), (f_{m+2} - F_k) / (f_{m+2} - f_{m+1})))
 * and Slaney area normalisation scales it by 2 / (f_{m+2} - f_m).
 *
 * Spectrogram (N = 400, hop H = 160):
 *     s  = samples ++ 160 zeros                          (length L = n + 160)
 *     p  = reflect-pad(s, 200 each side)                 (numpy 'reflect': mirror without repeating
 *                                                         the edge sample; periodic with period
 *                                                         2(L-1), so short signals reflect repeatedly)
 *     frame t (t = 0 .. L/H - 1; the final STFT frame, index L/H, is dropped):
 *         X_t[k] = sum_{j<N} p[t*H + j] * w[j] * exp(-2 pi i j k / N),  k = 0 .. N/2
 *         with the periodic Hann window w[j] = 0.5 - 0.5 cos(2 pi j / N)
 *     P_t[k]   = |X_t[k]|^2
 *     M[m][t]  = sum_k filters[m][k] * P_t[k]
 *     x        = log10(max(M, 1e-10));  x = max(x, max(x) - 8);  out = (x + 4) / 4
 *
 * The 400-point DFT is exact (no zero padding to 512, which would move the bins): a mixed-radix
 * Stockham autosort FFT with radices 4, 4, 5, 5, in double.  Two real frames are transformed
 * with one complex FFT (z = a + i b), then separated with the conjugate-symmetry identities
 *     A[k] = (Z[k] + conj(Z[N-k])) / 2,   B[k] = (Z[k] - conj(Z[N-k])) / (2i).
 * Everything up to the final cast to float is computed in double.
 */
#define _POSIX_C_SOURCE 200809L
#include "frontend/mel.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"

#define MEL_PI 3.14159265358979323846
#define MEL_MAX_STAGES 16

/* ------------------------------------------------------------------------------------------------
 * Mel filterbank
 * ---------------------------------------------------------------------------------------------- */

static const double k_f_sp = 200.0 / 3.0;      /* Hz per mel in the linear region */
static const double k_min_log_hz = 1000.0;     /* start of the log region (Hz)    */

static double slaney_logstep(void) { return log(6.4) / 27.0; }

static double hz_to_mel_slaney(double hz)
{
    double min_log_mel = k_min_log_hz / k_f_sp;
    if (hz >= k_min_log_hz)
        return min_log_mel + log(hz / k_min_log_hz) / slaney_logstep();
    return hz / k_f_sp;
}

static double mel_to_hz_slaney(double mel)
{
    double min_log_mel = k_min_log_hz / k_f_sp;
    if (mel >= min_log_mel)
        return k_min_log_hz * exp(slaney_logstep() * (mel - min_log_mel));
    return k_f_sp * mel;
}

int mel_filterbank_slaney(int n_mels, int n_fft, int sample_rate, float *out)
{
    if (n_mels <= 0 || n_fft <= 0 || sample_rate <= 0 || !out)
        return AM_E_INVALID_ARG;
    const int n_freq = n_fft / 2 + 1;
    const double max_mel = hz_to_mel_slaney(sample_rate / 2.0);

    /* band edges f[0 .. n_mels+1] in Hz, uniformly spaced in mel (numpy linspace semantics) */
    double *edges = malloc((size_t)(n_mels + 2) * sizeof *edges);
    if (!edges) {
        memset(out, 0, (size_t)n_mels * (size_t)n_freq * sizeof *out);
        return AM_E_NOMEM;
    }
    const double step = max_mel / (double)(n_mels + 1);
    for (int i = 0; i < n_mels + 2; i++) {
        double mel = (i == n_mels + 1) ? max_mel : step * (double)i;
        edges[i] = mel_to_hz_slaney(mel);
    }

    const double bin_hz = 1.0 / ((double)n_fft * (1.0 / (double)sample_rate)); /* rfftfreq spacing */
    for (int m = 0; m < n_mels; m++) {
        const double lo = edges[m], mid = edges[m + 1], hi = edges[m + 2];
        const double enorm = 2.0 / (hi - lo);
        float *row = out + (size_t)m * (size_t)n_freq;
        for (int k = 0; k < n_freq; k++) {
            const double f = (double)k * bin_hz;
            const double rise = (f - lo) / (mid - lo);
            const double fall = (hi - f) / (hi - mid);
            double w = rise < fall ? rise : fall;
            if (w < 0.0)
                w = 0.0;
            row[k] = (float)(w * enorm);
        }
    }
    free(edges);
    return AM_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Mixed-radix Stockham FFT (complex, double, forward sign exp(-2 pi i ...)).
 *
 * Decimation in frequency with autosort: stage s has radix r, current sub-length n (N at the first
 * stage, divided by r each stage) and stride q = N / n.  With m = n / r:
 *     for p < m, u < q:  a_j = x[u + q (p + j m)],  j < r
 *                        y[u + q (r p + k)] = (sum_j a_j w_r^{jk}) * w_n^{k p},  k < r
 * after which the roles of x and y swap; the last stage leaves the spectrum in natural order.
 * ---------------------------------------------------------------------------------------------- */

typedef struct {
    double re, im;
} mel_cpx;

typedef struct {
    int n;                          /* transform length                                  */
    int n_stages;
    int radix[MEL_MAX_STAGES];
    mel_cpx *twiddle[MEL_MAX_STAGES]; /* stage s: [m][r] = exp(-2 pi i k p / n_s), [p][k]   */
    mel_cpx *storage;
} mel_fft_plan;

static void fft_plan_free(mel_fft_plan *plan)
{
    free(plan->storage);
    plan->storage = NULL;
}

/* Factor n into radices 4, 2, 3, 5 then any other prime.  Returns AM_OK or AM_E_NOMEM/INVALID. */
static int fft_plan_init(mel_fft_plan *plan, int n)
{
    memset(plan, 0, sizeof *plan);
    if (n <= 0)
        return AM_E_INVALID_ARG;
    plan->n = n;
    int rest = n;
    static const int preferred[] = {4, 2, 3, 5};
    for (size_t i = 0; i < sizeof preferred / sizeof preferred[0]; i++)
        while (rest % preferred[i] == 0 && plan->n_stages < MEL_MAX_STAGES) {
            plan->radix[plan->n_stages++] = preferred[i];
            rest /= preferred[i];
        }
    for (int p = 7; rest > 1 && plan->n_stages < MEL_MAX_STAGES; p += 2)
        while (rest % p == 0 && plan->n_stages < MEL_MAX_STAGES) {
            plan->radix[plan->n_stages++] = p;
            rest /= p;
        }
    if (rest != 1)
        return AM_E_INVALID_ARG;

    /* every stage stores m * r = n_s twiddles; n_s <= n, so n * n_stages bounds the total */
    plan->storage = malloc((size_t)n * (size_t)(plan->n_stages ? plan->n_stages : 1) * sizeof(mel_cpx));
    if (!plan->storage)
        return AM_E_NOMEM;
    mel_cpx *next = plan->storage;
    int len = n;
    for (int s = 0; s < plan->n_stages; s++) {
        const int r = plan->radix[s], m = len / r;
        plan->twiddle[s] = next;
        for (int p = 0; p < m; p++)
            for (int k = 0; k < r; k++) {
                const double ang = -2.0 * MEL_PI * (double)(k * p) / (double)len;
                next[p * r + k].re = cos(ang);
                next[p * r + k].im = sin(ang);
            }
        next += (size_t)m * (size_t)r;
        len = m;
    }
    return AM_OK;
}

/* One radix-r DFT of a[0..r-1] in place (r in {2,3,4,5} unrolled, otherwise direct). */
static void small_dft(mel_cpx *a, int r)
{
    switch (r) {
    case 2: {
        mel_cpx a0 = a[0], a1 = a[1];
        a[0].re = a0.re + a1.re; a[0].im = a0.im + a1.im;
        a[1].re = a0.re - a1.re; a[1].im = a0.im - a1.im;
        return;
    }
    case 3: {
        const double c = -0.5, s = -0.86602540378443864676; /* cos, sin(-2 pi / 3) */
        mel_cpx a0 = a[0], a1 = a[1], a2 = a[2];
        double tre = a1.re + a2.re, tim = a1.im + a2.im;
        double dre = a1.re - a2.re, dim = a1.im - a2.im;
        a[0].re = a0.re + tre; a[0].im = a0.im + tim;
        double mre = a0.re + c * tre, mim = a0.im + c * tim;
        /* (s * i) * d = (-s dim, s dre) */
        a[1].re = mre - s * dim; a[1].im = mim + s * dre;
        a[2].re = mre + s * dim; a[2].im = mim - s * dre;
        return;
    }
    case 4: {
        mel_cpx a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
        double s02re = a0.re + a2.re, s02im = a0.im + a2.im;
        double d02re = a0.re - a2.re, d02im = a0.im - a2.im;
        double s13re = a1.re + a3.re, s13im = a1.im + a3.im;
        double d13re = a1.re - a3.re, d13im = a1.im - a3.im;
        a[0].re = s02re + s13re; a[0].im = s02im + s13im;
        a[2].re = s02re - s13re; a[2].im = s02im - s13im;
        /* X1 = d02 - i d13,  X3 = d02 + i d13 */
        a[1].re = d02re + d13im; a[1].im = d02im - d13re;
        a[3].re = d02re - d13im; a[3].im = d02im + d13re;
        return;
    }
    case 5: {
        const double c1 = 0.30901699437494742410, c2 = -0.80901699437494742410; /* cos 2pi/5, 4pi/5 */
        const double s1 = 0.95105651629515357212, s2 = 0.58778525229247312917;  /* sin 2pi/5, 4pi/5 */
        mel_cpx a0 = a[0];
        double t1re = a[1].re + a[4].re, t1im = a[1].im + a[4].im;
        double t2re = a[2].re + a[3].re, t2im = a[2].im + a[3].im;
        double d1re = a[1].re - a[4].re, d1im = a[1].im - a[4].im;
        double d2re = a[2].re - a[3].re, d2im = a[2].im - a[3].im;
        a[0].re = a0.re + t1re + t2re; a[0].im = a0.im + t1im + t2im;
        double m1re = a0.re + c1 * t1re + c2 * t2re, m1im = a0.im + c1 * t1im + c2 * t2im;
        double m2re = a0.re + c2 * t1re + c1 * t2re, m2im = a0.im + c2 * t1im + c1 * t2im;
        /* forward sign: X_k gets -i * (sin terms) */
        double n1re = s1 * d1re + s2 * d2re, n1im = s1 * d1im + s2 * d2im;
        double n2re = s2 * d1re - s1 * d2re, n2im = s2 * d1im - s1 * d2im;
        a[1].re = m1re + n1im; a[1].im = m1im - n1re;
        a[4].re = m1re - n1im; a[4].im = m1im + n1re;
        a[2].re = m2re + n2im; a[2].im = m2im - n2re;
        a[3].re = m2re - n2im; a[3].im = m2im + n2re;
        return;
    }
    default: {
        mel_cpx tmp[64];
        mel_cpx *t = r <= 64 ? tmp : malloc((size_t)r * sizeof *t);
        if (!t)
            return; /* unreachable for the sizes used here (radix <= 64 for n < 4096) */
        for (int k = 0; k < r; k++) {
            double re = 0.0, im = 0.0;
            for (int j = 0; j < r; j++) {
                double ang = -2.0 * MEL_PI * (double)((long)j * k % r) / (double)r;
                double c = cos(ang), s = sin(ang);
                re += a[j].re * c - a[j].im * s;
                im += a[j].re * s + a[j].im * c;
            }
            t[k].re = re;
            t[k].im = im;
        }
        memcpy(a, t, (size_t)r * sizeof *t);
        if (t != tmp)
            free(t);
        return;
    }
    }
}

/* Forward FFT of x[plan->n] (destroyed); returns the buffer holding the result (x or work). */
static mel_cpx *fft_forward(const mel_fft_plan *plan, mel_cpx *x, mel_cpx *work)
{
    mel_cpx *src = x, *dst = work;
    int len = plan->n, stride = 1;
    for (int s = 0; s < plan->n_stages; s++) {
        const int r = plan->radix[s], m = len / r;
        const mel_cpx *tw = plan->twiddle[s];
        mel_cpx a[64];
        if (r > 64)
            return src; /* not produced by fft_plan_init for the sizes we use */
        for (int p = 0; p < m; p++) {
            const mel_cpx *w = tw + (size_t)p * (size_t)r;
            for (int u = 0; u < stride; u++) {
                for (int j = 0; j < r; j++)
                    a[j] = src[u + stride * (p + j * m)];
                small_dft(a, r);
                mel_cpx *out = dst + u + stride * r * p;
                for (int k = 0; k < r; k++) {
                    out[stride * k].re = a[k].re * w[k].re - a[k].im * w[k].im;
                    out[stride * k].im = a[k].re * w[k].im + a[k].im * w[k].re;
                }
            }
        }
        mel_cpx *t = src;
        src = dst;
        dst = t;
        len = m;
        stride *= r;
    }
    return src;
}

/* ------------------------------------------------------------------------------------------------
 * Log-mel spectrogram
 * ---------------------------------------------------------------------------------------------- */

/* numpy 'reflect' index of position i (may be < 0 or >= len) into a signal of length len. */
static size_t reflect_index(long long i, size_t len)
{
    if (len == 1)
        return 0;
    const long long period = 2 * ((long long)len - 1);
    long long j = i % period;
    if (j < 0)
        j += period;
    if (j >= (long long)len)
        j = period - j;
    return (size_t)j;
}

/* Sparse view of one filter row: the nonzero span [k0, k1). */
typedef struct {
    int k0, k1;
} mel_span;

typedef struct {
    const float *padded;    /* [n_frames * HOP + N_FFT] reflect-padded signal    */
    const double *window;   /* [N_FFT] periodic Hann                              */
    const mel_fft_plan *plan;
    const float *filters;   /* [n_mels][N_FREQ]                                   */
    const mel_span *spans;  /* [n_mels]                                           */
    int n_mels;
    int n_frames;
    int frame_begin, frame_end;
    float *out;             /* [n_mels][n_frames]: receives log10(max(mel, 1e-10)) */
    double max_log;         /* largest log value of this worker's frames          */
} mel_job;

/* power[0..N_FREQ) of frames (t0, t1) (t1 < 0: only t0), computed with one complex FFT. */
static void frame_pair_power(const mel_job *job, int t0, int t1, mel_cpx *buf, mel_cpx *work,
                             double *power0, double *power1)
{
    const float *x0 = job->padded + (size_t)t0 * AM_HOP;
    const float *x1 = t1 >= 0 ? job->padded + (size_t)t1 * AM_HOP : NULL;
    for (int j = 0; j < AM_N_FFT; j++) {
        buf[j].re = (double)x0[j] * job->window[j];
        buf[j].im = x1 ? (double)x1[j] * job->window[j] : 0.0;
    }
    const mel_cpx *z = fft_forward(job->plan, buf, work);
    for (int k = 0; k < AM_N_FREQ; k++) {
        const mel_cpx zk = z[k], zn = z[(AM_N_FFT - k) % AM_N_FFT];
        /* A = (zk + conj(zn)) / 2,  B = (zk - conj(zn)) / (2i) */
        const double are = 0.5 * (zk.re + zn.re), aim = 0.5 * (zk.im - zn.im);
        const double bre = 0.5 * (zk.im + zn.im), bim = -0.5 * (zk.re - zn.re);
        power0[k] = are * are + aim * aim;
        if (power1)
            power1[k] = bre * bre + bim * bim;
    }
}

/* Apply the filters to one power spectrum and store log10 values in column t of out. */
static double frame_log_mel(const mel_job *job, int t, const double *power)
{
    double frame_max = -INFINITY;
    for (int m = 0; m < job->n_mels; m++) {
        const float *row = job->filters + (size_t)m * AM_N_FREQ;
        double acc = 0.0;
        for (int k = job->spans[m].k0; k < job->spans[m].k1; k++)
            acc += (double)row[k] * power[k];
        const double v = log10(acc > 1e-10 ? acc : 1e-10);
        job->out[(size_t)m * (size_t)job->n_frames + (size_t)t] = (float)v;
        if (v > frame_max)
            frame_max = v;
    }
    return frame_max;
}

static void *mel_worker(void *arg)
{
    mel_job *job = arg;
    mel_cpx buf[AM_N_FFT], work[AM_N_FFT];
    double power0[AM_N_FREQ], power1[AM_N_FREQ];
    double mx = -INFINITY;
    for (int t = job->frame_begin; t < job->frame_end; t += 2) {
        const int t1 = t + 1 < job->frame_end ? t + 1 : -1;
        frame_pair_power(job, t, t1, buf, work, power0, t1 >= 0 ? power1 : NULL);
        double v = frame_log_mel(job, t, power0);
        if (v > mx)
            mx = v;
        if (t1 >= 0) {
            v = frame_log_mel(job, t1, power1);
            if (v > mx)
                mx = v;
        }
    }
    job->max_log = mx;
    return NULL;
}

/* Raw log10 values of n_frames frames whose centred samples start at padded[0] (frame t reads
 * padded[t * HOP .. t * HOP + N_FFT)); see mel.h. */
int mel_raw_frames(const float *padded, int n_frames, int n_mels, const float *filters, int n_threads,
                   float *out, double *max_log)
{
    if (!padded || n_frames <= 0 || n_mels <= 0 || !filters || !out || !max_log)
        return AM_E_INVALID_ARG;
    mel_span *spans = malloc((size_t)n_mels * sizeof *spans);
    mel_fft_plan plan;
    int status = fft_plan_init(&plan, AM_N_FFT);
    if (!spans || status != AM_OK) {
        free(spans);
        fft_plan_free(&plan);
        return status == AM_OK ? AM_E_NOMEM : status;
    }
    double window[AM_N_FFT];
    for (int j = 0; j < AM_N_FFT; j++)
        window[j] = 0.5 - 0.5 * cos(2.0 * MEL_PI * (double)j / (double)AM_N_FFT);
    for (int m = 0; m < n_mels; m++) {
        const float *row = filters + (size_t)m * AM_N_FREQ;
        int k0 = 0, k1 = AM_N_FREQ;
        while (k0 < AM_N_FREQ && row[k0] == 0.0f)
            k0++;
        while (k1 > k0 && row[k1 - 1] == 0.0f)
            k1--;
        spans[m].k0 = k0;
        spans[m].k1 = k1;
    }

    /* split frames across workers; each needs enough frames to be worth a thread */
    const int nf = n_frames;
    if (n_threads < 1)
        n_threads = 1;
    if (n_threads > 64)
        n_threads = 64;
    const int min_frames_per_thread = 200;
    if (n_threads > 1 && nf / n_threads < min_frames_per_thread)
        n_threads = nf / min_frames_per_thread > 1 ? nf / min_frames_per_thread : 1;

    mel_job jobs[64];
    pthread_t tids[64];
    int started[64] = {0};
    /* Frames go through the FFT in pairs (2i, 2i+1), and a frame's rounding depends on its partner,
     * so every worker starts at an even frame: the result does not depend on the thread count. */
    for (int i = 0; i < n_threads; i++) {
        jobs[i] = (mel_job){
            .padded = padded, .window = window, .plan = &plan, .filters = filters, .spans = spans,
            .n_mels = n_mels, .n_frames = nf,
            .frame_begin = (int)((long long)nf * i / n_threads) & ~1,
            .frame_end = i + 1 < n_threads ? (int)((long long)nf * (i + 1) / n_threads) & ~1 : nf,
            .out = out, .max_log = -INFINITY,
        };
    }
    for (int i = 1; i < n_threads; i++)
        started[i] = pthread_create(&tids[i], NULL, mel_worker, &jobs[i]) == 0;
    mel_worker(&jobs[0]);
    for (int i = 1; i < n_threads; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        else
            mel_worker(&jobs[i]); /* thread creation failed: do the share here */
    }
    double global_max = -INFINITY;
    for (int i = 0; i < n_threads; i++)
        if (jobs[i].max_log > global_max)
            global_max = jobs[i].max_log;
    *max_log = global_max;
    free(spans);
    fft_plan_free(&plan);
    return AM_OK;
}

/* x = max(x, max_log - 8); (x + 4) / 4 */
void mel_normalise(const float *raw, size_t n, double max_log, float *out)
{
    const double floor_log = max_log - 8.0;
    for (size_t i = 0; i < n; i++) {
        double x = raw[i];
        if (x < floor_log)
            x = floor_log;
        out[i] = (float)((x + 4.0) / 4.0);
    }
}

void mel_pad_range(const float *samples, size_t n_samples, size_t first, size_t count, float *padded)
{
    const size_t len = n_samples + AM_HOP; /* signal plus 160 zeros */
    const long long pad = AM_N_FFT / 2;
    for (size_t i = 0; i < count; i++) {
        const size_t j = reflect_index((long long)(first + i) - pad, len);
        padded[i] = j < n_samples ? samples[j] : 0.0f;
    }
}

size_t mel_reflect_index(long long i, size_t len) { return reflect_index(i, len); }

int mel_log_spectrogram(const float *samples, size_t n_samples, int n_mels, const float *filters,
                        int n_threads, float **out, int *n_frames)
{
    if (out)
        *out = NULL;
    if (n_frames)
        *n_frames = 0;
    if (!samples || n_samples == 0 || n_mels <= 0 || !filters || !out || !n_frames)
        return AM_E_INVALID_ARG;
    const size_t len = n_samples + AM_HOP;       /* signal plus 160 zeros        */
    const size_t frames = len / AM_HOP;          /* STFT frames minus the last   */
    if (frames > (size_t)0x7fffffff / (size_t)n_mels)
        return AM_E_INVALID_ARG;
    const int nf = (int)frames;

    /* padded: [len + 2 * pad], the centred signal; frame t reads padded[t * HOP .. t * HOP + N_FFT). */
    const size_t padded_len = len + AM_N_FFT;
    float *padded = malloc(padded_len * sizeof *padded);
    float *result = malloc((size_t)n_mels * frames * sizeof *result);
    if (!padded || !result) {
        free(padded);
        free(result);
        return AM_E_NOMEM;
    }
    mel_pad_range(samples, n_samples, 0, padded_len, padded);
    double global_max = -INFINITY;
    int status = mel_raw_frames(padded, nf, n_mels, filters, n_threads, result, &global_max);
    free(padded);
    if (status != AM_OK) {
        free(result);
        return status;
    }
    mel_normalise(result, (size_t)n_mels * frames, global_max, result);
    *out = result;
    *n_frames = nf;
    return AM_OK;
}
