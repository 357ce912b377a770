/* energy.c — a light energy-based voice activity detector, the fallback when no Silero model is
 * available (or with --vad-energy).
 *
 * Same framing as Silero (512-sample frames, n / 512 + 1 of them, the last zero-padded).  For
 * each frame: level = 10 log10(mean(x^2) + 1e-10) dBFS.  The noise floor is the 10th percentile of
 * all levels; a frame's pseudo-probability is sigmoid((level - max(floor + 12, -50)) / 2), i.e.
 * 0.5 at 12 dB above the floor (and never for frames below -50 dBFS).  Silence and steady noise
 * stay near 0; speech, music and other loud events go to ~1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "vad/vad.h"

#define EN_MARGIN_DB 12.0f
#define EN_ABS_FLOOR_DB (-50.0f)
#define EN_SLOPE_DB 2.0f
#define EN_PERCENTILE 0.10

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int vad_energy_probs(const float *pcm, size_t n, float **probs, size_t *n_frames) {
    if (!probs || !n_frames || (!pcm && n)) return AM_E_INVALID_ARG;
    *probs = NULL;
    *n_frames = 0;
    const size_t nf = n / VAD_WINDOW + 1;
    float *lv = malloc(nf * sizeof *lv), *sorted = malloc(nf * sizeof *sorted);
    if (!lv || !sorted) {
        free(lv);
        free(sorted);
        return AM_E_NOMEM;
    }
    for (size_t i = 0; i < nf; i++) {
        double e = 0.0;
        for (size_t j = 0; j < VAD_WINDOW; j++) {
            size_t s = i * VAD_WINDOW + j;
            double x = s < n && isfinite(pcm[s]) ? pcm[s] : 0.0;
            e += x * x;
        }
        lv[i] = (float)(10.0 * log10(e / VAD_WINDOW + 1e-10));
    }
    /* the last frame is mostly padding: leave it out of the floor estimate when there are others */
    size_t n_est = nf > 1 ? nf - 1 : nf;
    memcpy(sorted, lv, n_est * sizeof *sorted);
    qsort(sorted, n_est, sizeof *sorted, cmp_float);
    float floor_db = sorted[(size_t)(EN_PERCENTILE * (double)(n_est - 1))];
    free(sorted);
    float ref = fmaxf(floor_db + EN_MARGIN_DB, EN_ABS_FLOOR_DB);
    for (size_t i = 0; i < nf; i++) lv[i] = 1.0f / (1.0f + expf(-(lv[i] - ref) / EN_SLOPE_DB));
    *probs = lv;
    *n_frames = nf;
    return AM_OK;
}
