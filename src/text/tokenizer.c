/* tokenizer.c — Whisper's byte-level BPE vocabulary (see tokenizer.h).
 *
 * Storage: the bytes of every regular token (id < eot) live in one pool; `offsets`/`lens` index it
 * by id.  An open-addressing hash table maps byte strings back to ids for encoding.
 *
 * Encoding follows tiktoken, which is what Whisper itself uses:
 *   1. Pre-tokenise the text with GPT-2's regular expression
 *        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      (implemented by hand in next_piece()).
 *   2. Split each piece into single bytes and repeatedly merge the adjacent pair whose
 *      concatenation is the token with the lowest id (the "rank" of a merge is the id of its
 *      result), until no adjacent pair forms a token.
 *
 * Unicode classes for \p{L}, \p{N} and \s: ASCII is exact.  Non-ASCII code points are letters,
 * except those listed in k_cp_ranges, a small table that is exact (Unicode 14) inside these blocks:
 * U+0080-03FF (Latin-1, Latin Extended-A/B, IPA, spacing modifiers, combining marks, Greek),
 * U+0483-0489 (Cyrillic marks), U+0590-06FF (Hebrew, Arabic), U+0964-096F (Devanagari dandas and
 * digits), U+09E6-09EF (Bengali digits), U+0E3F and U+0E4F-0E5B (Thai symbols and digits), U+1680,
 * U+1DC0-1DFF (combining marks), U+2000-2BFF (punctuation, super/subscripts, currency, letterlike,
 * number forms, arrows, maths, technical, box drawing, shapes, miscellaneous symbols, dingbats),
 * U+2E00-2E7F, U+3000-303F (CJK symbols and punctuation), U+FE00-FE0F (variation selectors),
 * U+FE30-FE6F, U+FEFF, U+FF00-FFEF (half/fullwidth forms) and U+1F000-1FAFF (emoji and symbols).
 * KNOWN DIVERGENCE: outside those blocks, combining marks, punctuation, digits and symbols of other
 * scripts (e.g. Devanagari vowel signs, Tamil digits) are taken as letters, so pre-tokens there can
 * differ from a full-Unicode regex engine such as Hugging Face tokenizers'.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "text/tokenizer.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "amanuensis.h"
#include "common/util.h"
#include "text/utf8.h"

#define N_REGULAR_EN 50256    /* regular tokens of the English-only vocabulary (eot = 50256) */
#define N_REGULAR_MULTI 50257 /* multilingual vocabularies (eot = 50257)                     */
#define N_TIMESTAMPS 1501     /* <|0.00|> .. <|30.00|>                                       */
#define MAX_LANGUAGES 100

struct am_tokenizer {
    int n_vocab;
    int eot;          /* == number of regular tokens */
    char *pool;       /* bytes of all regular tokens */
    size_t pool_len, pool_cap;
    size_t *offsets;  /* [eot] offset of each token in pool */
    int *lens;        /* [eot] length, -1 while unset during loading */
    int *slots;       /* hash table of ids (-1 = empty), size slot_mask + 1 (power of two) */
    size_t slot_mask;
};

/* ---- languages ------------------------------------------------------------------------------ */

static const char *const k_languages[MAX_LANGUAGES] = {
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id",
    "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg",
    "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br",
    "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so",
    "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt",
    "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue"};

const char *tokenizer_language_code(int index) {
    return index >= 0 && index < MAX_LANGUAGES ? k_languages[index] : NULL;
}

int tokenizer_language_index(const char *code) {
    if (!code) return -1;
    for (int i = 0; i < MAX_LANGUAGES; i++)
        if (strcmp(k_languages[i], code) == 0) return i;
    return -1;
}

/* ---- special tokens ------------------------------------------------------------------------- */

static void specials_for(int n_vocab, am_special_tokens *s) {
    int multilingual = n_vocab >= 51865;
    s->eot = multilingual ? N_REGULAR_MULTI : N_REGULAR_EN;
    s->sot = s->eot + 1;
    s->timestamp_begin = n_vocab - N_TIMESTAMPS;
    s->no_timestamps = s->timestamp_begin - 1;
    s->no_speech = s->timestamp_begin - 2;
    s->sot_prev = s->timestamp_begin - 3;
    s->sot_lm = s->timestamp_begin - 4;
    s->transcribe = s->timestamp_begin - 5;
    s->translate = s->timestamp_begin - 6;
    s->lang_begin = s->sot + 1;
    s->n_languages = s->translate - s->lang_begin;
}

/* The vocabulary sizes this layout makes sense for: 1..100 language tokens. */
static int check_n_vocab(int n_vocab, char *err, size_t err_size) {
    if (n_vocab > 0 && n_vocab < INT_MAX / 2) {
        am_special_tokens s;
        specials_for(n_vocab, &s);
        if (s.n_languages >= 1 && s.n_languages <= MAX_LANGUAGES) return 0;
    }
    am_fail(err, err_size, AM_E_MODEL, "unsupported vocabulary size n_vocab=%d (expected 51864, 51865 or 51866)",
            n_vocab);
    return -1;
}

