/* gemm_int8.c — W8A8 int8 GEMM (see gemm_int8.h for the maths, the packed layout and the tiling). */
#include "backend/cpu/gemm_int8.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AM_X86 1
#endif

#define NR 16 /* columns per panel */
#define VNNI_MR 8
#define AVX2_MR 4
#define TILE_M 64
#define TILE_N 256     /* columns per task when M is large (16 panels) */
#define TILE_N_FEW 128 /* columns per task when decoding (few rows)    */

/* ---- CPU features ------------------------------------------------------------------------------ */

static int env_on(const char *name) {
    const char *v = getenv(name);
    return v && v[0] == '1';
}

int gemm_i8_path_available(int path) {
    switch (path) {
    case AM_I8_PATH_PORTABLE: return 1;
#ifdef AM_X86
    case AM_I8_PATH_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2");
    case AM_I8_PATH_VNNI:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
#endif
    default: return 0;
    }
}

int gemm_i8_best_path(void) {
    static atomic_int cached = -1;
    int p = atomic_load(&cached);
    if (p >= 0) return p;
    p = AM_I8_PATH_PORTABLE;
    if (!env_on("AMANUENSIS_NO_SIMD")) {
        if (!env_on("AMANUENSIS_NO_VNNI") && gemm_i8_path_available(AM_I8_PATH_VNNI)) p = AM_I8_PATH_VNNI;
        else if (gemm_i8_path_available(AM_I8_PATH_AVX2)) p = AM_I8_PATH_AVX2;
    }
    atomic_store(&cached, p);
    return p;
}

const char *gemm_i8_path_name(int path) {
    switch (path) {
    case AM_I8_PATH_PORTABLE: return "portable";
    case AM_I8_PATH_AVX2: return "avx2";
    case AM_I8_PATH_VNNI: return "avx512-vnni";
    default: return "?";
    }
}

/* ---- weights ------------------------------------------------------------------------------------ */

size_t gemm_i8_packed_size(int n, int k) {
    return (size_t)((n + NR - 1) / NR) * NR * (size_t)gemm_i8_kpad(k);
}

static inline int8_t quant1(float x, float inv) {
    long v = lrintf(x * inv);
    if (v > 127) v = 127;
    if (v < -127) v = -127;
    return (int8_t)v;
}

void gemm_i8_pack(int n, int k, const int8_t *w, int ldw, int8_t *packed, int32_t *sum) {
    const int kp = gemm_i8_kpad(k), np = (n + NR - 1) / NR;
    memset(packed, 0, gemm_i8_packed_size(n, k));
    for (int j = 0; j < n; j++) {
        int p = j / NR, c = j % NR;
        int32_t s = 0;
        for (int i = 0; i < k; i++) {
            int8_t v = w[(size_t)j * ldw + i];
            if (v == -128) v = -127;
            s += v;
            packed[(((size_t)p * (kp / 4) + (size_t)(i / 4)) * NR + (size_t)c) * 4 + (size_t)(i % 4)] = v;
        }
        sum[j] = s;
    }
    (void)np;
}

void gemm_i8_unpack_row(const am_i8w *W, int j, float *out) {
    const int kp = gemm_i8_kpad(W->k);
    int p = j / NR, c = j % NR;
    const float s = W->scale[j];
    for (int i = 0; i < W->k; i++)
        out[i] = (float)W->q[(((size_t)p * (kp / 4) + (size_t)(i / 4)) * NR + (size_t)c) * 4 + (size_t)(i % 4)] * s;
}

/* ---- activation quantisation -------------------------------------------------------------------- */

static void quantize_row_scalar(int k, const float *a, int8_t *q, int kp, float *scale, int offset128) {
    float amax = 0.0f;
    for (int i = 0; i < k; i++) amax = fabsf(a[i]) > amax ? fabsf(a[i]) : amax;
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    *scale = amax / 127.0f;
    uint8_t x = offset128 ? 0x80 : 0;
    for (int i = 0; i < k; i++) q[i] = (int8_t)((uint8_t)quant1(a[i], inv) ^ x);
    for (int i = k; i < kp; i++) q[i] = (int8_t)x;
}

