/* test_mel.c — unit tests for the log-mel front end (src/frontend/mel.c).
 *
 *  - filterbank: mel_filterbank_slaney(80, 400, 16000) vs the filters stored in a ggml model file
 *    (max abs <= 1e-6); skipped when the test data directory cannot be found.
 *  - exact DFT: with an identity "filterbank" (201 mels, filter k = bin k) the output is the
 *    normalised log power spectrum, compared with a direct O(N^2) double DFT of every frame.
 *  - frame counts, argument errors, thread-count invariance, silence and full-scale square wave.
 *
 * Data directory: $AM_TEST_DATA_DIR, else tests/data of the repository (tried from the repo root
 * and from build output directories).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "frontend/mel.h"

#define TEST_PI 3.14159265358979323846

/* ---------------------------------------------------------------- helpers */

static uint32_t rng_state = 12345u;

static float rand_uniform(void) /* in [-1, 1) */
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((double)(rng_state >> 8) / (double)(1u << 24) * 2.0 - 1.0);
}

static FILE *open_test_data(const char *name)
{
    char path[4096];
    const char *env = getenv("AM_TEST_DATA_DIR");
    if (env && *env) {
        snprintf(path, sizeof path, "%s/%s", env, name);
        return fopen(path, "rb");
    }
    static const char *const roots[] = {"tests/data", "../tests/data", "../../tests/data",
                                        "../../../tests/data"};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", roots[i], name);
        FILE *f = fopen(path, "rb");
        if (f)
            return f;
    }
    return NULL;
}