int tokenizer_n_vocab(const am_tokenizer *tok) { return tok ? tok->n_vocab : 0; }
int tokenizer_is_multilingual(const am_tokenizer *tok) { return tok && tok->eot == N_REGULAR_MULTI; }

void tokenizer_specials(const am_tokenizer *tok, am_special_tokens *out) {
    if (!out) return;
    if (!tok) {
        memset(out, 0, sizeof *out);
        return;
    }
    specials_for(tok->n_vocab, out);
}

/* ---- construction --------------------------------------------------------------------------- */

void tokenizer_free(am_tokenizer *tok) {
    if (!tok) return;
    free(tok->pool);
    free(tok->offsets);
    free(tok->lens);
    free(tok->slots);
    free(tok);
}

static am_tokenizer *tokenizer_new(int n_vocab, char *err, size_t err_size) {
    if (check_n_vocab(n_vocab, err, err_size) != 0) return NULL;
    am_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) goto nomem;
    am_special_tokens s;
    specials_for(n_vocab, &s);
    tok->n_vocab = n_vocab;
    tok->eot = s.eot;
    tok->offsets = calloc((size_t)tok->eot, sizeof *tok->offsets);
    tok->lens = malloc((size_t)tok->eot * sizeof *tok->lens);
    tok->pool_cap = (size_t)tok->eot * 8;
    tok->pool = malloc(tok->pool_cap);
    if (!tok->offsets || !tok->lens || !tok->pool) goto nomem;
    for (int i = 0; i < tok->eot; i++) tok->lens[i] = -1;
    return tok;
nomem:
    tokenizer_free(tok);
    am_fail(err, err_size, AM_E_NOMEM, "out of memory for the vocabulary");
    return NULL;
}

/* Record the bytes of regular token `id`.  Returns 0, or -1 with a message. */
static int set_token(am_tokenizer *tok, int id, const char *bytes, size_t len, const char *what, char *err,
                     size_t err_size) {
    if (id < 0 || id >= tok->eot) return 0; /* specials carry no bytes */
    if (tok->lens[id] >= 0) {
        am_fail(err, err_size, AM_E_MODEL, "%s: token id %d appears twice", what, id);
        return -1;
    }
    if (len > 1024) {
        am_fail(err, err_size, AM_E_MODEL, "%s: token %d is implausibly long (%zu bytes)", what, id, len);
        return -1;
    }
    if (tok->pool_len + len > tok->pool_cap) {
        size_t cap = tok->pool_cap * 2 + len;
        char *p = realloc(tok->pool, cap);
        if (!p) {
            am_fail(err, err_size, AM_E_NOMEM, "out of memory for the vocabulary");
            return -1;
        }
        tok->pool = p;
        tok->pool_cap = cap;
    }
    if (len) memcpy(tok->pool + tok->pool_len, bytes, len);
    tok->offsets[id] = tok->pool_len;
    tok->lens[id] = (int)len;
    tok->pool_len += len;
    return 0;
}

/* FNV-1a over the bytes. */
static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* Id of the regular token with exactly these bytes, or -1. */
static int lookup(const am_tokenizer *tok, const char *s, size_t n) {
    size_t i = hash_bytes(s, n) & tok->slot_mask;
    for (;;) {
        int id = tok->slots[i];
        if (id < 0) return -1;
        if ((size_t)tok->lens[id] == n && memcmp(tok->pool + tok->offsets[id], s, n) == 0) return id;
        i = (i + 1) & tok->slot_mask;
    }
}

/* Check every id got bytes and build the hash table.  On a duplicate byte string the lower id wins,
 * as in a rank table.  The 256 single-byte tokens BPE starts from are not required here: some ggml
 * files store tokens that are not valid UTF-8 as U+FFFD text, and those vocabularies can still
 * decode; tokenizer_encode fails on text needing a missing byte. */
static int finish(am_tokenizer *tok, const char *what, char *err, size_t err_size) {
    for (int id = 0; id < tok->eot; id++)
        if (tok->lens[id] < 0) {
            am_fail(err, err_size, AM_E_MODEL, "%s: token id %d is missing (expected %d regular tokens)", what, id,
                    tok->eot);
            return -1;
        }
    size_t cap = 1;
    while (cap < (size_t)tok->eot * 2) cap <<= 1;
    tok->slots = malloc(cap * sizeof *tok->slots);
    if (!tok->slots) {
        am_fail(err, err_size, AM_E_NOMEM, "out of memory for the vocabulary");
        return -1;
    }
    for (size_t i = 0; i < cap; i++) tok->slots[i] = -1;
    tok->slot_mask = cap - 1;
    for (int id = 0; id < tok->eot; id++) {
        const char *s = tok->pool + tok->offsets[id];
        size_t n = (size_t)tok->lens[id];
        if (n == 0 || lookup(tok, s, n) >= 0) continue; /* empty, or a duplicate of a lower id */
        size_t i = hash_bytes(s, n) & tok->slot_mask;
        while (tok->slots[i] >= 0) i = (i + 1) & tok->slot_mask;
        tok->slots[i] = id;
    }
    return 0;
}

