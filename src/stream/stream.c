/* stream.c — live transcription (am_stream_*): a buffer re-decoded every step, LocalAgreement-2
 * commits, a frame-by-frame Silero VAD gate.
 *
 *   feed(samples) --VAD frames (512)--> speech_start / speech_end
 *                 --append--> buffer[buf_n] (absolute sample buf_start .. buf_start + buf_n)
 *   every step_s of new speech:  hypothesis = words of am_transcribe(buffer, prompt = committed text
 *                                that has left the buffer), absolute times
 *       guards:   words already committed dropped (content, then time), words over silence (VAD)
 *                 dropped, a repeated n-gram cut
 *                 (loop), a window Whisper calls no-speech gives no words
 *       commit:   the longest common prefix of this hypothesis and the previous one (LocalAgreement-2),
 *                 or (AlignAtt) the words aligned to end alignatt_margin_s before the audio does
 *                 -> a final event; the rest -> a partial event
 *       trim:     past trim_s, the buffer is cut at the end of the last finished segment that is
 *                 committed; past max_buffer_s, everything pending is committed and the buffer cut
 *   speech pause: 200 ms into a silence, one decode at once (settle), so that when the silence
 *                 ends the utterance (500 ms) its words are ready: the speech end commits that
 *                 hypothesis; finish (or a speech end the settle decode missed) decodes once more.
 *
 * Time is counted in samples fed (emitted_at), so the events depend only on the samples and how
 * they were cut into feeds.  The decoder runs at most once per feed: a caller that feeds what piled
 * up while the last decode ran gets a longer step instead of a backlog. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "common/util.h"
#include "backend/backend.h"
#include "decode/transcribe.h"
#include "decode/vad_plan.h"
#include "result/result.h"
#include "stream/words.h"
#include "vad/vad.h"

#define SR AM_SAMPLE_RATE
#define PROMPT_CHARS 200       /* committed text in the prompt, at most (as whisper_streaming)   */
#define PREROLL_SAMPLES (SR / 5) /* audio kept before the VAD's speech start (200 ms)           */
#define SEGMENT_GAP_S 1.0      /* am_stream_result: a pause this long starts a new segment        */
#define PROB_FRAMES 1024       /* VAD probabilities kept (32 s of frames: more than a buffer)    */
#define SILENT_WORD_PROB 0.1f  /* a word the VAD heard no speech under (mean probability) is dropped */
#define TAIL_S 1.0             /* an utterance's last second ...                                  */
#define TAIL_PROB 0.1f         /* ... is not committed from its first word the decoder gave less  */
#define SETTLE_SAMPLES (SR / 5) /* silence after speech that starts a decode at once (200 ms): by the
                                   time the silence ends the utterance, its final hypothesis is ready */

struct am_stream {
    const am_model *m;
    am_session *session;     /* the backend session (caches), kept from decode to decode        */
    am_stream_params p;
    char language[16];       /* fixed after the first detection on a multilingual model        */
    vad_silero *vad;         /* NULL: no gate                                                   */
    vad_silero_state vst;
    float frame[VAD_WINDOW]; /* samples waiting for a whole VAD frame                           */
    int frame_fill;
    float neg_threshold;
    uint64_t prob_end[PROB_FRAMES]; /* ring of the last frames: absolute end sample and ...      */
    float prob[PROB_FRAMES];        /* ... speech probability; frame k at k % PROB_FRAMES       */
    uint64_t n_probs;
    uint64_t silence;        /* samples of the current run of non-speech frames (in speech)     */
    int in_speech;           /* always 1 without a gate                                         */

    float *buf;              /* the audio being decoded                                         */
    size_t buf_n, buf_cap;
    uint64_t buf_start;      /* absolute sample of buf[0]                                       */
    uint64_t fed, processed;
    uint64_t decoded_to;     /* absolute sample where the last decode's buffer ended             */
    int settle;              /* speech paused SETTLE_SAMPLES ago: decode at the end of this feed  */

