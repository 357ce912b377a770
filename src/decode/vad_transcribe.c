/* vad_transcribe.c — transcription with voice activity detection (params.vad != 0).
 *
 *   samples[n] --VAD--> probs[n/512 + 1] --vad_speech_segments--> speech segments (original samples)
 *              --vad_collect_chunks--> chunks (<= 30 s of speech each, silences between segments removed)
 *   for each chunk: its audio (concatenated segments) -> am_transcribe (vad off) -> segments whose
 *   chunk-local times are mapped back to the original timeline (vad_chunk_time_to_original) and
 *   appended to one am_result, ids renumbered.
 *
 * Non-speech never reaches the decoder, so silence, noise and music give no text.  No speech at all:
 * an empty result (AM_OK).
 *
 * Seam for batched long-form: every chunk is independent (no conditioning on the previous chunk's
 * text), so the loop in transcribe_with_vad can be replaced by a batched call over
 * vad_plan.chunks[] that encodes/decodes several chunks at once, then maps segments back the same way.
 *
 * The Silero model file: params.vad_model, else $AMANUENSIS_VAD_MODEL, else
 * <directory of the executable>/../data/silero-vad-v6.2.0-ggml.bin, else
 * ./data/silero-vad-v6.2.0-ggml.bin.  An explicitly named file that cannot be loaded is an error;
 * when none is named and none is found, the energy detector is used instead. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amanuensis.h"
#include "common/util.h"
#include "decode/batch.h"
#include "result/result.h"
#include "vad/vad.h"

#define VAD_MODEL_FILE "silero-vad-v6.2.0-ggml.bin"
#define VAD_CHUNK_SAMPLES (30 * AM_SAMPLE_RATE) /* Whisper's window: the most speech per chunk */

int transcribe_with_vad(am_model *m, const float *samples, size_t n, const am_params *p, am_result **out, char *err,
                        size_t err_size);

/* The speech found in the audio and its chunks. */
typedef struct vad_plan {
    vad_segment *segs;
    size_t n_segs;
    vad_chunk *chunks;
    size_t n_chunks;
    int detector; /* 1 Silero, 2 energy (what actually ran) */
} vad_plan;

static void vad_plan_free(vad_plan *pl) {
    free(pl->segs);
    free(pl->chunks);
    memset(pl, 0, sizeof *pl);
}

static int file_exists(const char *path) { return access(path, R_OK) == 0; }

/* Find the Silero model; returns 1 with out[] filled, 0 when none; *explicit_ = the path was named. */
static int vad_model_path(const am_params *p, char *out, size_t size, int *explicit_) {
    *explicit_ = 0;
    const char *named = p->vad_model && *p->vad_model ? p->vad_model : getenv("AMANUENSIS_VAD_MODEL");
    if (named && *named) {
        *explicit_ = 1;
        snprintf(out, size, "%s", named);
        return 1;
    }
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            if ((size_t)snprintf(out, size, "%s/../data/%s", exe, VAD_MODEL_FILE) < size && file_exists(out)) return 1;
        }
    }
    if ((size_t)snprintf(out, size, "data/%s", VAD_MODEL_FILE) < size && file_exists(out)) return 1;
    return 0;
}

