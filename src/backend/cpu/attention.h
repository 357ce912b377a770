/* attention.h — the float32 kernels of scaled dot-product attention on the CPU.
 *
 * Attention multiplies activations by activations (Q·Kᵀ, then P·V), so it has no weights to
 * quantise: it stays float32 in both precisions.  Both products are written in "NN" form,
 * C = A · B with B row-major [K][N], which is the layout a vector unit wants (broadcast one A
 * element, multiply a contiguous row of B).  For Q·Kᵀ that needs Kᵀ, [dh][T] per head, which the
 * encoder builds once per layer and the decoder once per window (cross-attention).  P·V reads V
 * [T][dh] as it is.  The portable C version is the reference; the AVX2 and AVX-512 versions are
 * tested against it (tests/unit/test_attention.c). */
#ifndef AM_ATTENTION_H
#define AM_ATTENTION_H

#include <stddef.h>

/* C[M][N] = A[M][K] · B[K][N].  Row strides lda, ldb, ldc (in floats). */
void gemm_nn_f32_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
/* The same, register-blocked and vectorised (AVX-512 or AVX2/FMA, chosen at run time; portable
 * otherwise or with AMANUENSIS_NO_SIMD=1), on the calling thread. */
void gemm_nn_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);
/* C[M][N] += A[M][K] · B[K][N], the same kernels (a convolution's taps summed in place). */
void gemm_nn_f32_acc(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc);

/* C[M][N] = A[M][K] · B[K][N] with B packed by gemm_nn_pack into panels of 32 columns,
 * [ceil(N / 32)][K][32] (gemm_nn_packed_size floats; missing columns 0), for a constant B such as
 * a layer's weights: the kernels then read B's rows contiguously (in a plain B whose row stride is
 * a large power of two, e.g. 512 floats, a panel's rows fall on a few cache sets and are evicted),
 * and A's rows go in blocks of 64 through every panel while they are in cache.  The same kernels
 * as gemm_nn_f32 (tests/unit/test_attention.c). */
size_t gemm_nn_packed_size(int K, int N);
void gemm_nn_pack(int K, int N, const float *B, int ldb, float *Bp);
void gemm_nn_f32_packed(int M, int N, int K, const float *A, int lda, const float *Bp, float *C, int ldc);

/* gemm_nn_f32 (acc 0) or gemm_nn_f32_acc (acc 1) on the kernel named ("avx512", "avx2",
 * "portable") instead of the best one, for the tests of each.  Returns 0, or -1 when this CPU
 * lacks it (or the name is unknown). */
int gemm_nn_f32_on(const char *kernel, int acc, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                   float *C, int ldc);

/* Name of the kernel gemm_nn_f32 uses: "avx512", "avx2" or "portable". */
const char *gemm_nn_f32_path(void);

/* dst[c][t] = src[t][c] for t < rows, c < cols (src row stride lds, dst row stride ldd). */
void transpose_f32(int rows, int cols, const float *src, int lds, float *dst, int ldd);

/* One block of attention rows for one head, in place of the naive three loops:
 *   S = Q · Kᵀ  (Q [rows][dh] stride ldq, Kᵀ [dh][n_keys] stride ldkt)
 *   P = softmax(S · scale) row by row   (the scaled scores are copied to raw_out first when not NULL,
 *                                         [rows][n_keys], for word alignment)
 *   O = P · V   (V [n_keys][dh] stride ldv, O [rows][dh] stride ldo)
 * S is scratch of rows × n_keys floats (stride lds ≥ n_keys). */
void attention_block(int rows, int n_keys, int dh, float scale, const float *Q, int ldq, const float *KT, int ldkt,
                     const float *V, int ldv, float *S, int lds, float *O, int ldo, float *raw_out);

#endif
