/* vmath.c — vectorised element-wise math of the CPU backend (see vmath.h).
 *
 * exp(x): Cody–Waite range reduction x = n·ln2 + r, |r| ≤ ln2/2, n = round(x·log2 e) (the
 * 1.5·2²³ trick, which also leaves n in the low mantissa bits); exp(r) = 1 + r + r²·q(r) with q of
 * degree 4 (a degree-6 polynomial, relative minimax fit, 5e-9 with float coefficients); then
 * scaled by 2ⁿ built from exponent bits.  n reaches 128 just below the overflow point, so 2ⁿ is
 * applied as two factors 2^(n/2)·2^(n-n/2), each a normal float (AVX-512: vscalefps).  Inputs are
 * clamped to [EXP_LO, EXP_HI]; EXP_HI is the first float whose exp overflows, so clamped large
 * inputs overflow to +inf on their own; below EXP_LO (exp(x) < FLT_MIN·1.00004) the result is
 * flushed to 0, so no subnormal ever comes out.
 *
 * GELU(x) = ½x(1 + erf(x/√2)): erf(z) = z·P(z²)/Q(z²) on |z| ≤ 4 (P degree 6, Q degree 4, an
 * absolute minimax fit, 6e-8 with float coefficients), z clamped to ±4 (erf(4) = 1 - 1.5e-8, 1 in
 * float); x < -4√2 gives 0 (|GELU(x)| < 5e-8 there; also makes GELU(-inf) = 0, not NaN).
 * The coefficients were fitted for this file (linear-programming minimax, scipy). */
#include "backend/cpu/vmath.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AM_X86 1
#endif

/* fmaf only where it is a single instruction (e.g. AArch64); else multiply then add */
#ifdef FP_FAST_FMAF
#define VM_FMA(a, b, c) fmaf((a), (b), (c))
#else
#define VM_FMA(a, b, c) ((a) * (b) + (c))
#endif

/* ---- constants ------------------------------------------------------------------------------ */

#define EXP_HI 0x1.62e430p+6f     /* 88.7228394: the first float with exp(x) > FLT_MAX */
#define EXP_LO -0x1.5d5894p+6f    /* -87.3365021: exp = FLT_MIN · 1.0000427 */
#define LOG2E 0x1.715476p+0f      /* log2(e) */
#define MAGIC 0x1.8p23f           /* 12582912: adding it rounds to an integer */
#define MAGIC_BITS 0x4b400000     /* its bit pattern; bits(MAGIC + n) = MAGIC_BITS + n */
#define LN2_HI 0x1.63p-1f         /* 0.693359375: 9 bits, so n·LN2_HI is exact */
#define LN2_LO -0x1.bd0106p-13f   /* ln 2 - LN2_HI */
#define E2 0x1.fffffcp-2f         /* exp(r) ≈ 1 + r + r²(E2 + E3 r + E4 r² + E5 r³ + E6 r⁴) */
#define E3 0x1.555490p-3f
#define E4 0x1.5558fcp-5f
#define E5 0x1.123a34p-7f
#define E6 0x1.6a1d46p-10f

#define SQRT1_2 0x1.6a09e6p-1f    /* 1/√2 */
#define ERF_CLAMP 4.0f
#define GELU_CUT 0x1.6a09e6p+2f   /* 4√2: below -GELU_CUT the result is 0 */
#define P0 0x1.20dd6cp+0f         /* erf(z) ≈ z·P(z²)/Q(z²) */
#define P1 0x1.b62908p-3f
#define P2 0x1.ad88b6p-5f
#define P3 0x1.195ae2p-8f
#define P4 0x1.462adcp-13f
#define P5 -0x1.0b0fbep-19f
#define P6 0x1.49ebd8p-26f
#define Q1 0x1.0bbdb4p-1f
#define Q2 0x1.eecbd0p-4f
#define Q3 0x1.fd9462p-7f
#define Q4 0x1.1fd87ep-10f

/* ---- portable references -------------------------------------------------------------------- */

