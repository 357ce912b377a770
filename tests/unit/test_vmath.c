/* test_vmath.c — the vectorised element-wise math (exp, exp-sub-sum, max, GELU) on every code path
 * this CPU has (portable, AVX2+FMA, AVX-512F) against double-precision libm and against the
 * portable reference: error bounds, tails of every length up to 37 (no write past the end),
 * special values, and AMANUENSIS_NO_SIMD=1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/vmath.h"

#define GUARD 16
#define GUARD_VAL 12345.678f

static float frand(unsigned *s) { /* uniform in [-1, 1) */
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static double ulp_at(double v) { /* the float ulp at |v| (normal range) */
    int e;
    frexp(v, &e);
    return ldexp(1.0, e - 24);
}

static double gelu_d(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }

/* the highest level available, then each level from 0 to it */
static int max_level(void) {
    int m = vm_set_simd_level(99);
    vm_set_simd_level(-1);
    return m;
}

static float *guarded(size_t n) {
    float *p = malloc(sizeof(float) * (n + GUARD));
    for (size_t i = 0; i < n + GUARD; i++) p[i] = GUARD_VAL;
    return p;
}

static void check_guard(const float *p, size_t n) {
    for (size_t i = n; i < n + GUARD; i++) assert_true(p[i] == GUARD_VAL);
}

/* ---- exp -------------------------------------------------------------------------------------- */

static void test_exp_accuracy(void **state) {
    (void)state;
    const size_t N = 200003; /* odd: a tail on every path */
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    int ml = max_level();
    for (int lev = 0; lev <= ml; lev++) {
        assert_int_equal(vm_set_simd_level(lev), lev);
        double maxrel = 0, maxulp = 0;
        for (int pass = 0; pass < 3; pass++) {
            unsigned seed = 17u + (unsigned)pass;
            for (size_t i = 0; i < N; i++) {
                if (pass == 0) x[i] = (float)(-87.0 + 175.0 * (double)i / (double)(N - 1)); /* grid */
                else if (pass == 1) x[i] = 87.0f * frand(&seed);                            /* random */
                else x[i] = ldexpf(frand(&seed), -(int)(i % 30));                          /* near 0 */
            }
            memcpy(y, x, sizeof(float) * N);
            vm_exp_inplace(N, y);
            for (size_t i = 0; i < N; i++) {
                double r = exp((double)x[i]);
                double d = fabs((double)y[i] - r);
                if (d / r > maxrel) maxrel = d / r;
                if (d / ulp_at(r) > maxulp) maxulp = d / ulp_at(r);
            }
        }
        print_message("exp level %d: max rel err %.3g, max %.3f ulp\n", lev, maxrel, maxulp);
        assert_true(maxrel <= 1e-6);
        assert_true(maxulp <= 2.0);
    }
    vm_set_simd_level(-1);
    free(x);
    free(y);
}

static void test_exp_special(void **state) {
    (void)state;
    int ml = max_level();
    for (int lev = 0; lev <= ml; lev++) {
        vm_set_simd_level(lev);
        /* 19 values: the vector paths see them in a full vector and in a tail */
        float v[19] = {-INFINITY, -1e30f, -1000.0f, -104.0f, -88.0f, -87.5f, 0.0f, -0.0f, 1.0f, 88.0f,
                       88.72283f, 88.7228394f, 89.0f, 1e30f, INFINITY, NAN, -87.0f, 1e-30f, -1e-30f};
        vm_exp_inplace(19, v);
        for (int i = 0; i < 6; i++) assert_true(v[i] == 0.0f); /* below ln FLT_MIN: flushed to 0 */
        assert_true(v[6] == 1.0f && v[7] == 1.0f);
        assert_true(fabs(v[8] - 2.718281828459045) / 2.718281828459045 <= 1e-7);
        assert_true(fabs(v[9] - exp(88.0)) / exp(88.0) <= 1e-6);
        double big = exp((double)88.72283f); /* the largest float whose exp is finite */
        assert_true(isfinite(v[10]) && fabs(v[10] - big) / big <= 1e-6);
        for (int i = 11; i < 15; i++) assert_true(isinf(v[i]) && v[i] > 0);
        assert_true(isnan(v[15]));
        assert_true(fabs(v[16] - exp(-87.0)) / exp(-87.0) <= 1e-6 && isnormal(v[16]));
        assert_true(v[17] == 1.0f && v[18] == 1.0f);
    }
    vm_set_simd_level(-1);
}

/* every length 1..37 and 1000: the same as the portable reference to an ulp or two, nothing
 * written past the end */
