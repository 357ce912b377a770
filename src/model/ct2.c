/* ct2.c — reader for CTranslate2 Whisper model directories (what faster-whisper loads).
 *
 * model.bin (format versions 1..6):
 *   u32 version; str spec_name ("WhisperSpec", version >= 2); u32 spec_revision (>= 2);
 *   u32 n_variables; per variable: str name, u8 rank, u32 dims[rank], u8 dtype, u32 n_bytes, data;
 *   u32 n_aliases (version >= 3); per alias: str alias, str target.
 *   str = u16 length (including a trailing NUL) + bytes.
 *   dtype: 0 f32, 1 int8, 2 int16, 3 int32, 4 f16, 5 bf16 (version >= 5 for bf16).
 *   Quantised weights come with "<name>_scale" (f32, one multiplier per row: w = q / scale).
 * Shapes come from the tensors; head counts from the "*_heads" scalars; the vocabulary from
 * vocabulary.json / vocabulary.txt / tokenizer.json; alignment heads from config.json. */
#include <ctype.h>
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

static uint32_t rd_u32(reader *r) {
    if (r->end - r->p < 4) { r->bad = 1; r->p = r->end; return 0; }
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    return v;
}

static uint8_t rd_u8(reader *r) {
    if (r->end - r->p < 1) { r->bad = 1; return 0; }
    return *r->p++;
}

/* Returns a pointer to the NUL-terminated string inside the buffer, or NULL. */
static const char *rd_str(reader *r) {
    if (r->end - r->p < 2) { r->bad = 1; r->p = r->end; return NULL; }
    uint16_t n = (uint16_t)(r->p[0] | r->p[1] << 8);
    r->p += 2;
    if (n == 0 || r->end - r->p < n || r->p[n - 1] != 0) { r->bad = 1; r->p = r->end; return NULL; }
    const char *s = (const char *)r->p;
    r->p += n;
    return s;
}

static int map_dtype(uint8_t t) {
    switch (t) {
    case 0: return AM_DT_F32;
    case 1: return AM_DT_I8;
    case 2: return AM_DT_I16;
    case 3: return AM_DT_I32;
    case 4: return AM_DT_F16;
    case 5: return AM_DT_BF16;
    default: return -1;
    }
}

static int parse_model_bin(const uint8_t *buf, size_t size, am_tensor_table *tab, char *err, size_t err_size) {
    reader r = {buf, buf + size, 0};
    uint32_t version = rd_u32(&r);
    if (r.bad) return am_fail(err, err_size, AM_E_MODEL, "model.bin is truncated (%zu bytes)", size);
    if (version < 1 || version > 6)
        return am_fail(err, err_size, AM_E_MODEL, "model.bin: unsupported format version %u (expected 1..6)",
                       version);
    if (version >= 2) {
        const char *spec = rd_str(&r);
        if (!spec) return am_fail(err, err_size, AM_E_MODEL, "model.bin: corrupt header (spec name)");
        if (strcmp(spec, "WhisperSpec") != 0)
            return am_fail(err, err_size, AM_E_MODEL, "model.bin holds a '%s', not a Whisper model", spec);
        rd_u32(&r); /* spec revision */
    }
    uint32_t n_vars = rd_u32(&r);
    if (r.bad || n_vars == 0 || n_vars > 100000)
        return am_fail(err, err_size, AM_E_MODEL, "model.bin: corrupt header (variable count)");
    for (uint32_t i = 0; i < n_vars; i++) {
        am_tensor_ref t;
        memset(&t, 0, sizeof t);
        t.name = rd_str(&r);
        uint8_t rank = rd_u8(&r);
        if (r.bad || !t.name || rank > 4)
            return am_fail(err, err_size, AM_E_MODEL, "model.bin is truncated or corrupt at variable %u of %u", i,
                           n_vars);
        t.rank = rank;
        uint64_t numel = 1;
        for (int d = 0; d < rank; d++) {
            t.dims[d] = rd_u32(&r);
            numel *= (uint64_t)t.dims[d];
        }
        int dt = map_dtype(rd_u8(&r));
        uint32_t nbytes = rd_u32(&r);
        if (r.bad) return am_fail(err, err_size, AM_E_MODEL, "model.bin is truncated in variable '%s'", t.name);
        if (dt < 0) return am_fail(err, err_size, AM_E_MODEL, "model.bin: variable '%s' has an unknown type", t.name);
        if ((uint64_t)(r.end - r.p) < nbytes)
            return am_fail(err, err_size, AM_E_MODEL, "model.bin is truncated in the data of '%s'", t.name);
        if (numel * dtype_size(dt) != nbytes)
            return am_fail(err, err_size, AM_E_MODEL, "model.bin: variable '%s' size does not match its shape",
                           t.name);
        t.dtype = dt;
        t.data = r.p;
        t.nbytes = nbytes;
        r.p += nbytes;
        if (tensor_table_add(tab, &t) != AM_OK) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    }
    /* aliases: resolved by copying the target's description under the alias name */
    if (version >= 3 && r.p < r.end) {
        uint32_t n_alias = rd_u32(&r);
        if (r.bad || n_alias > 100000) return am_fail(err, err_size, AM_E_MODEL, "model.bin: corrupt alias table");
        for (uint32_t i = 0; i < n_alias; i++) {
            const char *alias = rd_str(&r), *target = rd_str(&r);
            if (r.bad || !alias || !target)
                return am_fail(err, err_size, AM_E_MODEL, "model.bin is truncated in the alias table");
            const am_tensor_ref *tt = tensor_table_find(tab, target);
            if (!tt) continue;
            am_tensor_ref a = *tt;
            a.name = alias;
            if (tensor_table_add(tab, &a) != AM_OK) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
        }
    }
    /* attach "<name>_scale" to quantised weights */
    char sname[600];
    for (int i = 0; i < tab->n; i++) {
        am_tensor_ref *t = &tab->t[i];
        if (t->dtype != AM_DT_I8 && t->dtype != AM_DT_I16) continue;
        snprintf(sname, sizeof sname, "%s_scale", t->name);
        const am_tensor_ref *s = tensor_table_find(tab, sname);
        if (!s) continue; /* small integer scalars (flags, head counts) have no scale */
        if (s->dtype != AM_DT_F32)
            return am_fail(err, err_size, AM_E_MODEL, "model.bin: scale of '%s' is not float32", t->name);
        t->scale = s->data; /* may be unaligned: tensor_fetch copies each value */
        t->n_scale = tensor_numel(s);
    }
    return AM_OK;
}

