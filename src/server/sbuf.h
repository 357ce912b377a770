/* sbuf.h — growable byte buffer with JSON string escaping, for building HTTP responses. */
#ifndef AM_SERVER_SBUF_H
#define AM_SERVER_SBUF_H

#include <stddef.h>

typedef struct sbuf {
    char *p;       /* NUL-terminated when len > 0 or after any append                        */
    size_t len, cap;
    int oom;       /* set when an allocation failed; later appends are no-ops                */
} sbuf;

void sb_put(sbuf *b, const char *data, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Append s as a JSON string literal with quotes (invalid UTF-8 bytes become U+FFFD). */
void sb_json_str(sbuf *b, const char *s);
/* Append a finite double as JSON (non-finite values become 0). */
void sb_json_num(sbuf *b, double v, int decimals);
/* Take the buffer (caller frees); returns NULL on oom.  Leaves b empty. */
char *sb_take(sbuf *b, size_t *len);
void sb_free(sbuf *b);

#endif
