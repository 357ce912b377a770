/* json.c — JSON string escaping, number formatting and the am_result serialiser (see json.h). */
#include "result/json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "result/result.h"
#include "text/utf8.h"

void json_string(sbuf *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0; /* u[run..i) is written as is, once something else must be written */
    sb_putc(b, '"');
    while (i < n) {
        unsigned char c = u[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = utf8_decode(u + i, n - i, &cp);
        if (cp >= 0x20 && cp != '"' && cp != '\\' && cp != UTF8_INVALID) {
            i += k; /* a well-formed non-ASCII character */
            continue;
        }
        sb_put(b, u + run, i - run);
        switch (cp) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\r': sb_puts(b, "\\r"); break;
        case '\t': sb_puts(b, "\\t"); break;
        case '\b': sb_puts(b, "\\b"); break;
        case '\f': sb_puts(b, "\\f"); break;
        case UTF8_INVALID: sb_put(b, UTF8_REPLACEMENT, 3); break;
        default: sb_printf(b, "\\u%04x", (unsigned)cp); break;
        }
        i += k;
        run = i;
    }
    sb_put(b, u + run, n - run);
    sb_putc(b, '"');
}

void json_cstring(sbuf *b, const char *s) {
    if (!s) s = "";
    json_string(b, s, strlen(s));
}

static void json_number(sbuf *b, const char *fmt, double v) {
    if (!isfinite(v)) {
        sb_puts(b, "null");
        return;
    }
    char num[64];
    snprintf(num, sizeof num, fmt, v);
    sb_puts(b, num);
}

void json_seconds(sbuf *b, double seconds) { json_number(b, "%.3f", seconds); }

void json_real(sbuf *b, double v) { json_number(b, "%.6g", v); }

/* A string member's value, stripped when asked. */
static void text_value(sbuf *b, const char *s, int strip) {
    if (!s) s = "";
    size_t n = strlen(s), a = 0, z = n;
    if (strip) utf8_strip(s, n, &a, &z);
    json_string(b, s + a, z - a);
}

/* {"word", "start", "end", "probability"[, "speaker"]} */
static void word_object(sbuf *b, const am_word *w, int strip) {
    sb_puts(b, "{\"word\": ");
    text_value(b, w->word, strip);
    sb_puts(b, ", \"start\": ");
    json_seconds(b, w->start);
    sb_puts(b, ", \"end\": ");
    json_seconds(b, w->end);
    sb_puts(b, ", \"probability\": ");
    json_real(b, w->probability);
    if (w->speaker) {
        sb_puts(b, ", \"speaker\": ");
        json_cstring(b, w->speaker);
    }
    sb_putc(b, '}');
}

static void segment_object(sbuf *b, const am_segment *s, size_t index, const json_result_options *o) {
    sb_printf(b, "{\"id\": %zu, \"seek\": %d, \"start\": ", index, s->seek);
    json_seconds(b, s->start);
    sb_puts(b, ", \"end\": ");
    json_seconds(b, s->end);
    sb_puts(b, ", \"text\": ");
    json_cstring(b, s->text);
    sb_puts(b, ", \"tokens\": [");
    for (int t = 0; s->tokens && t < s->n_tokens; t++) sb_printf(b, t ? ", %d" : "%d", s->tokens[t]);
    sb_puts(b, "], \"temperature\": ");
    json_real(b, s->temperature);
    sb_puts(b, ", \"avg_logprob\": ");
    json_real(b, s->avg_logprob);
    sb_puts(b, ", \"compression_ratio\": ");
    json_real(b, s->compression_ratio);
    sb_puts(b, ", \"no_speech_prob\": ");
    json_real(b, s->no_speech_prob);
    if (s->speaker) {
        sb_puts(b, ", \"speaker\": ");
        json_cstring(b, s->speaker);
    }
    if (o->words == JSON_WORDS_IN_SEGMENTS && s->words) {
        sb_puts(b, ", \"words\": [");
        for (int k = 0; k < s->n_words; k++) {
            if (k) sb_puts(b, ", ");
            word_object(b, &s->words[k], o->strip);
        }
        sb_putc(b, ']');
    }
    sb_putc(b, '}');
}

void json_result(sbuf *b, const am_result *r, const json_result_options *o) {
    static const json_result_options defaults = {NULL, NULL, 0, 1, JSON_WORDS_IN_SEGMENTS};
    if (!o) o = &defaults;
    sb_putc(b, '{');
    if (o->task) {
        sb_puts(b, "\"task\": ");
        json_cstring(b, o->task);
        sb_puts(b, ", ");
    }
    sb_puts(b, "\"text\": ");
    text_value(b, r->text, o->strip);
    sb_puts(b, ", \"language\": ");
    if (o->language) {
        json_cstring(b, o->language);
    } else {
        const char *nul = memchr(r->language, '\0', sizeof r->language);
        json_string(b, r->language, nul ? (size_t)(nul - r->language) : sizeof r->language);
    }
    sb_puts(b, ", \"duration\": ");
    json_seconds(b, r->duration);
    if (o->segments) {
        sb_puts(b, ", \"segments\": [");
        for (size_t i = 0; i < r->n_segments; i++) {
            if (i) sb_puts(b, ", ");
            segment_object(b, &r->segments[i], i, o);
        }
        sb_putc(b, ']');
    }
    if (o->words == JSON_WORDS_TOP_LEVEL) {
        sb_puts(b, ", \"words\": [");
        int first = 1;
        for (size_t i = 0; i < r->n_segments; i++) {
            const am_segment *s = &r->segments[i];
            for (int k = 0; s->words && k < s->n_words; k++) {
                if (!first) sb_puts(b, ", ");
                first = 0;
                word_object(b, &s->words[k], o->strip);
            }
        }
        sb_putc(b, ']');
    }
    sb_putc(b, '}');
}

void json_diarized(sbuf *b, const am_result *r, const char *task) {
    sb_puts(b, "{\"task\": ");
    json_cstring(b, task ? task : "transcribe");
    sb_puts(b, ", \"duration\": ");
    json_seconds(b, r->duration);
    sb_puts(b, ", \"text\": ");
    text_value(b, r->text, 1);
    sb_puts(b, ", \"segments\": [");
    for (size_t i = 0; i < r->n_segments; i++) {
        const am_segment *s = &r->segments[i];
        sb_printf(b, "%s{\"type\": \"transcript.text.segment\", \"id\": \"seg_%zu\", \"start\": ", i ? ", " : "", i);
        json_seconds(b, s->start);
        sb_puts(b, ", \"end\": ");
        json_seconds(b, s->end);
        sb_puts(b, ", \"text\": ");
        text_value(b, s->text, 1);
        sb_puts(b, ", \"speaker\": ");
        json_cstring(b, s->speaker);
        sb_putc(b, '}');
    }
    sb_puts(b, "], \"usage\": {\"type\": \"duration\", \"seconds\": ");
    json_seconds(b, r->duration);
    sb_puts(b, "}}");
}
