/* attach.h — speaker diarization of a transcription (am_params.diarize): the weight file found
 * and loaded, diar_run (pipeline.h) on the same samples, and its turns attached to the result. */
#ifndef AM_DIARIZE_ATTACH_H
#define AM_DIARIZE_ATTACH_H

#include <stddef.h>

#include "amanuensis.h"
#include "audio/pcm.h"
#include "diarize/pipeline.h"

#define DIAR_MODEL_FILE "diarization.bin"

/* The weight file: p->diarize_model, else $AMANUENSIS_DIARIZE_MODEL, else the first that exists of
 * <exe dir>/../models/diarization/, <exe dir>/../share/amanuensis/, <libamanuensis.so
 * dir>/../share/amanuensis/ and ./models/diarization/ + diarization.bin.  Returns 1 with the path
 * in out, or 0 when none is named and none is found. */
int diar_model_path(const am_params *p, char *out, size_t size);

/* Give r's words and segments speakers from turns[0..n_turns) (speakers 0 .. n_speakers - 1):
 * each word the speaker whose turns overlap it longest (the nearest turn's when none overlaps),
 * each segment the same over its own span, except that a segment whose words change speaker is
 * split there into one segment per run of words (text: the words joined; times: the first and
 * last word's, the outer ends keeping the segment's; tokens: none); segments are renumbered.  The
 * turns are stored in r (am_result_turn).  Returns AM_OK or AM_E_NOMEM (r unchanged). */
int diar_attach_turns(am_result *r, const diar_turn *turns, size_t n_turns, int n_speakers);

/* The networks of the weight files a model's transcriptions have diarized with, each loaded once
 * (segmentation and W8A8 CAM++: ~0.1 s and ~40 MB) and shared read-only by every later
 * transcription, on any thread.  An entry is keyed by the file's path, size and modification time
 * (a replaced file is loaded again); at most DIAR_CACHE_MAX are kept, beyond that a transcription
 * loads its own and frees it.  Owned by the am_model (model.h), freed with it. */
#define DIAR_CACHE_MAX 4
typedef struct diar_cache diar_cache;
diar_cache *diar_cache_create(void);
void diar_cache_free(diar_cache *c);

/* Diarization beside a transcription.  diar_job_start begins diarizing the samples of pcm (read
 * back chunk by chunk: diar_run_pcm) as p asks (model, speaker counts, threads) on a thread of its
 * own, with p's thread count of workers at idle priority: while the transcription runs they take
 * only the cores it leaves idle (its decoder does not keep every core busy), without slowing it.
 * diar_job_finish, called when the transcription is done, joins them at the caller's priority,
 * waits, and attaches the turns to r; r NULL (the transcription failed) cancels the work instead.
 * The networks come from cache (NULL: loaded and freed by the job).  pcm must stay unchanged until
 * diar_job_finish returns.  Both return AM_OK, or AM_E_IO / AM_E_MODEL naming the weight file,
 * AM_E_NOMEM, ... with a message; diar_job_finish always frees the job, and gives the seconds the
 * diarization ran (NULL: not wanted). */
typedef struct diar_job diar_job;
int diar_job_start(const pcm_store *pcm, const am_params *p, diar_cache *cache, diar_job **job, char *err,
                   size_t err_size);
int diar_job_finish(diar_job *job, am_result *r, double *seconds, char *err, size_t err_size);

#endif