    word_list committed;     /* every committed word, in order                                  */
    int *breaks;             /* committed index where a speech end or a trim fell (segments)    */
    int n_breaks, cap_breaks;
    word_list pending;       /* the previous hypothesis's words after the committed ones        */
    double committed_end;    /* end of the last committed word (seconds; 0 at the start)        */
    int prompt_reset;        /* a guard tripped: no prompt until the buffer is trimmed           */
    char *partial;           /* text of the last partial event                                  */
    char *initial_prompt;    /* the caller's decode.initial_prompt (copied): the prompt until
                                committed text has left the buffer                              */
    double ready_at;         /* audio clock (seconds) + wall seconds when the last decode finished */
};

/* ---- events ------------------------------------------------------------------------------- */

static double clock_s(const am_stream *s) { return (double)s->fed / SR; }

static void emit(am_stream *s, am_stream_event_type type, const char *text, double start, double end,
                 const word_t *w, int n) {
    if (!s->p.on_event) return;
    am_word words[n > 0 ? n : 1];
    for (int i = 0; i < n; i++) words[i] = (am_word){w[i].start, w[i].end, w[i].text, w[i].prob, NULL};
    /* a word event waits for the decode that produced it: its compute, or what is left of it when an
     * earlier decode's hypothesis is committed now */
    double wait = s->ready_at - clock_s(s);
    am_stream_event ev = {type, text ? text : "", start, end, clock_s(s), n > 0 ? words : NULL, n,
                          (type == AM_STREAM_PARTIAL || type == AM_STREAM_FINAL) && wait > 0.0 ? wait : 0.0};
    s->p.on_event(&ev, s->p.user_data);
}

/* Commit words [0, n) of `w`: append them to the committed list and emit one final event. */
static int commit_words(am_stream *s, const word_t *w, int n) {
    if (n <= 0) return AM_OK;
    for (int i = 0; i < n; i++)
        if (words_push(&s->committed, w[i].text, w[i].start, w[i].end, w[i].prob) != AM_OK) return AM_E_NOMEM;
    char *text = words_join(w, n);
    if (!text) return AM_E_NOMEM;
    emit(s, AM_STREAM_FINAL, text, w[0].start, w[n - 1].end, w, n);
    free(text);
    if (w[n - 1].end > s->committed_end) s->committed_end = w[n - 1].end;
    return AM_OK;
}

/* Emit the pending words as the partial when they differ from the last one emitted. */
static int emit_partial(am_stream *s) {
    char *text = words_join(s->pending.w, s->pending.n);
    if (!text) return AM_E_NOMEM;
    if (!s->partial || strcmp(text, s->partial) != 0) {
        double a = s->pending.n ? s->pending.w[0].start : s->committed_end;
        double b = s->pending.n ? s->pending.w[s->pending.n - 1].end : s->committed_end;
        emit(s, AM_STREAM_PARTIAL, text, a, b, s->pending.w, s->pending.n);
        free(s->partial);
        s->partial = text;
    } else {
        free(text);
    }
    return AM_OK;
}

static int add_break(am_stream *s) {
    if (s->n_breaks && s->breaks[s->n_breaks - 1] == s->committed.n) return AM_OK;
    if (s->n_breaks == s->cap_breaks) {
        int cap = s->cap_breaks ? s->cap_breaks * 2 : 16;
        int *g = realloc(s->breaks, (size_t)cap * sizeof *g);
        if (!g) return AM_E_NOMEM;
        s->breaks = g;
        s->cap_breaks = cap;
    }
    s->breaks[s->n_breaks++] = s->committed.n;
    return AM_OK;
}

/* ---- the buffer --------------------------------------------------------------------------- */

static int buf_append(am_stream *s, const float *x, size_t n) {
    if (s->buf_n + n > s->buf_cap) {
        size_t cap = s->buf_cap ? s->buf_cap : (size_t)SR * 4;
        while (cap < s->buf_n + n) cap *= 2;
        float *g = realloc(s->buf, cap * sizeof *g);
        if (!g) return AM_E_NOMEM;
        s->buf = g;
        s->buf_cap = cap;
    }
    memcpy(s->buf + s->buf_n, x, n * sizeof *x);
    s->buf_n += n;
    return AM_OK;
}

/* Cut the buffer so it starts at absolute sample `at` (clamped to what it holds). */
static void buf_trim_to(am_stream *s, uint64_t at) {
    if (at <= s->buf_start) return;
    size_t k = (size_t)(at - s->buf_start);
    if (k > s->buf_n) k = s->buf_n;
    memmove(s->buf, s->buf + k, (s->buf_n - k) * sizeof *s->buf);
    s->buf_n -= k;
    s->buf_start += k;
}

