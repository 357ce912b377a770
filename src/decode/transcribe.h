/* transcribe.h — the transcription of transcribe.c for callers inside the library that transcribe
 * again and again (the live stream, src/stream/stream.c). */
#ifndef AM_TRANSCRIBE_H
#define AM_TRANSCRIBE_H

#include "amanuensis.h"
#include "backend/backend.h"

/* am_transcribe on a backend session the caller keeps between calls: *session NULL (or too small
 * for the params) gets a new one; on AM_OK it is left in *session for the next call, on an error it
 * is destroyed and *session is NULL.  The caller ends with session_destroy(*session). */
am_status transcribe_in_session(const am_model *m, am_session **session, const float *samples, size_t n_samples,
                                const am_params *params, am_result **out, char *err, size_t err_size);

#endif
