/* step.c — the portable reference of a decoder step's rules (see step.h). */
#include "backend/step.h"

#include <math.h>
#include <stddef.h>


am_step_seq step_seq_of(const int *h, int n, int timestamp_begin) {
    am_step_seq s = {n, n >= 1 ? h[n - 1] : -1, n >= 2 ? h[n - 2] : -1, -1, 0, NULL};
    if (timestamp_begin >= 0)
        for (int t = n - 1; t >= 0; t--)
            if (h[t] >= timestamp_begin) {
                s.last_timestamp = h[t];
                break;
            }
    return s;
}

static float max_of(const float *x, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* Σ exp(x[i] − m) in double */
static double sum_exp(const float *x, int n, float m) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += exp((double)(x[i] - m));
    return s;
}

int step_mask(const am_step_rules *r, const am_step_seq *s, float *x, int nv) {
    if (r->mask_ids)
        for (int i = 0; i < r->n_mask_ids; i++) x[r->mask_ids[i]] = -INFINITY;
    else if (r->mask)
        for (int i = 0; i < nv; i++)
            if (r->mask[i]) x[i] = -INFINITY;
    if (s->n == 0 && r->suppress_blank) {
        if (r->blank_id >= 0) x[r->blank_id] = -INFINITY;
        x[r->eot] = -INFINITY;
    }
    const int tb = r->timestamp_begin;
    if (tb < 0) return 0;
    x[r->no_timestamps] = -INFINITY;
    int check_prob = 0;
    if (s->n == 0) {
        /* first token: a timestamp no later than max_initial_timestamp */
        for (int i = 0; i < tb; i++) x[i] = -INFINITY;
        if (r->max_initial_ts >= 0)
            for (int i = r->max_initial_ts + 1; i < nv; i++) x[i] = -INFINITY;
    } else {
        if (s->last >= tb) {
            int penultimate = s->n >= 2 ? s->penultimate : s->last;
            if (penultimate >= tb) { /* a pair just closed: text or eot next */
                for (int i = tb; i < nv; i++) x[i] = -INFINITY;
            } else { /* an opening timestamp: another timestamp or eot */
                for (int i = 0; i < r->eot; i++) x[i] = -INFINITY;
                check_prob = 1;
            }
        } else {
            check_prob = 1;
        }
        /* timestamps never decrease, and after text a segment cannot end where it began (its end
         * is above its start: openai-whisper's and CTranslate2's rule, which faster-whisper runs) */
        if (s->last_timestamp >= tb) {
            int end = s->last >= tb ? s->last_timestamp : s->last_timestamp + 1;
            for (int i = tb; i < end && i < nv; i++) x[i] = -INFINITY;
        }
    }
    return check_prob;
}

void step_filter_ref(const am_step_rules *r, const am_step_seq *s, float *x, int nv) {
    if (!step_mask(r, s, x, nv)) return;
    /* if the total probability of timestamps beats every text token, force a timestamp */
    const int tb = r->timestamp_begin;
    float mx = max_of(x, nv), max_text = max_of(x, tb);
    double ts = sum_exp(x + tb, nv - tb, mx);
    double total = ts + sum_exp(x, tb, mx);
    double ts_logprob = ts > 0 ? log(ts) - log(total) : -INFINITY;
    double max_text_logprob = (double)(max_text - mx) - log(total);
    if (ts_logprob > max_text_logprob)
        for (int i = 0; i < tb; i++) x[i] = -INFINITY;
}

void step_top_k(const float *x, int nv, int k, int *tok, float *lp) {
    for (int j = 0; j < k; j++) tok[j] = -1;
    for (int t = 0; t < nv; t++) {
        float v = x[t];
        if (v == -INFINITY) continue;
        int pos = k;
        while (pos > 0 && (tok[pos - 1] < 0 || x[tok[pos - 1]] < v)) pos--;
        if (pos < k) {
            for (int q = k - 1; q > pos; q--) tok[q] = tok[q - 1];
            tok[pos] = t;
        }
    }
    for (int j = 0; j < k; j++) lp[j] = tok[j] >= 0 ? x[tok[j]] : -INFINITY;
}

float step_logprob_within(const float *x, int limit, int id) {
    float mx = max_of(x, limit);
    return (float)((double)(x[id] - mx) - log(sum_exp(x, limit, mx)));
}

float step_prob_within(const float *x, int limit, int id) {
    float mx = max_of(x, limit);
    return (float)(exp((double)(x[id] - mx)) / sum_exp(x, limit, mx));
}

/* Inverse-CDF draw from softmax(x / T) with uniform u (token order; −inf never drawn). */
static int draw(const float *x, int nv, float temperature, double u) {
    float mx = max_of(x, nv);
    double total = 0.0;
    for (int i = 0; i < nv; i++)
        if (x[i] != -INFINITY) total += expf((x[i] - mx) / temperature);
    double target = u * total, acc = 0.0;
    int tok = -1;
    for (int i = 0; i < nv; i++) {
        if (x[i] == -INFINITY) continue;
        float e = expf((x[i] - mx) / temperature);
        if (e <= 0.0f) continue;
        acc += e;
        tok = i;
        if (acc >= target) break;
    }
    return tok;
}

void step_apply_ref(const am_step_rules *r, const am_step_seq *s, float *x, int nv, int *tok, float *lp,
                    float *report_lp, int *draw_tok, float *draw_lp) {
    if (report_lp) *report_lp = r->report_id >= 0 ? step_logprob_within(x, nv, r->report_id) : 0.0f;
    step_filter_ref(r, s, x, nv);
    for (int d = 0; d < s->n_draws; d++) {
        int t = draw(x, nv, r->temperature, s->u[d]);
        if (t < 0) t = r->eot;
        draw_tok[d] = t;
        draw_lp[d] = step_logprob_within(x, nv, t);
    }
    float mx = max_of(x, nv);
    float lse = mx + logf((float)sum_exp(x, nv, mx));
    for (int i = 0; i < nv; i++) x[i] -= lse;
    step_top_k(x, nv, r->k, tok, lp);
}
