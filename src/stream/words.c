/* words.c — word lists and LocalAgreement's rules on them (words.h). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "common/util.h"
#include "stream/words.h"

#define LOOP_MAX_N 8   /* longest n-gram the loop guard looks for */

int words_push(word_list *v, const char *text, double start, double end, float prob) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 64;
        word_t *g = realloc(v->w, (size_t)cap * sizeof *g);
        if (!g) return AM_E_NOMEM;
        v->w = g;
        v->cap = cap;
    }
    char *t = am_strdup(text ? text : "");
    if (!t) return AM_E_NOMEM;
    v->w[v->n++] = (word_t){t, start, end, prob};
    return AM_OK;
}

void words_clear(word_list *v) {
    for (int i = 0; i < v->n; i++) free(v->w[i].text);
    v->n = 0;
}

void words_free(word_list *v) {
    words_clear(v);
    free(v->w);
    memset(v, 0, sizeof *v);
}

void words_drop_front(word_list *v, int k) {
    if (k <= 0) return;
    if (k > v->n) k = v->n;
    for (int i = 0; i < k; i++) free(v->w[i].text);
    memmove(v->w, v->w + k, (size_t)(v->n - k) * sizeof *v->w);
    v->n -= k;
}

void words_truncate(word_list *v, int k) {
    if (k < 0) k = 0;
    for (int i = k; i < v->n; i++) free(v->w[i].text);
    if (k < v->n) v->n = k;
}

char *words_join(const word_t *w, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(w[i].text);
    char *t = malloc(len), *o = t;
    if (!t) return NULL;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(w[i].text);
        memcpy(o, w[i].text, l);
        o += l;
    }
    *o = 0;
    return t;
}

/* The comparison key of a word: its letters and digits lowercased (bytes >= 0x80 kept as they
 * are), or, for a word without any, the word without its spaces. */
static void word_key(const char *w, char *out, size_t size) {
    size_t n = 0;
    for (const unsigned char *s = (const unsigned char *)w; *s && n + 1 < size; s++)
        if (*s >= 0x80 || isalnum(*s)) out[n++] = (char)tolower(*s);
    out[n] = 0;
    if (n == 0) {
        for (const char *s = w; *s && n + 1 < size; s++)
            if (*s != ' ') out[n++] = *s;
        out[n] = 0;
    }
}

int words_same(const char *a, const char *b) {
    char ka[128], kb[128];
    word_key(a, ka, sizeof ka);
    word_key(b, kb, sizeof kb);
    return strcmp(ka, kb) == 0;
}

int words_agree(const word_list *a, const word_list *b) {
    int k = 0;
    while (k < a->n && k < b->n && words_same(a->w[k].text, b->w[k].text)) k++;
    return k;
}

void words_drop_committed(word_list *hyp, const word_list *c, double committed_end) {
    for (int n = 5; n >= 1; n--) {
        if (n > c->n) continue;
        for (int j = 0; j + n <= hyp->n; j++) {
            if (fabs(hyp->w[j + n - 1].end - committed_end) >= 1.0) continue;
            int same = 1;
            for (int k = 0; k < n && same; k++) same = words_same(c->w[c->n - n + k].text, hyp->w[j + k].text);
            if (same) {
                words_drop_front(hyp, j + n);
                return;
            }
        }
    }
    int k = 0;
    while (k < hyp->n && 0.5 * (hyp->w[k].start + hyp->w[k].end) < committed_end) k++;
    words_drop_front(hyp, k);
}

static int loop_repeats(int n) { return n == 1 ? 5 : n == 2 ? 4 : 3; }

int words_loop_cut(const word_list *h) {
    for (int i = 0; i < h->n; i++)
        for (int n = 1; n <= LOOP_MAX_N && i + n * loop_repeats(n) <= h->n; n++) {
            const int need = loop_repeats(n);
            int reps = 1;
            while (reps < need) {
                int same = 1;
                for (int j = 0; j < n && same; j++) same = words_same(h->w[i + j].text, h->w[i + reps * n + j].text);
                if (!same) break;
                reps++;
            }
            if (reps == need) return i + n;
        }
    return -1;
}

int words_doubted_tail(const word_list *h, double tail_s, float min_prob) {
    for (int i = 0; i < h->n; i++)
        if (h->w[i].start >= h->w[h->n - 1].end - tail_s && h->w[i].prob < min_prob) return i;
    return h->n;
}
