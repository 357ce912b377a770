/* driver.c — the standalone fuzz driver every target in tests/fuzz/ links when libFuzzer is not used
 * (gcc, ASan/UBSan).  It is a random-mutation loop without coverage feedback:
 *
 *   ./fuzz_X [-seconds=N] [-runs=N] [-max_len=N] [-timeout=N] [-dict=FILE] [-artifact_prefix=P]
 *            [-seed=N] DIR_OR_FILE...
 *
 * 1. Every file named (or found directly in a directory named) is run as it is, in the order given:
 *    regression inputs first (the Makefile lists tests/fuzz/regressions/<target> first), then seeds.
 * 2. For N seconds (default 10) or N runs, a random seed is mutated (bit/byte changes, deletions,
 *    insertions, dictionary tokens, interesting integers, copies of a range, splices with another
 *    seed, truncation) and run.  Each input is passed in a heap block of exactly its size, so ASan
 *    catches a read one byte past the end.
 * 3. A failure (sanitizer report, abort, signal, or an input running longer than -timeout seconds)
 *    writes the input to <artifact_prefix>crash-<hash> before the process dies, and prints the path.
 *
 * The dictionary has libFuzzer's format (one "token" per line, \\ \" and \xNN escapes, # comments),
 * so the same file serves both engines.  A target may define LLVMFuzzerInitialize. */
#define _DEFAULT_SOURCE /* setitimer, strdup */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

typedef struct blob {
    uint8_t *data;
    size_t size;
} blob;

typedef struct blob_list {
    blob *items;
    size_t n;
} blob_list;

typedef struct options {
    double seconds;
    unsigned long runs;       /* 0: no limit but the time */
    size_t max_len;
    unsigned timeout;         /* seconds per input, 0: none */
    const char *dict;
    const char *artifact_prefix;
    uint64_t seed;
} options;

/* ---- the input being run, for the failure handlers ------------------------------------------ */

static const uint8_t *volatile g_current;
static volatile size_t g_current_size;
static volatile sig_atomic_t g_saved;
static char g_prefix[512] = "";

static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* Async-signal-safe: write the current input to <prefix>crash-<hash> and say where. */
static void save_current_input(void) {
    if (g_saved || !g_current) return;
    g_saved = 1;
    char path[600];
    size_t len = strlen(g_prefix);
    memcpy(path, g_prefix, len);
    memcpy(path + len, "crash-", 6);
    len += 6;
    uint64_t h = fnv1a(g_current, g_current_size);
    for (int i = 15; i >= 0; i--) path[len++] = "0123456789abcdef"[(h >> (4 * i)) & 15];
    path[len] = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        size_t off = 0;
        while (off < g_current_size) {
            ssize_t w = write(fd, g_current + off, g_current_size - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
        close(fd);
    }
    static const char msg[] = "\nfuzz driver: failing input written to ";
    if (write(2, msg, sizeof msg - 1) < 0 || write(2, path, len) < 0 || write(2, "\n", 1) < 0) return;
}

static void on_fatal_signal(int sig) {
    if (sig == SIGALRM) {
        static const char msg[] = "\nfuzz driver: an input ran past the -timeout limit\n";
        if (write(2, msg, sizeof msg - 1) < 0) { /* nothing more to do */ }
    }
    save_current_input();
    signal(sig, SIG_DFL);
    raise(sig == SIGALRM ? SIGABRT : sig);
}

static void install_failure_handlers(void) {
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(save_current_input);
    static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigaction(sigs[i], &sa, NULL);
    }
}

static void arm_timeout(unsigned seconds) {
    struct itimerval t;
    memset(&t, 0, sizeof t);
    t.it_value.tv_sec = seconds;
    setitimer(ITIMER_REAL, &t, NULL);
}

/* Run one input from an exactly-sized heap copy. */
static void run_one(const options *o, const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    if (size) memcpy(copy, data, size);
    g_current = copy;
    g_current_size = size;
    if (o->timeout) arm_timeout(o->timeout);
    LLVMFuzzerTestOneInput(copy, size);
    if (o->timeout) arm_timeout(0);
    g_current = NULL;
    free(copy);
}

/* ---- inputs and dictionary ------------------------------------------------------------------ */

static void list_add(blob_list *l, const uint8_t *data, size_t size) {
    blob *t = realloc(l->items, (l->n + 1) * sizeof *t);
    uint8_t *d = malloc(size ? size : 1);
    if (!t || !d) abort();
    if (size) memcpy(d, data, size);
    l->items = t;
    l->items[l->n].data = d;
    l->items[l->n].size = size;
    l->n++;
}

