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
#include "audio/pcm.h"

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
    pcm_store *st = pcm_store_view(pcm, n);
    if (!st) return AM_E_NOMEM;
    int rc = vad_energy_probs_store(st, probs, n_frames);
    pcm_store_free(st);
    return rc;
}

#define EN_BLOCK 512 /* frames read at a time */

int vad_energy_probs_store(const pcm_store *pcm, float **probs, size_t *n_frames) {
    if (!probs || !n_frames || !pcm) return AM_E_INVALID_ARG;
    *probs = NULL;
    *n_frames = 0;
    const size_t nf = pcm_store_size(pcm) / VAD_WINDOW + 1;
    float *lv = malloc(nf * sizeof *lv), *sorted = malloc(nf * sizeof *sorted);
    float *blk = malloc((size_t)EN_BLOCK * VAD_WINDOW * sizeof *blk);
    if (!lv || !sorted || !blk) {
        free(lv);
        free(sorted);
        free(blk);
        return AM_E_NOMEM;
    }
    for (size_t b0 = 0; b0 < nf; b0 += EN_BLOCK) {
        size_t nb = nf - b0 < EN_BLOCK ? nf - b0 : EN_BLOCK;
        int rc = pcm_store_read(pcm, b0 * VAD_WINDOW, nb * VAD_WINDOW, blk); /* zeros past the end */
        if (rc != AM_OK) {
            free(lv);
            free(sorted);
            free(blk);
            return rc;
        }
        for (size_t i = 0; i < nb; i++) {
            double e = 0.0;
            for (size_t j = 0; j < VAD_WINDOW; j++) {
                double x = blk[i * VAD_WINDOW + j];
                e += isfinite(x) ? x * x : 0.0;
            }
            lv[b0 + i] = (float)(10.0 * log10(e / VAD_WINDOW + 1e-10));
        }
    }
    free(blk);
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
