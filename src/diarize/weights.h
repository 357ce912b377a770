/* weights.h — the diarization weight file (models/diarization/diarization.bin): named float32
 * tensors of the speaker-embedding network (CAM++, "campplus.*") and of the segmentation network
 * (pyannote segmentation-3.0, "segmentation.*"), written by scripts/diarize_weights.py.
 *
 * Layout (little endian):
 *     char  magic[4] = "AMDZ"
 *     u32   version = 1
 *     u32   n_tensors                 1 .. DIAR_MAX_TENSORS
 *     per tensor:
 *       u32 name_len                  1 .. DIAR_MAX_NAME, then the name: [A-Za-z0-9_.], unique
 *       u32 n_dims                    0 .. 4 (0: a scalar)
 *       u32 dims[n_dims]              outermost first (PyTorch order), each 1 .. DIAR_MAX_DIM
 *       u64 n_bytes                   4 * the product of dims
 *       float32 data[n_bytes / 4]     row-major
 *     nothing after the last tensor.
 *
 * The file is untrusted: every field is checked and a bad file is an AM_E_MODEL error with a
 * one-line message.  A loaded diar_weights is read-only and may be shared by threads. */
#ifndef AM_DIARIZE_WEIGHTS_H
#define AM_DIARIZE_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#define DIAR_WEIGHTS_VERSION 1
#define DIAR_MAX_TENSORS 4096
#define DIAR_MAX_NAME 127
#define DIAR_MAX_DIMS 4
#define DIAR_MAX_DIM (1 << 24)

typedef struct diar_tensor {
    const char *name;      /* NUL-terminated, owned by the diar_weights */
    int n_dims;
    int64_t dims[DIAR_MAX_DIMS];
    int64_t numel;
    const float *data;     /* 4-byte aligned copy */
} diar_tensor;

typedef struct diar_weights {
    diar_tensor *t;
    int n;
    float *values;         /* every tensor's data, one block */
    char *names;           /* every name, NUL-terminated, one block */
} diar_weights;

/* Read and check a weight file.  Returns AM_OK, AM_E_IO (cannot read), AM_E_NOMEM or AM_E_MODEL
 * (malformed) with a one-line message in err. */
int diar_weights_load(const char *path, diar_weights **out, char *err, size_t err_size);
int diar_weights_load_memory(const void *data, size_t size, diar_weights **out, char *err, size_t err_size);
void diar_weights_free(diar_weights *w);

/* The tensor `name`, or NULL when absent. */
const diar_tensor *diar_weights_find(const diar_weights *w, const char *name);

/* The data of `name` when its shape is exactly dims[0..n_dims-1]; else NULL and an AM_E_MODEL
 * message ("...: missing" or "...: shape 3x4, expected 4x3"). */
const float *diar_weights_get(const diar_weights *w, const char *name, int n_dims, const int64_t *dims, char *err,
                              size_t err_size);

#endif