am_tokenizer *tokenizer_from_bytes(const char *const *tokens, const int *lens, int n_tokens, int n_vocab,
                                   char *err, size_t err_size) {
    if (!tokens || !lens || n_tokens < 0) {
        am_fail(err, err_size, AM_E_INVALID_ARG, "tokenizer_from_bytes: NULL tokens");
        return NULL;
    }
    am_tokenizer *tok = tokenizer_new(n_vocab, err, err_size);
    if (!tok) return NULL;
    if (n_tokens < tok->eot) {
        am_fail(err, err_size, AM_E_MODEL, "vocabulary has %d tokens, expected at least %d", n_tokens, tok->eot);
        goto fail;
    }
    for (int id = 0; id < tok->eot; id++) {
        if (lens[id] < 0 || (lens[id] > 0 && !tokens[id])) {
            am_fail(err, err_size, AM_E_MODEL, "vocabulary: token %d has no bytes", id);
            goto fail;
        }
        if (set_token(tok, id, tokens[id], (size_t)lens[id], "vocabulary", err, err_size) != 0) goto fail;
    }
    if (finish(tok, "vocabulary", err, err_size) != 0) goto fail;
    return tok;
fail:
    tokenizer_free(tok);
    return NULL;
}

/* ---- GPT-2 byte <-> unicode ----------------------------------------------------------------- */

/* GPT-2 writes each byte as a printable code point: bytes 33..126, 161..172 and 174..255 stand for
 * themselves; the other 68 bytes (0..32, 127..160, 173), in increasing order, become 256, 257, ...
 * Returns the byte a code point stands for, or -1. */
static int gpt2_cp_to_byte(uint32_t cp) {
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return (int)cp;
    if (cp < 256 || cp >= 256 + 68) return -1;
    uint32_t k = cp - 256;
    if (k < 33) return (int)k;              /* 0..32    */
    if (k < 33 + 34) return (int)(127 + k - 33); /* 127..160 */
    return 173;
}

/* Turn a GPT-2 encoded token string (UTF-8) into raw bytes, in place (the result is never longer).
 * Returns the byte count, or -1 if the string is not valid UTF-8 of GPT-2 code points. */
static long gpt2_string_to_bytes(char *s, size_t n) {
    size_t in = 0, out = 0;
    while (in < n) {
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)s + in, n - in, &cp);
        int b = cp != UTF8_INVALID ? gpt2_cp_to_byte(cp) : -1;
        if (b < 0) return -1;
        s[out++] = (char)b;
        in += k;
    }
    return (long)out;
}

/* Store a token given in GPT-2 encoding (the buffer is rewritten). */
static int set_gpt2_token(am_tokenizer *tok, int id, char *s, size_t n, const char *what, char *err,
                          size_t err_size) {
    if (id < 0 || id >= tok->eot) return 0;
    long len = gpt2_string_to_bytes(s, n);
    if (len < 0) {
        am_fail(err, err_size, AM_E_MODEL, "%s: token %d is not a GPT-2 byte-level string", what, id);
        return -1;
    }
    return set_token(tok, id, s, (size_t)len, what, err, err_size);
}

/* ---- vocabulary.txt ------------------------------------------------------------------------- */

/* One token per line, line i = id i.  Only the regular tokens are read; if line `eot` is present it
 * must be <|endoftext|>, which catches an n_vocab that does not fit the file. */
static int load_txt(am_tokenizer *tok, unsigned char *data, size_t size, const char *path, char *err,
                    size_t err_size) {
    size_t pos = 0;
    int id = 0;
    while (pos < size && id <= tok->eot) {
        size_t end = pos;
        while (end < size && data[end] != '\n') end++;
        size_t len = end - pos;
        if (len && data[pos + len - 1] == '\r') len--;
        if (id == tok->eot) {
            if (len != 13 || memcmp(data + pos, "<|endoftext|>", 13) != 0) {
                am_fail(err, err_size, AM_E_MODEL, "%s: token %d is not <|endoftext|> (n_vocab %d does not match)",
                        path, id, tok->n_vocab);
                return -1;
            }
        } else if (set_gpt2_token(tok, id, (char *)data + pos, len, path, err, err_size) != 0) {
            return -1;
        }
        id++;
        pos = end + 1;
    }
    if (id < tok->eot) {
        am_fail(err, err_size, AM_E_MODEL, "%s: %d tokens, expected at least %d", path, id, tok->eot);
        return -1;
    }
    return 0;
}

/* ---- a minimal JSON reader (for vocabulary.json and tokenizer.json) ------------------------- */

typedef struct json_cursor {
    const unsigned char *p, *end;
} json_cursor;

typedef struct byte_buf {
    char *data;
    size_t len, cap;
} byte_buf;

