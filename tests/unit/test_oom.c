/* test_oom.c — allocation failures anywhere in a transcription give AM_E_NOMEM and a message,
 * never a crash, a wrong status or (under ASan) a leak.
 *
 * The test binary is linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc (Makefile), so
 * every allocation of the library goes through the wrappers below.  A counting run finds how many
 * allocations a transcription makes (the scripted fake backend of fake_backend.h, two windows with
 * segments, prompts from the previous text, beam search and fallback); then each of them is made
 * to fail in turn. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_backend.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static int armed;       /* count (and maybe fail) allocations */
static long counted;    /* allocations since armed */
static long fail_at = -1;

static int should_fail(void) {
    if (!armed) return 0;
    return counted++ == fail_at;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return should_fail() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }

#define TS(sec) (TB + (int)lround((sec) / 0.02))

/* Window 0: two segments (with punctuation to merge into words) and a closing single timestamp;
 * window 1: one segment. */
static void script(const fake *f, int window, const int *h, int n, float *row) {
    (void)f;
    row_fill(row, 0.0f);
    static const int w0[] = {TS(0), 300, ',', TS(1), TS(1), 301, 302, '.', TS(3), EOT}; /* " w300," ... */
    static const int w1[] = {TS(0), 303, TS(2), EOT};
    const int *want = window == 0 ? w0 : w1;
    int len = window == 0 ? 10 : 4;
    row[want[n < len ? n : len - 1]] = 10.0f;
}

static void run_every_failure(am_params *p, size_t n_samples, int want_words) {
    fake f = {0};
    f.script = script;
    am_model *m = fake_model(&f);
    assert_non_null(m);
    float *x = calloc(n_samples, sizeof *x);
    assert_non_null(x);
    char err[256];
    am_result *r = NULL;
    /* counting run */
    f.windows_encoded = 0;
    counted = 0;
    fail_at = -1;
    armed = 1;
    int rc = am_transcribe(m, x, n_samples, p, &r, err, sizeof err);
    armed = 0;
    assert_int_equal(rc, AM_OK);
    const size_t n_segments = am_result_n_segments(r);
    assert_true(n_segments >= 2); /* three, or two when the hallucination guard drops one */
    for (size_t s = 0; s < n_segments; s++) assert_true(am_result_segment(r, s)->n_words > 0 || !want_words);
    am_result_free(r);
    const long total = counted;
    assert_true(total > 20);
    for (long i = 0; i < total; i++) {
        counted = 0;
        fail_at = i;
        f.windows_encoded = 0; /* the script's windows count from 0 in every run */
        err[0] = 0;
        r = NULL;
        armed = 1;
        rc = am_transcribe(m, x, n_samples, p, &r, err, sizeof err);
        armed = 0;
        if (rc == AM_OK) { /* a failure the path recovers from is fine, the result must be whole */
            assert_non_null(r);
            assert_int_equal(am_result_n_segments(r), n_segments);
            am_result_free(r);
            continue;
        }
        if (rc != AM_E_NOMEM) fprintf(stderr, "allocation %ld of %ld: status %d (%s)\n", i, total, rc, err);
        assert_int_equal(rc, AM_E_NOMEM);
        assert_null(r);
        assert_true(err[0] != 0);
    }
    free(x);
    am_model_free(m);
}

static void test_greedy(void **state) {
    (void)state;
    am_params p = am_params_default();
    p.n_threads = 1;
    p.beam_size = 1;
    run_every_failure(&p, 31 * AM_SAMPLE_RATE, 0);
}

static void test_beam_with_prompt_and_prefix(void **state) {
    (void)state;
    am_params p = am_params_default();
    p.n_threads = 1;
    p.beam_size = 3;
    p.initial_prompt = "hi there";
    p.prefix = "hi";
    run_every_failure(&p, 31 * AM_SAMPLE_RATE, 0);
}

/* word timestamps (alignment, punctuation merging) and the hallucination guard on top */
static void test_words_and_guard(void **state) {
    (void)state;
    am_params p = am_params_default();
    p.n_threads = 1;
    p.beam_size = 1;
    p.word_timestamps = 1;
    p.hallucination_silence_threshold = 1.0f;
    run_every_failure(&p, 31 * AM_SAMPLE_RATE, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_beam_with_prompt_and_prefix),
        cmocka_unit_test(test_words_and_guard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
