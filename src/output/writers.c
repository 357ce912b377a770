/* writers.c — txt, srt, vtt, tsv, json and rttm output, byte-compatible with openai-whisper's writers
 * (whisper/utils.py: WriteTXT, WriteSRT, WriteVTT, WriteTSV, WriteJSON) where that is well defined.
 *
 *  txt   each segment's text stripped, one per line
 *  srt   "1\n00:00:00,000 --> 00:00:04,000\ntext\n\n" (hours always, comma before milliseconds)
 *  vtt   "WEBVTT\n\n" then "00:00.000 --> 00:04.000\ntext\n\n" (hours only from 1 h on)
 *  tsv   "start\tend\ttext\n" then "<start ms>\t<end ms>\t<text stripped, tabs -> spaces>\n"
 *  json  one line: {"text", "language", "duration", "segments": [{"id", "seek", "start", "end", "text",
 *        "tokens", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob"[, "words": [{"word",
 *        "start", "end", "probability"}]]}]} — "words" is present when the segment carries word
 *        timestamps (words != NULL, as openai/faster-whisper with word_timestamps), absent otherwise.
 *        "id" is the segment's index in the result (0, 1, ... as openai-whisper), whatever
 *        am_segment.id holds.  result/json.c writes it (the server's verbose_json shares the
 *        code); schema/transcript.schema.json describes it.
 *  rttm  NIST RTTM, one line per speaker turn of diarization (am_params.diarize; nothing without):
 *        "SPEAKER <file id> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>\n", seconds with
 *        three decimals; the file id is am_writer_options.file_id ("audio" when NULL), whitespace
 *        replaced by '_'.
 *
 * Speakers (diarization): json segments and words carry "speaker"; txt lines and srt/vtt cues start
 * with "[SPEAKER_00] " (a word-built subtitle also breaks where the speaker changes); tsv is
 * unchanged.  Without diarization every output is as before.
 *
 * Subtitles (srt, vtt): when the result carries words, cues are laid out from them exactly as
 * openai-whisper's SubtitlesWriter.iterate_result (max_line_width, max_line_count,
 * max_words_per_line, highlight_words; see build_word_cues); without words each segment is one cue
 * and the options are ignored.
 *
 * Timestamps are rounded to the millisecond, half away from zero; negative ones are written as 0
 * (tsv too).  In srt and vtt "-->" inside a text becomes "->" (as openai does for segment text; we
 * do it for word-built cues too) so cues cannot be broken.  Text is always written as valid UTF-8:
 * each maximal ill-formed byte sequence (the Unicode "substitution of maximal subparts" practice)
 * is replaced by U+FFFD.  "Stripped" removes whitespace at both ends as Python's str.strip() does
 * (ASCII whitespace, U+001C..U+001F, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000; text/utf8.h), and line widths count code points as Python's len() does.
 * JSON numbers that are NaN or infinite are written as null.
 * Each output is assembled in memory and written with one fwrite, then flushed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "result/json.h"
#include "result/result.h"
#include "text/sbuf.h"
#include "text/utf8.h"

/* ---- text cleaning ------------------------------------------------------------------------ */

/* Append s[0..n), replacing each occurrence of `from` by `to`. */
static void sb_put_replaced(sbuf *b, const char *s, size_t n, const char *from, const char *to) {
    size_t fl = strlen(from), run = 0;
    for (size_t i = 0; i + fl <= n;) {
        if (memcmp(s + i, from, fl) == 0) {
            sb_put(b, s + run, i - run);
            sb_puts(b, to);
            i += fl;
            run = i;
        } else {
            i++;
        }
    }
    sb_put(b, s + run, n - run);
}

enum { CLEAN_PLAIN = 0, CLEAN_CUE = 1, CLEAN_TSV = 2 };

/* The segment text made valid UTF-8 and stripped, into `out` (reset first); `scratch` is a work
 * buffer.  CLEAN_CUE: "-->" becomes "->"; CLEAN_TSV: tabs become spaces. */
static void clean_text(sbuf *out, sbuf *scratch, const char *text, int mode) {
    out->len = 0;
    scratch->len = 0;
    if (!text) text = "";
    sb_put_utf8(scratch, text, strlen(text));
    if (scratch->len == 0) return;
    size_t a, z;
    utf8_strip(scratch->p, scratch->len, &a, &z);
    const char *s = scratch->p + a;
    if (mode == CLEAN_CUE) sb_put_replaced(out, s, z - a, "-->", "->");
    else if (mode == CLEAN_TSV) sb_put_replaced(out, s, z - a, "\t", " ");
    else sb_put(out, s, z - a);
}

/* ---- timestamps ---------------------------------------------------------------------------- */

