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
#include <zlib.h>

#include "amanuensis.h"
#include "backend/backend.h"
#include "common/util.h"
#include "decode/result.h"
#include "decode/tokenizer.h"
#include "frontend/mel.h"
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
    return p;
}

/* ---- a growable int array ------------------------------------------------------------------- */

typedef struct ivec {
    int *v;
    int n, cap;
} ivec;

static int ivec_push(ivec *a, int x) {
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 256;
        int *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return AM_E_NOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return AM_OK;
}

/* ---- decoding one window -------------------------------------------------------------------- */

typedef struct decoder_ctx {
    am_model *m;
    am_backend *be;
    am_special_tokens sp;
    const am_params *p;
    int *suppress;          /* always-suppressed ids */
    int n_suppress;
    int blank_id;           /* " " */
    float *logits;          /* [2][n_vocab] */
    float *work;            /* [n_vocab] */
    uint64_t rng;
} decoder_ctx;

typedef struct window_result {
    ivec tokens;            /* sampled tokens without eot */
    float sum_logprob, avg_logprob, no_speech_prob, compression_ratio, temperature;
} window_result;

static double rng_uniform(uint64_t *s) {
    /* xorshift64*: reproducible per transcription */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

/* log-softmax value of logits[id] */
static float log_softmax_at(const float *x, int n, int id) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0.0;
    for (int i = 0; i < n; i++) s += exp((double)(x[i] - mx));
    return (float)((double)(x[id] - mx) - log(s));
}

/* Whisper's timestamp rules on one step's logits (CTranslate2's ApplyTimestampRules).
 * seq: tokens sampled so far in this window (n_seq of them). */
static void apply_timestamp_rules(const decoder_ctx *c, float *logits, const int *seq, int n_seq) {
    const int tb = c->sp.timestamp_begin, nv = c->m->hp.n_vocab, eot = c->sp.eot;
    logits[c->sp.no_timestamps] = -INFINITY;
    int check_prob = 0;
    if (n_seq == 0) {
        /* first token: a timestamp no later than max_initial_timestamp */
        for (int i = 0; i < tb; i++) logits[i] = -INFINITY;
        int last_allowed = tb + (int)lround(c->p->max_initial_timestamp / TIME_PRECISION);
        for (int i = last_allowed + 1; i < nv; i++) logits[i] = -INFINITY;
    } else {
        int last = seq[n_seq - 1];
        if (last >= tb) {
            int penultimate = n_seq >= 2 ? seq[n_seq - 2] : last;
            if (penultimate >= tb) { /* a pair just closed: text or eot next */
                for (int i = tb; i < nv; i++) logits[i] = -INFINITY;
            } else { /* an opening timestamp: another timestamp or eot */
                for (int i = 0; i < eot; i++) logits[i] = -INFINITY;
                check_prob = 1;
            }
        } else {
            check_prob = 1;
        }
        /* timestamps never decrease */
        for (int t = n_seq - 1; t >= 0; t--)
            if (seq[t] >= tb) {
                for (int i = tb; i < seq[t]; i++) logits[i] = -INFINITY;
                break;
            }
    }
    if (check_prob) {
        /* if the total probability of timestamps beats every text token, force a timestamp */
        float mx = -INFINITY;
        for (int i = 0; i < nv; i++) mx = logits[i] > mx ? logits[i] : mx;
        double total = 0.0, ts = 0.0;
        float max_text = -INFINITY;
        for (int i = 0; i < nv; i++) {
            double e = exp((double)(logits[i] - mx));
            total += e;
            if (i >= tb) ts += e;
            else if (logits[i] > max_text) max_text = logits[i];
        }
        double ts_logprob = ts > 0 ? log(ts) - log(total) : -INFINITY;
        double max_text_logprob = (double)(max_text - mx) - log(total);
        if (ts_logprob > max_text_logprob)
            for (int i = 0; i < tb; i++) logits[i] = -INFINITY;
    }
}

