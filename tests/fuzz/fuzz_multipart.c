/* fuzz_multipart.c — fuzz target for the multipart/form-data parser (src/server/multipart.c).
 *
 * Each input is parsed twice: in one piece, and split into pseudo-random chunks (1..64 bytes);
 * the sequence of events (part headers, the bytes of each part, part ends, final status) must be
 * identical.  The first line of the input is also tried as a Content-Type header value.
 *
 * libFuzzer:   clang -fsanitize=fuzzer,address,undefined -Isrc tests/fuzz/fuzz_multipart.c src/server/multipart.c
 * standalone:  cc -DFUZZ_STANDALONE -fsanitize=address,undefined ... ; ./fuzz_multipart [-seconds=N] [SEED_DIR...]
 *              mutates the seed files (and built-in seeds) at random for N seconds (default 10). */
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

#ifdef FUZZ_STANDALONE
#include <dirent.h>
#include <time.h>

static const char *const builtin[] = {
    "multipart/form-data; boundary=XyZ-b0undary\r\n--XyZ-b0undary\r\nContent-Disposition: form-data; name=\"file\"; "
    "filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF....WAVEfmt \r\n--XyZ-b0undary\r\nContent-Disposition: "
    "form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--XyZ-b0undary--\r\n",
    "--XyZ-b0undary\r\nContent-Disposition: form-data; name=\"a\\\"b\"; filename=x\r\n\r\n\r\n--XyZ-b0undar\r\n--XyZ-b0undary  \r\n\r\n\r\n--XyZ-b0undary--",
    "preamble\r\n--XyZ-b0undary\r\ncontent-disposition: FORM-DATA;name=file\r\nX: y\r\n \tfolded\r\n\r\n\r\r\n\r\n-\r\n--XyZ-b0undary--epilogue",
    "multipart/form-data; charset=x; boundary=\"quoted boundary\"\r\n--quoted boundary\r\n\r\nx\r\n--quoted boundary--",
};

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

typedef struct { uint8_t *data; size_t size; } seed;

static int add_seed(seed **s, size_t *n, const void *d, size_t size) {
    seed *t = realloc(*s, (*n + 1) * sizeof **s);
    if (!t) return -1;
    *s = t;
    t[*n].data = malloc(size ? size : 1);
    if (!t[*n].data) return -1;
    memcpy(t[*n].data, d, size);
    t[*n].size = size;
    (*n)++;
    return 0;
}

int main(int argc, char **argv) {
    double seconds = 10;
    seed *seeds = NULL;
    size_t n_seeds = 0;
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (add_seed(&seeds, &n_seeds, builtin[i], strlen(builtin[i]))) return 1;
    for (int a = 1; a < argc; a++) {
        if (!strncmp(argv[a], "-seconds=", 9)) { seconds = atof(argv[a] + 9); continue; }
        DIR *dir = opendir(argv[a]);
        if (!dir) continue;
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            FILE *f = fopen(path, "rb");
            if (!f) continue;
            static uint8_t buf[1 << 16];
            size_t n = fread(buf, 1, sizeof buf, f);
            fclose(f);
            if (add_seed(&seeds, &n_seeds, buf, n)) return 1;
        }
        closedir(dir);
    }
    static const char *const tokens[] = {"\r\n", "--", "XyZ-b0undary", "\r\n--XyZ-b0undary", "--XyZ-b0undary--",
                                         "Content-Disposition: form-data; name=\"", "filename=\"", "\"", ";",
                                         "\r\n\r\n", "\r", "\n", "\\", "Content-Type: ", " ", "\t"};
    static uint8_t buf[8192];
    time_t t_end = time(NULL) + (time_t)seconds;
    unsigned long runs = 0;
    for (size_t i = 0; i < n_seeds; i++) LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].size);
    while (time(NULL) < t_end) {
        for (int batch = 0; batch < 256; batch++) {
            const seed *s = &seeds[rnd() % n_seeds];
            size_t size = s->size < sizeof buf ? s->size : sizeof buf;
            memcpy(buf, s->data, size);
            int n_mut = 1 + (int)(rnd() % 8);
            for (int m = 0; m < n_mut; m++) {
                size_t pos = size ? rnd() % (size + 1) : 0;
                switch (rnd() % 6) {
                case 0: if (size) buf[rnd() % size] = (uint8_t)rnd(); break;              /* flip a byte */
                case 1: if (size > pos) { size_t k = 1 + rnd() % 16; if (k > size - pos) k = size - pos;  /* delete */
                            memmove(buf + pos, buf + pos + k, size - pos - k); size -= k; } break;
                case 2: { const char *t = tokens[rnd() % (sizeof tokens / sizeof tokens[0])]; /* insert a token */
                          size_t k = strlen(t);
                          if (size + k <= sizeof buf) { memmove(buf + pos + k, buf + pos, size - pos); memcpy(buf + pos, t, k); size += k; }
                          break; }
                case 3: size = pos; break;                                                    /* truncate */
                case 4: if (size && size * 2 <= sizeof buf) { memcpy(buf + size, buf, size); size *= 2; } break;
                default: if (size + 1 <= sizeof buf) { memmove(buf + pos + 1, buf + pos, size - pos); buf[pos] = (uint8_t)rnd(); size++; }
                }
            }
            LLVMFuzzerTestOneInput(buf, size);
            runs++;
        }
    }
    printf("fuzz_multipart: %lu mutated inputs in %.0f s from %zu seeds, no failure\n", runs, seconds, n_seeds);
    for (size_t i = 0; i < n_seeds; i++) free(seeds[i].data);
    free(seeds);
    return 0;
}
#endif
