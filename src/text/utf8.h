/* utf8.h — the program's one UTF-8 decoder and encoder.
 *
 * Well-formed means what Unicode (and Python's str.decode("utf-8")) accepts: no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF.  An ill-formed sequence is consumed as its
 * "maximal subpart" (the Unicode "substitution of maximal subparts" practice, also CPython's): the
 * longest start of it that could still begin a well-formed sequence, at least one byte — so
 * replacing each ill-formed unit by one U+FFFD gives what Python's errors="replace" gives. */
#ifndef AM_TEXT_UTF8_H
#define AM_TEXT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* What utf8_decode stores for an ill-formed sequence: not a code point (above U+10FFFF). */
#define UTF8_INVALID 0xFFFFFFFFu
/* U+FFFD REPLACEMENT CHARACTER, encoded. */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* Decode the code point at the start of s[0..n).  Returns the number of bytes consumed: 0 only when
 * n == 0, else 1..4 and at most n.  *cp gets the code point, or UTF8_INVALID when s does not start
 * with a well-formed sequence; the return value is then the length of the maximal subpart (which
 * is the whole rest of s when s ends in the middle of a sequence). */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Encode code point cp (<= U+10FFFF, not a surrogate) into out; returns its length 1..4.  Anything
 * else is encoded as U+FFFD. */
size_t utf8_encode(uint32_t cp, unsigned char out[4]);

/* 1 when s[0..n) is entirely well-formed UTF-8 (a complete sequence of characters), else 0. */
int utf8_is_valid(const unsigned char *s, size_t n);

/* 1 when s[0..n) is well-formed UTF-8 except that its last character may be cut short: bytes could
 * be appended to make it well-formed (utf8_is_valid implies this).  0 when an ill-formed byte is
 * already there. */
int utf8_is_valid_prefix(const unsigned char *s, size_t n);

/* Number of code points in s[0..n) (an ill-formed unit counts as one, as its U+FFFD would). */
size_t utf8_length(const unsigned char *s, size_t n);

/* Python's str.isspace() for one code point (ASCII whitespace, U+001C..U+001F, U+0085, U+00A0,
 * U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000). */
int utf8_is_space(uint32_t cp);

/* Python's str.strip() on s[0..n): the kept range is [*a, *z) (ill-formed units are not space). */
void utf8_strip(const char *s, size_t n, size_t *a, size_t *z);

#endif
