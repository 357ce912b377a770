/* sbuf.h — the program's growable byte buffer: the writers (src/output), the JSON serialiser
 * (src/result/json.h) and the server's responses (src/server) all build their bytes in one. */
#ifndef AM_TEXT_SBUF_H
#define AM_TEXT_SBUF_H

#include <stddef.h>

typedef struct sbuf {
    char *p;       /* NUL-terminated after any append (NULL before the first)                  */
    size_t len, cap;
    int oom;       /* set when an allocation failed; later appends are no-ops                  */
} sbuf;

void sb_put(sbuf *b, const void *data, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_putc(sbuf *b, char c);
void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Append s[0..n) as well-formed UTF-8: each ill-formed unit (text/utf8.h) becomes U+FFFD. */
void sb_put_utf8(sbuf *b, const char *s, size_t n);
/* Take the buffer (caller frees); returns NULL on oom.  Leaves b empty. */
char *sb_take(sbuf *b, size_t *len);
void sb_free(sbuf *b);

#endif