static void test_exp_tails(void **state) {
    (void)state;
    int ml = max_level();
    size_t lens[38];
    for (int i = 0; i < 37; i++) lens[i] = (size_t)i + 1;
    lens[37] = 1000;
    for (int lev = 0; lev <= ml; lev++) {
        vm_set_simd_level(lev);
        for (int k = 0; k < 38; k++) {
            size_t n = lens[k];
            unsigned seed = (unsigned)(n * 31 + (size_t)lev);
            float *a = guarded(n), *b = guarded(n);
            for (size_t i = 0; i < n; i++) a[i] = b[i] = 20.0f * frand(&seed);
            vm_exp_inplace(n, a);
            vm_exp_inplace_ref(n, b);
            check_guard(a, n);
            check_guard(b, n);
            for (size_t i = 0; i < n; i++) assert_true(fabs((double)a[i] - b[i]) <= 2.0 * ulp_at(b[i]));
            free(a);
            free(b);
        }
    }
    vm_set_simd_level(-1);
}

/* ---- exp_sub_sum (softmax) ---------------------------------------------------------------------- */

static void test_exp_sub_sum(void **state) {
    (void)state;
    int ml = max_level();
    int lens[40];
    for (int i = 0; i < 37; i++) lens[i] = i + 1;
    lens[37] = 1000;
    lens[38] = 1500;
    lens[39] = 0;
    const float scales[2] = {1.0f, 0.125f};
    for (int lev = 0; lev <= ml; lev++) {
        vm_set_simd_level(lev);
        for (int k = 0; k < 40; k++)
            for (int sc = 0; sc < 2; sc++) {
                int n = lens[k];
                float scale = scales[sc];
                unsigned seed = (unsigned)(n * 7 + sc * 3 + lev);
                float *a = guarded((size_t)n), *b = guarded((size_t)n), *x0 = guarded((size_t)n);
                for (int i = 0; i < n; i++) a[i] = b[i] = x0[i] = 30.0f * frand(&seed);
                if (n > 3) a[n / 3] = b[n / 3] = x0[n / 3] = -INFINITY; /* a masked entry */
                float mx = vm_max(n, a);
                assert_true(mx == vm_max_ref(n, a));
                float s = vm_exp_sub_sum(n, a, n ? mx : 0.0f, scale);
                float sr = vm_exp_sub_sum_ref(n, b, n ? mx : 0.0f, scale);
                check_guard(a, (size_t)n);
                double sd = 0;
                for (int i = 0; i < n; i++) {
                    float arg = (x0[i] - mx) * scale; /* the argument as the kernel forms it */
                    double r = exp((double)arg);
                    sd += r;
                    assert_true(fabs((double)a[i] - r) <= 1e-6 * r);
                    assert_true(fabs((double)a[i] - b[i]) <= 2.0 * ulp_at(b[i]) || a[i] == b[i]);
                }
                if (n == 0) {
                    assert_true(s == 0.0f && sr == 0.0f);
                } else {
                    assert_true(sd >= 1.0); /* the maximum contributes exp(0) = 1 */
                    assert_true(fabs(s - sd) <= 1e-5 * sd);
                    assert_true(fabs(sr - sd) <= 1e-5 * sd);
                }
                free(a);
                free(b);
                free(x0);
            }
    }
    vm_set_simd_level(-1);
}

/* ---- max ---------------------------------------------------------------------------------------- */

static void test_max(void **state) {
    (void)state;
    int ml = max_level();
    for (int lev = 0; lev <= ml; lev++) {
        vm_set_simd_level(lev);
        assert_true(vm_max(0, NULL) == -INFINITY);
        float minf[3] = {-INFINITY, -INFINITY, -INFINITY};
        assert_true(vm_max(3, minf) == -INFINITY);
        int lens[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 37, 63, 64, 65, 100, 1000, 1500};
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            int n = lens[k];
            float *x = malloc(sizeof(float) * (size_t)n);
            /* the maximum at every position in turn (first, middle, in the tail, last) */
            for (int pos = 0; pos < n; pos += (n > 40 ? n / 13 + 1 : 1)) {
                unsigned seed = (unsigned)(n + pos);
                for (int i = 0; i < n; i++) x[i] = -5.0f + frand(&seed); /* all negative */
                x[pos] = -1.5f;
                assert_true(vm_max(n, x) == -1.5f);
                assert_true(vm_max_ref(n, x) == -1.5f);
                x[n - 1] = 3.0f; /* the last element */
                assert_true(vm_max(n, x) == 3.0f);
            }
            free(x);
        }
    }
    vm_set_simd_level(-1);
}

/* ---- GELU --------------------------------------------------------------------------------------- */

