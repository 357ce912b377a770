/* test_attention.c — the vectorised NN GEMM against the portable reference on awkward shapes, and one
 * attention block against softmax(Q Kᵀ·scale) V computed in double precision. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/attention.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static const char *const KERNELS[] = {"avx512", "avx2", "portable"};

/* C = A · B on `kernel` (NULL: gemm_nn_f32's own choice); 0, or -1 when this CPU lacks it */
static int nn_on(const char *kernel, int acc, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float *C, int ldc) {
    if (kernel) return gemm_nn_f32_on(kernel, acc, M, N, K, A, lda, B, ldb, C, ldc);
    (acc ? gemm_nn_f32_acc : gemm_nn_f32)(M, N, K, A, lda, B, ldb, C, ldc);
    return 0;
}

static void check_nn(int M, int N, int K, int pad, const char *kernel) {
    unsigned seed = (unsigned)(M * 7919 + N * 31 + K);
    int lda = K + pad, ldb = N + pad, ldc = N + pad;
    float *A = malloc(sizeof(float) * (size_t)M * lda), *B = malloc(sizeof(float) * (size_t)(K > 0 ? K : 1) * ldb);
    float *C0 = malloc(sizeof(float) * (size_t)M * ldc), *C1 = malloc(sizeof(float) * (size_t)M * ldc);
    for (int i = 0; i < M * lda; i++) A[i] = frand(&seed);
    for (int i = 0; i < K * ldb; i++) B[i] = frand(&seed);
    for (int i = 0; i < M * ldc; i++) C0[i] = C1[i] = 12345.0f; /* padding must stay untouched */
    gemm_nn_f32_ref(M, N, K, A, lda, B, ldb, C0, ldc);
    if (nn_on(kernel, 0, M, N, K, A, lda, B, ldb, C1, ldc) != 0) { /* not on this CPU */
        free(A); free(B); free(C0); free(C1);
        return;
    }
    double num = 0, den = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            double x = C0[(size_t)i * ldc + j], y = C1[(size_t)i * ldc + j];
            if (j >= N) {
                assert_true(y == 12345.0f);
                continue;
            }
            num += (x - y) * (x - y);
            den += x * x;
        }
    assert_true(sqrt(num / (den + 1e-30)) < 1e-5);
    free(A); free(B); free(C0); free(C1);
}

/* gemm_nn_f32_acc: C starts from values of its own, which the product is added to */
static void check_nn_acc(int M, int N, int K, const char *kernel) {
    unsigned seed = (unsigned)(M * 31 + N * 7 + K * 3 + 1);
    int lda = K + 1, ldb = N + 2, ldc = N + 3;
    float *A = malloc(sizeof(float) * (size_t)M * lda), *B = malloc(sizeof(float) * (size_t)(K > 0 ? K : 1) * ldb);
    float *C0 = malloc(sizeof(float) * (size_t)M * ldc), *C1 = malloc(sizeof(float) * (size_t)M * ldc);
    for (int i = 0; i < M * lda; i++) A[i] = frand(&seed);
    for (int i = 0; i < K * ldb; i++) B[i] = frand(&seed);
    gemm_nn_f32_ref(M, N, K, A, lda, B, ldb, C0, ldc);
    for (int i = 0; i < M * ldc; i++) {
        float c = frand(&seed);
        C1[i] = c;
        C0[i] = (i % ldc) < N ? C0[i] + c : c; /* the padding keeps its value */
    }
    if (nn_on(kernel, 1, M, N, K, A, lda, B, ldb, C1, ldc) != 0) {
        free(A); free(B); free(C0); free(C1);
        return;
    }
    double num = 0, den = 0;
    for (int i = 0; i < M * ldc; i++) {
        if (i % ldc >= N) {
            assert_true(C1[i] == C0[i]);
            continue;
        }
        num += ((double)C0[i] - C1[i]) * ((double)C0[i] - C1[i]);
        den += (double)C0[i] * C0[i];
    }
    assert_true(sqrt(num / (den + 1e-30)) < 1e-5);
    free(A); free(B); free(C0); free(C1);
}

/* gemm_nn_f32_packed: B packed in panels of 32 columns (a partial last panel), rows in blocks */
static void check_nn_packed(int M, int N, int K) {
    unsigned seed = (unsigned)(M * 13 + N * 5 + K);
    int lda = K + 2, ldb = N + 1, ldc = N + 3;
    float *A = malloc(sizeof(float) * (size_t)M * lda), *B = malloc(sizeof(float) * (size_t)(K > 0 ? K : 1) * ldb);
    float *Bp = malloc(sizeof(float) * (gemm_nn_packed_size(K, N) + 1));
    float *C0 = malloc(sizeof(float) * (size_t)M * ldc), *C1 = malloc(sizeof(float) * (size_t)M * ldc);
    for (int i = 0; i < M * lda; i++) A[i] = frand(&seed);
    for (int i = 0; i < K * ldb; i++) B[i] = frand(&seed);
    for (int i = 0; i < M * ldc; i++) C0[i] = C1[i] = 777.0f;
    gemm_nn_pack(K, N, B, ldb, Bp);
    gemm_nn_f32_ref(M, N, K, A, lda, B, ldb, C0, ldc);
    gemm_nn_f32_packed(M, N, K, A, lda, Bp, C1, ldc);
    double num = 0, den = 0;
    for (int i = 0; i < M * ldc; i++) {
        if (i % ldc >= N) {
            assert_true(C1[i] == 777.0f);
            continue;
        }
        num += ((double)C0[i] - C1[i]) * ((double)C0[i] - C1[i]);
        den += (double)C0[i] * C0[i];
    }
    assert_true(sqrt(num / (den + 1e-30)) < 1e-5);
    free(A); free(B); free(Bp); free(C0); free(C1);
}

