/* mel_window.h — the log-mel of a long signal, computed window by window (mel_window.c).
 *
 * Whisper normalises the log-mel with the maximum over the whole signal (mel.h), and the long-form
 * loop reads 30 s windows at positions it only learns as it decodes.  Holding the whole log-mel
 * (and the whole signal) costs memory in proportion to the length of the recording; instead:
 *   1. mel_reader_init scans the signal once, in blocks, for that maximum;
 *   2. mel_reader_window computes the frames a window needs from the samples again, and normalises
 *      them with the maximum.
 * Frames are computed exactly as the whole-signal functions compute them (the same pairs of frames
 * through the FFT, the same reflect padding at both ends), so a window equals the same columns of
 * mel_log_spectrogram / mel_q15_log_spectrogram bit for bit (tests/unit/test_mel_window.c).
 * The samples are read from a pcm_store (audio/pcm.h), in memory or spooled to a file. */
#ifndef AM_MEL_WINDOW_H
#define AM_MEL_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "audio/pcm.h"

typedef struct mel_reader {
    const pcm_store *src;
    size_t n_samples;
    int n_frames;              /* (n_samples + 160) / 160, as mel_log_spectrogram */
    int q15, n_mels, n_threads;
    const float *filters;      /* [n_mels][201], the caller's */
    double max_log;            /* float front end: the maximum of log10                   */
    int32_t max_q24;           /* Q15 front end: the maximum in Q24                        */
    float *samples, *padded;   /* scratch for one block                                    */
    int16_t *padded_q;
    void *raw;                 /* [n_mels][block] float or int32                           */
    size_t block_frames;
} mel_reader;

/* Scan src for the maximum.  q15: the integer front end (mel_q15.h), else the float one (mel.h).
 * Returns AM_OK, AM_E_INVALID_ARG (no samples), AM_E_NOMEM or AM_E_IO (the store could not be read). */
int mel_reader_init(mel_reader *r, const pcm_store *src, int q15, int n_mels, const float *filters, int n_threads);
/* Normalised log-mel of frames [t0, t0 + count) ⊂ [0, n_frames) into out[m * stride + i]. */
int mel_reader_window(mel_reader *r, int t0, int count, float *out, int stride);
void mel_reader_free(mel_reader *r);

#endif