static uint64_t buf_end(const am_stream *s) { return s->buf_start + s->buf_n; }

/* ---- one decode --------------------------------------------------------------------------- */

/* The prompt: the last PROMPT_CHARS of committed text that is no longer in the buffer (what is
 * still in it is heard again); the caller's initial prompt while there is none. */
static char *build_prompt(const am_stream *s) {
    if (s->prompt_reset) return NULL;
    const double t0 = (double)s->buf_start / SR;
    int end = 0;
    while (end < s->committed.n && s->committed.w[end].end <= t0 + 1e-6) end++;
    int begin = end;
    size_t len = 0;
    while (begin > 0 && len + strlen(s->committed.w[begin - 1].text) <= PROMPT_CHARS)
        len += strlen(s->committed.w[--begin].text);
    if (begin == end) return s->initial_prompt ? am_strdup(s->initial_prompt) : NULL;
    return words_join(s->committed.w + begin, end - begin);
}

/* Mean VAD speech probability of the frames that overlap [a, b] seconds (1 when none is kept). */
static float speech_prob(const am_stream *s, double a, double b) {
    const uint64_t first = s->n_probs > PROB_FRAMES ? s->n_probs - PROB_FRAMES : 0;
    double sum = 0.0;
    int n = 0;
    for (uint64_t k = s->n_probs; k-- > first;) {
        const double e = (double)s->prob_end[k % PROB_FRAMES] / SR, st = e - (double)VAD_WINDOW / SR;
        if (e <= a) break; /* frames are in time order */
        if (st < b) {
            sum += s->prob[k % PROB_FRAMES];
            n++;
        }
    }
    return n ? (float)(sum / n) : 1.0f;
}

/* Whisper writes words into silence now and then ("Thank you.", "See you soon."): drop the words
 * that the VAD heard no speech under. */
static void drop_silent_words(const am_stream *s, word_list *hyp) {
    int k = 0;
    for (int i = 0; i < hyp->n; i++) {
        if (speech_prob(s, hyp->w[i].start, hyp->w[i].end) < SILENT_WORD_PROB) {
            free(hyp->w[i].text);
            continue;
        }
        hyp->w[k++] = hyp->w[i];
    }
    hyp->n = k;
}

/* Decode the buffer into hyp (absolute times, without the committed words).  *trim_at: the end of
 * the last finished segment (seconds; 0 when the decode has fewer than two segments). */
static int decode_buffer(am_stream *s, word_list *hyp, double *trim_at, char *err, size_t err_size) {
    words_clear(hyp);
    *trim_at = 0.0;
    s->decoded_to = buf_end(s);
    if (s->buf_n < (size_t)SR / 10) return AM_OK; /* too little to say anything */
    am_params dp = s->p.decode;
    dp.word_timestamps = 1;
    dp.vad = AM_VAD_OFF;
    dp.no_fallback = 1;
    dp.best_of = 1; /* no sampling: the session needs caches for 2 sequences */
    dp.on_segment = NULL;
    dp.progress_callback = NULL;
    dp.detect_language_only = 0;
    dp.prefix = NULL;
    if (s->language[0]) dp.language = s->language;
    char *prompt = build_prompt(s);
    dp.initial_prompt = prompt;
    am_result *r = NULL;
    double t = am_now();
    int rc = transcribe_in_session(s->m, &s->session, s->buf, s->buf_n, &dp, &r, err, err_size);
    s->ready_at = clock_s(s) + (am_now() - t);
    free(prompt);
    if (rc != AM_OK) return rc;
    if (!s->language[0] && am_result_language(r) && am_result_n_segments(r) > 0)
        snprintf(s->language, sizeof s->language, "%s", am_result_language(r));

    const double t0 = (double)s->buf_start / SR;
    const size_t nseg = am_result_n_segments(r);
    int tripped = 0;
    for (size_t i = 0; i < nseg && rc == AM_OK; i++) {
        const am_segment *g = am_result_segment(r, i);
        if (s->p.decode.compression_ratio_threshold > 0 && g->compression_ratio > s->p.decode.compression_ratio_threshold) {
            tripped = 1; /* a loop inside the segment: nothing from here on */
            break;
        }
        for (int k = 0; k < g->n_words && rc == AM_OK; k++)
            rc = words_push(hyp, g->words[k].word, t0 + g->words[k].start, t0 + g->words[k].end,
                             g->words[k].probability);
        if (i + 2 == nseg) *trim_at = t0 + g->end; /* the last segment may still be growing */
    }
    am_result_free(r);
    if (rc != AM_OK) return rc;

    if (s->vad) drop_silent_words(s, hyp);
    int keep = words_loop_cut(hyp);
    if (keep >= 0) {
        words_truncate(hyp, keep);
        tripped = 1;
    }
    if (tripped) s->prompt_reset = 1;

    words_drop_committed(hyp, &s->committed, s->committed_end);
    return AM_OK;
}