void gemm_i8_quantize_rows_ref(int m, int k, const float *a, int lda, int8_t *q, int ldq, float *scale,
                               int offset128) {
    for (int i = 0; i < m; i++)
        quantize_row_scalar(k, a + (size_t)i * lda, q + (size_t)i * ldq, gemm_i8_kpad(k), &scale[i], offset128);
}

#ifdef AM_X86
__attribute__((target("avx2"))) static void quantize_row_avx2(int k, const float *a, int8_t *q, int kp,
                                                               float *scale, int offset128) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 vmax = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= k; i += 8) vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(a + i), absmask));
    float buf[8];
    _mm256_storeu_ps(buf, vmax);
    float amax = 0.0f;
    for (int t = 0; t < 8; t++) amax = buf[t] > amax ? buf[t] : amax;
    for (; i < k; i++) amax = fabsf(a[i]) > amax ? fabsf(a[i]) : amax;
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    *scale = amax / 127.0f;
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i x80 = _mm256_set1_epi8(offset128 ? (char)0x80 : 0);
    i = 0;
    for (; i + 32 <= k; i += 32) {
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(a + i), vinv));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(a + i + 8), vinv));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(a + i + 16), vinv));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(a + i + 24), vinv));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, perm);
        /* |x · inv| ≤ 127 (+ rounding of inv): never −128, so no clamp is needed beyond packs */
        _mm256_storeu_si256((__m256i *)(q + i), _mm256_xor_si256(p, x80));
    }
    uint8_t x = offset128 ? 0x80 : 0;
    for (; i < k; i++) q[i] = (int8_t)((uint8_t)quant1(a[i], inv) ^ x);
    for (i = k; i < kp; i++) q[i] = (int8_t)x;
}
#endif

void gemm_i8_quantize_rows(int m, int k, const float *a, int lda, int8_t *q, int ldq, float *scale, int offset128) {
#ifdef AM_X86
    if (gemm_i8_best_path() != AM_I8_PATH_PORTABLE) {
        for (int i = 0; i < m; i++)
            quantize_row_avx2(k, a + (size_t)i * lda, q + (size_t)i * ldq, gemm_i8_kpad(k), &scale[i], offset128);
        return;
    }
#endif
    gemm_i8_quantize_rows_ref(m, k, a, lda, q, ldq, scale, offset128);
}

/* ---- int32 reference ---------------------------------------------------------------------------- */

void gemm_i8_s32_ref(int M, int N, int K, const int8_t *A, int lda, const int8_t *W, int ldw, int32_t *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            int32_t s = 0;
            for (int k = 0; k < K; k++) {
                int w = W[(size_t)j * ldw + k];
                if (w == -128) w = -127; /* as gemm_i8_pack stores it */
                s += (int32_t)A[(size_t)i * lda + k] * w;
            }
            C[(size_t)i * ldc + j] = s;
        }
}

/* ---- micro-kernels ------------------------------------------------------------------------------
 * A tile: rows i0 .. i0+mr of A (stride lda, kp bytes each), panels p0 .. p0+np of W.  Output either
 * int32 (C32 != NULL) or the float epilogue into C.  `ncols` = valid columns from column 16·p0. */

typedef struct tile_out {
    const float *sa;   /* [mr] activation scales            */
    const float *sw;   /* weight scales from column j0      */
    const float *bias; /* from column j0, or NULL           */
    float *C;          /* at (i0, j0)                       */
    int ldc;
    int32_t *C32;      /* at (i0, j0), or NULL              */
    int ldc32;
} tile_out;

static inline float epilogue1(int32_t acc, float sa, float sw, const float *bias, int j) {
    float s = sa * sw;
    float v = (float)acc * s;
    if (bias) v += bias[j];
    return v;
}

static void store_scalar(const tile_out *o, int mr, int ncols, const int32_t *acc /* [mr][ld] */, int ld) {
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < ncols; c++) {
            int32_t a = acc[r * ld + c];
            if (o->C32) o->C32[(size_t)r * o->ldc32 + c] = a;
            else o->C[(size_t)r * o->ldc + c] = epilogue1(a, o->sa[r], o->sw[c], o->bias, c);
        }
}

