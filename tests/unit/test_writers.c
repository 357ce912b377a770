/* test_writers.c — am_result building/accessors and the txt/srt/vtt/json/tsv writers, byte for byte,
 * including subtitle layout from word timestamps (openai-whisper's SubtitlesWriter). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "result/json.h"
#include "result/result.h"

/* Segment 1's text: quotes, a backslash, a newline, a tab, "-->", é, 日本, a control character and
 * an invalid byte 0xFF. */
#define TRICKY_TEXT " He said \"hi\" \\ then\nleft\t--> \xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \x01\xFF "

/* A three-segment result; the last one starts after one hour. */
static am_result *make_result(void) {
    am_result *r = calloc(1, sizeof *r);
    assert_non_null(r);
    strcpy(r->language, "en");
    r->duration = 3726.5;

    const int tok0[] = {50364, 2425, 1002, 13, 50564};
    am_segment s = {0};
    s.id = 0;
    s.seek = 0;
    s.start = 0.0;
    s.end = 4.0;
    s.text = " Hello world.";
    s.tokens = tok0;
    s.n_tokens = 5;
    s.temperature = 0.0f;
    s.avg_logprob = -0.25f;
    s.compression_ratio = 1.2f;
    s.no_speech_prob = 0.01f;
    assert_int_equal(result_add_segment(r, &s), AM_OK);

    const int tok1[] = {50564, 634};
    s.id = 1;
    s.seek = 400;
    s.start = 4.0;
    s.end = 7.5004;
    s.text = TRICKY_TEXT;
    s.tokens = tok1;
    s.n_tokens = 2;
    s.temperature = 0.2f;
    s.avg_logprob = -0.5f;
    s.compression_ratio = 2.5f;
    s.no_speech_prob = 1e-5f;
    assert_int_equal(result_add_segment(r, &s), AM_OK);

    s.id = 2;
    s.seek = 372500;
    s.start = 3725.0625; /* exactly representable: 3725062.5 ms rounds up to ...063 */
    s.end = 3726.5;
    s.text = " Over an hour. ";
    s.tokens = NULL;
    s.n_tokens = 0;
    s.temperature = 1.0f;
    s.avg_logprob = NAN;
    s.compression_ratio = INFINITY;
    s.no_speech_prob = 0.5f;
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    return r;
}

/* Write `r` in `format` into memory; returns the malloc'd bytes and their length. */
static char *write_to_memory(const am_result *r, am_format format, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(am_write_result(r, format, f), AM_OK);
    fclose(f);
    *len = n;
    return buf;
}

/* The same with writer options. */
static char *write_to_memory_ex(const am_result *r, am_format format, const am_writer_options *o, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(am_write_result_ex(r, format, o, f), AM_OK);
    fclose(f);
    *len = n;
    return buf;
}

static void expect_output_ex(const am_result *r, am_format format, const am_writer_options *o, const char *want) {
    size_t n;
    char *got = write_to_memory_ex(r, format, o, &n);
    if (n != strlen(want) || memcmp(got, want, n) != 0)
        print_error("format %d\n--- got (%zu bytes) ---\n%.*s\n--- want (%zu bytes) ---\n%s\n", (int)format, n, (int)n,
                    got, strlen(want), want);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    free(got);
}

static void expect_output(const am_result *r, am_format format, const char *want) {
    size_t n;
    char *got = write_to_memory(r, format, &n);
    if (n != strlen(want) || memcmp(got, want, n) != 0)
        print_error("format %d\n--- got (%zu bytes) ---\n%.*s\n--- want (%zu bytes) ---\n%s\n", (int)format, n, (int)n,
                    got, strlen(want), want);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    free(got);
}

static void test_result_accessors(void **state) {
    (void)state;
    am_result *r = make_result();
    assert_int_equal(am_result_n_segments(r), 3);
    assert_string_equal(am_result_language(r), "en");
    assert_true(am_result_duration(r) == 3726.5);
    assert_string_equal(am_result_text(r), " Hello world." TRICKY_TEXT " Over an hour. ");
    const am_segment *s = am_result_segment(r, 0);
    assert_non_null(s);
    assert_string_equal(s->text, " Hello world.");
    assert_int_equal(s->n_tokens, 5);
    assert_int_equal(s->tokens[4], 50564);
    assert_null(am_result_segment(r, 3));
    assert_int_equal(am_result_segment(r, 2)->n_tokens, 0);
    am_result_free(r);

    /* NULL-safe */
    assert_int_equal(am_result_n_segments(NULL), 0);
    assert_null(am_result_segment(NULL, 0));
    assert_string_equal(am_result_text(NULL), "");
    am_result_free(NULL);

    /* an empty result has empty text */
    am_result *e = calloc(1, sizeof *e);
    assert_string_equal(am_result_text(e), "");
    am_segment bad = {0};
    bad.n_tokens = 3; /* tokens NULL */
    assert_int_equal(result_add_segment(e, &bad), AM_E_INVALID_ARG);
    am_result_free(e);
}

