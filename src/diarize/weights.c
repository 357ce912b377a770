/* weights.c — see weights.h.  Two passes over the bytes: the first checks every field and counts
 * names and values, the second copies them into two blocks, so a bad file allocates nothing. */
#include "diarize/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "common/util.h"

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static int name_char_ok(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(((const diar_tensor *)a)->name, ((const diar_tensor *)b)->name);
}

#define BAD(...) am_fail(err, err_size, AM_E_MODEL, "diarization weights: " __VA_ARGS__)

/* One pass: checks the layout; with w, fills w's tensors, names and values. */
static int walk(const unsigned char *d, size_t size, diar_weights *w, uint32_t *n_out, size_t *name_bytes,
                size_t *n_values, char *err, size_t err_size) {
    if (size < 12) return BAD("file of %zu bytes is too short for the header", size);
    if (memcmp(d, "AMDZ", 4) != 0) return BAD("bad magic (not an AMDZ file)");
    uint32_t version = rd32(d + 4);
    if (version != DIAR_WEIGHTS_VERSION)
        return BAD("version %u, this build reads version %d", version, DIAR_WEIGHTS_VERSION);
    uint32_t n = rd32(d + 8);
    if (n < 1 || n > DIAR_MAX_TENSORS) return BAD("%u tensors (1..%d allowed)", n, DIAR_MAX_TENSORS);
    size_t pos = 12, names = 0, values = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (size - pos < 8) return BAD("truncated in the header of tensor %u", i);
        uint32_t len = rd32(d + pos), nd = rd32(d + pos + 4);
        pos += 8;
        if (len < 1 || len > DIAR_MAX_NAME) return BAD("tensor %u: name of %u bytes (1..%d allowed)", i, len, DIAR_MAX_NAME);
        if (size - pos < len) return BAD("tensor %u: truncated in its name", i);
        for (uint32_t k = 0; k < len; k++)
            if (!name_char_ok(d[pos + k])) return BAD("tensor %u: name has byte 0x%02x", i, d[pos + k]);
        const unsigned char *name = d + pos;
        pos += len;
        if (nd > DIAR_MAX_DIMS) return BAD("tensor %u (%.*s): %u dimensions (at most %d)", i, (int)len, name, nd, DIAR_MAX_DIMS);
        if (size - pos < 4 * (size_t)nd + 8) return BAD("tensor %u (%.*s): truncated in its shape", i, (int)len, name);
        int64_t dims[DIAR_MAX_DIMS] = {0}, numel = 1;
        for (uint32_t k = 0; k < nd; k++) {
            uint32_t v = rd32(d + pos + 4 * k);
            if (v < 1 || v > DIAR_MAX_DIM) return BAD("tensor %u (%.*s): dimension %u is %u", i, (int)len, name, k, v);
            dims[k] = v;
            numel *= v;
            if (numel > (int64_t)(size / 4)) return BAD("tensor %u (%.*s): larger than the file", i, (int)len, name);
        }
        pos += 4 * (size_t)nd;
        uint64_t nbytes = rd64(d + pos);
        pos += 8;
        if (nbytes != 4 * (uint64_t)numel)
            return BAD("tensor %u (%.*s): %llu data bytes for %lld values", i, (int)len, name, (unsigned long long)nbytes,
                       (long long)numel);
        if (size - pos < nbytes) return BAD("tensor %u (%.*s): truncated in its data", i, (int)len, name);
        if (w) {
            diar_tensor *t = &w->t[i];
            memcpy(w->names + names, name, len);
            w->names[names + len] = 0;
            t->name = w->names + names;
            t->n_dims = (int)nd;
            memcpy(t->dims, dims, sizeof dims);
            t->numel = numel;
            memcpy(w->values + values, d + pos, (size_t)nbytes); /* little-endian hosts */
            t->data = w->values + values;
        }
        pos += (size_t)nbytes;
        names += len + 1;
        values += (size_t)numel;
    }
    if (pos != size) return BAD("%zu bytes after the last tensor", size - pos);
    *n_out = n;
    *name_bytes = names;
    *n_values = values;
    return AM_OK;
}

