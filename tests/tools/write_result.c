/* write_result.c — build an am_result from a text description and write it with the library's
 * writers (am_write_result_ex); used by tests/integration/test_outputs.py to check the writers on
 * hand-made and random results (word timestamps, non-ASCII and broken UTF-8) without a model.
 *
 *   write_result FORMAT [MAX_LINE_WIDTH MAX_LINE_COUNT MAX_WORDS_PER_LINE HIGHLIGHT] < description
 *
 * The description, one item per line (strings hex-encoded byte by byte, "-" for the empty string):
 *   L <language>
 *   D <duration seconds>
 *   S <start> <end> <text hex>                 a new segment (without words until a W line)
 *   W <start> <end> <probability> <word hex>   a word of the current segment
 *   E                                          the current segment has word timestamps but no words
 *   T <start> <end> <speaker index>            a speaker turn: after the last line the turns are
 *                                              attached as diarization does (diarize/attach.h)
 * Exit status: 0, 1 for a writer error, 2 for a bad description or usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "diarize/attach.h"
#include "result/result.h"

#define MAX_WORDS 4096
#define MAX_TURNS 4096

typedef struct pending {
    am_segment seg;
    char *text;
    am_word words[MAX_WORDS];
    char *word_text[MAX_WORDS];
    int n_words, has_words, open;
} pending;

static char *unhex(const char *h) {
    if (!strcmp(h, "-")) h = "";
    size_t n = strlen(h);
    if (n % 2) return NULL;
    char *out = malloc(n / 2 + 1);
    if (!out) return NULL;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1) {
            free(out);
            return NULL;
        }
        out[i] = (char)v;
    }
    out[n / 2] = '\0';
    return out;
}

static int flush(am_result *r, pending *p) {
    if (!p->open) return 0;
    p->seg.id = (int)r->n_segments;
    p->seg.text = p->text;
    p->seg.words = p->has_words ? p->words : NULL;
    p->seg.n_words = p->n_words;
    int rc = result_add_segment(r, &p->seg);
    free(p->text);
    for (int i = 0; i < p->n_words; i++) free(p->word_text[i]);
    p->open = p->has_words = p->n_words = 0;
    p->text = NULL;
    return rc == AM_OK ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 6) {
        fprintf(stderr, "usage: write_result FORMAT [MAX_LINE_WIDTH MAX_LINE_COUNT MAX_WORDS_PER_LINE HIGHLIGHT]\n");
        return 2;
    }
    int format = am_format_from_name(argv[1]);
    if (format < 0) return 2;
    am_writer_options o = {0, 0, 0, 0, NULL};
    static diar_turn turns[MAX_TURNS];
    size_t n_turns = 0;
    int n_speakers = 0;
    if (argc == 6) {
        o.max_line_width = atoi(argv[2]);
        o.max_line_count = atoi(argv[3]);
        o.max_words_per_line = atoi(argv[4]);
        o.highlight_words = atoi(argv[5]);
    }
    am_result *r = calloc(1, sizeof *r);
    static pending p;
    if (!r) return 1;
    char line[65536];
    int status = 0;
    while (status == 0 && fgets(line, sizeof line, stdin)) {
        char a[32768], lang[16];
        double s, e;
        float prob;
        if (line[0] == 'L' && sscanf(line, "L %15s", lang) == 1) {
            snprintf(r->language, sizeof r->language, "%s", lang);
        } else if (line[0] == 'D' && sscanf(line, "D %lf", &r->duration) == 1) {
        } else if (line[0] == 'S' && sscanf(line, "S %lf %lf %32767s", &s, &e, a) == 3) {
            if (flush(r, &p)) status = 1;
            memset(&p.seg, 0, sizeof p.seg);
            p.seg.start = s;
            p.seg.end = e;
            p.text = unhex(a);
            p.open = 1;
            if (!p.text) status = 2;
        } else if (line[0] == 'W' && sscanf(line, "W %lf %lf %f %32767s", &s, &e, &prob, a) == 4) {
            if (!p.open || p.n_words >= MAX_WORDS) {
                status = 2;
                break;
            }
            char *w = unhex(a);
            if (!w) {
                status = 2;
                break;
            }
            p.word_text[p.n_words] = w;
            p.words[p.n_words] = (am_word){s, e, w, prob, NULL};
            p.n_words++;
            p.has_words = 1;
        } else if (line[0] == 'T' && n_turns < MAX_TURNS &&
                   sscanf(line, "T %lf %lf %d", &turns[n_turns].start, &turns[n_turns].end, &turns[n_turns].speaker) == 3 &&
                   turns[n_turns].speaker >= 0 && turns[n_turns].speaker < 100) {
            if (turns[n_turns].speaker >= n_speakers) n_speakers = turns[n_turns].speaker + 1;
            n_turns++;
        } else if (line[0] == 'E') {
            p.has_words = 1;
        } else if (line[0] != '\n' && line[0] != '#') {
            status = 2;
        }
    }
    if (status == 0 && flush(r, &p)) status = 1;
    if (status == 0 && n_turns && diar_attach_turns(r, turns, n_turns, n_speakers) != AM_OK) status = 1;
    if (status == 0) {
        int rc = am_write_result_ex(r, (am_format)format, &o, stdout);
        if (rc != AM_OK) {
            fprintf(stderr, "write_result: %s\n", am_status_string(rc));
            status = 1;
        }
    } else {
        flush(r, &p);
        fprintf(stderr, "write_result: bad description\n");
    }
    am_result_free(r);
    return status;
}
