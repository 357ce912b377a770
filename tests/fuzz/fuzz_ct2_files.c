/* fuzz_ct2_files.c — fuzz target for the text files of a CTranslate2 model directory: the three
 * vocabulary formats (vocabulary.json, vocabulary.txt, tokenizer.json; src/text/tokenizer.c) and
 * config.json's alignment heads (src/model/ct2.c).
 *
 * Input: one selector byte, then the file.  selector % 4 picks the file (0 vocabulary.txt,
 * 1 vocabulary.json, 2 tokenizer.json, 3 config.json); (selector / 4) % 3 the model's n_vocab
 * (51864, 51865, 51866) for the vocabulary files.  A vocabulary that loads is then used: the
 * non-speech token list, and the BPE encoding of the file's first 256 bytes as text, decoded back
 * (byte for byte equal when every byte has its token).  config.json is loaded with a valid tiny
 * model.bin and vocabulary.txt beside it (model_load_ct2, no backend).  Every failure must be a
 * non-empty one-line message.  Seeds: tests/fuzz/gen_seeds.c and tests/fuzz/corpus/ct2_files. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "fuzz_util.h"
#include "model/model.h"
#include "synth_models.h"
#include "text/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const file_names[4] = {"vocabulary.txt", "vocabulary.json", "tokenizer.json", "config.json"};

/* One directory per file kind (the tokenizer takes the first vocabulary file it finds). */
static void directory_for(int kind, char *dir, size_t size) {
    snprintf(dir, size, "%s/%s.d", fuzz_scratch_dir(), file_names[kind]);
}

static void prepare_config_directory(void) {
    char path[512];
    synth_buf b = {0};
    synth_ct2_model(&b, SYNTH_CT2_F16, 1, 0, 0);
    fuzz_write_file(fuzz_path("config.json.d/model.bin", path, sizeof path), b.data, b.len);
    b.len = 0;
    synth_vocabulary_txt(&b);
    fuzz_write_file(fuzz_path("config.json.d/vocabulary.txt", path, sizeof path), b.data, b.len);
    free(b.data);
}

static void check_error(const char *err) {
    if (err[0] == '\0' || strchr(err, '\n')) abort();
}

/* Use a loaded vocabulary: non-speech tokens, and encode/decode of some of the input as text. */
static void exercise_tokenizer(const am_tokenizer *tok, const uint8_t *data, size_t size) {
    int ids[512];
    int n = tokenizer_non_speech_tokens(tok, ids, 512);
    if (n < 0 || n > 512) abort();
    char text[257];
    size_t len = 0;
    for (size_t i = 0; i < size && len < 256; i++)
        if (data[i]) text[len++] = (char)data[i];
    text[len] = 0;
    n = tokenizer_encode(tok, text, ids, 512);
    if (n < -1 || n > (int)len) abort();
    if (n < 0) return; /* a byte without a token */
    char *back = tokenizer_decode(tok, ids, n < 512 ? n : 512);
    if (!back) abort();
    if (n <= 512 && strcmp(back, text) != 0) abort();
    free(back);
}

static void load_vocabulary(int kind, int n_vocab, const uint8_t *file, size_t size) {
    char dir[512], err[1024] = "";
    directory_for(kind, dir, sizeof dir);
    am_tokenizer *tok = tokenizer_load_ct2(dir, n_vocab, err, sizeof err);
    if (!tok) {
        check_error(err);
        return;
    }
    if (tokenizer_n_vocab(tok) != n_vocab) abort();
    exercise_tokenizer(tok, file, size);
    tokenizer_free(tok);
}

static void load_config(void) {
    char dir[512], err[1024] = "";
    directory_for(3, dir, sizeof dir);
    am_model *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->precision = AM_PRECISION_F32;
    if (model_load_ct2(dir, m, err, sizeof err) != AM_OK) abort(); /* the model itself is valid */
    if (m->n_alignment_heads < 0 || m->n_alignment_heads > 64) abort();
    am_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int prepared;
    if (!prepared) {
        prepare_config_directory();
        prepared = 1;
    }
    if (size < 1) return 0;
    int kind = data[0] % 4, n_vocab = 51864 + (data[0] / 4) % 3;
    char path[512], name[64];
    snprintf(name, sizeof name, "%s.d/%s", file_names[kind], file_names[kind]);
    fuzz_write_file(fuzz_path(name, path, sizeof path), data + 1, size - 1);
    if (kind == 3) load_config();
    else load_vocabulary(kind, n_vocab, data + 1, size - 1);
    return 0;
}