static void test_txt(void **state) {
    (void)state;
    am_result *r = make_result();
    expect_output(r, AM_FORMAT_TXT,
                  "Hello world.\n"
                  "He said \"hi\" \\ then\nleft\t--> \xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \x01\xEF\xBF\xBD\n"
                  "Over an hour.\n");
    am_result_free(r);
}

static void test_srt(void **state) {
    (void)state;
    am_result *r = make_result();
    expect_output(r, AM_FORMAT_SRT,
                  "1\n00:00:00,000 --> 00:00:04,000\nHello world.\n\n"
                  "2\n00:00:04,000 --> 00:00:07,500\n"
                  "He said \"hi\" \\ then\nleft\t-> \xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \x01\xEF\xBF\xBD\n\n"
                  "3\n01:02:05,063 --> 01:02:06,500\nOver an hour.\n\n");
    am_result_free(r);
}

static void test_vtt(void **state) {
    (void)state;
    am_result *r = make_result();
    expect_output(r, AM_FORMAT_VTT,
                  "WEBVTT\n\n"
                  "00:00.000 --> 00:04.000\nHello world.\n\n"
                  "00:04.000 --> 00:07.500\n"
                  "He said \"hi\" \\ then\nleft\t-> \xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \x01\xEF\xBF\xBD\n\n"
                  "01:02:05.063 --> 01:02:06.500\nOver an hour.\n\n");
    am_result_free(r);
}

#define TRICKY_JSON " He said \\\"hi\\\" \\\\ then\\nleft\\t--> \xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \\u0001\xEF\xBF\xBD "

static void test_json(void **state) {
    (void)state;
    am_result *r = make_result();
    expect_output(r, AM_FORMAT_JSON,
                  "{\"text\": \" Hello world." TRICKY_JSON " Over an hour. \", \"language\": \"en\", "
                  "\"duration\": 3726.500, \"segments\": ["
                  "{\"id\": 0, \"seek\": 0, \"start\": 0.000, \"end\": 4.000, \"text\": \" Hello world.\", "
                  "\"tokens\": [50364, 2425, 1002, 13, 50564], \"temperature\": 0, \"avg_logprob\": -0.25, "
                  "\"compression_ratio\": 1.2, \"no_speech_prob\": 0.01}, "
                  "{\"id\": 1, \"seek\": 400, \"start\": 4.000, \"end\": 7.500, \"text\": \"" TRICKY_JSON "\", "
                  "\"tokens\": [50564, 634], \"temperature\": 0.2, \"avg_logprob\": -0.5, "
                  "\"compression_ratio\": 2.5, \"no_speech_prob\": 1e-05}, "
                  "{\"id\": 2, \"seek\": 372500, \"start\": 3725.062, \"end\": 3726.500, "
                  "\"text\": \" Over an hour. \", \"tokens\": [], \"temperature\": 1, \"avg_logprob\": null, "
                  "\"compression_ratio\": null, \"no_speech_prob\": 0.5}]}\n");
    am_result_free(r);
}

/* Regression: "id" is the segment's 0-based index in the result, not am_segment.id (which a decoder
 * may number from 1, or not at all). */
static void test_json_ids_from_index(void **state) {
    (void)state;
    am_result *r = calloc(1, sizeof *r);
    am_segment s = {0};
    const int ids[] = {1, 7, -3};
    for (int i = 0; i < 3; i++) {
        s.id = ids[i];
        s.seek = 100 * i;
        s.text = "x";
        assert_int_equal(result_add_segment(r, &s), AM_OK);
    }
    size_t n;
    char *got = write_to_memory(r, AM_FORMAT_JSON, &n);
    const char *first = strstr(got, "\"segments\": [{\"id\": ");
    assert_non_null(first);
    assert_memory_equal(first + strlen("\"segments\": [{\"id\": "), "0, \"seek\": 0,", 13);
    assert_non_null(strstr(got, "{\"id\": 1, \"seek\": 100,"));
    assert_non_null(strstr(got, "{\"id\": 2, \"seek\": 200,"));
    assert_null(strstr(got, "\"id\": 7"));
    free(got);
    am_result_free(r);
}

/* Ill-formed UTF-8 is replaced per maximal subpart; well-formed 4-byte sequences pass. */
static void test_utf8_repair(void **state) {
    (void)state;
    am_result *r = calloc(1, sizeof *r);
    am_segment s = {0};
    s.text = "a\xC0\xAF"                /* overlong: 2 x U+FFFD */
             "b\xE6\x97"                /* truncated 3-byte sequence: 1 x U+FFFD */
             "c\xED\xA0\x80"            /* surrogate: 3 x U+FFFD */
             "d\xF4\x90\x80\x80"        /* above U+10FFFF: 4 x U+FFFD */
             "e\xF0\x9F\x98\x80"        /* U+1F600, valid */
             "f\xE6";                   /* truncated at the end */
    assert_int_equal(result_add_segment(r, &s), AM_OK);
#define R "\xEF\xBF\xBD"
    expect_output(r, AM_FORMAT_TXT, "a" R R "b" R "c" R R R "d" R R R R "e\xF0\x9F\x98\x80" "f" R "\n");
#undef R
    am_result_free(r);
}

