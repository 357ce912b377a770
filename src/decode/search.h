/* search.h — decoding one 30 s window: greedy, beam search and sampling, with Whisper's logit
 * filters (suppression, timestamp rules), as CTranslate2/faster-whisper and openai-whisper do. */
#ifndef AM_SEARCH_H
#define AM_SEARCH_H

#include <stdint.h>

#include "amanuensis.h"
#include "backend/backend.h"
#include "text/tokenizer.h"
#include "model/model.h"

typedef struct ivec {
    int *v;
    int n, cap;
} ivec;

int ivec_push(ivec *a, int x);

/* What the search needs to know; set up once per transcription. */
typedef struct search_ctx {
    am_model *m;
    am_backend *be;
    am_special_tokens sp;
    const am_params *p;
    int *suppress;   /* ids suppressed at every step */
    int n_suppress;
    int blank_id;    /* " ", suppressed at the first step with suppress_blank */
    int window;      /* encoder window slot the search attends to */
    float *logits;   /* [max_seqs][n_vocab] */
    float *work;     /* [n_vocab] */
    uint64_t rng;
} search_ctx;

typedef struct window_result {
    ivec tokens;          /* the chosen hypothesis: forced prefix + sampled tokens, no eot */
    float sum_logprob, avg_logprob, no_speech_prob, compression_ratio, temperature;
} window_result;

/* Decode one window.  prompt[0..n_prompt) is fed first; sot_index is the position of sot in it
 * (its logits give the no-speech probability); the last n_forced prompt tokens (a prefix) count
 * as already sampled for the timestamp rules and are part of out->tokens.  temperature 0 uses
 * greedy search (beam_size 1) or beam search; > 0 samples best_of candidates. */
int search_window(search_ctx *c, const int *prompt, int n_prompt, int sot_index, int n_forced, float temperature,
                  window_result *out);

/* Temperature-0 search (greedy or beam) over n windows together: each decoder call carries every
 * window's live hypotheses.  Window i attends to encoder slot windows[i] and uses cache slots
 * [i·2·beam_size, (i+1)·2·beam_size); c->logits must hold n·(beam_size+1)·n_vocab floats... and
 * the backend max_seqs must be ≥ n·2·beam_size. */
int search_windows_batch(search_ctx *c, int n, const int *const *prompts, const int *n_prompts, const int *sot_index,
                         const int *n_forced, const int *windows, window_result *outs);

/* UTF-8 bytes / zlib-compressed bytes of the stripped text (faster-whisper's measure). */
float text_compression_ratio(const char *text);

/* log-softmax value of x[id] over x[0..n). */
float log_softmax_at(const float *x, int n, int id);

#endif
