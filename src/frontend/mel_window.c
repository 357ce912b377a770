/* mel_window.c — the log-mel window by window (see mel_window.h). */
#include "frontend/mel_window.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "frontend/mel.h"
#include "frontend/mel_q15.h"

#define MEL_BLOCK_FRAMES 6000 /* frames per pass of the scan (60 s); a window needs at most 3002 */

/* Raw log values of frames [a, b) into r->raw ([n_mels][b − a]); a even, b even or the last frame. */
static int raw_range(mel_reader *r, int a, int b, double *max_log, int32_t *max_q24) {
    const size_t len = r->n_samples + AM_HOP, first = (size_t)a * AM_HOP;
    const size_t count = (size_t)(b - a - 1) * AM_HOP + AM_N_FFT;
    /* the samples the reflect-padded range reads: one contiguous span [lo, hi] of the signal */
    size_t lo = (size_t)-1, hi = 0;
    for (size_t i = 0; i < count; i++) {
        size_t j = mel_reflect_index((long long)(first + i) - AM_N_FFT / 2, len);
        if (j >= r->n_samples) continue;
        if (j < lo) lo = j;
        if (j > hi) hi = j;
    }
    if (lo != (size_t)-1) {
        int rc = pcm_store_read(r->src, lo, hi - lo + 1, r->samples);
        if (rc != AM_OK) return rc;
    }
    for (size_t i = 0; i < count; i++) {
        size_t j = mel_reflect_index((long long)(first + i) - AM_N_FFT / 2, len);
        r->padded[i] = j < r->n_samples ? r->samples[j - lo] : 0.0f;
    }
    if (!r->q15) return mel_raw_frames(r->padded, b - a, r->n_mels, r->filters, r->n_threads, r->raw, max_log);
    for (size_t i = 0; i < count; i++) r->padded_q[i] = mel_q15_from_float(r->padded[i]);
    return mel_q15_raw_frames(r->padded_q, b - a, r->n_mels, r->filters, r->n_threads, r->raw, max_q24);
}

void mel_reader_free(mel_reader *r) {
    free(r->samples);
    free(r->padded);
    free(r->padded_q);
    free(r->raw);
    memset(r, 0, sizeof *r);
}

int mel_reader_init(mel_reader *r, const pcm_store *src, int q15, int n_mels, const float *filters, int n_threads) {
    memset(r, 0, sizeof *r);
    const size_t n = pcm_store_size(src);
    if (n == 0 || n_mels <= 0 || !filters) return AM_E_INVALID_ARG;
    const size_t frames = (n + AM_HOP) / AM_HOP;
    if (frames > (size_t)0x7fffffff / (size_t)n_mels) return AM_E_INVALID_ARG;
    r->src = src;
    r->n_samples = n;
    r->n_frames = (int)frames;
    r->q15 = q15;
    r->n_mels = n_mels;
    r->filters = filters;
    r->n_threads = n_threads;
    r->block_frames = frames < MEL_BLOCK_FRAMES ? frames : MEL_BLOCK_FRAMES;
    const size_t count = (r->block_frames - 1) * AM_HOP + AM_N_FFT;
    /* the span a range reads is at most its own length (reflections fold back inside it) */
    r->samples = malloc(count * sizeof *r->samples);
    r->padded = malloc(count * sizeof *r->padded);
    r->padded_q = q15 ? malloc(count * sizeof *r->padded_q) : NULL;
    r->raw = malloc((size_t)n_mels * r->block_frames * 4);
    if (!r->samples || !r->padded || (q15 && !r->padded_q) || !r->raw) {
        mel_reader_free(r);
        return AM_E_NOMEM;
    }
    double mx = -INFINITY;
    int32_t mq = INT32_MIN;
    for (int a = 0; a < r->n_frames; a += (int)r->block_frames) {
        int b = a + (int)r->block_frames < r->n_frames ? a + (int)r->block_frames : r->n_frames;
        double bm = -INFINITY;
        int32_t bq = INT32_MIN;
        int rc = raw_range(r, a, b, &bm, &bq);
        if (rc != AM_OK) {
            mel_reader_free(r);
            return rc;
        }
        if (bm > mx) mx = bm;
        if (bq > mq) mq = bq;
    }
    r->max_log = mx;
    r->max_q24 = mq;
    return AM_OK;
}

int mel_reader_window(mel_reader *r, int t0, int count, float *out, int stride) {
    if (t0 < 0 || count <= 0 || t0 + count > r->n_frames) return AM_E_INVALID_ARG;
    const int a = t0 & ~1, b0 = (t0 + count + 1) & ~1, b = b0 < r->n_frames ? b0 : r->n_frames;
    if ((size_t)(b - a) > r->block_frames) return AM_E_INVALID_ARG;
    double unused_max;
    int32_t unused_q;
    int rc = raw_range(r, a, b, &unused_max, &unused_q);
    if (rc != AM_OK) return rc;
    const int w = b - a;
    for (int m = 0; m < r->n_mels; m++) {
        if (r->q15)
            mel_q15_normalise((const int32_t *)r->raw + (size_t)m * w + (t0 - a), (size_t)count, r->max_q24,
                              out + (size_t)m * stride);
        else
            mel_normalise((const float *)r->raw + (size_t)m * w + (t0 - a), (size_t)count, r->max_log,
                          out + (size_t)m * stride);
    }
    return AM_OK;
}
