/* backend.h — the narrow interface between the decoding policy (host) and a compute backend.
 *
 * One call per stage: `encode` runs a whole 30 s window through the encoder and leaves its output
 * and every decoder layer's cross-attention K/V resident in the backend; `decode` runs one decoder
 * step for a run of tokens (a prompt, or one new token) against the resident KV caches.  A CPU, CUDA
 * or NPU backend implements the same calls, so that each submits whole stages, never single ops. */
#ifndef AM_BACKEND_H
#define AM_BACKEND_H

#include <stddef.h>

#include "model/model.h"

typedef struct am_backend am_backend;

typedef struct am_backend_ops {
    const char *name;
    /* mel: [n_mels][2·n_audio_ctx] (3000 frames for 30 s). */
    int (*encode)(am_backend *b, const float *mel);
    /* Feed tokens[0..n_tokens) at positions n_past.. (the self-attention cache keeps positions
     * < n_past from earlier calls; later ones are overwritten).  For each i < n_rows write the
     * logits of the position following tokens[rows[i]] to logits + i·n_vocab. */
    int (*decode)(am_backend *b, const int *tokens, int n_tokens, int n_past, const int *rows, int n_rows,
                  float *logits);
    /* The encoder output of the last encode call, [n_audio_ctx][d]. */
    const float *(*encoder_output)(const am_backend *b);
    void (*destroy)(am_backend *b);
} am_backend_ops;

struct am_backend {
    const am_backend_ops *ops;
};

/* The CPU backend: float32, `n_threads` threads (0: every core). */
am_backend *backend_cpu_create(const am_model *model, int n_threads, char *err, size_t err_size);

#endif