/* A decode of the step: commit what this hypothesis and the previous one agree on. */
static int step(am_stream *s, char *err, size_t err_size) {
    word_list hyp = {0};
    double trim_at;
    int rc = decode_buffer(s, &hyp, &trim_at, err, err_size);
    int agree = 0;
    if (rc == AM_OK && s->p.policy == AM_STREAM_ALIGNATT) {
        const double settled = (double)buf_end(s) / SR - s->p.alignatt_margin_s;
        while (agree < hyp.n && hyp.w[agree].end <= settled) agree++;
    } else if (rc == AM_OK) {
        agree = words_agree(&hyp, &s->pending);
    }
    if (rc == AM_OK) rc = commit_words(s, hyp.w, agree);
    if (rc == AM_OK) {
        words_drop_front(&hyp, agree);
        words_free(&s->pending);
        s->pending = hyp;
        memset(&hyp, 0, sizeof hyp);
        rc = emit_partial(s);
    }
    words_free(&hyp);
    if (rc != AM_OK) return rc == AM_E_NOMEM ? am_fail(err, err_size, rc, "out of memory in the stream") : rc;

    const double len = (double)s->buf_n / SR;
    if (len > s->p.trim_s && trim_at > 0.0 && trim_at <= s->committed_end + 1e-6) {
        buf_trim_to(s, (uint64_t)llround(trim_at * SR));
        s->prompt_reset = 0;
        if (add_break(s) != AM_OK) return am_fail(err, err_size, AM_E_NOMEM, "out of memory in the stream");
    } else if (len > s->p.max_buffer_s) {
        /* no finished segment to cut at: commit what is pending and keep only the audio after it
         * (or the last second when there are no words at all) */
        rc = commit_words(s, s->pending.w, s->pending.n);
        if (rc != AM_OK) return am_fail(err, err_size, rc, "out of memory in the stream");
        words_clear(&s->pending);
        uint64_t cut = s->committed_end > 0 ? (uint64_t)llround(s->committed_end * SR) : 0;
        if (cut <= s->buf_start || cut > buf_end(s)) cut = buf_end(s) - SR;
        buf_trim_to(s, cut);
        s->prompt_reset = 0;
        if (add_break(s) != AM_OK || emit_partial(s) != AM_OK)
            return am_fail(err, err_size, AM_E_NOMEM, "out of memory in the stream");
    }
    return AM_OK;
}

/* End of an utterance (speech end, finish): commit everything, decoding once more unless the last
 * decode already heard up to absolute sample `heard_to`. */
static int flush(am_stream *s, uint64_t heard_to, char *err, size_t err_size) {
    word_list hyp = {0};
    double trim_at;
    int rc = AM_OK;
    s->settle = 0;
    if (s->buf_n > 0 && heard_to > s->decoded_to) rc = decode_buffer(s, &hyp, &trim_at, err, err_size);
    else { /* the last decode heard it all: its hypothesis is the final one */
        hyp = s->pending;
        memset(&s->pending, 0, sizeof s->pending);
    }
    if (rc == AM_OK) {
        /* no second hypothesis confirms an utterance's tail, and Whisper likes to go on into the
         * silence ("Thank you.", "See you soon.", "The wind"): the tail is cut at its first word the
         * decoder itself doubted */
        words_truncate(&hyp, words_doubted_tail(&hyp, TAIL_S, TAIL_PROB));
        rc = commit_words(s, hyp.w, hyp.n);
    }
    words_free(&hyp);
    words_clear(&s->pending);
    if (rc == AM_OK) rc = emit_partial(s);
    if (rc == AM_OK) rc = add_break(s);
    if (rc != AM_OK) return rc == AM_E_NOMEM ? am_fail(err, err_size, rc, "out of memory in the stream") : rc;
    buf_trim_to(s, buf_end(s));
    s->prompt_reset = 0;
    return AM_OK;
}