static void tile_portable(int mr, int np, int kp, const int8_t *A, int lda, const int8_t *P, size_t pstride,
                          int ncols, const tile_out *o) {
    int32_t acc[VNNI_MR * 2 * NR];
    const int ld = 2 * NR;
    memset(acc, 0, sizeof acc);
    for (int pi = 0; pi < np; pi++) {
        const int8_t *panel = P + (size_t)pi * pstride;
        for (int g = 0; g < kp / 4; g++) {
            const int8_t *grp = panel + (size_t)g * NR * 4;
            for (int r = 0; r < mr; r++) {
                const int8_t *a = A + (size_t)r * lda + 4 * g;
                for (int c = 0; c < NR; c++) {
                    const int8_t *w = grp + c * 4;
                    acc[r * ld + pi * NR + c] += a[0] * w[0] + a[1] * w[1] + a[2] * w[2] + a[3] * w[3];
                }
            }
        }
    }
    store_scalar(o, mr, ncols, acc, ld);
}

#ifdef AM_X86
/* AVX2: one panel (16 columns = 2 ymm of 8 columns × 4 k), mr ≤ 4 rows. */
__attribute__((target("avx2"), always_inline)) static inline void
tile_avx2_body(int mr, int kp, const int8_t *A, int lda, const int8_t *P, int ncols, const tile_out *o) {
    __m256i acc[AVX2_MR][2];
    _Pragma("GCC unroll 8") for (int r = 0; r < AVX2_MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int g = 0; g < kp / 4; g++) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(P + (size_t)g * 64));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(P + (size_t)g * 64 + 32));
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
            int32_t a4;
            memcpy(&a4, A + (size_t)r * lda + 4 * g, 4);
            __m256i a = _mm256_set1_epi32(a4);
            __m256i aa = _mm256_abs_epi8(a);
            __m256i p0 = _mm256_maddubs_epi16(aa, _mm256_sign_epi8(b0, a));
            __m256i p1 = _mm256_maddubs_epi16(aa, _mm256_sign_epi8(b1, a));
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(p0, ones));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(p1, ones));
        }
    }
    if (ncols == NR && !o->C32) {
        __m256 sw0 = _mm256_loadu_ps(o->sw), sw1 = _mm256_loadu_ps(o->sw + 8);
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
            __m256 sa = _mm256_set1_ps(o->sa[r]);
            __m256 v0 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][0]), _mm256_mul_ps(sa, sw0));
            __m256 v1 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][1]), _mm256_mul_ps(sa, sw1));
            if (o->bias) {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(o->bias));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(o->bias + 8));
            }
            _mm256_storeu_ps(o->C + (size_t)r * o->ldc, v0);
            _mm256_storeu_ps(o->C + (size_t)r * o->ldc + 8, v1);
        }
        return;
    }
    int32_t buf[AVX2_MR * NR];
    _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
        _mm256_storeu_si256((__m256i *)(buf + r * NR), acc[r][0]);
        _mm256_storeu_si256((__m256i *)(buf + r * NR + 8), acc[r][1]);
    }
    store_scalar(o, mr, ncols, buf, NR);
}

__attribute__((target("avx2"))) static void tile_avx2(int mr, int kp, const int8_t *A, int lda, const int8_t *P,
                                                       int ncols, const tile_out *o) {
    switch (mr) {
    case 4: tile_avx2_body(4, kp, A, lda, P, ncols, o); break;
    case 3: tile_avx2_body(3, kp, A, lda, P, ncols, o); break;
    case 2: tile_avx2_body(2, kp, A, lda, P, ncols, o); break;
    default: tile_avx2_body(1, kp, A, lda, P, ncols, o); break;
    }
}

