/* ggml.c — reader for whisper.cpp ggml model files (f32 and f16 tensors).
 *
 * Layout (little-endian):
 *   i32 magic 0x67676d6c ("ggml");
 *   i32 n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
 *       n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype;
 *   i32 n_mel, i32 n_fft, f32 filters[n_mel][n_fft];
 *   i32 n_tokens, then per token: i32 length, bytes;
 *   tensors until end of file: i32 n_dims, i32 name_length, i32 type (0 f32, 1 f16),
 *       i32 ne[n_dims] (innermost first), name, data (n_dims ≤ 4).
 * Tensor names follow openai-whisper's module names (encoder.blocks.0.attn.query.weight, ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "model/model.h"
#include "model/tensors.h"
#include "model/weights_map.h"

typedef struct reader {
    const uint8_t *p, *end;
    int bad;
} reader;

static int32_t rd_i32(reader *r) {
    if (r->end - r->p < 4) { r->bad = 1; r->p = r->end; return 0; }
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    return (int32_t)v;
}

static void ggml_name(char *out, size_t size, char stack, int layer, int kind) {
    const char *s = stack == 'e' ? "encoder" : "decoder";
    const char *leaf = NULL;
    switch (kind) {
    case AM_W_ATTN_LN_G: leaf = "attn_ln.weight"; break;
    case AM_W_ATTN_LN_B: leaf = "attn_ln.bias"; break;
    case AM_W_ATTN_Q: leaf = "attn.query.weight"; break;
    case AM_W_ATTN_Q_B: leaf = "attn.query.bias"; break;
    case AM_W_ATTN_K: leaf = "attn.key.weight"; break;
    case AM_W_ATTN_V: leaf = "attn.value.weight"; break;
    case AM_W_ATTN_V_B: leaf = "attn.value.bias"; break;
    case AM_W_ATTN_OUT: leaf = "attn.out.weight"; break;
    case AM_W_ATTN_OUT_B: leaf = "attn.out.bias"; break;
    case AM_W_CROSS_LN_G: leaf = "cross_attn_ln.weight"; break;
    case AM_W_CROSS_LN_B: leaf = "cross_attn_ln.bias"; break;
    case AM_W_CROSS_Q: leaf = "cross_attn.query.weight"; break;
    case AM_W_CROSS_Q_B: leaf = "cross_attn.query.bias"; break;
    case AM_W_CROSS_K: leaf = "cross_attn.key.weight"; break;
    case AM_W_CROSS_V: leaf = "cross_attn.value.weight"; break;
    case AM_W_CROSS_V_B: leaf = "cross_attn.value.bias"; break;
    case AM_W_CROSS_OUT: leaf = "cross_attn.out.weight"; break;
    case AM_W_CROSS_OUT_B: leaf = "cross_attn.out.bias"; break;
    case AM_W_MLP_LN_G: leaf = "mlp_ln.weight"; break;
    case AM_W_MLP_LN_B: leaf = "mlp_ln.bias"; break;
    case AM_W_FC1: leaf = "mlp.0.weight"; break;
    case AM_W_FC1_B: leaf = "mlp.0.bias"; break;
    case AM_W_FC2: leaf = "mlp.2.weight"; break;
    case AM_W_FC2_B: leaf = "mlp.2.bias"; break;
    default: break; /* key projections have no bias */
    }
    if (!leaf) { out[0] = 0; return; }
    snprintf(out, size, "%s.blocks.%d.%s", s, layer, leaf);
}

static const am_weight_names ggml_names = {
    .fused_qkv = 0,
    .conv1_w = "encoder.conv1.weight", .conv1_b = "encoder.conv1.bias",
    .conv2_w = "encoder.conv2.weight", .conv2_b = "encoder.conv2.bias",
    .enc_pos = "encoder.positional_embedding",
    .enc_ln_g = "encoder.ln_post.weight", .enc_ln_b = "encoder.ln_post.bias",
    .tok_emb = "decoder.token_embedding.weight", .dec_pos = "decoder.positional_embedding",
    .dec_ln_g = "decoder.ln.weight", .dec_ln_b = "decoder.ln.bias",
    .name = ggml_name,
};

