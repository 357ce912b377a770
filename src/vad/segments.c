/* segments.c — from per-frame speech probabilities to speech segments, chunks and the time map.
 *
 * vad_speech_segments is faster-whisper's get_speech_timestamps (faster_whisper/vad.py, adapted
 * from snakers4/silero-vad) on precomputed probabilities, with the same integer/float arithmetic
 * so that boundaries agree to the sample.  vad_collect_chunks and vad_chunk_time_to_original
 * follow collect_chunks and SpeechTimestampsMap, per chunk. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "vad/vad.h"
#include "audio/pcm.h"

vad_options vad_options_default(void) {
    vad_options o;
    o.threshold = 0.5f;
    o.neg_threshold = -1.0f;
    o.min_speech_ms = 0;
    o.max_speech_s = INFINITY;
    o.min_silence_ms = 2000;
    o.speech_pad_ms = 400;
    return o;
}

typedef struct seg_vec {
    vad_segment *v;
    size_t n, cap;
} seg_vec;

static int seg_push(seg_vec *s, size_t start, size_t end) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        vad_segment *g = realloc(s->v, cap * sizeof *g);
        if (!g) return AM_E_NOMEM;
        s->v = g;
        s->cap = cap;
    }
    s->v[s->n].start = start;
    s->v[s->n].end = end;
    s->n++;
    return AM_OK;
}

/* Python's a // 2 for a possibly negative integer. */
static long long floordiv2(long long a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }

int vad_speech_segments(const float *probs, size_t n_frames, size_t n_samples, const vad_options *o,
                        vad_segment **segs, size_t *n_segs) {
    if (!segs || !n_segs || !o || (!probs && n_frames)) return AM_E_INVALID_ARG;
    *segs = NULL;
    *n_segs = 0;
    const double sr = AM_SAMPLE_RATE, win = VAD_WINDOW;
    const float thr = o->threshold;
    const float neg = o->neg_threshold >= 0.0f ? o->neg_threshold : fmaxf(o->threshold - 0.15f, 0.01f);
    const double min_speech = sr * o->min_speech_ms / 1000.0;
    const double pad = sr * o->speech_pad_ms / 1000.0;
    const double max_s = (o->max_speech_s > 0.0f && isfinite(o->max_speech_s)) ? o->max_speech_s : INFINITY;
    const double max_speech = sr * max_s - win - 2.0 * pad;
    const double min_silence = sr * o->min_silence_ms / 1000.0;
    const double min_silence_at_max = sr * 98.0 / 1000.0;

    seg_vec out = {0};
    int triggered = 0, have_cur = 0;
    long long cur_start = 0, temp_end = 0, prev_end = 0, next_start = 0;

    for (size_t fi = 0; fi < n_frames; fi++) {
        const float p = probs[fi];
        const long long pos = (long long)fi * VAD_WINDOW;
        if (p >= thr && temp_end) {
            temp_end = 0;
            if (next_start < prev_end) next_start = pos;
        }
        if (p >= thr && !triggered) {
            triggered = 1;
            cur_start = pos;
            have_cur = 1;
            continue;
        }
        if (triggered && (double)(pos - cur_start) > max_speech) {
            if (prev_end) {
                if (seg_push(&out, (size_t)cur_start, (size_t)prev_end)) goto nomem;
                have_cur = 0;
                if (next_start < prev_end) {
                    triggered = 0;
                } else {
                    cur_start = next_start;
                    have_cur = 1;
                }
                prev_end = next_start = temp_end = 0;
            } else {
                if (seg_push(&out, (size_t)cur_start, (size_t)pos)) goto nomem;
                have_cur = 0;
                prev_end = next_start = temp_end = 0;
                triggered = 0;
                continue;
            }
        }
        if (p < neg && triggered) {
            if (!temp_end) temp_end = pos;
            if ((double)(pos - temp_end) > min_silence_at_max) prev_end = temp_end;
            if ((double)(pos - temp_end) < min_silence) continue;
            if ((double)(temp_end - cur_start) > min_speech)
                if (seg_push(&out, (size_t)cur_start, (size_t)temp_end)) goto nomem;
            have_cur = 0;
            prev_end = next_start = temp_end = 0;
            triggered = 0;
            continue;
        }
    }
    if (have_cur && (double)((long long)n_samples - cur_start) > min_speech)
        if (seg_push(&out, (size_t)cur_start, n_samples)) goto nomem;

    /* padding: pad each side, or split the silence between neighbours closer than 2 * pad */
    for (size_t i = 0; i < out.n; i++) {
        vad_segment *s = &out.v[i];
        if (i == 0) s->start = (size_t)fmax(0.0, (double)s->start - pad);
        if (i + 1 < out.n) {
            vad_segment *nx = &out.v[i + 1];
            long long silence = (long long)nx->start - (long long)s->end;
            if ((double)silence < 2.0 * pad) {
                long long half = floordiv2(silence);
                s->end = (size_t)((long long)s->end + half);
                nx->start = (size_t)fmax(0.0, (double)((long long)nx->start - half));
            } else {
                s->end = (size_t)fmin((double)n_samples, (double)s->end + pad);
                nx->start = (size_t)fmax(0.0, (double)nx->start - pad);
            }
        } else {
            s->end = (size_t)fmin((double)n_samples, (double)s->end + pad);
        }
    }
    /* Keep only well-formed segments (start < end <= n); with sane options all of them are. */
    size_t k = 0;
    for (size_t i = 0; i < out.n; i++) {
        if (out.v[i].end > n_samples) out.v[i].end = n_samples;
        if (out.v[i].start < out.v[i].end) out.v[k++] = out.v[i];
    }
    if (k == 0) {
        free(out.v);
        return AM_OK;
    }
    *segs = out.v;
    *n_segs = k;
    return AM_OK;
nomem:
    free(out.v);
    return AM_E_NOMEM;
}