static inline float f_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float exp_1(float x) {
    float xc = x > EXP_HI ? EXP_HI : x; /* comparisons with NaN are false: NaN stays NaN */
    xc = xc < EXP_LO ? EXP_LO : xc;
    float t = VM_FMA(xc, LOG2E, MAGIC);
    float n = t - MAGIC;
    float r = VM_FMA(-n, LN2_HI, xc);
    r = VM_FMA(-n, LN2_LO, r);
    float q = VM_FMA(E6, r, E5);
    q = VM_FMA(q, r, E4);
    q = VM_FMA(q, r, E3);
    q = VM_FMA(q, r, E2);
    float p = VM_FMA(r * r, q, r) + 1.0f;
    /* n = bits(t) - MAGIC_BITS in [-126, 128], split n = n1 + n2 with n1 = floor(n/2), each in
     * [-63, 64]; unsigned arithmetic, so that the garbage a NaN makes is no overflow */
    uint32_t u = bits_of(t) - (uint32_t)MAGIC_BITS + 256u; /* n + 256 */
    uint32_t e1 = (u >> 1) - 1u;                           /* n1 + 127 */
    uint32_t e2 = u - (u >> 1) - 1u;                       /* n2 + 127 = n - n1 + 127 */
    float s1 = f_from_bits(e1 << 23), s2 = f_from_bits(e2 << 23);
    float y = (p * s1) * s2;
    return x < EXP_LO ? 0.0f : y;
}

static inline float gelu_1(float x) {
    float z = x * SQRT1_2;
    z = z > ERF_CLAMP ? ERF_CLAMP : z;
    z = z < -ERF_CLAMP ? -ERF_CLAMP : z;
    float t = z * z;
    float p = VM_FMA(P6, t, P5);
    p = VM_FMA(p, t, P4);
    p = VM_FMA(p, t, P3);
    p = VM_FMA(p, t, P2);
    p = VM_FMA(p, t, P1);
    p = VM_FMA(p, t, P0);
    float q = VM_FMA(Q4, t, Q3);
    q = VM_FMA(q, t, Q2);
    q = VM_FMA(q, t, Q1);
    q = VM_FMA(q, t, 1.0f);
    float e = (z * p) / q;
    float h = 0.5f * x;
    float y = VM_FMA(h, e, h);
    return x < -GELU_CUT ? 0.0f : y;
}

void vm_exp_inplace_ref(size_t n, float *x) {
    for (size_t i = 0; i < n; i++) x[i] = exp_1(x[i]);
}

float vm_exp_sub_sum_ref(int n, float *x, float sub, float scale) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = exp_1((x[i] - sub) * scale);
        s += x[i];
    }
    return s;
}

float vm_max_ref(int n, const float *x) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

void vm_gelu_inplace_ref(size_t n, float *x) {
    for (size_t i = 0; i < n; i++) x[i] = gelu_1(x[i]);
}

/* ---- AVX2 + FMA: 8 lanes -------------------------------------------------------------------- */
#ifdef AM_X86
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(EXP_LO), magic = _mm256_set1_ps(MAGIC);
    /* min/max return their second operand when one is NaN: NaN goes through */
    __m256 xc = _mm256_max_ps(lo, _mm256_min_ps(_mm256_set1_ps(EXP_HI), x));
    __m256 t = _mm256_fmadd_ps(xc, _mm256_set1_ps(LOG2E), magic);
    __m256 n = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(E6), r, _mm256_set1_ps(E5));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(E4));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(E3));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(E2));
    __m256 p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(r, r), q, r), _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(MAGIC_BITS));
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    return _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), y);
}