/* Timestamp rounding, hours, negative and NaN times, and an empty result. */
static void test_timestamps_and_empty(void **state) {
    (void)state;
    am_result *r = calloc(1, sizeof *r);
    expect_output(r, AM_FORMAT_VTT, "WEBVTT\n\n");
    expect_output(r, AM_FORMAT_SRT, "");
    expect_output(r, AM_FORMAT_TXT, "");
    expect_output(r, AM_FORMAT_JSON,
                  "{\"text\": \"\", \"language\": \"\", \"duration\": 0.000, \"segments\": []}\n");

    am_segment s = {0};
    s.text = "x";
    s.start = -1.0;
    s.end = NAN;
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    s.start = 59.99951;
    s.end = 3599.9996; /* rounds to 1 h exactly */
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    s.start = 36000.0;
    s.end = 359999.999; /* 100 hours less a millisecond */
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    expect_output(r, AM_FORMAT_VTT,
                  "WEBVTT\n\n"
                  "00:00.000 --> 00:00.000\nx\n\n"
                  "01:00.000 --> 01:00:00.000\nx\n\n"
                  "10:00:00.000 --> 99:59:59.999\nx\n\n");
    expect_output(r, AM_FORMAT_SRT,
                  "1\n00:00:00,000 --> 00:00:00,000\nx\n\n"
                  "2\n00:01:00,000 --> 01:00:00,000\nx\n\n"
                  "3\n10:00:00,000 --> 99:59:59,999\nx\n\n");
    am_result_free(r);
}

static void test_format_names_and_errors(void **state) {
    (void)state;
    assert_int_equal(am_format_from_name("txt"), AM_FORMAT_TXT);
    assert_int_equal(am_format_from_name("srt"), AM_FORMAT_SRT);
    assert_int_equal(am_format_from_name("vtt"), AM_FORMAT_VTT);
    assert_int_equal(am_format_from_name("json"), AM_FORMAT_JSON);
    assert_int_equal(am_format_from_name("JSON"), AM_FORMAT_JSON);
    assert_int_equal(am_format_from_name("tsv"), AM_FORMAT_TSV);
    assert_int_equal(am_format_from_name("Tsv"), AM_FORMAT_TSV);
    assert_int_equal(am_format_from_name("js"), -1);
    assert_int_equal(am_format_from_name("jsonx"), -1);
    assert_int_equal(am_format_from_name(""), -1);
    assert_int_equal(am_format_from_name(NULL), -1);
    assert_string_equal(am_format_extension(AM_FORMAT_TXT), "txt");
    assert_string_equal(am_format_extension(AM_FORMAT_SRT), "srt");
    assert_string_equal(am_format_extension(AM_FORMAT_VTT), "vtt");
    assert_string_equal(am_format_extension(AM_FORMAT_JSON), "json");
    assert_string_equal(am_format_extension(AM_FORMAT_TSV), "tsv");
    assert_string_equal(am_format_extension((am_format)42), "");

    am_result *r = make_result();
    /* a stream opened for reading cannot be written */
    FILE *ro = fopen("/dev/null", "r");
    assert_non_null(ro);
    assert_int_equal(am_write_result(r, AM_FORMAT_TXT, ro), AM_E_IO);
    fclose(ro);
    /* /dev/full fails on flush */
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        assert_int_equal(am_write_result(r, AM_FORMAT_JSON, full), AM_E_IO);
        fclose(full);
    }
    assert_int_equal(am_write_result(r, (am_format)42, stdout), AM_E_INVALID_ARG);
    assert_int_equal(am_write_result(NULL, AM_FORMAT_TXT, stdout), AM_E_INVALID_ARG);
    am_result_free(r);
}

/* Writing to a real temporary file gives the same bytes as to memory. */
static void test_tmpfile(void **state) {
    (void)state;
    am_result *r = make_result();
    for (int f = AM_FORMAT_TXT; f <= AM_FORMAT_TSV; f++) {
        size_t n;
        char *mem = write_to_memory(r, (am_format)f, &n);
        FILE *t = tmpfile();
        assert_non_null(t);
        assert_int_equal(am_write_result(r, (am_format)f, t), AM_OK);
        rewind(t);
        char *disk = malloc(n + 1);
        assert_int_equal(fread(disk, 1, n + 1, t), n);
        assert_memory_equal(disk, mem, n);
        fclose(t);
        free(disk);
        free(mem);
    }
    am_result_free(r);
}

static void test_tsv(void **state) {
    (void)state;
    am_result *r = make_result();
    expect_output(r, AM_FORMAT_TSV,
                  "start\tend\ttext\n"
                  "0\t4000\tHello world.\n"
                  "4000\t7500\tHe said \"hi\" \\ then\nleft --> \xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \x01\xEF\xBF\xBD\n"
                  "3725063\t3726500\tOver an hour.\n");
    am_result_free(r);

    /* negative and NaN times are 0; Unicode whitespace is stripped as Python's str.strip() does */
    am_result *e = calloc(1, sizeof *e);
    expect_output(e, AM_FORMAT_TSV, "start\tend\ttext\n");
    am_segment s = {0};
    s.start = -2.0;
    s.end = NAN;
    s.text = "\xE3\x80\x80\t a\tb \xC2\xA0\n";
    assert_int_equal(result_add_segment(e, &s), AM_OK);
    expect_output(e, AM_FORMAT_TSV, "start\tend\ttext\n0\t0\ta b\n");
    expect_output(e, AM_FORMAT_TXT, "a\tb\n");
    am_result_free(e);
}