static int buf_push(byte_buf *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

static void json_ws(json_cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* Consume `ch` (after whitespace); 0 if it was there. */
static int json_expect(json_cursor *c, char ch) {
    json_ws(c);
    if (c->p < c->end && *c->p == (unsigned char)ch) {
        c->p++;
        return 0;
    }
    return -1;
}

static int hex4(const unsigned char *p, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int d;
        if (p[i] >= '0' && p[i] <= '9') d = p[i] - '0';
        else if (p[i] >= 'a' && p[i] <= 'f') d = p[i] - 'a' + 10;
        else if (p[i] >= 'A' && p[i] <= 'F') d = p[i] - 'A' + 10;
        else return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

/* Parse a JSON string into `out` (UTF-8, escapes resolved, not NUL-terminated). */
static int json_string(json_cursor *c, byte_buf *out) {
    out->len = 0;
    if (json_expect(c, '"') != 0) return -1;
    while (c->p < c->end) {
        unsigned char ch = *c->p++;
        if (ch == '"') return 0;
        if (ch < 0x20) return -1;
        if (ch != '\\') {
            if (buf_push(out, &ch, 1) != 0) return -1;
            continue;
        }
        if (c->p >= c->end) return -1;
        unsigned char e = *c->p++;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char k_unescaped[] = "\"\\/\b\f\n\r\t";
            if (buf_push(out, &k_unescaped[simple - "\"\\/bfnrt"], 1) != 0) return -1;
            continue;
        }
        if (e != 'u' || c->end - c->p < 4) return -1;
        uint32_t cp, lo;
        if (hex4(c->p, &cp) != 0) return -1;
        c->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* a surrogate pair */
            if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' || hex4(c->p + 2, &lo) != 0 ||
                lo < 0xDC00 || lo > 0xDFFF)
                return -1;
            c->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return -1;
        }
        unsigned char u[4];
        if (buf_push(out, u, utf8_encode(cp, u)) != 0) return -1;
    }
    return -1;
}

/* Parse an integer value. */
static int json_int(json_cursor *c, long *v) {
    json_ws(c);
    int neg = 0;
    if (c->p < c->end && *c->p == '-') neg = 1, c->p++;
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
    long x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (x > 100000000) return -1;
        x = x * 10 + (*c->p++ - '0');
    }
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E')) return -1;
    *v = neg ? -x : x;
    return 0;
}

/* Skip any JSON value; nesting is limited so that hostile input cannot exhaust the stack. */
static int json_skip(json_cursor *c, byte_buf *scratch, int depth) {
    if (depth > 64) return -1;
    json_ws(c);
    if (c->p >= c->end) return -1;
    unsigned char ch = *c->p;
    if (ch == '"') return json_string(c, scratch);
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        if (json_expect(c, close) == 0) return 0;
        for (;;) {
            if (ch == '{' && (json_string(c, scratch) != 0 || json_expect(c, ':') != 0)) return -1;
            if (json_skip(c, scratch, depth + 1) != 0) return -1;
            if (json_expect(c, ',') == 0) continue;
            return json_expect(c, close);
        }
    }
    /* number or literal: a run of the characters they may contain */
    const unsigned char *start = c->p;
    while (c->p < c->end && strchr("+-.0123456789eEtruefalsn", *c->p) && *c->p) c->p++;
    return c->p > start ? 0 : -1;
}

/* vocabulary.json: an array of GPT-2 encoded strings, index = id. */
static int load_json_array(am_tokenizer *tok, json_cursor *c, const char *path, char *err, size_t err_size) {
    byte_buf s = {0};
    int id = 0, rc = -1;
    if (json_expect(c, '[') != 0) goto bad;
    if (json_expect(c, ']') != 0) {
        for (;;) {
            if (json_string(c, &s) != 0) goto bad;
            if (id == tok->eot && (s.len != 13 || memcmp(s.data, "<|endoftext|>", 13) != 0)) {
                am_fail(err, err_size, AM_E_MODEL, "%s: token %d is not <|endoftext|> (n_vocab %d does not match)",
                        path, id, tok->n_vocab);
                goto out;
            }
            if (set_gpt2_token(tok, id, s.data, s.len, path, err, err_size) != 0) goto out;
            if (id < INT_MAX) id++;
            if (json_expect(c, ',') == 0) continue;
            if (json_expect(c, ']') != 0) goto bad;
            break;
        }
    }
    if (id < tok->eot) {
        am_fail(err, err_size, AM_E_MODEL, "%s: %d tokens, expected at least %d", path, id, tok->eot);
        goto out;
    }
    rc = 0;
    goto out;
bad:
    am_fail(err, err_size, AM_E_MODEL, "%s: malformed JSON near token %d", path, id);
out:
    free(s.data);
    return rc;
}

