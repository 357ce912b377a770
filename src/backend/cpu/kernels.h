/* kernels.h — the float32 compute kernels of the CPU backend.
 * Every kernel has a portable C reference; gemm has an AVX2/FMA version chosen at run time and
 * tested against the reference (tests/unit/test_kernels.c). */
#ifndef AM_KERNELS_H
#define AM_KERNELS_H

#include <stddef.h>

#include "backend/cpu/threadpool.h"

/* C[M][N] = A[M][K] · B[N][K]ᵀ (+ bias[N] if bias != NULL).  Row strides lda, ldb, ldc. */
void gemm_f32_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
                  float *C, int ldc);
/* The same, cache-tiled and vectorised (AVX2/FMA when the CPU has it), on one thread. */
void gemm_f32_serial(int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias,
                     float *C, int ldc);
/* The same, split into tiles over the pool's threads. */
void gemm_f32(am_pool *pool, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
              const float *bias, float *C, int ldc);

/* 1 when the AVX2/FMA path is in use (CPU support, not disabled by AMANUENSIS_NO_SIMD=1). */
int kernels_have_avx2(void);

/* y[n][d] = LayerNorm(x[n][d]) · gamma + beta, eps 1e-5 (x and y may alias). */
void layer_norm(int n, int d, const float *x, const float *gamma, const float *beta, float *y);
/* x = GELU(x) with the exact erf form. */
void gelu_inplace(size_t n, float *x);
/* x[0..n) = softmax(x[0..n)) in place; the scaled form is softmax(x · scale), scale > 0.
 * Vectorised (vmath.h), sums in float. */
void softmax_inplace(int n, float *x);
void softmax_scaled_inplace(int n, float *x, float scale);
/* y += x */
void add_inplace(size_t n, float *y, const float *x);

#endif