int vad_collect_chunks(const vad_segment *segs, size_t n_segs, size_t max_samples, size_t max_gap, vad_chunk **chunks,
                       size_t *n_chunks) {
    if (!chunks || !n_chunks || (!segs && n_segs)) return AM_E_INVALID_ARG;
    *chunks = NULL;
    *n_chunks = 0;
    if (n_segs == 0) return AM_OK;
    vad_chunk *c = malloc(n_segs * sizeof *c); /* at most one chunk per segment */
    if (!c) return AM_E_NOMEM;
    size_t nc = 0;
    vad_chunk cur = {0, 0, 0};
    for (size_t i = 0; i < n_segs; i++) {
        size_t len = segs[i].end - segs[i].start;
        if (cur.count > 0 && (cur.n_samples + len > max_samples || segs[i].start - segs[i - 1].end > max_gap)) {
            c[nc++] = cur;
            cur = (vad_chunk){i, 0, 0};
        }
        if (cur.count == 0) cur.first = i;
        cur.count++;
        cur.n_samples += len;
    }
    c[nc++] = cur;
    *chunks = c;
    *n_chunks = nc;
    return AM_OK;
}

int vad_chunk_audio(const vad_chunk *chunk, const vad_segment *segs, const pcm_store *pcm, float *out) {
    size_t o = 0;
    for (size_t j = 0; j < chunk->count; j++) {
        const vad_segment *s = &segs[chunk->first + j];
        int rc = pcm_store_read(pcm, s->start, s->end - s->start, out + o);
        if (rc != AM_OK) return rc;
        o += s->end - s->start;
    }
    return AM_OK;
}

double vad_chunk_time_to_original(const vad_chunk *chunk, const vad_segment *segs, double t, int is_end) {
    if (chunk->count == 0) return t;
    const double sr = AM_SAMPLE_RATE;
    long long sample = (long long)(t * sr); /* Python int(): truncation */
    size_t local_start = 0, j;
    /* first segment whose chunk-local end is > sample (== sample with is_end), else the last */
    for (j = 0; j < chunk->count; j++) {
        const vad_segment *s = &segs[chunk->first + j];
        size_t local_end = local_start + (s->end - s->start);
        if (is_end && sample == (long long)local_end) break;
        if ((long long)local_end > sample) break;
        if (j + 1 == chunk->count) break;
        local_start = local_end;
    }
    if (j == chunk->count) j = chunk->count - 1;
    const vad_segment *s = &segs[chunk->first + j];
    double orig = t + ((double)s->start - (double)local_start) / sr;
    return round(orig * 1000.0) / 1000.0;
}
