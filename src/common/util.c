/* util.c — see util.h. */
#define _GNU_SOURCE /* dladdr */
#define _POSIX_C_SOURCE 200809L
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "amanuensis.h"

int am_fail(char *err, size_t err_size, int status, const char *fmt, ...) {
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
        /* keep it to one line */
        for (char *p = err; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    return status;
}

double am_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int am_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

int am_read_file(const char *path, unsigned char **data, size_t *size, char *err, size_t err_size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return am_fail(err, err_size, AM_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return am_fail(err, err_size, AM_E_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return am_fail(err, err_size, AM_E_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        free(buf);
        return am_fail(err, err_size, AM_E_IO, "%s: read error", path);
    }
    buf[n] = 0;
    *data = buf;
    *size = n;
    return AM_OK;
}

char *am_strndup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *am_strdup(const char *s) { return am_strndup(s, strlen(s)); }

const char *am_version(void) { return AM_VERSION; }

const char *am_status_string(am_status status) {
    switch (status) {
    case AM_OK: return "success";
    case AM_E_INVALID_ARG: return "invalid argument";
    case AM_E_NOMEM: return "out of memory";
    case AM_E_IO: return "input/output error";
    case AM_E_AUDIO: return "bad or unsupported audio";
    case AM_E_MODEL: return "bad or unsupported model file";
    case AM_E_UNSUPPORTED: return "not supported";
    case AM_E_INTERNAL: return "internal error";
    case AM_E_ABORTED: return "aborted";
    case AM_E_BACKEND: return "compute backend failed or unavailable";
    default: return "unknown error";
    }
}

static int readable(const char *path) { return access(path, R_OK) == 0; }

int am_find_data_file(const char *named, const char *dir, const char *file, char *out, size_t size) {
    if (named && *named) {
        snprintf(out, size, "%s", named);
        return 1;
    }
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            if ((size_t)snprintf(out, size, "%s/../%s/%s", exe, dir, file) < size && readable(out)) return 1;
            if ((size_t)snprintf(out, size, "%s/../share/amanuensis/%s", exe, file) < size && readable(out)) return 1;
        }
    }
    Dl_info info; /* the shared library the code is in (the program's own path is the case above) */
    if (dladdr((const void *)am_find_data_file, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash &&
            (size_t)snprintf(out, size, "%.*s/../share/amanuensis/%s", (int)(slash - info.dli_fname), info.dli_fname,
                             file) < size &&
            readable(out))
            return 1;
    }
    return (size_t)snprintf(out, size, "%s/%s", dir, file) < size && readable(out);
}
