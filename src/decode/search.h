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
    const am_model *m;
    am_session *s;        /* the backend session: caches, encoded windows */
    am_special_tokens sp;
    const am_params *p;
    am_step_rules rules;  /* the step rules of this transcription (suppression mask, timestamps) */
    uint8_t *mask;        /* [n_vocab] suppressed at every step (rules.mask) */
    int *mask_ids, n_mask_ids; /* the same, as a list (rules.mask_ids) */
    uint8_t *lang_mask;   /* [n_vocab] everything but the language tokens (language detection) */
    int window;           /* encoder window slot the search attends to */
    uint64_t *rng;        /* the sampling state of the stream being decoded */
    /* step scratch: candidates [max_seqs][AM_STEP_MAX_K], draws, uniforms */
    int *cand_tok;
    float *cand_lp, *report_lp;
    int *draw_tok;
    float *draw_lp;
    double *u;
    am_step_seq *state;
    float *logits;        /* [max_seqs][n_vocab], only for a backend without decode_step */
} search_ctx;

/* Allocate the scratch for sessions of up to max_seqs sequences and build the rules from the
 * params (suppress_tokens list, suppress_blank, timestamps).  search_ctx_free releases it. */
int search_ctx_init(search_ctx *c, const am_model *m, am_session *s, const am_params *p, char *err, size_t err_size);
void search_ctx_free(search_ctx *c);

/* One decoder step through the backend: its decode_step, or (a backend without one) its logits
 * with the reference rules (backend/step.h) applied here.  Candidates land in c->cand_tok/lp
 * (rules->k per sequence), report log-probs in c->report_lp, draws in c->draw_tok/lp. */
int search_step(search_ctx *c, const am_decode_seq *seqs, int n, const am_step_rules *rules, const am_step_seq *state);

/* Language detection on encoded window slot `window`: probabilities of the n language tokens,
 * most likely first (codes[i] = tokenizer_language_code(index[i])). */
int search_detect_language(search_ctx *c, int window, int *index, float *probs, int *n);

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
 * [i·2·beam_size, (i+1)·2·beam_size); the session's max_seqs must be ≥ n·2·beam_size. */
int search_windows_batch(search_ctx *c, int n, const int *const *prompts, const int *n_prompts, const int *sot_index,
                         const int *n_forced, const int *windows, window_result *outs);

/* UTF-8 bytes / zlib-compressed bytes of the stripped text (faster-whisper's measure); 0 for an
 * empty text, -1 when memory runs out. */
float text_compression_ratio(const char *text);

#endif
