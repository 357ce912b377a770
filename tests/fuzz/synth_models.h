/* synth_models.h — tiny synthetic Whisper model files for the fuzz targets and their seeds
 * (tests/fuzz/gen_seeds.c writes them; fuzz_ct2_files.c builds its fixed directory from them).
 *
 * They are valid for the readers (src/model/ct2.c, src/model/ggml.c, src/text/tokenizer.c) but hold
 * no real weights: the model width is 1 or 2 with one layer each way, one head and 2 mel bins.  The
 * vocabulary must still have Whisper's size (51864/51865 ids, model_check_hparams in
 * src/model/model.c), so the token embeddings and the token list dominate their size (~100-300 KB);
 * the regular tokens past the 256 single bytes are empty strings.
 *
 * Header-only (static functions) so that the harnesses and the generator share one definition. */
#ifndef FUZZ_SYNTH_MODELS_H
#define FUZZ_SYNTH_MODELS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct synth_buf {
    uint8_t *data;
    size_t len, cap;
} synth_buf;

static void synth_put(synth_buf *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) abort();
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void synth_u8(synth_buf *b, unsigned v) { uint8_t x = (uint8_t)v; synth_put(b, &x, 1); }
static void synth_u16(synth_buf *b, unsigned v) { synth_u8(b, v & 255); synth_u8(b, (v >> 8) & 255); }
static void synth_u32(synth_buf *b, uint32_t v) { synth_u16(b, v & 0xffff); synth_u16(b, v >> 16); }
static void synth_f32(synth_buf *b, float f) { uint32_t u; memcpy(&u, &f, 4); synth_u32(b, u); }
static void synth_str(synth_buf *b, const char *s) { synth_put(b, s, strlen(s)); }

/* Small deterministic values in [-0.5, 0.5]. */
static float synth_value(uint32_t i) { return (float)((i * 2654435761u >> 24) & 255) / 255.0f - 0.5f; }

/* ---- GPT-2 byte-level strings (what CTranslate2's vocabulary files hold) --------------------- */

/* The code point GPT-2 writes for byte b (printable bytes stand for themselves, the 68 others are
 * 256, 257, ... in increasing order), UTF-8 encoded into out; returns the length. */
static int synth_gpt2_byte(int b, char *out) {
    unsigned cp;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) cp = (unsigned)b;
    else if (b <= 32) cp = 256u + (unsigned)b;
    else if (b <= 160) cp = 256u + 33u + (unsigned)(b - 127);
    else cp = 256u + 67u; /* 173 */
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

#define SYNTH_N_REGULAR 50256 /* regular tokens of the English-only vocabulary; multilingual: 50257 */

/* A few merged tokens after the 256 bytes, so that BPE has merges to do. */
static const char *const synth_merges[] = {" t", "he", " the", "in", " a", "er", "on", " s", "en", "at", "nd", " and"};
#define SYNTH_N_MERGES (sizeof synth_merges / sizeof synth_merges[0])

/* Token `id` of the synthetic vocabulary as raw bytes: ids 0..255 are the bytes, then the merges, then "". */
static size_t synth_token(int id, char *out) {
    if (id < 256) { out[0] = (char)id; return 1; }
    if ((size_t)(id - 256) < SYNTH_N_MERGES) {
        size_t n = strlen(synth_merges[id - 256]);
        memcpy(out, synth_merges[id - 256], n);
        return n;
    }
    return 0;
}

static void synth_gpt2_token(synth_buf *b, int id) {
    char raw[16], enc[2];
    size_t n = synth_token(id, raw);
    for (size_t i = 0; i < n; i++) synth_put(b, enc, (size_t)synth_gpt2_byte((unsigned char)raw[i], enc));
}

/* vocabulary.txt: one GPT-2 string per line, then <|endoftext|> (fits n_vocab 51864 and 51865). */
static void synth_vocabulary_txt(synth_buf *b) {
    for (int id = 0; id < SYNTH_N_REGULAR; id++) {
        synth_gpt2_token(b, id);
        synth_u8(b, '\n');
    }
    synth_str(b, "<|endoftext|>\n");
}

