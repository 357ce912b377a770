/* tokenize.c — test tool for the BPE tokenizer.
 *
 *   tokenize MODEL_DIR [--n-vocab N]            one text per stdin line -> space-separated ids per line
 *   tokenize MODEL_DIR [--n-vocab N] --decode   space-separated ids per stdin line -> text per line
 *
 * Text lines are raw UTF-8 with three escapes so that any string fits on one line:
 * "\n" (newline), "\t" (tab), "\r" (carriage return) and "\\" (backslash).  Decoded text is written
 * with the same escapes.  n_vocab defaults to the line count of MODEL_DIR/vocabulary.txt. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer.h"

static int count_vocabulary_lines(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/vocabulary.txt", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int lines = 0, c, last = '\n';
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') lines++;
        last = c;
    }
    fclose(f);
    return last == '\n' ? lines : lines + 1;
}

/* Resolve the escapes in place. */
static void unescape(char *s) {
    char *out = s;
    for (; *s; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            *out++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s == 'r' ? '\r' : *s;
        } else {
            *out++ = *s;
        }
    }
    *out = 0;
}

static void print_escaped(const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '\n': fputs("\\n", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        default: putchar(*s);
        }
    }
    putchar('\n');
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    int decode = 0, n_vocab = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--decode") == 0) decode = 1;
        else if (strcmp(argv[i], "--n-vocab") == 0 && i + 1 < argc) n_vocab = atoi(argv[++i]);
        else if (!dir) dir = argv[i];
        else dir = NULL, i = argc; /* too many arguments */
    }
    if (!dir) {
        fprintf(stderr, "usage: tokenize MODEL_DIR [--n-vocab N] [--decode] < lines\n");
        return 2;
    }
    if (n_vocab < 0) n_vocab = count_vocabulary_lines(dir);
    char err[256];
    am_tokenizer *tok = tokenizer_load_ct2(dir, n_vocab, err, sizeof err);
    if (!tok) {
        fprintf(stderr, "tokenize: %s\n", err);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int status = 0;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        if (got > 0 && line[got - 1] == '\n') line[got - 1] = 0;
        if (decode) {
            int n = 0, cap_ids = 16;
            int *ids = malloc((size_t)cap_ids * sizeof *ids);
            char *p = line, *end;
            for (long v; ids && (v = strtol(p, &end, 10), end != p); p = end) {
                if (n == cap_ids) {
                    int *grown = realloc(ids, (size_t)(cap_ids *= 2) * sizeof *ids);
                    if (!grown) {
                        free(ids);
                        ids = NULL;
                        break;
                    }
                    ids = grown;
                }
                ids[n++] = (int)v;
            }
            char *text = ids ? tokenizer_decode(tok, ids, n) : NULL;
            free(ids);
            if (!text) {
                fprintf(stderr, "tokenize: decode failed\n");
                status = 1;
                break;
            }
            print_escaped(text);
            free(text);
        } else {
            unescape(line);
            int n = tokenizer_encode(tok, line, NULL, 0);
            int *ids = n >= 0 ? malloc((size_t)(n ? n : 1) * sizeof *ids) : NULL;
            if (!ids || tokenizer_encode(tok, line, ids, n) != n) {
                fprintf(stderr, "tokenize: encode failed\n");
                free(ids);
                status = 1;
                break;
            }
            for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
            putchar('\n');
            free(ids);
        }
    }
    free(line);
    tokenizer_free(tok);
    return status;
}