int diar_weights_load_memory(const void *data, size_t size, diar_weights **out, char *err, size_t err_size) {
    *out = NULL;
    const unsigned char *d = data;
    uint32_t n;
    size_t name_bytes, n_values;
    int rc = walk(d, size, NULL, &n, &name_bytes, &n_values, err, err_size);
    if (rc != AM_OK) return rc;
    diar_weights *w = calloc(1, sizeof *w);
    if (w) {
        w->t = calloc(n, sizeof *w->t);
        w->names = malloc(name_bytes);
        w->values = malloc(n_values ? n_values * sizeof(float) : 1);
    }
    if (!w || !w->t || !w->names || !w->values) {
        diar_weights_free(w);
        return am_fail(err, err_size, AM_E_NOMEM, "diarization weights: out of memory");
    }
    w->n = (int)n;
    walk(d, size, w, &n, &name_bytes, &n_values, err, err_size);
    /* names must be unique: sort a copy and compare neighbours */
    diar_tensor *s = malloc(n * sizeof *s);
    if (!s) {
        diar_weights_free(w);
        return am_fail(err, err_size, AM_E_NOMEM, "diarization weights: out of memory");
    }
    memcpy(s, w->t, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_names);
    for (uint32_t i = 1; i < n; i++)
        if (strcmp(s[i - 1].name, s[i].name) == 0) {
            rc = BAD("tensor %s appears twice", s[i].name);
            free(s);
            diar_weights_free(w);
            return rc;
        }
    free(s);
    *out = w;
    return AM_OK;
}

int diar_weights_load(const char *path, diar_weights **out, char *err, size_t err_size) {
    *out = NULL;
    unsigned char *d;
    size_t size;
    int rc = am_read_file(path, &d, &size, err, err_size);
    if (rc != AM_OK) return rc;
    rc = diar_weights_load_memory(d, size, out, err, err_size);
    free(d);
    if (rc == AM_E_MODEL && err && err_size) {
        /* name the file: "<path>: diarization weights: ..." */
        size_t lp = strlen(path), le = strlen(err);
        if (lp + 2 + le + 1 <= err_size) {
            memmove(err + lp + 2, err, le + 1);
            memcpy(err, path, lp);
            err[lp] = ':';
            err[lp + 1] = ' ';
        }
    }
    return rc;
}

void diar_weights_free(diar_weights *w) {
    if (!w) return;
    free(w->t);
    free(w->names);
    free(w->values);
    free(w);
}

const diar_tensor *diar_weights_find(const diar_weights *w, const char *name) {
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) return &w->t[i];
    return NULL;
}

static void shape_str(char *buf, size_t n, int nd, const int64_t *dims) {
    size_t p = 0;
    buf[0] = 0;
    if (nd == 0) snprintf(buf, n, "scalar");
    for (int k = 0; k < nd && p < n; k++) p += (size_t)snprintf(buf + p, n - p, k ? "x%lld" : "%lld", (long long)dims[k]);
}

const float *diar_weights_get(const diar_weights *w, const char *name, int n_dims, const int64_t *dims, char *err,
                              size_t err_size) {
    const diar_tensor *t = diar_weights_find(w, name);
    if (!t) {
        BAD("%s: missing", name);
        return NULL;
    }
    int same = t->n_dims == n_dims;
    for (int k = 0; same && k < n_dims; k++) same = t->dims[k] == dims[k];
    if (!same) {
        char got[64], want[64];
        shape_str(got, sizeof got, t->n_dims, t->dims);
        shape_str(want, sizeof want, n_dims, dims);
        BAD("%s: shape %s, expected %s", name, got, want);
        return NULL;
    }
    return t->data;
}