static void test_gelu_accuracy(void **state) {
    (void)state;
    const size_t N = 400001;
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    int ml = max_level();
    for (int lev = 0; lev <= ml; lev++) {
        vm_set_simd_level(lev);
        double maxe = 0;
        for (int pass = 0; pass < 2; pass++) {
            unsigned seed = 99u;
            for (size_t i = 0; i < N; i++)
                x[i] = pass == 0 ? (float)(-10.0 + 20.0 * (double)i / (double)(N - 1)) : 10.0f * frand(&seed);
            memcpy(y, x, sizeof(float) * N);
            vm_gelu_inplace(N, y);
            for (size_t i = 0; i < N; i++) {
                double e = fabs((double)y[i] - gelu_d(x[i])) / fmax(1.0, fabs((double)x[i]));
                if (e > maxe) maxe = e;
            }
        }
        print_message("gelu level %d: max |err| / max(1, |x|) = %.3g\n", lev, maxe);
        assert_true(maxe <= 1e-6);
    }
    vm_set_simd_level(-1);
    free(x);
    free(y);
}

static void test_gelu_tails_special(void **state) {
    (void)state;
    int ml = max_level();
    for (int lev = 0; lev <= ml; lev++) {
        vm_set_simd_level(lev);
        for (size_t n = 1; n <= 1000; n = n < 37 ? n + 1 : 1001) {
            unsigned seed = (unsigned)(n * 13 + (size_t)lev);
            float *a = guarded(n), *b = guarded(n);
            for (size_t i = 0; i < n; i++) a[i] = b[i] = 8.0f * frand(&seed);
            vm_gelu_inplace(n, a);
            vm_gelu_inplace_ref(n, b);
            check_guard(a, n);
            check_guard(b, n);
            for (size_t i = 0; i < n; i++) assert_true(fabs((double)a[i] - b[i]) <= 1e-6 * fmax(1.0, fabs(b[i])));
            free(a);
            free(b);
        }
        float v[11] = {0.0f, -INFINITY, INFINITY, NAN, -6.0f, -100.0f, 100.0f, 1.0f, -1.0f, 1e-20f, -5.0f};
        vm_gelu_inplace(11, v);
        assert_true(v[0] == 0.0f && v[1] == 0.0f);
        assert_true(isinf(v[2]) && v[2] > 0);
        assert_true(isnan(v[3]));
        assert_true(v[4] == 0.0f && v[5] == 0.0f);
        assert_true(fabs(v[6] - 100.0) <= 1e-4);
        assert_true(fabs(v[7] - 0.8413447460685429) < 1e-6 && fabs(v[8] + 0.15865525393145707) < 1e-6);
        assert_true(fabs(v[9] - 0.5e-20) <= 1e-26);
        assert_true(fabs(v[10] - gelu_d(-5.0)) < 1e-6);
    }
    vm_set_simd_level(-1);
    /* the kernel the encoder calls is this one */
    float g[37], h[37];
    unsigned seed = 5;
    for (int i = 0; i < 37; i++) g[i] = h[i] = 6.0f * frand(&seed);
    gelu_inplace(37, g);
    vm_gelu_inplace(37, h);
    assert_memory_equal(g, h, sizeof g);
}

/* ---- AMANUENSIS_NO_SIMD=1 ------------------------------------------------------------------------ */

static void test_no_simd_env(void **state) {
    (void)state;
    const char *old = getenv("AMANUENSIS_NO_SIMD");
    char *saved = old ? strdup(old) : NULL;
    setenv("AMANUENSIS_NO_SIMD", "1", 1);
    assert_int_equal(vm_set_simd_level(-1), 0);
    assert_int_equal(vm_set_simd_level(2), 0); /* cannot be raised past what the variable allows */
    assert_int_equal(vm_simd_level(), 0);
    float a[29], b[29], c[29], d[29];
    unsigned seed = 3;
    for (int i = 0; i < 29; i++) a[i] = b[i] = c[i] = d[i] = 9.0f * frand(&seed);
    vm_exp_inplace(29, a);
    vm_exp_inplace_ref(29, b);
    assert_memory_equal(a, b, sizeof a); /* the portable code, bit for bit */
    vm_gelu_inplace(29, c);
    vm_gelu_inplace_ref(29, d);
    assert_memory_equal(c, d, sizeof c);
    float e[29], f[29];
    memcpy(e, b, sizeof e);
    memcpy(f, b, sizeof f);
    assert_true(vm_exp_sub_sum(29, e, 2.0f, 0.5f) == vm_exp_sub_sum_ref(29, f, 2.0f, 0.5f));
    assert_memory_equal(e, f, sizeof e);
    if (saved) {
        setenv("AMANUENSIS_NO_SIMD", saved, 1);
        free(saved);
    } else {
        unsetenv("AMANUENSIS_NO_SIMD");
    }
    vm_set_simd_level(-1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp_accuracy),       cmocka_unit_test(test_exp_special),
        cmocka_unit_test(test_exp_tails),          cmocka_unit_test(test_exp_sub_sum),
        cmocka_unit_test(test_max),                cmocka_unit_test(test_gelu_accuracy),
        cmocka_unit_test(test_gelu_tails_special), cmocka_unit_test(test_no_simd_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
