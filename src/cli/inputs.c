/* inputs.c — what `amanuensis transcribe` is asked to transcribe: files and folders on the command
 * line expanded into a list of files, each with the name of its outputs.
 *
 * Output names.  A file named on the command line writes <output-dir>/<its name without
 * extension>.<ext>, as openai-whisper's CLI does.  A file found in a folder mirrors its path inside
 * that folder: `transcribe -o txt --output-dir out/ talks/` writes talks/day1/a.wav to
 * out/day1/a.txt and talks/day2/a.wav to out/day2/a.txt, so same-named files in different
 * subfolders never meet.  Two inputs that would still share an output name (a.wav and a.mp3 side by
 * side, or two named files with the same name from different folders) are not silently
 * overwritten: the later one fails with a one-line error naming the earlier. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

static char *str_copy(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* "a" + "b" -> "a/b" (one slash); malloc'd. */
static char *path_join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    int slash = na > 0 && a[na - 1] != '/';
    char *p = malloc(na + slash + nb + 1);
    if (!p) return NULL;
    memcpy(p, a, na);
    if (slash) p[na] = '/';
    memcpy(p + na + slash, b, nb + 1);
    return p;
}

/* `rel` without the extension of its last component ("x/a.b.wav" -> "x/a.b"; ".wav" stays). */
static char *stem_of(const char *rel) {
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - rel) : strlen(rel);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, rel, n);
    s[n] = 0;
    return s;
}

static int list_add(cli_input_list *l, const char *path, const char *out_name, const char *error) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        cli_input *g = realloc(l->v, (size_t)cap * sizeof *g);
        if (!g) return -1;
        l->v = g;
        l->cap = cap;
    }
    cli_input *in = &l->v[l->n];
    memset(in, 0, sizeof *in);
    in->path = str_copy(path);
    in->out_stem = stem_of(out_name);
    in->error = error ? str_copy(error) : NULL;
    if (!in->path || !in->out_stem || (error && !in->error)) {
        free(in->path);
        free(in->out_stem);
        free(in->error);
        return -1;
    }
    l->n++;
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names in `dir`, hidden ones ('.' first) left out, sorted; malloc'd array of malloc'd names.
 * Returns the count, or -1 with errno set. */
static int list_folder(const char *dir, char ***names_out) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    int n = 0, cap = 0, failed = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **g = realloc(names, (size_t)cap * sizeof *g);
            if (!g) { failed = ENOMEM; break; }
            names = g;
        }
        if (!(names[n] = str_copy(e->d_name))) { failed = ENOMEM; break; }
        n++;
        errno = 0;
    }
    if (!failed && errno) failed = errno;
    closedir(d);
    if (failed) {
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
        errno = failed;
        return -1;
    }
    if (n > 1) qsort(names, (size_t)n, sizeof *names, by_name);
    *names_out = names;
    return n;
}

/* Add the regular files under `dir` (whose path inside the top folder is `rel`), depth first in
 * name order.  Links to files are followed, links to folders are not (no loops).  A folder that
 * cannot be read becomes an input carrying its error. */
