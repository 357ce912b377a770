/* gemm_int8.h — W8A8 int8 GEMM of the CPU backend: int8 × int8 → int32, per-output-channel weight
 * scales, per-row activation scales computed at run time.
 *
 *   y[i][j] = (float)acc[i][j] · (sa[i] · sw[j]) + bias[j],   acc[i][j] = Σ_k qa[i][k] · qw[j][k]   (int32, exact)
 *
 * Quantisation (symmetric, no zero point): a row x is mapped to q = round_half_even(x · 127 / max|x|),
 * q ∈ [-127, 127], scale = max|x| / 127 (0 for an all-zero row).  Weights use the same rule per output
 * row (or keep CTranslate2's int8 values, clamped to [-127, 127]).  |acc| ≤ 127² · K, exact in int32
 * for K < 133 000.
 *
 * Packed weight layout (what am_linear.wq holds): panels of 16 output rows; inside a panel, groups of
 * 4 consecutive k: byte ((p · KP/4 + g) · 16 + c) · 4 + r = w[16p + c][4g + r], KP = K rounded up to 4,
 * N rounded up to 16, zero padding.  One 64-byte group is one zmm (16 int32 lanes × 4 bytes), the
 * operand shape of vpdpbusd, and two ymm for the AVX2 path.
 *
 * Kernels (all produce the same int32 sums, checked bit-exactly in tests/unit/test_gemm_int8.c):
 *  - portable C over the packed layout (and gemm_i8_s32_ref over plain row-major int8: the reference);
 *  - AVX2: vpmaddubsw on (|a|, sign(w, a)) then vpmaddwd with ones.  |a|, |w| ≤ 127 so a pair sum is
 *    ≤ 2·127² = 32258 < 32767: vpmaddubsw never saturates, the result is exact;
 *  - AVX-512 VNNI (vpdpbusd, u8 × s8 → s32 with no intermediate saturation): activations are stored
 *    as u8 = q + 128 and 128 · Σ_k qw[j][k] (kept per row at load) is subtracted.  Exact.
 * Tiling: the threaded driver splits C into 64-row × 256-column tasks (M > 16) — an A block of
 * 64 × K bytes (24 KiB at K = 384) plus one 32-column B strip (12 KiB) stay in the 48 KiB L1, the
 * 256-column B block (96 KiB at K = 384, 384 KiB at K = 1536) in L2; micro-tiles are 8 rows × 32
 * columns (VNNI: 16 zmm accumulators) or 4 × 16 (AVX2: 8 ymm).  With few rows (decoding) tasks are
 * 128-column strips of all rows, so the weight stream is split evenly over the threads. */
#ifndef AM_GEMM_INT8_H
#define AM_GEMM_INT8_H

#include <stddef.h>
#include <stdint.h>

#include "backend/cpu/threadpool.h"

enum { AM_I8_PATH_PORTABLE = 0, AM_I8_PATH_AVX2 = 1, AM_I8_PATH_VNNI = 2 };

/* A packed int8 weight matrix [n][k] (views into am_linear's fields). */
typedef struct am_i8w {
    const int8_t *q;     /* packed, gemm_i8_packed_size(n, k) bytes */
    const float *scale;  /* [n] w ≈ q · scale                       */
    const int32_t *sum;  /* [n] Σ_k q[j][k]                         */
    int n, k;
} am_i8w;

/* Scratch for the quantised activations of one call (grown on demand; zero-initialise). */
typedef struct am_i8_scratch {
    int8_t *q;
    float *scale;
    size_t cap_q, cap_rows;
} am_i8_scratch;
void gemm_i8_scratch_free(am_i8_scratch *s);

/* The best path this CPU supports (AMANUENSIS_NO_SIMD=1: portable; AMANUENSIS_NO_VNNI=1: at most AVX2). */
int gemm_i8_best_path(void);
/* 1 when `path` can run here. */
int gemm_i8_path_available(int path);
const char *gemm_i8_path_name(int path);

static inline int gemm_i8_kpad(int k) { return (k + 3) & ~3; }
size_t gemm_i8_packed_size(int n, int k);

/* Pack row-major int8 w[n][k] (stride ldw; -128 is clamped to -127) into `packed` and write sum[n]. */
void gemm_i8_pack(int n, int k, const int8_t *w, int ldw, int8_t *packed, int32_t *sum);
/* Row j of a packed matrix, dequantised (w[j][k] = q · scale[j]) into out[k]. */
void gemm_i8_unpack_row(const am_i8w *W, int j, float *out);

/* Activation quantisation of a[m][k] (stride lda) into q (stride ldq ≥ kpad(k); the pad is zeroed)
 * and scale[m].  offset128 = 1 stores u8 q + 128 (the VNNI operand form).  The SIMD and scalar
 * versions give identical bytes (round half to even in both). */
void gemm_i8_quantize_rows_ref(int m, int k, const float *a, int lda, int8_t *q, int ldq, float *scale,
                               int offset128);
void gemm_i8_quantize_rows(int m, int k, const float *a, int lda, int8_t *q, int ldq, float *scale, int offset128);

/* Reference: C[M][N] = A[M][K] · W[N][K]ᵀ in int32, plain row-major int8 operands. */
void gemm_i8_s32_ref(int M, int N, int K, const int8_t *A, int lda, const int8_t *W, int ldw, int32_t *C, int ldc);
/* The same over a packed W with one kernel `path` (A holds signed q; converted internally for VNNI).
 * Returns 0, or -1 when the path is not available on this CPU. Single-threaded. */
int gemm_i8_s32(int path, int M, int N, int K, const int8_t *A, int lda, const am_i8w *W, int32_t *C, int ldc);

/* The W8A8 linear layer: C[M][N] = quantise(A[M][K]) · Wᵀ dequantised + bias (bias may be NULL),
 * on the pool's threads with `path` (gemm_i8_best_path() normally).  Every path gives the same
 * floats bit for bit (same int32 sums, same epilogue: (float)acc · (sa · sw) + b without FMA).
 * Returns 0, or -1 when the scratch cannot grow (out of memory; C is then untouched). */
int gemm_i8(am_pool *pool, int path, int M, int N, int K, const float *A, int lda, const am_i8w *W,
            const float *bias, float *C, int ldc, am_i8_scratch *scratch);

#endif