/* ---- VAD gate ----------------------------------------------------------------------------- */

/* Run the VAD on one whole frame that ends at absolute sample `end` (already in the buffer). */
static int vad_frame(am_stream *s, const float *frame, uint64_t end, char *err, size_t err_size) {
    float prob = vad_silero_frame(s->vad, &s->vst, frame);
    const uint64_t start = end - VAD_WINDOW;
    s->prob_end[s->n_probs % PROB_FRAMES] = end;
    s->prob[s->n_probs % PROB_FRAMES] = prob;
    s->n_probs++;
    if (!s->in_speech) {
        if (prob >= s->p.decode.vad_threshold) {
            s->in_speech = 1;
            s->silence = 0;
            uint64_t from = start > PREROLL_SAMPLES ? start - PREROLL_SAMPLES : 0;
            buf_trim_to(s, from);
            s->decoded_to = s->buf_start;
            emit(s, AM_STREAM_SPEECH_START, "", (double)s->buf_start / SR, (double)s->buf_start / SR, NULL, 0);
        } else {
            /* silence: keep only the pre-roll */
            if (end > PREROLL_SAMPLES) buf_trim_to(s, end - PREROLL_SAMPLES);
        }
        return AM_OK;
    }
    if (prob < s->neg_threshold) s->silence += VAD_WINDOW;
    else s->silence = s->settle = 0;
    const uint64_t speech_end = end - s->silence;
    const int min_silence = s->p.decode.vad_min_silence_ms > 0 ? s->p.decode.vad_min_silence_ms : 500;
    if (s->silence >= (uint64_t)min_silence * (SR / 1000)) {
        /* the decode started SETTLE_SAMPLES into this silence heard the whole utterance */
        int rc = flush(s, speech_end + SETTLE_SAMPLES, err, err_size);
        if (rc != AM_OK) return rc;
        s->in_speech = 0;
        /* where the VAD heard speech end, or the end of the last word when its alignment runs on */
        double at = (double)speech_end / SR;
        if (s->committed_end > at) at = s->committed_end;
        emit(s, AM_STREAM_SPEECH_END, "", at, at, NULL, 0);
        s->silence = 0;
    } else if (s->silence >= SETTLE_SAMPLES && s->decoded_to < speech_end + SETTLE_SAMPLES) {
        s->settle = 1; /* decode now, so the utterance's end need not wait for one */
    }
    return AM_OK;
}

/* ---- public API --------------------------------------------------------------------------- */

am_stream_params am_stream_params_default(void) {
    am_stream_params p;
    memset(&p, 0, sizeof p);
    p.decode = am_params_default();
    p.decode.beam_size = 1;
    p.decode.vad = AM_VAD_SILERO;
    p.decode.vad_min_silence_ms = 500;
    p.step_s = 1.0f;
    p.trim_s = 15.0f;
    p.max_buffer_s = 25.0f;
    p.policy = AM_STREAM_LOCAL_AGREEMENT;
    p.alignatt_margin_s = 0.6f;
    return p;
}

