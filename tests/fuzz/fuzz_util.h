/* fuzz_util.h — what the file-reading fuzz targets share: a private scratch directory (in /dev/shm
 * when there is one, so writing an input per run stays cheap), removed at exit, and whole-file
 * writes.  Header-only; every target is one translation unit plus tests/fuzz/driver.c. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amanuensis.h"


static char fuzz_dir[256];

/* Remove the files directly inside `dir`, its subdirectories' files, and the directories. */
static void fuzz_remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) fuzz_remove_tree(path);
        else unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void fuzz_cleanup(void) {
    if (fuzz_dir[0]) fuzz_remove_tree(fuzz_dir);
}

/* The scratch directory, created on first use. */
static const char *fuzz_scratch_dir(void) {
    if (fuzz_dir[0]) return fuzz_dir;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0
                           ? "/dev/shm"
                           : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/amanuensis-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_cleanup);
    return fuzz_dir;
}

/* <scratch>/<name> into out[size]; a subdirectory part of `name` is created. */
static const char *fuzz_path(const char *name, char *out, size_t size) {
    snprintf(out, size, "%s/%s", fuzz_scratch_dir(), name);
    char *slash = strrchr(out, '/');
    if (slash && slash > out + strlen(fuzz_dir)) {
        *slash = 0;
        mkdir(out, 0700);
        *slash = '/';
    }
    return out;
}

static void fuzz_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* Load a model from `path` on the CPU (int8 or float32 by the input's length): it loads with a sane
 * vocabulary and decoder, or fails with a non-empty one-line message and no model. */
static void fuzz_load_model(const char *path, size_t size) {
    am_load_options opts = am_load_options_default();
    opts.backend = "cpu";
    opts.precision = size & 1 ? AM_PRECISION_F32 : AM_PRECISION_INT8;
    am_model *m = NULL;
    char err[1024] = "";
    int rc = am_model_load_ex(path, &opts, &m, err, sizeof err);
    if (rc == AM_OK) {
        if (!m) abort();
        am_model_info info;
        am_model_get_info(m, &info);
        if (info.n_vocab < 51864 || info.n_text_layer < 1) abort();
        am_model_free(m);
    } else if (m || err[0] == '\0' || strchr(err, '\n')) {
        abort();
    }
}

#endif