/* Seconds to whole milliseconds, half away from zero; negative and NaN give 0. */
static long long to_ms(double seconds) {
    if (!(seconds > 0.0)) seconds = 0.0; /* negative and NaN */
    if (seconds > 1e12) seconds = 1e12;  /* keep llround in range */
    return llround(seconds * 1000.0);
}

/* openai-whisper's format_timestamp: [hh:]mm:ss<marker>mmm, hours when asked or when >= 1 h. */
static void format_timestamp(char *dst, size_t dst_size, double seconds, int always_include_hours, char marker) {
    long long ms = to_ms(seconds);
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

typedef struct work {
    sbuf tmp, scratch, arena, hl; /* scratch buffers, freed by am_write_result_ex */
} work;

static void build_txt(sbuf *b, const am_result *r, work *w) {
    for (size_t i = 0; i < r->n_segments; i++) {
        if (r->segments[i].speaker) sb_printf(b, "[%s] ", r->segments[i].speaker);
        clean_text(&w->tmp, &w->scratch, r->segments[i].text, CLEAN_PLAIN);
        sb_put(b, w->tmp.p, w->tmp.len);
        sb_putc(b, '\n');
    }
}

static void build_tsv(sbuf *b, const am_result *r, work *w) {
    sb_puts(b, "start\tend\ttext\n");
    for (size_t i = 0; i < r->n_segments; i++) {
        const am_segment *s = &r->segments[i];
        sb_printf(b, "%lld\t%lld\t", to_ms(s->start), to_ms(s->end));
        clean_text(&w->tmp, &w->scratch, s->text, CLEAN_TSV);
        sb_put(b, w->tmp.p, w->tmp.len);
        sb_putc(b, '\n');
    }
}

/* srt and vtt differ in the header, the cue number, hours and the decimal marker. */
typedef struct cue_out {
    sbuf *b;
    int srt;
    size_t n_cues;
    const char *speaker; /* the cue's speaker, written as "[SPEAKER_00] " before its text (NULL: none) */
} cue_out;

static void cue_time(const cue_out *co, char *dst, size_t size, double t) {
    format_timestamp(dst, size, t, co->srt, co->srt ? ',' : '.');
}

/* One cue; `text` is written as is (already valid UTF-8 and cue-safe). */
static void emit_cue(cue_out *co, const char *start, const char *end, const char *text, size_t n) {
    co->n_cues++;
    if (co->srt) sb_printf(co->b, "%zu\n", co->n_cues);
    sb_puts(co->b, start);
    sb_puts(co->b, " --> ");
    sb_puts(co->b, end);
    sb_putc(co->b, '\n');
    if (co->speaker) sb_printf(co->b, "[%s] ", co->speaker);
    sb_put(co->b, text, n);
    sb_puts(co->b, "\n\n");
}

/* One cue from word text: "-->" becomes "->" first. */
static void emit_word_cue(cue_out *co, const char *start, const char *end, const char *text, size_t n, sbuf *safe) {
    safe->len = 0;
    sb_put_replaced(safe, text, n, "-->", "->");
    emit_cue(co, start, end, safe->p ? safe->p : "", safe->len);
}

/* A word of a subtitle being laid out: its text (possibly stripped, possibly "\n"-prefixed) is
 * arena[off, off + len). */
typedef struct sub_word {
    double start, end;
    size_t off, len;
} sub_word;

/* Append `word` with openai's highlight: re.sub(r"^(\s*)(.*)$", r"\1<u>\2</u>", word) — `.` does
 * not match "\n" and `$` also matches before a final "\n"; without a match the word is unchanged. */
static void sb_put_highlighted(sbuf *b, const char *word, size_t n) {
    size_t lead, z;
    utf8_strip(word, n, &lead, &z); /* lead: the length of the leading whitespace */
    const char *rest = word + lead;
    size_t rn = n - lead;
    const char *nl = rn ? memchr(rest, '\n', rn) : NULL;
    if (nl && nl != rest + rn - 1) { /* a newline inside: no match */
        sb_put(b, word, n);
        return;
    }
    size_t body = nl ? rn - 1 : rn;
    sb_put(b, word, lead);
    sb_puts(b, "<u>");
    sb_put(b, rest, body);
    sb_puts(b, "</u>");
    if (nl) sb_putc(b, '\n');
}

/* Where arena byte `off` is (a valid pointer even while the arena holds nothing). */
static const char *arena_at(const work *w, size_t off) { return w->arena.p ? w->arena.p + off : ""; }

/* The cues of one laid-out subtitle (the generator's consumer in iterate_result). */
static void flush_subtitle(cue_out *co, const sub_word *sub, size_t n, work *w, int highlight) {
    char sub_start[80], sub_end[80], last[80], start[80], end[80];
    cue_time(co, sub_start, sizeof sub_start, sub[0].start);
    cue_time(co, sub_end, sizeof sub_end, sub[n - 1].end);
    /* the words were appended to the arena one after the other since it was last reset */
    const char *text = arena_at(w, sub[0].off);
    size_t text_len = sub[n - 1].off + sub[n - 1].len - sub[0].off;
    if (!highlight) {
        emit_word_cue(co, sub_start, sub_end, text, text_len, &w->tmp);
        return;
    }
    memcpy(last, sub_start, sizeof last);
    for (size_t i = 0; i < n; i++) {
        cue_time(co, start, sizeof start, sub[i].start);
        cue_time(co, end, sizeof end, sub[i].end);
        if (strcmp(last, start) != 0) emit_word_cue(co, last, start, text, text_len, &w->tmp);
        w->hl.len = 0;
        for (size_t j = 0; j < n; j++) {
            if (j == i) sb_put_highlighted(&w->hl, arena_at(w, sub[j].off), sub[j].len);
            else sb_put(&w->hl, arena_at(w, sub[j].off), sub[j].len);
        }
        emit_word_cue(co, start, end, w->hl.p ? w->hl.p : "", w->hl.len, &w->tmp);
        memcpy(last, end, sizeof last);
    }
}

static int same_speaker(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static int result_has_words(const am_result *r) {
    for (size_t i = 0; i < r->n_segments; i++)
        if (r->segments[i].words && r->segments[i].n_words > 0) return 1;
    return 0;
}

/* openai-whisper's SubtitlesWriter.iterate_result over word timings, transcribed: words join the
 * current line while it has room (line length + the word's length with its leading space <=
 * max_line_width); a word starting a new line is stripped; a new line becomes a new subtitle when
 * max_line_count lines are full or after a pause (word start - previous word start > 3 s), else it
 * is joined with "\n".  Without both max_line_width and max_line_count ("preserve segments") each
 * segment — and each chunk of max_words_per_line words of it — starts a new subtitle, and pauses
 * do not split.  Returns 0, or -1 when out of memory. */
static int build_word_cues(cue_out *co, const am_result *r, const am_writer_options *o, work *w) {
    int max_line_width = o ? o->max_line_width : 0, max_line_count = o ? o->max_line_count : 0;
    int max_words_per_line = o ? o->max_words_per_line : 0, highlight = o ? o->highlight_words : 0;
    int preserve_segments = max_line_count == 0 || max_line_width == 0;
    size_t width = max_line_width ? (size_t)max_line_width : 1000;
    size_t per_line = max_words_per_line ? (size_t)max_words_per_line : 1000;

    sub_word *sub = NULL;
    size_t n_sub = 0, cap = 0, line_len = 0;
    int line_count = 1, first = 1;
    double last = 0.0;
    const char *speaker = NULL; /* the current subtitle's (its first word's) */
    w->arena.len = 0;
    for (size_t si = 0; si < r->n_segments; si++) {
        const am_segment *s = &r->segments[si];
        size_t nw = s->words && s->n_words > 0 ? (size_t)s->n_words : 0;
        size_t chunk = 0, words_count = per_line;
        while (chunk < nw) {
            size_t remaining = nw - chunk;
            if (per_line > remaining) words_count = remaining;
            for (size_t i = 0; i < words_count && chunk + i < nw; i++) {
                const am_word *word = &s->words[chunk + i];
                if (first) {
                    last = word->start; /* result["segments"][0]["words"][0]["start"] */
                    first = 0;
                }
                w->scratch.len = 0;
                sb_put_utf8(&w->scratch, word->word ? word->word : "", word->word ? strlen(word->word) : 0);
                const char *wt = w->scratch.p ? w->scratch.p : "";
                size_t wn = w->scratch.len, wlen = utf8_length((const unsigned char *)wt, wn);
                int long_pause = !preserve_segments && word->start - last > 3.0;
                int has_room = line_len + wlen <= width;
                int seg_break = (i == 0 && n_sub > 0 && preserve_segments) ||
                                (n_sub > 0 && !same_speaker(word->speaker, speaker));
                int newline = 0;
                if (line_len > 0 && has_room && !long_pause && !seg_break) {
                    line_len += wlen; /* line continuation */
                } else {
                    size_t a, z;
                    utf8_strip(wt, wn, &a, &z);
                    wt += a;
                    wn = z - a;
                    if ((n_sub > 0 && max_line_count && (long_pause || line_count >= max_line_count)) ||
                        seg_break) {
                        co->speaker = speaker;
                        flush_subtitle(co, sub, n_sub, w, highlight); /* subtitle break */
                        n_sub = 0;
                        line_count = 1;
                        w->arena.len = 0;
                    } else if (line_len > 0) {
                        line_count++; /* line break */
                        newline = 1;
                    }
                    line_len = utf8_length((const unsigned char *)wt, wn);
                }
                if (n_sub == cap) {
                    size_t ncap = cap ? cap * 2 : 64;
                    sub_word *grown = realloc(sub, ncap * sizeof *grown);
                    if (!grown) {
                        free(sub);
                        return -1;
                    }
                    sub = grown;
                    cap = ncap;
                }
                if (n_sub == 0) speaker = word->speaker;
                sub_word *sw = &sub[n_sub++];
                sw->start = word->start;
                sw->end = word->end;
                sw->off = w->arena.len;
                if (newline) sb_putc(&w->arena, '\n');
                sb_put(&w->arena, wt, wn);
                sw->len = w->arena.len - sw->off;
                last = word->start;
                if (w->arena.oom) {
                    free(sub);
                    return -1;
                }
            }
            chunk += per_line;
        }
    }
    co->speaker = speaker;
    if (n_sub > 0) flush_subtitle(co, sub, n_sub, w, highlight);
    free(sub);
    return 0;
}

static int build_cues(sbuf *b, const am_result *r, const am_writer_options *o, work *w, int srt) {
    cue_out co = {b, srt, 0, NULL};
    if (!srt) sb_puts(b, "WEBVTT\n\n");
    if (result_has_words(r)) return build_word_cues(&co, r, o, w);
    char start[80], end[80]; /* ample for any long long fields */
    for (size_t i = 0; i < r->n_segments; i++) {
        const am_segment *s = &r->segments[i];
        cue_time(&co, start, sizeof start, s->start);
        cue_time(&co, end, sizeof end, s->end);
        clean_text(&w->tmp, &w->scratch, s->text, CLEAN_CUE);
        co.speaker = s->speaker;
        emit_cue(&co, start, end, w->tmp.p ? w->tmp.p : "", w->tmp.len);
    }
    return 0;
}

static void build_rttm(sbuf *b, const am_result *r, const am_writer_options *o) {
    const char *id = o && o->file_id && *o->file_id ? o->file_id : "audio";
    sbuf fid = {0};
    for (const char *c = id; *c; c++) sb_putc(&fid, *c == ' ' || (*c >= '\t' && *c <= '\r') ? '_' : *c);
    double start, end;
    const char *speaker;
    for (size_t i = 0; i < am_result_n_turns(r); i++) /* through the public accessors, which it tests */
        if (am_result_turn(r, i, &start, &end, &speaker) == AM_OK)
            sb_printf(b, "SPEAKER %.*s 1 %.3f %.3f <NA> <NA> %s <NA> <NA>\n", (int)fid.len, fid.p ? fid.p : "", start,
                      end - start, speaker);
    if (fid.oom) b->oom = 1;
    free(fid.p);
}

/* ---- public -------------------------------------------------------------------------------- */

static const char *const format_names[] = {"txt", "srt", "vtt", "json", "tsv", "rttm"}; /* am_format order */

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

am_status am_write_result_ex(const am_result *result, am_format format, const am_writer_options *options, FILE *out) {
    if (!result || !out) return AM_E_INVALID_ARG;
    if (options && (options->max_line_width < 0 || options->max_line_count < 0 || options->max_words_per_line < 0))
        return AM_E_INVALID_ARG;
    sbuf b = {0};
    work w = {{0}, {0}, {0}, {0}};
    int rc = AM_OK;
    switch (format) {
    case AM_FORMAT_TXT: build_txt(&b, result, &w); break;
    case AM_FORMAT_SRT: rc = build_cues(&b, result, options, &w, 1) ? AM_E_NOMEM : AM_OK; break;
    case AM_FORMAT_VTT: rc = build_cues(&b, result, options, &w, 0) ? AM_E_NOMEM : AM_OK; break;
    case AM_FORMAT_JSON:
        json_result(&b, result, NULL); /* openai-whisper's layout, words in segments */
        sb_putc(&b, '\n');
        break;
    case AM_FORMAT_TSV: build_tsv(&b, result, &w); break;
    case AM_FORMAT_RTTM: build_rttm(&b, result, options); break;
    default: return AM_E_INVALID_ARG;
    }
    if (rc == AM_OK && (b.oom || w.tmp.oom || w.scratch.oom || w.arena.oom || w.hl.oom))
        rc = AM_E_NOMEM;
    else if (rc == AM_OK && ((b.len && fwrite(b.p, 1, b.len, out) != b.len) || fflush(out) != 0 || ferror(out)))
        rc = AM_E_IO;
    free(b.p);
    free(w.tmp.p);
    free(w.scratch.p);
    free(w.arena.p);
    free(w.hl.p);
    return rc;
}

am_status am_write_result(const am_result *result, am_format format, FILE *out) {
    return am_write_result_ex(result, format, NULL, out);
}
