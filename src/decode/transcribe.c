/* transcribe.c — long-form transcription: windows, prompts, search with temperature fallback,
 * Whisper's silence rules, segments, word timestamps and the hallucination guard — one path for a
 * whole file, for the chunks that voice activity detection finds, and for chunks in batches.
 *
 * The loop follows faster-whisper's generate_segments with CTranslate2's decoding rules, which
 * our parity tests compare against.  A *stream* is one piece of audio decoded with Whisper's
 * long-form rules: the whole file, or one VAD chunk (decode/vad_plan.h).  Up to batch_size
 * streams are active at once; every round
 *   - encodes the next 30 s window of every active stream      — one backend call
 *       (window = log-mel[seek : seek + min(3000, content_frames − seek)], zero-padded to 3000)
 *   - detects the language of streams that start without one    — one call each
 *   - searches all their windows at temperature 0 together      — one backend call per step
 *   - then, per window (window_step): the temperature fallback (alone), the no-speech skip, the
 *     split into segments at timestamp pairs, word timestamps, the hallucination guard, the
 *     segments emitted and seek advanced.
 * A window's result depends only on its own stream, so any batch size gives the same segments.
 * Segments are handed to the result (and the on_segment callback) in stream order, their times
 * mapped from the chunk back to the original timeline. */
#include <math.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h> /* malloc_trim */
#endif
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "backend/backend.h"
#include "common/util.h"
#include "result/result.h"
#include "decode/search.h"
#include "decode/align.h"
#include "decode/vad_plan.h"
#include "diarize/attach.h"
#include "decode/transcribe.h"
#include "text/tokenizer.h"
#include "frontend/mel.h"
#include "frontend/mel_q15.h"
#include "frontend/mel_window.h"
#include "audio/audio.h"
#include "audio/pcm.h"
#include "model/model.h"

#define MAX_PROMPT_PREV 223 /* n_text_ctx / 2 − 1 tokens of previous text */
#define N_FRAMES 3000
#define TIME_PRECISION 0.02
#define FRAME_TIME 0.01
/* A spooled file up to this long still goes whole to a device's log-mel (a bounded buffer); longer
 * ones are computed on the host window by window. */
#define DEVICE_MEL_MAX_SAMPLES ((size_t)AM_SAMPLE_RATE * 60 * 10)

am_params am_params_default(void) {
    am_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 0;
    p.language = NULL;
    p.translate = 0;
    p.temperature = 0.0f;
    p.without_timestamps = 0;
    p.condition_on_previous_text = 1;
    p.suppress_blank = 1;
    p.max_initial_timestamp = 1.0f;
    p.max_new_tokens = 224;
    p.no_speech_threshold = 0.6f;
    p.logprob_threshold = -1.0f;
    p.compression_ratio_threshold = 2.4f;
    p.no_fallback = 0;
    p.beam_size = 5; /* as faster-whisper and openai-whisper's CLI */
    p.best_of = 5;
    p.patience = 1.0f;
    p.length_penalty = 1.0f;
    p.temperature_increment = 0.2f;
    p.seed = 0;
    p.initial_prompt = NULL;
    p.prefix = NULL;
    p.suppress_tokens = "-1";
    p.max_context = -1;
    p.word_timestamps = 0;
    p.prepend_punctuations = "\"'\u201c\u00bf([{-";
    p.append_punctuations = "\"'.\u3002,\uff0c!\uff01?\uff1f:\uff1a\u201d)]}\u3001";
    p.hallucination_silence_threshold = 0.0f;
    p.vad = 0;
    p.vad_model = NULL;
    p.vad_threshold = 0.5f;
    p.vad_min_speech_ms = 0;
    p.vad_min_silence_ms = 2000;
    p.vad_speech_pad_ms = 400;
    p.vad_max_speech_s = 30.0f;
    p.frontend = AM_FRONTEND_F32;
    p.batch_size = 1;
    p.vad_chunk_gap_ms = 1000;
    p.diarize = 0;
    p.diarize_model = NULL;
    p.num_speakers = 0;
    p.min_speakers = 0;
    p.max_speakers = 0;
    p.diarize_threshold = 0.45f;
    return p;
}

static int window_result_copy(window_result *dst, const window_result *src) {
    ivec keep = dst->tokens;
    *dst = *src;
    dst->tokens = keep;
    dst->tokens.n = 0;
    for (int i = 0; i < src->tokens.n; i++)
        if (ivec_push(&dst->tokens, src->tokens.v[i]) != AM_OK) return AM_E_NOMEM;
    return AM_OK;
}

/* Temperature fallback (faster-whisper generate_with_fallback).  With have_first, *best already
 * holds the result at the first temperature (decoded in a batch) and the schedule goes on from
 * there; the chosen result ends in *best. */
static int decode_with_fallback(search_ctx *c, const int *prompt, int n_prompt, int sot_index, int n_forced,
                                int have_first, window_result *best, window_result *tmp) {
    const am_params *p = c->p;
    /* temperatures: p->temperature, then + increment up to 1.0 (0, 0.2, ... 1.0 by default) */
    float inc = p->temperature_increment > 0.0f ? p->temperature_increment : 0.2f;
    int n_temps = p->no_fallback ? 1 : 1 + (int)floorf((1.0f - p->temperature) / inc + 1e-4f);
    int have_best = 0, best_below_cr = 0;
    for (int ti = 0; ti < n_temps; ti++) {
        float t = p->temperature + (float)ti * inc;
        int rc = ti == 0 && have_first ? window_result_copy(tmp, best)
                                       : search_window(c, prompt, n_prompt, sot_index, n_forced, t, tmp);
        if (rc != AM_OK) return rc;
        int below_cr = !(p->compression_ratio_threshold >= 0.0f && tmp->compression_ratio > p->compression_ratio_threshold);
        int needs_fallback = !below_cr;
        if (p->logprob_threshold > -1e9f && tmp->avg_logprob < p->logprob_threshold) needs_fallback = 1;
        if (p->no_speech_threshold >= 0.0f && tmp->no_speech_prob > p->no_speech_threshold &&
            p->logprob_threshold > -1e9f && tmp->avg_logprob < p->logprob_threshold)
            needs_fallback = 0; /* silence */
        /* remember the best candidate: prefer those under the compression threshold, then logprob */
        if (!have_best || (below_cr && !best_below_cr) ||
            (below_cr == best_below_cr && tmp->avg_logprob > best->avg_logprob)) {
            if ((rc = window_result_copy(best, tmp)) != AM_OK) return rc;
            have_best = 1;
            best_below_cr = below_cr;
        }
        if (!needs_fallback) return window_result_copy(best, tmp);
        best->temperature = t; /* all failed so far: report the last temperature tried */
    }
    return AM_OK;
}

/* ---- segments ------------------------------------------------------------------------------ */

