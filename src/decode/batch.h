/* batch.h — several independent ≤ 30 s chunks (VAD chunks) transcribed together (transcribe.c). */
#ifndef AM_BATCH_H
#define AM_BATCH_H

#include <stddef.h>

#include "amanuensis.h"

/* results[i]: chunk i's segments in chunk-local time (free each with am_result_free). */
int transcribe_chunks_batched(am_model *m, const float *const *chunks, const size_t *n_samples, int n_chunks,
                              const am_params *params, am_result **results, char *err, size_t err_size);

#endif
