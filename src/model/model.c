/* model.c — model lifetime, weight layout shared by both readers, and the public am_model_* calls. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "model/model.h"
#include "backend/backend.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/util.h"
#include "diarize/attach.h"
#include "model/tensors.h"
#include "model/weights_map.h"

#define MAPPED_BLOCK_BYTES ((size_t)1 << 20)

float *model_alloc_floats(am_model *m, size_t n) {
    if (n > (SIZE_MAX - sizeof(am_block) - 64) / sizeof(float)) return NULL;
    const size_t bytes = sizeof(am_block) + 64 + n * sizeof(float);
    am_block *b;
    if (bytes >= MAPPED_BLOCK_BYTES) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* zeroed */
        if (p == MAP_FAILED) return NULL;
        b = p;
        b->mapped = 1;
    } else {
        if (!(b = calloc(1, bytes))) return NULL;
        b->mapped = 0;
    }
    b->bytes = bytes;
    b->next = m->blocks;
    m->blocks = b;
    /* align the payload to 64 bytes for SIMD loads */
    uintptr_t p = (uintptr_t)(b + 1);
    p = (p + 63) & ~(uintptr_t)63;
    return (float *)p;
}

void model_block_free(am_block *b) {
    if (!b) return;
    if (b->mapped) munmap(b, b->bytes);
    else free(b);
}

uint16_t model_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, mant = x & 0x7fffff;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0)); /* inf, nan */
    int ee = (int)e - 127 + 15;
    if (ee >= 31) return (uint16_t)(sign | 0x7c00);
    if (ee <= 0) { /* subnormal half (or zero): shift the implicit 1 in, round to nearest even */
        if (ee < -10) return (uint16_t)sign;
        mant |= 0x800000;
        int shift = 14 - ee;
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)ee << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* a carry into the exponent is still right */
    return (uint16_t)(sign | h);
}