/* ---- word timestamps ---------------------------------------------------------------------- */

typedef struct wdef {
    const char *word;
    double start, end;
} wdef;

static void add_word_segment(am_result *r, int id, double start, double end, const wdef *defs, int n) {
    am_word words[16] = {{0}};
    char text[512] = "";
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) {
        words[i].word = defs[i].word;
        words[i].start = defs[i].start;
        words[i].end = defs[i].end;
        words[i].probability = 0.5f;
        strcat(text, defs[i].word);
    }
    am_segment s = {0};
    s.id = id;
    s.start = start;
    s.end = end;
    s.text = text;
    s.words = words;
    s.n_words = n;
    assert_int_equal(result_add_segment(r, &s), AM_OK);
}

/* The same result as unit_case() in tests/tools/subtitle_ref.py. */
static am_result *make_word_result(void) {
    am_result *r = calloc(1, sizeof *r);
    assert_non_null(r);
    strcpy(r->language, "en");
    r->duration = 12.0;
    static const wdef w0[] = {{" The", 0.0, 0.3},   {" quick", 0.3, 0.6}, {" brown", 0.6, 0.9},
                              {" fox", 0.9, 1.2},   {" jumps", 1.2, 1.6}, {" over", 1.6, 1.9},
                              {" the", 1.9, 2.0},   {" lazy", 2.0, 2.4},  {" dog.", 2.4, 3.0}};
    static const wdef w1[] = {{" Caf\xC3\xA9", 7.0, 7.4}, {" d\xC3\xA9j\xC3\xA0", 7.4, 7.9},
                              {" vu,", 7.9, 8.3},         {" na\xC3\xAFve", 8.3, 8.6},
                              {" -->", 8.6, 8.7},         {" ok.", 8.7, 9.0}};
    static const wdef w2[] = {{" \xE6\x97\xA5\xE6\x9C\xAC", 9.5, 10.0},
                              {"\xE8\xAA\x9E\xE3\x81\xAE", 10.0, 10.6},
                              {"\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82", 10.6, 11.5}};
    add_word_segment(r, 0, 0.0, 3.0, w0, 9);
    add_word_segment(r, 1, 7.0, 9.0, w1, 6);
    add_word_segment(r, 2, 9.5, 11.5, w2, 3);
    return r;
}

/* Expected outputs: printed by `python3 tests/tools/subtitle_ref.py`, which runs a transcription of
 * openai-whisper's SubtitlesWriter.iterate_result / WriteSRT / WriteVTT on the same input. */
#define WORDS_SRT_DEFAULT \
    "1\n" \
    "00:00:00,000 --> 00:00:03,000\n" \
    "The quick brown fox jumps over the lazy dog.\n" \
    "\n" \
    "2\n" \
    "00:00:07,000 --> 00:00:09,000\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu, na\xC3\xAFve -> ok.\n" \
    "\n" \
    "3\n" \
    "00:00:09,500 --> 00:00:11,500\n" \
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n"

#define WORDS_VTT_DEFAULT \
    "WEBVTT\n" \
    "\n" \
    "00:00.000 --> 00:03.000\n" \
    "The quick brown fox jumps over the lazy dog.\n" \
    "\n" \
    "00:07.000 --> 00:09.000\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu, na\xC3\xAFve -> ok.\n" \
    "\n" \
    "00:09.500 --> 00:11.500\n" \
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n"

#define WORDS_SRT_W20_C2 \
    "1\n" \
    "00:00:00,000 --> 00:00:02,400\n" \
    "The quick brown fox\n" \
    "jumps over the lazy\n" \
    "\n" \
    "2\n" \
    "00:00:02,400 --> 00:00:03,000\n" \
    "dog.\n" \
    "\n" \
    "3\n" \
    "00:00:07,000 --> 00:00:11,500\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu, na\xC3\xAFve\n" \
    "-> ok. \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n"

#define WORDS_VTT_W20_C2 \
    "WEBVTT\n" \
    "\n" \
    "00:00.000 --> 00:02.400\n" \
    "The quick brown fox\n" \
    "jumps over the lazy\n" \
    "\n" \
    "00:02.400 --> 00:03.000\n" \
    "dog.\n" \
    "\n" \
    "00:07.000 --> 00:11.500\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu, na\xC3\xAFve\n" \
    "-> ok. \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n"

#define WORDS_SRT_W20 \
    "1\n" \
    "00:00:00,000 --> 00:00:03,000\n" \
    "The quick brown fox\n" \
    "jumps over the lazy\n" \
    "dog.\n" \
    "\n" \
    "2\n" \
    "00:00:07,000 --> 00:00:09,000\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu, na\xC3\xAFve\n" \
    "-> ok.\n" \
    "\n" \
    "3\n" \
    "00:00:09,500 --> 00:00:11,500\n" \
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n"

