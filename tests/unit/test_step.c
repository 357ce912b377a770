/* test_step.c — a decoder step's rules: the CPU backend's vectorised step (backend/cpu/cpu_step.h)
 * against the portable reference (backend/step.h) on random rows and rule states, and the
 * reference itself on hand-made cases of each rule. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/cpu/cpu_step.h"
#include "backend/step.h"

#define NV 51864
#define TB (NV - 1501) /* timestamp_begin of an English-only vocabulary */
#define EOT 50256

static uint64_t rng_state = 88172645463325252ull;
static double uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

static am_step_rules rules_for(const uint8_t *mask, int k) {
    am_step_rules r = {.mask = mask, .suppress_blank = 1, .blank_id = 220, .eot = EOT, .timestamp_begin = TB,
                       .no_timestamps = TB - 1, .max_initial_ts = TB + 50, .k = k, .report_id = TB - 2,
                       .temperature = 1.0f};
    return r;
}

/* The CPU step chooses the same candidates, draws and report as the reference. */
static void test_cpu_step_matches_reference(void **state) {
    (void)state;
    float *x = malloc(NV * sizeof(float)), *a = malloc(NV * sizeof(float)), *b = malloc(NV * sizeof(float));
    float *work = malloc(NV * sizeof(float));
    uint8_t *mask = calloc(NV, 1);
    assert_non_null(x);
    assert_non_null(mask);
    for (int i = 0; i < 300; i++) mask[(int)(uniform() * NV)] = 1;
    int *mask_ids = malloc(NV * sizeof(int)), n_mask_ids = 0;
    assert_non_null(mask_ids);
    for (int i = 0; i < NV; i++)
        if (mask[i]) mask_ids[n_mask_ids++] = i;
    for (int trial = 0; trial < 200; trial++) {
        /* logits: random, with a few strong text and timestamp tokens */
        for (int i = 0; i < NV; i++) x[i] = (float)(uniform() * 6.0 - 3.0);
        for (int j = 0; j < 5; j++) x[(int)(uniform() * EOT)] += 8.0f;
        for (int j = 0; j < 3; j++) x[TB + (int)(uniform() * 1500)] += (float)(uniform() * 12.0);
        int k = 1 + trial % 8;
        am_step_rules r = rules_for(trial % 3 ? mask : NULL, k);
        if (trial % 5 == 4) r.timestamp_begin = -1;
        r.temperature = trial % 2 ? 0.5f : 1.0f;
        int hist[4] = {TB + 20, 1000, TB + 40, 2000};
        int n = trial % 5;
        /* histories: empty; text; opening timestamp; closed pair */
        int h[6];
        int m = 0;
        for (int q = 0; q < n && q < 4; q++) h[m++] = hist[q];
        if (trial % 7 == 6) { h[m++] = TB + 60; h[m++] = TB + 60; }
        am_step_seq s = step_seq_of(h, m, TB);
        double u[2] = {uniform(), uniform()};
        s.n_draws = 2;
        s.u = u;
        int ta[AM_STEP_MAX_K], tb[AM_STEP_MAX_K], da[2], db[2];
        float la[AM_STEP_MAX_K], lb[AM_STEP_MAX_K], ra, rb, dla[2], dlb[2];
        memcpy(a, x, NV * sizeof(float));
        memcpy(b, x, NV * sizeof(float));
        step_apply_ref(&r, &s, a, NV, ta, la, &ra, da, dla);
        am_step_rules rl = r; /* the CPU reads the mask as a list of ids when it has one */
        if (trial % 2 && r.mask) {
            rl.mask_ids = mask_ids;
            rl.n_mask_ids = n_mask_ids;
        }
        cpu_step_row(&rl, &s, b, NV, work, tb, lb, &rb, db, dlb);
        assert_float_equal(ra, rb, 1e-5);
        for (int j = 0; j < k; j++) {
            assert_int_equal(ta[j], tb[j]);
            if (ta[j] >= 0) assert_float_equal(la[j], lb[j], 1e-4);
        }
        for (int d = 0; d < 2; d++) {
            assert_int_equal(da[d], db[d]);
            assert_float_equal(dla[d], dlb[d], 1e-5);
        }
    }
    free(x);
    free(a);
    free(b);
    free(work);
    free(mask);
    free(mask_ids);
}