/* Detect speech and plan the chunks. */
static int vad_plan_build(const float *samples, size_t n, const am_params *p, vad_plan *pl, char *err,
                          size_t err_size) {
    memset(pl, 0, sizeof *pl);
    float *probs = NULL;
    size_t n_frames = 0;
    int rc;
    pl->detector = p->vad == 2 ? 2 : 1;
    if (pl->detector == 1) {
        char path[4096];
        int explicit_ = 0;
        if (vad_model_path(p, path, sizeof path, &explicit_)) {
            vad_silero *v = NULL;
            rc = vad_silero_load(path, &v, err, err_size);
            if (rc != AM_OK) return rc; /* the message names the file */
            int threads = p->n_threads > 0 ? p->n_threads : am_cpu_count();
            rc = vad_silero_probs(v, samples, n, threads, &probs, &n_frames);
            vad_silero_free(v);
            if (rc != AM_OK) return am_fail(err, err_size, rc, "voice activity detection failed: %s", am_status_string(rc));
        } else {
            pl->detector = 2; /* no model anywhere: the energy detector */
        }
    }
    if (pl->detector == 2) {
        rc = vad_energy_probs(samples, n, &probs, &n_frames);
        if (rc != AM_OK) return am_fail(err, err_size, rc, "voice activity detection failed: %s", am_status_string(rc));
    }

    vad_options o = vad_options_default();
    o.threshold = p->vad_threshold;
    o.min_speech_ms = p->vad_min_speech_ms;
    o.min_silence_ms = p->vad_min_silence_ms;
    o.speech_pad_ms = p->vad_speech_pad_ms;
    o.max_speech_s = p->vad_max_speech_s > 0.0f ? p->vad_max_speech_s : INFINITY;
    rc = vad_speech_segments(probs, n_frames, n, &o, &pl->segs, &pl->n_segs);
    free(probs);
    if (rc == AM_OK) rc = vad_collect_chunks(pl->segs, pl->n_segs, VAD_CHUNK_SAMPLES,
                                            p->vad_chunk_gap_ms < 0 ? SIZE_MAX
                                                                    : (size_t)p->vad_chunk_gap_ms * (AM_SAMPLE_RATE / 1000),
                                            &pl->chunks, &pl->n_chunks);
    if (rc != AM_OK) {
        vad_plan_free(pl);
        return am_fail(err, err_size, rc, "voice activity detection failed: %s", am_status_string(rc));
    }
    return AM_OK;
}

/* Add a chunk's segment to r with its times (and its words' times) on the original timeline;
 * report it to the user's callback. */
static int add_mapped_segment(am_result *r, const am_segment *s, const vad_chunk *c, const vad_segment *segs,
                              const am_params *user) {
    am_segment o = *s;
    o.id = (int)r->n_segments + 1;
    o.start = vad_chunk_time_to_original(c, segs, s->start, 0);
    o.end = vad_chunk_time_to_original(c, segs, s->end, 1);
    if (o.end < o.start) o.end = o.start;
    o.seek = (int)lround(vad_chunk_time_to_original(c, segs, s->seek * 0.01, 0) * 100.0);
    am_word *words = NULL;
    if (s->words && s->n_words > 0) {
        words = malloc((size_t)s->n_words * sizeof *words);
        if (!words) return AM_E_NOMEM;
        for (int i = 0; i < s->n_words; i++) {
            words[i] = s->words[i];
            words[i].start = vad_chunk_time_to_original(c, segs, s->words[i].start, 0);
            words[i].end = vad_chunk_time_to_original(c, segs, s->words[i].end, 1);
            if (words[i].end < words[i].start) words[i].end = words[i].start;
        }
    }
    o.words = words;
    int rc = result_add_segment(r, &o);
    free(words);
    if (rc == AM_OK && user->on_segment) user->on_segment(&r->segments[r->n_segments - 1], user->user_data);
    return rc;
}