/* vocabulary.json: a JSON array of the same strings (with JSON escapes for '"' and '\\'). */
static void synth_vocabulary_json(synth_buf *b) {
    synth_u8(b, '[');
    for (int id = 0; id < SYNTH_N_REGULAR; id++) {
        synth_str(b, id ? ",\"" : "\"");
        if (id == '"' || id == '\\') synth_u8(b, '\\');
        synth_gpt2_token(b, id);
        synth_u8(b, '"');
    }
    synth_str(b, ",\"<|endoftext|>\"]");
}

/* tokenizer.json (Hugging Face): {"model": {"vocab": {"string": id, ...}}} plus members to skip. */
static void synth_tokenizer_json(synth_buf *b) {
    char num[32];
    synth_str(b, "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":50256,\"content\":\"<|endoftext|>\",\"special\":true}],"
                 "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"vocab\":{");
    for (int id = 0; id < SYNTH_N_REGULAR; id++) {
        synth_str(b, id ? ",\"" : "\"");
        if (id == '"' || id == '\\') synth_u8(b, '\\');
        synth_gpt2_token(b, id);
        snprintf(num, sizeof num, "\":%d", id);
        synth_str(b, num);
    }
    synth_str(b, ",\"<|endoftext|>\":50256},\"merges\":[\"\\u0120 t\",\"h e\"]}}");
}

static void synth_config_json(synth_buf *b) {
    synth_str(b, "{\n  \"alignment_heads\": [[0, 0], [0, 0]],\n  \"lang_ids\": [50259, 50260],\n"
                 "  \"suppress_ids\": [1, 2, 7],\n  \"suppress_ids_begin\": [220, 50257]\n}\n");
}

/* ---- CTranslate2 model.bin ------------------------------------------------------------------ */

enum { SYNTH_CT2_F32 = 0, SYNTH_CT2_I8 = 1, SYNTH_CT2_F16 = 4, SYNTH_CT2_BF16 = 5 };

typedef struct synth_ct2 {
    synth_buf b;
    uint32_t n_vars;
    size_t n_vars_at;
    int weight_dtype;   /* dtype of linear weights: F32, F16, BF16 or I8 (per-row scales) */
} synth_ct2;

/* A CTranslate2 string: u16 length (with the NUL), bytes, NUL. */
static void synth_ct2_str(synth_buf *b, const char *s) {
    synth_u16(b, (unsigned)strlen(s) + 1);
    synth_put(b, s, strlen(s) + 1);
}

static void synth_ct2_var(synth_ct2 *c, const char *name, int rank, const uint32_t *dims, int dtype) {
    synth_ct2_str(&c->b, name);
    synth_u8(&c->b, (unsigned)rank);
    uint32_t n = 1;
    for (int i = 0; i < rank; i++) { synth_u32(&c->b, dims[i]); n *= dims[i]; }
    synth_u8(&c->b, (unsigned)dtype);
    uint32_t es = dtype == SYNTH_CT2_F32 ? 4 : dtype == SYNTH_CT2_I8 ? 1 : dtype == 3 ? 4 : 2;
    synth_u32(&c->b, n * es);
    for (uint32_t i = 0; i < n; i++) {
        float v = synth_value(i + (uint32_t)c->b.len);
        uint32_t u;
        memcpy(&u, &v, 4);
        switch (dtype) {
        case SYNTH_CT2_F32: synth_f32(&c->b, v); break;
        case SYNTH_CT2_I8: synth_u8(&c->b, (unsigned)(int)(v * 254.0f) & 255); break;
        case 3: synth_u32(&c->b, i + 1); break; /* int32 */
        case SYNTH_CT2_BF16: synth_u16(&c->b, u >> 16); break;
        default: { /* f16 of a value in [-0.5, 0.5]: 0 or a normal half */
            uint32_t e = (u >> 23) & 255, sign = (u >> 16) & 0x8000;
            synth_u16(&c->b, e < 113 ? sign : sign | ((e - 112) << 10) | ((u >> 13) & 0x3ff));
        }
        }
    }
    c->n_vars++;
}

