/* pipeline.h — a first end-to-end diarization in the pyannote 3.x manner, on the C networks
 * (segment.h, campplus.h, cluster.h); attach.h runs it on a transcription's samples.
 *
 *   1. 10 s chunks every `step` seconds (the last one ends at the end of the audio; audio shorter
 *      than 10 s is one chunk padded with zeros); segmentation-3.0 on each: 589 frames every 270
 *      samples, hard powerset decoding into up to 3 local speakers.
 *   2. Each local speaker of a chunk cut into pieces: its runs of activity, cut where another local
 *      speaker speaks 0.4 s between two of them or where it is silent 0.5 s (the segmentation may
 *      give two voices that never overlap in a chunk to the same local speaker).  One CAM++
 *      embedding per piece of the anchor chunks (every `embed_every`-th and the last) from the audio
 *      of its frames where it speaks alone (where it overlaps too when that is shorter than
 *      `min_embed` seconds; none at all when even that is shorter).  A piece of a chunk between
 *      anchors is linked to the previous or next anchor's piece that is active on the same frames
 *      (LINK_MIN frames, LINK_IOU of their union) and takes its embedding; one without such a link
 *      is embedded itself.  With the default step every second of speech is embedded about once
 *      instead of 5 times.
 *   3. Agglomerative clustering (cluster.h) of the embeddings of at least 2 s of their speaker alone
 *      (pyannote's 20% of a chunk; all of them when none is that long), at most CLUSTER_MAX of them
 *      (an evenly spread subset above that); every other embedding takes the cluster whose mean
 *      direction is nearest.  Two pieces of a chunk active together are two speakers: when they got
 *      the same cluster, the one further from it takes its next nearest.
 *   4. Reconstruction on the global grid of 270-sample frames: each frame's speaker count is the
 *      rounded mean over the chunks covering it of their active local speakers; the count's most
 *      active global speakers (mean activity over those chunks) are the frame's speakers.
 *   5. Runs of frames become turns; a speaker's pause shorter than 0.2 s is filled; speakers are
 *      numbered in order of first appearance. */
#ifndef AM_DIARIZE_PIPELINE_H
#define AM_DIARIZE_PIPELINE_H

#include <stdatomic.h>
#include <stddef.h>

#include "audio/pcm.h"
#include "diarize/campplus.h"
#include "diarize/segment.h"

typedef struct diar_options {
    float step;         /* seconds between chunk starts (default 2: 5 chunks vote on each frame, pyannote's 1 s
                         * gives 10; at 2.5 a 0.5 s back-channel of tests/integration/diarize_fixtures.py's "three"
                         * went to the voice before it, which 2 of the 3 chunks covering it did not tell apart
                         * from it; at 2 s, 1 of 3; steps of 1 to 2 s all get it right, 2.25 does not) */
    float threshold;    /* clustering: cosine distance below which clusters merge (default 0.45: the middle of
                         * 0.35 .. 0.55, where pyannote's 2-speaker sample and the fixtures of
                         * tests/integration/diarize_fixtures.py get their count right) */
    int num_speakers;   /* > 0: exactly this many */
    int min_speakers;   /* > 0: at least */
    int max_speakers;   /* > 0: at most */
    float min_embed;    /* seconds of speech an embedding needs (default 0.25: a back-channel's piece) */
    int n_threads;      /* chunks processed side by side (default 1) */
    float max_embed;    /* seconds of speech an embedding takes at most, from the middle of its piece outward
                         * (0: all of it; default 3: longer adds nothing on the fixtures, pyannote's sample
                         * or the 10-minute file of bench/diarize_eval.py, and CAM++ costs as much per second) */
    int embed_every;    /* the pieces of every embed_every-th chunk (and the last) are embedded; those of the
                         * chunks between are linked to theirs by shared activity, and embedded only when no
                         * link is clear (default 5: with a 2 s step, each speaker every 10 s; 1: all) */
    const atomic_int *foreground; /* NULL (default): the calling thread and n_threads - 1 workers run everything.
                                   * Else n_threads workers at idle priority begin (am_pool_set_background: they
                                   * take only the cores nothing else wants, e.g. beside a transcription) and the
                                   * calling thread joins them at its own priority once *foreground is set */
    const atomic_int *cancel;     /* set (non-NULL): stop at the next chunk or piece with AM_E_ABORTED */
} diar_options;

typedef struct diar_turn {
    double start, end; /* seconds */
    int speaker;       /* 0 .. n_speakers - 1 */
} diar_turn;

diar_options diar_options_default(void);

/* Diarize x[0..n) (16 kHz).  *turns (free()) sorted by start; *n_speakers global speakers.
 * Returns AM_OK, AM_E_INVALID_ARG, AM_E_NOMEM or AM_E_ABORTED (o->cancel) with a message. */
int diar_run(const diar_segmenter *seg, const diar_campplus *emb, const float *x, size_t n, const diar_options *o,
             diar_turn **turns, size_t *n_turns, int *n_speakers, char *err, size_t err_size);
/* The same on the samples of a store, read chunk by chunk (each thread holds one 10 s chunk): a
 * spooled recording is never all in memory.  Also AM_E_IO when the store cannot be read back. */
int diar_run_pcm(const diar_segmenter *seg, const diar_campplus *emb, const pcm_store *pcm, const diar_options *o,
                 diar_turn **turns, size_t *n_turns, int *n_speakers, char *err, size_t err_size);

#endif