int transcribe_with_vad(am_model *m, const float *samples, size_t n, const am_params *p, am_result **out, char *err,
                        size_t err_size) {
    if (!m || !out || !p || (!samples && n)) return am_fail(err, err_size, AM_E_INVALID_ARG, "am_transcribe: NULL argument");
    *out = NULL;
    if (n == 0) return am_fail(err, err_size, AM_E_AUDIO, "the audio contains no samples");
    if (p->vad < 0 || p->vad > 2) return am_fail(err, err_size, AM_E_INVALID_ARG, "params.vad must be 0, 1 or 2");
    if (!(p->vad_threshold > 0.0f && p->vad_threshold < 1.0f) || p->vad_min_speech_ms < 0 || p->vad_min_silence_ms < 0 ||
        p->vad_speech_pad_ms < 0 || isnan(p->vad_max_speech_s) ||
        (p->vad_max_speech_s > 0.0f && p->vad_max_speech_s < 1.0f))
        return am_fail(err, err_size, AM_E_INVALID_ARG,
                       "VAD options out of range (threshold in (0, 1), durations >= 0, max speech >= 1 s)");

    vad_plan pl;
    int rc = vad_plan_build(samples, n, p, &pl, err, err_size);
    if (rc != AM_OK) return rc;

    am_result *r = calloc(1, sizeof *r);
    if (!r) {
        vad_plan_free(&pl);
        return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    }
    r->duration = (double)n / AM_SAMPLE_RATE;
    snprintf(r->language, sizeof r->language, "%s",
             p->language && *p->language && strcmp(p->language, "auto") != 0 ? p->language : "en");

    am_params cp = *p;
    cp.vad = 0;
    cp.on_segment = NULL; /* segments are reported once they are on the original timeline */
    const int B = p->batch_size > 1 ? (p->batch_size < 64 ? p->batch_size : 64) : 1;
    float **bufs = calloc((size_t)B, sizeof *bufs);
    size_t *lens = calloc((size_t)B, sizeof *lens);
    am_result **crs = calloc((size_t)B, sizeof *crs);
    if (!bufs || !lens || !crs) rc = am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    for (int k = 0; k < B && rc == AM_OK; k++)
        if (!(bufs[k] = malloc((size_t)VAD_CHUNK_SAMPLES * sizeof **bufs))) rc = am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    /* chunks go `B` at a time: one batched call (B > 1) or the sequential long-form path */
    for (size_t g0 = 0; g0 < pl.n_chunks && rc == AM_OK; g0 += (size_t)B) {
        int nb = (int)(pl.n_chunks - g0 < (size_t)B ? pl.n_chunks - g0 : (size_t)B);
        for (int k = 0; k < nb; k++) {
            const vad_chunk *c = &pl.chunks[g0 + k];
            if (c->n_samples > (size_t)VAD_CHUNK_SAMPLES) {
                float *g = realloc(bufs[k], c->n_samples * sizeof *g);
                if (!g) { rc = am_fail(err, err_size, AM_E_NOMEM, "out of memory"); break; }
                bufs[k] = g;
            }
            vad_chunk_audio(c, pl.segs, samples, bufs[k]);
            lens[k] = c->n_samples;
        }
        if (rc != AM_OK) break;
        if (B > 1) {
            rc = transcribe_chunks_batched(m, (const float *const *)bufs, lens, nb, &cp, crs, err, err_size);
        } else {
            rc = am_transcribe(m, bufs[0], lens[0], &cp, &crs[0], err, err_size);
        }
        if (rc != AM_OK) break;
        for (int k = 0; k < nb; k++) {
            if (g0 == 0 && k == 0) snprintf(r->language, sizeof r->language, "%s", crs[k]->language);
            for (size_t i = 0; i < crs[k]->n_segments && rc == AM_OK; i++)
                if (add_mapped_segment(r, &crs[k]->segments[i], &pl.chunks[g0 + k], pl.segs, p) != AM_OK)
                    rc = am_fail(err, err_size, AM_E_NOMEM, "out of memory");
            am_result_free(crs[k]);
            crs[k] = NULL;
        }
    }
    for (int k = 0; bufs && k < B; k++) free(bufs[k]);
    for (int k = 0; crs && k < B; k++) am_result_free(crs[k]);
    free(bufs);
    free(lens);
    free(crs);
    vad_plan_free(&pl);
    if (rc != AM_OK) {
        am_result_free(r);
        return rc;
    }
    if (!r->text) { /* no speech: an empty text, not NULL */
        r->text = calloc(1, 1);
        if (!r->text) {
            am_result_free(r);
            return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
        }
    }
    *out = r;
    return AM_OK;
}
