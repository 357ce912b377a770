/* transcribe.c — long-form transcription: windows, prompts, greedy/sampled decoding with
 * Whisper's timestamp rules, temperature fallback, and segments (DESIGN.md §3).
 *
 * The loop follows faster-whisper's generate_segments with CTranslate2's decoding rules, which
 * our parity tests compare against:
 *   features = log-mel of the whole file (global normalisation); content_frames = frames − 1
 *   while seek < content_frames:
 *       window = features[seek : seek + min(3000, content_frames − seek)], zero-padded to 3000
 *       encode(window)                                      — one backend call
 *       prompt = [sot_prev, previous text (≤ 223)] + [sot (, lang, task)] (+ notimestamps)
 *       tokens = decode with fallback over temperatures      — one backend call per token
 *       skip the window if no_speech_prob > 0.6 and avg_logprob < −1
 *       split tokens into segments at timestamp pairs, advance seek to the last timestamp */
#include <math.h>
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
#include "decode/batch.h"
#include "text/tokenizer.h"
#include "frontend/mel.h"
#include "frontend/mel_q15.h"
#include "model/model.h"

#define MAX_PROMPT_PREV 223 /* n_text_ctx / 2 − 1 tokens of previous text */
#define N_FRAMES 3000
#define TIME_PRECISION 0.02
#define FRAME_TIME 0.01

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
    p.frontend = AM_FRONTEND_Q15;
    p.batch_size = 1;
    p.vad_chunk_gap_ms = 1000;
    return p;
}

static void window_result_copy(window_result *dst, const window_result *src) {
    ivec keep = dst->tokens;
    *dst = *src;
    dst->tokens = keep;
    dst->tokens.n = 0;
    for (int i = 0; i < src->tokens.n; i++) ivec_push(&dst->tokens, src->tokens.v[i]);
}

