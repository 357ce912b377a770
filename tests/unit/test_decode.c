/* test_decode.c — the decoding policy (decode/) driven by a scripted fake backend (fake_backend.h),
 * no model.  Checked here: the timestamp rules and the
 * split into segments, seeking from window to window, the no-speech skip, the temperature
 * fallback, beam search (with its cache reordering) against an independent reference, one
 * parameter check for every path, and backend failures reported as such. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode/search.h"
#include "fake_backend.h"

/* ---- a scripted two-window transcript ------------------------------------------------------- */

#define TS(sec) (TB + (int)lround((sec) / 0.02))

/* Window 0: "<0.00> hi <1.00><1.00> yo <3.00> eot", where the script prefers text at the first
 * step and a decreasing timestamp later (both forbidden by the rules).  Window 1: "<0.00> z <2.00>
 * eot".  Window 2: no speech (a sure no-speech token, unlikely text). */
static void script_segments(const fake *f, int window, const int *h, int n, float *row) {
    row_fill(row, 0.0f);
    if (window >= 2) {
        row[NO_SPEECH] = 30.0f;
        if (n >= 1) row[EOT] = 1.0f;
        return;
    }
    static const int w0[] = {TS(0), 'h', 'i', TS(1), TS(1), 'y', 'o', TS(3), EOT};
    static const int w1[] = {TS(0), 'z', TS(2), EOT};
    const int *want = window == 0 ? w0 : w1;
    int len = window == 0 ? 9 : 4;
    /* tokens of the previous window's text may come first in the prompt: skip to after sot */
    int k = n < len ? n : len - 1;
    row[want[k]] = 10.0f;
    if (window == 0 && n == 0) row['h'] = 12.0f;       /* text first: the rules forbid it       */
    if (window == 0 && n == 7) row[TS(0.5)] = 12.0f;   /* a timestamp going back: forbidden too */
}

static float *silence(size_t n) { return calloc(n, sizeof(float)); }

static void test_segments_and_rules(void **state) {
    (void)state;
    fake f = {0};
    f.script = script_segments;
    am_model *m = fake_model(&f);
    assert_non_null(m);
    am_params p = am_params_default();
    p.n_threads = 1;
    p.beam_size = 1;
    const size_t n = 65 * AM_SAMPLE_RATE; /* three windows: 30 s, 30 s (after seeking), 5 s */
    float *x = silence(n);
    am_result *r = NULL;
    char err[256] = "";
    assert_int_equal(am_transcribe(m, x, n, &p, &r, err, sizeof err), AM_OK);
    assert_int_equal(am_result_n_segments(r), 3);
    const am_segment *s0 = am_result_segment(r, 0), *s1 = am_result_segment(r, 1), *s2 = am_result_segment(r, 2);
    assert_string_equal(s0->text, "hi");
    assert_float_equal(s0->start, 0.0, 1e-9);
    assert_float_equal(s0->end, 1.0, 1e-9);
    assert_string_equal(s1->text, "yo");
    assert_float_equal(s1->start, 1.0, 1e-9);
    assert_float_equal(s1->end, 3.0, 1e-9);
    /* the window ended on a single timestamp: the next one starts a full window later */
    assert_string_equal(s2->text, "z");
    assert_float_equal(s2->start, 30.0, 1e-9);
    assert_float_equal(s2->end, 32.0, 1e-9);
    assert_int_equal(s2->seek, 3000);
    assert_int_equal(s0->id, 0);
    assert_int_equal(s2->id, 2);
    /* the third window was encoded and skipped as silence */
    assert_int_equal(f.windows_encoded, 3);
    assert_string_equal(am_result_text(r), "hiyoz");
    am_result_free(r);
    free(x);
    am_model_free(m);
}

/* ---- temperature fallback -------------------------------------------------------------------- */

/* Always the same token: every attempt is a repetition loop (compression ratio far above 2.4). */
static void script_loop(const fake *f, int window, const int *h, int n, float *row) {
    row_fill(row, 0.0f);
    row[n == 0 ? TS(0) : n < 120 ? 'a' : EOT] = 40.0f;
}

