/* tensors.c — see tensors.h. */
#include "model/tensors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "amanuensis.h"
#include "common/util.h"
#include "model/model.h"

int tensor_table_add(am_tensor_table *tab, const am_tensor_ref *ref) {
    if (tab->n == tab->cap) {
        int cap = tab->cap ? tab->cap * 2 : 256;
        am_tensor_ref *t = realloc(tab->t, (size_t)cap * sizeof *t);
        if (!t) return AM_E_NOMEM;
        tab->t = t;
        tab->cap = cap;
    }
    tab->t[tab->n++] = *ref;
    return AM_OK;
}

void tensor_table_free(am_tensor_table *tab) {
    free(tab->t);
    tab->t = NULL;
    tab->n = tab->cap = 0;
}

const am_tensor_ref *tensor_table_find(const am_tensor_table *tab, const char *name) {
    for (int i = 0; i < tab->n; i++)
        if (strcmp(tab->t[i].name, name) == 0) return &tab->t[i];
    return NULL;
}

size_t dtype_size(int dtype) {
    switch (dtype) {
    case AM_DT_F32: case AM_DT_I32: return 4;
    case AM_DT_F16: case AM_DT_BF16: case AM_DT_I16: return 2;
    case AM_DT_I8: return 1;
    default: return 0;
    }
}

int64_t tensor_numel(const am_tensor_ref *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->dims[i];
    return n;
}

/* The dims that are not 1, as a string for comparisons and messages: "384x80x3". */
static void shape_string(int rank, const int64_t *dims, char *out, size_t size) {
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < rank; i++) {
        if (dims[i] == 1 && rank > 1) continue;
        int w = snprintf(out + len, size - len, "%s%" PRId64, len ? "x" : "", dims[i]);
        if (w < 0 || (size_t)w >= size - len) break;
        len += (size_t)w;
    }
}

/* n IEEE halves (unaligned bytes) → float.  F16C (every AVX2 CPU has it) converts 8 at a time,
 * exactly as model_f16_to_f32 does one. */
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx,f16c"))) static void f16_to_f32_f16c(const uint8_t *p, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i))));
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = model_f16_to_f32(h);
    }
}
#endif