static void ct2_name(char *out, size_t size, char stack, int layer, int kind) {
    const char *s = stack == 'e' ? "encoder" : "decoder";
    const char *leaf = "";
    switch (kind) {
    case AM_W_ATTN_LN_G: leaf = "self_attention/layer_norm/gamma"; break;
    case AM_W_ATTN_LN_B: leaf = "self_attention/layer_norm/beta"; break;
    case AM_W_ATTN_Q: leaf = "self_attention/linear_0/weight"; break;
    case AM_W_ATTN_Q_B: leaf = "self_attention/linear_0/bias"; break;
    case AM_W_ATTN_OUT: leaf = "self_attention/linear_1/weight"; break;
    case AM_W_ATTN_OUT_B: leaf = "self_attention/linear_1/bias"; break;
    case AM_W_CROSS_LN_G: leaf = "attention/layer_norm/gamma"; break;
    case AM_W_CROSS_LN_B: leaf = "attention/layer_norm/beta"; break;
    case AM_W_CROSS_Q: leaf = "attention/linear_0/weight"; break;
    case AM_W_CROSS_Q_B: leaf = "attention/linear_0/bias"; break;
    case AM_W_CROSS_K: leaf = "attention/linear_1/weight"; break;
    case AM_W_CROSS_K_B: leaf = "attention/linear_1/bias"; break;
    case AM_W_CROSS_OUT: leaf = "attention/linear_2/weight"; break;
    case AM_W_CROSS_OUT_B: leaf = "attention/linear_2/bias"; break;
    case AM_W_MLP_LN_G: leaf = "ffn/layer_norm/gamma"; break;
    case AM_W_MLP_LN_B: leaf = "ffn/layer_norm/beta"; break;
    case AM_W_FC1: leaf = "ffn/linear_0/weight"; break;
    case AM_W_FC1_B: leaf = "ffn/linear_0/bias"; break;
    case AM_W_FC2: leaf = "ffn/linear_1/weight"; break;
    case AM_W_FC2_B: leaf = "ffn/linear_1/bias"; break;
    default: out[0] = 0; return; /* separate K/V entries do not exist in the fused layout */
    }
    snprintf(out, size, "%s/layer_%d/%s", s, layer, leaf);
}

static const am_weight_names ct2_names = {
    .fused_qkv = 1,
    .conv1_w = "encoder/conv1/weight", .conv1_b = "encoder/conv1/bias",
    .conv2_w = "encoder/conv2/weight", .conv2_b = "encoder/conv2/bias",
    .enc_pos = "encoder/position_encodings/encodings",
    .enc_ln_g = "encoder/layer_norm/gamma", .enc_ln_b = "encoder/layer_norm/beta",
    .tok_emb = "decoder/embeddings/weight", .dec_pos = "decoder/position_encodings/encodings",
    .dec_ln_g = "decoder/layer_norm/gamma", .dec_ln_b = "decoder/layer_norm/beta",
    .name = ct2_name,
};