float model_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else { /* subnormal: renormalise */
            int e = -1;
            do { mant <<= 1; e++; } while (!(mant & 0x400));
            mant &= 0x3ff;
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float model_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void model_sinusoids(int n_ctx, int d, float *out) {
    int half = d / 2;
    double inc = log(10000.0) / (double)(half - 1);
    for (int t = 0; t < n_ctx; t++)
        for (int i = 0; i < half; i++) {
            double a = (double)t * exp(-inc * (double)i);
            out[(size_t)t * d + i] = (float)sin(a);
            out[(size_t)t * d + half + i] = (float)cos(a);
        }
}

/* ---- building the weights from a tensor table ------------------------------------------------ */

static int alloc_linear(am_model *m, am_linear *l, int n_out, int n_in) {
    l->n_out = n_out;
    l->n_in = n_in;
    l->w = model_alloc_floats(m, (size_t)n_out * n_in);
    l->b = model_alloc_floats(m, (size_t)n_out);
    return (l->w && l->b) ? AM_OK : AM_E_NOMEM;
}

static int alloc_norm(am_model *m, am_layernorm *n, int d) {
    n->n = d;
    n->gamma = model_alloc_floats(m, (size_t)d);
    n->beta = model_alloc_floats(m, (size_t)d);
    return (n->gamma && n->beta) ? AM_OK : AM_E_NOMEM;
}

#define TRY(x) do { int rc_ = (x); if (rc_ != AM_OK) return rc_; } while (0)

/* A linear layer whose rows are made of `n_parts` tensors stacked (fused Q|K|V and the like).
 * parts[i].weight names a [rows_i][n_in] tensor; parts[i].bias may be NULL (zeros). */
static int fetch_stacked(const am_tensor_table *tab, am_model *m, am_linear *l, int n_parts,
                         const char *const *weights, const char *const *biases, const int *rows, int n_in,
                         char *err, size_t err_size) {
    int n_out = 0;
    for (int i = 0; i < n_parts; i++) n_out += rows[i];
    const int int8 = m->precision == AM_PRECISION_INT8;
    if (int8) { /* int8 weights only (quantize.c), float bias */
        l->n_out = n_out;
        l->n_in = n_in;
        l->b = model_alloc_floats(m, (size_t)n_out);
        if (!l->b) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
        TRY(model_fetch_linear_int8(tab, m, l, n_parts, weights, rows, 0, err, err_size));
    } else if (alloc_linear(m, l, n_out, n_in) != AM_OK) {
        return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    }
    int off = 0;
    for (int i = 0; i < n_parts; i++) {
        int64_t wd[2] = {rows[i], n_in}, bd[1] = {rows[i]};
        if (!int8) TRY(tensor_fetch(tab, weights[i], 2, wd, l->w + (size_t)off * n_in, err, err_size));
        if (biases[i]) TRY(tensor_fetch(tab, biases[i], 1, bd, l->b + off, err, err_size));
        off += rows[i];
    }
    return AM_OK;
}

/* A [rows][cols] float tensor stored as half into *out (model-owned), 256 rows at a time. */
static int fetch_f16(const am_tensor_table *tab, am_model *m, const char *name, int rows, int cols, uint16_t **out,
                     char *err, size_t err_size) {
    uint16_t *h = (uint16_t *)model_alloc_floats(m, ((size_t)rows * cols + 1) / 2);
    float *tmp = malloc((size_t)256 * cols * sizeof(float));
    int64_t dims[2] = {rows, cols};
    int rc = (h && tmp) ? AM_OK : am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    const am_tensor_ref *t = tensor_table_find(tab, name);
    if (rc == AM_OK && t && t->dtype == AM_DT_F16 && t->nbytes == (size_t)rows * cols * 2) { /* already half */
        memcpy(h, t->data, t->nbytes);
        rows = 0;
    }
    for (int r0 = 0; r0 < rows && rc == AM_OK; r0 += 256) {
        int nr = rows - r0 < 256 ? rows - r0 : 256;
        rc = tensor_fetch_rows(tab, name, 2, dims, r0, nr, tmp, err, err_size);
        for (size_t i = 0; rc == AM_OK && i < (size_t)nr * cols; i++)
            h[(size_t)r0 * cols + i] = model_f32_to_f16(tmp[i]);
    }
    free(tmp);
    if (rc == AM_OK) *out = h;
    return rc;
}

static int fetch_linear(const am_tensor_table *tab, am_model *m, am_linear *l, const char *w, const char *b,
                        int n_out, int n_in, char *err, size_t err_size) {
    return fetch_stacked(tab, m, l, 1, &w, &b, &n_out, n_in, err, err_size);
}

static int fetch_norm(const am_tensor_table *tab, am_model *m, am_layernorm *n, const char *g, const char *b,
                      int d, char *err, size_t err_size) {
    int64_t dims[1] = {d};
    if (alloc_norm(m, n, d) != AM_OK) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    TRY(tensor_fetch(tab, g, 1, dims, n->gamma, err, err_size));
    return tensor_fetch(tab, b, 1, dims, n->beta, err, err_size);
}

/* Convolutions stay float32 in int8 models too (as in CTranslate2): they see the log-mel directly,
 * and quantising them flipped a word of the test set between the two front ends.  They are ~3% of
 * the encoder's multiply-adds. */
static int fetch_conv(const am_tensor_table *tab, am_model *m, am_linear *l, const char *w, const char *b, int d_out,
                      int d_in, char *err, size_t err_size) {
    int64_t wd[3] = {d_out, d_in, 3}, bd[1] = {d_out};
    if (alloc_linear(m, l, d_out, d_in * 3) != AM_OK) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    TRY(tensor_fetch(tab, w, 3, wd, l->w, err, err_size));
    return tensor_fetch(tab, b, 1, bd, l->b, err, err_size);
}

/* The parts every Whisper block has: pre-LN self-attention (Q|K|V fused, output) and the MLP. */
static int fetch_self_attention(const am_tensor_table *tab, am_model *m, const am_weight_names *nm, char stack,
                                int layer, int d, am_layernorm *ln, am_linear *qkv, am_linear *out, char *err,
                                size_t err_size) {
    char n1[160], n2[160], n3[160], b1[160], b2[160], b3[160];
    nm->name(n1, sizeof n1, stack, layer, AM_W_ATTN_LN_G); nm->name(b1, sizeof b1, stack, layer, AM_W_ATTN_LN_B);
    TRY(fetch_norm(tab, m, ln, n1, b1, d, err, err_size));
    nm->name(n1, sizeof n1, stack, layer, AM_W_ATTN_Q); nm->name(b1, sizeof b1, stack, layer, AM_W_ATTN_Q_B);
    nm->name(n2, sizeof n2, stack, layer, AM_W_ATTN_K); nm->name(b2, sizeof b2, stack, layer, AM_W_ATTN_K_B);
    nm->name(n3, sizeof n3, stack, layer, AM_W_ATTN_V); nm->name(b3, sizeof b3, stack, layer, AM_W_ATTN_V_B);
    const char *ws[3] = {n1, n2, n3}, *bs[3] = {b1, b2[0] ? b2 : NULL, b3};
    int rows[3] = {d, d, d};
    int parts = nm->fused_qkv ? 1 : 3;
    if (nm->fused_qkv) rows[0] = 3 * d;
    TRY(fetch_stacked(tab, m, qkv, parts, ws, bs, rows, d, err, err_size));
    nm->name(n1, sizeof n1, stack, layer, AM_W_ATTN_OUT); nm->name(b1, sizeof b1, stack, layer, AM_W_ATTN_OUT_B);
    return fetch_linear(tab, m, out, n1, b1, d, d, err, err_size);
}

static int fetch_mlp(const am_tensor_table *tab, am_model *m, const am_weight_names *nm, char stack, int layer, int d,
                     am_layernorm *ln, am_linear *fc1, am_linear *fc2, char *err, size_t err_size) {
    char n1[160], b1[160];
    nm->name(n1, sizeof n1, stack, layer, AM_W_MLP_LN_G); nm->name(b1, sizeof b1, stack, layer, AM_W_MLP_LN_B);
    TRY(fetch_norm(tab, m, ln, n1, b1, d, err, err_size));
    nm->name(n1, sizeof n1, stack, layer, AM_W_FC1); nm->name(b1, sizeof b1, stack, layer, AM_W_FC1_B);
    TRY(fetch_linear(tab, m, fc1, n1, b1, 4 * d, d, err, err_size));
    nm->name(n1, sizeof n1, stack, layer, AM_W_FC2); nm->name(b1, sizeof b1, stack, layer, AM_W_FC2_B);
    return fetch_linear(tab, m, fc2, n1, b1, d, 4 * d, err, err_size);
}

int model_build_weights(am_model *m, const am_tensor_table *tab, const am_weight_names *nm, char *err,
                        size_t err_size) {
    const am_hparams *hp = &m->hp;
    am_weights *w = &m->w;
    const int da = hp->n_audio_state, dt = hp->n_text_state;
    char n1[160], n2[160], n3[160], b1[160], b2[160], b3[160];

    TRY(fetch_conv(tab, m, &w->conv1, nm->conv1_w, nm->conv1_b, da, hp->n_mels, err, err_size));
    TRY(fetch_conv(tab, m, &w->conv2, nm->conv2_w, nm->conv2_b, da, da, err, err_size));

    w->enc_pos = model_alloc_floats(m, (size_t)hp->n_audio_ctx * da);
    if (!w->enc_pos) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    if (tensor_table_find(tab, nm->enc_pos)) {
        int64_t d2[2] = {hp->n_audio_ctx, da};
        TRY(tensor_fetch(tab, nm->enc_pos, 2, d2, w->enc_pos, err, err_size));
    } else {
        model_sinusoids(hp->n_audio_ctx, da, w->enc_pos);
    }

    w->enc = calloc((size_t)hp->n_audio_layer, sizeof *w->enc);
    w->dec = calloc((size_t)hp->n_text_layer, sizeof *w->dec);
    if (!w->enc || !w->dec) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");

    for (int i = 0; i < hp->n_audio_layer; i++) {
        am_encoder_layer *L = &w->enc[i];
        TRY(fetch_self_attention(tab, m, nm, 'e', i, da, &L->attn_ln, &L->attn_qkv, &L->attn_out, err, err_size));
        TRY(fetch_mlp(tab, m, nm, 'e', i, da, &L->mlp_ln, &L->fc1, &L->fc2, err, err_size));
    }
    TRY(fetch_norm(tab, m, &w->enc_ln, nm->enc_ln_g, nm->enc_ln_b, da, err, err_size));

    {
        int64_t d2[2] = {hp->n_vocab, dt};
        if (m->precision == AM_PRECISION_INT8) { /* int8 vocabulary projection; embeddings read from it */
            w->out_proj.n_out = hp->n_vocab;
            w->out_proj.n_in = dt;
            TRY(model_fetch_linear_int8(tab, m, &w->out_proj, 1, &nm->tok_emb, &hp->n_vocab, 0, err, err_size));
            const am_tensor_ref *e = tensor_table_find(tab, nm->tok_emb);
            if (e && e->dtype != AM_DT_I8) TRY(fetch_f16(tab, m, nm->tok_emb, hp->n_vocab, dt, &w->tok_emb_f16, err, err_size));
        } else {
            w->tok_emb = model_alloc_floats(m, (size_t)hp->n_vocab * dt);
            if (!w->tok_emb) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
            TRY(tensor_fetch(tab, nm->tok_emb, 2, d2, w->tok_emb, err, err_size));
        }
        int64_t p2[2] = {hp->n_text_ctx, dt};
        w->dec_pos = model_alloc_floats(m, (size_t)hp->n_text_ctx * dt);
        if (!w->dec_pos) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
        TRY(tensor_fetch(tab, nm->dec_pos, 2, p2, w->dec_pos, err, err_size));
    }
    for (int i = 0; i < hp->n_text_layer; i++) {
        am_decoder_layer *L = &w->dec[i];
        TRY(fetch_self_attention(tab, m, nm, 'd', i, dt, &L->attn_ln, &L->attn_qkv, &L->attn_out, err, err_size));
        nm->name(n1, sizeof n1, 'd', i, AM_W_CROSS_LN_G); nm->name(b1, sizeof b1, 'd', i, AM_W_CROSS_LN_B);
        TRY(fetch_norm(tab, m, &L->cross_ln, n1, b1, dt, err, err_size));
        nm->name(n1, sizeof n1, 'd', i, AM_W_CROSS_Q); nm->name(b1, sizeof b1, 'd', i, AM_W_CROSS_Q_B);
        TRY(fetch_linear(tab, m, &L->cross_q, n1, b1, dt, dt, err, err_size));
        nm->name(n2, sizeof n2, 'd', i, AM_W_CROSS_K); nm->name(b2, sizeof b2, 'd', i, AM_W_CROSS_K_B);
        nm->name(n3, sizeof n3, 'd', i, AM_W_CROSS_V); nm->name(b3, sizeof b3, 'd', i, AM_W_CROSS_V_B);
        {
            const char *ws[2] = {n2, n3}, *bs[2] = {b2[0] ? b2 : NULL, b3};
            int rows[2] = {da, da};
            int parts = nm->fused_qkv ? 1 : 2;
            if (nm->fused_qkv) rows[0] = 2 * dt;
            TRY(fetch_stacked(tab, m, &L->cross_kv, parts, ws, bs, rows, da, err, err_size));
        }
        nm->name(n1, sizeof n1, 'd', i, AM_W_CROSS_OUT); nm->name(b1, sizeof b1, 'd', i, AM_W_CROSS_OUT_B);
        TRY(fetch_linear(tab, m, &L->cross_out, n1, b1, dt, dt, err, err_size));
        TRY(fetch_mlp(tab, m, nm, 'd', i, dt, &L->mlp_ln, &L->fc1, &L->fc2, err, err_size));
    }
    TRY(fetch_norm(tab, m, &w->dec_ln, nm->dec_ln_g, nm->dec_ln_b, dt, err, err_size));
    return AM_OK;
}

int model_check_hparams(const am_hparams *hp, char *err, size_t err_size) {
    if (hp->n_vocab < 51000 || hp->n_vocab > 52000 || hp->n_mels < 1 || hp->n_mels > 256 ||
        hp->n_audio_ctx < 1 || hp->n_audio_ctx > 4096 || hp->n_text_ctx < 1 || hp->n_text_ctx > 4096 ||
        hp->n_audio_state < 1 || hp->n_audio_state > 8192 || hp->n_text_state < 1 || hp->n_text_state > 8192 ||
        hp->n_audio_head < 1 || hp->n_audio_state % hp->n_audio_head != 0 || hp->n_text_head < 1 ||
        hp->n_text_state % hp->n_text_head != 0 || hp->n_audio_layer < 1 || hp->n_audio_layer > 64 ||
        hp->n_text_layer < 1 || hp->n_text_layer > 64 || hp->n_audio_state != hp->n_text_state)
        return am_fail(err, err_size, AM_E_MODEL,
                       "implausible Whisper hyper-parameters (n_vocab %d, n_mels %d, d %d/%d, heads %d/%d, "
                       "layers %d/%d)",
                       hp->n_vocab, hp->n_mels, hp->n_audio_state, hp->n_text_state, hp->n_audio_head,
                       hp->n_text_head, hp->n_audio_layer, hp->n_text_layer);
    return AM_OK;
}

/* ---- public API ----------------------------------------------------------------------------- */

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

am_load_options am_load_options_default(void) {
    am_load_options o;
    memset(&o, 0, sizeof o);
    o.precision = AM_PRECISION_INT8;
    return o;
}

const char *am_model_precision(const am_model *m) {
    if (!m) return "f32";
    return m->precision == AM_PRECISION_INT8 ? "int8" : m->precision == AM_PRECISION_F16 ? "f16" : "f32";
}

am_status am_model_load(const char *path, am_model **out, char *err, size_t err_size) {
    return am_model_load_ex(path, NULL, out, err, err_size);
}

am_status am_model_load_ex(const char *path, const am_load_options *opts, am_model **out, char *err, size_t err_size) {
    if (!path || !out) return am_fail(err, err_size, AM_E_INVALID_ARG, "am_model_load: NULL argument");
    *out = NULL;
    am_load_options o = opts ? *opts : am_load_options_default();
    if (o.precision != AM_PRECISION_INT8 && o.precision != AM_PRECISION_F32 && o.precision != AM_PRECISION_F16)
        return am_fail(err, err_size, AM_E_INVALID_ARG, "am_model_load_ex: unknown precision %d", o.precision);
    am_model *m = calloc(1, sizeof *m);
    if (!m) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    m->precision = o.precision; /* the readers build int8 or float linear layers from it */
    int rc;
    char dir[4096];
    if (is_dir(path)) {
        rc = model_load_ct2(path, m, err, err_size);
    } else if (is_file(path)) {
        /* a model.bin inside a CTranslate2 directory, or a ggml file: look at the magic */
        unsigned char magic[4] = {0};
        FILE *f = fopen(path, "rb");
        size_t got = f ? fread(magic, 1, 4, f) : 0;
        if (f) fclose(f);
        uint32_t mv = (uint32_t)magic[0] | (uint32_t)magic[1] << 8 | (uint32_t)magic[2] << 16 |
                      (uint32_t)magic[3] << 24;
        if (got == 4 && mv == 0x67676d6cu) {
            rc = model_load_ggml(path, m, err, err_size);
        } else {
            const char *slash = strrchr(path, '/');
            if (slash && strcmp(slash + 1, "model.bin") == 0 && got == 4 && mv >= 1 && mv <= 16) {
                snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
                rc = model_load_ct2(dir, m, err, err_size);
            } else if (!slash && strcmp(path, "model.bin") == 0 && got == 4 && mv >= 1 && mv <= 16) {
                rc = model_load_ct2(".", m, err, err_size);
            } else {
                rc = am_fail(err, err_size, AM_E_MODEL,
                             "%s: not a Whisper model (neither a ggml file nor a CTranslate2 model.bin)", path);
            }
        }
    } else {
        rc = am_fail(err, err_size, AM_E_IO, "%s: no such model file or directory", path);
    }
    if (rc == AM_OK && !(m->diar = diar_cache_create())) rc = am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    if (rc == AM_OK) { /* the backend places the weights once, for every transcription to share */
        int st = AM_OK;
        m->backend = backend_create(o.backend, o.device, m, &st, err, err_size, m->backend_warning,
                                    sizeof m->backend_warning);
        if (!m->backend) rc = st;
    }
    if (rc != AM_OK) {
        am_model_free(m);
        return rc;
    }
    *out = m;
    return AM_OK;
}

const char *am_model_backend(const am_model *m) { return m && m->backend ? m->backend->name : ""; }

const char *am_model_backend_warning(const am_model *m) { return m ? m->backend_warning : ""; }

void am_model_free(am_model *m) {
    if (!m) return;
    diar_cache_free(m->diar);
    backend_destroy(m->backend);
    am_block *b = m->blocks;
    while (b) {
        am_block *n = b->next;
        model_block_free(b);
        b = n;
    }
    free(m->w.enc);
    free(m->w.dec);
    tokenizer_free(m->tok);
    free(m);
}

static const char *size_name(const am_hparams *hp) {
    static const struct { const char *name; int d, layers; } sizes[] = {
        {"tiny", 384, 4}, {"base", 512, 6}, {"small", 768, 12}, {"medium", 1024, 24}, {"large", 1280, 32},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (hp->n_audio_state == sizes[i].d && hp->n_audio_layer == sizes[i].layers) return sizes[i].name;
    return "custom";
}

void am_model_get_info(const am_model *m, am_model_info *info) {
    memset(info, 0, sizeof *info);
    info->format = m->format;
    info->size_name = size_name(&m->hp);
    info->multilingual = tokenizer_is_multilingual(m->tok);
    info->n_vocab = m->hp.n_vocab;
    info->n_mels = m->hp.n_mels;
    info->n_audio_ctx = m->hp.n_audio_ctx;
    info->n_audio_state = m->hp.n_audio_state;
    info->n_audio_head = m->hp.n_audio_head;
    info->n_audio_layer = m->hp.n_audio_layer;
    info->n_text_ctx = m->hp.n_text_ctx;
    info->n_text_state = m->hp.n_text_state;
    info->n_text_head = m->hp.n_text_head;
    info->n_text_layer = m->hp.n_text_layer;
    info->backend = m->backend ? m->backend->name : "";
    info->weight_bytes = m->backend ? m->backend->weight_bytes : 0;
}

am_status am_model_resolve(const char *name, char *out, size_t out_size, char *err, size_t err_size) {
    if (!name || !*name) return am_fail(err, err_size, AM_E_INVALID_ARG, "empty model name");
    if (is_dir(name) || is_file(name)) {
        snprintf(out, out_size, "%s", name);
        return AM_OK;
    }
    if (strchr(name, '/'))
        return am_fail(err, err_size, AM_E_IO, "%s: no such model file or directory", name);
    const char *env = getenv("AMANUENSIS_MODELS");
    const char *roots[2] = {env && *env ? env : NULL, "models"};
    static const char *const patterns[] = {"%s/%s", "%s/%s.bin", "%s/ggml-%s.bin"};
    char cand[4096];
    for (int r = 0; r < 2; r++) {
        if (!roots[r]) continue;
        for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
            snprintf(cand, sizeof cand, patterns[p], roots[r], name);
            if (is_dir(cand) || is_file(cand)) {
                snprintf(out, out_size, "%s", cand);
                return AM_OK;
            }
        }
    }
    return am_fail(err, err_size, AM_E_IO,
                   "model '%s' not found (looked in %s%s./models; fetch it with scripts/fetch-model %s)", name,
                   env && *env ? env : "", env && *env ? ", " : "", name);
}
