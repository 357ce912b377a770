/* gen_seeds.c — writes the synthetic seed inputs of the model-file fuzz targets
 * (tests/fuzz/synth_models.h):
 *
 *   gen_seeds valid DIR   valid tiny models and vocabularies (~50-420 KB each: Whisper's vocabulary
 *                         size sets their size) into DIR/ct2, DIR/ggml, DIR/ct2_files; the Makefile
 *                         runs this into build/fuzz/seeds/ before fuzzing.
 *   gen_seeds small DIR   the small seeds committed in tests/fuzz/corpus/<target>/ (headers, truncated
 *                         models, odd vocabulary syntax), a few KB each.
 *
 * Output is deterministic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "synth_models.h"

static void write_seed(const char *dir, const char *sub, const char *name, const void *data, size_t size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    mkdir(dir, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* A ct2_files input: the selector byte, then the file. */
static void write_selected(const char *dir, const char *name, int selector, const synth_buf *file) {
    synth_buf b = {0};
    synth_u8(&b, (unsigned)selector);
    synth_put(&b, file->data, file->len);
    write_seed(dir, "ct2_files", name, b.data, b.len);
    free(b.data);
}

static void write_valid(const char *dir) {
    static const struct { const char *name; int dtype; unsigned d; int multilingual, audio_positions; } ct2[] = {
        {"model_f16_d1_en.bin", SYNTH_CT2_F16, 1, 0, 1},
        {"model_i8_d2_multi.bin", SYNTH_CT2_I8, 2, 1, 0},
        {"model_bf16_d1_multi.bin", SYNTH_CT2_BF16, 1, 1, 1},
        {"model_f32_d1_en.bin", SYNTH_CT2_F32, 1, 0, 0},
    };
    synth_buf b = {0};
    for (size_t i = 0; i < sizeof ct2 / sizeof ct2[0]; i++) {
        synth_ct2_model(&b, ct2[i].dtype, ct2[i].d, ct2[i].multilingual, ct2[i].audio_positions);
        write_seed(dir, "ct2", ct2[i].name, b.data, b.len);
        free(b.data);
    }
    synth_ggml_model(&b, 1, 0, 1);
    write_seed(dir, "ggml", "ggml_f16_d1_en.bin", b.data, b.len);
    free(b.data);
    synth_ggml_model(&b, 1, 1, 0);
    write_seed(dir, "ggml", "ggml_f32_d1_multi.bin", b.data, b.len);
    free(b.data);

    memset(&b, 0, sizeof b);
    synth_vocabulary_txt(&b);
    write_selected(dir, "vocabulary_txt_en", 0, &b);
    write_selected(dir, "vocabulary_txt_multi", 4, &b);
    b.len = 0;
    synth_vocabulary_json(&b);
    write_selected(dir, "vocabulary_json_multi", 5, &b);
    b.len = 0;
    synth_tokenizer_json(&b);
    write_selected(dir, "tokenizer_json_en", 2, &b);
    b.len = 0;
    synth_config_json(&b);
    write_selected(dir, "config_json", 3, &b);
    free(b.data);
}

/* ---- small seeds ---------------------------------------------------------------------------- */

static void write_prefix(const char *dir, const char *sub, const char *name, const synth_buf *b, size_t n) {
    write_seed(dir, sub, name, b->data, n < b->len ? n : b->len);
}

static void write_small_ct2(const char *dir) {
    synth_buf b;
    synth_ct2_model(&b, SYNTH_CT2_I8, 2, 1, 0);
    write_prefix(dir, "ct2", "model_i8_first_3k.bin", &b, 3000);
    free(b.data);
    synth_ct2_model(&b, SYNTH_CT2_BF16, 1, 0, 1);
    write_prefix(dir, "ct2", "model_bf16_first_2k.bin", &b, 2000);
    free(b.data);
    /* version 1 (no spec name), version 2 (no aliases): a scalar and a small tensor */
    static const unsigned versions[] = {1, 2, 3};
    for (size_t i = 0; i < 3; i++) {
        synth_ct2 c;
        memset(&c, 0, sizeof c);
        synth_u32(&c.b, versions[i]);
        if (versions[i] >= 2) {
            synth_ct2_str(&c.b, "WhisperSpec");
            synth_u32(&c.b, 1);
        }
        synth_u32(&c.b, 3);
        uint32_t dims[3] = {2, 2, 3}, one = 1;
        synth_ct2_var(&c, "encoder/num_heads", 0, NULL, 3);
        synth_ct2_var(&c, "encoder/conv1/weight", 3, dims, SYNTH_CT2_I8);
        synth_ct2_var(&c, "encoder/conv1/weight_scale", 1, &one, SYNTH_CT2_F32);
        if (versions[i] >= 3) {
            synth_u32(&c.b, 1);
            synth_ct2_str(&c.b, "encoder/conv2/weight");
            synth_ct2_str(&c.b, "encoder/conv1/weight");
        }
        char name[64];
        snprintf(name, sizeof name, "header_v%u.bin", versions[i]);
        write_seed(dir, "ct2", name, c.b.data, c.b.len);
        free(c.b.data);
    }
}