static void f16_to_f32_row(const uint8_t *p, float *dst, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    const char *off = getenv("AMANUENSIS_NO_SIMD");
    __builtin_cpu_init();
    if (!(off && off[0] == '1') && __builtin_cpu_supports("avx2")) {
        f16_to_f32_f16c(p, dst, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = model_f16_to_f32(h);
    }
}

int tensor_fetch(const am_tensor_table *tab, const char *name, int rank, const int64_t *dims, float *dst,
                 char *err, size_t err_size) {
    return tensor_fetch_rows(tab, name, rank, dims, 0, -1, dst, err, err_size);
}

int tensor_fetch_rows(const am_tensor_table *tab, const char *name, int rank, const int64_t *dims, int64_t row0,
                      int64_t n_rows, float *dst, char *err, size_t err_size) {
    const am_tensor_ref *t = tensor_table_find(tab, name);
    if (!t) return am_fail(err, err_size, AM_E_MODEL, "missing tensor '%s'", name);
    char want[96], have[96];
    shape_string(rank, dims, want, sizeof want);
    shape_string(t->rank, t->dims, have, sizeof have);
    if (strcmp(want, have) != 0)
        return am_fail(err, err_size, AM_E_MODEL, "tensor '%s' has shape %s, expected %s", name, have, want);
    int64_t n = tensor_numel(t);
    size_t es = dtype_size(t->dtype);
    if (es == 0 || (size_t)n * es != t->nbytes)
        return am_fail(err, err_size, AM_E_MODEL, "tensor '%s': %zu bytes do not match its shape and type", name,
                       t->nbytes);
    const uint8_t *p = t->data;
    int64_t row_len = t->rank > 0 ? n / t->dims[0] : 1;
    if ((t->dtype == AM_DT_I8 || t->dtype == AM_DT_I16) && t->rank >= 2 && !t->scale)
        return am_fail(err, err_size, AM_E_MODEL, "quantised tensor '%s' has no scale", name);
    if ((t->dtype == AM_DT_I8 || t->dtype == AM_DT_I16) && t->scale && t->n_scale != t->dims[0] && t->n_scale != 1)
        return am_fail(err, err_size, AM_E_MODEL, "tensor '%s': scale has %" PRId64 " entries for %" PRId64 " rows",
                       name, t->n_scale, t->dims[0]);
    int64_t first = 0, last = n;
    if (n_rows >= 0) { /* rows [row0, row0 + n_rows) of dims[0] */
        if (row0 < 0 || t->rank < 1 || row0 + n_rows > t->dims[0])
            return am_fail(err, err_size, AM_E_MODEL, "tensor '%s': row range out of bounds", name);
        first = row0 * row_len;
        last = (row0 + n_rows) * row_len;
    }
    if (t->dtype == AM_DT_F32) {
        memcpy(dst, p + 4 * first, (size_t)(last - first) * 4);
        return AM_OK;
    }
    if (t->dtype == AM_DT_F16) {
        f16_to_f32_row(p + 2 * first, dst, (size_t)(last - first));
        return AM_OK;
    }
    for (int64_t i = first; i < last; i++) {
        float v;
        switch (t->dtype) {
        case AM_DT_F32: memcpy(&v, p + 4 * i, 4); break;
        case AM_DT_F16: { uint16_t h; memcpy(&h, p + 2 * i, 2); v = model_f16_to_f32(h); break; }
        case AM_DT_BF16: { uint16_t h; memcpy(&h, p + 2 * i, 2); v = model_bf16_to_f32(h); break; }
        case AM_DT_I32: { int32_t q; memcpy(&q, p + 4 * i, 4); v = (float)q; break; }
        case AM_DT_I16:
        case AM_DT_I8: {
            float q;
            if (t->dtype == AM_DT_I8) q = (float)(int8_t)p[i];
            else { int16_t s; memcpy(&s, p + 2 * i, 2); q = (float)s; }
            float scale = 1.0f;
            if (t->scale) memcpy(&scale, t->scale + 4 * (t->n_scale == 1 ? 0 : i / row_len), 4);
            v = scale != 0.0f ? q / scale : 0.0f;
            break;
        }
        default: return am_fail(err, err_size, AM_E_MODEL, "tensor '%s': unsupported type", name);
        }
        dst[i - first] = v;
    }
    return AM_OK;
}

int tensor_fetch_i8(const am_tensor_table *tab, const char *name, int rank, const int64_t *dims, int8_t *dst,
                    float *row_scale, char *err, size_t err_size) {
    const am_tensor_ref *t = tensor_table_find(tab, name);
    if (!t) return am_fail(err, err_size, AM_E_MODEL, "missing tensor '%s'", name);
    if (t->dtype != AM_DT_I8 || !t->scale || t->rank < 2) return AM_E_UNSUPPORTED;
    char want[96], have[96];
    shape_string(rank, dims, want, sizeof want);
    shape_string(t->rank, t->dims, have, sizeof have);
    if (strcmp(want, have) != 0)
        return am_fail(err, err_size, AM_E_MODEL, "tensor '%s' has shape %s, expected %s", name, have, want);
    int64_t n = tensor_numel(t), rows = t->dims[0];
    if ((size_t)n != t->nbytes || (t->n_scale != rows && t->n_scale != 1))
        return am_fail(err, err_size, AM_E_MODEL, "tensor '%s': size or scale count does not match its shape", name);
    memcpy(dst, t->data, (size_t)n);
    for (int64_t r = 0; r < rows; r++) {
        float s;
        memcpy(&s, t->scale + 4 * (t->n_scale == 1 ? 0 : r), 4);
        row_scale[r] = s != 0.0f ? 1.0f / s : 0.0f;
    }
    return AM_OK;
}

long tensor_scalar_int(const am_tensor_table *tab, const char *name, long fallback) {
    const am_tensor_ref *t = tensor_table_find(tab, name);
    if (!t || tensor_numel(t) != 1 || t->nbytes != dtype_size(t->dtype)) return fallback;
    switch (t->dtype) {
    case AM_DT_I8: return (int8_t)t->data[0];
    case AM_DT_I16: { int16_t v; memcpy(&v, t->data, 2); return v; }
    case AM_DT_I32: { int32_t v; memcpy(&v, t->data, 4); return v; }
    case AM_DT_F32: { float v; memcpy(&v, t->data, 4); return (long)v; }
    default: return fallback;
    }
}
