/* pipeline.h — a first end-to-end diarization in the pyannote 3.x manner, on the C networks
 * (segment.h, campplus.h, cluster.h).  Not yet called by the transcription path (issue 15).
 *
 *   1. 10 s chunks every `step` seconds (the last one ends at the end of the audio; audio shorter
 *      than 10 s is one chunk padded with zeros); segmentation-3.0 on each: 589 frames every 270
 *      samples, hard powerset decoding into up to 3 local speakers.
 *   2. One CAM++ embedding per (chunk, local speaker) from the audio of its frames where it speaks
 *      alone (where it overlaps too when that is shorter than `min_embed` seconds; none at all when
 *      even that is shorter).
 *   3. Agglomerative clustering of the embeddings (cluster.h) into global speakers.
 *   4. Reconstruction on the global grid of 270-sample frames: each frame's speaker count is the
 *      rounded mean over the chunks covering it of their active local speakers; the count's most
 *      active global speakers (mean activity over those chunks) are the frame's speakers.
 *   5. Runs of frames become turns; speakers are numbered in order of first appearance. */
#ifndef AM_DIARIZE_PIPELINE_H
#define AM_DIARIZE_PIPELINE_H

#include <stddef.h>

#include "diarize/campplus.h"
#include "diarize/segment.h"

typedef struct diar_options {
    float step;         /* seconds between chunk starts (default 2.5) */
    float threshold;    /* clustering: cosine distance below which clusters merge (default 0.45: the middle of
                         * 0.3 .. 0.6, where pyannote's 2-speaker sample is split right) */
    int num_speakers;   /* > 0: exactly this many */
    int min_speakers;   /* > 0: at least */
    int max_speakers;   /* > 0: at most */
    float min_embed;    /* seconds of speech an embedding needs (default 0.5) */
    int n_threads;      /* chunks processed side by side (default 1) */
} diar_options;

typedef struct diar_turn {
    double start, end; /* seconds */
    int speaker;       /* 0 .. n_speakers - 1 */
} diar_turn;

diar_options diar_options_default(void);

/* Diarize x[0..n) (16 kHz).  *turns (free()) sorted by start; *n_speakers global speakers.
 * Returns AM_OK, AM_E_INVALID_ARG or AM_E_NOMEM with a message. */
int diar_run(const diar_segmenter *seg, const diar_campplus *emb, const float *x, size_t n, const diar_options *o,
             diar_turn **turns, size_t *n_turns, int *n_speakers, char *err, size_t err_size);

#endif