/* A float tensor (gamma, beta, bias, position) in the file's float dtype (f32 for I8 models). */
static void synth_ct2_float(synth_ct2 *c, const char *name, int rank, const uint32_t *dims) {
    int dt = c->weight_dtype == SYNTH_CT2_I8 ? SYNTH_CT2_F32 : c->weight_dtype;
    synth_ct2_var(c, name, rank, dims, dt);
}

/* A linear weight [rows][cols]: int8 models add "<name>_scale" (one f32 per row). */
static void synth_ct2_weight(synth_ct2 *c, const char *name, uint32_t rows, uint32_t cols) {
    uint32_t dims[2] = {rows, cols};
    synth_ct2_var(c, name, 2, dims, c->weight_dtype);
    if (c->weight_dtype == SYNTH_CT2_I8) {
        char sname[256];
        snprintf(sname, sizeof sname, "%s_scale", name);
        synth_ct2_var(c, sname, 1, &rows, SYNTH_CT2_F32);
    }
}

static void synth_ct2_norm(synth_ct2 *c, const char *prefix, uint32_t d) {
    char name[256];
    snprintf(name, sizeof name, "%s/gamma", prefix);
    synth_ct2_float(c, name, 1, &d);
    snprintf(name, sizeof name, "%s/beta", prefix);
    synth_ct2_float(c, name, 1, &d);
}

static void synth_ct2_linear(synth_ct2 *c, const char *prefix, uint32_t rows, uint32_t cols) {
    char name[256];
    snprintf(name, sizeof name, "%s/weight", prefix);
    synth_ct2_weight(c, name, rows, cols);
    snprintf(name, sizeof name, "%s/bias", prefix);
    synth_ct2_float(c, name, 1, &rows);
}

/* Self-attention (fused Q|K|V) and MLP of layer 0 of `stack`. */
static void synth_ct2_block(synth_ct2 *c, const char *stack, uint32_t d) {
    char p[128];
    snprintf(p, sizeof p, "%s/layer_0/self_attention/layer_norm", stack); synth_ct2_norm(c, p, d);
    snprintf(p, sizeof p, "%s/layer_0/self_attention/linear_0", stack); synth_ct2_linear(c, p, 3 * d, d);
    snprintf(p, sizeof p, "%s/layer_0/self_attention/linear_1", stack); synth_ct2_linear(c, p, d, d);
    snprintf(p, sizeof p, "%s/layer_0/ffn/layer_norm", stack); synth_ct2_norm(c, p, d);
    snprintf(p, sizeof p, "%s/layer_0/ffn/linear_0", stack); synth_ct2_linear(c, p, 4 * d, d);
    snprintf(p, sizeof p, "%s/layer_0/ffn/linear_1", stack); synth_ct2_linear(c, p, d, 4 * d);
}

/* model.bin, format version 6: width d, n_mels 2, 4 text positions, 8 audio positions (or the
 * sinusoids when !audio_positions), n_vocab 51864 (English) or 51865, two aliases. */
