/* vad_plan.h — the speech in the audio and its chunks (vad_plan.c), for transcribe.c. */
#ifndef AM_VAD_PLAN_H
#define AM_VAD_PLAN_H

#include <stddef.h>

#include "amanuensis.h"
#include "vad/vad.h"

#define VAD_CHUNK_SAMPLES (30 * AM_SAMPLE_RATE) /* Whisper's window: the most speech per chunk */

typedef struct vad_plan {
    vad_segment *segs;   /* speech segments, original samples */
    size_t n_segs;
    vad_chunk *chunks;   /* chunks of segments, each <= 30 s of speech */
    size_t n_chunks;
    int detector;        /* 1 Silero, 2 energy (what actually ran) */
} vad_plan;

/* Detect speech in the samples (read block by block) with the params' detector and options, and plan the chunks. */
struct pcm_store;
int vad_plan_build(const struct pcm_store *pcm, const am_params *p, vad_plan *pl, char *err, size_t err_size);
void vad_plan_free(vad_plan *pl);

/* Find the Silero model file (the search order is in vad_plan.c); returns 1 with out[] filled, 0
 * when none; *explicit_ = the path was named (params.vad_model or $AMANUENSIS_VAD_MODEL). */
int vad_plan_model_path(const am_params *p, char *out, size_t size, int *explicit_);

#endif