/* AVX-512 VNNI: np ≤ 2 panels (1 zmm each), mr ≤ 8 rows; A holds u8 = q + 128. */
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) static inline void
tile_vnni_body(int mr, int np, int kp, const int8_t *A, int lda, const int8_t *P, size_t pstride,
               const int32_t *sum, int ncols, const tile_out *o) {
    __m512i acc[VNNI_MR][2];
    _Pragma("GCC unroll 8") for (int r = 0; r < VNNI_MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    const int8_t *P1 = P + pstride;
    for (int g = 0; g < kp / 4; g++) {
        __m512i b0 = _mm512_loadu_si512((const void *)(P + (size_t)g * 64));
        __m512i b1 = np > 1 ? _mm512_loadu_si512((const void *)(P1 + (size_t)g * 64)) : b0;
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
            int32_t a4;
            memcpy(&a4, A + (size_t)r * lda + 4 * g, 4);
            __m512i a = _mm512_set1_epi32(a4);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], a, b0);
            if (np > 1) acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], a, b1);
        }
    }
    _Pragma("GCC unroll 2") for (int pi = 0; pi < np; pi++) {
        int nc = ncols - pi * NR;
        if (nc > NR) nc = NR;
        if (nc <= 0) break;
        __mmask16 m = (__mmask16)(nc == NR ? 0xffff : (1u << nc) - 1);
        __m512i comp = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m, sum + pi * NR), 7);
        if (o->C32) {
            _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++)
                _mm512_mask_storeu_epi32(o->C32 + (size_t)r * o->ldc32 + pi * NR, m, _mm512_sub_epi32(acc[r][pi], comp));
            continue;
        }
        __m512 sw = _mm512_maskz_loadu_ps(m, o->sw + pi * NR);
        __m512 bias = o->bias ? _mm512_maskz_loadu_ps(m, o->bias + pi * NR) : _mm512_setzero_ps();
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
            __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][pi], comp));
            v = _mm512_mul_ps(v, _mm512_mul_ps(_mm512_set1_ps(o->sa[r]), sw));
            if (o->bias) v = _mm512_add_ps(v, bias);
            _mm512_mask_storeu_ps(o->C + (size_t)r * o->ldc + pi * NR, m, v);
        }
    }
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
tile_vnni(int mr, int np, int kp, const int8_t *A, int lda, const int8_t *P, size_t pstride, const int32_t *sum,
          int ncols, const tile_out *o) {
#define VCASE(R)                                                                               \
    case R:                                                                                    \
        if (np > 1) tile_vnni_body(R, 2, kp, A, lda, P, pstride, sum, ncols, o);               \
        else tile_vnni_body(R, 1, kp, A, lda, P, pstride, sum, ncols, o);                      \
        break;
    switch (mr) {
        VCASE(8) VCASE(7) VCASE(6) VCASE(5) VCASE(4) VCASE(3) VCASE(2)
    default:
        if (np > 1) tile_vnni_body(1, 2, kp, A, lda, P, pstride, sum, ncols, o);
        else tile_vnni_body(1, 1, kp, A, lda, P, pstride, sum, ncols, o);
        break;
    }
#undef VCASE
}
#endif

/* Rows [i0, i1) × columns [j0, j1) (j0 a multiple of 16) with one path. */
static void gemm_block(int path, int i0, int i1, int j0, int j1, int N, int K, const int8_t *Aq, int lda,
                       const float *sa, const am_i8w *W, const float *bias, float *C, int ldc, int32_t *C32,
                       int ldc32) {
    const int kp = gemm_i8_kpad(K);
    const size_t pstride = (size_t)kp * NR;
    if (j1 > N) j1 = N;
    const int step_n = path == AM_I8_PATH_AVX2 ? NR : 2 * NR;
    const int step_m = path == AM_I8_PATH_AVX2 ? AVX2_MR : VNNI_MR;
    for (int j = j0; j < j1; j += step_n) {
        int ncols = j1 - j < step_n ? j1 - j : step_n;
        int np = (ncols + NR - 1) / NR;
        const int8_t *P = W->q + (size_t)(j / NR) * pstride;
        for (int i = i0; i < i1; i += step_m) {
            int mr = i1 - i < step_m ? i1 - i : step_m;
            tile_out o = {sa + i, W->scale + j, bias ? bias + j : NULL, C ? C + (size_t)i * ldc + j : NULL, ldc,
                          C32 ? C32 + (size_t)i * ldc32 + j : NULL, ldc32};
            const int8_t *A = Aq + (size_t)i * lda;
            switch (path) {
#ifdef AM_X86
            case AM_I8_PATH_VNNI: tile_vnni(mr, np, kp, A, lda, P, pstride, W->sum + j, ncols, &o); break;
            case AM_I8_PATH_AVX2: tile_avx2(mr, kp, A, lda, P, ncols, &o); break;
#endif
            default: tile_portable(mr, np, kp, A, lda, P, pstride, ncols, &o); break;
            }
        }
    }
}

