/* attention.c — float32 attention kernels (see attention.h). */
#include "backend/cpu/attention.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AM_X86 1
#endif

/* ---- reference -------------------------------------------------------------------------------- */

/* C = A · B, or C += A · B when acc */
static void nn_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int acc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (!acc)
            for (int j = 0; j < N; j++) c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            const float a = A[(size_t)i * lda + k], *b = B + (size_t)k * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}

void gemm_nn_f32_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
    nn_ref(M, N, K, A, lda, B, ldb, C, ldc, 0);
}

#ifdef AM_X86
/* ---- AVX-512: 8 rows × 32 columns of C in 16 registers ----------------------------------------
 * Per k: two loads of B, eight broadcasts of A, sixteen FMAs.  The column tail is masked; row
 * tails use the same kernel with fewer rows (MR is a compile-time constant in each copy).  acc:
 * the registers start from C instead of 0. */
#define NN512(MR)                                                                                              \
    __attribute__((target("avx512f"))) static void nn512_##MR(int K, const float *A, int lda, const float *B, \
                                                               int ldb, float *C, int ldc, __mmask16 m0,      \
                                                               __mmask16 m1, int acc) {                       \
        __m512 c0[MR], c1[MR];                                                                                 \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {                                                 \
            c0[i] = acc ? _mm512_maskz_loadu_ps(m0, C + (size_t)i * ldc) : _mm512_setzero_ps();               \
            c1[i] = acc ? _mm512_maskz_loadu_ps(m1, C + (size_t)i * ldc + 16) : _mm512_setzero_ps();          \
        }                                                                                                      \
        for (int k = 0; k < K; k++) {                                                                          \
            const float *b = B + (size_t)k * ldb;                                                              \
            __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);                  \
            _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {                                             \
                __m512 a = _mm512_set1_ps(A[(size_t)i * lda + k]);                                             \
                c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);                                                         \
                c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);                                                         \
            }                                                                                                  \
        }                                                                                                      \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {                                                 \
            _mm512_mask_storeu_ps(C + (size_t)i * ldc, m0, c0[i]);                                             \
            _mm512_mask_storeu_ps(C + (size_t)i * ldc + 16, m1, c1[i]);                                        \
        }                                                                                                      \
    }
NN512(8)
NN512(4)
NN512(2)
NN512(1)

__attribute__((target("avx512f"))) static void gemm_nn_avx512(int M, int N, int K, const float *A, int lda,
                                                               const float *B, int ldb, float *C, int ldc,
                                                               int acc) {
    for (int j = 0; j < N; j += 32) {
        int n = N - j < 32 ? N - j : 32;
        __mmask16 m0 = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
        __mmask16 m1 = (__mmask16)(n >= 32 ? 0xffff : n > 16 ? (1u << (n - 16)) - 1 : 0);
        const float *Bj = B + j;
        float *Cj = C + j;
        int i = 0;
        for (; i + 8 <= M; i += 8) nn512_8(K, A + (size_t)i * lda, lda, Bj, ldb, Cj + (size_t)i * ldc, ldc, m0, m1, acc);
        for (; i + 4 <= M; i += 4) nn512_4(K, A + (size_t)i * lda, lda, Bj, ldb, Cj + (size_t)i * ldc, ldc, m0, m1, acc);
        for (; i + 2 <= M; i += 2) nn512_2(K, A + (size_t)i * lda, lda, Bj, ldb, Cj + (size_t)i * ldc, ldc, m0, m1, acc);
        for (; i < M; i++) nn512_1(K, A + (size_t)i * lda, lda, Bj, ldb, Cj + (size_t)i * ldc, ldc, m0, m1, acc);
    }
}

/* ---- AVX2/FMA: 6 rows × 16 columns in 12 registers; the column tail goes through a small
 * buffer (AVX2 has masked loads but no cheap masked stores of partial rows). */
#define NN256(MR)                                                                                              \
    __attribute__((target("avx2,fma"))) static void nn256_##MR(int K, const float *A, int lda, const float *B, \
                                                               int ldb, float *C, int ldc, int acc) {         \
        __m256 c0[MR], c1[MR];                                                                                 \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {                                                 \
            c0[i] = acc ? _mm256_loadu_ps(C + (size_t)i * ldc) : _mm256_setzero_ps();                          \
            c1[i] = acc ? _mm256_loadu_ps(C + (size_t)i * ldc + 8) : _mm256_setzero_ps();                      \
        }                                                                                                      \
        for (int k = 0; k < K; k++) {                                                                          \
            const float *b = B + (size_t)k * ldb;                                                              \
            __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);                                       \
            _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {                                             \
                __m256 a = _mm256_broadcast_ss(A + (size_t)i * lda + k);                                       \
                c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);                                                         \
                c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);                                                         \
            }                                                                                                  \
        }                                                                                                      \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {                                                 \
            _mm256_storeu_ps(C + (size_t)i * ldc, c0[i]);                                                      \
            _mm256_storeu_ps(C + (size_t)i * ldc + 8, c1[i]);                                                  \
        }                                                                                                      \
    }
NN256(6)
NN256(3)
NN256(1)

__attribute__((target("avx2,fma"))) static void gemm_nn_avx2(int M, int N, int K, const float *A, int lda,
                                                              const float *B, int ldb, float *C, int ldc, int acc) {
    int j = 0;
    for (; j + 16 <= N; j += 16) {
        const float *Bj = B + j;
        int i = 0;
        for (; i + 6 <= M; i += 6) nn256_6(K, A + (size_t)i * lda, lda, Bj, ldb, C + (size_t)i * ldc + j, ldc, acc);
        for (; i + 3 <= M; i += 3) nn256_3(K, A + (size_t)i * lda, lda, Bj, ldb, C + (size_t)i * ldc + j, ldc, acc);
        for (; i < M; i++) nn256_1(K, A + (size_t)i * lda, lda, Bj, ldb, C + (size_t)i * ldc + j, ldc, acc);
    }
    if (j < N) { /* fewer than 16 columns left: the reference loop, which the compiler vectorises */
        nn_ref(M, N - j, K, A, lda, B + j, ldb, C + j, ldc, acc);
    }
}
#endif