static void synth_ct2_model(synth_buf *out, int weight_dtype, uint32_t d, int multilingual, int audio_positions) {
    synth_ct2 c;
    memset(&c, 0, sizeof c);
    c.weight_dtype = weight_dtype;
    const uint32_t n_mels = 2, n_vocab = multilingual ? 51865 : 51864, one = 1;
    synth_u32(&c.b, 6);
    synth_ct2_str(&c.b, "WhisperSpec");
    synth_u32(&c.b, 3);
    c.n_vars_at = c.b.len;
    synth_u32(&c.b, 0); /* patched below */
    uint32_t conv1[3] = {d, n_mels, 3}, conv2[3] = {d, d, 3}, apos[2] = {8, d}, tpos[2] = {4, d}, emb[2] = {n_vocab, d};
    synth_ct2_var(&c, "encoder/num_heads", 0, NULL, 3);
    synth_ct2_var(&c, "decoder/num_heads", 0, NULL, 3);
    synth_ct2_float(&c, "encoder/conv1/weight", 3, conv1);
    synth_ct2_float(&c, "encoder/conv1/bias", 1, &d);
    synth_ct2_float(&c, "encoder/conv2/weight", 3, conv2);
    synth_ct2_float(&c, "encoder/conv2/bias", 1, &d);
    if (audio_positions) synth_ct2_float(&c, "encoder/position_encodings/encodings", 2, apos);
    synth_ct2_block(&c, "encoder", d);
    synth_ct2_norm(&c, "encoder/layer_norm", d);
    if (weight_dtype == SYNTH_CT2_I8) { /* int8 embeddings with one scale for all rows */
        synth_ct2_var(&c, "decoder/embeddings/weight", 2, emb, SYNTH_CT2_I8);
        synth_ct2_var(&c, "decoder/embeddings/weight_scale", 1, &one, SYNTH_CT2_F32);
    } else {
        synth_ct2_var(&c, "decoder/embeddings/weight", 2, emb, SYNTH_CT2_F16);
    }
    synth_ct2_float(&c, "decoder/position_encodings/encodings", 2, tpos);
    synth_ct2_block(&c, "decoder", d);
    synth_ct2_norm(&c, "decoder/layer_0/attention/layer_norm", d);
    synth_ct2_linear(&c, "decoder/layer_0/attention/linear_0", d, d);
    synth_ct2_linear(&c, "decoder/layer_0/attention/linear_1", 2 * d, d);
    synth_ct2_weight(&c, "decoder/layer_0/attention/linear_2/weight", d, d);
    synth_ct2_float(&c, "decoder/layer_norm/gamma", 1, &d);
    synth_ct2_float(&c, "decoder/layer_norm/beta", 1, &d);
    /* aliases: the cross-attention output bias is the final norm's gamma; one alias has no target */
    synth_u32(&c.b, 2);
    synth_ct2_str(&c.b, "decoder/layer_0/attention/linear_2/bias");
    synth_ct2_str(&c.b, "decoder/layer_norm/gamma");
    synth_ct2_str(&c.b, "decoder/unused_alias");
    synth_ct2_str(&c.b, "decoder/no_such_tensor");
    for (int i = 0; i < 4; i++) c.b.data[c.n_vars_at + (size_t)i] = (uint8_t)(c.n_vars >> (8 * i));
    *out = c.b;
}

/* ---- whisper.cpp ggml file ------------------------------------------------------------------ */

/* One tensor: dims outermost first (written innermost first, as ggml does), f32 (0) or f16 (1). */
static void synth_ggml_tensor(synth_buf *b, const char *name, int rank, const uint32_t *dims, int type) {
    synth_u32(b, (uint32_t)rank);
    synth_u32(b, (uint32_t)strlen(name));
    synth_u32(b, (uint32_t)type);
    uint32_t n = 1;
    for (int i = rank - 1; i >= 0; i--) { synth_u32(b, dims[i]); n *= dims[i]; }
    synth_str(b, name);
    for (uint32_t i = 0; i < n; i++) {
        float v = synth_value(i + (uint32_t)b->len);
        if (type == 0) { synth_f32(b, v); continue; }
        uint32_t u, e;
        memcpy(&u, &v, 4);
        e = (u >> 23) & 255;
        synth_u16(b, e < 113 ? (u >> 16) & 0x8000 : ((u >> 16) & 0x8000) | ((e - 112) << 10) | ((u >> 13) & 0x3ff));
    }
}

static void synth_ggml_linear(synth_buf *b, const char *prefix, uint32_t rows, uint32_t cols, int bias, int type) {
    char name[160];
    uint32_t dims[2] = {rows, cols};
    snprintf(name, sizeof name, "%s.weight", prefix);
    synth_ggml_tensor(b, name, 2, dims, type);
    if (!bias) return;
    snprintf(name, sizeof name, "%s.bias", prefix);
    synth_ggml_tensor(b, name, 1, &rows, 0);
}

static void synth_ggml_norm(synth_buf *b, const char *prefix, uint32_t d) {
    char name[160];
    snprintf(name, sizeof name, "%s.weight", prefix);
    synth_ggml_tensor(b, name, 1, &d, 0);
    snprintf(name, sizeof name, "%s.bias", prefix);
    synth_ggml_tensor(b, name, 1, &d, 0);
}