/* tokenizer.json (Hugging Face): the object model.vocab maps GPT-2 encoded strings to ids. */
static int load_hf_json(am_tokenizer *tok, json_cursor *c, const char *path, char *err, size_t err_size) {
    byte_buf key = {0}, scratch = {0};
    int rc = -1, found = 0;
    if (json_expect(c, '{') != 0) goto bad;
    if (json_expect(c, '}') != 0) {
        for (;;) { /* top-level members */
            if (json_string(c, &key) != 0 || json_expect(c, ':') != 0) goto bad;
            if (key.len == 5 && memcmp(key.data, "model", 5) == 0 && json_expect(c, '{') == 0 &&
                json_expect(c, '}') != 0) {
                for (;;) { /* members of "model" */
                    if (json_string(c, &key) != 0 || json_expect(c, ':') != 0) goto bad;
                    if (key.len == 5 && memcmp(key.data, "vocab", 5) == 0) {
                        if (json_expect(c, '{') != 0) goto bad;
                        found = 1;
                        if (json_expect(c, '}') != 0) {
                            for (;;) { /* "token": id */
                                long id;
                                if (json_string(c, &key) != 0 || json_expect(c, ':') != 0 || json_int(c, &id) != 0)
                                    goto bad;
                                if (id >= 0 && id < tok->eot &&
                                    set_gpt2_token(tok, (int)id, key.data, key.len, path, err, err_size) != 0)
                                    goto out;
                                if (json_expect(c, ',') == 0) continue;
                                if (json_expect(c, '}') != 0) goto bad;
                                break;
                            }
                        }
                    } else if (json_skip(c, &scratch, 0) != 0) {
                        goto bad;
                    }
                    if (json_expect(c, ',') == 0) continue;
                    if (json_expect(c, '}') != 0) goto bad;
                    break;
                }
            } else if (!(key.len == 5 && memcmp(key.data, "model", 5) == 0) && json_skip(c, &scratch, 0) != 0) {
                goto bad;
            }
            if (json_expect(c, ',') == 0) continue;
            if (json_expect(c, '}') != 0) goto bad;
            break;
        }
    }
    if (!found) {
        am_fail(err, err_size, AM_E_MODEL, "%s: no model.vocab object", path);
        goto out;
    }
    rc = 0;
    goto out;
bad:
    am_fail(err, err_size, AM_E_MODEL, "%s: malformed JSON", path);
out:
    free(key.data);
    free(scratch.data);
    return rc;
}

/* ---- loading a CTranslate2 directory -------------------------------------------------------- */

enum vocab_format { VOCAB_JSON_ARRAY, VOCAB_TXT, VOCAB_HF_JSON };

am_tokenizer *tokenizer_load_ct2(const char *model_dir, int n_vocab, char *err, size_t err_size) {
    static const struct {
        const char *name;
        enum vocab_format format;
    } k_files[] = {{"vocabulary.json", VOCAB_JSON_ARRAY}, {"vocabulary.txt", VOCAB_TXT}, {"tokenizer.json", VOCAB_HF_JSON}};
    if (!model_dir) {
        am_fail(err, err_size, AM_E_INVALID_ARG, "tokenizer_load_ct2: NULL model directory");
        return NULL;
    }
    size_t path_size = strlen(model_dir) + 32;
    char *path = malloc(path_size);
    if (!path) {
        am_fail(err, err_size, AM_E_NOMEM, "out of memory");
        return NULL;
    }
    size_t which = 0;
    struct stat st;
    for (; which < sizeof k_files / sizeof k_files[0]; which++) {
        snprintf(path, path_size, "%s/%s", model_dir, k_files[which].name);
        if (stat(path, &st) == 0) break;
    }
    if (which == sizeof k_files / sizeof k_files[0]) {
        am_fail(err, err_size, AM_E_IO, "%s: no vocabulary.json, vocabulary.txt or tokenizer.json", model_dir);
        free(path);
        return NULL;
    }
    unsigned char *data = NULL;
    size_t size = 0;
    am_tokenizer *tok = NULL;
    if (am_read_file(path, &data, &size, err, err_size) != AM_OK) goto fail;
    tok = tokenizer_new(n_vocab, err, err_size);
    if (!tok) goto fail;
    json_cursor c = {data, data + size};
    int rc;
    switch (k_files[which].format) {
    case VOCAB_TXT: rc = load_txt(tok, data, size, path, err, err_size); break;
    case VOCAB_JSON_ARRAY: rc = load_json_array(tok, &c, path, err, err_size); break;
    default: rc = load_hf_json(tok, &c, path, err, err_size); break;
    }
    if (rc != 0 || finish(tok, path, err, err_size) != 0) goto fail;
    free(data);
    free(path);
    return tok;
fail:
    tokenizer_free(tok);
    free(data);
    free(path);
    return NULL;
}

/* ---- decoding ------------------------------------------------------------------------------- */

const char *tokenizer_token_bytes(const am_tokenizer *tok, int id, int *len) {
    if (!tok || id < 0 || id >= tok->eot) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = tok->lens[id];
    return tok->pool + tok->offsets[id];
}

char *tokenizer_decode(const am_tokenizer *tok, const int *ids, int n_ids) {
    if (!tok || (n_ids > 0 && !ids)) return NULL;
    size_t total = 0;
    for (int i = 0; i < n_ids; i++)
        if (ids[i] >= 0 && ids[i] < tok->eot) total += (size_t)tok->lens[ids[i]];
    char *out = malloc(total + 1);
    if (!out) return NULL;
    size_t pos = 0;
    for (int i = 0; i < n_ids; i++)
        if (ids[i] >= 0 && ids[i] < tok->eot) {
            memcpy(out + pos, tok->pool + tok->offsets[ids[i]], (size_t)tok->lens[ids[i]]);
            pos += (size_t)tok->lens[ids[i]];
        }
    out[pos] = 0;
    return out;
}

