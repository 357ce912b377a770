/* test_writers.c — am_result building/accessors and the txt/srt/vtt/json writers, byte for byte. */
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
#include "decode/result.h"

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
    assert_int_equal(am_format_from_name("js"), -1);
    assert_int_equal(am_format_from_name("jsonx"), -1);
    assert_int_equal(am_format_from_name(""), -1);
    assert_int_equal(am_format_from_name(NULL), -1);
    assert_string_equal(am_format_extension(AM_FORMAT_TXT), "txt");
    assert_string_equal(am_format_extension(AM_FORMAT_SRT), "srt");
    assert_string_equal(am_format_extension(AM_FORMAT_VTT), "vtt");
    assert_string_equal(am_format_extension(AM_FORMAT_JSON), "json");
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
    for (int f = AM_FORMAT_TXT; f <= AM_FORMAT_JSON; f++) {
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_accessors),
        cmocka_unit_test(test_txt),
        cmocka_unit_test(test_srt),
        cmocka_unit_test(test_vtt),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_utf8_repair),
        cmocka_unit_test(test_timestamps_and_empty),
        cmocka_unit_test(test_format_names_and_errors),
        cmocka_unit_test(test_tmpfile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
