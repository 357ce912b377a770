/* fbank.h — Kaldi's log mel filterbank, as torchaudio.compliance.kaldi.fbank computes it with the
 * settings CAM++ was trained on (3D-Speaker): 16 kHz input in [-1, 1], frames of 400 samples
 * (25 ms) every 160 (10 ms) with snip_edges (frames that fit only), per frame the DC offset removed,
 * pre-emphasis 0.97 (the first sample against itself), the povey window
 * (0.5 - 0.5 cos(2 pi n / 399))^0.85, a 512-point FFT, the power spectrum, 80 triangular filters on
 * Kaldi's mel scale (1127 ln(1 + f / 700)) from 20 Hz to 8 kHz, and the log floored at float32's
 * epsilon; dither 0.  Computed in double, stored as float.  The reference is kaldi_fbank in
 * tests/integration/diarize_ref.py. */
#ifndef AM_DIARIZE_FBANK_H
#define AM_DIARIZE_FBANK_H

#include <stddef.h>

#define DIAR_FBANK_BINS 80
#define DIAR_FBANK_WINDOW 400
#define DIAR_FBANK_SHIFT 160

/* Frames of n samples: 0 when n < 400, else 1 + (n - 400) / 160. */
size_t diar_fbank_frames(size_t n);

/* out [diar_fbank_frames(n)][80].  Returns AM_OK or AM_E_NOMEM. */
int diar_fbank(const float *x, size_t n, float *out);

/* CAM++'s input normalisation: subtract from each bin its mean over the n_frames frames. */
void diar_fbank_mean_norm(float *feats, size_t n_frames);

#endif