/* ---- pre-tokenisation ----------------------------------------------------------------------- */

enum cp_class { CP_LETTER, CP_NUMBER, CP_SPACE, CP_OTHER };

/* Non-letter code points of the blocks listed at the top of this file (generated from the Unicode
 * 14 database: N* -> NUMBER, White_Space -> SPACE, everything else but L* -> OTHER), sorted. */
static const struct cp_range {
    uint32_t lo, hi;
    unsigned char cls;
} k_cp_ranges[] = {
    {0x0080, 0x0084, CP_OTHER}, {0x0085, 0x0085, CP_SPACE}, {0x0086, 0x009F, CP_OTHER}, {0x00A0, 0x00A0, CP_SPACE},
    {0x00A1, 0x00A9, CP_OTHER}, {0x00AB, 0x00B1, CP_OTHER}, {0x00B2, 0x00B3, CP_NUMBER}, {0x00B4, 0x00B4, CP_OTHER},
    {0x00B6, 0x00B8, CP_OTHER}, {0x00B9, 0x00B9, CP_NUMBER}, {0x00BB, 0x00BB, CP_OTHER}, {0x00BC, 0x00BE, CP_NUMBER},
    {0x00BF, 0x00BF, CP_OTHER}, {0x00D7, 0x00D7, CP_OTHER}, {0x00F7, 0x00F7, CP_OTHER}, {0x02C2, 0x02C5, CP_OTHER},
    {0x02D2, 0x02DF, CP_OTHER}, {0x02E5, 0x02EB, CP_OTHER}, {0x02ED, 0x02ED, CP_OTHER}, {0x02EF, 0x036F, CP_OTHER},
    {0x0375, 0x0375, CP_OTHER}, {0x0378, 0x0379, CP_OTHER}, {0x037E, 0x037E, CP_OTHER}, {0x0380, 0x0385, CP_OTHER},
    {0x0387, 0x0387, CP_OTHER}, {0x038B, 0x038B, CP_OTHER}, {0x038D, 0x038D, CP_OTHER}, {0x03A2, 0x03A2, CP_OTHER},
    {0x03F6, 0x03F6, CP_OTHER}, {0x0483, 0x0489, CP_OTHER}, {0x0590, 0x05CF, CP_OTHER}, {0x05EB, 0x05EE, CP_OTHER},
    {0x05F3, 0x061F, CP_OTHER}, {0x064B, 0x065F, CP_OTHER}, {0x0660, 0x0669, CP_NUMBER}, {0x066A, 0x066D, CP_OTHER},
    {0x0670, 0x0670, CP_OTHER}, {0x06D4, 0x06D4, CP_OTHER}, {0x06D6, 0x06E4, CP_OTHER}, {0x06E7, 0x06ED, CP_OTHER},
    {0x06F0, 0x06F9, CP_NUMBER}, {0x06FD, 0x06FE, CP_OTHER}, {0x0964, 0x0965, CP_OTHER}, {0x0966, 0x096F, CP_NUMBER},
    {0x09E6, 0x09EF, CP_NUMBER}, {0x0E3F, 0x0E3F, CP_OTHER}, {0x0E4F, 0x0E4F, CP_OTHER}, {0x0E50, 0x0E59, CP_NUMBER},
    {0x0E5A, 0x0E5B, CP_OTHER}, {0x1680, 0x1680, CP_SPACE}, {0x1DC0, 0x1DFF, CP_OTHER}, {0x2000, 0x200A, CP_SPACE},
    {0x200B, 0x2027, CP_OTHER}, {0x2028, 0x2029, CP_SPACE}, {0x202A, 0x202E, CP_OTHER}, {0x202F, 0x202F, CP_SPACE},
    {0x2030, 0x205E, CP_OTHER}, {0x205F, 0x205F, CP_SPACE}, {0x2060, 0x206F, CP_OTHER}, {0x2070, 0x2070, CP_NUMBER},
    {0x2072, 0x2073, CP_OTHER}, {0x2074, 0x2079, CP_NUMBER}, {0x207A, 0x207E, CP_OTHER}, {0x2080, 0x2089, CP_NUMBER},
    {0x208A, 0x208F, CP_OTHER}, {0x209D, 0x2101, CP_OTHER}, {0x2103, 0x2106, CP_OTHER}, {0x2108, 0x2109, CP_OTHER},
    {0x2114, 0x2114, CP_OTHER}, {0x2116, 0x2118, CP_OTHER}, {0x211E, 0x2123, CP_OTHER}, {0x2125, 0x2125, CP_OTHER},
    {0x2127, 0x2127, CP_OTHER}, {0x2129, 0x2129, CP_OTHER}, {0x212E, 0x212E, CP_OTHER}, {0x213A, 0x213B, CP_OTHER},
    {0x2140, 0x2144, CP_OTHER}, {0x214A, 0x214D, CP_OTHER}, {0x214F, 0x214F, CP_OTHER}, {0x2150, 0x2182, CP_NUMBER},
    {0x2185, 0x2189, CP_NUMBER}, {0x218A, 0x245F, CP_OTHER}, {0x2460, 0x249B, CP_NUMBER}, {0x249C, 0x24E9, CP_OTHER},
    {0x24EA, 0x24FF, CP_NUMBER}, {0x2500, 0x2775, CP_OTHER}, {0x2776, 0x2793, CP_NUMBER}, {0x2794, 0x2BFF, CP_OTHER},
    {0x2E00, 0x2E2E, CP_OTHER}, {0x2E30, 0x2E7F, CP_OTHER}, {0x3000, 0x3000, CP_SPACE}, {0x3001, 0x3004, CP_OTHER},
    {0x3007, 0x3007, CP_NUMBER}, {0x3008, 0x3020, CP_OTHER}, {0x3021, 0x3029, CP_NUMBER}, {0x302A, 0x3030, CP_OTHER},
    {0x3036, 0x3037, CP_OTHER}, {0x3038, 0x303A, CP_NUMBER}, {0x303D, 0x303F, CP_OTHER}, {0xFE00, 0xFE0F, CP_OTHER},
    {0xFE30, 0xFE6F, CP_OTHER}, {0xFEFF, 0xFF0F, CP_OTHER}, {0xFF10, 0xFF19, CP_NUMBER}, {0xFF1A, 0xFF20, CP_OTHER},
    {0xFF3B, 0xFF40, CP_OTHER}, {0xFF5B, 0xFF65, CP_OTHER}, {0xFFBF, 0xFFC1, CP_OTHER}, {0xFFC8, 0xFFC9, CP_OTHER},
    {0xFFD0, 0xFFD1, CP_OTHER}, {0xFFD8, 0xFFD9, CP_OTHER}, {0xFFDD, 0xFFEF, CP_OTHER}, {0x1F000, 0x1F0FF, CP_OTHER},
    {0x1F100, 0x1F10C, CP_NUMBER}, {0x1F10D, 0x1FAFF, CP_OTHER},
};

