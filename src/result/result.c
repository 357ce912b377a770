/* result.c — building an am_result (result_add_segment, result_set_language_probs) and its public
 * read-only accessors. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "common/util.h"
#include "result/result.h"

/* Append `seg`'s text to r->text (the running concatenation of every segment's text). */
static int result_append_text(am_result *r, const char *text) {
    size_t old = r->text_len, add = strlen(text);
    char *t = realloc(r->text, old + add + 1);
    if (!t) return AM_E_NOMEM;
    memcpy(t + old, text, add + 1);
    r->text = t;
    r->text_len = old + add;
    return AM_OK;
}

/* A deep copy of words[0..n) in one allocation: the am_word array, then every string (NULL words
 * become "", NULL speakers stay NULL). Returns NULL when out of memory (or when the sizes
 * overflow). */
static am_word *copy_words(const am_word *words, int n) {
    size_t count = (size_t)n, bytes = (count ? count : 1) * sizeof(am_word);
    if (count > SIZE_MAX / sizeof(am_word)) return NULL;
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(words[i].word ? words[i].word : "") + 1;
        if (words[i].speaker) len += strlen(words[i].speaker) + 1;
        if (bytes > SIZE_MAX - len) return NULL;
        bytes += len;
    }
    am_word *dst = malloc(bytes);
    if (!dst) return NULL;
    char *strings = (char *)(dst + (count ? count : 1));
    for (size_t i = 0; i < count; i++) {
        const char *w = words[i].word ? words[i].word : "";
        size_t len = strlen(w) + 1;
        dst[i] = words[i];
        memcpy(strings, w, len);
        dst[i].word = strings;
        strings += len;
        if (words[i].speaker) {
            len = strlen(words[i].speaker) + 1;
            memcpy(strings, words[i].speaker, len);
            dst[i].speaker = strings;
            strings += len;
        }
    }
    return dst;
}

int result_add_segment(am_result *r, const am_segment *seg) {
    if (!r || !seg || seg->n_tokens < 0 || (seg->n_tokens > 0 && !seg->tokens)) return AM_E_INVALID_ARG;
    if (seg->words && seg->n_words < 0) return AM_E_INVALID_ARG;

    if (r->n_segments == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        am_segment *grown = realloc(r->segments, cap * sizeof *grown);
        if (!grown) return AM_E_NOMEM;
        r->segments = grown;
        r->cap = cap;
    }

    const char *src_text = seg->text ? seg->text : "";
    size_t text_len = strlen(src_text);
    char *text = malloc(text_len + 1);
    int *tokens = malloc((seg->n_tokens ? (size_t)seg->n_tokens : 1) * sizeof *tokens);
    am_word *words = seg->words ? copy_words(seg->words, seg->n_words) : NULL;
    char *speaker = seg->speaker ? am_strdup(seg->speaker) : NULL;
    if (!text || !tokens || (seg->words && !words) || (seg->speaker && !speaker)) {
        free(text);
        free(tokens);
        free(words);
        free(speaker);
        return AM_E_NOMEM;
    }
    memcpy(text, src_text, text_len + 1);
    if (seg->n_tokens) memcpy(tokens, seg->tokens, (size_t)seg->n_tokens * sizeof *tokens);

    if (result_append_text(r, text) != AM_OK) {
        free(text);
        free(tokens);
        free(words);
        free(speaker);
        return AM_E_NOMEM;
    }

    am_segment *dst = &r->segments[r->n_segments++];
    *dst = *seg;
    dst->text = text;
    dst->tokens = tokens;
    dst->words = words;
    dst->n_words = words ? seg->n_words : 0;
    dst->speaker = speaker;
    return AM_OK;
}

/* a before b: the higher probability first, NaN last */
static int prob_before(float a, float b) {
    if (isnan(b)) return !isnan(a);
    return !isnan(a) && a > b;
}

void result_set_language_probs(am_result *r, const char *const *codes, const float *probs, int n) {
    if (!r) return;
    int cap = (int)(sizeof r->lang_probs / sizeof r->lang_probs[0]);
    if (n < 0 || !probs) n = 0;
    if (n > cap) n = cap;
    r->n_langs = 0;
    for (int i = 0; i < n; i++) {
        const char *code = codes && codes[i] ? codes[i] : "";
        float p = probs[i];
        /* insertion sort: stable, and n is at most 128 */
        int j = r->n_langs;
        while (j > 0 && prob_before(p, r->lang_probs[j - 1])) {
            r->lang_probs[j] = r->lang_probs[j - 1];
            memcpy(r->lang_codes[j], r->lang_codes[j - 1], sizeof r->lang_codes[j]);
            j--;
        }
        r->lang_probs[j] = p;
        size_t len = strnlen(code, sizeof r->lang_codes[j] - 1);
        memcpy(r->lang_codes[j], code, len);
        r->lang_codes[j][len] = '\0';
        r->n_langs++;
    }
}

size_t am_result_n_segments(const am_result *result) { return result ? result->n_segments : 0; }

const am_segment *am_result_segment(const am_result *result, size_t i) {
    if (!result || i >= result->n_segments) return NULL;
    return &result->segments[i];
}

const char *am_result_text(const am_result *result) {
    return result && result->text ? result->text : "";
}

const char *am_result_language(const am_result *result) { return result ? result->language : ""; }

int am_result_n_languages(const am_result *result) { return result ? result->n_langs : 0; }

const char *am_result_language_code(const am_result *result, int i) {
    if (!result || i < 0 || i >= result->n_langs) return NULL;
    return result->lang_codes[i];
}

float am_result_language_prob(const am_result *result, int i) {
    if (!result || i < 0 || i >= result->n_langs) return 0.0f;
    return result->lang_probs[i];
}

double am_result_duration(const am_result *result) { return result ? result->duration : 0.0; }

size_t am_result_n_turns(const am_result *result) { return result ? result->n_turns : 0; }

am_status am_result_turn(const am_result *result, size_t i, double *start, double *end, const char **speaker) {
    if (!result || i >= result->n_turns) return AM_E_INVALID_ARG;
    if (start) *start = result->turns[i].start;
    if (end) *end = result->turns[i].end;
    if (speaker) *speaker = result->turns[i].speaker;
    return AM_OK;
}

void am_result_stats(const am_result *result, am_stats *stats) {
    if (!stats) return;
    memset(stats, 0, sizeof *stats);
    if (result) *stats = result->stats;
}

void am_result_free(am_result *result) {
    if (!result) return;
    for (size_t i = 0; i < result->n_segments; i++) {
        /* the segment's text, tokens and words were allocated by result_add_segment */
        free((char *)(uintptr_t)result->segments[i].text);
        free((int *)(uintptr_t)result->segments[i].tokens);
        free((am_word *)(uintptr_t)result->segments[i].words);
        free((char *)(uintptr_t)result->segments[i].speaker);
    }
    free(result->segments);
    free(result->turns);
    free(result->text);
    free(result);
}
