/* cpu_step.c — the step rules on the CPU (see cpu_step.h and backend/step.h). */
#include "backend/cpu/cpu_step.h"

#include <math.h>
#include <string.h>

#include "backend/cpu/vmath.h"

/* log Σ exp over x (x is not modified; work is scratch) */
static float log_sum_exp(const float *x, int n, float mx, float *work) {
    memcpy(work, x, (size_t)n * sizeof(float));
    return mx + logf(vm_exp_sub_sum(n, work, mx, 1.0f));
}

static void timestamp_rules(const am_step_rules *r, const am_step_seq *s, float *x, int nv, float *work) {
    const int tb = r->timestamp_begin;
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
        if (s->last_timestamp >= tb) /* timestamps never decrease */
            for (int i = tb; i < s->last_timestamp; i++) x[i] = -INFINITY;
    }
    if (check_prob) {
        /* if the total probability of timestamps beats every text token, force a timestamp */
        float mx = vm_max(nv, x), max_text = vm_max(tb, x);
        memcpy(work, x, (size_t)nv * sizeof(float));
        double ts = vm_exp_sub_sum(nv - tb, work + tb, mx, 1.0f);
        double total = ts + vm_exp_sub_sum(tb, work, mx, 1.0f);
        double ts_logprob = ts > 0 ? log(ts) - log(total) : -INFINITY;
        double max_text_logprob = (double)(max_text - mx) - log(total);
        if (ts_logprob > max_text_logprob)
            for (int i = 0; i < tb; i++) x[i] = -INFINITY;
    }
}

/* Inverse-CDF draw from softmax(x / T) with uniform u, in token order. */
static int draw(const float *x, int nv, float temperature, double u, float *work) {
    float mx = -INFINITY;
    for (int i = 0; i < nv; i++) mx = x[i] > mx ? x[i] : mx;
    double total = 0.0;
    for (int i = 0; i < nv; i++) {
        work[i] = x[i] == -INFINITY ? 0.0f : expf((x[i] - mx) / temperature);
        total += work[i];
    }
    double target = u * total, acc = 0.0;
    int tok = -1;
    for (int i = 0; i < nv; i++) {
        if (work[i] <= 0.0f) continue;
        acc += work[i];
        tok = i;
        if (acc >= target) break;
    }
    return tok;
}

void cpu_step_row(const am_step_rules *r, const am_step_seq *s, float *x, int nv, float *work, int *tok, float *lp,
                  float *report_lp, int *draw_tok, float *draw_lp) {
    if (report_lp) *report_lp = r->report_id >= 0 ? step_logprob_within(x, nv, r->report_id) : 0.0f;
    if (r->mask)
        for (int i = 0; i < nv; i++)
            if (r->mask[i]) x[i] = -INFINITY;
    if (s->n == 0 && r->suppress_blank) {
        if (r->blank_id >= 0) x[r->blank_id] = -INFINITY;
        x[r->eot] = -INFINITY;
    }
    if (r->timestamp_begin >= 0) timestamp_rules(r, s, x, nv, work);
    for (int d = 0; d < s->n_draws; d++) {
        int t = draw(x, nv, r->temperature, s->u[d], work);
        if (t < 0) t = r->eot;
        draw_tok[d] = t;
        draw_lp[d] = step_logprob_within(x, nv, t);
    }
    const int k = r->k;
    if (k == 0) return;
    float lse = log_sum_exp(x, nv, vm_max(nv, x), work);
    for (int i = 0; i < nv; i++) x[i] -= lse;
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
