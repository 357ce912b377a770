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

/* The probability test of the timestamp rules, with the vectorised sums: if the total probability
 * of timestamps beats every text token, only timestamps remain. */
static void timestamp_prob_test(const am_step_rules *r, float *x, int nv, float *work) {
    const int tb = r->timestamp_begin;
    float mx = vm_max(nv, x), max_text = vm_max(tb, x);
    memcpy(work, x, (size_t)nv * sizeof(float));
    double ts = vm_exp_sub_sum(nv - tb, work + tb, mx, 1.0f);
    double total = ts + vm_exp_sub_sum(tb, work, mx, 1.0f);
    double ts_logprob = ts > 0 ? log(ts) - log(total) : -INFINITY;
    double max_text_logprob = (double)(max_text - mx) - log(total);
    if (ts_logprob > max_text_logprob)
        for (int i = 0; i < tb; i++) x[i] = -INFINITY;
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
    if (step_mask(r, s, x, nv)) timestamp_prob_test(r, x, nv, work);
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
    step_top_k(x, nv, k, tok, lp);
}