enum { PATH_UNSET = -1, PATH_PORTABLE = 0, PATH_AVX2 = 1, PATH_AVX512 = 2 };

static int nn_path(void) {
    static atomic_int cached = PATH_UNSET; /* a CPU property, the same for every caller */
    int p = atomic_load(&cached);
    if (p != PATH_UNSET) return p;
    p = PATH_PORTABLE;
#ifdef AM_X86
    const char *off = getenv("AMANUENSIS_NO_SIMD");
    if (!(off && off[0] == '1')) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) p = PATH_AVX512;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) p = PATH_AVX2;
    }
#endif
    atomic_store(&cached, p);
    return p;
}

const char *gemm_nn_f32_path(void) {
    static const char *names[] = {"portable", "avx2", "avx512"};
    return names[nn_path()];
}

static void gemm_nn_on(int path, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                       int ldc, int acc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!acc)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
#ifdef AM_X86
    switch (path) {
    case PATH_AVX512: gemm_nn_avx512(M, N, K, A, lda, B, ldb, C, ldc, acc); return;
    case PATH_AVX2: gemm_nn_avx2(M, N, K, A, lda, B, ldb, C, ldc, acc); return;
    default: break;
    }
#endif
    nn_ref(M, N, K, A, lda, B, ldb, C, ldc, acc);
}

static void gemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int acc) {
    gemm_nn_on(nn_path(), M, N, K, A, lda, B, ldb, C, ldc, acc);
}

int gemm_nn_f32_on(const char *kernel, int acc, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                   float *C, int ldc) {
    int path = !strcmp(kernel, "portable") ? PATH_PORTABLE : !strcmp(kernel, "avx2") ? PATH_AVX2
             : !strcmp(kernel, "avx512") ? PATH_AVX512 : PATH_UNSET;
    if (path == PATH_UNSET) return -1;
#ifdef AM_X86
    __builtin_cpu_init();
    if (path == PATH_AVX512 && !__builtin_cpu_supports("avx512f")) return -1;
    if (path == PATH_AVX2 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return -1;
#else
    if (path != PATH_PORTABLE) return -1;
#endif
    gemm_nn_on(path, M, N, K, A, lda, B, ldb, C, ldc, acc);
    return 0;
}

void gemm_nn_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
    gemm_nn(M, N, K, A, lda, B, ldb, C, ldc, 0);
}

void gemm_nn_f32_acc(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
    gemm_nn(M, N, K, A, lda, B, ldb, C, ldc, 1);
}

/* ---- B packed in column panels ----------------------------------------------------------------- */

#define PANEL 32   /* columns per panel: the AVX-512 kernel's width */
#define ROW_BLOCK 64 /* rows of A multiplied by every panel before the next rows (they stay in cache) */

size_t gemm_nn_packed_size(int K, int N) { return (size_t)((N + PANEL - 1) / PANEL) * (size_t)K * PANEL; }

void gemm_nn_pack(int K, int N, const float *B, int ldb, float *Bp) {
    for (int j = 0; j < N; j += PANEL)
        for (int k = 0; k < K; k++) {
            float *dst = Bp + (size_t)j * K + (size_t)k * PANEL;
            for (int c = 0; c < PANEL; c++) dst[c] = j + c < N ? B[(size_t)k * ldb + j + c] : 0.0f;
        }
}

void gemm_nn_f32_packed(int M, int N, int K, const float *A, int lda, const float *Bp, float *C, int ldc) {
    for (int i = 0; i < M; i += ROW_BLOCK) {
        int mb = M - i < ROW_BLOCK ? M - i : ROW_BLOCK;
        for (int j = 0; j < N; j += PANEL)
            gemm_nn(mb, N - j < PANEL ? N - j : PANEL, K, A + (size_t)i * lda, lda, Bp + (size_t)j * K, PANEL,
                    C + (size_t)i * ldc + j, ldc, 0);
    }
}

/* Blocked 8×8 so that both sides stay in cache lines. */
void transpose_f32(int rows, int cols, const float *src, int lds, float *dst, int ldd) {
    for (int r0 = 0; r0 < rows; r0 += 8)
        for (int c0 = 0; c0 < cols; c0 += 8) {
            int r1 = r0 + 8 < rows ? r0 + 8 : rows, c1 = c0 + 8 < cols ? c0 + 8 : cols;
            for (int c = c0; c < c1; c++)
                for (int r = r0; r < r1; r++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
        }
}

void attention_block(int rows, int n_keys, int dh, float scale, const float *Q, int ldq, const float *KT, int ldkt,
                     const float *V, int ldv, float *S, int lds, float *O, int ldo, float *raw_out) {
    gemm_nn_f32(rows, n_keys, dh, Q, ldq, KT, ldkt, S, lds); /* S [rows][n_keys] */
    for (int r = 0; r < rows; r++) {
        float *s = S + (size_t)r * lds;
        if (raw_out)
            for (int t = 0; t < n_keys; t++) raw_out[(size_t)r * n_keys + t] = s[t] * scale;
        softmax_scaled_inplace(n_keys, s, scale);
    }
    gemm_nn_f32(rows, dh, n_keys, S, lds, V, ldv, O, ldo); /* O [rows][dh] */
}
