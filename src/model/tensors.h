/* tensors.h — a table of named tensors read from a model file, and checked conversion to float32.
 * Both readers (CTranslate2, ggml) fill one; dims are always outermost first (PyTorch order). */
#ifndef AM_TENSORS_H
#define AM_TENSORS_H

#include <stddef.h>
#include <stdint.h>

enum am_dtype { AM_DT_F32, AM_DT_F16, AM_DT_BF16, AM_DT_I8, AM_DT_I16, AM_DT_I32 };

typedef struct am_tensor_ref {
    const char *name;      /* points into the file buffer or a table-owned copy */
    int rank;
    int64_t dims[4];
    int dtype;             /* enum am_dtype */
    const uint8_t *data;
    size_t nbytes;
    const uint8_t *scale;  /* int8/int16 rows: f32 per-row multipliers (w = q / scale), else NULL */
    int64_t n_scale;
} am_tensor_ref;

typedef struct am_tensor_table {
    am_tensor_ref *t;
    int n, cap;
} am_tensor_table;

int tensor_table_add(am_tensor_table *tab, const am_tensor_ref *ref);
void tensor_table_free(am_tensor_table *tab);
const am_tensor_ref *tensor_table_find(const am_tensor_table *tab, const char *name);
size_t dtype_size(int dtype);
int64_t tensor_numel(const am_tensor_ref *t);

/* Find `name`, check that its shape (ignoring size-1 dims) equals dims[0..rank-1] (also ignoring
 * size-1 dims), and convert it to float32 into dst.  On failure writes a one-line message. */
int tensor_fetch(const am_tensor_table *tab, const char *name, int rank, const int64_t *dims, float *dst,
                 char *err, size_t err_size);

/* The same, converting only rows [row0, row0 + n_rows) of dims[0] (n_rows < 0: all) into dst. */
int tensor_fetch_rows(const am_tensor_table *tab, const char *name, int rank, const int64_t *dims, int64_t row0,
                      int64_t n_rows, float *dst, char *err, size_t err_size);

/* The same checks, for an int8 tensor with per-row scales (CTranslate2 int8): copies the raw values
 * to dst [rows][row_len] and writes w ≈ q · row_scale[r] (the inverse of CTranslate2's scale).
 * Returns AM_E_UNSUPPORTED (no message) when the tensor is not int8 with a scale. */
int tensor_fetch_i8(const am_tensor_table *tab, const char *name, int rank, const int64_t *dims, int8_t *dst,
                    float *row_scale, char *err, size_t err_size);

/* Read an integer scalar (rank 0 or one element); returns `fallback` when absent. */
long tensor_scalar_int(const am_tensor_table *tab, const char *name, long fallback);

#endif