static void list_free(blob_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->items[i].data);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int read_whole_file(const char *path, blob *out) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 4096, n = 0;
    uint8_t *d = malloc(cap);
    while (d) {
        if (n == cap) {
            uint8_t *t = realloc(d, cap * 2);
            if (!t) { free(d); d = NULL; break; }
            d = t;
            cap *= 2;
        }
        size_t got = fread(d + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    if (!d) return -1;
    out->data = d;
    out->size = n;
    return 0;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A file, or the regular files directly inside a directory (sorted by name, dot files skipped). */
static void load_inputs(const char *path, blob_list *out) {
    struct stat st;
    if (stat(path, &st) != 0) return;
    blob b;
    if (!S_ISDIR(st.st_mode)) {
        if (read_whole_file(path, &b) == 0) { list_add(out, b.data, b.size); free(b.data); }
        return;
    }
    DIR *dir = opendir(path);
    if (!dir) return;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        char **t = realloc(names, (n + 1) * sizeof *names);
        if (!t) abort();
        names = t;
        names[n++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && read_whole_file(full, &b) == 0) {
            list_add(out, b.data, b.size);
            free(b.data);
        }
        free(names[i]);
    }
    free(names);
}

static int hex_digit(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* libFuzzer dictionary: lines `name="token"` or `"token"`; \\, \" and \xNN escapes. */
static void load_dict(const char *path, blob_list *out) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "fuzz driver: cannot read dictionary %s\n", path);
        exit(2);
    }
    char line[4096];
    uint8_t tok[4096];
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || !*p) continue;
        p = strchr(p, '"');
        if (!p) continue;
        p++;
        size_t n = 0;
        while (*p && *p != '"' && n < sizeof tok) {
            if (*p == '\\' && p[1] == 'x' && hex_digit(p[2]) >= 0 && hex_digit(p[3]) >= 0) {
                tok[n++] = (uint8_t)(hex_digit(p[2]) * 16 + hex_digit(p[3]));
                p += 4;
            } else if (*p == '\\' && p[1]) {
                tok[n++] = (uint8_t)p[1];
                p += 2;
            } else {
                tok[n++] = (uint8_t)*p++;
            }
        }
        if (*p == '"' && n > 0) list_add(out, tok, n);
    }
    fclose(f);
}

/* ---- mutation ------------------------------------------------------------------------------- */

static uint64_t g_rng = 88172645463325252ULL;

static uint64_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static size_t rnd_below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

/* Where to mutate: anywhere, or (half the time) in the first 4 KiB, where headers are. */
static size_t pick_pos(size_t size) {
    size_t span = size;
    if ((rnd() & 1) && span > 4096) span = 4096;
    return rnd_below(span + 1);
}

static void insert_bytes(uint8_t *buf, size_t *size, size_t cap, size_t pos, const uint8_t *src, size_t n) {
    if (*size + n > cap || pos > *size) return;
    memmove(buf + pos + n, buf + pos, *size - pos);
    memcpy(buf + pos, src, n);
    *size += n;
}

static void write_le(uint8_t *buf, size_t size, size_t pos, uint64_t v, size_t width) {
    for (size_t i = 0; i < width && pos + i < size; i++) buf[pos + i] = (uint8_t)(v >> (8 * i));
}

static uint64_t interesting_value(size_t size) {
    static const uint64_t values[] = {0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 63, 64, 100, 127, 128, 255, 256, 511, 512,
                                      1000, 1024, 4095, 4096, 16000, 32767, 32768, 65535, 65536, 0x7fffffff,
                                      0x80000000u, 0xfffffffeu, 0xffffffffu, 0xffffffffffffffffULL};
    if (rnd_below(8) == 0) return size + rnd_below(3) - 1;
    return values[rnd_below(sizeof values / sizeof values[0])];
}

static void mutate(uint8_t *buf, size_t *size, size_t cap, const blob_list *dict, const blob_list *seeds) {
    size_t pos = pick_pos(*size);
    switch (rnd_below(12)) {
    case 0: if (*size) buf[rnd_below(*size)] ^= (uint8_t)(1u << rnd_below(8)); break;         /* flip a bit */
    case 1: if (*size) buf[rnd_below(*size)] = (uint8_t)rnd(); break;                          /* set a byte */
    case 2: if (pos < *size) {                                                                  /* delete */
                size_t k = 1 + rnd_below(rnd_below(4) ? 16 : 1024);
                if (k > *size - pos) k = *size - pos;
                memmove(buf + pos, buf + pos + k, *size - pos - k);
                *size -= k;
            } break;
    case 3: { uint8_t b[8]; size_t k = 1 + rnd_below(8);                                      /* insert */
              for (size_t i = 0; i < k; i++) b[i] = (uint8_t)rnd();
              insert_bytes(buf, size, cap, pos, b, k); break; }
    case 4: if (dict->n) {                                                                      /* dict token */
                const blob *t = &dict->items[rnd_below(dict->n)];
                if (rnd() & 1) insert_bytes(buf, size, cap, pos, t->data, t->size);
                else for (size_t i = 0; i < t->size && pos + i < *size; i++) buf[pos + i] = t->data[i];
            } break;
    case 5: { static const size_t widths[] = {1, 2, 4, 8};                                    /* integer */
              write_le(buf, *size, pos, interesting_value(*size), widths[rnd_below(4)]); break; }
    case 6: if (pos + 4 <= *size) {                                                             /* u32 += small */
                uint32_t v = (uint32_t)buf[pos] | (uint32_t)buf[pos + 1] << 8 | (uint32_t)buf[pos + 2] << 16 |
                             (uint32_t)buf[pos + 3] << 24;
                v += (uint32_t)(rnd_below(33)) - 16u;
                write_le(buf, *size, pos, v, 4);
            } else if (pos < *size) buf[pos] = (uint8_t)(buf[pos] + rnd_below(33) - 16); break;
    case 7: if (pos < *size) *size = pos; break;                                               /* truncate */
    case 8: if (*size) {                                                                        /* copy a range */
                size_t from = rnd_below(*size), k = 1 + rnd_below(64);
                if (k > *size - from) k = *size - from;
                uint8_t tmp[64];
                memcpy(tmp, buf + from, k);
                if (rnd() & 1) insert_bytes(buf, size, cap, pos, tmp, k);
                else for (size_t i = 0; i < k && pos + i < *size; i++) buf[pos + i] = tmp[i];
            } break;
    case 9: if (seeds->n) {                                                                     /* splice */
                const blob *o = &seeds->items[rnd_below(seeds->n)];
                size_t from = rnd_below(o->size + 1), k = o->size - from;
                if (pos + k > cap) k = cap - pos;
                memcpy(buf + pos, o->data + from, k);
                *size = pos + k;
            } break;
    case 10: if (pos < *size) {                                                                 /* repeat a byte */
                size_t k = 1 + rnd_below(128);
                uint8_t tmp[128];
                memset(tmp, buf[pos], k);
                insert_bytes(buf, size, cap, pos, tmp, k);
            } break;
    default: { uint8_t b = (uint8_t)rnd(); insert_bytes(buf, size, cap, pos, &b, 1); }         /* one byte */
    }
}

