/* step.h — the rules of one decoder step as data, and their portable reference.
 *
 * decode/ decides what a step may emit; the backend applies it to the logits where they are
 * computed and returns only each sequence's candidates.  For a row of logits x[V] of a sequence
 * whose tokens since the start-of-transcript sequence are h[0..n) (a forced prefix included):
 *
 *   1. suppression:   x[t] = −inf for every t with mask[t] (the suppress_tokens list and the
 *                     special tokens); when n == 0 and suppress_blank: x[blank] = x[eot] = −inf.
 *   2. timestamp rules (when timestamp_begin >= 0), Whisper's ApplyTimestampRules:
 *        x[no_timestamps] = −inf;
 *        n == 0:  only timestamps, none later than max_initial_timestamp;
 *        last two are timestamps → no timestamp next; last is one (opening) → no text next;
 *        timestamps never decrease (below the last one: −inf);
 *        if log Σ_{t ≥ tb} p(t) > max_{t < tb} log p(t): only timestamps.
 *   3. log-softmax over the row.
 *   4. out: the k best (token, log-prob) pairs, best first, ties to the lower id; the log-prob of
 *      `report_id` (before step 1, e.g. no-speech at the sot row); and `n_draws` tokens sampled
 *      from softmax(x / temperature) with the given uniform numbers, each with its log-prob (3.).
 *
 * step_apply_ref() is the reference every backend's step is tested against (tests/unit/test_step.c);
 * search.c also uses it when a backend has no decode_step of its own. */
#ifndef AM_STEP_H
#define AM_STEP_H

#include <stdint.h>

/* Rules shared by every sequence of a step. */
typedef struct am_step_rules {
    const uint8_t *mask;      /* [n_vocab] 1: always suppressed; NULL: none                    */
    const int *mask_ids;      /* the same set as a list (NULL: use mask), for steps on the CPU */
    int n_mask_ids;
    int suppress_blank;       /* 1: blank and eot suppressed at n == 0                          */
    int blank_id;             /* " " (−1: none)                                                 */
    int eot;
    int timestamp_begin;      /* first timestamp token; −1: no timestamp rules                  */
    int no_timestamps;
    int max_initial_ts;       /* last timestamp token allowed at n == 0 (−1: no limit)         */
    int k;                    /* candidates per sequence (0 .. AM_STEP_MAX_K)                   */
    int report_id;            /* token whose raw log-prob is reported (−1: none)                */
    float temperature;        /* for draws (> 0)                                                */
} am_step_rules;

#define AM_STEP_MAX_K 128

/* Per sequence: the tokens it has emitted since the sot sequence, summarised. */
typedef struct am_step_seq {
    int n;                    /* how many (0: this is the first step)                           */
    int last, penultimate;    /* h[n−1], h[n−2] (−1 where absent)                               */
    int last_timestamp;       /* the last timestamp token among h (−1: none)                    */
    int n_draws;              /* samples wanted from this row                                   */
    const double *u;          /* [n_draws] uniform numbers in [0, 1)                            */
} am_step_seq;

/* Filled by a step, caller-owned arrays. */
typedef struct am_step_out {
    int *tok;                 /* [n_seqs][k] candidates, −1 past the last finite one            */
    float *lp;                /* [n_seqs][k] their log-probabilities                            */
    float *report_lp;         /* [n_seqs] (NULL: not wanted)                                    */
    int *draw_tok;            /* [Σ n_draws], sequence by sequence                              */
    float *draw_lp;
} am_step_out;

/* The summary of a sequence h[0..n) for the rules (timestamps are tokens >= timestamp_begin). */
am_step_seq step_seq_of(const int *h, int n, int timestamp_begin);

/* Step 1 and the masks of step 2 on one row, in place (every backend's step starts here).  Returns
 * 1 when the row also needs the probability test of step 2 (timestamps' total against the best
 * text token: done by the caller, the reference in double, a backend with its own sums). */
int step_mask(const am_step_rules *r, const am_step_seq *s, float *x, int n_vocab);

/* Steps 1–2 on one row of n_vocab logits, in place (reference, portable C). */
void step_filter_ref(const am_step_rules *r, const am_step_seq *s, float *x, int n_vocab);
/* Steps 1–4 for one row (x is overwritten with its log-softmax); writes k candidates to tok/lp,
 * the report log-prob to *report_lp (if not NULL) and the draws to draw_tok/draw_lp. */
void step_apply_ref(const am_step_rules *r, const am_step_seq *s, float *x, int n_vocab, int *tok, float *lp,
                    float *report_lp, int *draw_tok, float *draw_lp);

/* The k largest finite values of x[0..n_vocab), best first, ties to the lower id: their ids in
 * tok[0..k) and values in lp (−1 / −inf past the last finite one).  Shared by every CPU-side step. */
void step_top_k(const float *x, int n_vocab, int k, int *tok, float *lp);

/* log P(id) under softmax(x[0..limit)), in double as the reference computes it. */
float step_logprob_within(const float *x, int limit, int id);
/* P(id) under softmax(x[0..limit)), in double, rounded to float. */
float step_prob_within(const float *x, int limit, int id);

#endif
