/* segment.h — the pyannote segmentation-3.0 network (PyanNet) in float C, inference only, on the
 * weights "segmentation.*" of the diarization weight file (weights.h).
 *
 * Structure (pyannote.audio's PyanNet with sincnet stride 10, lstm 4 x 128 bidirectional, linear
 * 2 x 128, 7 powerset classes):
 *   SincNet: the waveform instance-normalised (one channel, affine); 80 band-pass filters of 251 taps
 *     (asteroid's ParamSincFB: 40 cosine then 40 sine filters from the learned low_hz_ / band_hz_,
 *     min_low_hz = min_band_hz = 50, the stored half Hamming window and half time axis), stride 10,
 *     |x|; max-pool 3; instance norm (affine); leaky ReLU (0.01).  Then twice: conv1d k5 (80 -> 60,
 *     60 -> 60), max-pool 3, instance norm, leaky ReLU.  160000 samples -> 589 frames of 60.
 *   LSTM: 4 bidirectional layers of 128 (PyTorch's gate order i, f, g, o) -> 256 per frame.
 *   Two linear layers 256 -> 128 -> 128 with leaky ReLU, a classifier 128 -> 7, log-softmax.
 * The 7 classes are pyannote's powerset of at most 3 local speakers, at most 2 at once:
 * {}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}.  The reference is segmentation in
 * tests/integration/diarize_ref.py. */
#ifndef AM_DIARIZE_SEGMENT_H
#define AM_DIARIZE_SEGMENT_H

#include <stddef.h>

#include "diarize/weights.h"

#define DIAR_SEG_CHUNK 160000 /* the 10 s the network was trained on */
#define DIAR_SEG_CLASSES 7

typedef struct diar_segmenter diar_segmenter;

/* Check every tensor's shape and build the network (its own copies: w may be freed after).
 * Returns AM_OK, AM_E_NOMEM or AM_E_MODEL with a message. */
int diar_seg_create(const diar_weights *w, diar_segmenter **out, char *err, size_t err_size);
void diar_seg_free(diar_segmenter *m);

/* Output frames for n samples (589 for 160000; 0 when n is too short for one). */
size_t diar_seg_frames(size_t n);

/* logp [diar_seg_frames(n)][7]: the log-probabilities of the classes for x[0..n).  Returns AM_OK,
 * AM_E_INVALID_ARG (no frame) or AM_E_NOMEM.  Reentrant. */
int diar_seg_forward(const diar_segmenter *m, const float *x, size_t n, float *logp, char *err, size_t err_size);
/* The same for B chunks x[B][n] at once -> logp [B][diar_seg_frames(n)][7], each chunk's result
 * bit-identical to diar_seg_forward's: the LSTM's recurrence multiplies the B chunks' states by its
 * weights in one product per frame instead of B (the weights are read once per frame, not B times). */
int diar_seg_forward_batch(const diar_segmenter *m, const float *x, size_t n, int B, float *logp, char *err,
                           size_t err_size);
/* B chunks of n samples that may overlap, chunk b at x + start[b] -> logp [B][diar_seg_frames(n)][7].
 * When they overlap (starts ascending on multiples of 10 samples from start[0], spanning less than
 * B * n samples) the sinc filters, most of SincNet's work, run once over the span instead of once
 * per chunk, each chunk taking its rows; its waveform norm is applied after them (it is affine).
 * The results then differ from diar_seg_forward's on the same chunk in float rounding only
 * (test_diarize.py).  Otherwise this is diar_seg_forward_batch on chunks that need not be adjacent. */
int diar_seg_forward_chunks(const diar_segmenter *m, const float *x, const size_t *start, int B, size_t n,
                            float *logp, char *err, size_t err_size);

#endif