/* ---- main ----------------------------------------------------------------------------------- */

static const char *arg_value(const char *arg, const char *name) {
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 ? arg + n : NULL;
}

static void parse_options(int argc, char **argv, options *o, blob_list *inputs) {
    o->seconds = 10;
    o->runs = 0;
    o->max_len = 4096;
    o->timeout = 25;
    o->dict = NULL;
    o->artifact_prefix = "";
    o->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    for (int a = 1; a < argc; a++) {
        const char *v;
        if ((v = arg_value(argv[a], "-seconds=")) || (v = arg_value(argv[a], "-max_total_time="))) o->seconds = atof(v);
        else if ((v = arg_value(argv[a], "-runs="))) o->runs = strtoul(v, NULL, 10);
        else if ((v = arg_value(argv[a], "-max_len="))) o->max_len = strtoul(v, NULL, 10);
        else if ((v = arg_value(argv[a], "-timeout="))) o->timeout = (unsigned)strtoul(v, NULL, 10);
        else if ((v = arg_value(argv[a], "-dict="))) o->dict = v;
        else if ((v = arg_value(argv[a], "-artifact_prefix="))) o->artifact_prefix = v;
        else if ((v = arg_value(argv[a], "-seed="))) o->seed = strtoull(v, NULL, 10);
        else if (argv[a][0] == '-') fprintf(stderr, "fuzz driver: ignoring option %s\n", argv[a]);
        else load_inputs(argv[a], inputs);
    }
    if (o->max_len < 1) o->max_len = 1;
    if (o->seed == 0) o->seed = 1;
}

int main(int argc, char **argv) {
    options o;
    blob_list inputs = {0}, dict = {0};
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    parse_options(argc, argv, &o, &inputs);
    if (o.dict) load_dict(o.dict, &dict);
    snprintf(g_prefix, sizeof g_prefix, "%s", o.artifact_prefix);
    g_rng = o.seed;
    install_failure_handlers();
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

    for (size_t i = 0; i < inputs.n; i++) run_one(&o, inputs.items[i].data, inputs.items[i].size);
    if (inputs.n == 0) list_add(&inputs, (const uint8_t *)"", 0);

    uint8_t *buf = malloc(o.max_len);
    if (!buf) abort();
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double elapsed = 0;
    unsigned long runs = 0;
    while (elapsed < o.seconds && (o.runs == 0 || runs < o.runs)) {
        const blob *s = &inputs.items[rnd_below(inputs.n)];
        size_t size = s->size < o.max_len ? s->size : o.max_len;
        memcpy(buf, s->data, size);
        int n_mut = 1 + (int)rnd_below(rnd_below(2) ? 3 : 10);
        for (int m = 0; m < n_mut; m++) mutate(buf, &size, o.max_len, &dict, &inputs);
        run_one(&o, buf, size);
        runs++;
        if ((runs & 15) == 0 || o.runs) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            elapsed = (double)(now.tv_sec - t0.tv_sec) + 1e-9 * (double)(now.tv_nsec - t0.tv_nsec);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    elapsed = (double)(now.tv_sec - t0.tv_sec) + 1e-9 * (double)(now.tv_nsec - t0.tv_nsec);
    printf("%s: %zu inputs replayed, %lu mutated inputs in %.1f s (%.0f/s, seed %llu), no failure\n", name,
           inputs.n, runs, elapsed, elapsed > 0 ? (double)runs / elapsed : 0.0, (unsigned long long)o.seed);
    free(buf);
    list_free(&inputs);
    list_free(&dict);
    return 0;
}
