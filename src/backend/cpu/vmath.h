/* vmath.h — vectorised element-wise math of the CPU backend: exp, GELU (exact erf form), max.
 *
 * Every function has a portable C reference (the *_ref names: scalar, the same algorithm, used on
 * non-x86, on x86 without AVX2/FMA and under AMANUENSIS_NO_SIMD=1) and, on x86, AVX2+FMA (8 lanes)
 * and AVX-512F (16 lanes) versions chosen at run time, once.  Tested in tests/unit/test_vmath.c.
 *
 * Accuracy against double precision (every float in the range checked):
 *   exp   ≤ 1.02 ulp (relative 8.6e-8) for x in [-87.3365, 88.7228]; above that +inf, below it
 *         (results that would be subnormal) 0, exp(-inf) = 0, NaN stays NaN.  Tested: ≤ 1e-6.
 *   gelu  |error| ≤ 2.1e-7 · max(1, |x|) on [-10, 10] (portable 2.8e-7), 0 for x < -4√2 (where
 *         |GELU(x)| < 5e-8) and for -inf.  Tested: ≤ 1e-6 · max(1, |x|).
 * The vectorised and the portable results agree to a few ulp, not bit for bit (FMA vs mul+add);
 * where the portable code gets a fast fmaf (FP_FAST_FMAF, e.g. AArch64) it matches them exactly. */
#ifndef AM_VMATH_H
#define AM_VMATH_H

#include <stddef.h>

/* x[i] = exp(x[i]) */
void vm_exp_inplace(size_t n, float *x);
/* x[i] = exp((x[i] - sub) · scale); returns the sum of the new x[i] (float accumulation).
 * For softmax: sub = the row maximum (finite), scale > 0. */
float vm_exp_sub_sum(int n, float *x, float sub, float scale);
/* max of x[0..n); -INFINITY when n <= 0.  NaN inputs give an unspecified result. */
float vm_max(int n, const float *x);
/* x[i] = 0.5 · x[i] · (1 + erf(x[i] / √2)) */
void vm_gelu_inplace(size_t n, float *x);

/* The portable references (what AMANUENSIS_NO_SIMD=1 runs). */
void vm_exp_inplace_ref(size_t n, float *x);
float vm_exp_sub_sum_ref(int n, float *x, float sub, float scale);
float vm_max_ref(int n, const float *x);
void vm_gelu_inplace_ref(size_t n, float *x);

/* The code path in use: 0 portable, 1 AVX2+FMA, 2 AVX-512F.  Detected on first use. */
int vm_simd_level(void);
/* For tests and benchmarks: use `level` (0, 1, 2), lowered to what the CPU supports and
 * AMANUENSIS_NO_SIMD allows; level < 0 re-detects.  Returns the level now in use.  Process-wide. */
int vm_set_simd_level(int level);

#endif