static void test_fallback(void **state) {
    (void)state;
    fake f = {0};
    f.script = script_loop;
    am_model *m = fake_model(&f);
    assert_non_null(m);
    am_params p = am_params_default();
    p.n_threads = 1;
    p.beam_size = 1;
    p.best_of = 2;
    const size_t n = 5 * AM_SAMPLE_RATE;
    float *x = silence(n);
    am_result *r = NULL;
    char err[256] = "";
    assert_int_equal(am_transcribe(m, x, n, &p, &r, err, sizeof err), AM_OK);
    assert_int_equal(am_result_n_segments(r), 1);
    /* all six temperatures failed: the last one tried is reported */
    assert_float_equal(am_result_segment(r, 0)->temperature, 1.0, 1e-6);
    assert_true(am_result_segment(r, 0)->compression_ratio > 2.4f);
    const int rows_all = f.decode_rows;
    am_result_free(r);
    p.no_fallback = 1;
    f.decode_rows = 0;
    assert_int_equal(am_transcribe(m, x, n, &p, &r, err, sizeof err), AM_OK);
    assert_float_equal(am_result_segment(r, 0)->temperature, 0.0, 1e-6);
    assert_true(f.decode_rows * 5 < rows_all); /* one attempt against six (five sampled, best_of 2) */
    am_result_free(r);
    free(x);
    am_model_free(m);
}

/* ---- beam search against a reference --------------------------------------------------------- */

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb3fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* Logits that depend on the whole history: six likely tokens (eot among them) with values hashed
 * from (seed, h).  A search whose caches were moved wrongly would see another history. */
static void script_random(const fake *f, int window, const int *h, int n, float *row) {
    uint64_t k = f->seed;
    for (int i = 0; i < n; i++) k = mix(k ^ (uint64_t)h[i] * 0x9E3779B97F4A7C15ull);
    row_fill(row, -5.0f);
    static const int toks[] = {'a', 'b', 'c', 'd', 'e', EOT};
    for (int j = 0; j < 6; j++) {
        k = mix(k + (uint64_t)j);
        row[toks[j]] = (float)((double)(k >> 11) / 9007199254740992.0 * 4.0);
    }
}

typedef struct ref_hyp {
    int seq[16], n;
    double sum;
} ref_hyp;

typedef struct ref_cand {
    double score;
    int src, tok;
} ref_cand;

