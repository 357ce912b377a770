/* backend.h — the narrow interface between the decoding policy (host) and a compute backend.
 *
 * One call per stage: `encode` runs a batch of 30 s windows through the encoder and leaves, for
 * each window slot, its output and every decoder layer's cross-attention K/V resident in the
 * backend; `decode` runs one decoder step for a batch of sequences (beams, sampled candidates,
 * several chunks of audio) against resident self-attention caches.  A CPU, CUDA or NPU backend
 * implements the same calls, so each submits whole stages, never single operations. */
#ifndef AM_BACKEND_H
#define AM_BACKEND_H

#include <stddef.h>

#include "model/model.h"

typedef struct am_backend am_backend;

/* One sequence of a decoder step. */
typedef struct am_decode_seq {
    int slot;          /* self-attention cache slot, 0 .. max_seqs-1                         */
    int window;        /* encoder window slot it attends to, 0 .. max_windows-1              */
    const int *tokens; /* tokens fed at positions n_past, n_past+1, ...                      */
    int n_tokens;      /* >= 1                                                               */
    int n_past;        /* positions already in the slot's cache (later ones are overwritten) */
} am_decode_seq;

typedef struct am_backend_ops {
    const char *name;
    /* mel: [n_windows][n_mels][2·n_audio_ctx]; fills window slots 0 .. n_windows-1. */
    int (*encode)(am_backend *b, const float *mel, int n_windows);
    /* Feed each sequence's tokens and write the logits after its last token to
     * logits + i·n_vocab for sequence i. */
    int (*decode)(am_backend *b, const am_decode_seq *seqs, int n_seqs, float *logits);
    /* Word alignment: run `seq` like decode and write the pre-softmax cross-attention scores of
     * the listed (layer, head) pairs to scores + ((h·n_tokens) + i)·n_audio_ctx for head h and
     * token i, and (if logits != NULL) the logits after every token, [n_tokens][n_vocab]. */
    int (*cross_scores)(am_backend *b, const am_decode_seq *seq, const int (*heads)[2], int n_heads, float *scores,
                        float *logits);
    /* Copy positions [0, n_pos) of cache slot src into slot dst (beam reordering). */
    int (*copy_cache)(am_backend *b, int dst, int src, int n_pos);
    /* The encoder output of window slot w from the last encode call, [n_audio_ctx][d]. */
    const float *(*encoder_output)(const am_backend *b, int window);
    void (*destroy)(am_backend *b);
} am_backend_ops;

struct am_backend {
    const am_backend_ops *ops;
    int max_seqs, max_windows;
};

/* The CPU backend: float32, `n_threads` threads (0: every core), room for `max_seqs` decoding
 * sequences and `max_windows` encoded windows at a time. */
am_backend *backend_cpu_create(const am_model *model, int n_threads, int max_seqs, int max_windows, char *err,
                               size_t err_size);

#endif