static float compression_ratio(const char *text) {
    size_t n = strlen(text);
    if (n == 0) return 0.0f;
    uLongf out_n = compressBound((uLong)n);
    unsigned char *out = malloc(out_n);
    if (!out) return 0.0f;
    float r = 0.0f;
    if (compress2(out, &out_n, (const unsigned char *)text, (uLong)n, Z_DEFAULT_COMPRESSION) == Z_OK && out_n > 0)
        r = (float)n / (float)out_n;
    free(out);
    return r;
}

/* Decode one window at one temperature. prompt: full prompt; sot_index: position of sot in it. */
static int decode_window(decoder_ctx *c, const int *prompt, int n_prompt, int sot_index, float temperature,
                         window_result *out) {
    const int nv = c->m->hp.n_vocab;
    out->tokens.n = 0;
    out->sum_logprob = 0.0f;
    out->temperature = temperature;
    /* the prompt up to sot gives the no-speech probability; the rest, the first step's logits */
    float *logits = c->logits + nv;
    am_decode_seq sq = {0, 0, prompt, sot_index + 1, 0};
    int rc = c->be->ops->decode(c->be, &sq, 1, c->logits);
    if (rc != AM_OK) return rc;
    out->no_speech_prob = expf(log_softmax_at(c->logits, nv, c->sp.no_speech));
    if (n_prompt > sot_index + 1) {
        am_decode_seq rest = {0, 0, prompt + sot_index + 1, n_prompt - sot_index - 1, sot_index + 1};
        rc = c->be->ops->decode(c->be, &rest, 1, logits);
        if (rc != AM_OK) return rc;
    } else {
        memcpy(logits, c->logits, (size_t)nv * sizeof(float));
    }
    int max_new = c->p->max_new_tokens > 0 ? c->p->max_new_tokens : 224;
    int cap = c->m->hp.n_text_ctx - (n_prompt - 1);
    if (c->m->hp.n_text_ctx / 2 < max_new) max_new = c->m->hp.n_text_ctx / 2;
    if (cap < max_new) max_new = cap;
    int pos = n_prompt;
    for (int step = 0; step < max_new; step++) {
        for (int i = 0; i < c->n_suppress; i++) logits[c->suppress[i]] = -INFINITY;
        if (step == 0 && c->p->suppress_blank) {
            if (c->blank_id >= 0) logits[c->blank_id] = -INFINITY;
            logits[c->sp.eot] = -INFINITY;
        }
        if (!c->p->without_timestamps) apply_timestamp_rules(c, logits, out->tokens.v, out->tokens.n);

        int tok = 0;
        if (temperature <= 0.0f) {
            float best = -INFINITY;
            for (int i = 0; i < nv; i++)
                if (logits[i] > best) { best = logits[i]; tok = i; }
        } else {
            float mx = -INFINITY;
            for (int i = 0; i < nv; i++) mx = logits[i] > mx ? logits[i] : mx;
            double total = 0.0;
            for (int i = 0; i < nv; i++) {
                c->work[i] = logits[i] == -INFINITY ? 0.0f : expf((logits[i] - mx) / temperature);
                total += c->work[i];
            }
            double u = rng_uniform(&c->rng) * total, acc = 0.0;
            tok = -1;
            for (int i = 0; i < nv; i++) {
                acc += c->work[i];
                if (c->work[i] > 0.0f) tok = i;
                if (acc >= u && c->work[i] > 0.0f) break;
            }
            if (tok < 0) tok = c->sp.eot;
        }
        out->sum_logprob += log_softmax_at(logits, nv, tok);
        if (tok == c->sp.eot) break;
        if (ivec_push(&out->tokens, tok) != AM_OK) return AM_E_NOMEM;
        if (step + 1 == max_new) break;
        am_decode_seq next = {0, 0, &tok, 1, pos};
        rc = c->be->ops->decode(c->be, &next, 1, logits);
        if (rc != AM_OK) return rc;
        pos++;
    }
    out->avg_logprob = out->sum_logprob / (float)(out->tokens.n + 1);
    char *text = tokenizer_decode(c->m->tok, out->tokens.v, out->tokens.n);
    if (!text) return AM_E_NOMEM;
    /* the ratio is measured on the stripped text, as faster-whisper does */
    const char *s = text;
    while (*s == ' ' || *s == '\t' || *s == '\n') s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n')) len--;
    char *stripped = am_strndup(s, len);
    free(text);
    if (!stripped) return AM_E_NOMEM;
    out->compression_ratio = compression_ratio(stripped);
    free(stripped);
    return AM_OK;
}