#define WORDS_SRT_WPL3 \
    "1\n" \
    "00:00:00,000 --> 00:00:00,900\n" \
    "The quick brown\n" \
    "\n" \
    "2\n" \
    "00:00:00,900 --> 00:00:01,900\n" \
    "fox jumps over\n" \
    "\n" \
    "3\n" \
    "00:00:01,900 --> 00:00:03,000\n" \
    "the lazy dog.\n" \
    "\n" \
    "4\n" \
    "00:00:07,000 --> 00:00:08,300\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu,\n" \
    "\n" \
    "5\n" \
    "00:00:08,300 --> 00:00:09,000\n" \
    "na\xC3\xAFve -> ok.\n" \
    "\n" \
    "6\n" \
    "00:00:09,500 --> 00:00:11,500\n" \
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n"

#define WORDS_VTT_HL_W20_C2 \
    "WEBVTT\n" \
    "\n" \
    "00:00.000 --> 00:00.300\n" \
    "<u>The</u> quick brown fox\n" \
    "jumps over the lazy\n" \
    "\n" \
    "00:00.300 --> 00:00.600\n" \
    "The <u>quick</u> brown fox\n" \
    "jumps over the lazy\n" \
    "\n" \
    "00:00.600 --> 00:00.900\n" \
    "The quick <u>brown</u> fox\n" \
    "jumps over the lazy\n" \
    "\n" \
    "00:00.900 --> 00:01.200\n" \
    "The quick brown <u>fox</u>\n" \
    "jumps over the lazy\n" \
    "\n" \
    "00:01.200 --> 00:01.600\n" \
    "The quick brown fox\n" \
    "<u>jumps</u> over the lazy\n" \
    "\n" \
    "00:01.600 --> 00:01.900\n" \
    "The quick brown fox\n" \
    "jumps <u>over</u> the lazy\n" \
    "\n" \
    "00:01.900 --> 00:02.000\n" \
    "The quick brown fox\n" \
    "jumps over <u>the</u> lazy\n" \
    "\n" \
    "00:02.000 --> 00:02.400\n" \
    "The quick brown fox\n" \
    "jumps over the <u>lazy</u>\n" \
    "\n" \
    "00:02.400 --> 00:03.000\n" \
    "<u>dog.</u>\n" \
    "\n" \
    "00:07.000 --> 00:07.400\n" \
    "<u>Caf\xC3\xA9</u> d\xC3\xA9j\xC3\xA0 vu, na\xC3\xAFve\n" \
    "-> ok. \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n" \
    "00:07.400 --> 00:07.900\n" \
    "Caf\xC3\xA9 <u>d\xC3\xA9j\xC3\xA0</u> vu, na\xC3\xAFve\n" \
    "-> ok. \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n" \
    "00:07.900 --> 00:08.300\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 <u>vu,</u> na\xC3\xAFve\n" \
    "-> ok. \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n" \
    "00:08.300 --> 00:08.600\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu, <u>na\xC3\xAFve</u>\n" \
    "-> ok. \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n" \
    "00:08.600 --> 00:08.700\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu, na\xC3\xAFve\n" \
    "<u>-></u> ok. \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n" \
    "00:08.700 --> 00:09.000\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu, na\xC3\xAFve\n" \
    "-> <u>ok.</u> \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n" \
    "00:09.000 --> 00:09.500\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu, na\xC3\xAFve\n" \
    "-> ok. \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n" \
    "00:09.500 --> 00:10.000\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu, na\xC3\xAFve\n" \
    "-> ok. <u>\xE6\x97\xA5\xE6\x9C\xAC</u>\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n" \
    "00:10.000 --> 00:10.600\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu, na\xC3\xAFve\n" \
    "-> ok. \xE6\x97\xA5\xE6\x9C\xAC<u>\xE8\xAA\x9E\xE3\x81\xAE</u>\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82\n" \
    "\n" \
    "00:10.600 --> 00:11.500\n" \
    "Caf\xC3\xA9 d\xC3\xA9j\xC3\xA0 vu, na\xC3\xAFve\n" \
    "-> ok. \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE<u>\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82</u>\n" \
    "\n"


