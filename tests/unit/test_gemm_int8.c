/* test_gemm_int8.c — the int8 GEMM kernels (portable packed, AVX2, AVX-512 VNNI) against the plain
 * reference bit for bit (int32 sums and final floats), quantisation SIMD vs scalar bit for bit, and
 * the W8A8 result against float32 (relative error ≤ 1e-2) on awkward shapes: odd sizes, one row,
 * K not a multiple of 4, N not a multiple of 16. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm_int8.h"
#include "backend/cpu/kernels.h"
#include "model/model.h"
#include "backend/cpu/threadpool.h"

static unsigned lcg(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static float frand(unsigned *s) { return (float)(lcg(s) & 0xffff) / 32768.0f - 1.0f; }

/* gaussian-ish activations with a few outliers, as real layer inputs have */
static float arand(unsigned *s) {
    float v = frand(s) + frand(s) + frand(s);
    if ((lcg(s) & 63) == 0) v *= 6.0f;
    return v;
}

typedef struct qmat {
    int8_t *rows;  /* [n][k] row-major */
    int8_t *packed;
    float *scale;
    int32_t *sum;
    am_i8w view;
} qmat;

static void qmat_make(qmat *m, int n, int k, const float *w) {
    m->rows = malloc((size_t)n * k + 1);
    m->packed = malloc(gemm_i8_packed_size(n, k));
    m->scale = malloc(sizeof(float) * (size_t)n);
    m->sum = malloc(sizeof(int32_t) * (size_t)n);
    model_quantize_rows(n, k, w, k, m->rows, k, m->scale); /* the model's weight rule */
    gemm_i8_pack(n, k, m->rows, k, m->packed, m->sum);
    m->view = (am_i8w){m->packed, m->scale, m->sum, n, k};
}

static void qmat_free(qmat *m) {
    free(m->rows); free(m->packed); free(m->scale); free(m->sum);
}

static const int shapes[][3] = {{1, 1, 1},    {1, 7, 3},     {1, 51, 384},   {1, 1000, 384}, {2, 17, 5},
                                {3, 5, 9},    {4, 16, 8},    {5, 13, 17},    {7, 33, 65},    {8, 32, 64},
                                {9, 48, 100}, {17, 33, 65},  {64, 64, 384},  {65, 129, 100}, {130, 70, 1536},
                                {33, 300, 1152}, {100, 257, 7}};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* int32 sums: every available path equals the reference exactly, on random int8 including -128. */
static void test_s32_bit_exact(void **state) {
    (void)state;
    for (size_t si = 0; si < N_SHAPES; si++) {
        int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
        unsigned seed = (unsigned)(M * 131 + N * 7 + K);
        int8_t *A = malloc((size_t)M * K), *W = malloc((size_t)N * K);
        for (int i = 0; i < M * K; i++) {
            A[i] = (int8_t)((int)(lcg(&seed) % 255) - 127); /* activations are in [-127, 127] */
        }
        for (int i = 0; i < N * K; i++) W[i] = (int8_t)(lcg(&seed) & 0xff); /* any byte, -128 included */
        /* extremes: full-scale rows */
        for (int k = 0; k < K; k++) { A[k] = 127; W[k] = -127; }
        int8_t *packed = malloc(gemm_i8_packed_size(N, K));
        int32_t *sum = malloc(sizeof(int32_t) * (size_t)N);
        float *scale = calloc((size_t)N, sizeof(float));
        gemm_i8_pack(N, K, W, K, packed, sum);
        am_i8w view = {packed, scale, sum, N, K};
        int32_t *C0 = malloc(sizeof(int32_t) * (size_t)M * N), *C1 = malloc(sizeof(int32_t) * (size_t)M * N);
        gemm_i8_s32_ref(M, N, K, A, K, W, K, C0, N);
        for (int path = AM_I8_PATH_PORTABLE; path <= AM_I8_PATH_VNNI; path++) {
            if (!gemm_i8_path_available(path)) {
                if (si == 0) printf("  path %s not available on this CPU: skipped\n", gemm_i8_path_name(path));
                continue;
            }
            memset(C1, 0x55, sizeof(int32_t) * (size_t)M * N);
            assert_int_equal(gemm_i8_s32(path, M, N, K, A, K, &view, C1, N), 0);
            for (int i = 0; i < M * N; i++)
                if (C0[i] != C1[i]) {
                    printf("path %s shape %dx%dx%d: C[%d] = %d, reference %d\n", gemm_i8_path_name(path), M, N, K,
                           i, C1[i], C0[i]);
                    fail();
                }
        }
        free(A); free(W); free(packed); free(sum); free(scale); free(C0); free(C1);
    }
}

/* Activation quantisation: the SIMD version writes the same bytes and scales as the scalar one. */
static void test_quantize_rows_exact(void **state) {
    (void)state;
    int ks[] = {1, 3, 31, 32, 33, 100, 384, 1537};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int K = ks[t], M = 5, kp = gemm_i8_kpad(K);
        unsigned seed = (unsigned)K;
        float *A = malloc(sizeof(float) * (size_t)M * K);
        for (int i = 0; i < M * K; i++) A[i] = arand(&seed);
        for (int k = 0; k < K; k++) A[(size_t)2 * K + k] = 0.0f; /* an all-zero row */
        A[(size_t)3 * K] = 1e-30f;                               /* a tiny one */
        for (int off = 0; off <= 1; off++) {
            int8_t *q0 = malloc((size_t)M * kp), *q1 = malloc((size_t)M * kp);
            float s0[5], s1[5];
            gemm_i8_quantize_rows_ref(M, K, A, K, q0, kp, s0, off);
            gemm_i8_quantize_rows(M, K, A, K, q1, kp, s1, off);
            assert_memory_equal(q0, q1, (size_t)M * kp);
            assert_memory_equal(s0, s1, sizeof s0);
            if (!off) { /* weights (model_quantize_rows, at load) follow the activations' rule byte for byte */
                int8_t *qw = malloc((size_t)M * kp);
                float sw[5];
                memset(qw, 0, (size_t)M * kp);
                model_quantize_rows(M, K, A, K, qw, kp, sw);
                assert_memory_equal(q0, qw, (size_t)M * kp);
                assert_memory_equal(s0, sw, sizeof sw);
                free(qw);
            }
            for (int i = 0; i < M * kp; i++) {
                int v = off ? (int)(uint8_t)q0[i] - 128 : q0[i];
                assert_true(v >= -127 && v <= 127);
            }
            free(q0); free(q1);
        }
        free(A);
    }
}

