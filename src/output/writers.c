/* writers.c — txt, srt, vtt and json output, byte-compatible with openai-whisper's writers
 * (whisper/utils.py) where that is well defined.
 *
 *  txt   each segment's text stripped, one per line
 *  srt   "1\n00:00:00,000 --> 00:00:04,000\ntext\n\n" (hours always, comma before milliseconds)
 *  vtt   "WEBVTT\n\n" then "00:00.000 --> 00:04.000\ntext\n\n" (hours only from 1 h on)
 *  json  one line: {"text", "language", "duration", "segments": [{"id", "seek", "start", "end", "text",
 *        "tokens", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob"}]}
 *
 * Timestamps are rounded to the millisecond, half away from zero; negative ones are written as 0.
 * In srt and vtt "-->" inside a text becomes "->" (as openai does) so cues cannot be broken.
 * Text is always written as valid UTF-8: each maximal ill-formed byte sequence (the Unicode
 * "substitution of maximal subparts" practice) is replaced by U+FFFD.  "Stripped" removes ASCII
 * whitespace at both ends.  JSON numbers that are NaN or infinite are written as null.
 * Each output is assembled in memory and written with one fwrite, then flushed. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "decode/result.h"

/* ---- a growable byte buffer -------------------------------------------------------------- */

typedef struct strbuf {
    char *p;
    size_t n, cap;
    int oom; /* an allocation failed: later appends are ignored */
} strbuf;