AVX2 static inline __m256 gelu8(__m256 x) {
    const __m256 c = _mm256_set1_ps(ERF_CLAMP);
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(SQRT1_2));
    z = _mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), c), _mm256_min_ps(c, z));
    __m256 t = _mm256_mul_ps(z, z);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(P6), t, _mm256_set1_ps(P5));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(P4));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(P3));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(P2));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(P1));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(P0));
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(Q4), t, _mm256_set1_ps(Q3));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(Q2));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(Q1));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.0f));
    __m256 e = _mm256_div_ps(_mm256_mul_ps(z, p), q);
    __m256 h = _mm256_mul_ps(x, _mm256_set1_ps(0.5f));
    __m256 y = _mm256_fmadd_ps(h, e, h);
    return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-GELU_CUT), _CMP_LT_OQ), y);
}

/* lanes [0, rem) set, rem in [1, 7] */
AVX2 static inline __m256i tail_mask8(size_t rem) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

AVX2 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

AVX2 static void exp_avx2(size_t n, float *x) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, exp8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = tail_mask8(n - i);
        _mm256_maskstore_ps(x + i, m, exp8(_mm256_maskload_ps(x + i, m)));
    }
}

AVX2 static float exp_sub_sum_avx2(int n, float *x, float sub, float scale) {
    const __m256 vs = _mm256_set1_ps(sub), vk = _mm256_set1_ps(scale);
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs), vk));
        _mm256_storeu_ps(x + i, v);
        acc = _mm256_add_ps(acc, v);
    }
    if (i < n) {
        __m256i m = tail_mask8((size_t)(n - i));
        __m256 v = exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vs), vk));
        _mm256_maskstore_ps(x + i, m, v);
        acc = _mm256_add_ps(acc, _mm256_and_ps(v, _mm256_castsi256_ps(m)));
    }
    return hsum8(acc);
}

AVX2 static float max_avx2(int n, const float *x) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
        m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
        m2 = _mm256_max_ps(m2, _mm256_loadu_ps(x + i + 16));
        m3 = _mm256_max_ps(m3, _mm256_loadu_ps(x + i + 24));
    }
    for (; i + 8 <= n; i += 8) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
    if (i < n) {
        __m256i m = tail_mask8((size_t)(n - i));
        m1 = _mm256_max_ps(m1, _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + i, m), _mm256_castsi256_ps(m)));
    }
    m0 = _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m0), _mm256_extractf128_ps(m0, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

AVX2 static void gelu_avx2(size_t n, float *x) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = tail_mask8(n - i);
        _mm256_maskstore_ps(x + i, m, gelu8(_mm256_maskload_ps(x + i, m)));
    }
}

/* ---- AVX-512F: 16 lanes, masked tails ------------------------------------------------------- */
#define AVX512 __attribute__((target("avx512f")))

AVX512 static inline __m512 exp16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(EXP_LO), magic = _mm512_set1_ps(MAGIC);
    __m512 xc = _mm512_max_ps(lo, _mm512_min_ps(_mm512_set1_ps(EXP_HI), x));
    __m512 t = _mm512_fmadd_ps(xc, _mm512_set1_ps(LOG2E), magic);
    __m512 n = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(E6), r, _mm512_set1_ps(E5));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(E4));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(E3));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(E2));
    __m512 p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(r, r), q, r), _mm512_set1_ps(1.0f));
    __m512 y = _mm512_scalef_ps(p, n); /* p·2ⁿ, the same bits as the two-factor product */
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), _mm512_setzero_ps());
}

AVX512 static inline __m512 gelu16(__m512 x) {
    __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(SQRT1_2));
    z = _mm512_max_ps(_mm512_set1_ps(-ERF_CLAMP), _mm512_min_ps(_mm512_set1_ps(ERF_CLAMP), z));
    __m512 t = _mm512_mul_ps(z, z);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(P6), t, _mm512_set1_ps(P5));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(P4));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(P3));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(P2));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(P1));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(P0));
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(Q4), t, _mm512_set1_ps(Q3));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(Q2));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(Q1));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.0f));
    __m512 e = _mm512_div_ps(_mm512_mul_ps(z, p), q);
    __m512 h = _mm512_mul_ps(x, _mm512_set1_ps(0.5f));
    __m512 y = _mm512_fmadd_ps(h, e, h);
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_set1_ps(-GELU_CUT), _CMP_LT_OQ),
                              _mm512_setzero_ps());
}

