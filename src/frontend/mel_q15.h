/* mel_q15.h — the integer-only (Q15 fixed-point) log-mel front end: the NPU form of mel.h.
 *
 * Same output contract as mel_log_spectrogram (mel.h): [n_mels][n_frames] floats, n_frames =
 * (n + 160) / 160, in the same normalised units ((max(log10 M, max − 8) + 4) / 4).  Only the final
 * conversion of each fixed-point result to float is not integer.
 *
 * Input: float samples are quantised to Q15 at entry (q = round(x · 32768), clamped to
 * [-32768, 32767]) — lossless for 16-bit PCM, which every WAV/PCM decoder produces; or pass int16
 * directly to mel_q15_log_spectrogram_i16.
 *
 * Pipeline and scaling per stage (x Q15 ≤ 2^15, headroom in brackets):
 *  1. window: v = (x · w + 2^9) >> 10 with the periodic Hann window in Q15 (w = round(hann · 32767)),
 *     |v| ≤ 2^20 [11 bits left in int32];
 *  2. exact 400-point DFT, two real frames per complex transform (z = a + i b), mixed-radix
 *     Stockham 4·4·5·5 on int32, Q15 twiddles and radix-5 constants, 32×16-bit products rounded
 *     ((p + 2^14) >> 15, a DSP multiply-accumulate); no scaling shift is needed in any stage: the
 *     transform grows by at most N = 400 < 2^8.65, so |Z| ≤ 400 · √2 · 2^20 < 2^29.2 [1.8 bits];
 *  3. split: 2A[k] = Z[k] + conj Z[N−k], 2B[k] = ... (kept doubled, no rounding), |2A| < 2^30.2;
 *     power P = re² + im² in uint64, Σ_k P_k ≤ 4 N Σ v² < 2^59.3 (Parseval) [4.7 bits];
 *  4. filterbank: weights in u16 with a common power-of-two scale 2^qf (qf the largest with
 *     max weight · 2^qf < 2^16); per frame a block exponent s = max(0, bitlen(Σ P) − 47) and
 *     M = Σ (P_k >> s) · w_k < 2^63 (block floating point: quiet frames keep every bit);
 *  5. log: log2 M by count-leading-zeros plus a 257-entry Q24 table of log2(1 + i/256) with linear
 *     interpolation (error < 3e-6), + s, times log10 2 in Q30, + a constant for the scales above;
 *     M = 0 gives log10 1e-10 = −10 as the float floor does;
 *  6. max over the whole signal, clamp at max − 8, (x + 4) / 4: integer Q24, then to float.
 * Tables (window, twiddles, filter weights, log table, the scale constant) are made once per call
 * from the float filterbank; everything per sample and per frame is integer.
 * Accuracy against the float64 reference: tests/integration/test_mel_q15.py. */
#ifndef AM_MEL_Q15_H
#define AM_MEL_Q15_H

#include <stddef.h>
#include <stdint.h>

int mel_q15_log_spectrogram(const float *samples, size_t n_samples, int n_mels, const float *filters, int n_threads,
                            float **out, int *n_frames);
int mel_q15_log_spectrogram_i16(const int16_t *samples, size_t n_samples, int n_mels, const float *filters,
                                int n_threads, float **out, int *n_frames);

/* The two halves of the above, for a signal read window by window (frontend/mel_window.h):
 * raw log10 values in Q24 of n_frames frames whose centred Q15 samples start at padded[0] (frame t
 * reads padded[t * 160 .. t * 160 + 400)), into out[n_mels][n_frames], and their maximum; the first
 * frame must be an even frame of the signal (pairs), and n_frames even unless the range ends the
 * signal.  Then the clamp at max − 8 and the scaling to float. */
int mel_q15_raw_frames(const int16_t *padded, int n_frames, int n_mels, const float *filters, int n_threads,
                       int32_t *out, int32_t *max_q24);
void mel_q15_normalise(const int32_t *raw, size_t n, int32_t max_q24, float *out);

/* Fixed-point helpers, exposed for the unit tests. */
int16_t mel_q15_from_float(float x);             /* round(x · 32768), saturated            */
int32_t mel_q15_log2_q24(uint64_t v);             /* log2(v) in Q24, v ≥ 1                    */
/* The 400-point forward DFT of int32 complex input (re[], im[] in place), as used inside. */
void mel_q15_dft400(int32_t *re, int32_t *im);

#endif
