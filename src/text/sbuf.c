/* sbuf.c — growable byte buffer (see sbuf.h). */
#include "text/sbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/utf8.h"

static int grow(sbuf *b, size_t extra) {
    if (b->oom) return -1;
    if (extra > ((size_t)-1) / 2 - b->len) { b->oom = 1; return -1; }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { b->oom = 1; return -1; }
    b->p = p;
    b->cap = cap;
    return 0;
}

void sb_put(sbuf *b, const void *data, size_t n) {
    if (grow(b, n)) return;
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

void sb_putc(sbuf *b, char c) { sb_put(b, &c, 1); }

void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = 1; return; }
    if ((size_t)n < sizeof tmp) { sb_put(b, tmp, (size_t)n); return; }
    if (grow(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sb_put_utf8(sbuf *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0; /* u[run..i) is well-formed and not yet appended */
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_decode(u + i, n - i, &cp);
        if (cp == UTF8_INVALID) {
            sb_put(b, u + run, i - run);
            sb_put(b, UTF8_REPLACEMENT, 3);
            run = i + k;
        }
        i += k;
    }
    sb_put(b, u + run, n - run);
}

char *sb_take(sbuf *b, size_t *len) {
    if (b->oom) { sb_free(b); return NULL; }
    if (!b->p) sb_put(b, "", 0);
    if (b->oom) { sb_free(b); return NULL; }
    char *p = b->p;
    if (len) *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void sb_free(sbuf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