static void write_small_ggml(const char *dir) {
    synth_buf b;
    synth_ggml_model(&b, 1, 0, 1);
    write_prefix(dir, "ggml", "ggml_f16_first_4k.bin", &b, 4096);
    /* the header, mel filters and a 2-token vocabulary, then one tensor record */
    synth_buf s = {0};
    synth_put(&s, b.data, 12 * 4 + 8 + 2 * 3 * 4);
    synth_u32(&s, 2);
    synth_u32(&s, 1); synth_str(&s, "a");
    synth_u32(&s, 3); synth_str(&s, " th");
    uint32_t dims[2] = {2, 1};
    synth_ggml_tensor(&s, "encoder.conv1.bias", 2, dims, 0);
    write_seed(dir, "ggml", "ggml_short_vocabulary.bin", s.data, s.len);
    free(s.data);
    free(b.data);
}

static void write_small_files(const char *dir) {
    static const struct { const char *name; int selector; const char *text; } files[] = {
        {"txt_crlf_and_utf8", 0, "!\r\n\"\r\n\xc4\xa0the\r\n\xc4\x8a\r\n\xe2\x96\x81x\r\n<|endoftext|>\r\n"},
        {"txt_endoftext_early", 4, "a\nb\n<|endoftext|>\n"},
        {"json_array_escapes", 1, "[\"\\u0120the\", \"\\\"\", \"\\\\\", \"\\ud83d\\ude00\", \"a\\/b\", \"\\n\", \"<|endoftext|>\"]"},
        {"json_array_empty", 5, "[ ]"},
        {"tokenizer_json_nested", 2,
         "{\"version\": \"1.0\", \"truncation\": null, \"added_tokens\": [{\"id\": 50256, \"special\": true, "
         "\"content\": \"<|endoftext|>\", \"lstrip\": false}], \"normalizer\": {\"type\": \"NFC\", \"x\": [1, 2.5e3, -4, "
         "true, false, null, [[[]]], {}]}, \"model\": {\"type\": \"BPE\", \"dropout\": null, \"vocab\": {\"!\": 0, "
         "\"\\\"\": 1, \"\\u0120t\": 256, \"he\": 257}, \"merges\": [\"\\u0120 t\", \"h e\"]}}"},
        {"tokenizer_json_no_vocab", 6, "{\"model\": {\"merges\": []}}"},
        {"config_heads", 3, "{\"alignment_heads\": [[1, 0], [2, 7], [3, 5]], \"lang_ids\": [50259]}"},
        {"config_nested_heads", 3, "{\"alignment_heads\": [[[0, 1]], [2], [3, 4, 5], [-1, 99999999999]]}"},
        {"config_unterminated", 3, "{\"alignment_heads\": [[0, 0], [0"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        synth_buf b = {0};
        synth_str(&b, files[i].text);
        write_selected(dir, files[i].name, files[i].selector, &b);
        free(b.data);
    }
}

static void write_small_vad(const char *dir) {
    synth_buf b = {0};
    static const int32_t header[] = {6, 2, 0, 512, 64, 4, 129, 128, 3, 128, 64, 3, 64, 64, 3, 64, 128, 3,
                                     128, 128, 128, 1};
    synth_u32(&b, 0x67676d6cu);
    synth_u32(&b, 10);
    synth_str(&b, "silero-16k");
    for (size_t i = 0; i < sizeof header / sizeof header[0]; i++) synth_u32(&b, (uint32_t)header[i]);
    write_seed(dir, "vad", "header_only.bin", b.data, b.len);
    /* two tensors: the output bias (a scalar) and the output weights in f16 */
    const char *bias = "_model.decoder.decoder.2.bias", *weight = "_model.decoder.decoder.2.weight";
    synth_u32(&b, 1); synth_u32(&b, (uint32_t)strlen(bias)); synth_u32(&b, 0); synth_u32(&b, 1);
    synth_str(&b, bias);
    synth_f32(&b, 0.25f);
    synth_u32(&b, 3); synth_u32(&b, (uint32_t)strlen(weight)); synth_u32(&b, 1);
    synth_u32(&b, 1); synth_u32(&b, 128); synth_u32(&b, 1);
    synth_str(&b, weight);
    for (int i = 0; i < 128; i++) synth_u16(&b, 0x3c00u ^ (unsigned)(i & 1) << 15); /* ±1.0 */
    write_seed(dir, "vad", "two_tensors.bin", b.data, b.len);
    free(b.data);
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "valid") != 0 && strcmp(argv[1], "small") != 0)) {
        fprintf(stderr, "usage: %s valid|small DIR\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "valid") == 0) {
        write_valid(argv[2]);
    } else {
        write_small_ct2(argv[2]);
        write_small_ggml(argv[2]);
        write_small_files(argv[2]);
        write_small_vad(argv[2]);
    }
    return 0;
}