static int count_layers(const am_tensor_table *tab, const char *stack) {
    char name[128];
    int n = 0;
    for (;;) {
        snprintf(name, sizeof name, "%s/layer_%d/ffn/linear_0/weight", stack, n);
        if (!tensor_table_find(tab, name)) return n;
        n++;
    }
}

/* config.json "alignment_heads": [[layer, head], ...] — a small scan, not a general JSON parser. */
static void read_alignment_heads(const char *dir, am_model *m) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unsigned char *data;
    size_t size;
    if (am_read_file(path, &data, &size, NULL, 0) != AM_OK) return;
    const char *p = strstr((const char *)data, "\"alignment_heads\"");
    if (p) p = strchr(p, '[');
    if (p) {
        p++;
        int depth = 1, vals[2], nv = 0;
        while (*p && depth > 0 && m->n_alignment_heads < 64) {
            if (*p == '[') { depth++; nv = 0; p++; }
            else if (*p == ']') {
                if (depth == 2 && nv == 2) {
                    m->alignment_heads[m->n_alignment_heads][0] = vals[0];
                    m->alignment_heads[m->n_alignment_heads][1] = vals[1];
                    m->n_alignment_heads++;
                }
                depth--; p++;
            } else if (isdigit((unsigned char)*p)) {
                char *e;
                long v = strtol(p, &e, 10);
                if (nv < 2) vals[nv] = (int)v;
                nv++;
                p = e;
            } else p++;
        }
    }
    free(data);
}

int model_load_ct2(const char *dir, am_model *m, char *err, size_t err_size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    unsigned char *buf;
    size_t size;
    int rc = am_read_file(path, &buf, &size, err, err_size);
    if (rc != AM_OK) return rc;
    am_tensor_table tab = {0};
    char msg[400];
    rc = parse_model_bin(buf, size, &tab, msg, sizeof msg);
    if (rc == AM_OK) {
        am_hparams *hp = &m->hp;
        const am_tensor_ref *conv1 = tensor_table_find(&tab, "encoder/conv1/weight");
        const am_tensor_ref *epos = tensor_table_find(&tab, "encoder/position_encodings/encodings");
        const am_tensor_ref *emb = tensor_table_find(&tab, "decoder/embeddings/weight");
        const am_tensor_ref *dpos = tensor_table_find(&tab, "decoder/position_encodings/encodings");
        if (!conv1 || conv1->rank != 3 || !emb || emb->rank != 2 || !dpos || dpos->rank != 2) {
            rc = am_fail(msg, sizeof msg, AM_E_MODEL, "not a Whisper model (missing encoder/decoder tensors)");
        } else {
            hp->n_audio_state = (int)conv1->dims[0];
            hp->n_mels = (int)conv1->dims[1];
            hp->n_audio_ctx = epos && epos->rank == 2 ? (int)epos->dims[0] : 1500;
            hp->n_audio_layer = count_layers(&tab, "encoder");
            hp->n_audio_head = (int)tensor_scalar_int(&tab, "encoder/num_heads", hp->n_audio_state / 64);
            hp->n_vocab = (int)emb->dims[0];
            hp->n_text_state = (int)emb->dims[1];
            hp->n_text_ctx = (int)dpos->dims[0];
            hp->n_text_layer = count_layers(&tab, "decoder");
            hp->n_text_head = (int)tensor_scalar_int(&tab, "decoder/num_heads", hp->n_text_state / 64);
            rc = model_check_hparams(hp, msg, sizeof msg);
            if (rc == AM_OK) rc = model_build_weights(m, &tab, &ct2_names, msg, sizeof msg);
        }
        if (rc != AM_OK) {
            am_fail(err, err_size, rc, "%s: %s", path, msg);
        }
    } else {
        am_fail(err, err_size, rc, "%s: %s", path, msg);
    }
    tensor_table_free(&tab);
    free(buf);
    if (rc != AM_OK) return rc;

    m->tok = tokenizer_load_ct2(dir, m->hp.n_vocab, msg, sizeof msg);
    if (!m->tok) return am_fail(err, err_size, AM_E_MODEL, "%s: %s", dir, msg);
    read_alignment_heads(dir, m);
    snprintf(m->format, sizeof m->format, "ctranslate2");
    return AM_OK;
}
