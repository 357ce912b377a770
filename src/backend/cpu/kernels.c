/* kernels.c — float32 kernels of the CPU backend (see kernels.h). */
#include "backend/cpu/kernels.h"
#include "backend/cpu/vmath.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AM_X86 1
#endif

/* ---- reference GEMM ------------------------------------------------------------------------ */

void gemm_f32_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
                  float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) s += A[(size_t)i * lda + k] * B[(size_t)j * ldb + k];
            C[(size_t)i * ldc + j] = s + (bias ? bias[j] : 0.0f);
        }
}

/* ---- AVX2/FMA micro-kernels (dot-product form: A and B rows are both contiguous in K) ------ */
#ifdef AM_X86
__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* 4 rows of A × 4 rows of B */
__attribute__((target("avx2,fma"))) static void kernel_4x4(int K, const float *A, int lda, const float *B, int ldb,
                                                            float out[4][4]) {
    __m256 c[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) c[i][j] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 b0 = _mm256_loadu_ps(B + k), b1 = _mm256_loadu_ps(B + ldb + k);
        __m256 b2 = _mm256_loadu_ps(B + 2 * (size_t)ldb + k), b3 = _mm256_loadu_ps(B + 3 * (size_t)ldb + k);
        for (int i = 0; i < 4; i++) {
            __m256 a = _mm256_loadu_ps(A + (size_t)i * lda + k);
            c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);
            c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);
            c[i][2] = _mm256_fmadd_ps(a, b2, c[i][2]);
            c[i][3] = _mm256_fmadd_ps(a, b3, c[i][3]);
        }
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            float s = hsum256(c[i][j]);
            for (int kk = k; kk < K; kk++) s += A[(size_t)i * lda + kk] * B[(size_t)j * ldb + kk];
            out[i][j] = s;
        }
}

/* 1 row of A × 4 rows of B */
__attribute__((target("avx2,fma"))) static void kernel_1x4(int K, const float *A, const float *B, int ldb,
                                                            float out[4]) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 a = _mm256_loadu_ps(A + k);
        c0 = _mm256_fmadd_ps(a, _mm256_loadu_ps(B + k), c0);
        c1 = _mm256_fmadd_ps(a, _mm256_loadu_ps(B + ldb + k), c1);
        c2 = _mm256_fmadd_ps(a, _mm256_loadu_ps(B + 2 * (size_t)ldb + k), c2);
        c3 = _mm256_fmadd_ps(a, _mm256_loadu_ps(B + 3 * (size_t)ldb + k), c3);
    }
    __m256 c[4] = {c0, c1, c2, c3};
    for (int j = 0; j < 4; j++) {
        float s = hsum256(c[j]);
        for (int kk = k; kk < K; kk++) s += A[kk] * B[(size_t)j * ldb + kk];
        out[j] = s;
    }
}

/* 1 row × 1 row */
__attribute__((target("avx2,fma"))) static float kernel_dot(int K, const float *a, const float *b) {
    __m256 c = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) c = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), c);
    float s = hsum256(c);
    for (; k < K; k++) s += a[k] * b[k];
    return s;
}

__attribute__((target("avx2,fma"))) static void gemm_avx2(int M, int N, int K, const float *A, int lda,
                                                           const float *B, int ldb, const float *bias, float *C,
                                                           int ldc) {
    int i = 0;
    for (; i + 4 <= M; i += 4) {
        int j = 0;
        for (; j + 4 <= N; j += 4) {
            float o[4][4];
            kernel_4x4(K, A + (size_t)i * lda, lda, B + (size_t)j * ldb, ldb, o);
            for (int ii = 0; ii < 4; ii++)
                for (int jj = 0; jj < 4; jj++)
                    C[(size_t)(i + ii) * ldc + j + jj] = o[ii][jj] + (bias ? bias[j + jj] : 0.0f);
        }
        for (; j < N; j++)
            for (int ii = 0; ii < 4; ii++)
                C[(size_t)(i + ii) * ldc + j] =
                    kernel_dot(K, A + (size_t)(i + ii) * lda, B + (size_t)j * ldb) + (bias ? bias[j] : 0.0f);
    }
    for (; i < M; i++) {
        int j = 0;
        for (; j + 4 <= N; j += 4) {
            float o[4];
            kernel_1x4(K, A + (size_t)i * lda, B + (size_t)j * ldb, ldb, o);
            for (int jj = 0; jj < 4; jj++) C[(size_t)i * ldc + j + jj] = o[jj] + (bias ? bias[j + jj] : 0.0f);
        }
        for (; j < N; j++)
            C[(size_t)i * ldc + j] = kernel_dot(K, A + (size_t)i * lda, B + (size_t)j * ldb) + (bias ? bias[j] : 0.0f);
    }
}
#endif