/* A segment of the current window before it is emitted (faster-whisper's current_segments). */
typedef struct pending {
    int tok0, n_tok;          /* slice of the window's tokens */
    double start, end;
    align_word *words;        /* owned; n_words entries (words with "" text were merged away) */
    int n_words;
} pending;

typedef struct window_segments {
    pending *s;
    int n, cap;
} window_segments;

static int pending_add(window_segments *ws, int tok0, int n_tok, double start, double end) {
    if (ws->n == ws->cap) {
        int cap = ws->cap ? 2 * ws->cap : 16;
        pending *g = realloc(ws->s, (size_t)cap * sizeof *g);
        if (!g) return AM_E_NOMEM;
        ws->s = g;
        ws->cap = cap;
    }
    pending *pd = &ws->s[ws->n++];
    memset(pd, 0, sizeof *pd);
    pd->tok0 = tok0;
    pd->n_tok = n_tok;
    pd->start = start;
    pd->end = end;
    return AM_OK;
}

static void pending_clear(window_segments *ws) {
    for (int i = 0; i < ws->n; i++) align_words_free(ws->s[i].words, ws->s[i].n_words);
    ws->n = 0;
}

/* faster-whisper _split_segments_by_timestamps: slices at consecutive timestamp pairs.
 * tokens: the window's tokens (prefix included); returns the new seek and sets *single_ending. */
static int split_segments(const search_ctx *c, const int *tok, int n, double time_offset, int seek, int segment_size,
                          double segment_duration, window_segments *ws, int *single_ending, int *rc_out) {
    const int tb = c->sp.timestamp_begin;
    *single_ending = n >= 2 && tok[n - 2] < tb && tok[n - 1] >= tb;
    int n_consecutive = 0;
    for (int i = 1; i < n; i++)
        if (tok[i] >= tb && tok[i - 1] >= tb) n_consecutive++;
    *rc_out = AM_OK;
    if (n_consecutive > 0) {
        int last_slice = 0;
        for (int i = 1; i <= n; i++) {
            int is_slice = (i < n && tok[i] >= tb && tok[i - 1] >= tb) || (i == n && *single_ending);
            if (!is_slice) continue;
            double start = time_offset + (tok[last_slice] - tb) * TIME_PRECISION;
            double end = time_offset + (tok[i - 1] - tb) * TIME_PRECISION;
            if ((*rc_out = pending_add(ws, last_slice, i - last_slice, start, end)) != AM_OK) return seek;
            last_slice = i;
        }
        if (*single_ending) return seek + segment_size;
        return seek + (tok[last_slice - 1] - tb) * 2; /* 2 mel frames per timestamp step */
    }
    double duration = segment_duration;
    int last_ts_tok = -1;
    for (int i = 0; i < n; i++)
        if (tok[i] >= tb) last_ts_tok = tok[i];
    if (last_ts_tok >= 0 && last_ts_tok != tb) duration = (last_ts_tok - tb) * TIME_PRECISION;
    *rc_out = pending_add(ws, 0, n, time_offset, time_offset + duration);
    return seek + segment_size;
}

/* The median of the nonzero values of x[0..n) (0 when none); x is reordered in place. */
static double median_nonzero(double *x, int n) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (x[i] != 0.0) x[m++] = x[i];
    if (m == 0) return 0.0;
    for (int i = 1; i < m; i++) /* insertion sort: a window has few words */
        for (int j = i; j > 0 && x[j - 1] > x[j]; j--) { double t = x[j]; x[j] = x[j - 1]; x[j - 1] = t; }
    return m % 2 ? x[m / 2] : 0.5 * (x[m / 2 - 1] + x[m / 2]);
}