static void test_gemm_nn_shapes(void **state) {
    (void)state;
    int shapes[][3] = {{1, 1, 1},  {1, 7, 3},    {1, 64, 1500}, {3, 5, 9},     {4, 16, 8},   {5, 13, 17},
                       {6, 31, 2}, {7, 33, 65},  {8, 32, 64},   {9, 17, 64},   {17, 48, 33}, {64, 1500, 64},
                       {64, 64, 1500}, {28, 1500, 64}, {2, 100, 0}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_nn(shapes[i][0], shapes[i][1], shapes[i][2], 0, NULL);
        check_nn(shapes[i][0], shapes[i][1], shapes[i][2], 3, NULL);
        check_nn_acc(shapes[i][0], shapes[i][1], shapes[i][2], NULL);
        check_nn_packed(shapes[i][0], shapes[i][1], shapes[i][2]);
        for (int k = 0; k < 3; k++) { /* every kernel this CPU has, not only the best */
            check_nn(shapes[i][0], shapes[i][1], shapes[i][2], 3, KERNELS[k]);
            check_nn_acc(shapes[i][0], shapes[i][1], shapes[i][2], KERNELS[k]);
        }
    }
    for (int k = 0; k < 3; k++) {
        float x = 1.0f, y = 0.0f;
        int rc = gemm_nn_f32_on(KERNELS[k], 0, 1, 1, 1, &x, 1, &x, 1, &y, 1);
        print_message("gemm_nn kernel %s: %s\n", KERNELS[k], rc == 0 ? "tested" : "not on this CPU");
        assert_true(rc == 0 ? y == 1.0f : strcmp(KERNELS[k], "portable") != 0); /* portable is always there */
    }
    check_nn_packed(130, 512, 60); /* the LSTM's input product: several row blocks and panels */
    check_nn_packed(65, 60, 33);
}

static void test_transpose(void **state) {
    (void)state;
    int rows = 19, cols = 11, lds = 13 + cols, ldd = rows + 2;
    float *src = malloc(sizeof(float) * rows * lds), *dst = calloc((size_t)cols * ldd, sizeof(float));
    for (int i = 0; i < rows * lds; i++) src[i] = (float)i;
    transpose_f32(rows, cols, src, lds, dst, ldd);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) assert_true(dst[c * ldd + r] == src[r * lds + c]);
    free(src); free(dst);
}

static void check_block(int rows, int n_keys, int dh) {
    unsigned seed = (unsigned)(rows * 131 + n_keys * 7 + dh);
    const float scale = 1.0f / sqrtf((float)dh);
    float *Q = malloc(sizeof(float) * rows * dh), *K = malloc(sizeof(float) * n_keys * dh);
    float *KT = malloc(sizeof(float) * n_keys * dh), *V = malloc(sizeof(float) * n_keys * dh);
    float *S = malloc(sizeof(float) * rows * n_keys), *O = malloc(sizeof(float) * rows * dh);
    float *raw = malloc(sizeof(float) * rows * n_keys);
    double *p = malloc(sizeof(double) * n_keys);
    for (int i = 0; i < rows * dh; i++) Q[i] = 3.0f * frand(&seed);
    for (int i = 0; i < n_keys * dh; i++) K[i] = 3.0f * frand(&seed);
    for (int i = 0; i < n_keys * dh; i++) V[i] = frand(&seed);
    transpose_f32(n_keys, dh, K, dh, KT, n_keys);
    attention_block(rows, n_keys, dh, scale, Q, dh, KT, n_keys, V, dh, S, n_keys, O, dh, raw);
    double num = 0, den = 0;
    for (int r = 0; r < rows; r++) {
        double mx = -1e300, sum = 0;
        for (int t = 0; t < n_keys; t++) {
            double s = 0;
            for (int e = 0; e < dh; e++) s += (double)Q[r * dh + e] * K[t * dh + e];
            s *= scale;
            assert_true(fabs(raw[r * n_keys + t] - s) <= 1e-4 * (1 + fabs(s)));
            p[t] = s;
            mx = s > mx ? s : mx;
        }
        for (int t = 0; t < n_keys; t++) sum += (p[t] = exp(p[t] - mx));
        for (int e = 0; e < dh; e++) {
            double o = 0;
            for (int t = 0; t < n_keys; t++) o += p[t] / sum * V[t * dh + e];
            num += (o - O[r * dh + e]) * (o - O[r * dh + e]);
            den += o * o;
        }
    }
    assert_true(sqrt(num / den) < 1e-5);
    free(Q); free(K); free(KT); free(V); free(S); free(O); free(raw); free(p);
}

static void test_attention_block(void **state) {
    (void)state;
    check_block(1, 1, 64);
    check_block(1, 37, 64);
    check_block(5, 1500, 64);
    check_block(64, 1500, 64);
    check_block(13, 448, 64);
    check_block(3, 100, 80);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_nn_shapes),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_attention_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