am_status am_stream_create(const am_model *m, const am_stream_params *params, am_stream **out, char *err,
                           size_t err_size) {
    if (out) *out = NULL;
    if (!m || !params || !out) return am_fail(err, err_size, AM_E_INVALID_ARG, "am_stream_create: NULL argument");
    const am_stream_params *p = params;
    if (!(p->step_s >= 0.1f && p->step_s <= 30.0f))
        return am_fail(err, err_size, AM_E_INVALID_ARG, "stream step must be between 0.1 and 30 seconds (got %g)",
                       (double)p->step_s);
    if (!(p->max_buffer_s >= 2.0f && p->max_buffer_s <= 30.0f))
        return am_fail(err, err_size, AM_E_INVALID_ARG, "stream max_buffer_s must be between 2 and 30 seconds (got %g)",
                       (double)p->max_buffer_s);
    if (!(p->trim_s >= 1.0f && p->trim_s <= p->max_buffer_s))
        return am_fail(err, err_size, AM_E_INVALID_ARG, "stream trim_s must be between 1 and max_buffer_s (got %g)",
                       (double)p->trim_s);
    if (p->policy != AM_STREAM_LOCAL_AGREEMENT && p->policy != AM_STREAM_ALIGNATT)
        return am_fail(err, err_size, AM_E_INVALID_ARG, "unknown stream policy %d", (int)p->policy);
    if (p->policy == AM_STREAM_ALIGNATT && !(p->alignatt_margin_s >= 0.0f && p->alignatt_margin_s <= 10.0f))
        return am_fail(err, err_size, AM_E_INVALID_ARG, "alignatt margin must be between 0 and 10 seconds (got %g)",
                       (double)p->alignatt_margin_s);
    if (p->decode.vad != AM_VAD_OFF && p->decode.vad != AM_VAD_SILERO)
        return am_fail(err, err_size, AM_E_UNSUPPORTED, "a stream's VAD is Silero or off (the energy detector needs "
                                                       "the whole recording)");
    if (p->decode.vad != AM_VAD_OFF && !(p->decode.vad_threshold > 0.0f && p->decode.vad_threshold < 1.0f))
        return am_fail(err, err_size, AM_E_INVALID_ARG, "vad threshold must be in (0, 1)");
    if (p->decode.language && strlen(p->decode.language) >= 16)
        return am_fail(err, err_size, AM_E_INVALID_ARG, "unknown language '%s'", p->decode.language);

    am_stream *s = calloc(1, sizeof *s);
    if (!s) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    s->m = m;
    s->p = *p;
    /* the caller's strings need not outlive the call: the ones a decode reads are copied or dropped */
    s->p.decode.initial_prompt = NULL;
    s->p.decode.suppress_tokens = NULL; /* read by every decode: our own copy, below */
    if ((p->decode.initial_prompt && *p->decode.initial_prompt && !(s->initial_prompt = am_strdup(p->decode.initial_prompt))) ||
        (p->decode.suppress_tokens && !(s->p.decode.suppress_tokens = am_strdup(p->decode.suppress_tokens)))) {
        am_stream_free(s);
        return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    }
    s->p.decode.prefix = NULL;
    s->p.decode.vad_model = NULL;
    if (p->decode.language && strcmp(p->decode.language, "auto") != 0)
        snprintf(s->language, sizeof s->language, "%s", p->decode.language);
    s->p.decode.language = NULL;
    s->in_speech = 1;
    if (p->decode.vad == AM_VAD_SILERO) {
        char path[4096];
        int explicit_ = 0;
        if (vad_plan_model_path(&p->decode, path, sizeof path, &explicit_)) {
            int rc = vad_silero_load(path, &s->vad, err, err_size);
            if (rc != AM_OK) {
                am_stream_free(s);
                return rc;
            }
            vad_silero_state_reset(&s->vst);
            s->in_speech = 0;
            s->neg_threshold = p->decode.vad_threshold - 0.15f > 0.01f ? p->decode.vad_threshold - 0.15f : 0.01f;
        }
    }
    *out = s;
    return AM_OK;
}

am_status am_stream_feed(am_stream *s, const float *x, size_t n, char *err, size_t err_size) {
    if (!s || (!x && n)) return am_fail(err, err_size, AM_E_INVALID_ARG, "am_stream_feed: NULL argument");
    s->fed += n;
    size_t i = 0;
    while (i < n) {
        if (!s->vad) {
            if (buf_append(s, x, n) != AM_OK) return am_fail(err, err_size, AM_E_NOMEM, "out of memory in the stream");
            s->processed += n;
            i = n;
            break;
        }
        /* one VAD frame at a time */
        size_t take = (size_t)(VAD_WINDOW - s->frame_fill);
        if (take > n - i) take = n - i;
        memcpy(s->frame + s->frame_fill, x + i, take * sizeof *x);
        if (buf_append(s, x + i, take) != AM_OK)
            return am_fail(err, err_size, AM_E_NOMEM, "out of memory in the stream");
        s->frame_fill += (int)take;
        s->processed += take;
        i += take;
        if (s->frame_fill == VAD_WINDOW) {
            s->frame_fill = 0;
            int rc = vad_frame(s, s->frame, s->processed, err, err_size);
            if (rc != AM_OK) return rc;
        }
    }
    if (s->in_speech && (s->settle || buf_end(s) - s->decoded_to >= (uint64_t)llround((double)s->p.step_s * SR))) {
        s->settle = 0;
        return step(s, err, err_size);
    }
    return AM_OK;
}