int kernels_have_avx2(void) {
#ifdef AM_X86
    const char *off = getenv("AMANUENSIS_NO_SIMD");
    if (off && off[0] == '1') return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* Portable blocked version: 4 output columns at a time, plain C the compiler can vectorise. */
static void gemm_portable(int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
                          float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        for (int j = 0; j < N; j++) {
            const float *b = B + (size_t)j * ldb;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            int k = 0;
            for (; k + 4 <= K; k += 4) {
                s0 += a[k] * b[k];
                s1 += a[k + 1] * b[k + 1];
                s2 += a[k + 2] * b[k + 2];
                s3 += a[k + 3] * b[k + 3];
            }
            for (; k < K; k++) s0 += a[k] * b[k];
            C[(size_t)i * ldc + j] = (s0 + s1) + (s2 + s3) + (bias ? bias[j] : 0.0f);
        }
    }
}

void gemm_f32_serial(int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
                     float *C, int ldc) {
#ifdef AM_X86
    static atomic_int have = -1; /* a CPU property, the same for every caller: cached once */
    int h = atomic_load(&have);
    if (h < 0) {
        h = kernels_have_avx2();
        atomic_store(&have, h);
    }
    if (h) { gemm_avx2(M, N, K, A, lda, B, ldb, bias, C, ldc); return; }
#endif
    gemm_portable(M, N, K, A, lda, B, ldb, bias, C, ldc);
}

/* ---- threaded driver ------------------------------------------------------------------------ */

typedef struct gemm_job {
    int M, N, K, lda, ldb, ldc, mb, nb, tiles_n;
    const float *A, *B, *bias;
    float *C;
} gemm_job;

static void gemm_tile(void *ctx, int task, int thread) {
    (void)thread;
    const gemm_job *g = ctx;
    int ti = task / g->tiles_n, tj = task % g->tiles_n;
    int i0 = ti * g->mb, j0 = tj * g->nb;
    int m = g->M - i0 < g->mb ? g->M - i0 : g->mb;
    int n = g->N - j0 < g->nb ? g->N - j0 : g->nb;
    gemm_f32_serial(m, n, g->K, g->A + (size_t)i0 * g->lda, g->lda, g->B + (size_t)j0 * g->ldb, g->ldb,
                    g->bias ? g->bias + j0 : NULL, g->C + (size_t)i0 * g->ldc + j0, g->ldc);
}

void gemm_f32(am_pool *pool, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
              const float *bias, float *C, int ldc) {
    gemm_job g = {M, N, K, lda, ldb, ldc, 0, 0, 0, A, B, bias, C};
    /* Tiles of 64 rows × 64 columns keep a block of A and one of B (64·K floats each, 96 KiB at
     * K = 384) in L2.  With few rows (decoding) split the columns only, in larger pieces. */
    g.mb = M > 16 ? 64 : M;
    g.nb = M > 16 ? 64 : 256;
    int tiles_m = (M + g.mb - 1) / g.mb;
    g.tiles_n = (N + g.nb - 1) / g.nb;
    am_pool_run(pool, tiles_m * g.tiles_n, gemm_tile, &g);
}

/* ---- element-wise and row kernels ---------------------------------------------------------- */

void layer_norm(int n, int d, const float *x, const float *gamma, const float *beta, float *y) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *yi = y + (size_t)i * d;
        double mean = 0.0, var = 0.0;
        for (int j = 0; j < d; j++) mean += xi[j];
        mean /= d;
        for (int j = 0; j < d; j++) {
            double t = xi[j] - mean;
            var += t * t;
        }
        var /= d;
        float inv = (float)(1.0 / sqrt(var + 1e-5));
        float m = (float)mean;
        for (int j = 0; j < d; j++) yi[j] = (xi[j] - m) * inv * gamma[j] + beta[j];
    }
}

void gelu_inplace(size_t n, float *x) {
    vm_gelu_inplace(n, x); /* erf by a rational fit, vectorised: |error| <= 1e-6 * max(1, |x|) */
}

void softmax_scaled_inplace(int n, float *x, float scale) {
    float mx = vm_max(n, x);
    if (mx == -INFINITY) { /* everything masked: uniform is as good as anything, avoid NaN */
        for (int i = 0; i < n; i++) x[i] = 1.0f / (float)n;
        return;
    }
    /* softmax(x·scale) = exp((x − max x)·scale) / Σ, scale > 0 */
    float inv = 1.0f / vm_exp_sub_sum(n, x, mx, scale);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void softmax_inplace(int n, float *x) { softmax_scaled_inplace(n, x, 1.0f); }

void add_inplace(size_t n, float *y, const float *x) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}