static enum cp_class classify(uint32_t cp) {
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return CP_LETTER;
        if (cp >= '0' && cp <= '9') return CP_NUMBER;
        if (cp == ' ' || (cp >= '\t' && cp <= '\r')) return CP_SPACE;
        return CP_OTHER;
    }
    size_t lo = 0, hi = sizeof k_cp_ranges / sizeof k_cp_ranges[0];
    while (lo < hi) { /* binary search for the range containing cp */
        size_t mid = (lo + hi) / 2;
        if (cp < k_cp_ranges[mid].lo) hi = mid;
        else if (cp > k_cp_ranges[mid].hi) lo = mid + 1;
        else return (enum cp_class)k_cp_ranges[mid].cls;
    }
    return CP_LETTER;
}

/* Class and length of the code point at s[i]; an invalid byte counts as one OTHER character. */
static enum cp_class class_at(const unsigned char *s, size_t n, size_t i, size_t *len) {
    uint32_t cp;
    size_t k = utf8_decode(s + i, n - i, &cp);
    if (cp == UTF8_INVALID) {
        *len = 1;
        return CP_OTHER;
    }
    *len = k;
    return classify(cp);
}

/* End of the pre-token starting at s[i] (i < n): the alternatives of the GPT-2 pattern are tried in
 * order, as a backtracking regex engine would. */