static inline __mmask16 tail_mask16(size_t rem) { return (__mmask16)((1u << rem) - 1u); }

AVX512 static void exp_avx512(size_t n, float *x) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, exp16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = tail_mask16(n - i);
        _mm512_mask_storeu_ps(x + i, m, exp16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

AVX512 static float exp_sub_sum_avx512(int n, float *x, float sub, float scale) {
    const __m512 vs = _mm512_set1_ps(sub), vk = _mm512_set1_ps(scale);
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vs), vk));
        _mm512_storeu_ps(x + i, v);
        acc = _mm512_add_ps(acc, v);
    }
    if (i < n) {
        __mmask16 m = tail_mask16((size_t)(n - i));
        __m512 v = exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vs), vk));
        _mm512_mask_storeu_ps(x + i, m, v);
        acc = _mm512_mask_add_ps(acc, m, acc, v);
    }
    return _mm512_reduce_add_ps(acc);
}

AVX512 static float max_avx512(int n, const float *x) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + i));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + i + 16));
        m2 = _mm512_max_ps(m2, _mm512_loadu_ps(x + i + 32));
        m3 = _mm512_max_ps(m3, _mm512_loadu_ps(x + i + 48));
    }
    for (; i + 16 <= n; i += 16) m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + i));
    if (i < n) {
        __mmask16 m = tail_mask16((size_t)(n - i));
        m1 = _mm512_mask_max_ps(m1, m, m1, _mm512_maskz_loadu_ps(m, x + i));
    }
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
}

AVX512 static void gelu_avx512(size_t n, float *x) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, gelu16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = tail_mask16(n - i);
        _mm512_mask_storeu_ps(x + i, m, gelu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}
#endif

/* ---- dispatch ------------------------------------------------------------------------------- */

static int detect_level(void) {
#ifdef AM_X86
    const char *off = getenv("AMANUENSIS_NO_SIMD");
    if (off && off[0] == '1') return 0;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
    return __builtin_cpu_supports("avx512f") ? 2 : 1;
#else
    return 0;
#endif
}

static atomic_int g_level = -1; /* a CPU property, the same for every caller: detected once */

int vm_simd_level(void) {
    int l = atomic_load_explicit(&g_level, memory_order_relaxed);
    if (l < 0) {
        l = detect_level();
        atomic_store_explicit(&g_level, l, memory_order_relaxed);
    }
    return l;
}

int vm_set_simd_level(int level) {
    int max = detect_level();
    int l = level < 0 || level > max ? max : level;
    atomic_store_explicit(&g_level, l, memory_order_relaxed);
    return l;
}

void vm_exp_inplace(size_t n, float *x) {
#ifdef AM_X86
    int l = vm_simd_level();
    if (l == 2) { exp_avx512(n, x); return; }
    if (l == 1) { exp_avx2(n, x); return; }
#endif
    vm_exp_inplace_ref(n, x);
}

float vm_exp_sub_sum(int n, float *x, float sub, float scale) {
#ifdef AM_X86
    int l = vm_simd_level();
    if (l == 2) return exp_sub_sum_avx512(n, x, sub, scale);
    if (l == 1) return exp_sub_sum_avx2(n, x, sub, scale);
#endif
    return vm_exp_sub_sum_ref(n, x, sub, scale);
}

float vm_max(int n, const float *x) {
#ifdef AM_X86
    int l = vm_simd_level();
    if (l == 2) return max_avx512(n, x);
    if (l == 1) return max_avx2(n, x);
#endif
    return vm_max_ref(n, x);
}

void vm_gelu_inplace(size_t n, float *x) {
#ifdef AM_X86
    int l = vm_simd_level();
    if (l == 2) { gelu_avx512(n, x); return; }
    if (l == 1) { gelu_avx2(n, x); return; }
#endif
    vm_gelu_inplace_ref(n, x);
}