static int32_t read_le32(const unsigned char *b)
{
    return (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
}

static float read_lef32(const unsigned char *b)
{
    uint32_t u = (uint32_t)read_le32(b);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* numpy 'reflect' padding index (periodic mirror, period 2(len - 1)). */
static size_t np_reflect(long long i, size_t len)
{
    if (len == 1)
        return 0;
    long long period = 2 * ((long long)len - 1);
    long long j = ((i % period) + period) % period;
    return (size_t)(j >= (long long)len ? period - j : j);
}

/* Reference pipeline with a direct DFT and identity filters: out [201][n_frames]. */
static double *reference_log_power(const float *x, size_t n, int *n_frames)
{
    size_t len = n + AM_HOP, frames = len / AM_HOP;
    double *out = malloc(AM_N_FREQ * frames * sizeof *out);
    assert_non_null(out);
    double cosv[AM_N_FFT], sinv[AM_N_FFT], win[AM_N_FFT], frame[AM_N_FFT];
    for (int j = 0; j < AM_N_FFT; j++) {
        cosv[j] = cos(2.0 * TEST_PI * j / AM_N_FFT);
        sinv[j] = -sin(2.0 * TEST_PI * j / AM_N_FFT);
        win[j] = 0.5 - 0.5 * cos(2.0 * TEST_PI * j / AM_N_FFT);
    }
    double gmax = -INFINITY;
    for (size_t t = 0; t < frames; t++) {
        for (int j = 0; j < AM_N_FFT; j++) {
            size_t s = np_reflect((long long)(t * AM_HOP + (size_t)j) - AM_N_FFT / 2, len);
            frame[j] = (s < n ? (double)x[s] : 0.0) * win[j];
        }
        for (int k = 0; k < AM_N_FREQ; k++) {
            double re = 0.0, im = 0.0;
            for (int j = 0; j < AM_N_FFT; j++) {
                int idx = (j * k) % AM_N_FFT;
                re += frame[j] * cosv[idx];
                im += frame[j] * sinv[idx];
            }
            double p = re * re + im * im;
            double v = log10(p > 1e-10 ? p : 1e-10);
            out[(size_t)k * frames + t] = v;
            if (v > gmax)
                gmax = v;
        }
    }
    for (size_t i = 0; i < AM_N_FREQ * frames; i++)
        out[i] = ((out[i] < gmax - 8.0 ? gmax - 8.0 : out[i]) + 4.0) / 4.0;
    *n_frames = (int)frames;
    return out;
}

static float *identity_filters(void)
{
    float *f = calloc((size_t)AM_N_FREQ * AM_N_FREQ, sizeof *f);
    assert_non_null(f);
    for (int k = 0; k < AM_N_FREQ; k++)
        f[(size_t)k * AM_N_FREQ + (size_t)k] = 1.0f;
    return f;
}

/* ---------------------------------------------------------------- tests */

static void test_filterbank_matches_ggml(void **state)
{
    (void)state;
    FILE *f = open_test_data("ggml-vocab-tiny.en.bin");
    if (!f) {
        fprintf(stderr, "ggml-vocab-tiny.en.bin not found (tests/data, or set AM_TEST_DATA_DIR); skipping\n");
        skip();
    }
    unsigned char head[14 * 4];
    assert_int_equal(fread(head, 1, sizeof head, f), sizeof head);
    assert_int_equal(read_le32(head), 0x67676d6c);
    int n_mel = read_le32(head + 12 * 4), n_freq = read_le32(head + 13 * 4);
    assert_int_equal(n_mel, 80);
    assert_int_equal(n_freq, AM_N_FREQ);
    size_t count = (size_t)n_mel * (size_t)n_freq;
    unsigned char *raw = malloc(count * 4);
    float *ours = malloc(count * sizeof *ours);
    assert_non_null(raw);
    assert_non_null(ours);
    assert_int_equal(fread(raw, 4, count, f), count);
    fclose(f);

    mel_filterbank_slaney(n_mel, AM_N_FFT, 16000, ours);
    double max_err = 0.0;
    for (size_t i = 0; i < count; i++) {
        double e = fabs((double)ours[i] - (double)read_lef32(raw + 4 * i));
        if (e > max_err)
            max_err = e;
    }
    printf("filterbank vs ggml: max abs err %.3g\n", max_err);
    assert_true(max_err <= 1e-6);
    free(raw);
    free(ours);
}

static void test_filterbank_128(void **state)
{
    (void)state;
    float *w = malloc(128 * AM_N_FREQ * sizeof *w);
    assert_non_null(w);
    mel_filterbank_slaney(128, AM_N_FFT, 16000, w);
    for (int m = 0; m < 128; m++) {
        double sum = 0.0;
        for (int k = 0; k < AM_N_FREQ; k++) {
            float v = w[m * AM_N_FREQ + k];
            assert_true(isfinite(v) && v >= 0.0f);
            sum += v;
        }
        assert_true(sum > 0.0); /* every band covers at least one bin at n_fft 400 */
    }
    free(w);
}

static void check_against_direct_dft(size_t n, int n_threads)
{
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = rand_uniform();
    float *filters = identity_filters();
    float *out = NULL;
    int frames = 0, ref_frames = 0;
    assert_int_equal(mel_log_spectrogram(x, n, AM_N_FREQ, filters, n_threads, &out, &frames), AM_OK);
    double *ref = reference_log_power(x, n, &ref_frames);
    assert_int_equal(frames, ref_frames);
    double max_err = 0.0;
    for (size_t i = 0; i < (size_t)AM_N_FREQ * (size_t)frames; i++) {
        double e = fabs((double)out[i] - ref[i]);
        if (e > max_err)
            max_err = e;
    }
    printf("n=%zu threads=%d: exact DFT vs direct DFT max abs err %.3g\n", n, n_threads, max_err);
    assert_true(max_err <= 1e-5);
    free(x);
    free(filters);
    free(out);
    free(ref);
}

static void test_fft_matches_direct_dft(void **state)
{
    (void)state;
    check_against_direct_dft(7, 1);     /* repeated reflection */
    check_against_direct_dft(401, 1);
    check_against_direct_dft(8001, 3);
}

static void test_frame_counts(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        int frames;
    } cases[] = {{1, 1},       {159, 1},     {160, 2},     {161, 2},     {399, 3},
                 {400, 3},     {401, 3},     {16000, 101}, {16001, 101}, {48017, 301},
                 {480000, 3001}};
    float filters[80 * AM_N_FREQ];
    mel_filterbank_slaney(80, AM_N_FFT, 16000, filters);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float *x = malloc(cases[c].n * sizeof *x);
        assert_non_null(x);
        for (size_t i = 0; i < cases[c].n; i++)
            x[i] = 0.1f * rand_uniform();
        float *out = NULL;
        int frames = -1;
        assert_int_equal(mel_log_spectrogram(x, cases[c].n, 80, filters, 2, &out, &frames), AM_OK);
        assert_int_equal(frames, cases[c].frames);
        for (size_t i = 0; i < (size_t)80 * (size_t)frames; i++)
            assert_true(isfinite(out[i]));
        free(out);
        free(x);
    }
}