static int parse(const uint8_t *buf, size_t size, am_model *m, am_tensor_table *tab, char *err, size_t err_size) {
    reader r = {buf, buf + size, 0};
    if ((uint32_t)rd_i32(&r) != 0x67676d6cu || r.bad)
        return am_fail(err, err_size, AM_E_MODEL, "not a ggml model file (bad magic)");
    int32_t h[11];
    for (int i = 0; i < 11; i++) h[i] = rd_i32(&r);
    if (r.bad) return am_fail(err, err_size, AM_E_MODEL, "truncated header");
    am_hparams *hp = &m->hp;
    hp->n_vocab = h[0];
    hp->n_audio_ctx = h[1];
    hp->n_audio_state = h[2];
    hp->n_audio_head = h[3];
    hp->n_audio_layer = h[4];
    hp->n_text_ctx = h[5];
    hp->n_text_state = h[6];
    hp->n_text_head = h[7];
    hp->n_text_layer = h[8];
    hp->n_mels = h[9];
    int rc = model_check_hparams(hp, err, err_size);
    if (rc != AM_OK) return rc;

    int32_t n_mel = rd_i32(&r), n_fft = rd_i32(&r);
    if (r.bad || n_mel != hp->n_mels || n_fft < 1 || n_fft > 4096 ||
        (size_t)(r.end - r.p) < (size_t)n_mel * (size_t)n_fft * 4)
        return am_fail(err, err_size, AM_E_MODEL, "corrupt or truncated mel filter block");
    r.p += (size_t)n_mel * (size_t)n_fft * 4;

    int32_t n_tokens = rd_i32(&r);
    if (r.bad || n_tokens < 1 || n_tokens > hp->n_vocab)
        return am_fail(err, err_size, AM_E_MODEL, "corrupt vocabulary size %d", n_tokens);
    const char **tok = malloc((size_t)n_tokens * sizeof *tok);
    int *len = malloc((size_t)n_tokens * sizeof *len);
    if (!tok || !len) { free(tok); free(len); return am_fail(err, err_size, AM_E_NOMEM, "out of memory"); }
    for (int32_t i = 0; i < n_tokens; i++) {
        int32_t n = rd_i32(&r);
        if (r.bad || n < 0 || n > 1024 || r.end - r.p < n) {
            free(tok); free(len);
            return am_fail(err, err_size, AM_E_MODEL, "truncated or corrupt vocabulary at token %d", i);
        }
        tok[i] = (const char *)r.p;
        len[i] = n;
        r.p += n;
    }
    char msg[256];
    m->tok = tokenizer_from_bytes(tok, len, n_tokens, hp->n_vocab, msg, sizeof msg);
    free(tok);
    free(len);
    if (!m->tok) return am_fail(err, err_size, AM_E_MODEL, "vocabulary: %s", msg);

    /* tensor names are not NUL-terminated in the file: keep copies */
    while (r.p < r.end) {
        int32_t n_dims = rd_i32(&r), name_len = rd_i32(&r), type = rd_i32(&r);
        if (r.bad) return am_fail(err, err_size, AM_E_MODEL, "truncated tensor header");
        if (n_dims < 1 || n_dims > 4 || name_len < 1 || name_len > 255 || (type != 0 && type != 1))
            return am_fail(err, err_size, AM_E_MODEL, "corrupt tensor header (dims %d, name length %d, type %d)",
                           n_dims, name_len, type);
        am_tensor_ref t;
        memset(&t, 0, sizeof t);
        t.rank = n_dims;
        uint64_t numel = 1;
        for (int i = 0; i < n_dims; i++) {
            int32_t ne = rd_i32(&r);
            if (ne < 1) return am_fail(err, err_size, AM_E_MODEL, "corrupt tensor dimension %d", ne);
            t.dims[n_dims - 1 - i] = ne; /* ggml lists the innermost dimension first */
            numel *= (uint64_t)ne;
        }
        if (r.bad || r.end - r.p < name_len) return am_fail(err, err_size, AM_E_MODEL, "truncated tensor name");
        char *name = am_strndup((const char *)r.p, (size_t)name_len);
        if (!name) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
        r.p += name_len;
        t.name = name;
        t.dtype = type == 0 ? AM_DT_F32 : AM_DT_F16;
        t.nbytes = (size_t)numel * dtype_size(t.dtype);
        if (numel > (1ull << 32) || (uint64_t)(r.end - r.p) < t.nbytes) {
            rc = am_fail(err, err_size, AM_E_MODEL, "file is truncated in the data of tensor '%s'", name);
            free(name);
            return rc;
        }
        t.data = r.p;
        r.p += t.nbytes;
        if (tensor_table_find(tab, name)) {
            rc = am_fail(err, err_size, AM_E_MODEL, "tensor '%s' appears twice", name);
            free(name);
            return rc;
        }
        if (tensor_table_add(tab, &t) != AM_OK) { free(name); return am_fail(err, err_size, AM_E_NOMEM, "out of memory"); }
    }
    return model_build_weights(m, tab, &ggml_names, err, err_size);
}

int model_load_ggml(const char *path, am_model *m, char *err, size_t err_size) {
    unsigned char *buf;
    size_t size;
    int rc = am_read_file(path, &buf, &size, err, err_size);
    if (rc != AM_OK) return rc;
    am_tensor_table tab = {0};
    char msg[400];
    rc = parse(buf, size, m, &tab, msg, sizeof msg);
    if (rc != AM_OK) am_fail(err, err_size, rc, "%s: %s", path, msg);
    for (int i = 0; i < tab.n; i++) free((char *)tab.t[i].name);
    tensor_table_free(&tab);
    free(buf);
    if (rc != AM_OK) return rc;
    /* whisper.cpp files carry no alignment heads: word timestamps use default_heads() in decode/align.c */
    snprintf(m->format, sizeof m->format, "ggml");
    return AM_OK;
}
