/* tokenizer.h — Whisper's byte-level BPE vocabulary: ids <-> UTF-8 bytes, special tokens. */
#ifndef AM_TOKENIZER_H
#define AM_TOKENIZER_H

#include <stddef.h>

typedef struct am_tokenizer am_tokenizer;

/* Special token ids, derived from n_vocab:
 * timestamp_begin = n_vocab - 1501, no_timestamps = tb - 1, no_speech = tb - 2, sot_prev = tb - 3,
 * sot_lm = tb - 4, transcribe = tb - 5, translate = tb - 6, eot = 50256 (.en) / 50257 (multilingual),
 * sot = eot + 1, languages sot+1 .. translate-1. */
typedef struct am_special_tokens {
    int eot, sot, translate, transcribe, sot_lm, sot_prev, no_speech, no_timestamps, timestamp_begin;
    int lang_begin, n_languages;
} am_special_tokens;

/* CTranslate2 model directory: vocabulary.json, vocabulary.txt or tokenizer.json (GPT-2 byte-to-
 * unicode encoded tokens).  n_vocab is the model's (51864/51865/51866). */
am_tokenizer *tokenizer_load_ct2(const char *model_dir, int n_vocab, char *err, size_t err_size);

/* From raw token bytes (whisper.cpp ggml files store the 50256/50257 regular tokens as bytes). */
am_tokenizer *tokenizer_from_bytes(const char *const *tokens, const int *lens, int n_tokens, int n_vocab,
                                   char *err, size_t err_size);

void tokenizer_free(am_tokenizer *tok);

int tokenizer_n_vocab(const am_tokenizer *tok);
int tokenizer_is_multilingual(const am_tokenizer *tok);
void tokenizer_specials(const am_tokenizer *tok, am_special_tokens *out);

/* Raw bytes of one token (not NUL-terminated); NULL for special ids. */
const char *tokenizer_token_bytes(const am_tokenizer *tok, int id, int *len);

/* Concatenate the bytes of the regular (id < eot) tokens; specials and timestamps are skipped.
 * malloc'd, NUL-terminated; the bytes may be invalid UTF-8 when a character is split at the end. */
char *tokenizer_decode(const am_tokenizer *tok, const int *ids, int n_ids);

/* BPE-encode UTF-8 text (GPT-2 pre-tokenisation, merges by rank = token id as tiktoken does).
 * Writes at most max_ids ids; returns the number of ids the text needs (may exceed max_ids), -1 for
 * bad arguments or bytes the vocabulary cannot spell, -2 when memory runs out. */
int tokenizer_encode(const am_tokenizer *tok, const char *text, int *ids, int max_ids);

/* The ids Whisper suppresses as non-speech symbols (faster-whisper Tokenizer.non_speech_tokens),
 * sorted ascending.  Returns the count (<= max_ids written), or -1 (bad arguments, out of memory). */
int tokenizer_non_speech_tokens(const am_tokenizer *tok, int *ids, int max_ids);

/* Whisper's language codes in token order ("en", "zh", ... "yue"); index -> code, code -> index. */
const char *tokenizer_language_code(int index);
int tokenizer_language_index(const char *code); /* -1 if unknown */

#endif