static void sb_append(strbuf *b, const void *src, size_t n) {
    if (b->oom || n == 0) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void sb_puts(strbuf *b, const char *s) { sb_append(b, s, strlen(s)); }

static void sb_putc(strbuf *b, char c) { sb_append(b, &c, 1); }

/* printf into the buffer (the pieces written here are short). */
static void sb_printf(strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void sb_printf(strbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    sb_append(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- text cleaning ------------------------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence at s[0..n) (1..4), or 0 when it is ill-formed; then
 * *skip is the length of the maximal ill-formed subpart to replace by one U+FFFD (>= 1). */
static size_t utf8_sequence(const unsigned char *s, size_t n, size_t *skip) {
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    *skip = 1;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;      /* no overlongs */
        else if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;      /* no overlongs */
        else if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0; /* 80..C1, F5..FF never start a sequence */
    }
    for (size_t i = 1; i < need; i++) {
        unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
        if (i >= n || s[i] < min || s[i] > max) {
            *skip = i;
            return 0;
        }
    }
    return need;
}

/* Append s[0..n) as valid UTF-8 (ill-formed parts become U+FFFD). */
static void sb_put_utf8(strbuf *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t skip, len = utf8_sequence(u + i, n - i, &skip);
        if (len) {
            sb_append(b, u + i, len);
            i += len;
        } else {
            sb_append(b, "\xEF\xBF\xBD", 3);
            i += skip;
        }
    }
}

static int is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* The segment text stripped and made valid UTF-8, into `out` (reset first).  With
 * `cue_safe`, "-->" becomes "->". */
static void clean_text(strbuf *out, const char *text, int cue_safe) {
    out->n = 0;
    if (!text) text = "";
    size_t a = 0, z = strlen(text);
    while (a < z && is_ascii_space(text[a])) a++;
    while (z > a && is_ascii_space(text[z - 1])) z--;
    if (!cue_safe) {
        sb_put_utf8(out, text + a, z - a);
    } else {
        size_t run = a;
        for (size_t i = a; i < z;) {
            if (z - i >= 3 && memcmp(text + i, "-->", 3) == 0) {
                sb_put_utf8(out, text + run, i - run);
                sb_puts(out, "->");
                i += 3;
                run = i;
            } else {
                i++;
            }
        }
        sb_put_utf8(out, text + run, z - run);
    }
}

/* ---- timestamps ---------------------------------------------------------------------------- */

/* openai-whisper's format_timestamp: [hh:]mm:ss<marker>mmm, hours when asked or when >= 1 h. */
static void format_timestamp(char *dst, size_t dst_size, double seconds, int always_include_hours, char marker) {
    if (!(seconds > 0.0)) seconds = 0.0; /* negative and NaN */
    if (seconds > 1e12) seconds = 1e12;  /* keep llround in range */
    long long ms = llround(seconds * 1000.0);
    long long hours = ms / 3600000;
    ms -= hours * 3600000;
    long long minutes = ms / 60000;
    ms -= minutes * 60000;
    long long secs = ms / 1000;
    ms -= secs * 1000;
    if (always_include_hours || hours > 0)
        snprintf(dst, dst_size, "%02lld:%02lld:%02lld%c%03lld", hours, minutes, secs, marker, ms);
    else
        snprintf(dst, dst_size, "%02lld:%02lld%c%03lld", minutes, secs, marker, ms);
}

/* ---- the formats --------------------------------------------------------------------------- */

static void build_txt(strbuf *b, const am_result *r, strbuf *tmp) {
    for (size_t i = 0; i < r->n_segments; i++) {
        clean_text(tmp, r->segments[i].text, 0);
        sb_append(b, tmp->p, tmp->n);
        sb_putc(b, '\n');
    }
}

/* srt and vtt differ in the header, the cue number, hours and the decimal marker. */
static void build_cues(strbuf *b, const am_result *r, strbuf *tmp, int srt) {
    char start[80], end[80]; /* ample for any long long fields */
    if (!srt) sb_puts(b, "WEBVTT\n\n");
    for (size_t i = 0; i < r->n_segments; i++) {
        const am_segment *s = &r->segments[i];
        format_timestamp(start, sizeof start, s->start, srt, srt ? ',' : '.');
        format_timestamp(end, sizeof end, s->end, srt, srt ? ',' : '.');
        clean_text(tmp, s->text, 1);
        if (srt) sb_printf(b, "%zu\n", i + 1);
        sb_puts(b, start);
        sb_puts(b, " --> ");
        sb_puts(b, end);
        sb_putc(b, '\n');
        sb_append(b, tmp->p, tmp->n);
        sb_puts(b, "\n\n");
    }
}

/* A JSON string: valid UTF-8, with quotes, backslashes and control characters escaped. */
static void json_string(strbuf *b, const char *s, size_t n, strbuf *tmp) {
    tmp->n = 0;
    sb_put_utf8(tmp, s, n);
    sb_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < tmp->n; i++) {
        unsigned char c = (unsigned char)tmp->p[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_append(b, tmp->p + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\r': sb_puts(b, "\\r"); break;
        case '\t': sb_puts(b, "\\t"); break;
        case '\b': sb_puts(b, "\\b"); break;
        case '\f': sb_puts(b, "\\f"); break;
        default: sb_printf(b, "\\u%04x", c); break;
        }
    }
    sb_append(b, tmp->p + run, tmp->n - run);
    sb_putc(b, '"');
}

/* A JSON number with the given printf format, or null when it is not finite. */
static void json_number(strbuf *b, const char *fmt, double v) {
    if (!isfinite(v)) {
        sb_puts(b, "null");
        return;
    }
    char num[64];
    snprintf(num, sizeof num, fmt, v);
    sb_puts(b, num);
}

static void build_json(strbuf *b, const am_result *r, strbuf *tmp) {
    const char *text = r->text ? r->text : "";
    const char *nul = memchr(r->language, '\0', sizeof r->language);
    size_t lang_len = nul ? (size_t)(nul - r->language) : sizeof r->language;

    sb_puts(b, "{\"text\": ");
    json_string(b, text, strlen(text), tmp);
    sb_puts(b, ", \"language\": ");
    json_string(b, r->language, lang_len, tmp);
    sb_puts(b, ", \"duration\": ");
    json_number(b, "%.3f", r->duration);
    sb_puts(b, ", \"segments\": [");
    for (size_t i = 0; i < r->n_segments; i++) {
        const am_segment *s = &r->segments[i];
        const char *st = s->text ? s->text : "";
        if (i) sb_puts(b, ", ");
        sb_printf(b, "{\"id\": %d, \"seek\": %d, \"start\": ", s->id, s->seek);
        json_number(b, "%.3f", s->start);
        sb_puts(b, ", \"end\": ");
        json_number(b, "%.3f", s->end);
        sb_puts(b, ", \"text\": ");
        json_string(b, st, strlen(st), tmp);
        sb_puts(b, ", \"tokens\": [");
        for (int t = 0; t < s->n_tokens && s->tokens; t++) sb_printf(b, t ? ", %d" : "%d", s->tokens[t]);
        sb_puts(b, "], \"temperature\": ");
        json_number(b, "%.6g", s->temperature);
        sb_puts(b, ", \"avg_logprob\": ");
        json_number(b, "%.6g", s->avg_logprob);
        sb_puts(b, ", \"compression_ratio\": ");
        json_number(b, "%.6g", s->compression_ratio);
        sb_puts(b, ", \"no_speech_prob\": ");
        json_number(b, "%.6g", s->no_speech_prob);
        sb_putc(b, '}');
    }
    sb_puts(b, "]}\n");
}

/* ---- public -------------------------------------------------------------------------------- */

static const char *const format_names[] = {"txt", "srt", "vtt", "json"};

int am_format_from_name(const char *name) {
    if (!name) return -1;
    for (int f = 0; f < (int)(sizeof format_names / sizeof format_names[0]); f++) {
        const char *a = name, *b = format_names[f];
        /* ASCII case-insensitive: "SRT" works too */
        while (*a && *b && (*a == *b || (*a >= 'A' && *a <= 'Z' && *a - 'A' + 'a' == *b))) a++, b++;
        if (!*a && !*b) return f;
    }
    return -1;
}

const char *am_format_extension(am_format format) {
    if ((int)format < 0 || (size_t)format >= sizeof format_names / sizeof format_names[0]) return "";
    return format_names[format];
}

int am_write_result(const am_result *result, am_format format, FILE *out) {
    if (!result || !out) return AM_E_INVALID_ARG;
    strbuf b = {0}, tmp = {0};
    switch (format) {
    case AM_FORMAT_TXT: build_txt(&b, result, &tmp); break;
    case AM_FORMAT_SRT: build_cues(&b, result, &tmp, 1); break;
    case AM_FORMAT_VTT: build_cues(&b, result, &tmp, 0); break;
    case AM_FORMAT_JSON: build_json(&b, result, &tmp); break;
    default: return AM_E_INVALID_ARG;
    }
    int rc = AM_OK;
    if (b.oom || tmp.oom)
        rc = AM_E_NOMEM;
    else if ((b.n && fwrite(b.p, 1, b.n, out) != b.n) || fflush(out) != 0 || ferror(out))
        rc = AM_E_IO;
    free(b.p);
    free(tmp.p);
    return rc;
}
