/* test_utf8.c — src/text/utf8.c: decoding with maximal-subpart error units, encoding, validity
 * and prefix checks, code point counts and Python's str.strip(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "text/utf8.h"

#define U(s) ((const unsigned char *)(s))

/* Decode s (a C string) unit by unit: the code points (UTF8_INVALID for an error unit) and the
 * bytes each unit took. */
static void expect_units(const char *s, const uint32_t *cps, const size_t *lens, size_t n_units) {
    size_t n = strlen(s), i = 0, u = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_decode(U(s) + i, n - i, &cp);
        assert_true(u < n_units);
        assert_int_equal(cp, cps[u]);
        assert_int_equal(k, lens[u]);
        i += k;
        u++;
    }
    assert_int_equal(u, n_units);
}

static void test_decode(void **state) {
    (void)state;
    uint32_t cp = 0;
    assert_int_equal(utf8_decode(U(""), 0, &cp), 0);
    assert_int_equal(cp, UTF8_INVALID);

    /* a, é, 日, U+1F600, U+10FFFF, U+0000 as the last byte */
    {
        const char s[] = "a\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF";
        const uint32_t cps[] = {'a', 0xE9, 0x65E5, 0x1F600, 0x10FFFF};
        const size_t lens[] = {1, 2, 3, 4, 4};
        expect_units(s, cps, lens, 5);
    }
    assert_int_equal(utf8_decode(U("\0"), 1, &cp), 1);
    assert_int_equal(cp, 0);

    /* ill-formed: one unit per maximal subpart (the table of Unicode's chapter 3, U+FFFD practice) */
    {
        const char s[] = "\xC0\xAF"         /* overlong: C0 and AF are each a unit */
                         "\xE0\x80\x80"     /* overlong 3-byte: 3 units */
                         "\xED\xA0\x80"     /* surrogate: 3 units */
                         "\xF4\x90\x80\x80" /* above U+10FFFF: 4 units */
                         "\xF5\x80"         /* F5 never starts a sequence */
                         "\xE6\x97" "x"     /* truncated 3-byte sequence: 1 unit of 2 bytes */
                         "\xF0\x9F\x98";    /* truncated at the end: 1 unit of 3 bytes */
        const uint32_t I = UTF8_INVALID;
        const uint32_t cps[] = {I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, 'x', I};
        const size_t lens[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 3};
        expect_units(s, cps, lens, sizeof cps / sizeof cps[0]);
    }
    /* n bounds the read: a valid sequence cut by n is an error unit of n bytes */
    assert_int_equal(utf8_decode(U("\xE6\x97\xA5"), 2, &cp), 2);
    assert_int_equal(cp, UTF8_INVALID);
}

static void test_encode(void **state) {
    (void)state;
    const uint32_t cps[] = {0, 'A', 0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF};
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        unsigned char buf[4];
        size_t n = utf8_encode(cps[i], buf);
        uint32_t back;
        assert_int_equal(utf8_decode(buf, n, &back), n);
        assert_int_equal(back, cps[i]);
    }
    unsigned char buf[4];
    assert_int_equal(utf8_encode(0xD800, buf), 3); /* not encodable: U+FFFD */
    assert_memory_equal(buf, UTF8_REPLACEMENT, 3);
    assert_int_equal(utf8_encode(0x110000, buf), 3);
    assert_memory_equal(buf, UTF8_REPLACEMENT, 3);
}

static void test_valid_and_prefix(void **state) {
    (void)state;
    const struct {
        const char *s;
        int valid, prefix;
    } cases[] = {
        {"", 1, 1},
        {"abc \xC3\xA9", 1, 1},
        {"\xF0\x9F\x98\x80", 1, 1},
        {"\xF0\x9F\x98", 0, 1},     /* cut short: more bytes can finish it */
        {"ab\xE6", 0, 1},
        {"\xE6\x97" "a", 0, 0},     /* cut short, then an ASCII byte */
        {"\xC0\xAF", 0, 0},         /* overlong */
        {"\xE0\x80", 0, 0},         /* overlong 3-byte start: no continuation makes it valid */
        {"\xED\xA0", 0, 0},         /* surrogate start */
        {"\xF4\x90", 0, 0},         /* above U+10FFFF */
        {"\x80", 0, 0},             /* a lone continuation byte */
        {"\xFF", 0, 0},
        {"a\xC3", 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].s);
        if (utf8_is_valid(U(cases[i].s), n) != cases[i].valid ||
            utf8_is_valid_prefix(U(cases[i].s), n) != cases[i].prefix)
            fail_msg("case %zu: valid %d prefix %d", i, utf8_is_valid(U(cases[i].s), n),
                     utf8_is_valid_prefix(U(cases[i].s), n));
    }
}

static void test_length_and_strip(void **state) {
    (void)state;
    assert_int_equal(utf8_length(U("a\xC3\xA9\xE6\x97\xA5"), 6), 3);
    assert_int_equal(utf8_length(U("\xC0\xAF" "b"), 3), 3); /* two error units and b */
    assert_int_equal(utf8_length(U(""), 0), 0);

    size_t a, z;
    /* " \t<U+3000>x y<U+00A0>\n" -> "x y" */
    const char *s = " \t\xE3\x80\x80x y\xC2\xA0\n";
    utf8_strip(s, strlen(s), &a, &z);
    assert_int_equal(a, 5);
    assert_int_equal(z, 8);
    utf8_strip(" \n ", 3, &a, &z); /* all space */
    assert_int_equal(a, 3);
    assert_int_equal(z, 3);
    utf8_strip(" \xFF ", 3, &a, &z); /* an error unit is not space */
    assert_int_equal(a, 1);
    assert_int_equal(z, 2);
    assert_true(utf8_is_space(0x1C) && utf8_is_space(0x85) && utf8_is_space(0x2028) && !utf8_is_space(0x200B));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_valid_and_prefix),
        cmocka_unit_test(test_length_and_strip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
