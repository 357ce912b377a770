/* multipart.c — streaming multipart/form-data parser (see multipart.h). */
#include "server/multipart.h"

#include <string.h>

enum { S_PREAMBLE, S_AFTER_DELIM, S_HEADERS, S_BODY, S_EPILOGUE, S_ERROR };

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static int ieq_n(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
    return 1;
}

static int bchar(int c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("'()+_,-./:=? ", c) != NULL);
}

static int valid_boundary(const char *b, size_t n) {
    if (n < 1 || n > MP_MAX_BOUNDARY || b[n - 1] == ' ') return 0;
    for (size_t i = 0; i < n; i++)
        if (!bchar((unsigned char)b[i])) return 0;
    return 1;
}

static const char *skip_ws(const char *s, const char *end) {
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    return s;
}

/* Parse one parameter value at *ps (quoted-string or token) into out (truncated to out_size-1).
 * Returns the untruncated length, or -1 on a malformed value (unterminated quote). */
static long param_value(const char **ps, const char *end, char *out, size_t out_size) {
    const char *s = *ps;
    size_t n = 0;
    long total = 0;
    if (s < end && *s == '"') {
        s++;
        for (;;) {
            if (s >= end) return -1;
            char c = *s++;
            if (c == '"') break;
            if (c == '\\') {
                if (s >= end) return -1;
                c = *s++;
            }
            if (n + 1 < out_size) out[n++] = c;
            total++;
        }
    } else {
        while (s < end && *s != ';' && *s != ' ' && *s != '\t') {
            if (n + 1 < out_size) out[n++] = *s;
            s++;
            total++;
        }
    }
    if (out_size) out[n] = '\0';
    *ps = s;
    return total;
}

/* Walk "; key=value" parameters after the first token of a header value.  For each, calls
 * fn(key, key_len, &s, end, ctx) which must consume the value; returns -1 on malformed input. */
typedef int (*param_fn)(const char *key, size_t key_len, const char **s, const char *end, void *ctx);

static int walk_params(const char *s, const char *end, param_fn fn, void *ctx) {
    while (s < end && *s != ';') s++;                        /* skip the type itself */
    while (s < end) {
        if (*s != ';') return -1;
        s = skip_ws(s + 1, end);
        if (s >= end) break;                                  /* trailing ';' */
        const char *k = s;
        while (s < end && *s != '=' && *s != ';' && *s != ' ' && *s != '\t') s++;
        size_t klen = (size_t)(s - k);
        s = skip_ws(s, end);
        if (s < end && *s == '=') {
            s = skip_ws(s + 1, end);
            if (fn(k, klen, &s, end, ctx) < 0) return -1;
            s = skip_ws(s, end);
        }
    }
    return 0;
}

struct boundary_ctx { char *out; size_t out_size; int found; int bad; };

static int boundary_param(const char *k, size_t klen, const char **s, const char *end, void *vctx) {
    struct boundary_ctx *c = vctx;
    char tmp[MP_MAX_BOUNDARY + 2];
    long n = param_value(s, end, tmp, sizeof tmp);
    if (n < 0) return -1;
    if (klen == 8 && ieq_n(k, "boundary", 8) && !c->found) {
        c->found = 1;
        if (n > MP_MAX_BOUNDARY || !valid_boundary(tmp, (size_t)n) || (size_t)n + 1 > c->out_size) c->bad = 1;
        else memcpy(c->out, tmp, (size_t)n + 1);
    }
    return 0;
}

int mp_boundary_from_content_type(const char *ct, char *out, size_t out_size) {
    if (!ct || !out || out_size == 0) return -1;
    const char *end = ct + strlen(ct);
    const char *s = skip_ws(ct, end);
    static const char mt[] = "multipart/form-data";
    if ((size_t)(end - s) < sizeof mt - 1 || !ieq_n(s, mt, sizeof mt - 1)) return -1;
    s += sizeof mt - 1;
    s = skip_ws(s, end);
    if (s < end && *s != ';') return -1;
    struct boundary_ctx c = {out, out_size, 0, 0};
    if (walk_params(s, end, boundary_param, &c) < 0 || !c.found || c.bad) return -1;
    return 0;
}

int mp_init(mp_parser *p, const char *boundary, const mp_callbacks *cb, void *user) {
    if (!p || !boundary) return -1;
    memset(p, 0, sizeof *p);
    size_t n = strlen(boundary);
    if (!valid_boundary(boundary, n)) return -1;
    memcpy(p->delim, "\r\n--", 4);
    memcpy(p->delim + 4, boundary, n);
    p->delim_len = 4 + n;
    p->state = S_PREAMBLE;
    p->match = 2;                 /* as if the body began with CRLF: "--boundary" may open it */
    if (cb) p->cb = *cb;
    p->user = user;
    return 0;
}

static int fail(mp_parser *p, const char *why) {
    p->state = S_ERROR;
    p->error = why;
    return MP_ERROR;
}

struct disp_ctx { mp_part *part; int bad; };

static int disp_param(const char *k, size_t klen, const char **s, const char *end, void *vctx) {
    struct disp_ctx *c = vctx;
    char tmp[MP_MAX_NAME + 1];
    long n = param_value(s, end, tmp, sizeof tmp);
    if (n < 0) return -1;
    if (klen == 4 && ieq_n(k, "name", 4)) {
        if (n > MP_MAX_NAME) c->bad = 1;
        else memcpy(c->part->name, tmp, (size_t)n + 1);
    } else if (klen == 8 && ieq_n(k, "filename", 8)) {
        memcpy(c->part->filename, tmp, strlen(tmp) + 1);   /* long file names are truncated */
        c->part->has_filename = 1;
    }
    return 0;
}