static size_t next_piece(const unsigned char *s, size_t n, size_t i) {
    /* 's 't 're 've 'm 'll 'd */
    if (s[i] == '\'' && i + 1 < n) {
        unsigned char a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
    /* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional space, then a run of one class */
    size_t j = i, len;
    if (s[j] == ' ' && j + 1 < n && class_at(s, n, j + 1, &len) != CP_SPACE) j++;
    enum cp_class run = class_at(s, n, j, &len);
    if (run != CP_SPACE) {
        while (j < n && class_at(s, n, j, &len) == run) j += len;
        return j;
    }
    /* '\s+(?!\S)': whitespace not followed by a non-space, which leaves the last whitespace
     * character of a run for the next piece (so " word" keeps its space); else '\s+'. */
    size_t last = i;
    j = i;
    while (j < n && class_at(s, n, j, &len) == CP_SPACE) last = j, j += len;
    if (j < n && last > i) return last;
    return j;
}

/* ---- byte-pair encoding --------------------------------------------------------------------- */

/* BPE on piece[0..n): bounds[0..parts] are the part boundaries, rank[k] the id of parts k and k+1
 * merged (INT_MAX if that is no token).  Appends the ids to ids[*count..max_ids).  Returns -1 if a
 * byte has no token (only in vocabularies that lack some single-byte tokens). */
static int bpe_piece(const am_tokenizer *tok, const char *piece, size_t n, size_t *bounds, int *rank, int *ids,
                      int max_ids, int *count) {
    int whole = lookup(tok, piece, n);
    if (whole >= 0) { /* the common case: the piece is a token */
        if (*count < max_ids) ids[*count] = whole;
        (*count)++;
        return 0;
    }
    size_t parts = n;
    for (size_t k = 0; k <= n; k++) bounds[k] = k;
    for (size_t k = 0; k + 1 < parts; k++) {
        int id = lookup(tok, piece + bounds[k], bounds[k + 2] - bounds[k]);
        rank[k] = id < 0 ? INT_MAX : id;
    }
    while (parts > 1) {
        size_t best = 0;
        for (size_t k = 1; k + 1 < parts; k++)
            if (rank[k] < rank[best]) best = k;
        if (rank[best] == INT_MAX) break;
        /* merge parts best and best+1: drop boundary best+1 */
        memmove(bounds + best + 1, bounds + best + 2, (parts - best - 1) * sizeof *bounds);
        memmove(rank + best + 1, rank + best + 2, (parts > best + 2 ? parts - best - 2 : 0) * sizeof *rank);
        parts--;
        /* only the pairs touching the merged part changed */
        for (size_t k = best ? best - 1 : 0; k <= best && k + 1 < parts; k++) {
            int id = lookup(tok, piece + bounds[k], bounds[k + 2] - bounds[k]);
            rank[k] = id < 0 ? INT_MAX : id;
        }
    }
    for (size_t k = 0; k < parts; k++) {
        int id = lookup(tok, piece + bounds[k], bounds[k + 1] - bounds[k]);
        if (id < 0) return -1;
        if (*count < max_ids) ids[*count] = id;
        (*count)++;
    }
    return 0;
}

int tokenizer_encode(const am_tokenizer *tok, const char *text, int *ids, int max_ids) {
    if (!tok || !text || max_ids < 0 || (max_ids > 0 && !ids)) return -1;
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    size_t *bounds = malloc((n + 1) * sizeof *bounds);
    int *rank = malloc((n + 1) * sizeof *rank);
    if (!bounds || !rank) {
        free(bounds);
        free(rank);
        return -2;
    }
    int count = 0;
    for (size_t i = 0; i < n && count >= 0;) {
        size_t end = next_piece(s, n, i);
        if (bpe_piece(tok, text + i, end - i, bounds, rank, ids, max_ids, &count) != 0) count = -1;
        i = end;
    }
    free(bounds);
    free(rank);
    return count;
}

/* ---- non-speech tokens ---------------------------------------------------------------------- */

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* faster-whisper's rule: suppress the first token of " -" and " '" (hyphens and quotes may appear
 * inside words, not at their start), and for each symbol below suppress its encoding and the
 * encoding of " " + symbol when that is a single token; the musical signs (U+2640..U+267F, whose
 * three UTF-8 bytes share the first two) suppress their first token whatever the length. */
int tokenizer_non_speech_tokens(const am_tokenizer *tok, int *ids, int max_ids) {
    static const char *const k_symbols[] = {
        "\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^", "_", "`", "{",
        "|", "}", "~", "\xe3\x80\x8c" /* 「 */, "\xe3\x80\x8d" /* 」 */, "\xe3\x80\x8e" /* 『 */,
        "\xe3\x80\x8f" /* 』 */, "<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", "(\"", "((", "))",
        "(((", ")))", "[[", "]]", "{{", "}}", "\xe2\x99\xaa\xe2\x99\xaa" /* ♪♪ */,
        "\xe2\x99\xaa\xe2\x99\xaa\xe2\x99\xaa" /* ♪♪♪ */};
    static const char *const k_musical[] = {"\xe2\x99\xa9", "\xe2\x99\xaa", "\xe2\x99\xab", "\xe2\x99\xac",
                                            "\xe2\x99\xad", "\xe2\x99\xae", "\xe2\x99\xaf"}; /* ♩♪♫♬♭♮♯ */
    enum { N_SYMBOLS = sizeof k_symbols / sizeof k_symbols[0], N_MUSICAL = sizeof k_musical / sizeof k_musical[0] };
    if (!tok || max_ids < 0 || (max_ids > 0 && !ids)) return -1;
    int found[2 + 2 * (N_SYMBOLS + N_MUSICAL)];
    int n_found = 0, enc[16];
    char text[32];
    int n_dash = tokenizer_encode(tok, " -", enc, 16);
    if (n_dash >= 1) found[n_found++] = enc[0];
    int n_quote = tokenizer_encode(tok, " '", enc, 16);
    if (n_quote >= 1) found[n_found++] = enc[0];
    if (n_dash == -2 || n_quote == -2) return -1;
    for (int i = 0; i < N_SYMBOLS + N_MUSICAL; i++) {
        int musical = i >= N_SYMBOLS;
        const char *symbol = musical ? k_musical[i - N_SYMBOLS] : k_symbols[i];
        for (int spaced = 0; spaced < 2; spaced++) {
            snprintf(text, sizeof text, "%s%s", spaced ? " " : "", symbol);
            int n = tokenizer_encode(tok, text, enc, 16);
            if (n == -2) return -1; /* out of memory: a partial list would change what is suppressed */
            if (n == 1 || (musical && n >= 1)) found[n_found++] = enc[0];
        }
    }
    qsort(found, (size_t)n_found, sizeof found[0], cmp_int);
    int n_unique = 0;
    for (int i = 0; i < n_found; i++)
        if (n_unique == 0 || found[n_unique - 1] != found[i]) found[n_unique++] = found[i];
    for (int i = 0; i < n_unique && i < max_ids; i++) ids[i] = found[i];
    return n_unique;
}
