/* result.c — building an am_result (result_add_segment) and its public read-only accessors. */
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "decode/result.h"

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

int result_add_segment(am_result *r, const am_segment *seg) {
    if (!r || !seg || seg->n_tokens < 0 || (seg->n_tokens > 0 && !seg->tokens)) return AM_E_INVALID_ARG;

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
    if (!text || !tokens) {
        free(text);
        free(tokens);
        return AM_E_NOMEM;
    }
    memcpy(text, src_text, text_len + 1);
    if (seg->n_tokens) memcpy(tokens, seg->tokens, (size_t)seg->n_tokens * sizeof *tokens);

    if (result_append_text(r, text) != AM_OK) {
        free(text);
        free(tokens);
        return AM_E_NOMEM;
    }

    am_segment *dst = &r->segments[r->n_segments++];
    *dst = *seg;
    dst->text = text;
    dst->tokens = tokens;
    return AM_OK;
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

double am_result_duration(const am_result *result) { return result ? result->duration : 0.0; }

void am_result_free(am_result *result) {
    if (!result) return;
    for (size_t i = 0; i < result->n_segments; i++) {
        /* the segment's text and tokens were allocated by result_add_segment */
        free((char *)(uintptr_t)result->segments[i].text);
        free((int *)(uintptr_t)result->segments[i].tokens);
    }
    free(result->segments);
    free(result->text);
    free(result);
}