static void window_result_copy(window_result *dst, const window_result *src) {
    ivec keep = dst->tokens;
    *dst = *src;
    dst->tokens = keep;
    dst->tokens.n = 0;
    for (int i = 0; i < src->tokens.n; i++) ivec_push(&dst->tokens, src->tokens.v[i]);
}

/* Temperature fallback (faster-whisper generate_with_fallback). */
static int decode_with_fallback(decoder_ctx *c, const int *prompt, int n_prompt, int sot_index, window_result *best,
                                window_result *tmp) {
    static const float schedule[] = {0.0f, 0.2f, 0.4f, 0.6f, 0.8f, 1.0f};
    const am_params *p = c->p;
    int n_temps = p->no_fallback ? 1 : 6;
    int have_best = 0, best_below_cr = 0;
    for (int ti = 0; ti < n_temps; ti++) {
        float t = p->no_fallback ? p->temperature : schedule[ti];
        if (!p->no_fallback && p->temperature > 0.0f && t < p->temperature) continue;
        int rc = decode_window(c, prompt, n_prompt, sot_index, t, tmp);
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

/* ---- segments ------------------------------------------------------------------------------- */

static int emit_segment(am_result *r, decoder_ctx *c, const int *tokens, int n, double start, double end, int seek,
                        const window_result *wr, ivec *all_tokens) {
    char *text = tokenizer_decode(c->m->tok, tokens, n);
    if (!text) return AM_E_NOMEM;
    int blank = 1;
    for (const char *s = text; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') { blank = 0; break; }
    int rc = AM_OK;
    if (start != end && !blank) {
        am_segment seg;
        memset(&seg, 0, sizeof seg);
        seg.id = (int)r->n_segments + 1;
        seg.seek = seek;
        seg.start = start;
        seg.end = end;
        seg.text = text;
        seg.tokens = tokens;
        seg.n_tokens = n;
        seg.avg_logprob = wr->avg_logprob;
        seg.no_speech_prob = wr->no_speech_prob;
        seg.temperature = wr->temperature;
        seg.compression_ratio = wr->compression_ratio;
        rc = result_add_segment(r, &seg);
        for (int i = 0; rc == AM_OK && i < n; i++) rc = ivec_push(all_tokens, tokens[i]);
        if (rc == AM_OK && c->p->on_segment) c->p->on_segment(&r->segments[r->n_segments - 1], c->p->user_data);
    }
    free(text);
    return rc;
}

/* faster-whisper _split_segments_by_timestamps; returns the new seek. */
static int split_segments(am_result *r, decoder_ctx *c, const window_result *wr, double time_offset, int seek,
                          int segment_size, double segment_duration, ivec *all_tokens, int *rc_out) {
    const int *tok = wr->tokens.v;
    const int n = wr->tokens.n, tb = c->sp.timestamp_begin;
    int single_ending = n >= 2 && tok[n - 2] < tb && tok[n - 1] >= tb;
    int n_consecutive = 0;
    for (int i = 1; i < n; i++)
        if (tok[i] >= tb && tok[i - 1] >= tb) n_consecutive++;
    *rc_out = AM_OK;
    if (n_consecutive > 0) {
        int last_slice = 0;
        for (int i = 1; i <= n; i++) {
            int is_slice = (i < n && tok[i] >= tb && tok[i - 1] >= tb) || (i == n && single_ending);
            if (!is_slice) continue;
            const int *sl = tok + last_slice;
            int sl_n = i - last_slice;
            double start = time_offset + (sl[0] - tb) * TIME_PRECISION;
            double end = time_offset + (sl[sl_n - 1] - tb) * TIME_PRECISION;
            int rc = emit_segment(r, c, sl, sl_n, start, end, seek, wr, all_tokens);
            if (rc != AM_OK) { *rc_out = rc; return seek; }
            last_slice = i;
        }
        if (single_ending) return seek + segment_size;
        int last_ts = tok[last_slice - 1] - tb;
        return seek + last_ts * 2; /* 2 mel frames per timestamp step */
    }
    double duration = segment_duration;
    int last_ts_tok = -1;
    for (int i = 0; i < n; i++)
        if (tok[i] >= tb) last_ts_tok = tok[i];
    if (last_ts_tok >= 0 && last_ts_tok != tb) duration = (last_ts_tok - tb) * TIME_PRECISION;
    *rc_out = emit_segment(r, c, tok, n, time_offset, time_offset + duration, seek, wr, all_tokens);
    return seek + segment_size;
}

/* ---- the public entry point ----------------------------------------------------------------- */

static int detect_language(decoder_ctx *c, int *lang_index) {
    int sot = c->sp.sot;
    am_decode_seq sq = {0, 0, &sot, 1, 0};
    int rc = c->be->ops->decode(c->be, &sq, 1, c->logits);
    if (rc != AM_OK) return rc;
    int best = 0;
    for (int i = 1; i < c->sp.n_languages; i++)
        if (c->logits[c->sp.lang_begin + i] > c->logits[c->sp.lang_begin + best]) best = i;
    *lang_index = best;
    return AM_OK;
}

int am_transcribe(am_model *m, const float *samples, size_t n_samples, const am_params *params, am_result **out,
                  char *err, size_t err_size) {
    if (!m || !out || (!samples && n_samples)) return am_fail(err, err_size, AM_E_INVALID_ARG, "am_transcribe: NULL argument");
    *out = NULL;
    if (err && err_size) err[0] = 0;
    am_params p = params ? *params : am_params_default();
    if (n_samples == 0) return am_fail(err, err_size, AM_E_AUDIO, "the audio contains no samples");
    const int multilingual = tokenizer_is_multilingual(m->tok);
    int lang_index = 0; /* "en" */
    if (p.language && *p.language && strcmp(p.language, "auto") != 0) {
        lang_index = tokenizer_language_index(p.language);
        if (lang_index < 0) return am_fail(err, err_size, AM_E_INVALID_ARG, "unknown language code '%s'", p.language);
        if (!multilingual && lang_index != 0)
            return am_fail(err, err_size, AM_E_UNSUPPORTED,
                           "this is an English-only (.en) model: it cannot transcribe language '%s'", p.language);
    }
    if (!multilingual && p.translate)
        return am_fail(err, err_size, AM_E_UNSUPPORTED, "this is an English-only (.en) model: it cannot translate");

    am_result *r = calloc(1, sizeof *r);
    decoder_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.p = &p;
    c.rng = 0x9E3779B97F4A7C15ull;
    tokenizer_specials(m->tok, &c.sp);
    const int nv = m->hp.n_vocab, n_mels = m->hp.n_mels;
    float *filters = malloc((size_t)n_mels * AM_N_FREQ * sizeof(float));
    float *mel = NULL, *window = malloc((size_t)n_mels * N_FRAMES * sizeof(float));
    c.logits = malloc(2 * (size_t)nv * sizeof(float));
    c.work = malloc((size_t)nv * sizeof(float));
    c.suppress = malloc(1024 * sizeof(int));
    ivec all_tokens = {0}, prompt = {0};
    window_result best = {0}, tmp = {0};
    int rc = AM_OK, n_frames = 0;
    if (!r || !filters || !window || !c.logits || !c.work || !c.suppress) { rc = AM_E_NOMEM; goto done; }

    /* suppressed always: non-speech symbols and the task/special tokens (faster-whisper's list) */
    c.n_suppress = tokenizer_non_speech_tokens(m->tok, c.suppress, 1000);
    if (c.n_suppress > 1000) c.n_suppress = 1000;
    int extra[6] = {c.sp.transcribe, c.sp.translate, c.sp.sot, c.sp.sot_prev, c.sp.sot_lm, c.sp.no_speech};
    for (int i = 0; i < 6; i++) c.suppress[c.n_suppress++] = extra[i];
    int blank[4];
    c.blank_id = tokenizer_encode(m->tok, " ", blank, 4) == 1 ? blank[0] : -1;

    mel_filterbank_slaney(n_mels, AM_N_FFT, AM_SAMPLE_RATE, filters);
    rc = mel_log_spectrogram(samples, n_samples, n_mels, filters, p.n_threads > 0 ? p.n_threads : am_cpu_count(), &mel,
                             &n_frames);
    if (rc != AM_OK) goto done;
    c.be = backend_cpu_create(m, p.n_threads, 1, 1, err, err_size);
    if (!c.be) { rc = AM_E_NOMEM; goto done; }

    const int content_frames = n_frames - 1;
    int seek = 0, prompt_reset_since = 0, language_known = multilingual ? 0 : 1;
    if (p.language && *p.language && strcmp(p.language, "auto") != 0) language_known = 1;
    while (seek < content_frames) {
        int segment_size = content_frames - seek < N_FRAMES ? content_frames - seek : N_FRAMES;
        double time_offset = seek * FRAME_TIME, segment_duration = segment_size * FRAME_TIME;
        /* window [n_mels][3000]: the next frames, zero-padded */
        for (int k = 0; k < n_mels; k++) {
            float *dst = window + (size_t)k * N_FRAMES;
            memcpy(dst, mel + (size_t)k * n_frames + seek, (size_t)segment_size * sizeof(float));
            memset(dst + segment_size, 0, (size_t)(N_FRAMES - segment_size) * sizeof(float));
        }
        rc = c.be->ops->encode(c.be, window, 1);
        if (rc != AM_OK) goto done;
        if (!language_known) {
            rc = detect_language(&c, &lang_index);
            if (rc != AM_OK) goto done;
            language_known = 1;
        }
        /* prompt: [sot_prev, previous text…] [sot, language, task] [notimestamps] */
        prompt.n = 0;
        int n_prev = all_tokens.n - prompt_reset_since;
        if (p.condition_on_previous_text && n_prev > 0) {
            ivec_push(&prompt, c.sp.sot_prev);
            int from = n_prev > MAX_PROMPT_PREV ? all_tokens.n - MAX_PROMPT_PREV : prompt_reset_since;
            for (int i = from; i < all_tokens.n; i++) ivec_push(&prompt, all_tokens.v[i]);
        }
        int sot_index = prompt.n;
        ivec_push(&prompt, c.sp.sot);
        if (multilingual) {
            ivec_push(&prompt, c.sp.lang_begin + lang_index);
            ivec_push(&prompt, p.translate ? c.sp.translate : c.sp.transcribe);
        }
        if (p.without_timestamps) ivec_push(&prompt, c.sp.no_timestamps);
        if (!prompt.v) { rc = AM_E_NOMEM; goto done; }

        rc = decode_with_fallback(&c, prompt.v, prompt.n, sot_index, &best, &tmp);
        if (rc != AM_OK) goto done;

        if (p.no_speech_threshold >= 0.0f && best.no_speech_prob > p.no_speech_threshold &&
            !(p.logprob_threshold > -1e9f && best.avg_logprob > p.logprob_threshold)) {
            seek += segment_size; /* silence */
            continue;
        }
        int seg_rc;
        seek = split_segments(r, &c, &best, time_offset, seek, segment_size, segment_duration, &all_tokens, &seg_rc);
        if (seg_rc != AM_OK) { rc = seg_rc; goto done; }
        if (!p.condition_on_previous_text || best.temperature > 0.5f) prompt_reset_since = all_tokens.n;
    }

    /* language and duration (the text was joined as segments were added) */
    if (!r->text && !(r->text = am_strdup(""))) { rc = AM_E_NOMEM; goto done; }
    snprintf(r->language, sizeof r->language, "%s", tokenizer_language_code(lang_index));
    r->duration = (double)n_samples / AM_SAMPLE_RATE;

done:
    if (rc != AM_OK && err && err_size && !err[0]) am_fail(err, err_size, rc, "transcription failed: %s", am_status_string(rc));
    if (rc != AM_OK) {
        am_result_free(r);
        r = NULL;
    }
    if (c.be) c.be->ops->destroy(c.be);
    free(filters);
    free(mel);
    free(window);
    free(c.logits);
    free(c.work);
    free(c.suppress);
    free(all_tokens.v);
    free(prompt.v);
    free(best.tokens.v);
    free(tmp.tokens.v);
    *out = r;
    return rc;
}
