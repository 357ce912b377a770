/* fuzz_multipart.c — fuzz target for the multipart/form-data parser (src/server/multipart.c).
 *
 * Each input is parsed twice: in one piece, and split into pseudo-random chunks (1..64 bytes);
 * the sequence of events (part headers, the bytes of each part, part ends, final status) must be
 * identical.  The first line of the input is also tried as a Content-Type header value.
 *
 * Built by the Makefile (make fuzz-short / make fuzz) with the standalone driver tests/fuzz/driver.c
 * or with libFuzzer; seeds in tests/fuzz/corpus/multipart, tokens in tests/fuzz/multipart.dict. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/multipart.h"

typedef struct digest {
    uint64_t h;
    unsigned long parts, ends, bytes;
} digest;

static void mix(digest *d, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) d->h = (d->h ^ b[i]) * 1099511628211ULL;
}

static int on_begin(void *u, const mp_part *p) {
    digest *d = u;
    d->parts++;
    mix(d, "B", 1);
    mix(d, p->name, strlen(p->name) + 1);
    mix(d, p->filename, strlen(p->filename) + 1);
    mix(d, p->content_type, strlen(p->content_type) + 1);
    mix(d, &p->has_filename, sizeof p->has_filename);
    if (strlen(p->name) > MP_MAX_NAME || strlen(p->filename) > MP_MAX_NAME || strlen(p->content_type) > MP_MAX_CTYPE)
        abort();
    return 0;
}

static int on_data(void *u, const char *data, size_t n) {
    digest *d = u;
    if (n == 0) abort();                  /* no empty data callbacks */
    d->bytes += n;
    mix(d, data, n);                      /* chunk-independent: hashes the byte stream */
    return 0;
}

static int on_end(void *u) {
    digest *d = u;
    d->ends++;
    mix(d, "E", 1);
    return 0;
}

static const mp_callbacks cb = {on_begin, on_data, on_end};

static void parse(const uint8_t *data, size_t size, int chunked, digest *d) {
    mp_parser *p = malloc(sizeof *p);
    if (!p) abort();
    memset(d, 0, sizeof *d);
    d->h = 1469598103934665603ULL;
    if (mp_init(p, "XyZ-b0undary", &cb, d) != 0) abort();
    uint32_t rng = (uint32_t)size * 2654435761u + 1;
    size_t i = 0;
    int rc = MP_OK;
    while (i < size && rc == MP_OK) {
        size_t n = size - i;
        if (chunked) {
            rng = rng * 1103515245u + 12345u;
            size_t c = 1 + (rng >> 16) % 64;
            if (c < n) n = c;
        }
        rc = mp_feed(p, (const char *)data + i, n);
        i += n;
    }
    int fin = rc == MP_OK ? mp_finish(p) : rc;
    mix(d, &rc, sizeof rc);
    mix(d, &fin, sizeof fin);
    if (d->ends > d->parts) abort();
    if (d->bytes > size) abort();
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    digest a, b;
    parse(data, size, 0, &a);
    parse(data, size, 1, &b);
    if (a.h != b.h || a.parts != b.parts || a.ends != b.ends || a.bytes != b.bytes) {
        fprintf(stderr, "fuzz_multipart: chunked parse differs from one-shot parse\n");
        abort();
    }
    /* first line as a Content-Type value */
    char ct[256];
    size_t n = 0;
    while (n < size && n < sizeof ct - 1 && data[n] != '\n') { ct[n] = data[n] ? (char)data[n] : ' '; n++; }
    ct[n] = '\0';
    char bnd[MP_MAX_BOUNDARY + 1];
    if (mp_boundary_from_content_type(ct, bnd, sizeof bnd) == 0) {
        mp_parser *p = malloc(sizeof *p);
        if (!p) abort();
        if (mp_init(p, bnd, NULL, NULL) != 0) abort();   /* an extracted boundary is always valid */
        mp_feed(p, (const char *)data, size);
        mp_finish(p);
        free(p);
    }
    return 0;
}