static void test_words_deep_copy(void **state) {
    (void)state;
    am_result *r = calloc(1, sizeof *r);
    char w0[] = " hello", w1[] = " world";
    am_word words[2] = {{0.5, 1.0, w0, 0.9f, NULL}, {1.0, 1.5, w1, 0.25f, NULL}};
    am_segment s = {0};
    s.text = " hello world";
    s.words = words;
    s.n_words = 2;
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    /* the caller's buffers may change or go away */
    w0[1] = 'J';
    words[1].word = NULL;
    words[1].start = 99.0;
    const am_segment *got = am_result_segment(r, 0);
    assert_int_equal(got->n_words, 2);
    assert_ptr_not_equal(got->words, words);
    assert_string_equal(got->words[0].word, " hello");
    assert_string_equal(got->words[1].word, " world");
    assert_true(got->words[1].start == 1.0 && got->words[1].end == 1.5);
    assert_true(got->words[0].probability == 0.9f);

    /* words NULL stays NULL (n_words 0); an empty non-NULL list stays non-NULL */
    s.words = NULL;
    s.n_words = 5;
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    assert_null(am_result_segment(r, 1)->words);
    assert_int_equal(am_result_segment(r, 1)->n_words, 0);
    s.words = words;
    s.n_words = 0;
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    assert_non_null(am_result_segment(r, 2)->words);
    assert_int_equal(am_result_segment(r, 2)->n_words, 0);
    /* a NULL word string is copied as "" */
    s.n_words = 2;
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    assert_string_equal(am_result_segment(r, 3)->words[1].word, "");
    s.n_words = -1;
    assert_int_equal(result_add_segment(r, &s), AM_E_INVALID_ARG);
    am_result_free(r);
}

/* The segments' am_segment.id are 1, 2, 3 (as a decoder counting from 1 would set them): "id" is the
 * index in the result all the same, 0-based as openai-whisper's. */
static void test_json_words(void **state) {
    (void)state;
    am_result *r = calloc(1, sizeof *r);
    strcpy(r->language, "fr");
    r->duration = 2.0;
    am_word words[2] = {{0.0, 0.52, " \"Caf\xC3\xA9\"", 0.875f, NULL}, {0.52, 1.0049, " ok\xE6", NAN, NULL}};
    am_segment s = {0};
    s.id = 1;
    s.end = 1.0;
    s.text = " \"Caf\xC3\xA9\" ok";
    s.words = words;
    s.n_words = 2;
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    s.id = 2;
    s.start = 1.0;
    s.end = 2.0;
    s.text = " none";
    s.words = NULL; /* no word timestamps: no "words" key */
    s.n_words = 0;
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    s.id = 3;
    s.text = "";
    s.words = words; /* word timestamps, but no words: "words": [] */
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    expect_output(r, AM_FORMAT_JSON,
                  "{\"text\": \" \\\"Caf\xC3\xA9\\\" ok none\", \"language\": \"fr\", \"duration\": 2.000, \"segments\": ["
                  "{\"id\": 0, \"seek\": 0, \"start\": 0.000, \"end\": 1.000, \"text\": \" \\\"Caf\xC3\xA9\\\" ok\", "
                  "\"tokens\": [], \"temperature\": 0, \"avg_logprob\": 0, \"compression_ratio\": 0, "
                  "\"no_speech_prob\": 0, \"words\": ["
                  "{\"word\": \" \\\"Caf\xC3\xA9\\\"\", \"start\": 0.000, \"end\": 0.520, \"probability\": 0.875}, "
                  "{\"word\": \" ok\xEF\xBF\xBD\", \"start\": 0.520, \"end\": 1.005, \"probability\": null}]}, "
                  "{\"id\": 1, \"seek\": 0, \"start\": 1.000, \"end\": 2.000, \"text\": \" none\", "
                  "\"tokens\": [], \"temperature\": 0, \"avg_logprob\": 0, \"compression_ratio\": 0, "
                  "\"no_speech_prob\": 0}, "
                  "{\"id\": 2, \"seek\": 0, \"start\": 1.000, \"end\": 2.000, \"text\": \"\", "
                  "\"tokens\": [], \"temperature\": 0, \"avg_logprob\": 0, \"compression_ratio\": 0, "
                  "\"no_speech_prob\": 0, \"words\": []}]}\n");
    am_result_free(r);
}

/* The server's verbose_json comes from the same serialiser (result/json.c) with OpenAI's options:
 * "task" first, the language named, text and words stripped, words top-level (not in segments). */
static void test_json_verbose_layout(void **state) {
    (void)state;
    am_result *r = calloc(1, sizeof *r);
    strcpy(r->language, "en");
    r->duration = 2.0;
    am_word words[2] = {{0.0, 0.5, " Hi\t", 0.5f, NULL}, {0.5, 1.0, "\xC2\xA0there\xFF", INFINITY, NULL}};
    am_segment s = {0};
    s.id = 5;
    s.end = 1.0;
    s.text = " Hi there. ";
    s.words = words;
    s.n_words = 2;
    s.temperature = 0.2f;
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    json_result_options o = {"transcribe", "english", 1, 1, JSON_WORDS_TOP_LEVEL};
    sbuf b = {0};
    json_result(&b, r, &o);
    assert_false(b.oom);
    assert_string_equal(b.p,
                        "{\"task\": \"transcribe\", \"text\": \"Hi there.\", \"language\": \"english\", "
                        "\"duration\": 2.000, \"segments\": [{\"id\": 0, \"seek\": 0, \"start\": 0.000, "
                        "\"end\": 1.000, \"text\": \" Hi there. \", \"tokens\": [], \"temperature\": 0.2, "
                        "\"avg_logprob\": 0, \"compression_ratio\": 0, \"no_speech_prob\": 0}], \"words\": ["
                        "{\"word\": \"Hi\", \"start\": 0.000, \"end\": 0.500, \"probability\": 0.5}, "
                        "{\"word\": \"there\xEF\xBF\xBD\", \"start\": 0.500, \"end\": 1.000, \"probability\": null}]}");
    /* timestamp_granularities=word only: no "segments" */
    o.segments = 0;
    b.len = 0;
    json_result(&b, r, &o);
    assert_null(strstr(b.p, "\"segments\""));
    assert_non_null(strstr(b.p, "\"words\": [{\"word\": \"Hi\""));
    /* no word timestamps asked: no "words" anywhere */
    o.segments = 1;
    o.words = JSON_WORDS_NONE;
    b.len = 0;
    json_result(&b, r, &o);
    assert_null(strstr(b.p, "\"words\""));
    sb_free(&b);
    am_result_free(r);
}