int gemm_i8_s32(int path, int M, int N, int K, const int8_t *A, int lda, const am_i8w *W, int32_t *C, int ldc) {
    if (!gemm_i8_path_available(path)) return -1;
    const int kp = gemm_i8_kpad(K);
    int8_t *Aq = malloc((size_t)(M > 0 ? M : 1) * (size_t)kp);
    float *sa = calloc((size_t)(M > 0 ? M : 1), sizeof(float));
    if (!Aq || !sa) { free(Aq); free(sa); return -1; }
    const uint8_t x = path == AM_I8_PATH_VNNI ? 0x80 : 0;
    for (int i = 0; i < M; i++)
        for (int k = 0; k < kp; k++)
            Aq[(size_t)i * kp + k] = (int8_t)((uint8_t)(k < K ? A[(size_t)i * lda + k] : 0) ^ x);
    gemm_block(path, 0, M, 0, N, N, K, Aq, kp, sa, W, NULL, NULL, 0, C, ldc);
    free(Aq);
    free(sa);
    return 0;
}

/* ---- threaded driver ---------------------------------------------------------------------------- */

typedef struct i8_job {
    int path, M, N, K, kp, mb, nb, tiles_n, rows_per_qtask;
    const float *A;
    int lda;
    int8_t *Aq;
    float *sa;
    const am_i8w *W;
    const float *bias;
    float *C;
    int ldc;
} i8_job;

static void i8_quant_task(void *ctx, int task, int thread) {
    (void)thread;
    const i8_job *j = ctx;
    int i0 = task * j->rows_per_qtask, n = j->M - i0 < j->rows_per_qtask ? j->M - i0 : j->rows_per_qtask;
    gemm_i8_quantize_rows(n, j->K, j->A + (size_t)i0 * j->lda, j->lda, j->Aq + (size_t)i0 * j->kp, j->kp,
                          j->sa + i0, j->path == AM_I8_PATH_VNNI);
}

static void i8_tile_task(void *ctx, int task, int thread) {
    (void)thread;
    const i8_job *j = ctx;
    int ti = task / j->tiles_n, tj = task % j->tiles_n;
    int i0 = ti * j->mb, j0 = tj * j->nb;
    int i1 = i0 + j->mb < j->M ? i0 + j->mb : j->M;
    gemm_block(j->path, i0, i1, j0, j0 + j->nb, j->N, j->K, j->Aq, j->kp, j->sa, j->W, j->bias, j->C, j->ldc,
               NULL, 0);
}

void gemm_i8_scratch_free(am_i8_scratch *s) {
    free(s->q);
    free(s->scale);
    memset(s, 0, sizeof *s);
}

int gemm_i8(am_pool *pool, int path, int M, int N, int K, const float *A, int lda, const am_i8w *W,
            const float *bias, float *C, int ldc, am_i8_scratch *s) {
    if (M <= 0 || N <= 0) return 0;
    if (!gemm_i8_path_available(path)) path = AM_I8_PATH_PORTABLE;
    const int kp = gemm_i8_kpad(K);
    size_t need = (size_t)M * (size_t)kp;
    if (need > s->cap_q) {
        int8_t *q = realloc(s->q, need);
        if (!q) return -1;
        s->q = q;
        s->cap_q = need;
    }
    if ((size_t)M > s->cap_rows) {
        float *sc = realloc(s->scale, (size_t)M * sizeof(float));
        if (!sc) return -1;
        s->scale = sc;
        s->cap_rows = (size_t)M;
    }
    i8_job j = {path, M, N, K, kp, 0, 0, 0, 0, A, lda, s->q, s->scale, W, bias, C, ldc};
    j.rows_per_qtask = 64;
    am_pool_run(pool, (M + j.rows_per_qtask - 1) / j.rows_per_qtask, i8_quant_task, &j);
    j.mb = M > 16 ? TILE_M : M;
    j.nb = M > 16 ? TILE_N : TILE_N_FEW;
    int tiles_m = (M + j.mb - 1) / j.mb;
    j.tiles_n = (N + j.nb - 1) / j.nb;
    am_pool_run(pool, tiles_m * j.tiles_n, i8_tile_task, &j);
    return 0;
}