static int ref_cand_cmp(const void *a, const void *b) {
    double x = ((const ref_cand *)a)->score, y = ((const ref_cand *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* CTranslate2's beam search (faster-whisper's) over the script, written out plainly: beam + 1
 * candidates per hypothesis, finished ones collected until beam (patience 1), out of steps after
 * max_new. */
static void reference_beam(fake *f, const am_step_rules *rules0, int beam, int max_new, ref_hyp *best) {
    ref_hyp live[8], next[8], fin[16];
    int n_live = 1, n_fin = 0;
    memset(live, 0, sizeof live);
    live[0].seq[0] = NO_TS; /* without timestamps: the prompt ends [sot, notimestamps] */
    live[0].n = 1;
    float *row = malloc(NV * sizeof(float));
    am_step_rules r = *rules0;
    r.k = beam == 1 ? 1 : beam + 1;
    for (int step = 0; step < max_new; step++) {
        ref_cand c[64];
        int nc = 0;
        for (int i = 0; i < n_live; i++) {
            f->script(f, 0, live[i].seq, live[i].n, row);
            am_step_seq s = step_seq_of(live[i].seq + 1, live[i].n - 1, -1);
            int tok[16];
            float lp[16];
            step_apply_ref(&r, &s, row, NV, tok, lp, NULL, NULL, NULL);
            for (int j = 0; j < r.k && tok[j] >= 0; j++) c[nc++] = (ref_cand){live[i].sum + lp[j], i, tok[j]};
        }
        qsort(c, (size_t)nc, sizeof *c, ref_cand_cmp);
        /* the step's candidates are the first beam; an eot among them finishes its hypothesis and
         * its place goes to the next candidate past them (of the first 2·beam) that is not an eot;
         * on the last step all of the first beam finish */
        int n_next = 0, sec = beam, last = step + 1 == max_new;
        for (int k = 0; k < beam && k < nc; k++) {
            int j = k;
            if (c[k].tok == EOT || last) {
                fin[n_fin] = live[c[k].src];
                if (c[k].tok != EOT) fin[n_fin].seq[fin[n_fin].n++] = c[k].tok;
                fin[n_fin++].sum = c[k].score;
                if (last) continue;
                for (j = -1; sec < nc && sec < 2 * beam && j < 0; sec++)
                    if (c[sec].tok != EOT) j = sec;
                if (j < 0) continue;
            }
            next[n_next] = live[c[j].src];
            next[n_next].seq[next[n_next].n++] = c[j].tok;
            next[n_next++].sum = c[j].score;
        }
        if (last || n_fin >= beam || n_next == 0) break;
        memcpy(live, next, sizeof next);
        n_live = n_next;
    }
    int b = 0;
    for (int i = 1; i < n_fin; i++) {
        int li = fin[i].n - 1 > 0 ? fin[i].n - 1 : 1, lb = fin[b].n - 1 > 0 ? fin[b].n - 1 : 1;
        if (fin[i].sum / li > fin[b].sum / lb) b = i;
    }
    *best = fin[b];
    free(row);
}

static void test_beam_search_matches_reference(void **state) {
    (void)state;
    fake f = {0};
    f.script = script_random;
    am_model *m = fake_model(&f);
    assert_non_null(m);
    am_params p = am_params_default();
    p.without_timestamps = 1;
    p.suppress_blank = 0;
    p.max_new_tokens = 7;
    int mismatches = 0;
    for (int beam = 1; beam <= 5; beam++) {
        p.beam_size = beam;
        am_session_config cfg = {1, 2 * beam, 1};
        int st;
        char err[256];
        am_session *s = session_create(m->backend, &cfg, &st, err, sizeof err);
        assert_non_null(s);
        search_ctx c;
        assert_int_equal(search_ctx_init(&c, m, s, &p, err, sizeof err), AM_OK);
        uint64_t rng = 1;
        c.rng = &rng;
        float mel[1];
        assert_int_equal(s->backend->ops->encode(s, mel, 1), AM_OK);
        f.windows_encoded = 0;
        for (int trial = 0; trial < 60; trial++) {
            f.seed = mix((uint64_t)(beam * 1000 + trial));
            int prompt[2] = {SOT, NO_TS};
            window_result out = {0};
            assert_int_equal(search_window(&c, prompt, 2, 0, 0, 0.0f, &out), AM_OK);
            ref_hyp best;
            reference_beam(&f, &c.rules, beam, 7, &best);
            int same = out.tokens.n == best.n - 1 && fabs(out.sum_logprob - best.sum) < 1e-3;
            for (int i = 0; same && i < out.tokens.n; i++) same = out.tokens.v[i] == best.seq[i + 1];
            mismatches += !same;
            free(out.tokens.v);
        }
        search_ctx_free(&c);
        session_destroy(s);
    }
    assert_int_equal(mismatches, 0);
    am_model_free(m);
}

/* ---- one parameter check; backend failures --------------------------------------------------- */

static void test_parameter_check_every_path(void **state) {
    (void)state;
    fake f = {0};
    f.script = script_segments;
    am_model *m = fake_model(&f);
    assert_non_null(m);
    const size_t n = AM_SAMPLE_RATE;
    float *x = silence(n);
    am_result *r = NULL;
    char err[256];
    const am_vad_mode modes[] = {AM_VAD_OFF, AM_VAD_ENERGY};
    for (int i = 0; i < 2; i++)
        for (int batch = 1; batch <= 8; batch += 7) {
            am_params p = am_params_default();
            p.vad = modes[i];
            p.batch_size = batch;
            p.beam_size = 65; /* more than the search's fixed-size arrays hold */
            assert_int_equal(am_transcribe(m, x, n, &p, &r, err, sizeof err), AM_E_INVALID_ARG);
            assert_non_null(strstr(err, "beam_size"));
            p.beam_size = 5;
            p.temperature = 2.0f;
            assert_int_equal(am_transcribe(m, x, n, &p, &r, err, sizeof err), AM_E_INVALID_ARG);
            p.temperature = 0.0f;
            p.language = "de"; /* an English-only model */
            assert_int_equal(am_transcribe(m, x, n, &p, &r, err, sizeof err), AM_E_UNSUPPORTED);
        }
    assert_int_equal(f.windows_encoded, 0);
    free(x);
    am_model_free(m);
}

static void test_backend_failure_is_reported(void **state) {
    (void)state;
    fake f = {0};
    f.script = script_segments;
    am_model *m = fake_model(&f);
    assert_non_null(m);
    const size_t n = AM_SAMPLE_RATE;
    float *x = silence(n);
    am_result *r = NULL;
    char err[256];
    am_params p = am_params_default();
    f.fail_session = 1;
    assert_int_equal(am_transcribe(m, x, n, &p, &r, err, sizeof err), AM_E_BACKEND);
    assert_non_null(strstr(err, "device lost"));
    f.fail_session = 0;
    f.fail_encode = 1;
    assert_int_equal(am_transcribe(m, x, n, &p, &r, err, sizeof err), AM_E_BACKEND);
    assert_non_null(strstr(err, "backend"));
    assert_null(strstr(err, "memory"));
    assert_null(r);
    free(x);
    am_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segments_and_rules),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_beam_search_matches_reference),
        cmocka_unit_test(test_parameter_check_every_path),
        cmocka_unit_test(test_backend_failure_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