static void test_subtitles_from_words(void **state) {
    (void)state;
    am_result *r = make_word_result();
    am_writer_options o = {0, 0, 0, 0, NULL};
    expect_output(r, AM_FORMAT_SRT, WORDS_SRT_DEFAULT);
    expect_output(r, AM_FORMAT_VTT, WORDS_VTT_DEFAULT);
    expect_output_ex(r, AM_FORMAT_SRT, &o, WORDS_SRT_DEFAULT);
    o.max_line_width = 20;
    o.max_line_count = 2;
    expect_output_ex(r, AM_FORMAT_SRT, &o, WORDS_SRT_W20_C2);
    expect_output_ex(r, AM_FORMAT_VTT, &o, WORDS_VTT_W20_C2);
    o.highlight_words = 1;
    expect_output_ex(r, AM_FORMAT_VTT, &o, WORDS_VTT_HL_W20_C2);
    o = (am_writer_options){20, 0, 0, 0, NULL};
    expect_output_ex(r, AM_FORMAT_SRT, &o, WORDS_SRT_W20);
    o = (am_writer_options){0, 0, 3, 0, NULL};
    expect_output_ex(r, AM_FORMAT_SRT, &o, WORDS_SRT_WPL3);
    /* txt, tsv and json ignore the layout options */
    o = (am_writer_options){20, 2, 3, 1, NULL};
    size_t n1, n2;
    for (int f = AM_FORMAT_TXT; f <= AM_FORMAT_TSV; f++) {
        if (f == AM_FORMAT_SRT || f == AM_FORMAT_VTT) continue;
        char *a = write_to_memory(r, (am_format)f, &n1), *b = write_to_memory_ex(r, (am_format)f, &o, &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(a, b, n1);
        free(a);
        free(b);
    }
    /* negative options are rejected */
    o = (am_writer_options){-1, 0, 0, 0, NULL};
    assert_int_equal(am_write_result_ex(r, AM_FORMAT_SRT, &o, stdout), AM_E_INVALID_ARG);
    am_result_free(r);

    /* without words the options are ignored: one cue per segment */
    am_result *plain = make_result();
    o = (am_writer_options){5, 1, 1, 1, NULL};
    size_t n3, n4;
    for (int f = AM_FORMAT_SRT; f <= AM_FORMAT_VTT; f++) {
        char *a = write_to_memory(plain, (am_format)f, &n3), *b = write_to_memory_ex(plain, (am_format)f, &o, &n4);
        assert_int_equal(n3, n4);
        assert_memory_equal(a, b, n3);
        free(a);
        free(b);
    }
    am_result_free(plain);
}

/* Highlighting keeps a word's leading whitespace (including the "\n" of a line break) outside the
 * <u> tags; a first word that starts late gets an unhighlighted cue for the gap. */
static void test_highlight_details(void **state) {
    (void)state;
    am_result *r = calloc(1, sizeof *r);
    static const wdef w[] = {{" a", 1.0, 1.5}, {" bb", 2.0, 2.5}, {" c", 2.5, 3.0}};
    add_word_segment(r, 0, 0.0, 3.0, w, 3);
    am_writer_options o = {4, 2, 0, 1, NULL};
    expect_output_ex(r, AM_FORMAT_SRT, &o,
                     "1\n00:00:01,000 --> 00:00:01,500\n<u>a</u> bb\nc\n\n"
                     "2\n00:00:01,500 --> 00:00:02,000\na bb\nc\n\n"
                     "3\n00:00:02,000 --> 00:00:02,500\na <u>bb</u>\nc\n\n"
                     "4\n00:00:02,500 --> 00:00:03,000\na bb\n<u>c</u>\n\n");
    am_result_free(r);
}

/* A strict UTF-8 check, independent of the writers' code. */
static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned cp;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* CJK characters whose bytes are split across tokens: the decoder joins the tokens' bytes, so a
 * segment's text holds whole characters even though no single token does, while a word (or a text
 * cut at a window edge) may end inside a character.  Every writer must emit valid UTF-8, keep the
 * whole characters and replace only the broken pieces. */