static void test_invalid_args(void **state)
{
    (void)state;
    float filters[80 * AM_N_FREQ];
    float x[4] = {0};
    float *out = (float *)filters;
    int frames = 7;
    mel_filterbank_slaney(80, AM_N_FFT, 16000, filters);
    assert_int_equal(mel_log_spectrogram(x, 0, 80, filters, 1, &out, &frames), AM_E_INVALID_ARG);
    assert_null(out);
    assert_int_equal(frames, 0);
    assert_int_equal(mel_log_spectrogram(NULL, 4, 80, filters, 1, &out, &frames), AM_E_INVALID_ARG);
    assert_int_equal(mel_log_spectrogram(x, 4, 0, filters, 1, &out, &frames), AM_E_INVALID_ARG);
}

static void test_silence(void **state)
{
    (void)state;
    float filters[80 * AM_N_FREQ];
    mel_filterbank_slaney(80, AM_N_FFT, 16000, filters);
    size_t n = 16000;
    float *x = calloc(n, sizeof *x);
    float *out = NULL;
    int frames = 0;
    assert_non_null(x);
    assert_int_equal(mel_log_spectrogram(x, n, 80, filters, 1, &out, &frames), AM_OK);
    assert_int_equal(frames, 101);
    for (size_t i = 0; i < (size_t)80 * (size_t)frames; i++)
        assert_float_equal(out[i], -1.5f, 1e-6f); /* (log10(1e-10) + 4) / 4 */
    free(out);
    free(x);
}

static void test_square_wave(void **state)
{
    (void)state;
    float filters[80 * AM_N_FREQ];
    mel_filterbank_slaney(80, AM_N_FFT, 16000, filters);
    size_t n = 32000;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (i / 40) % 2 ? 1.0f : -1.0f; /* 200 Hz, full scale */
    float *out = NULL;
    int frames = 0;
    assert_int_equal(mel_log_spectrogram(x, n, 80, filters, 4, &out, &frames), AM_OK);
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < (size_t)80 * (size_t)frames; i++) {
        assert_true(isfinite(out[i]));
        if (out[i] < lo)
            lo = out[i];
        if (out[i] > hi)
            hi = out[i];
    }
    assert_true(hi - lo <= 2.0f + 1e-6f); /* clamp at global max - 8 (in log10), divided by 4 */
    assert_true(hi > 1.0f && hi < 4.0f);
    free(out);
    free(x);
}

static void test_threads_identical(void **state)
{
    (void)state;
    float filters[80 * AM_N_FREQ];
    mel_filterbank_slaney(80, AM_N_FFT, 16000, filters);
    size_t n = 160000 + 37;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * rand_uniform() * (float)sin(i * 0.001);
    float *a = NULL, *b = NULL;
    int fa = 0, fb = 0;
    assert_int_equal(mel_log_spectrogram(x, n, 80, filters, 1, &a, &fa), AM_OK);
    assert_int_equal(mel_log_spectrogram(x, n, 80, filters, 5, &b, &fb), AM_OK);
    assert_int_equal(fa, fb);
    assert_memory_equal(a, b, (size_t)80 * (size_t)fa * sizeof *a);
    free(a);
    free(b);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filterbank_matches_ggml),
        cmocka_unit_test(test_filterbank_128),
        cmocka_unit_test(test_fft_matches_direct_dft),
        cmocka_unit_test(test_frame_counts),
        cmocka_unit_test(test_invalid_args),
        cmocka_unit_test(test_silence),
        cmocka_unit_test(test_square_wave),
        cmocka_unit_test(test_threads_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