static void flat(float *x) {
    for (int i = 0; i < NV; i++) x[i] = 0.0f;
}

/* Each timestamp rule on a hand-made row. */
static void test_reference_rules(void **state) {
    (void)state;
    float *x = malloc(NV * sizeof(float));
    int tok[4];
    float lp[4];
    am_step_rules r = rules_for(NULL, 1);
    r.report_id = -1;
    /* first step: a timestamp, even when a text token is likelier, and none after max_initial */
    flat(x);
    x[1000] = 20.0f;
    x[TB + 70] = 15.0f;
    x[TB + 10] = 10.0f;
    am_step_seq s = step_seq_of(NULL, 0, TB);
    step_apply_ref(&r, &s, x, NV, tok, lp, NULL, NULL, NULL);
    assert_int_equal(tok[0], TB + 10);
    /* first step: blank and eot suppressed */
    flat(x);
    x[EOT] = 30.0f;
    r.timestamp_begin = -1;
    step_apply_ref(&r, &s, x, NV, tok, lp, NULL, NULL, NULL);
    assert_int_not_equal(tok[0], EOT);
    r.timestamp_begin = TB;
    /* after a closed pair: no timestamp */
    int pair[3] = {TB, 1000, TB + 30};
    int closed[4] = {TB, 1000, TB + 30, TB + 30};
    flat(x);
    x[TB + 40] = 30.0f;
    x[2000] = 5.0f;
    s = step_seq_of(closed, 4, TB);
    step_apply_ref(&r, &s, x, NV, tok, lp, NULL, NULL, NULL);
    assert_int_equal(tok[0], 2000);
    /* after an opening timestamp: a timestamp or eot, never below the last one */
    flat(x);
    x[1000] = 30.0f;
    x[TB + 5] = 20.0f;
    x[TB + 35] = 10.0f;
    s = step_seq_of(pair, 3, TB);
    step_apply_ref(&r, &s, x, NV, tok, lp, NULL, NULL, NULL);
    assert_int_equal(tok[0], TB + 35);
    /* after text: a segment does not end where it began (the same timestamp is masked, the next is not) */
    int opened[2] = {TB + 30, 1000};
    flat(x);
    x[TB + 30] = 30.0f;
    x[TB + 31] = 20.0f;
    x[1500] = 5.0f;
    s = step_seq_of(opened, 2, TB);
    step_apply_ref(&r, &s, x, NV, tok, lp, NULL, NULL, NULL);
    assert_int_equal(tok[0], TB + 31);
    /* text after text, but timestamps together likelier than any text token: a timestamp */
    int text[2] = {TB, 1000};
    flat(x);
    x[1500] = 4.0f;
    for (int i = TB + 20; i < NV; i++) x[i] = 1.0f;
    s = step_seq_of(text, 2, TB);
    step_apply_ref(&r, &s, x, NV, tok, lp, NULL, NULL, NULL);
    assert_true(tok[0] >= TB + 20);
    /* the log-probabilities are a log-softmax, best first, ties to the lower id */
    r.timestamp_begin = -1;
    r.k = 3;
    flat(x);
    x[7] = 2.0f;
    x[5] = 2.0f;
    x[9] = 1.0f;
    s = step_seq_of(text, 2, TB);
    step_apply_ref(&r, &s, x, NV, tok, lp, NULL, NULL, NULL);
    assert_int_equal(tok[0], 5);
    assert_int_equal(tok[1], 7);
    assert_int_equal(tok[2], 9);
    double z = 2 * exp(2.0) + exp(1.0) + (NV - 3);
    assert_float_equal(lp[0], 2.0 - log(z), 1e-4);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_step_matches_reference),
        cmocka_unit_test(test_reference_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