static void test_utf8_split_tokens(void **state) {
    (void)state;
    /* 日本語 = E6 97 A5 | E6 9C AC | E8 AA 9E, as byte-level BPE tokens might cut it */
    static const char *const pieces[] = {" \xE6\x97", "\xA5\xE6", "\x9C\xAC\xE8\xAA", "\x9E", " ok"};
    char text[64] = "";
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) strcat(text, pieces[i]);
    assert_string_equal(text, " \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E ok");

    am_result *r = calloc(1, sizeof *r);
    am_word words[3] = {{0.0, 0.5, " \xE6\x97\xA5\xE6", 0.5f, NULL},          /* ends inside 本 */
                        {0.5, 1.0, "\x9C\xAC\xE8\xAA\x9E", 0.5f, NULL},       /* starts inside it */
                        {1.0, 1.5, " ok", 0.5f, NULL}};
    am_segment s = {0};
    s.end = 1.5;
    s.text = text;
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    s.start = 1.5;
    s.end = 2.0;
    s.text = "\xE8\xAA"; /* a window cut inside 語 */
    assert_int_equal(result_add_segment(r, &s), AM_OK);
    am_writer_options o = {10, 2, 0, 1, NULL};
    for (int with_words = 0; with_words < 2; with_words++) {
        for (int f = AM_FORMAT_TXT; f <= AM_FORMAT_TSV; f++) {
            size_t n;
            char *out = write_to_memory_ex(r, (am_format)f, &o, &n);
            if (!valid_utf8((const unsigned char *)out, n)) print_error("format %d: %.*s\n", f, (int)n, out);
            assert_true(valid_utf8((const unsigned char *)out, n));
            if (!with_words || f == AM_FORMAT_TXT || f == AM_FORMAT_TSV || f == AM_FORMAT_JSON)
                assert_non_null(strstr(out, "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E ok")); /* whole text kept */
            free(out);
        }
        if (!with_words) {
            /* now the same text with words cut inside a character */
            am_result_free(r);
            r = calloc(1, sizeof *r);
            s.start = 0.0;
            s.end = 1.5;
            s.text = text;
            s.words = words;
            s.n_words = 3;
            assert_int_equal(result_add_segment(r, &s), AM_OK);
        }
    }
    /* the broken word boundaries become U+FFFD, the whole characters stay */
    expect_output(r, AM_FORMAT_SRT,
                  "1\n00:00:00,000 --> 00:00:01,500\n\xE6\x97\xA5\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xE8\xAA\x9E ok\n\n");
    am_result_free(r);
}

static void test_language_probs(void **state) {
    (void)state;
    am_result *r = calloc(1, sizeof *r);
    assert_int_equal(am_result_n_languages(r), 0);
    assert_null(am_result_language_code(r, 0));
    static const char *const codes[] = {"de", "en", "fr", NULL, "toolongcode", "es"};
    static const float probs[] = {0.1f, 0.6f, 0.1f, 0.05f, NAN, 0.15f};
    result_set_language_probs(r, codes, probs, 6);
    assert_int_equal(am_result_n_languages(r), 6);
    const char *want[] = {"en", "es", "de", "fr", "", "toolong"};
    const float wantp[] = {0.6f, 0.15f, 0.1f, 0.1f, 0.05f};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(am_result_language_code(r, i), want[i]);
        if (i < 5) assert_true(am_result_language_prob(r, i) == wantp[i]);
    }
    assert_true(isnan(am_result_language_prob(r, 5)));
    assert_null(am_result_language_code(r, 6));
    assert_null(am_result_language_code(r, -1));
    assert_true(am_result_language_prob(r, 6) == 0.0f);
    /* at most 128 kept; setting again replaces */
    const char *many_codes[200];
    float many_probs[200];
    for (int i = 0; i < 200; i++) {
        many_codes[i] = "xx";
        many_probs[i] = (float)i;
    }
    result_set_language_probs(r, many_codes, many_probs, 200);
    assert_int_equal(am_result_n_languages(r), 128);
    assert_true(am_result_language_prob(r, 0) == 127.0f);
    assert_true(am_result_language_prob(r, 127) == 0.0f);
    result_set_language_probs(r, NULL, NULL, 3);
    assert_int_equal(am_result_n_languages(r), 0);
    am_result_free(r);
    assert_int_equal(am_result_n_languages(NULL), 0);
    assert_null(am_result_language_code(NULL, 0));
    assert_true(am_result_language_prob(NULL, 0) == 0.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_accessors),
        cmocka_unit_test(test_txt),
        cmocka_unit_test(test_srt),
        cmocka_unit_test(test_vtt),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_ids_from_index),
        cmocka_unit_test(test_utf8_repair),
        cmocka_unit_test(test_timestamps_and_empty),
        cmocka_unit_test(test_format_names_and_errors),
        cmocka_unit_test(test_tmpfile),
        cmocka_unit_test(test_tsv),
        cmocka_unit_test(test_words_deep_copy),
        cmocka_unit_test(test_json_words),
        cmocka_unit_test(test_json_verbose_layout),
        cmocka_unit_test(test_subtitles_from_words),
        cmocka_unit_test(test_highlight_details),
        cmocka_unit_test(test_utf8_split_tokens),
        cmocka_unit_test(test_language_probs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
