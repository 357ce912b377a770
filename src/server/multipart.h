/* multipart.h — a streaming multipart/form-data parser (RFC 7578 / RFC 2046).
 *
 * A pure function over bytes: no I/O, no allocation after mp_init, no global state.  Feed the body
 * in chunks of any size (mp_feed); the parser calls back for each part's headers, its data (in
 * pieces) and its end.  The result of parsing does not depend on how the body is split into chunks
 * (tests/fuzz/fuzz_multipart.c checks this).  Limits: header block MP_MAX_HEADER bytes per part,
 * field name and file name MP_MAX_NAME bytes, boundary 1..70 characters of RFC 2046's set. */
#ifndef AM_SERVER_MULTIPART_H
#define AM_SERVER_MULTIPART_H

#include <stddef.h>

#define MP_MAX_BOUNDARY 70
#define MP_MAX_HEADER 8192
#define MP_MAX_NAME 256
#define MP_MAX_CTYPE 128

typedef struct mp_part {
    char name[MP_MAX_NAME + 1];          /* Content-Disposition name=  ("" if absent)          */
    char filename[MP_MAX_NAME + 1];      /* Content-Disposition filename= ("" if absent)       */
    int has_filename;                    /* 1 when filename= was present                       */
    char content_type[MP_MAX_CTYPE + 1]; /* Content-Type ("" if absent)                        */
} mp_part;

/* Callbacks return 0 to go on, nonzero to stop parsing (mp_feed then returns MP_STOPPED). */
typedef struct mp_callbacks {
    int (*on_part_begin)(void *user, const mp_part *part);
    int (*on_part_data)(void *user, const char *data, size_t size);
    int (*on_part_end)(void *user);
} mp_callbacks;

enum {
    MP_OK = 0,          /* consumed; more input expected or the closing delimiter was seen   */
    MP_STOPPED = 1,     /* a callback asked to stop                                           */
    MP_ERROR = -1       /* malformed input: mp_error() says why; further input is refused     */
};

typedef struct mp_parser {
    int state;
    char delim[4 + MP_MAX_BOUNDARY + 1]; /* "\r\n--" boundary                                  */
    size_t delim_len;
    size_t match;                        /* bytes of delim matched so far                      */
    char line[MP_MAX_HEADER + 1];        /* the header line being read                         */
    size_t line_len;
    size_t header_bytes;                 /* header bytes of the current part                   */
    int after_dash;                      /* after the delimiter: saw one '-'                   */
    int saw_cr;                          /* after the delimiter or in headers: saw '\r'        */
    int n_parts;
    mp_part part;
    const char *error;
    mp_callbacks cb;
    void *user;
} mp_parser;

/* Extract the boundary from a Content-Type header value ("multipart/form-data; boundary=...").
 * Returns 0 and writes the boundary (NUL-terminated) or -1 if absent or invalid. */
int mp_boundary_from_content_type(const char *content_type, char *out, size_t out_size);

/* Returns 0, or -1 if the boundary is empty, too long or has characters RFC 2046 forbids. */
int mp_init(mp_parser *p, const char *boundary, const mp_callbacks *cb, void *user);
/* Feed the next bytes of the body.  Returns MP_OK, MP_STOPPED or MP_ERROR. */
int mp_feed(mp_parser *p, const char *data, size_t size);
/* 1 when the closing delimiter ("--boundary--") has been seen, else 0. */
int mp_done(const mp_parser *p);
/* Call at end of input: returns MP_OK if the body was complete, else MP_ERROR (truncated). */
int mp_finish(mp_parser *p);
const char *mp_error(const mp_parser *p);

#endif