static int walk_folder(cli_input_list *l, const char *dir, const char *rel) {
    char **names = NULL;
    int n = list_folder(dir, &names);
    if (n < 0) {
        if (errno == ENOMEM) return -1;
        char msg[4352];
        snprintf(msg, sizeof msg, "%s: cannot read the folder: %s", dir, strerror(errno));
        return list_add(l, dir, rel, msg);
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char *path = path_join(dir, names[i]);
        char *sub = rel[0] ? path_join(rel, names[i]) : str_copy(names[i]);
        struct stat st;
        if (!path || !sub) rc = -1;
        else if (lstat(path, &st) != 0) rc = 0; /* vanished meanwhile */
        else if (S_ISDIR(st.st_mode)) rc = walk_folder(l, path, sub);
        else if (S_ISREG(st.st_mode) || (S_ISLNK(st.st_mode) && stat(path, &st) == 0 && S_ISREG(st.st_mode)))
            rc = list_add(l, path, sub, NULL);
        free(path);
        free(sub);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

int cli_inputs_collect(char **args, int n_args, cli_input_list *list) {
    memset(list, 0, sizeof *list);
    for (int i = 0; i < n_args; i++) {
        const char *a = args[i];
        struct stat st;
        int rc;
        if (strcmp(a, "-") != 0 && stat(a, &st) == 0 && S_ISDIR(st.st_mode)) {
            list->from_folder = 1;
            rc = walk_folder(list, a, "");
        } else { /* a file, or what its reading will report as an error */
            const char *base = strrchr(a, '/');
            rc = list_add(list, a, base ? base + 1 : a, NULL);
        }
        if (rc != 0) return -1;
    }
    return 0;
}

typedef struct stem_ref {
    const char *stem;
    int index;
} stem_ref;

static int by_stem_then_index(const void *a, const void *b) {
    const stem_ref *x = a, *y = b;
    int c = strcmp(x->stem, y->stem);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

int cli_inputs_mark_collisions(cli_input_list *list) {
    if (list->n < 2) return 0;
    stem_ref *order = malloc((size_t)list->n * sizeof *order);
    if (!order) return -1;
    for (int i = 0; i < list->n; i++) order[i] = (stem_ref){list->v[i].out_stem, i};
    qsort(order, (size_t)list->n, sizeof *order, by_stem_then_index);
    int rc = 0, first = order[0].index; /* the earliest input of the current run of equal names */
    for (int k = 1; k < list->n && rc == 0; k++) {
        if (strcmp(order[k].stem, order[k - 1].stem) != 0) {
            first = order[k].index;
            continue;
        }
        cli_input *in = &list->v[order[k].index];
        if (in->error) continue;
        char msg[8448];
        snprintf(msg, sizeof msg, "%s: its output name '%s' is already that of %s (give their folder to mirror "
                 "subfolders, or rename one)", in->path, in->out_stem, list->v[first].path);
        if (!(in->error = str_copy(msg))) rc = -1;
    }
    free(order);
    return rc;
}

/* mkdir -p: create `dir` and any missing parent, as openai-whisper's os.makedirs(exist_ok=True).
 * Returns 0 when `dir` is a directory afterwards, else -1 with errno set. */
int cli_make_dirs(const char *dir) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0) { errno = ENOENT; return -1; }
    if (n >= sizeof path) { errno = ENAMETOOLONG; return -1; }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if ((path[i] != '/' && path[i] != '\0') || path[i - 1] == '/') continue;
        char c = path[i];
        path[i] = '\0'; /* path[0..i) is one more component */
        int rc = mkdir(path, 0777);
        path[i] = c;
        if (rc != 0 && errno != EEXIST) return -1;
    }
    struct stat st;
    if (stat(dir, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; return -1; }
    return 0;
}

void cli_output_path(const char *dir, const char *stem, const char *ext, char *out, size_t size) {
    snprintf(out, size, "%s/%s.%s", dir, stem, ext);
}

void cli_inputs_mark_existing(cli_input_list *list, const char *out_dir, const int *formats, int n_formats) {
    if (n_formats <= 0) return;
    for (int i = 0; i < list->n; i++) {
        cli_input *in = &list->v[i];
        if (in->error) continue;
        int all = 1;
        for (int f = 0; f < n_formats && all; f++) {
            char p[8192];
            struct stat st;
            cli_output_path(out_dir, in->out_stem, am_format_extension((am_format)formats[f]), p, sizeof p);
            all = stat(p, &st) == 0 && S_ISREG(st.st_mode);
        }
        in->skip = all;
    }
}

void cli_inputs_free(cli_input_list *list) {
    for (int i = 0; i < list->n; i++) {
        free(list->v[i].path);
        free(list->v[i].out_stem);
        free(list->v[i].error);
    }
    free(list->v);
    memset(list, 0, sizeof *list);
}
