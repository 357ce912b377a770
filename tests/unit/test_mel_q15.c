/* test_mel_q15.c — the integer log-mel kernel: Q15 conversion, the table log2, the fixed-point
 * 400-point DFT against a float64 DFT (full-scale input: no overflow), and the whole front end
 * against the float one (mel.h) on a full-scale sweep, white noise, silence and odd lengths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "amanuensis.h"
#include "frontend/mel.h"
#include "frontend/mel_q15.h"

#define PI 3.14159265358979323846

static void test_q15_conversion(void **state) {
    (void)state;
    assert_int_equal(mel_q15_from_float(0.0f), 0);
    assert_int_equal(mel_q15_from_float(1.0f), 32767);
    assert_int_equal(mel_q15_from_float(-1.0f), -32768);
    assert_int_equal(mel_q15_from_float(5.0f), 32767);
    assert_int_equal(mel_q15_from_float(-5.0f), -32768);
    assert_int_equal(mel_q15_from_float(NAN), 0);
    for (int v = -32768; v < 32768; v += 7) assert_int_equal(mel_q15_from_float((float)v / 32768.0f), v);
}

static void test_log2_table(void **state) {
    (void)state;
    double worst = 0;
    uint64_t v = 1;
    for (int i = 0; i < 200000; i++) {
        double exact = log2((double)v);
        double got = mel_q15_log2_q24(v) / 16777216.0;
        if (fabs(got - exact) > worst) worst = fabs(got - exact);
        v = v * 1000003u / 999983u + 1 + (uint64_t)i; /* a walk over many magnitudes */
        if (v > (UINT64_MAX >> 2)) v = (uint64_t)i + 2;
    }
    printf("  log2 table: worst error %.3g\n", worst);
    assert_true(worst < 1e-5);
    assert_int_equal(mel_q15_log2_q24(1), 0);
    assert_int_equal(mel_q15_log2_q24(1ull << 40), 40 << 24);
}

/* Full-scale input (both real and imaginary parts at the bound 2^20, worst-case signs), a random
 * one and a single tone: the fixed-point DFT stays within a few units of the float64 DFT. */
static void check_dft(const int32_t *re0, const int32_t *im0, double tol_rel) {
    int32_t re[400], im[400];
    double max_ref = 0, max_err = 0;
    for (int i = 0; i < 400; i++) { re[i] = re0[i]; im[i] = im0[i]; }
    mel_q15_dft400(re, im);
    for (int k = 0; k < 400; k++) {
        double sr = 0, si = 0;
        for (int n = 0; n < 400; n++) {
            double a = -2.0 * PI * (double)((long)k * n % 400) / 400.0;
            sr += re0[n] * cos(a) - im0[n] * sin(a);
            si += re0[n] * sin(a) + im0[n] * cos(a);
        }
        max_ref = fmax(max_ref, fmax(fabs(sr), fabs(si)));
        max_err = fmax(max_err, fmax(fabs(sr - re[k]), fabs(si - im[k])));
    }
    printf("  dft400: max |X| %.4g (2^%.2f), max abs error %.3g (%.3g relative)\n", max_ref, log2(max_ref), max_err,
           max_err / max_ref);
    assert_true(max_ref < 2147483647.0);
    assert_true(max_err <= tol_rel * max_ref);
}

static void test_dft400(void **state) {
    (void)state;
    int32_t re[400], im[400];
    for (int n = 0; n < 400; n++) { re[n] = 1 << 20; im[n] = 1 << 20; } /* DC at full scale: the growth bound */
    check_dft(re, im, 1e-6);
    for (int n = 0; n < 400; n++) { /* alternating worst-case signs at bin 200 */
        re[n] = (n & 1) ? -(1 << 20) : (1 << 20);
        im[n] = (n & 1) ? (1 << 20) : -(1 << 20);
    }
    check_dft(re, im, 3e-5); /* Q15 twiddles: ~2^-16 relative each */
    unsigned s = 7;
    for (int n = 0; n < 400; n++) {
        s = s * 1103515245u + 12345u;
        re[n] = (int32_t)((s >> 8) % (2u << 20)) - (1 << 20);
        s = s * 1103515245u + 12345u;
        im[n] = (int32_t)((s >> 8) % (2u << 20)) - (1 << 20);
    }
    check_dft(re, im, 2e-5);
    for (int n = 0; n < 400; n++) { re[n] = (int32_t)lround(1000000.0 * cos(2 * PI * 37 * n / 400.0)); im[n] = 0; }
    check_dft(re, im, 2e-5);
}

static void compare_frontends(const char *name, const float *x, size_t n, int n_mels, double tol) {
    float *filters = malloc(sizeof(float) * (size_t)n_mels * AM_N_FREQ);
    mel_filterbank_slaney(n_mels, AM_N_FFT, 16000, filters);
    float *a = NULL, *b = NULL;
    int fa = 0, fb = 0;
    assert_int_equal(mel_log_spectrogram(x, n, n_mels, filters, 1, &a, &fa), AM_OK);
    assert_int_equal(mel_q15_log_spectrogram(x, n, n_mels, filters, 2, &b, &fb), AM_OK);
    assert_int_equal(fa, fb);
    double worst = 0;
    for (size_t i = 0; i < (size_t)n_mels * fa; i++) {
        assert_true(isfinite(b[i]));
        worst = fmax(worst, fabs((double)a[i] - b[i]));
    }
    printf("  %-24s n=%zu n_mels=%d: max |q15 - f32| = %.4g\n", name, n, n_mels, worst);
    assert_true(worst <= tol);
    free(a); free(b); free(filters);
}

static void test_against_float_frontend(void **state) {
    (void)state;
    const size_t n = 16000 * 4;
    float *x = malloc(sizeof(float) * n);
    /* full-scale sweep 20 Hz .. 8 kHz */
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / 16000.0;
        x[i] = (float)sin(2 * PI * (20 * t + (8000.0 - 20) / (2 * 4.0) * t * t));
    }
    compare_frontends("full-scale sweep", x, n, 80, 0.02);
    compare_frontends("full-scale sweep", x, n, 128, 0.02);
    /* full-scale square wave (clipped: every sample at ±1) */
    for (size_t i = 0; i < n; i++) x[i] = ((i / 40) & 1) ? 1.0f : -1.0f;
    compare_frontends("full-scale square", x, n, 80, 0.02);
    /* white noise, uniform full scale */
    unsigned s = 3;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (float)((int)((s >> 8) & 0xffff) - 32768) / 32768.0f;
    }
    compare_frontends("white noise", x, n, 80, 0.02);
    /* silence */
    for (size_t i = 0; i < n; i++) x[i] = 0.0f;
    compare_frontends("silence", x, n, 80, 0.0);
    /* odd lengths */
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = 0.3f * (float)((int)((s >> 8) & 0xffff) - 32768) / 32768.0f;
    }
    size_t lens[] = {1, 7, 199, 401, 16001};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) compare_frontends("noise, odd length", x, lens[i], 80, 0.02);
    free(x);
}

static void test_bad_args(void **state) {
    (void)state;
    float *out = (float *)1;
    int nf = 5;
    float x[4] = {0};
    float filt[80 * AM_N_FREQ] = {0};
    assert_int_equal(mel_q15_log_spectrogram(x, 0, 80, filt, 1, &out, &nf), AM_E_INVALID_ARG);
    assert_null(out);
    assert_int_equal(nf, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q15_conversion),
        cmocka_unit_test(test_log2_table),
        cmocka_unit_test(test_dft400),
        cmocka_unit_test(test_against_float_frontend),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
