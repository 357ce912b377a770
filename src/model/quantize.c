/* quantize.c — int8 (W8A8) weights in the model's neutral form: per-output-channel symmetric
 * quantisation to row-major int8 with one scale per row, and loading CTranslate2 int8 tensors
 * without widening them.  The backend packs them into its own layout when it is created.
 *
 * Memory: in an int8 model every linear layer of the transformer (attention projections, MLP) and
 * the vocabulary projection hold int8 only (1 byte per weight + 4 bytes per output row); the float
 * copies are never allocated when loading (model_fetch_linear_int8 converts one tensor at a time) or
 * are released (model_quantize_int8 on a float-loaded model).  Float stays for the two convolutions
 * (see fetch_conv in model.c), biases, layer norms and positional embeddings; the token embeddings
 * are kept in half precision (am_weights.tok_emb_f16), or read back from the int8 projection when
 * the file itself is int8. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "model/model.h"
#include "model/tensors.h"

static void *alloc_bytes(am_model *m, size_t n) { return model_alloc_floats(m, (n + 3) / 4); }

void model_release(am_model *m, void *p) {
    if (!p) return;
    for (am_block **pp = &m->blocks; *pp; pp = &(*pp)->next) {
        am_block *b = *pp;
        uintptr_t base = (uintptr_t)(b + 1);
        if ((uintptr_t)p >= base && (uintptr_t)p < base + 64) { /* the payload is aligned within 64 bytes */
            *pp = b->next;
            model_block_free(b);
            return;
        }
    }
}

void model_quantize_rows(int n, int k, const float *w, int ldw, int8_t *q, int ldq, float *scale) {
    for (int j = 0; j < n; j++) {
        const float *r = w + (size_t)j * ldw;
        float amax = 0.0f;
        for (int i = 0; i < k; i++) amax = fabsf(r[i]) > amax ? fabsf(r[i]) : amax;
        float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        scale[j] = amax / 127.0f;
        for (int i = 0; i < k; i++) {
            long v = lrintf(r[i] * inv);
            q[(size_t)j * ldq + i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    }
}

/* rows: [n_out][n_in] int8 (−128 clamped to −127), scale: [n_out] → copies owned by the model */
static int store_into(am_model *m, am_linear *l, const int8_t *rows, const float *scale) {
    const size_t n = (size_t)l->n_out * l->n_in;
    l->q = alloc_bytes(m, n);
    l->scale = model_alloc_floats(m, (size_t)l->n_out);
    if (!l->q || !l->scale) return AM_E_NOMEM;
    for (size_t i = 0; i < n; i++) l->q[i] = rows[i] == -128 ? -127 : rows[i];
    memcpy(l->scale, scale, (size_t)l->n_out * sizeof(float));
    return AM_OK;
}

int model_quantize_linear(am_model *m, am_linear *l) {
    if (!l->w || l->q) return AM_OK;
    int8_t *rows = malloc((size_t)l->n_out * (size_t)l->n_in);
    float *sc = malloc((size_t)l->n_out * sizeof(float));
    int rc = AM_E_NOMEM;
    if (rows && sc) {
        model_quantize_rows(l->n_out, l->n_in, l->w, l->n_in, rows, l->n_in, sc);
        rc = store_into(m, l, rows, sc);
    }
    free(rows);
    free(sc);
    if (rc == AM_OK) {
        model_release(m, l->w);
        l->w = NULL;
    }
    return rc;
}

int model_quantize_int8(am_model *m) {
    am_weights *w = &m->w;
    int rc = AM_OK;
#define Q(l) do { if (rc == AM_OK) rc = model_quantize_linear(m, &(l)); } while (0)
    /* the convolutions stay float (see fetch_conv in model.c) */
    for (int i = 0; i < m->hp.n_audio_layer; i++) {
        Q(w->enc[i].attn_qkv); Q(w->enc[i].attn_out); Q(w->enc[i].fc1); Q(w->enc[i].fc2);
    }
    for (int i = 0; i < m->hp.n_text_layer; i++) {
        am_decoder_layer *L = &w->dec[i];
        Q(L->attn_qkv); Q(L->attn_out); Q(L->cross_q); Q(L->cross_kv); Q(L->cross_out); Q(L->fc1); Q(L->fc2);
    }
#undef Q
    if (rc == AM_OK && w->tok_emb && !w->out_proj.q) {
        /* embeddings stay half precision (see am_weights.tok_emb_f16) */
        const size_t n = (size_t)m->hp.n_vocab * m->hp.n_text_state;
        w->tok_emb_f16 = (uint16_t *)model_alloc_floats(m, (n + 1) / 2);
        if (!w->tok_emb_f16) return AM_E_NOMEM;
        for (size_t i = 0; i < n; i++) w->tok_emb_f16[i] = model_f32_to_f16(w->tok_emb[i]);
        w->out_proj.w = w->tok_emb;
        w->out_proj.b = NULL;
        w->out_proj.n_out = m->hp.n_vocab;
        w->out_proj.n_in = m->hp.n_text_state;
        rc = model_quantize_linear(m, &w->out_proj);
        if (rc == AM_OK) w->tok_emb = NULL; /* released with out_proj.w */
        else w->out_proj.w = NULL;
    }
    if (rc == AM_OK) m->precision = AM_PRECISION_INT8;
    return rc;
}

int model_fetch_linear_int8(const am_tensor_table *tab, am_model *m, am_linear *l, int n_parts,
                            const char *const *names, const int *rows, int conv_k3, char *err, size_t err_size) {
    const int n_out = l->n_out, n_in = l->n_in;
    int8_t *q = malloc((size_t)n_out * (size_t)n_in);
    float *sc = malloc((size_t)n_out * sizeof(float));
    float *tmp = NULL;
    int rc = (q && sc) ? AM_OK : am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    for (int i = 0, off = 0; i < n_parts && rc == AM_OK; off += rows[i], i++) {
        int64_t dims[3] = {rows[i], conv_k3 ? n_in / 3 : n_in, 3};
        int rank = conv_k3 ? 3 : 2;
        rc = tensor_fetch_i8(tab, names[i], rank, dims, q + (size_t)off * n_in, sc + off, err, err_size);
        if (rc == AM_E_UNSUPPORTED) { /* not int8 with scales: via float, 256 rows at a time (low peak memory) */
            const int chunk = 256;
            float *t = realloc(tmp, (size_t)(rows[i] < chunk ? rows[i] : chunk) * (size_t)n_in * sizeof(float));
            if (!t) { rc = am_fail(err, err_size, AM_E_NOMEM, "out of memory"); break; }
            tmp = t;
            rc = AM_OK;
            for (int r0 = 0; r0 < rows[i] && rc == AM_OK; r0 += chunk) {
                int nr = rows[i] - r0 < chunk ? rows[i] - r0 : chunk;
                rc = tensor_fetch_rows(tab, names[i], rank, dims, r0, nr, tmp, err, err_size);
                if (rc == AM_OK)
                    model_quantize_rows(nr, n_in, tmp, n_in, q + (size_t)(off + r0) * n_in, n_in, sc + off + r0);
            }
        }
    }
    if (rc == AM_OK && store_into(m, l, q, sc) != AM_OK) rc = am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    free(tmp);
    free(q);
    free(sc);
    return rc;
}
