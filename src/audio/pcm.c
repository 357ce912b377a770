/* pcm.c — the sample store of pcm.h: a growing buffer, or an unlinked temporary file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amanuensis.h"
#include "audio/pcm.h"

struct pcm_store {
    float *v;          /* memory: the samples (owned unless view) */
    size_t n, cap;
    int view;
    int fd;            /* spool: the unlinked file, -1 for memory */
    int (*sink)(void *user, const float *x, size_t n); /* sink: where appends go (nothing kept) */
    void *sink_user;
    char error[160];
};

pcm_store *pcm_store_new(int spool) {
    pcm_store *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fd = -1;
    if (spool) {
        const char *dir = getenv("TMPDIR");
        char path[4096];
        if (!dir || !*dir) dir = "/tmp";
        if ((size_t)snprintf(path, sizeof path, "%s/amanuensis-pcm-XXXXXX", dir) < sizeof path) {
            int fd = mkstemp(path);
            if (fd >= 0) {
                unlink(path); /* private, and gone with the last descriptor */
                s->fd = fd;
            }
        }
    }
    return s;
}

pcm_store *pcm_store_view(const float *samples, size_t n) {
    pcm_store *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fd = -1;
    s->v = (float *)samples;
    s->n = s->cap = n;
    s->view = 1;
    return s;
}

pcm_store *pcm_store_sink(int (*fn)(void *user, const float *x, size_t n), void *user) {
    pcm_store *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fd = -1;
    s->sink = fn;
    s->sink_user = user;
    return s;
}

void pcm_store_free(pcm_store *s) {
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    if (!s->view) free(s->v);
    free(s);
}

/* A spool that cannot be written (a full disk, a file size limit) moves to memory: what it holds is
 * read back and the file dropped, so that a full temporary directory costs memory, not the work. */
static int spool_to_memory(pcm_store *s) {
    size_t cap = s->n > 16000 * 30 ? s->n : 16000 * 30;
    float *v = malloc(cap * sizeof *v);
    if (!v) return AM_E_NOMEM;
    int fd = s->fd;
    s->v = v;
    s->cap = cap;
    int rc = pcm_store_read(s, 0, s->n, v);
    close(fd);
    s->fd = -1;
    return rc;
}

int pcm_store_append(pcm_store *s, const float *x, size_t n) {
    if (n == 0) return AM_OK;
    if (s->view) return AM_E_INVALID_ARG;
    if (s->sink) {
        int rc = s->sink(s->sink_user, x, n);
        if (rc == AM_OK) s->n += n;
        return rc;
    }
    if (s->fd >= 0) {
        const char *p = (const char *)x;
        size_t left = n * sizeof *x;
        off_t at = (off_t)(s->n * sizeof *x);
        while (left > 0) {
            ssize_t w = pwrite(s->fd, p, left, at);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                snprintf(s->error, sizeof s->error, "cannot write the temporary audio file: %s",
                         w < 0 ? strerror(errno) : "no space left");
                int rc = spool_to_memory(s); /* the part of x written past s->n is simply written again */
                return rc == AM_OK ? pcm_store_append(s, x, n) : rc;
            }
            p += w;
            at += w;
            left -= (size_t)w;
        }
        s->n += n;
        return AM_OK;
    }
    if (s->cap - s->n < n) {
        size_t cap = s->cap ? s->cap : 16000 * 30;
        while (cap - s->n < n) {
            if (cap > ((size_t)-1) / 2 / sizeof(float)) return AM_E_NOMEM;
            cap *= 2;
        }
        float *g = realloc(s->v, cap * sizeof *g); /* large blocks: mremap, no copy */
        if (!g) return AM_E_NOMEM;
        s->v = g;
        s->cap = cap;
    }
    memcpy(s->v + s->n, x, n * sizeof *x);
    s->n += n;
    return AM_OK;
}

size_t pcm_store_size(const pcm_store *s) { return s->n; }

int pcm_store_read(const pcm_store *s, size_t start, size_t n, float *dst) {
    size_t have = start < s->n ? s->n - start : 0, k = n < have ? n : have;
    if (k < n) memset(dst + k, 0, (n - k) * sizeof *dst);
    if (k == 0) return AM_OK;
    if (s->sink) {
        memset(dst, 0, k * sizeof *dst);
        return AM_OK;
    }
    if (s->fd < 0) {
        memcpy(dst, s->v + start, k * sizeof *dst);
        return AM_OK;
    }
    char *p = (char *)dst;
    size_t left = k * sizeof *dst;
    off_t at = (off_t)(start * sizeof *dst);
    while (left > 0) {
        ssize_t r = pread(s->fd, p, left, at);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            snprintf(((pcm_store *)s)->error, sizeof s->error, "cannot read the temporary audio file: %s",
                     r < 0 ? strerror(errno) : "short read");
            return AM_E_IO;
        }
        p += r;
        at += r;
        left -= (size_t)r;
    }
    return AM_OK;
}

const float *pcm_store_memory(const pcm_store *s) { return s->fd < 0 && !s->sink ? s->v : NULL; }

float *pcm_store_take(pcm_store *s) {
    if (s->fd >= 0 || s->view || s->sink) return NULL;
    float *v = s->v;
    s->v = NULL;
    s->n = s->cap = 0;
    return v;
}

const char *pcm_store_error(const pcm_store *s) { return s->error; }
