/* mel.h — the reference log-mel front end (float32), as faster-whisper/openai-whisper compute it. */
#ifndef AM_MEL_H
#define AM_MEL_H

#include <stddef.h>

#define AM_N_FFT 400
#define AM_HOP 160
#define AM_N_FREQ (AM_N_FFT / 2 + 1) /* 201 bins, 40 Hz apart */
#define AM_CHUNK_FRAMES 3000         /* one 30 s window        */

/* Slaney-scale, Slaney-normalised triangular filters as librosa.filters.mel(sr, n_fft, n_mels)
 * with fmin 0, fmax sr/2.  out: [n_mels][n_fft/2 + 1], row-major. Computed in double.
 * Returns AM_OK, AM_E_INVALID_ARG or AM_E_NOMEM (out is then zeroed). */
int mel_filterbank_slaney(int n_mels, int n_fft, int sample_rate, float *out);

/* Normalised log-mel of a whole signal, exactly as faster-whisper's FeatureExtractor:
 *   append 160 zero samples; centred STFT (reflect padding of 200 each side, periodic Hann 400,
 *   hop 160, exact 400-point DFT); drop the last frame; power |X|^2; filters; log10(max(m, 1e-10));
 *   max(x, global_max - 8); (x + 4) / 4.
 * samples: n_samples floats; filters: [n_mels][201].
 * *out: malloc'd [n_mels][*n_frames] row-major (mel-major), *n_frames = (n_samples + 160) / 160.
 * Returns AM_OK, AM_E_INVALID_ARG (n_samples == 0) or AM_E_NOMEM. */
int mel_log_spectrogram(const float *samples, size_t n_samples, int n_mels, const float *filters,
                        int n_threads, float **out, int *n_frames);

/* The two halves of mel_log_spectrogram, for a signal read window by window
 * (frontend/mel_window.h).  mel_raw_frames: log10(max(M, 1e-10)) of n_frames frames whose centred
 * samples start at padded[0] (frame t reads padded[t * HOP .. t * HOP + N_FFT)), into
 * out[n_mels][n_frames], and their maximum (in double, before the cast to float).  Frames go through
 * the FFT in pairs, so the first frame must be an even frame of the signal, and n_frames even unless
 * the range ends the signal.  mel_normalise: max(x, max_log − 8), (x + 4) / 4 (in place allowed). */
int mel_raw_frames(const float *padded, int n_frames, int n_mels, const float *filters, int n_threads,
                   float *out, double *max_log);
void mel_normalise(const float *raw, size_t n, double max_log, float *out);
/* padded[i] for i in [first, first + count): the signal ++ 160 zeros, reflect-padded by 200 each side. */
void mel_pad_range(const float *samples, size_t n_samples, size_t first, size_t count, float *padded);
/* numpy's 'reflect' index of i into [0, len). */
size_t mel_reflect_index(long long i, size_t len);

#endif