/* The float driver: every path bit-identical to the portable one (threaded or not), and within
 * 1e-2 relative (Frobenius) of float32. */
static void test_float_driver(void **state) {
    (void)state;
    am_pool *pool = am_pool_create(3);
    for (size_t si = 0; si < N_SHAPES; si++) {
        int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
        unsigned seed = (unsigned)(M * 17 + N * 3 + K * 5);
        float *A = malloc(sizeof(float) * (size_t)M * K), *W = malloc(sizeof(float) * (size_t)N * K);
        float *bias = malloc(sizeof(float) * (size_t)N);
        /* uniform random data for the accuracy bound; the bit-exactness checks below would hold for any */
        for (int i = 0; i < M * K; i++) A[i] = frand(&seed);
        for (int i = 0; i < N * K; i++) W[i] = 0.05f * frand(&seed);
        for (int i = 0; i < N; i++) bias[i] = 0.1f * frand(&seed);
        qmat q;
        qmat_make(&q, N, K, W);
        float *Cf = malloc(sizeof(float) * (size_t)M * N), *C0 = malloc(sizeof(float) * (size_t)M * N);
        float *C1 = malloc(sizeof(float) * (size_t)M * N);
        gemm_f32_ref(M, N, K, A, K, W, K, bias, Cf, N);
        am_i8_scratch scr = {0};
        assert_int_equal(gemm_i8(NULL, AM_I8_PATH_PORTABLE, M, N, K, A, K, &q.view, bias, C0, N, &scr), 0);
        double num = 0, den = 0;
        for (int i = 0; i < M * N; i++) {
            num += (double)(C0[i] - Cf[i]) * (C0[i] - Cf[i]);
            den += (double)Cf[i] * Cf[i];
        }
        double rel = sqrt(num / (den + 1e-30));
        if (rel > 1e-2) printf("shape %dx%dx%d: relative error %.3g\n", M, N, K, rel);
        assert_true(rel <= 1e-2);
        /* C0: portable with bias; Cf (reused): portable without bias */
        assert_int_equal(gemm_i8(NULL, AM_I8_PATH_PORTABLE, M, N, K, A, K, &q.view, NULL, Cf, N, &scr), 0);
        for (int path = AM_I8_PATH_PORTABLE; path <= AM_I8_PATH_VNNI; path++) {
            if (!gemm_i8_path_available(path)) continue;
            for (int threaded = 0; threaded <= 1; threaded++)
                for (int b = 0; b <= 1; b++) {
                    memset(C1, 0, sizeof(float) * (size_t)M * N);
                    assert_int_equal(gemm_i8(threaded ? pool : NULL, path, M, N, K, A, K, &q.view, b ? bias : NULL,
                                             C1, N, &scr), 0);
                    if (memcmp(C1, b ? C0 : Cf, sizeof(float) * (size_t)M * N) != 0) {
                        printf("path %s threaded %d bias %d shape %dx%dx%d differs from portable\n",
                               gemm_i8_path_name(path), threaded, b, M, N, K);
                        fail();
                    }
                }
        }
        gemm_i8_scratch_free(&scr);
        qmat_free(&q);
        free(A); free(W); free(bias); free(Cf); free(C0); free(C1);
    }
    am_pool_destroy(pool);
}

/* Strided output (ldc > N) leaves the gap untouched; unpack_row dequantises a packed row. */
static void test_strides_and_unpack(void **state) {
    (void)state;
    int M = 3, N = 21, K = 11, ldc = 40;
    unsigned seed = 99;
    float A[3 * 11], W[21 * 11], C[3 * 40];
    for (int i = 0; i < M * K; i++) A[i] = arand(&seed);
    for (int i = 0; i < N * K; i++) W[i] = frand(&seed);
    for (int i = 0; i < M * ldc; i++) C[i] = 1234.0f;
    qmat q;
    qmat_make(&q, N, K, W);
    am_i8_scratch scr = {0};
    assert_int_equal(gemm_i8(NULL, gemm_i8_best_path(), M, N, K, A, K, &q.view, NULL, C, ldc, &scr), 0);
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++) assert_true(C[i * ldc + j] == 1234.0f);
    float row[11];
    for (int j = 0; j < N; j++) {
        gemm_i8_unpack_row(&q.view, j, row);
        for (int k = 0; k < K; k++) {
            assert_true(row[k] == (float)q.rows[j * K + k] * q.scale[j]);
            assert_true(fabsf(row[k] - W[j * K + k]) <= q.scale[j] * 0.5f + 1e-6f);
        }
    }
    gemm_i8_scratch_free(&scr);
    qmat_free(&q);
}

int main(void) {
    printf("int8 GEMM best path here: %s\n", gemm_i8_path_name(gemm_i8_best_path()));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s32_bit_exact),
        cmocka_unit_test(test_quantize_rows_exact),
        cmocka_unit_test(test_float_driver),
        cmocka_unit_test(test_strides_and_unpack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