/* One complete header line (without its line end). */
static int header_line(mp_parser *p, const char *line, size_t len) {
    if (len > 0 && (line[0] == ' ' || line[0] == '\t')) return 0;   /* obsolete folding: ignored */
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line) return fail(p, "malformed part header");
    size_t nlen = (size_t)(colon - line);
    const char *end = line + len;
    const char *v = skip_ws(colon + 1, end);
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
    if (nlen == 19 && ieq_n(line, "content-disposition", 19)) {
        static const char fd[] = "form-data";
        if ((size_t)(end - v) < sizeof fd - 1 || !ieq_n(v, fd, sizeof fd - 1))
            return fail(p, "part Content-Disposition is not form-data");
        struct disp_ctx c = {&p->part, 0};
        if (walk_params(v + sizeof fd - 1, end, disp_param, &c) < 0)
            return fail(p, "malformed part Content-Disposition");
        if (c.bad) return fail(p, "part field name too long");
    } else if (nlen == 12 && ieq_n(line, "content-type", 12)) {
        size_t n = (size_t)(end - v);
        if (n > MP_MAX_CTYPE) n = MP_MAX_CTYPE;
        memcpy(p->part.content_type, v, n);
        p->part.content_type[n] = '\0';
    }
    return MP_OK;
}

static int emit(mp_parser *p, const char *d, size_t n) {
    if (n == 0 || p->state != S_BODY || !p->cb.on_part_data) return MP_OK;
    return p->cb.on_part_data(p->user, d, n) ? MP_STOPPED : MP_OK;
}

int mp_feed(mp_parser *p, const char *data, size_t size) {
    if (p->state == S_ERROR) return MP_ERROR;
    size_t i = 0;
    while (i < size) {
        switch (p->state) {
        case S_EPILOGUE:
            return MP_OK;                       /* everything after the closing delimiter is ignored */
        case S_PREAMBLE:
        case S_BODY: {
            if (p->match == 0) {
                const char *cr = memchr(data + i, '\r', size - i);
                size_t upto = cr ? (size_t)(cr - data) : size;
                int rc = emit(p, data + i, upto - i);
                if (rc) return rc;
                i = upto;
                if (cr) { p->match = 1; i++; }
                break;
            }
            char c = data[i];
            if (c == p->delim[p->match]) {
                p->match++;
                i++;
                if (p->match == p->delim_len) {
                    p->match = 0;
                    if (p->state == S_BODY && p->cb.on_part_end && p->cb.on_part_end(p->user)) {
                        p->state = S_AFTER_DELIM;
                        p->after_dash = p->saw_cr = 0;
                        return MP_STOPPED;
                    }
                    p->state = S_AFTER_DELIM;
                    p->after_dash = p->saw_cr = 0;
                }
            } else {
                /* '\r' occurs only at delim[0], so the matched prefix is data and c starts afresh */
                size_t m = p->match;
                p->match = 0;
                int rc = emit(p, p->delim, m);
                if (rc) return rc;
            }
            break;
        }
        case S_AFTER_DELIM: {
            char c = data[i++];
            if (p->saw_cr) {
                if (c != '\n') return fail(p, "malformed multipart delimiter line");
                p->state = S_HEADERS;
                p->line_len = 0;
                p->header_bytes = 0;
                p->saw_cr = 0;
                memset(&p->part, 0, sizeof p->part);
            } else if (c == '-') {
                if (p->after_dash) { p->state = S_EPILOGUE; return MP_OK; }
                p->after_dash = 1;
            } else if (p->after_dash) {
                return fail(p, "malformed closing delimiter");
            } else if (c == ' ' || c == '\t') {
                /* transport padding */
            } else if (c == '\r') {
                p->saw_cr = 1;
            } else {
                return fail(p, "malformed multipart delimiter line");
            }
            break;
        }
        case S_HEADERS: {
            char c = data[i++];
            if (++p->header_bytes > MP_MAX_HEADER) return fail(p, "part headers too large");
            if (c == '\n') {
                size_t n = p->line_len;
                if (n > 0 && p->line[n - 1] == '\r') n--;
                p->line_len = 0;
                if (n == 0) {
                    p->n_parts++;
                    p->state = S_BODY;
                    p->match = 0;
                    if (p->cb.on_part_begin && p->cb.on_part_begin(p->user, &p->part)) return MP_STOPPED;
                } else {
                    int rc = header_line(p, p->line, n);
                    if (rc) return rc;
                }
            } else {
                if (p->line_len >= MP_MAX_HEADER) return fail(p, "part headers too large");
                p->line[p->line_len++] = c;
            }
            break;
        }
        default:
            return fail(p, "internal parser state");
        }
    }
    return MP_OK;
}

int mp_done(const mp_parser *p) { return p->state == S_EPILOGUE; }

int mp_finish(mp_parser *p) {
    if (p->state == S_EPILOGUE) return MP_OK;
    if (p->state == S_ERROR) return MP_ERROR;
    return fail(p, p->state == S_PREAMBLE ? "no multipart boundary found in the body"
                                          : "truncated multipart body (closing boundary missing)");
}

const char *mp_error(const mp_parser *p) { return p->error ? p->error : "no error"; }