static int is_sentence_end(const char *w) {
    static const char *const marks[] = {".", "\u3002", "!", "\uff01", "?", "\uff1f"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (!strcmp(w, marks[i])) return 1;
    return 0;
}

static double round2(double x) { return round(x * 100.0) / 100.0; }

/* faster-whisper add_word_timestamps for one window: align, clean up durations, merge
 * punctuation, give each pending segment its words and adjust its start/end. */
static int add_word_timestamps(search_ctx *c, const int *tok, window_segments *ws, const int *sot_seq, int n_sot,
                               int num_frames, double time_offset, const char *lang, double *last_speech) {
    const int eot = c->sp.eot;
    int *text = malloc(1024 * sizeof(int));
    int n_text = 0, cap = 1024;
    if (!text) return AM_E_NOMEM;
    int *per_seg = calloc((size_t)ws->n + 1, sizeof(int)); /* text tokens per pending segment */
    if (!per_seg) { free(text); return AM_E_NOMEM; }
    for (int si = 0; si < ws->n; si++)
        for (int i = 0; i < ws->s[si].n_tok; i++) {
            int t = tok[ws->s[si].tok0 + i];
            if (t >= eot) continue;
            if (n_text == cap) {
                int *g = realloc(text, (size_t)(cap *= 2) * sizeof(int));
                if (!g) { free(text); free(per_seg); return AM_E_NOMEM; }
                text = g;
            }
            text[n_text++] = t;
            per_seg[si]++;
        }
    align_word *w = NULL;
    int n_w = 0;
    int rc = align_words(c, sot_seq, n_sot, text, n_text, num_frames, lang, &w, &n_w);
    free(text);
    if (rc != AM_OK || n_w == 0) { free(per_seg); align_words_free(w, n_w); return rc; }

    double *dur = malloc((size_t)n_w * sizeof *dur);
    if (!dur) { free(per_seg); align_words_free(w, n_w); return AM_E_NOMEM; }
    for (int i = 0; i < n_w; i++) dur[i] = w[i].end - w[i].start;
    int any_nonzero = 0;
    for (int i = 0; i < n_w; i++) any_nonzero |= dur[i] != 0.0;
    double median = median_nonzero(dur, n_w);
    free(dur);
    if (median > 0.7) median = 0.7;
    double max_duration = median * 2;
    if (any_nonzero) /* truncate long words at sentence boundaries */
        for (int i = 1; i < n_w; i++)
            if (w[i].end - w[i].start > max_duration) {
                if (is_sentence_end(w[i].word)) w[i].end = w[i].start + max_duration;
                else if (is_sentence_end(w[i - 1].word)) w[i].start = w[i].end - max_duration;
            }
    rc = align_merge_punctuations(w, n_w, c->p->prepend_punctuations ? c->p->prepend_punctuations : "",
                                  c->p->append_punctuations ? c->p->append_punctuations : "");
    if (rc != AM_OK) { free(per_seg); align_words_free(w, n_w); return rc; }

    int wi = 0;
    for (int si = 0; si < ws->n; si++) {
        pending *pd = &ws->s[si];
        int saved = 0;
        align_word *out = calloc((size_t)n_w, sizeof *out);
        int n_out = 0;
        if (!out) { rc = AM_E_NOMEM; break; }
        while (wi < n_w && saved < per_seg[si]) {
            align_word *t = &w[wi];
            if (t->word[0]) {
                out[n_out].word = am_strdup(t->word);
                if (!out[n_out].word) { rc = AM_E_NOMEM; break; }
                out[n_out].start = round2(time_offset + t->start);
                out[n_out].end = round2(time_offset + t->end);
                out[n_out].probability = t->probability;
                out[n_out].n_tokens = t->n_tokens;
                n_out++;
            }
            saved += t->n_tokens;
            wi++;
        }
        if (n_out > 0) {
            /* the first and second word after a pause are not longer than twice the median */
            if (out[0].end - *last_speech > median * 4 &&
                (out[0].end - out[0].start > max_duration || (n_out > 1 && out[1].end - out[0].start > max_duration * 2))) {
                if (n_out > 1 && out[1].end - out[1].start > max_duration) {
                    double boundary = fmax(out[1].end / 2, out[1].end - max_duration);
                    out[0].end = out[1].start = boundary;
                }
                out[0].start = fmax(0.0, out[0].end - max_duration);
            }
            /* prefer the segment-level start if the first word is too long */
            if (pd->start < out[0].end && pd->start - 0.5 > out[0].start)
                out[0].start = fmax(0.0, fmin(out[0].end - median, pd->start));
            else
                pd->start = out[0].start;
            /* prefer the segment-level end if the last word is too long */
            if (pd->end > out[n_out - 1].start && pd->end + 0.5 < out[n_out - 1].end)
                out[n_out - 1].end = fmax(out[n_out - 1].start + median, pd->end);
            else
                pd->end = out[n_out - 1].end;
            *last_speech = pd->end;
        }
        pd->words = out;
        pd->n_words = n_out;
        if (rc != AM_OK) break;
    }
    free(per_seg);
    align_words_free(w, n_w);
    return rc;
}

/* Emit the window's pending segments (skipping empty ones) and remember their tokens. */
static int emit_segments(am_result *r, search_ctx *c, const int *tok, const window_segments *ws, int seek,
                         const window_result *wr, ivec *all_tokens) {
    for (int si = 0; si < ws->n; si++) {
        const pending *pd = &ws->s[si];
        const int *t = tok + pd->tok0;
        char *text = tokenizer_decode(c->m->tok, t, pd->n_tok);
        if (!text) return AM_E_NOMEM;
        int blank = 1;
        for (const char *q = text; *q; q++)
            if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') { blank = 0; break; }
        int rc = AM_OK;
        if (pd->start != pd->end && !blank) {
            am_word *words = NULL;
            if (c->p->word_timestamps) {
                words = calloc((size_t)(pd->n_words ? pd->n_words : 1), sizeof *words);
                if (!words) { free(text); return AM_E_NOMEM; }
                for (int i = 0; i < pd->n_words; i++) {
                    words[i].start = pd->words[i].start;
                    words[i].end = pd->words[i].end;
                    words[i].word = pd->words[i].word;
                    words[i].probability = pd->words[i].probability;
                }
            }
            am_segment seg;
            memset(&seg, 0, sizeof seg);
            seg.id = (int)r->n_segments;
            seg.seek = seek;
            seg.start = pd->start;
            seg.end = pd->end;
            seg.text = text;
            seg.tokens = t;
            seg.n_tokens = pd->n_tok;
            seg.avg_logprob = wr->avg_logprob;
            seg.no_speech_prob = wr->no_speech_prob;
            seg.temperature = wr->temperature;
            seg.compression_ratio = wr->compression_ratio;
            seg.words = words;
            seg.n_words = words ? pd->n_words : 0;
            rc = result_add_segment(r, &seg);
            free(words);
            for (int i = 0; rc == AM_OK && i < pd->n_tok; i++) rc = ivec_push(all_tokens, t[i]);
        }
        free(text);
        if (rc != AM_OK) return rc;
    }
    return AM_OK;
}

/* faster-whisper's word anomaly score and segment anomaly test (hallucination guard). */
static int segment_is_anomaly(const pending *pd) {
    if (!pd || pd->n_words == 0) return 0;
    static const char punct[] = "\"'“¿([{-\"'.。,，!！?？:：”)]}、";
    double score = 0.0;
    int counted = 0;
    for (int i = 0; i < pd->n_words && counted < 8; i++) {
        const align_word *w = &pd->words[i];
        if (strstr(punct, w->word) && w->word[0]) continue;
        counted++;
        double d = w->end - w->start;
        if (w->probability < 0.15f) score += 1.0;
        if (d < 0.133) score += (0.133 - d) * 15;
        if (d > 2.0) score += d - 2.0;
    }
    return score >= 3 || score + 0.01 >= counted;
}

static const pending *next_words_segment(const window_segments *ws, int from) {
    for (int i = from; i < ws->n; i++)
        if (ws->s[i].n_words > 0) return &ws->s[i];
    return NULL;
}

/* " " + text.strip(), BPE-encoded; malloc'd ids. */
static int encode_stripped(const am_tokenizer *tok, const char *text, int **ids, int *n_ids) {
    while (*text == ' ' || *text == '\t' || *text == '\n') text++;
    size_t len = strlen(text);
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\n')) len--;
    char *s = malloc(len + 2);
    if (!s) return AM_E_NOMEM;
    s[0] = ' ';
    memcpy(s + 1, text, len);
    s[len + 1] = 0;
    int need = tokenizer_encode(tok, s, NULL, 0);
    if (need < 0) { free(s); return need == -2 ? AM_E_NOMEM : AM_E_INVALID_ARG; }
    *ids = malloc((size_t)(need > 0 ? need : 1) * sizeof(int));
    if (!*ids) { free(s); return AM_E_NOMEM; }
    *n_ids = tokenizer_encode(tok, s, *ids, need);
    free(s);
    if (*n_ids < 0) {
        free(*ids);
        *ids = NULL;
        *n_ids = 0;
        return AM_E_NOMEM;
    }
    return AM_OK;
}

/* ---- parameters ------------------------------------------------------------------------------ */

/* The one check of a transcription's parameters (every entry point calls it).  Resolves the
 * language: *lang_index (−1: detect), with the rules of .en models. */
static am_status params_check(const am_model *m, const am_params *p, int *lang_index, char *err, size_t err_size) {
    const int multilingual = tokenizer_is_multilingual(m->tok);
    *lang_index = multilingual ? -1 : 0;
    if (p->language && *p->language && strcmp(p->language, "auto") != 0) {
        int li = tokenizer_language_index(p->language);
        if (li < 0) return am_fail(err, err_size, AM_E_INVALID_ARG, "unknown language code '%s'", p->language);
        if (!multilingual && li != 0)
            return am_fail(err, err_size, AM_E_UNSUPPORTED,
                           "this is an English-only (.en) model: it cannot transcribe language '%s'", p->language);
        *lang_index = li;
    }
    if (!multilingual && p->translate)
        return am_fail(err, err_size, AM_E_UNSUPPORTED, "this is an English-only (.en) model: it cannot translate");
    if (p->beam_size < 1 || p->beam_size > 64 || p->best_of < 1 || p->best_of > 64)
        return am_fail(err, err_size, AM_E_INVALID_ARG, "beam_size and best_of must be in 1..64");
    if (!(p->temperature >= 0.0f && p->temperature <= 1.0f))
        return am_fail(err, err_size, AM_E_INVALID_ARG, "temperature must be in [0, 1]");
    if (p->batch_size < 0 || p->batch_size > 64)
        return am_fail(err, err_size, AM_E_INVALID_ARG, "batch_size must be in 1..64");
    if (p->frontend != AM_FRONTEND_Q15 && p->frontend != AM_FRONTEND_F32)
        return am_fail(err, err_size, AM_E_INVALID_ARG, "params.frontend must be AM_FRONTEND_Q15 or AM_FRONTEND_F32");
    if ((int)p->vad < 0 || (int)p->vad > 2) return am_fail(err, err_size, AM_E_INVALID_ARG, "params.vad must be 0, 1 or 2");
    if (p->vad && (!(p->vad_threshold > 0.0f && p->vad_threshold < 1.0f) || p->vad_min_speech_ms < 0 ||
                   p->vad_min_silence_ms < 0 || p->vad_speech_pad_ms < 0 || isnan(p->vad_max_speech_s) ||
                   (p->vad_max_speech_s > 0.0f && p->vad_max_speech_s < 1.0f)))
        return am_fail(err, err_size, AM_E_INVALID_ARG,
                       "VAD options out of range (threshold in (0, 1), durations >= 0, max speech >= 1 s)");
    return AM_OK;
}

/* ---- streams ----------------------------------------------------------------------------------- */

/* One piece of audio decoded with Whisper's long-form rules: the whole file or one VAD chunk. */
typedef struct stream {
    const vad_chunk *chunk;   /* NULL: the whole file (times need no mapping) */
    float *mel;               /* [n_mels][n_frames] while active (a chunk, or the device front end) */
    mel_reader reader;        /* else the whole file's log-mel, window by window */
    int windowed;
    int n_frames, content_frames;
    int seek, prompt_reset_since, lang_index, active, done;
    double last_speech;
    ivec all_tokens;
    uint64_t rng;             /* sampling state (each stream its own: batching changes nothing) */
    am_result *r;             /* segments in stream-local time */
    size_t n_flushed;         /* of r's segments, how many are in the final result */
} stream;

typedef struct longform {
    const am_model *m;
    am_params p;              /* the caller's, without on_segment (see flush_streams) */
    const am_params *user;
    const pcm_store *pcm;     /* the samples, in memory or spooled (audio/pcm.h) */
    size_t n_samples;
    const vad_plan *plan;     /* NULL without VAD */
    search_ctx c;
    am_session *s;            /* created at the first round (longform_run) */
    am_session_config cfg;
    int B, multilingual, max_prev;
    int *initial, n_initial, *prefix, n_prefix;
    float *filters, *windows;
    float *chunk_audio;       /* a chunk's speech, concatenated, while its log-mel is computed */
    size_t chunk_cap;
    stream *st;
    int n_st, next_flush;
    am_result *out;
    /* per round: prompts and results of the active windows */
    ivec *prompts;
    window_result *wr, tmp;
    window_segments ws;
    double mel_seconds, encode_seconds, decode_seconds; /* am_stats' timings */
} longform;

/* A finished stream's log-mel is freed, and the heap's free pages go back to the system: chunks
 * of every length come and go through a long recording, and their holes would otherwise stay
 * resident for the whole run. */
static void stream_release(stream *k) {
    if (k->windowed) {
        mel_reader_free(&k->reader);
        k->windowed = 0;
    }
    if (!k->mel) return;
    free(k->mel);
    k->mel = NULL;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* Make stream i active: its audio and log-mel (normalised per stream).  A chunk's speech is
 * gathered into one buffer and its log-mel computed whole.  The whole file's log-mel is read
 * window by window (frontend/mel_window.h: memory does not grow with the length of the recording),
 * except with the float front end on a device, which takes the whole signal when it is in memory
 * or spooled and at most DEVICE_MEL_MAX_SAMPLES long. */
static int stream_start(longform *lf, int i, char *err, size_t err_size) {
    stream *k = &lf->st[i];
    const float *x = pcm_store_memory(lf->pcm);
    size_t n = lf->n_samples;
    const am_params *p = &lf->p;
    const am_backend *be = lf->m->backend;
    const int threads = p->n_threads > 0 ? p->n_threads : am_cpu_count();
    const int device_mel = p->frontend == AM_FRONTEND_F32 && be->ops->log_mel;
    const int whole_to_device = device_mel && (x || n <= DEVICE_MEL_MAX_SAMPLES);
    int rc;
    if (!k->chunk && !whole_to_device) {
        const double t0 = am_now();
        rc = mel_reader_init(&k->reader, lf->pcm, p->frontend != AM_FRONTEND_F32, lf->m->hp.n_mels, lf->filters,
                             threads);
        lf->mel_seconds += am_now() - t0;
        if (rc == AM_E_IO) return am_fail(err, err_size, rc, "%s", pcm_store_error(lf->pcm));
        if (rc != AM_OK) return am_fail(err, err_size, rc, "log-mel failed: %s", am_status_string(rc));
        k->windowed = 1;
        k->n_frames = k->reader.n_frames;
    } else if (k->chunk || !x) { /* one buffer for every chunk (30 s of speech at most, as a rule) */
        size_t want = k->chunk ? k->chunk->n_samples : n;
        if (want > lf->chunk_cap) {
            size_t cap = want > VAD_CHUNK_SAMPLES ? want : VAD_CHUNK_SAMPLES;
            float *g = realloc(lf->chunk_audio, cap * sizeof *g);
            if (!g) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
            lf->chunk_audio = g;
            lf->chunk_cap = cap;
        }
        rc = k->chunk ? vad_chunk_audio(k->chunk, lf->plan->segs, lf->pcm, lf->chunk_audio)
                      : pcm_store_read(lf->pcm, 0, n, lf->chunk_audio); /* a spooled file, whole */
        if (rc != AM_OK) return am_fail(err, err_size, rc, "%s", pcm_store_error(lf->pcm));
        x = lf->chunk_audio;
        n = want;
    }
    if (!k->windowed) {
        const double t0 = am_now();
        if (device_mel) { /* the float front end on the device */
            rc = be->ops->log_mel((am_backend *)be, x, n, lf->m->hp.n_mels, lf->filters, &k->mel, &k->n_frames, err,
                                  err_size);
            if (rc != AM_OK) return rc;
        } else {
            rc = (p->frontend == AM_FRONTEND_F32 ? mel_log_spectrogram : mel_q15_log_spectrogram)(
                x, n, lf->m->hp.n_mels, lf->filters, threads, &k->mel, &k->n_frames);
        }
        lf->mel_seconds += am_now() - t0;
        if (!k->chunk && x == lf->chunk_audio) { /* the spooled file's samples are no longer needed */
            free(lf->chunk_audio);
            lf->chunk_audio = NULL;
            lf->chunk_cap = 0;
        }
        if (rc != AM_OK) return am_fail(err, err_size, rc, "log-mel failed: %s", am_status_string(rc));
    }
    k->content_frames = k->n_frames - 1;
    k->active = 1;
    k->done = k->content_frames <= 0;
    k->rng = p->seed ? p->seed : 0x9E3779B97F4A7C15ull;
    for (int t = 0; t < lf->n_initial; t++)
        if ((rc = ivec_push(&k->all_tokens, lf->initial[t])) != AM_OK) return am_fail(err, err_size, rc, "out of memory");
    if (!(k->r = calloc(1, sizeof *k->r))) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    return AM_OK;
}

/* A stream's segment on the original timeline (words too), appended to the final result and
 * reported to the caller's callback. */
static int add_mapped_segment(longform *lf, const am_segment *s, const vad_chunk *c) {
    am_result *r = lf->out;
    am_segment o = *s;
    am_word *words = NULL;
    o.id = (int)r->n_segments;
    if (c) {
        const vad_segment *segs = lf->plan->segs;
        o.start = vad_chunk_time_to_original(c, segs, s->start, 0);
        o.end = vad_chunk_time_to_original(c, segs, s->end, 1);
        if (o.end < o.start) o.end = o.start;
        o.seek = (int)lround(vad_chunk_time_to_original(c, segs, s->seek * 0.01, 0) * 100.0);
        if (s->words && s->n_words > 0) {
            if (!(words = malloc((size_t)s->n_words * sizeof *words))) return AM_E_NOMEM;
            for (int i = 0; i < s->n_words; i++) {
                words[i] = s->words[i];
                words[i].start = vad_chunk_time_to_original(c, segs, s->words[i].start, 0);
                words[i].end = vad_chunk_time_to_original(c, segs, s->words[i].end, 1);
                if (words[i].end < words[i].start) words[i].end = words[i].start;
            }
            o.words = words;
        }
    }
    int rc = result_add_segment(r, &o);
    free(words);
    if (rc == AM_OK && lf->user->on_segment) lf->user->on_segment(&r->segments[r->n_segments - 1], lf->user->user_data);
    return rc;
}

/* Hand the streams' new segments to the final result in stream order: everything of the
 * finished streams before the first unfinished one, and what that one has emitted so far. */
static int flush_streams(longform *lf) {
    while (lf->next_flush < lf->n_st) {
        stream *k = &lf->st[lf->next_flush];
        if (!k->r) return AM_OK; /* not started yet */
        for (; k->n_flushed < k->r->n_segments; k->n_flushed++) {
            int rc = add_mapped_segment(lf, &k->r->segments[k->n_flushed], k->chunk);
            if (rc != AM_OK) return rc;
        }
        if (!k->done) return AM_OK;
        am_result_free(k->r);
        k->r = NULL;
        free(k->all_tokens.v);
        k->all_tokens.v = NULL;
        lf->next_flush++;
    }
    return AM_OK;
}

/* The prompt of stream k's next window (faster-whisper get_prompt):
 * [sot_prev, previous text…] [sot (, language, task)] [notimestamps] [<|0.00|> prefix]
 * The initial prompt is every stream's first previous text (each VAD chunk starts without any);
 * the prefix forces the start of the first stream's first window only. */
static int build_prompt(longform *lf, stream *k, ivec *q, int *sot_index, int *n_sot, int *n_forced) {
    const int first_window = k->seek == 0 && k == &lf->st[0]; /* the prefix starts the transcript */
    const am_special_tokens *sp = &lf->c.sp;
    int rc = AM_OK;
    q->n = 0;
    int n_prev = k->all_tokens.n - k->prompt_reset_since;
    if (n_prev > 0 && lf->max_prev > 0) {
        rc |= ivec_push(q, sp->sot_prev);
        int from = n_prev > lf->max_prev ? k->all_tokens.n - lf->max_prev : k->prompt_reset_since;
        for (int t = from; t < k->all_tokens.n; t++) rc |= ivec_push(q, k->all_tokens.v[t]);
    }
    *sot_index = q->n;
    rc |= ivec_push(q, sp->sot);
    if (lf->multilingual) {
        rc |= ivec_push(q, sp->lang_begin + k->lang_index);
        rc |= ivec_push(q, lf->p.translate ? sp->translate : sp->transcribe);
    }
    *n_sot = q->n - *sot_index;
    if (lf->p.without_timestamps) rc |= ivec_push(q, sp->no_timestamps);
    *n_forced = 0;
    if (first_window && lf->n_prefix > 0) {
        if (!lf->p.without_timestamps) {
            rc |= ivec_push(q, sp->timestamp_begin);
            (*n_forced)++;
        }
        for (int i = 0; i < lf->n_prefix; i++) rc |= ivec_push(q, lf->prefix[i]);
        *n_forced += lf->n_prefix;
    }
    return rc ? AM_E_NOMEM : AM_OK;
}

/* Language detection for stream k on window slot a; the first stream's probabilities go to the
 * final result. */
static int detect_language(longform *lf, int i, int a) {
    int index[128], n = 0;
    float probs[128];
    int rc = search_detect_language(&lf->c, a, index, probs, &n);
    if (rc != AM_OK) return rc;
    lf->st[i].lang_index = n > 0 ? index[0] : 0;
    if (i == 0) {
        const char *codes[128];
        for (int j = 0; j < n; j++) codes[j] = tokenizer_language_code(index[j]);
        result_set_language_probs(lf->out, codes, probs, n);
    }
    return AM_OK;
}

/* Everything after the search for stream k's window in slot a (faster-whisper's loop body):
 * fallback, silence skip, segments, words, hallucination guard, emit, seek. */
static int window_step(longform *lf, stream *k, int a, int size, const ivec *prompt, int sot_index, int n_sot,
                       int n_forced, int have_first, window_result *best) {
    const am_params *p = &lf->p;
    search_ctx *c = &lf->c;
    window_segments *ws = &lf->ws;
    c->window = a;
    c->rng = &k->rng;
    int rc = decode_with_fallback(c, prompt->v, prompt->n, sot_index, n_forced, have_first, best, &lf->tmp);
    if (rc != AM_OK) return rc;
    const double time_offset = k->seek * FRAME_TIME, segment_duration = size * FRAME_TIME;
    const double window_end_time = (k->seek + N_FRAMES) * FRAME_TIME;
    const double content_duration = k->content_frames * FRAME_TIME;
    if (p->no_speech_threshold >= 0.0f && best->no_speech_prob > p->no_speech_threshold &&
        !(p->logprob_threshold > -1e9f && best->avg_logprob > p->logprob_threshold)) {
        k->seek += size; /* silence */
        return AM_OK;
    }
    int previous_seek = k->seek, single_ending;
    pending_clear(ws);
    k->seek = split_segments(c, best->tokens.v, best->tokens.n, time_offset, k->seek, size, segment_duration, ws,
                             &single_ending, &rc);
    if (rc != AM_OK) return rc;
    if (p->word_timestamps) {
        rc = add_word_timestamps(c, best->tokens.v, ws, prompt->v + sot_index, n_sot, size, time_offset,
                                 tokenizer_language_code(k->lang_index), &k->last_speech);
        if (rc != AM_OK) return rc;
        if (!single_ending) {
            double last_word_end = -1.0;
            for (int i = ws->n - 1; i >= 0 && last_word_end < 0; i--)
                if (ws->s[i].n_words > 0) last_word_end = ws->s[i].words[ws->s[i].n_words - 1].end;
            if (last_word_end > time_offset) k->seek = (int)lround(last_word_end * 100.0);
        }
        /* hallucination guard: skip silence before segments that look hallucinated */
        double thr = p->hallucination_silence_threshold;
        if (thr > 0.0) {
            const pending *first = next_words_segment(ws, 0);
            if (first && segment_is_anomaly(first)) {
                double gap = first->start - time_offset;
                if (gap > thr) {
                    k->seek = previous_seek + (int)lround(gap * 100.0);
                    return AM_OK;
                }
            }
            double hal_last_end = k->last_speech;
            for (int si = 0; si < ws->n; si++) {
                pending *sg = &ws->s[si];
                if (sg->n_words == 0) continue;
                if (segment_is_anomaly(sg)) {
                    const pending *nx = next_words_segment(ws, si + 1);
                    double hal_next_start = nx ? nx->words[0].start : time_offset + segment_duration;
                    int silence_before = sg->start - hal_last_end > thr || sg->start < thr || sg->start - time_offset < 2.0;
                    int silence_after = hal_next_start - sg->end > thr || segment_is_anomaly(nx) ||
                                        window_end_time - sg->end < 2.0;
                    if (silence_before && silence_after) {
                        k->seek = (int)lround(fmax(time_offset + 1, sg->start) * 100.0);
                        if (content_duration - sg->end < thr) k->seek = k->content_frames;
                        for (int j = si; j < ws->n; j++) align_words_free(ws->s[j].words, ws->s[j].n_words);
                        ws->n = si;
                        break;
                    }
                }
                hal_last_end = sg->end;
            }
        }
        for (int i = ws->n - 1; i >= 0; i--)
            if (ws->s[i].n_words > 0) { k->last_speech = ws->s[i].words[ws->s[i].n_words - 1].end; break; }
    }
    if ((rc = emit_segments(k->r, c, best->tokens.v, ws, previous_seek, best, &k->all_tokens)) != AM_OK) return rc;
    if (!p->condition_on_previous_text || best->temperature > 0.5f) k->prompt_reset_since = k->all_tokens.n;
    return AM_OK;
}

/* The fraction of the work done: each stream weighs its samples and counts its seek over its
 * frames (finished streams count whole). */
static double longform_progress(const longform *lf) {
    double total = 0.0, done = 0.0;
    for (int i = 0; i < lf->n_st; i++) {
        const stream *k = &lf->st[i];
        double w = k->chunk ? (double)k->chunk->n_samples : (double)lf->n_samples;
        total += w;
        if (k->done) done += w;
        else if (k->r && k->content_frames > 0)
            done += w * (k->seek < k->content_frames ? k->seek : k->content_frames) / k->content_frames;
    }
    return total > 0.0 ? done / total : 1.0;
}

static void report_progress(const longform *lf, double fraction) {
    if (lf->user->progress_callback) lf->user->progress_callback(fraction, lf->user->progress_user_data);
}

/* The rounds: up to B active streams, their next windows encoded and searched together. */
static int longform_run(longform *lf, char *err, size_t err_size) {
    const am_params *p = &lf->p;
    const int n_mels = lf->m->hp.n_mels;
    int act[64], na = 0, next = 0, rc = AM_OK;
    for (;;) {
        if (p->abort_callback && p->abort_callback(p->abort_user_data)) return AM_E_ABORTED;
        /* keep B streams active (in stream order) */
        for (int i = 0; i < na;)
            if (lf->st[act[i]].done) {
                stream_release(&lf->st[act[i]]);
                memmove(act + i, act + i + 1, (size_t)(na - i - 1) * sizeof *act);
                na--;
            } else {
                i++;
            }
        while (na < lf->B && next < lf->n_st) {
            if ((rc = stream_start(lf, next, err, err_size)) != AM_OK) return rc;
            if (lf->st[next].done) stream_release(&lf->st[next]);
            else act[na++] = next;
            next++;
        }
        if ((rc = flush_streams(lf)) != AM_OK) return rc;
        if (na == 0) return AM_OK;
        if (!lf->s) { /* the session once the first streams' audio is analysed (less heap left in holes) */
            if (!(lf->s = session_create(lf->m->backend, &lf->cfg, &rc, err, err_size))) return rc;
            if ((rc = search_ctx_init(&lf->c, lf->m, lf->s, p, err, err_size)) != AM_OK) return rc;
        }
        /* encode: [na][n_mels][3000], the next frames of each stream, zero-padded */
        int size[64];
        for (int a = 0; a < na; a++) {
            stream *k = &lf->st[act[a]];
            size[a] = k->content_frames - k->seek < N_FRAMES ? k->content_frames - k->seek : N_FRAMES;
            float *win = lf->windows + (size_t)a * n_mels * N_FRAMES;
            if (k->windowed) {
                double t0 = am_now();
                rc = mel_reader_window(&k->reader, k->seek, size[a], win, N_FRAMES);
                lf->mel_seconds += am_now() - t0;
                if (rc == AM_E_IO) return am_fail(err, err_size, rc, "%s", pcm_store_error(lf->pcm));
                if (rc != AM_OK) return am_fail(err, err_size, rc, "log-mel failed: %s", am_status_string(rc));
            }
            for (int q = 0; q < n_mels; q++) {
                if (!k->windowed)
                    memcpy(win + (size_t)q * N_FRAMES, k->mel + (size_t)q * k->n_frames + k->seek,
                           (size_t)size[a] * sizeof(float));
                memset(win + (size_t)q * N_FRAMES + size[a], 0, (size_t)(N_FRAMES - size[a]) * sizeof(float));
            }
        }
        double t0 = am_now();
        rc = lf->s->backend->ops->encode(lf->s, lf->windows, na);
        lf->encode_seconds += am_now() - t0;
        if (rc != AM_OK) return rc;
        t0 = am_now();
        for (int a = 0; a < na; a++)
            if (lf->st[act[a]].lang_index < 0) {
                rc = detect_language(lf, act[a], a);
                if (rc != AM_OK || p->detect_language_only) { lf->decode_seconds += am_now() - t0; return rc; }
            }
        /* prompts, then the first temperature of every window in one search when it is 0 */
        const int *pr[64];
        int np[64], sot_idx[64], n_sot[64], forced[64], win_idx[64];
        for (int a = 0; a < na; a++) {
            if ((rc = build_prompt(lf, &lf->st[act[a]], &lf->prompts[a], &sot_idx[a], &n_sot[a], &forced[a])) != AM_OK)
                return rc;
            pr[a] = lf->prompts[a].v;
            np[a] = lf->prompts[a].n;
            win_idx[a] = a;
        }
        const int batched = p->temperature == 0.0f;
        if (batched) rc = search_windows_batch(&lf->c, na, pr, np, sot_idx, forced, win_idx, lf->wr);
        for (int a = 0; rc == AM_OK && a < na; a++) {
            stream *k = &lf->st[act[a]];
            if ((rc = window_step(lf, k, a, size[a], &lf->prompts[a], sot_idx[a], n_sot[a], forced[a], batched,
                                  &lf->wr[a])) != AM_OK)
                break;
            if (k->seek >= k->content_frames) k->done = 1;
        }
        lf->decode_seconds += am_now() - t0;
        if (rc != AM_OK) return rc;
        report_progress(lf, longform_progress(lf));
    }
}

/* ---- the public entry point ----------------------------------------------------------------- */

/* The transcription of the samples in `pcm`, whichever entry point brought them: the parameters
 * are checked first (NULL: defaults), then the samples. */
static am_status transcribe_store(const am_model *m, const pcm_store *pcm, const am_params *params, am_session **keep,
                                  am_result **out, char *err, size_t err_size) {
    *out = NULL;
    if (err && err_size) err[0] = 0;
    am_params defaults = am_params_default();
    const am_params *user = params ? params : &defaults;
    int lang_index;
    int rc = params_check(m, user, &lang_index, err, err_size);
    if (rc != AM_OK) return rc;
    const size_t n_samples = pcm_store_size(pcm);
    if (n_samples == 0) return am_fail(err, err_size, AM_E_AUDIO, "the audio contains no samples");
    if (user->diarize) { /* before the transcription's time is spent */
        char path[4096];
        if (user->num_speakers < 0 || user->min_speakers < 0 || user->max_speakers < 0 ||
            (user->max_speakers > 0 && user->min_speakers > user->max_speakers))
            return am_fail(err, err_size, AM_E_INVALID_ARG, "speaker counts must be >= 0 and min <= max");
        if (!(user->diarize_threshold > 0.0f && user->diarize_threshold < 2.0f))
            return am_fail(err, err_size, AM_E_INVALID_ARG, "the diarization threshold must be in (0, 2)");
        if (!diar_model_path(user, path, sizeof path))
            return am_fail(err, err_size, AM_E_IO,
                           "no diarization weights: models/diarization/" DIAR_MODEL_FILE
                           " not found (scripts/fetch-model diarization)");
    }

    longform lf;
    memset(&lf, 0, sizeof lf);
    vad_plan plan;
    memset(&plan, 0, sizeof plan);
    lf.m = m;
    lf.p = *user;
    lf.p.on_segment = NULL;
    lf.user = user;
    lf.pcm = pcm;
    lf.n_samples = n_samples;
    lf.multilingual = tokenizer_is_multilingual(m->tok);
    lf.max_prev = lf.p.max_context >= 0 && lf.p.max_context < MAX_PROMPT_PREV ? lf.p.max_context : MAX_PROMPT_PREV;
    lf.B = lf.p.vad && lf.p.batch_size > 1 ? lf.p.batch_size : 1;
    const am_params *p = &lf.p;

    /* the streams: the whole file, or the chunks of speech VAD finds */
    if (p->vad) {
        if ((rc = vad_plan_build(pcm, p, &plan, err, err_size)) != AM_OK) return rc;
        lf.plan = &plan;
        lf.n_st = (int)plan.n_chunks;
    } else {
        lf.n_st = 1;
    }
    /* diarization beside the transcription, on the cores its decoder leaves idle (attach.h) */
    diar_job *dj = NULL;
    if (p->diarize && !p->detect_language_only && (rc = diar_job_start(pcm, p, m->diar, &dj, err, err_size)) != AM_OK)
        goto done;
    const int n_mels = m->hp.n_mels;
    const int beam = p->beam_size > 1 ? p->beam_size : 1;
    const int fallback_seqs = 2 * (p->beam_size > p->best_of ? p->beam_size : p->best_of);
    am_session_config cfg = {p->n_threads, lf.B * 2 * beam > fallback_seqs ? lf.B * 2 * beam : fallback_seqs, lf.B};
    lf.cfg = cfg;
    if (keep && *keep && (*keep)->max_seqs >= cfg.max_seqs && (*keep)->max_windows >= cfg.max_windows) {
        lf.s = *keep; /* the caller's session: its caches are rewritten window by window */
        *keep = NULL;
        memset(&lf.s->stats, 0, sizeof lf.s->stats);
        if ((rc = search_ctx_init(&lf.c, m, lf.s, p, err, err_size)) != AM_OK) goto done;
    }
    lf.out = calloc(1, sizeof *lf.out);
    lf.st = calloc((size_t)(lf.n_st > 0 ? lf.n_st : 1), sizeof *lf.st);
    lf.filters = malloc((size_t)n_mels * AM_N_FREQ * sizeof(float));
    lf.windows = malloc((size_t)lf.B * n_mels * N_FRAMES * sizeof(float));
    lf.prompts = calloc((size_t)lf.B, sizeof *lf.prompts);
    lf.wr = calloc((size_t)lf.B, sizeof *lf.wr);
    if (!lf.out || !lf.st || !lf.filters || !lf.windows || !lf.prompts || !lf.wr) {
        rc = am_fail(err, err_size, AM_E_NOMEM, "out of memory");
        goto done;
    }
    lf.out->duration = (double)n_samples / AM_SAMPLE_RATE;
    for (int i = 0; i < lf.n_st; i++) {
        lf.st[i].chunk = p->vad ? &plan.chunks[i] : NULL;
        lf.st[i].lang_index = lang_index;
    }
    if (lf.n_st > 0) {
        if (p->initial_prompt && (rc = encode_stripped(m->tok, p->initial_prompt, &lf.initial, &lf.n_initial)) != AM_OK) {
            am_fail(err, err_size, rc, "cannot encode the initial prompt");
            goto done;
        }
        if (p->prefix && (rc = encode_stripped(m->tok, p->prefix, &lf.prefix, &lf.n_prefix)) != AM_OK) {
            am_fail(err, err_size, rc, "cannot encode the prefix");
            goto done;
        }
        if (lf.n_prefix > MAX_PROMPT_PREV) lf.n_prefix = MAX_PROMPT_PREV;
        if ((rc = mel_filterbank_slaney(n_mels, AM_N_FFT, AM_SAMPLE_RATE, lf.filters)) != AM_OK) goto done;
        if ((rc = longform_run(&lf, err, err_size)) != AM_OK) goto done;
        if ((rc = flush_streams(&lf)) != AM_OK) goto done;
    }
    /* the language: the first stream's (given, detected, or English for .en models) */
    int li = lf.n_st > 0 && lf.st[0].lang_index >= 0 ? lf.st[0].lang_index : lang_index >= 0 ? lang_index : 0;
    snprintf(lf.out->language, sizeof lf.out->language, "%s", tokenizer_language_code(li));
    if (!lf.out->text && !(lf.out->text = am_strdup(""))) rc = AM_E_NOMEM;
    if (lf.s) {
        const am_session_stats *ss = &lf.s->stats;
        am_stats st = {ss->encode_calls,    ss->decode_calls,      ss->windows_encoded, ss->rows_decoded,
                       ss->bytes_to_device, ss->bytes_from_device, lf.s->bytes,
                       lf.mel_seconds,      lf.encode_seconds,     lf.decode_seconds,   ss->submissions, 0.0};
        lf.out->stats = st;
    } else {
        lf.out->stats.mel_seconds = lf.mel_seconds; /* no window was encoded */
    }
    if (rc == AM_OK && dj) {
        rc = diar_job_finish(dj, lf.out, &lf.out->stats.diarize_seconds, err, err_size);
        dj = NULL;
    }
    if (rc == AM_OK) report_progress(&lf, 1.0);

done:
    if (dj) diar_job_finish(dj, NULL, NULL, NULL, 0); /* the transcription failed: cancelled */
    if (rc != AM_OK && err && err_size && !err[0]) {
        if (lf.s && lf.s->error[0]) am_fail(err, err_size, rc, "%s", lf.s->error); /* the backend's own words */
        else am_fail(err, err_size, rc, "transcription failed: %s", am_status_string(rc));
    }
    if (rc != AM_OK) {
        am_result_free(lf.out);
        lf.out = NULL;
    }
    for (int i = 0; lf.st && i < lf.n_st; i++) {
        stream_release(&lf.st[i]);
        am_result_free(lf.st[i].r);
        free(lf.st[i].all_tokens.v);
    }
    free(lf.st);
    search_ctx_free(&lf.c);
    if (keep && rc == AM_OK && lf.s) {
        session_destroy(*keep);
        *keep = lf.s; /* kept for the caller's next transcription */
    } else {
        session_destroy(lf.s);
    }
    vad_plan_free(&plan);
    pending_clear(&lf.ws);
    free(lf.ws.s);
    for (int i = 0; lf.prompts && i < lf.B; i++) free(lf.prompts[i].v);
    free(lf.prompts);
    for (int i = 0; lf.wr && i < lf.B; i++) free(lf.wr[i].tokens.v);
    free(lf.wr);
    free(lf.tmp.tokens.v);
    free(lf.filters);
    free(lf.windows);
    free(lf.chunk_audio);
    free(lf.initial);
    free(lf.prefix);
    *out = lf.out;
    return rc;
}

am_status transcribe_in_session(const am_model *m, am_session **session, const float *samples, size_t n_samples,
                                const am_params *params, am_result **out, char *err, size_t err_size) {
    if (!m || !out || !session || (!samples && n_samples))
        return am_fail(err, err_size, AM_E_INVALID_ARG, "transcribe_in_session: NULL argument");
    *out = NULL;
    pcm_store *pcm = pcm_store_view(samples, n_samples);
    if (!pcm) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    int rc = transcribe_store(m, pcm, params, session, out, err, err_size);
    pcm_store_free(pcm);
    return rc;
}

am_status am_transcribe(const am_model *m, const float *samples, size_t n_samples, const am_params *params,
                        am_result **out, char *err, size_t err_size) {
    if (!m || !out || (!samples && n_samples)) return am_fail(err, err_size, AM_E_INVALID_ARG, "am_transcribe: NULL argument");
    *out = NULL;
    pcm_store *pcm = pcm_store_view(samples, n_samples);
    if (!pcm) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    int rc = transcribe_store(m, pcm, params, NULL, out, err, err_size);
    pcm_store_free(pcm);
    return rc;
}

struct am_audio {
    pcm_store *pcm;
};

am_status am_audio_open(const char *path, am_audio **out, char *err, size_t err_size) {
    if (!path || !out) return am_fail(err, err_size, AM_E_INVALID_ARG, "am_audio_open: NULL argument");
    *out = NULL;
    am_audio *a = calloc(1, sizeof *a);
    if (!a || !(a->pcm = pcm_store_new(1))) { /* an unlinked temporary file (memory if none) */
        free(a);
        return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    }
    int rc = audio_read_file(path, a->pcm, err, err_size);
    if (rc != AM_OK) {
        am_audio_close(a);
        return rc;
    }
    *out = a;
    return AM_OK;
}

size_t am_audio_n_samples(const am_audio *a) { return a ? pcm_store_size(a->pcm) : 0; }

void am_audio_close(am_audio *a) {
    if (!a) return;
    pcm_store_free(a->pcm);
    free(a);
}

am_status am_transcribe_audio(const am_model *m, const am_audio *audio, const am_params *params, am_result **out,
                              char *err, size_t err_size) {
    if (!m || !audio || !out) return am_fail(err, err_size, AM_E_INVALID_ARG, "am_transcribe_audio: NULL argument");
    return transcribe_store(m, audio->pcm, params, NULL, out, err, err_size);
}

am_status am_transcribe_file(const am_model *m, const char *path, const am_params *params, am_result **out, char *err,
                             size_t err_size) {
    if (!m || !path || !out) return am_fail(err, err_size, AM_E_INVALID_ARG, "am_transcribe_file: NULL argument");
    *out = NULL;
    am_audio *a = NULL;
    int rc = am_audio_open(path, &a, err, err_size);
    if (rc == AM_OK) rc = am_transcribe_audio(m, a, params, out, err, err_size);
    am_audio_close(a);
    return rc;
}