/* Temperature fallback (faster-whisper generate_with_fallback). */
static int decode_with_fallback(search_ctx *c, const int *prompt, int n_prompt, int sot_index, int n_forced,
                                window_result *best, window_result *tmp) {
    const am_params *p = c->p;
    /* temperatures: p->temperature, then + increment up to 1.0 (0, 0.2, ... 1.0 by default) */
    float inc = p->temperature_increment > 0.0f ? p->temperature_increment : 0.2f;
    int n_temps = p->no_fallback ? 1 : 1 + (int)floorf((1.0f - p->temperature) / inc + 1e-4f);
    int have_best = 0, best_below_cr = 0;
    for (int ti = 0; ti < n_temps; ti++) {
        float t = p->temperature + (float)ti * inc;
        int rc = search_window(c, prompt, n_prompt, sot_index, n_forced, t, tmp);
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
            window_result_copy(best, tmp);
            have_best = 1;
            best_below_cr = below_cr;
        }
        if (!needs_fallback) {
            window_result_copy(best, tmp);
            return AM_OK;
        }
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

static double median_nonzero(const double *x, int n) {
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    int m = 0;
    if (!v) return 0.0;
    for (int i = 0; i < n; i++)
        if (x[i] != 0.0) v[m++] = x[i];
    double med = 0.0;
    if (m > 0) {
        for (int i = 1; i < m; i++) /* insertion sort: a window has few words */
            for (int j = i; j > 0 && v[j - 1] > v[j]; j--) { double t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
        med = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    }
    free(v);
    return med;
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
    double median = median_nonzero(dur, n_w);
    int any_nonzero = 0;
    for (int i = 0; i < n_w; i++) any_nonzero |= dur[i] != 0.0;
    free(dur);
    if (median > 0.7) median = 0.7;
    double max_duration = median * 2;
    if (any_nonzero) /* truncate long words at sentence boundaries */
        for (int i = 1; i < n_w; i++)
            if (w[i].end - w[i].start > max_duration) {
                if (is_sentence_end(w[i].word)) w[i].end = w[i].start + max_duration;
                else if (is_sentence_end(w[i - 1].word)) w[i].start = w[i].end - max_duration;
            }
    align_merge_punctuations(w, n_w, c->p->prepend_punctuations ? c->p->prepend_punctuations : "",
                             c->p->append_punctuations ? c->p->append_punctuations : "");

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
            seg.id = (int)r->n_segments + 1;
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
            if (rc == AM_OK && c->p->on_segment) c->p->on_segment(&r->segments[r->n_segments - 1], c->p->user_data);
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

/* Language detection on the current window: softmax over the language tokens at sot. */
static int detect_language(search_ctx *c, am_result *r, int *lang_index) {
    int sot = c->sp.sot;
    am_decode_seq sq = {0, c->window, &sot, 1, 0};
    int rc = c->be->ops->decode(c->be, &sq, 1, c->logits);
    if (rc != AM_OK) return rc;
    int n = c->sp.n_languages;
    float *lg = c->logits + c->sp.lang_begin, mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = lg[i] > mx ? lg[i] : mx;
    double total = 0.0;
    for (int i = 0; i < n; i++) total += exp((double)(lg[i] - mx));
    float probs[128];
    const char *codes[128];
    int best = 0;
    for (int i = 0; i < n && i < 128; i++) {
        probs[i] = (float)(exp((double)(lg[i] - mx)) / total);
        codes[i] = tokenizer_language_code(i);
        if (probs[i] > probs[best]) best = i;
    }
    result_set_language_probs(r, codes, probs, n < 128 ? n : 128);
    *lang_index = best;
    return AM_OK;
}

/* "-1" (non-speech symbols) and comma-separated ids; the task and special tokens always. */
static int build_suppress_list(search_ctx *c, const char *spec, char *err, size_t err_size) {
    int n = 0;
    const int cap = 4096;
    if (spec && *spec) {
        const char *q = spec;
        while (*q) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q) return am_fail(err, err_size, AM_E_INVALID_ARG, "suppress_tokens: bad list '%s'", spec);
            if (v == -1) {
                n += tokenizer_non_speech_tokens(c->m->tok, c->suppress + n, cap - 16 - n);
                if (n > cap - 16) n = cap - 16;
            } else if (v >= 0 && v < c->m->hp.n_vocab) {
                if (n < cap - 16) c->suppress[n++] = (int)v;
            } else {
                return am_fail(err, err_size, AM_E_INVALID_ARG, "suppress_tokens: id %ld out of range", v);
            }
            q = end;
            while (*q == ',' || *q == ' ') q++;
        }
    }
    int extra[6] = {c->sp.transcribe, c->sp.translate, c->sp.sot, c->sp.sot_prev, c->sp.sot_lm, c->sp.no_speech};
    for (int i = 0; i < 6; i++) c->suppress[n++] = extra[i];
    c->n_suppress = n;
    return AM_OK;
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
    if (need < 0) { free(s); return AM_E_INVALID_ARG; }
    *ids = malloc((size_t)(need > 0 ? need : 1) * sizeof(int));
    if (!*ids) { free(s); return AM_E_NOMEM; }
    *n_ids = tokenizer_encode(tok, s, *ids, need);
    free(s);
    return AM_OK;
}

/* ---- the public entry point ----------------------------------------------------------------- */

int transcribe_with_vad(am_model *m, const float *samples, size_t n, const am_params *p, am_result **out, char *err,
                        size_t err_size); /* vad_transcribe.c */

am_status am_transcribe(am_model *m, const float *samples, size_t n_samples, const am_params *params, am_result **out,
                  char *err, size_t err_size) {
    if (!m || !out || (!samples && n_samples)) return am_fail(err, err_size, AM_E_INVALID_ARG, "am_transcribe: NULL argument");
    *out = NULL;
    if (params && params->vad) return transcribe_with_vad(m, samples, n_samples, params, out, err, err_size);
    if (err && err_size) err[0] = 0;
    am_params p = params ? *params : am_params_default();
    if (n_samples == 0) return am_fail(err, err_size, AM_E_AUDIO, "the audio contains no samples");
    const int multilingual = tokenizer_is_multilingual(m->tok);
    int lang_index = 0; /* "en" */
    int language_given = p.language && *p.language && strcmp(p.language, "auto") != 0;
    if (language_given) {
        lang_index = tokenizer_language_index(p.language);
        if (lang_index < 0) return am_fail(err, err_size, AM_E_INVALID_ARG, "unknown language code '%s'", p.language);
        if (!multilingual && lang_index != 0)
            return am_fail(err, err_size, AM_E_UNSUPPORTED,
                           "this is an English-only (.en) model: it cannot transcribe language '%s'", p.language);
    }
    if (!multilingual && p.translate)
        return am_fail(err, err_size, AM_E_UNSUPPORTED, "this is an English-only (.en) model: it cannot translate");
    if (p.beam_size < 1 || p.beam_size > 64 || p.best_of < 1 || p.best_of > 64)
        return am_fail(err, err_size, AM_E_INVALID_ARG, "beam_size and best_of must be in 1..64");
    if (p.temperature < 0.0f || p.temperature > 1.0f)
        return am_fail(err, err_size, AM_E_INVALID_ARG, "temperature must be in [0, 1]");

    am_result *r = calloc(1, sizeof *r);
    search_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.p = &p;
    c.rng = p.seed ? p.seed : 0x9E3779B97F4A7C15ull;
    tokenizer_specials(m->tok, &c.sp);
    const int nv = m->hp.n_vocab, n_mels = m->hp.n_mels;
    const int max_seqs = 2 * (p.beam_size > p.best_of ? p.beam_size : p.best_of);
    float *filters = malloc((size_t)n_mels * AM_N_FREQ * sizeof(float));
    float *mel = NULL, *window = malloc((size_t)n_mels * N_FRAMES * sizeof(float));
    c.logits = malloc((size_t)max_seqs * nv * sizeof(float));
    c.work = malloc((size_t)nv * sizeof(float));
    c.suppress = malloc(4096 * sizeof(int));
    ivec all_tokens = {0}, prompt = {0};
    int *initial = NULL, n_initial = 0, *prefix = NULL, n_prefix = 0;
    window_result best = {0}, tmp = {0};
    window_segments ws = {0};
    int rc = AM_OK, n_frames = 0;
    if (!r || !filters || !window || !c.logits || !c.work || !c.suppress) { rc = AM_E_NOMEM; goto done; }

    if ((rc = build_suppress_list(&c, p.suppress_tokens, err, err_size)) != AM_OK) goto done;
    int blank[4];
    c.blank_id = tokenizer_encode(m->tok, " ", blank, 4) == 1 ? blank[0] : -1;
    if (p.initial_prompt && (rc = encode_stripped(m->tok, p.initial_prompt, &initial, &n_initial)) != AM_OK) {
        am_fail(err, err_size, rc, "cannot encode the initial prompt");
        goto done;
    }
    if (p.prefix && (rc = encode_stripped(m->tok, p.prefix, &prefix, &n_prefix)) != AM_OK) {
        am_fail(err, err_size, rc, "cannot encode the prefix");
        goto done;
    }
    if (n_prefix > MAX_PROMPT_PREV) n_prefix = MAX_PROMPT_PREV;
    for (int i = 0; i < n_initial; i++) ivec_push(&all_tokens, initial[i]);

    mel_filterbank_slaney(n_mels, AM_N_FFT, AM_SAMPLE_RATE, filters);
    rc = (p.frontend == AM_FRONTEND_F32 ? mel_log_spectrogram : mel_q15_log_spectrogram)(
        samples, n_samples, n_mels, filters, p.n_threads > 0 ? p.n_threads : am_cpu_count(), &mel, &n_frames);
    if (rc != AM_OK) goto done;
    c.be = backend_cpu_create(m, p.n_threads, max_seqs, 1, err, err_size);
    if (!c.be) { rc = AM_E_NOMEM; goto done; }

    const int content_frames = n_frames - 1;
    const double content_duration = content_frames * FRAME_TIME;
    int seek = 0, prompt_reset_since = 0, language_known = !multilingual || language_given;
    double last_speech = 0.0;
    int max_prev = p.max_context >= 0 && p.max_context < MAX_PROMPT_PREV ? p.max_context : MAX_PROMPT_PREV;
    while (seek < content_frames) {
        if (p.abort_callback && p.abort_callback(p.abort_user_data)) { rc = AM_E_ABORTED; goto done; }
        int segment_size = content_frames - seek < N_FRAMES ? content_frames - seek : N_FRAMES;
        double time_offset = seek * FRAME_TIME, segment_duration = segment_size * FRAME_TIME;
        double window_end_time = (seek + N_FRAMES) * FRAME_TIME;
        /* window [n_mels][3000]: the next frames, zero-padded */
        for (int k = 0; k < n_mels; k++) {
            float *dst = window + (size_t)k * N_FRAMES;
            memcpy(dst, mel + (size_t)k * n_frames + seek, (size_t)segment_size * sizeof(float));
            memset(dst + segment_size, 0, (size_t)(N_FRAMES - segment_size) * sizeof(float));
        }
        if ((rc = c.be->ops->encode(c.be, window, 1)) != AM_OK) goto done;
        if (!language_known) {
            if ((rc = detect_language(&c, r, &lang_index)) != AM_OK) goto done;
            language_known = 1;
            if (p.detect_language_only) break;
        }
        /* prompt: [sot_prev, previous text…] [sot, language, task] [notimestamps] [<|0.00|> prefix] */
        prompt.n = 0;
        int n_prev = all_tokens.n - prompt_reset_since;
        if (n_prev > 0 && max_prev > 0) {
            ivec_push(&prompt, c.sp.sot_prev);
            int from = n_prev > max_prev ? all_tokens.n - max_prev : prompt_reset_since;
            for (int i = from; i < all_tokens.n; i++) ivec_push(&prompt, all_tokens.v[i]);
        }
        int sot_index = prompt.n;
        ivec_push(&prompt, c.sp.sot);
        if (multilingual) {
            ivec_push(&prompt, c.sp.lang_begin + lang_index);
            ivec_push(&prompt, p.translate ? c.sp.translate : c.sp.transcribe);
        }
        int n_sot_seq = prompt.n - sot_index;
        if (p.without_timestamps) ivec_push(&prompt, c.sp.no_timestamps);
        int n_forced = 0;
        if (seek == 0 && n_prefix > 0) {
            if (!p.without_timestamps) { ivec_push(&prompt, c.sp.timestamp_begin); n_forced++; }
            for (int i = 0; i < n_prefix; i++) ivec_push(&prompt, prefix[i]);
            n_forced += n_prefix;
        }
        if (!prompt.v) { rc = AM_E_NOMEM; goto done; }

        if ((rc = decode_with_fallback(&c, prompt.v, prompt.n, sot_index, n_forced, &best, &tmp)) != AM_OK) goto done;

        if (p.no_speech_threshold >= 0.0f && best.no_speech_prob > p.no_speech_threshold &&
            !(p.logprob_threshold > -1e9f && best.avg_logprob > p.logprob_threshold)) {
            seek += segment_size; /* silence */
            continue;
        }
        int previous_seek = seek, single_ending;
        pending_clear(&ws);
        seek = split_segments(&c, best.tokens.v, best.tokens.n, time_offset, seek, segment_size, segment_duration, &ws,
                              &single_ending, &rc);
        if (rc != AM_OK) goto done;

        if (p.word_timestamps) {
            rc = add_word_timestamps(&c, best.tokens.v, &ws, prompt.v + sot_index, n_sot_seq, segment_size,
                                     time_offset, tokenizer_language_code(lang_index), &last_speech);
            if (rc != AM_OK) goto done;
            if (!single_ending) {
                double last_word_end = -1.0;
                for (int i = ws.n - 1; i >= 0 && last_word_end < 0; i--)
                    if (ws.s[i].n_words > 0) last_word_end = ws.s[i].words[ws.s[i].n_words - 1].end;
                if (last_word_end > time_offset) seek = (int)lround(last_word_end * 100.0);
            }
            /* hallucination guard: skip silence before segments that look hallucinated */
            double thr = p.hallucination_silence_threshold;
            if (thr > 0.0) {
                const pending *first = next_words_segment(&ws, 0);
                if (first && segment_is_anomaly(first)) {
                    double gap = first->start - time_offset;
                    if (gap > thr) {
                        seek = previous_seek + (int)lround(gap * 100.0);
                        continue;
                    }
                }
                double hal_last_end = last_speech;
                for (int si = 0; si < ws.n; si++) {
                    pending *sg = &ws.s[si];
                    if (sg->n_words == 0) continue;
                    if (segment_is_anomaly(sg)) {
                        const pending *nx = next_words_segment(&ws, si + 1);
                        double hal_next_start = nx ? nx->words[0].start : time_offset + segment_duration;
                        int silence_before = sg->start - hal_last_end > thr || sg->start < thr || sg->start - time_offset < 2.0;
                        int silence_after = hal_next_start - sg->end > thr || segment_is_anomaly(nx) ||
                                            window_end_time - sg->end < 2.0;
                        if (silence_before && silence_after) {
                            seek = (int)lround(fmax(time_offset + 1, sg->start) * 100.0);
                            if (content_duration - sg->end < thr) seek = content_frames;
                            for (int k = si; k < ws.n; k++) align_words_free(ws.s[k].words, ws.s[k].n_words);
                            ws.n = si;
                            break;
                        }
                    }
                    hal_last_end = sg->end;
                }
            }
            for (int i = ws.n - 1; i >= 0; i--)
                if (ws.s[i].n_words > 0) { last_speech = ws.s[i].words[ws.s[i].n_words - 1].end; break; }
        }
        if ((rc = emit_segments(r, &c, best.tokens.v, &ws, previous_seek, &best, &all_tokens)) != AM_OK) goto done;
        if (!p.condition_on_previous_text || best.temperature > 0.5f) prompt_reset_since = all_tokens.n;
    }

    /* language and duration (the text was joined as segments were added) */
    if (!r->text && !(r->text = am_strdup(""))) { rc = AM_E_NOMEM; goto done; }
    snprintf(r->language, sizeof r->language, "%s", tokenizer_language_code(lang_index));
    r->duration = (double)n_samples / AM_SAMPLE_RATE;

done:
    if (rc != AM_OK && err && err_size && !err[0])
        am_fail(err, err_size, rc, "transcription failed: %s", am_status_string(rc));
    if (rc != AM_OK) {
        am_result_free(r);
        r = NULL;
    }
    if (c.be) c.be->ops->destroy(c.be);
    pending_clear(&ws);
    free(ws.s);
    free(filters);
    free(mel);
    free(window);
    free(c.logits);
    free(c.work);
    free(c.suppress);
    free(all_tokens.v);
    free(prompt.v);
    free(initial);
    free(prefix);
    free(best.tokens.v);
    free(tmp.tokens.v);
    *out = r;
    return rc;
}

/* ---- batched chunks (VAD long-form) --------------------------------------------------------- */

/* One chunk being transcribed in a batch: the long-form state of am_transcribe, per chunk. */
typedef struct chunk_state {
    float *mel;        /* [n_mels][n_frames] */
    int n_frames, content_frames, seek, prompt_reset_since, done;
    ivec all_tokens;
    am_result *r;
} chunk_state;

/* Transcribe independent chunks (VAD chunks) `batch_size` at a time, as faster-whisper's batched
 * pipeline does, but keeping Whisper's long-form rules inside each chunk: every round encodes the
 * next 30 s window of every unfinished chunk of the batch in one backend call and decodes them
 * together (one decoder call per step for all their hypotheses); each chunk then splits its
 * segments and seeks as am_transcribe does.  A window that fails the fallback tests is decoded
 * again alone with the temperature schedule.  results[i]: chunk i's segments in chunk-local time. */
int transcribe_chunks_batched(am_model *m, const float *const *chunks, const size_t *n_samples, int n_chunks,
                              const am_params *params, am_result **results, char *err, size_t err_size) {
    am_params p = *params;
    p.on_segment = NULL; /* the caller reports segments once they are on its timeline */
    const int B = p.batch_size > 1 ? (p.batch_size < 64 ? p.batch_size : 64) : 1;
    const int beam = p.beam_size > 1 ? p.beam_size : 1;
    const int fallback_seqs = 2 * (p.beam_size > p.best_of ? p.beam_size : p.best_of);
    const int nv = m->hp.n_vocab, n_mels = m->hp.n_mels;
    const int multilingual = tokenizer_is_multilingual(m->tok);
    int lang_index = 0, language_known = !multilingual;
    if (p.language && *p.language && strcmp(p.language, "auto") != 0) {
        lang_index = tokenizer_language_index(p.language);
        if (lang_index < 0) return am_fail(err, err_size, AM_E_INVALID_ARG, "unknown language code '%s'", p.language);
        if (!multilingual && lang_index != 0)
            return am_fail(err, err_size, AM_E_UNSUPPORTED,
                           "this is an English-only (.en) model: it cannot transcribe language '%s'", p.language);
        language_known = 1;
    }
    if (!multilingual && p.translate)
        return am_fail(err, err_size, AM_E_UNSUPPORTED, "this is an English-only (.en) model: it cannot translate");
    for (int i = 0; i < n_chunks; i++) results[i] = NULL;

    search_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.p = &p;
    c.rng = p.seed ? p.seed : 0x9E3779B97F4A7C15ull;
    tokenizer_specials(m->tok, &c.sp);
    const int max_seqs = B * 2 * beam > fallback_seqs ? B * 2 * beam : fallback_seqs;
    const int logit_rows = B * (beam + 2) > max_seqs ? B * (beam + 2) : max_seqs;
    float *filters = malloc((size_t)n_mels * AM_N_FREQ * sizeof(float));
    float *windows = malloc((size_t)B * n_mels * N_FRAMES * sizeof(float));
    c.logits = malloc((size_t)logit_rows * nv * sizeof(float));
    c.work = malloc((size_t)nv * sizeof(float));
    c.suppress = malloc(4096 * sizeof(int));
    int *initial = NULL, n_initial = 0;
    chunk_state *cs = calloc((size_t)B, sizeof *cs);
    ivec *prompts = calloc((size_t)B, sizeof *prompts);
    window_result *wr = calloc((size_t)B, sizeof *wr);
    window_result tmp = {0};
    window_segments ws = {0};
    int rc = AM_OK;
    if (!filters || !windows || !c.logits || !c.work || !c.suppress || !cs || !prompts || !wr) {
        rc = am_fail(err, err_size, AM_E_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = build_suppress_list(&c, p.suppress_tokens, err, err_size)) != AM_OK) goto done;
    int blank[4];
    c.blank_id = tokenizer_encode(m->tok, " ", blank, 4) == 1 ? blank[0] : -1;
    if (p.initial_prompt && (rc = encode_stripped(m->tok, p.initial_prompt, &initial, &n_initial)) != AM_OK) {
        am_fail(err, err_size, rc, "cannot encode the initial prompt");
        goto done;
    }
    mel_filterbank_slaney(n_mels, AM_N_FFT, AM_SAMPLE_RATE, filters);
    c.be = backend_cpu_create(m, p.n_threads, max_seqs, B, err, err_size);
    if (!c.be) { rc = AM_E_NOMEM; goto done; }
    const int max_prev = p.max_context >= 0 && p.max_context < MAX_PROMPT_PREV ? p.max_context : MAX_PROMPT_PREV;

    for (int g0 = 0; g0 < n_chunks; g0 += B) {
        const int nb = n_chunks - g0 < B ? n_chunks - g0 : B;
        /* per chunk: its log-mel (normalised per chunk) and an empty result */
        for (int i = 0; i < nb; i++) {
            chunk_state *k = &cs[i];
            free(k->mel);
            k->mel = NULL;
            k->all_tokens.n = 0;
            k->seek = k->prompt_reset_since = k->done = 0;
            if (n_samples[g0 + i] == 0) { rc = am_fail(err, err_size, AM_E_AUDIO, "empty chunk"); goto done; }
            rc = (p.frontend == AM_FRONTEND_F32 ? mel_log_spectrogram : mel_q15_log_spectrogram)(
                chunks[g0 + i], n_samples[g0 + i], n_mels, filters, p.n_threads > 0 ? p.n_threads : am_cpu_count(),
                &k->mel, &k->n_frames);
            if (rc != AM_OK) goto done;
            k->content_frames = k->n_frames - 1;
            for (int t = 0; t < n_initial; t++) ivec_push(&k->all_tokens, initial[t]);
            am_result *r = calloc(1, sizeof *r);
            if (!r) { rc = AM_E_NOMEM; goto done; }
            results[g0 + i] = k->r = r;
            r->duration = (double)n_samples[g0 + i] / AM_SAMPLE_RATE;
            if (k->content_frames <= 0) k->done = 1;
        }
        for (;;) { /* rounds: the next window of every unfinished chunk */
            if (p.abort_callback && p.abort_callback(p.abort_user_data)) { rc = AM_E_ABORTED; goto done; }
            int act[64], na = 0;
            for (int i = 0; i < nb; i++)
                if (!cs[i].done) act[na++] = i;
            if (na == 0) break;
            int size[64];
            for (int a = 0; a < na; a++) {
                chunk_state *k = &cs[act[a]];
                int sz = k->content_frames - k->seek < N_FRAMES ? k->content_frames - k->seek : N_FRAMES;
                size[a] = sz;
                float *win = windows + (size_t)a * n_mels * N_FRAMES;
                for (int q = 0; q < n_mels; q++) {
                    memcpy(win + (size_t)q * N_FRAMES, k->mel + (size_t)q * k->n_frames + k->seek, (size_t)sz * sizeof(float));
                    memset(win + (size_t)q * N_FRAMES + sz, 0, (size_t)(N_FRAMES - sz) * sizeof(float));
                }
            }
            if ((rc = c.be->ops->encode(c.be, windows, na)) != AM_OK) goto done; /* one call per round */
            if (!language_known) {
                c.window = 0;
                if ((rc = detect_language(&c, cs[act[0]].r, &lang_index)) != AM_OK) goto done;
                language_known = 1;
            }
            const int *pr[64];
            int np[64], sot_idx[64], forced[64], win_idx[64], n_sot[64];
            for (int a = 0; a < na; a++) {
                chunk_state *k = &cs[act[a]];
                ivec *q = &prompts[a];
                q->n = 0;
                int n_prev = k->all_tokens.n - k->prompt_reset_since;
                if (n_prev > 0 && max_prev > 0) {
                    ivec_push(q, c.sp.sot_prev);
                    int from = n_prev > max_prev ? k->all_tokens.n - max_prev : k->prompt_reset_since;
                    for (int t = from; t < k->all_tokens.n; t++) ivec_push(q, k->all_tokens.v[t]);
                }
                sot_idx[a] = q->n;
                ivec_push(q, c.sp.sot);
                if (multilingual) {
                    ivec_push(q, c.sp.lang_begin + lang_index);
                    ivec_push(q, p.translate ? c.sp.translate : c.sp.transcribe);
                }
                n_sot[a] = q->n - sot_idx[a];
                if (p.without_timestamps) ivec_push(q, c.sp.no_timestamps);
                if (!q->v) { rc = AM_E_NOMEM; goto done; }
                pr[a] = q->v;
                np[a] = q->n;
                forced[a] = 0;
                win_idx[a] = a;
            }
            if ((rc = search_windows_batch(&c, na, pr, np, sot_idx, forced, win_idx, wr)) != AM_OK) goto done;

            for (int a = 0; a < na; a++) {
                chunk_state *k = &cs[act[a]];
                window_result *w = &wr[a];
                c.window = a;
                int cr_bad = p.compression_ratio_threshold >= 0.0f && w->compression_ratio > p.compression_ratio_threshold;
                int lp_bad = p.logprob_threshold > -1e9f && w->avg_logprob < p.logprob_threshold;
                int silent = p.no_speech_threshold >= 0.0f && w->no_speech_prob > p.no_speech_threshold && lp_bad;
                if (!p.no_fallback && (cr_bad || lp_bad) && !silent) {
                    /* this window again, alone, with the temperature schedule (its encoding is still in slot a) */
                    if ((rc = decode_with_fallback(&c, pr[a], np[a], sot_idx[a], 0, w, &tmp)) != AM_OK) goto done;
                }
                double time_offset = k->seek * FRAME_TIME, segment_duration = size[a] * FRAME_TIME;
                if (p.no_speech_threshold >= 0.0f && w->no_speech_prob > p.no_speech_threshold &&
                    !(p.logprob_threshold > -1e9f && w->avg_logprob > p.logprob_threshold)) {
                    k->seek += size[a]; /* silence */
                } else {
                    int previous_seek = k->seek, single_ending;
                    pending_clear(&ws);
                    k->seek = split_segments(&c, w->tokens.v, w->tokens.n, time_offset, k->seek, size[a],
                                             segment_duration, &ws, &single_ending, &rc);
                    if (rc != AM_OK) goto done;
                    if (p.word_timestamps) {
                        double last_speech = 0.0;
                        rc = add_word_timestamps(&c, w->tokens.v, &ws, pr[a] + sot_idx[a], n_sot[a], size[a],
                                                 time_offset, tokenizer_language_code(lang_index), &last_speech);
                        if (rc != AM_OK) goto done;
                    }
                    if ((rc = emit_segments(k->r, &c, w->tokens.v, &ws, previous_seek, w, &k->all_tokens)) != AM_OK)
                        goto done;
                    if (!p.condition_on_previous_text || w->temperature > 0.5f) k->prompt_reset_since = k->all_tokens.n;
                }
                if (k->seek >= k->content_frames) k->done = 1;
            }
            c.window = 0;
        }
        for (int i = 0; i < nb; i++) {
            am_result *r = cs[i].r;
            snprintf(r->language, sizeof r->language, "%s", tokenizer_language_code(lang_index));
            if (!r->text && !(r->text = am_strdup(""))) { rc = AM_E_NOMEM; goto done; }
            cs[i].r = NULL;
        }
    }
done:
    if (rc != AM_OK) {
        if (err && err_size && !err[0]) am_fail(err, err_size, rc, "transcription failed: %s", am_status_string(rc));
        for (int i = 0; i < n_chunks; i++) { am_result_free(results[i]); results[i] = NULL; }
    }
    if (c.be) c.be->ops->destroy(c.be);
    pending_clear(&ws);
    free(ws.s);
    for (int i = 0; cs && i < B; i++) { free(cs[i].mel); free(cs[i].all_tokens.v); }
    free(cs);
    for (int i = 0; prompts && i < B; i++) free(prompts[i].v);
    free(prompts);
    for (int i = 0; wr && i < B; i++) free(wr[i].tokens.v);
    free(wr);
    free(tmp.tokens.v);
    free(filters);
    free(windows);
    free(c.logits);
    free(c.work);
    free(c.suppress);
    free(initial);
    return rc;
}