am_status am_stream_finish(am_stream *s, char *err, size_t err_size) {
    if (!s) return am_fail(err, err_size, AM_E_INVALID_ARG, "am_stream_finish: NULL argument");
    if (s->in_speech || !s->vad) {
        int rc = flush(s, buf_end(s), err, err_size);
        if (rc != AM_OK) return rc;
        if (s->vad) emit(s, AM_STREAM_SPEECH_END, "", clock_s(s), clock_s(s), NULL, 0);
    }
    buf_trim_to(s, buf_end(s));
    if (s->vad) {
        vad_silero_state_reset(&s->vst);
        s->in_speech = 0;
        s->silence = 0;
        s->frame_fill = 0;
    }
    s->decoded_to = buf_end(s);
    return AM_OK;
}

am_status am_stream_result(const am_stream *s, am_result **out, char *err, size_t err_size) {
    if (out) *out = NULL;
    if (!s || !out) return am_fail(err, err_size, AM_E_INVALID_ARG, "am_stream_result: NULL argument");
    am_result *r = calloc(1, sizeof *r);
    if (!r) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    r->duration = clock_s(s);
    snprintf(r->language, sizeof r->language, "%s", s->language);
    int rc = AM_OK, b = 0, id = 0;
    for (int i = 0; i < s->committed.n && rc == AM_OK;) {
        /* a segment: up to a break, a pause of SEGMENT_GAP_S, or a sentence end */
        int j = i + 1;
        while (b < s->n_breaks && s->breaks[b] <= i) b++;
        while (j < s->committed.n && !(b < s->n_breaks && s->breaks[b] == j) &&
               s->committed.w[j].start - s->committed.w[j - 1].end < SEGMENT_GAP_S) {
            const char *t = s->committed.w[j - 1].text;
            size_t l = strlen(t);
            if (l && strchr(".?!", t[l - 1])) break;
            j++;
        }
        am_word words[j - i];
        for (int k = i; k < j; k++)
            words[k - i] = (am_word){s->committed.w[k].start, s->committed.w[k].end, s->committed.w[k].text,
                                     s->committed.w[k].prob, NULL};
        char *text = words_join(s->committed.w + i, j - i);
        if (!text) {
            rc = AM_E_NOMEM;
            break;
        }
        am_segment seg = {0};
        seg.id = id++;
        seg.seek = (int)(s->committed.w[i].start * 100.0);
        seg.start = s->committed.w[i].start;
        seg.end = s->committed.w[j - 1].end;
        seg.text = text;
        seg.words = words;
        seg.n_words = j - i;
        rc = result_add_segment(r, &seg);
        free(text);
        i = j;
    }
    if (rc != AM_OK) {
        am_result_free(r);
        return am_fail(err, err_size, rc, "out of memory");
    }
    if (!r->text && !(r->text = am_strdup(""))) {
        am_result_free(r);
        return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    }
    *out = r;
    return AM_OK;
}

uint64_t am_stream_samples_fed(const am_stream *s) { return s ? s->fed : 0; }
uint64_t am_stream_samples_processed(const am_stream *s) { return s ? s->processed : 0; }
int am_stream_gated(const am_stream *s) { return s && s->vad ? 1 : 0; }

void am_stream_free(am_stream *s) {
    if (!s) return;
    session_destroy(s->session);
    vad_silero_free(s->vad);
    free((char *)s->p.decode.suppress_tokens);
    free(s->buf);
    words_free(&s->committed);
    words_free(&s->pending);
    free(s->breaks);
    free(s->partial);
    free(s->initial_prompt);
    free(s);
}
