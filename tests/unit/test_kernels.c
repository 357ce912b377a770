/* test_kernels.c — the vectorised GEMM and the threaded driver against the portable reference,
 * on awkward shapes (odd sizes, one row, K not a multiple of 8). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/threadpool.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void check_shape(am_pool *pool, int M, int N, int K, int with_bias) {
    unsigned seed = (unsigned)(M * 7919 + N * 31 + K);
    float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)N * K);
    float *bias = malloc(sizeof(float) * (size_t)N);
    float *C0 = malloc(sizeof(float) * (size_t)M * N), *C1 = malloc(sizeof(float) * (size_t)M * N);
    float *C2 = malloc(sizeof(float) * (size_t)M * N);
    for (int i = 0; i < M * K; i++) A[i] = frand(&seed);
    for (int i = 0; i < N * K; i++) B[i] = frand(&seed);
    for (int i = 0; i < N; i++) bias[i] = frand(&seed);
    const float *b = with_bias ? bias : NULL;
    gemm_f32_ref(M, N, K, A, K, B, K, b, C0, N);
    gemm_f32_serial(M, N, K, A, K, B, K, b, C1, N);
    gemm_f32(pool, M, N, K, A, K, B, K, b, C2, N);
    double num = 0, den = 0;
    for (int i = 0; i < M * N; i++) {
        num += (double)(C1[i] - C0[i]) * (C1[i] - C0[i]);
        den += (double)C0[i] * C0[i];
        assert_true(C2[i] == C1[i]); /* threading never changes a result */
    }
    assert_true(sqrt(num / (den + 1e-30)) < 1e-5);
    free(A); free(B); free(bias); free(C0); free(C1); free(C2);
}

static void test_gemm_shapes(void **state) {
    (void)state;
    am_pool *pool = am_pool_create(3);
    int shapes[][3] = {{1, 1, 1}, {1, 7, 3}, {1, 51, 384}, {3, 5, 9}, {4, 4, 8}, {5, 13, 17},
                       {17, 33, 65}, {64, 64, 384}, {65, 129, 100}, {130, 70, 1536}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_shape(pool, shapes[i][0], shapes[i][1], shapes[i][2], 1);
        check_shape(pool, shapes[i][0], shapes[i][1], shapes[i][2], 0);
    }
    am_pool_destroy(pool);
}

static void test_softmax_layernorm(void **state) {
    (void)state;
    float x[5] = {1, 2, 3, 4, 5};
    softmax_inplace(5, x);
    float s = 0;
    for (int i = 0; i < 5; i++) s += x[i];
    assert_true(fabsf(s - 1.0f) < 1e-6f);
    assert_true(x[4] > x[3]);
    float m[3] = {-INFINITY, -INFINITY, -INFINITY};
    softmax_inplace(3, m);
    assert_false(isnan(m[0]));
    float y[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1}, bt[4] = {0, 0, 0, 0};
    layer_norm(1, 4, y, g, bt, y);
    assert_true(fabsf(y[0] + y[3]) < 1e-6f && fabsf(y[1] + y[2]) < 1e-6f);
    assert_true(fabsf(y[3] - 1.3416355f) < 1e-4f);
    float gx[3] = {0.0f, 1.0f, -1.0f};
    gelu_inplace(3, gx);
    assert_true(fabsf(gx[1] - 0.8413447f) < 1e-6f && fabsf(gx[2] + 0.1586553f) < 1e-6f);
}

static void count_task(void *ctx, int task, int thread) {
    (void)thread;
    int *hits = ctx;
    __atomic_add_fetch(&hits[task], 1, __ATOMIC_RELAXED);
}

static void test_pool_runs_every_task_once(void **state) {
    (void)state;
    am_pool *pool = am_pool_create(4);
    int hits[1000] = {0};
    for (int r = 0; r < 50; r++) am_pool_run(pool, 1000, count_task, hits);
    for (int i = 0; i < 1000; i++) assert_int_equal(hits[i], 50);
    am_pool_destroy(pool);
}

static void thread_task(void *ctx, int task, int thread) {
    int *who = ctx;
    __atomic_store_n(&who[task], thread + 1, __ATOMIC_RELAXED);
}

/* am_pool_run_deferred: until join is set the workers alone run the tasks (the caller, thread 0,
 * waits); once it is set the caller takes part; every task runs once either way.  The workers at
 * idle priority (am_pool_set_background) still run everything. */
static void test_pool_deferred(void **state) {
    (void)state;
    am_pool *pool = am_pool_create(3);
#ifdef __linux__
    assert_int_equal(am_pool_set_background(pool), 0);
#endif
    atomic_int join;
    atomic_init(&join, 0);
    int who[300] = {0};
    am_pool_run_deferred(pool, 300, thread_task, who, &join);
    for (int i = 0; i < 300; i++) assert_true(who[i] == 2 || who[i] == 3);
    atomic_store(&join, 1);
    int hits[1000] = {0};
    for (int r = 0; r < 20; r++) am_pool_run_deferred(pool, 1000, count_task, hits, &join);
    for (int i = 0; i < 1000; i++) assert_int_equal(hits[i], 20);
    am_pool_run_deferred(pool, 1, count_task, hits, &join); /* one task: still run once */
    assert_int_equal(hits[0], 21);
    am_pool_destroy(pool);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_shapes),
        cmocka_unit_test(test_softmax_layernorm),
        cmocka_unit_test(test_pool_runs_every_task_once),
        cmocka_unit_test(test_pool_deferred),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
