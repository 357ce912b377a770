/* backend.h — the seam between the decoding policy (decode/, host) and a compute backend.
 *
 * Two objects with two lifetimes:
 *  - am_backend: one per (model, device), created when the model loads.  It places the weights in
 *    its own layout (the CPU backend packs int8 panels; a GPU backend uploads them) once; it is
 *    read-only afterwards and shared by every transcription on the model, on any thread.
 *  - am_session: one per transcription (or stream).  It owns what a transcription writes: the
 *    encoder outputs and cross-attention K/V of its window slots, the self-attention caches of its
 *    sequence slots, scratch, and (CPU) its worker threads.
 *
 * One call per stage: `encode` runs a batch of 30 s windows; `decode_step` runs one decoder step
 * for a batch of sequences (beams, sampled candidates, several chunks of audio) and applies the
 * step's logit rules (backend/step.h) on the device, so that only each sequence's few candidates
 * come back.  decode/ includes this header and backend/step.h, never a backend's own headers. */
#ifndef AM_BACKEND_H
#define AM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "backend/step.h"

struct am_model;
typedef struct am_backend am_backend;
typedef struct am_session am_session;

/* One sequence of a decoder call. */
typedef struct am_decode_seq {
    int slot;          /* self-attention cache slot, 0 .. max_seqs-1                         */
    int window;        /* encoder window slot it attends to, 0 .. max_windows-1              */
    const int *tokens; /* tokens fed at positions n_past, n_past+1, ...                      */
    int n_tokens;      /* >= 1                                                               */
    int n_past;        /* positions already in the slot's cache (later ones are overwritten) */
} am_decode_seq;

/* What a session must hold. */
typedef struct am_session_config {
    int n_threads;   /* CPU worker threads (0: every core); ignored by device backends       */
    int max_seqs;    /* self-attention cache slots                                           */
    int max_windows; /* encoder window slots                                                 */
} am_session_config;

/* Counters of a session's work (what --stats and /metrics report). */
typedef struct am_session_stats {
    uint64_t encode_calls, decode_calls; /* backend calls (device submissions)               */
    uint64_t windows_encoded, rows_decoded;
    uint64_t bytes_to_device, bytes_from_device; /* 0 for the CPU (shared memory)            */
    uint64_t submissions;         /* device queue submissions (0 for the CPU)                */
} am_session_stats;

typedef struct am_backend_ops {
    /* NULL on failure, with *status (AM_E_NOMEM, AM_E_BACKEND) and a message in err. */
    am_session *(*session_create)(am_backend *b, const am_session_config *cfg, int *status, char *err,
                                  size_t err_size);
    void (*session_destroy)(am_session *s);
    /* mel: [n_windows][n_mels][2·n_audio_ctx]; fills window slots 0 .. n_windows-1. */
    int (*encode)(am_session *s, const float *mel, int n_windows);
    /* One decoder step with the step's rules applied on the backend: feed each sequence's tokens,
     * then for the row after its last token fill out (see backend/step.h). */
    int (*decode_step)(am_session *s, const am_decode_seq *seqs, int n_seqs, const am_step_rules *rules,
                       const am_step_seq *state, am_step_out *out);
    /* The same feed, returning the raw logits after each sequence's last token: logits + i·n_vocab
     * for sequence i (tools and the rule tests compare it with decode_step). */
    int (*decode_logits)(am_session *s, const am_decode_seq *seqs, int n_seqs, float *logits);
    /* Word alignment: run `seq` and write the pre-softmax cross-attention scores of the listed
     * (layer, head) pairs to scores + ((h·n_tokens) + i)·n_audio_ctx for head h and token i; and,
     * when next_p != NULL, next_p[i] = P(seq.tokens[i+1] | row i) under the softmax over the tokens
     * [0, vocab_limit) (the text vocabulary), for i < n_tokens − 1 (step_prob_within). */
    int (*cross_scores)(am_session *s, const am_decode_seq *seq, const int (*heads)[2], int n_heads, float *scores,
                        int vocab_limit, float *next_p);
    /* Copy positions [0, n_pos) of cache slot src into slot dst (beam reordering). */
    int (*copy_cache)(am_session *s, int dst, int src, int n_pos);
    /* The encoder output of window slot w from the last encode call, [n_audio_ctx][d], copied
     * to out (tools and tests). */
    int (*encoder_output)(am_session *s, int window, float *out);
    void (*destroy)(am_backend *b);
    /* The float front end's log-mel (frontend/mel.h: mel_log_spectrogram, same arguments) computed
     * by the backend; NULL: the host computes it. */
    int (*log_mel)(am_backend *b, const float *samples, size_t n_samples, int n_mels, const float *filters,
                   float **out, int *n_frames, char *err, size_t err_size);
} am_backend_ops;

struct am_backend {
    const am_backend_ops *ops;
    const char *name;             /* "cpu", ...                                             */
    int device;
    const struct am_model *model;
    uint64_t weight_bytes;        /* bytes of weights this backend placed                   */
};

struct am_session {
    am_backend *backend;
    int max_seqs, max_windows;
    uint64_t bytes;               /* memory the session holds (caches, scratch)             */
    am_session_stats stats;
    char error[256];              /* why the last op failed, when the backend says ("" else) */
};

/* Create the backend `name` ("cpu", "vulkan", or "auto"/NULL: the first GPU this build can reach,
 * else the CPU; `device` is then ignored, and *warning says why a GPU was not used) on `device`
 * for a loaded model; the backend takes over the model's linear-layer weights (placing them in
 * its own layout and releasing the host copies it no longer needs).  NULL with a message on
 * failure: AM_E_INVALID_ARG for an unknown name or device, AM_E_BACKEND when the device fails,
 * AM_E_NOMEM when memory runs out (*status tells which). */
am_backend *backend_create(const char *name, int device, struct am_model *model, int *status, char *err,
                           size_t err_size, char *warning, size_t warning_size);
void backend_destroy(am_backend *b);

/* A session on b; NULL with a message (and *status) on failure. */
am_session *session_create(am_backend *b, const am_session_config *cfg, int *status, char *err, size_t err_size);
void session_destroy(am_session *s);

/* The CPU backend (backend/cpu/cpu_backend.c). */
am_backend *backend_cpu_create(struct am_model *model, int *status, char *err, size_t err_size);
/* The int8 kernel path the CPU backend uses here ("avx512-vnni", "avx2", "portable"). */
const char *backend_cpu_kernels(void);

#endif
