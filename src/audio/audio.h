/* audio.h — internal audio helpers (the public entry points am_audio_* are in amanuensis.h). */
#ifndef AM_AUDIO_H
#define AM_AUDIO_H

#include <stddef.h>

/* Resample mono float audio from `in_rate` to `out_rate` with a windowed-sinc (Kaiser) low-pass
 * filter; *out is malloc'd.  Identity copy when the rates are equal. */
int audio_resample(const float *in, size_t n_in, int in_rate, int out_rate, float **out, size_t *n_out);

#endif
