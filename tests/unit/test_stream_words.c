/* test_stream_words.c — the rules LocalAgreement applies to word lists (src/stream/words.h): word
 * identity, agreement, dropping what is already committed (by content and by time), and the
 * repetition-loop guard, the doubted tail of an utterance. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "stream/words.h"

/* Words from a space-separated string, 0.5 s each from t0 on. */
static word_list make(const char *text, double t0) {
    word_list v = {0};
    char *copy = strdup(text), *save = NULL;
    double t = t0;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save), t += 0.5) {
        char buf[64];
        snprintf(buf, sizeof buf, " %s", w);
        assert_int_equal(words_push(&v, buf, t, t + 0.4, 0.9f), AM_OK);
    }
    free(copy);
    return v;
}

static void assert_text(const word_list *v, const char *expect) {
    char *t = words_join(v->w, v->n);
    assert_string_equal(t, expect);
    free(t);
}

static void test_same_and_agree(void **state) {
    (void)state;
    assert_true(words_same(" Hello,", "hello"));
    assert_true(words_same(" U.S.", " us"));
    assert_false(words_same(" hello", " help"));
    assert_true(words_same(" ...", "..."));
    assert_false(words_same(" ...", " ?"));
    word_list a = make("so my fellow Americans ask", 0), b = make("so my fellow Americans, not", 0);
    assert_int_equal(words_agree(&a, &b), 4);
    word_list e = {0};
    assert_int_equal(words_agree(&a, &e), 0);
    words_free(&a);
    words_free(&b);
}

static void test_drop_committed_by_content(void **state) {
    (void)state;
    /* committed "... fellow Americans" ending at 3.9; the new hypothesis repeats them with moved times */
    word_list c = make("and so my fellow Americans", 1.5); /* last word ends at 1.5 + 2.0 + 0.4 = 3.9 */
    word_list h = make("my fellow Americans ask not", 2.6);  /* "Americans" ends at 3.6 + 0.4 = 4.0 */
    words_drop_committed(&h, &c, 3.9);
    assert_text(&h, " ask not");
    words_free(&h);
    /* a committed word again far from the committed end is a new word: dropped by time only */
    h = make("Americans Americans", 10.0);
    words_drop_committed(&h, &c, 3.9);
    assert_text(&h, " Americans Americans");
    words_free(&h);
    words_free(&c);
}

static void test_drop_committed_by_time(void **state) {
    (void)state;
    word_list c = make("ask not", 4.0); /* ends at 4.9 */
    /* no committed word in it: words whose middle is before 4.9 go ("what" 4.6..5.0 stays) */
    word_list h = make("something what your country", 4.1);
    h.w[1].start = 4.6;
    h.w[1].end = 5.4;
    words_drop_committed(&h, &c, 4.9);
    assert_text(&h, " what your country");
    words_free(&h);
    words_free(&c);
}

static void test_loop_cut(void **state) {
    (void)state;
    word_list h = make("I said thank you thank you thank you thank you thank you", 0);
    assert_int_equal(words_loop_cut(&h), 4); /* " I said thank you" */
    words_free(&h);
    h = make("no no no I don't think so", 0); /* three times one word is speech */
    assert_int_equal(words_loop_cut(&h), -1);
    words_free(&h);
    h = make("the end. the end. the end.", 0); /* two words need four times */
    assert_int_equal(words_loop_cut(&h), -1);
    words_free(&h);
    h = make("so the end. the end. the end. the end.", 0);
    assert_int_equal(words_loop_cut(&h), 3);
    words_free(&h);
    h = make("we will go we will go we will go", 0); /* three words: three times */
    assert_int_equal(words_loop_cut(&h), 3);
    words_free(&h);
    h = make("a a a a a", 0);
    assert_int_equal(words_loop_cut(&h), 1);
    words_free(&h);
    word_list e = {0};
    assert_int_equal(words_loop_cut(&e), -1);
}

static void test_doubted_tail(void **state) {
    (void)state;
    /* words 0.5 s apart, each 0.4 s long: the last ends at 2.4 s, so the tail is words from 1.4 s on */
    word_list h = make("come quickly see you soon", 0);
    assert_int_equal(words_doubted_tail(&h, 1.0, 0.1f), 5); /* all sure */
    h.w[3].prob = 0.05f;                                     /* " you" doubted: it and " soon" go */
    assert_int_equal(words_doubted_tail(&h, 1.0, 0.1f), 3);
    h.w[2].prob = 0.01f;                                     /* " see" (1.0 s) is too early for the tail */
    assert_int_equal(words_doubted_tail(&h, 1.0, 0.1f), 3);
    assert_int_equal(words_doubted_tail(&h, 2.0, 0.1f), 2);
    h.w[0].prob = 0.01f;                                     /* a doubted first word in the tail */
    assert_int_equal(words_doubted_tail(&h, 5.0, 0.1f), 0);
    words_free(&h);
    word_list e = {0};
    assert_int_equal(words_doubted_tail(&e, 1.0, 0.1f), 0);
}

static void test_list_edits(void **state) {
    (void)state;
    word_list h = make("one two three four", 0);
    words_drop_front(&h, 1);
    words_truncate(&h, 2);
    assert_text(&h, " two three");
    words_drop_front(&h, 9);
    assert_int_equal(h.n, 0);
    words_free(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_and_agree),          cmocka_unit_test(test_drop_committed_by_content),
        cmocka_unit_test(test_drop_committed_by_time), cmocka_unit_test(test_loop_cut),
        cmocka_unit_test(test_doubted_tail),            cmocka_unit_test(test_list_edits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