static void synth_ggml_attention(synth_buf *b, const char *prefix, uint32_t d, int type) {
    char p[160];
    snprintf(p, sizeof p, "%s.query", prefix); synth_ggml_linear(b, p, d, d, 1, type);
    snprintf(p, sizeof p, "%s.key", prefix); synth_ggml_linear(b, p, d, d, 0, type);
    snprintf(p, sizeof p, "%s.value", prefix); synth_ggml_linear(b, p, d, d, 1, type);
    snprintf(p, sizeof p, "%s.out", prefix); synth_ggml_linear(b, p, d, d, 1, type);
}

static void synth_ggml_block(synth_buf *b, const char *stack, uint32_t d, int cross, int type) {
    char p[160];
    snprintf(p, sizeof p, "%s.blocks.0.attn_ln", stack); synth_ggml_norm(b, p, d);
    snprintf(p, sizeof p, "%s.blocks.0.attn", stack); synth_ggml_attention(b, p, d, type);
    if (cross) {
        snprintf(p, sizeof p, "%s.blocks.0.cross_attn_ln", stack); synth_ggml_norm(b, p, d);
        snprintf(p, sizeof p, "%s.blocks.0.cross_attn", stack); synth_ggml_attention(b, p, d, type);
    }
    snprintf(p, sizeof p, "%s.blocks.0.mlp_ln", stack); synth_ggml_norm(b, p, d);
    snprintf(p, sizeof p, "%s.blocks.0.mlp.0", stack); synth_ggml_linear(b, p, 4 * d, d, 1, type);
    snprintf(p, sizeof p, "%s.blocks.0.mlp.2", stack); synth_ggml_linear(b, p, d, 4 * d, 1, type);
}

/* A ggml model: width d, n_mels 2, 8 audio and 4 text positions, raw-byte tokens. */
static void synth_ggml_model(synth_buf *b, uint32_t d, int multilingual, int type) {
    const uint32_t n_vocab = multilingual ? 51865 : 51864, n_mels = 2, n_fft = 3;
    const uint32_t hp[11] = {n_vocab, 8, d, 1, 1, 4, d, 1, 1, n_mels, (uint32_t)type};
    memset(b, 0, sizeof *b);
    synth_u32(b, 0x67676d6cu);
    for (int i = 0; i < 11; i++) synth_u32(b, hp[i]);
    synth_u32(b, n_mels);
    synth_u32(b, n_fft);
    for (uint32_t i = 0; i < n_mels * n_fft; i++) synth_f32(b, synth_value(i));
    uint32_t n_tokens = multilingual ? SYNTH_N_REGULAR + 1 : SYNTH_N_REGULAR;
    synth_u32(b, n_tokens);
    for (uint32_t id = 0; id < n_tokens; id++) {
        char raw[16];
        size_t n = synth_token((int)id, raw);
        synth_u32(b, (uint32_t)n);
        synth_put(b, raw, n);
    }
    uint32_t conv1[3] = {d, n_mels, 3}, conv2[3] = {d, d, 3}, apos[2] = {8, d}, tpos[2] = {4, d}, emb[2] = {n_vocab, d};
    synth_ggml_tensor(b, "encoder.positional_embedding", 2, apos, 0);
    synth_ggml_tensor(b, "encoder.conv1.weight", 3, conv1, type);
    uint32_t bias2[2] = {d, 1}; /* whisper.cpp's [d][1]; rank 1 when d is 1 (a [1][1] is not a [1]) */
    const int bias_rank = d > 1 ? 2 : 1;
    synth_ggml_tensor(b, "encoder.conv1.bias", bias_rank, bias2, 0);
    synth_ggml_tensor(b, "encoder.conv2.weight", 3, conv2, type);
    synth_ggml_tensor(b, "encoder.conv2.bias", bias_rank, bias2, 0);
    synth_ggml_block(b, "encoder", d, 0, type);
    synth_ggml_norm(b, "encoder.ln_post", d);
    synth_ggml_tensor(b, "decoder.positional_embedding", 2, tpos, 0);
    synth_ggml_tensor(b, "decoder.token_embedding.weight", 2, emb, 1);
    synth_ggml_block(b, "decoder", d, 1, type);
    synth_ggml_norm(b, "decoder.ln", d);
}

#endif
