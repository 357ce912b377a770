/* align.c — word timestamps by cross-attention + DTW (see align.h), following openai-whisper's
 * timing.py and CTranslate2's Whisper align as faster-whisper uses it. */
#include "decode/align.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "text/utf8.h"

#define TOKENS_PER_SECOND 50.0
#define MEDIAN_WIDTH 7

/* The alignment heads (openai-whisper's per-model tables) of the models whose files do not carry them. */
static int default_heads(const am_model *m, int (*heads)[2], int max) {
    static const int tiny_en[][2] = {{1, 0}, {2, 0}, {2, 5}, {3, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4}};
    static const int tiny[][2] = {{2, 2}, {3, 0}, {3, 2}, {3, 3}, {3, 4}, {3, 5}};
    static const int base_en[][2] = {{3, 3}, {4, 7}, {5, 1}, {5, 5}, {5, 7}};
    static const int base[][2] = {{3, 1}, {4, 2}, {4, 3}, {4, 7}, {5, 1}, {5, 2}, {5, 4}, {5, 6}};
    const int (*table)[2] = NULL;
    int n = 0;
    int en = !tokenizer_is_multilingual(m->tok);
    if (m->hp.n_text_state == 384 && m->hp.n_text_layer == 4) {
        table = en ? tiny_en : tiny;
        n = en ? 8 : 6;
    } else if (m->hp.n_text_state == 512 && m->hp.n_text_layer == 6) {
        table = en ? base_en : base;
        n = en ? 5 : 8;
    }
    if (table) {
        for (int i = 0; i < n && i < max; i++) { heads[i][0] = table[i][0]; heads[i][1] = table[i][1]; }
        return n < max ? n : max;
    }
    /* otherwise every head of the last half of the decoder layers */
    n = 0;
    for (int l = m->hp.n_text_layer / 2; l < m->hp.n_text_layer; l++)
        for (int h = 0; h < m->hp.n_text_head && n < max; h++, n++) { heads[n][0] = l; heads[n][1] = h; }
    return n;
}

int align_dtw(const float *x, int N, int M, int *path_i, int *path_j) {
    /* cost[i][j] over (N+1) × (M+1); trace: 0 diagonal, 1 up (i−1), 2 left (j−1) */
    float *cost = malloc((size_t)(N + 1) * (M + 1) * sizeof *cost);
    unsigned char *trace = malloc((size_t)(N + 1) * (M + 1));
    if (!cost || !trace) { free(cost); free(trace); return -1; }
    for (size_t k = 0; k < (size_t)(N + 1) * (M + 1); k++) { cost[k] = INFINITY; trace[k] = 0; }
    cost[0] = 0.0f;
    const int W = M + 1;
    for (int j = 1; j <= M; j++)
        for (int i = 1; i <= N; i++) {
            float c0 = cost[(i - 1) * W + j - 1], c1 = cost[(i - 1) * W + j], c2 = cost[i * W + j - 1];
            float c;
            unsigned char t;
            if (c0 < c1 && c0 < c2) { c = c0; t = 0; }
            else if (c1 < c0 && c1 < c2) { c = c1; t = 1; }
            else { c = c2; t = 2; }
            cost[i * W + j] = x[(size_t)(i - 1) * M + (j - 1)] + c;
            trace[i * W + j] = t;
        }
    for (int j = 0; j <= M; j++) trace[j] = 2;
    for (int i = 0; i <= N; i++) trace[i * W] = 1;
    int i = N, j = M, n = 0;
    while (i > 0 || j > 0) {
        path_i[n] = i - 1;
        path_j[n] = j - 1;
        n++;
        unsigned char t = trace[i * W + j];
        if (t == 0) { i--; j--; }
        else if (t == 1) i--;
        else j--;
    }
    /* reverse into time order */
    for (int a = 0, b = n - 1; a < b; a++, b--) {
        int ti = path_i[a]; path_i[a] = path_i[b]; path_i[b] = ti;
        int tj = path_j[a]; path_j[a] = path_j[b]; path_j[b] = tj;
    }
    free(cost);
    free(trace);
    return n;
}

/* median of 7 (or fewer) floats */
static float median_small(float *v, int n) {
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && v[b - 1] > v[b]; b--) { float t = v[b]; v[b] = v[b - 1]; v[b - 1] = t; }
    return v[n / 2];
}

/* Median filter along a row of length n with reflect padding (openai-whisper's median_filter). */
static void median_filter_row(const float *in, float *out, int n, int width) {
    int pad = width / 2;
    if (n <= pad) { memcpy(out, in, (size_t)n * sizeof *out); return; }
    float win[16];
    for (int k = 0; k < n; k++) {
        for (int q = -pad; q <= pad; q++) {
            int idx = k + q;
            if (idx < 0) idx = -idx;                 /* reflect without repeating the edge */
            if (idx >= n) idx = 2 * (n - 1) - idx;
            win[q + pad] = in[idx];
        }
        out[k] = median_small(win, 2 * pad + 1);
    }
}

static int is_ascii_punct_substring(const char *w) {
    /* faster-whisper: subword.strip() in string.punctuation (a substring test; "" counts) */
    static const char punct[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    const char *s = w;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    if (n == 0) return 1;
    for (size_t k = 0; k + n <= sizeof punct - 1; k++)
        if (!memcmp(punct + k, s, n)) return 1;
    return 0;
}

typedef struct word_group {
    char *text;
    int n_tokens, first_token, special;
} word_group;

/* split_to_word_tokens on text tokens (without eot): groups of tokens decoding to whole UTF-8
 * characters, then merged into words at spaces and punctuation (unless `by_unicode`). */
static int split_words(const am_tokenizer *tok, int eot, const int *t, int n, int by_unicode, word_group **out,
                       int *n_out) {
    word_group *g = calloc((size_t)n + 1, sizeof *g);
    if (!g) return AM_E_NOMEM;
    int ng = 0, start = 0;
    for (int i = 0; i < n; i++) {
        char *bytes = tokenizer_decode(tok, t + start, i - start + 1);
        if (!bytes) goto nomem;
        int len = (int)strlen(bytes);
        int done = utf8_is_valid((const unsigned char *)bytes, (size_t)len) ||
                   !utf8_is_valid_prefix((const unsigned char *)bytes, (size_t)len) ||
                   i == n - 1;
        if (done) {
            g[ng].text = bytes;
            g[ng].n_tokens = i - start + 1;
            g[ng].first_token = t[start];
            ng++;
            start = i + 1;
        } else {
            free(bytes);
        }
    }
    if (!by_unicode) {
        int nw = 0;
        for (int k = 0; k < ng; k++) {
            int special = g[k].first_token >= eot;
            int with_space = g[k].text[0] == ' ';
            if (special || with_space || is_ascii_punct_substring(g[k].text) || nw == 0) {
                g[nw++] = g[k];
            } else {
                size_t a = strlen(g[nw - 1].text), b = strlen(g[k].text);
                char *m = realloc(g[nw - 1].text, a + b + 1);
                if (!m) { ng = nw; goto nomem; }
                memcpy(m + a, g[k].text, b + 1);
                g[nw - 1].text = m;
                g[nw - 1].n_tokens += g[k].n_tokens;
                free(g[k].text);
                g[k].text = NULL;
            }
        }
        ng = nw;
    }
    *out = g;
    *n_out = ng;
    return AM_OK;
nomem:
    for (int k = 0; k < ng; k++) free(g[k].text);
    free(g);
    return AM_E_NOMEM;
}

void align_words_free(align_word *w, int n) {
    if (!w) return;
    for (int i = 0; i < n; i++) free(w[i].word);
    free(w);
}

int align_words(search_ctx *c, const int *sot_seq, int n_sot, const int *text, int n_text, int num_frames,
                const char *lang, align_word **words_out, int *n_words_out) {
    *words_out = NULL;
    *n_words_out = 0;
    if (n_text == 0) return AM_OK;
    const am_model *m = c->m;
    const int T = m->hp.n_audio_ctx, eot = c->sp.eot;
    int frames = num_frames / 2;
    if (frames > T) frames = T;
    if (frames < 1) return AM_OK;
    int heads[64][2];
    int n_heads = m->n_alignment_heads > 0 ? m->n_alignment_heads : default_heads(m, heads, 64);
    if (m->n_alignment_heads > 0)
        for (int i = 0; i < n_heads; i++) { heads[i][0] = m->alignment_heads[i][0]; heads[i][1] = m->alignment_heads[i][1]; }

    /* input: [sot sequence] [notimestamps] [text] [eot] */
    const int n_in = n_sot + 1 + n_text + 1;
    if (n_in > m->hp.n_text_ctx) return AM_OK; /* cannot happen for a window's tokens */
    int *in = malloc((size_t)n_in * sizeof *in);
    float *scores = malloc((size_t)n_heads * n_in * T * sizeof *scores);
    float *next_p = malloc((size_t)n_in * sizeof *next_p);
    float *mat = calloc((size_t)n_in * frames, sizeof *mat);
    float *row = malloc((size_t)frames * sizeof *row);
    float *probs = malloc((size_t)n_text * sizeof *probs);
    int *pi = malloc((size_t)(n_in + frames + 2) * sizeof *pi), *pj = malloc((size_t)(n_in + frames + 2) * sizeof *pj);
    word_group *groups = NULL;
    int n_groups = 0, rc = AM_OK;
    if (!in || !scores || !next_p || !mat || !row || !probs || !pi || !pj) { rc = AM_E_NOMEM; goto done; }
    memcpy(in, sot_seq, (size_t)n_sot * sizeof *in);
    in[n_sot] = c->sp.no_timestamps;
    memcpy(in + n_sot + 1, text, (size_t)n_text * sizeof *in);
    in[n_in - 1] = eot;

    am_decode_seq sq = {0, c->window, in, n_in, 0};
    if ((rc = c->s->backend->ops->cross_scores(c->s, &sq, (const int(*)[2])heads, n_heads, scores, eot, next_p)) !=
        AM_OK)
        goto done;

    /* probability of each text token: softmax over the text vocabulary at the previous position */
    for (int t = 0; t < n_text; t++) probs[t] = next_p[n_sot + t];

    /* per head: softmax over the audio frames, z-score across tokens per frame, median filter */
    for (int h = 0; h < n_heads; h++) {
        float *S = scores + (size_t)h * n_in * T; /* rows of T, first `frames` used */
        for (int i = 0; i < n_in; i++) {
            float *r = S + (size_t)i * T, mx = -INFINITY;
            for (int f = 0; f < frames; f++) mx = r[f] > mx ? r[f] : mx;
            double sum = 0.0;
            for (int f = 0; f < frames; f++) { r[f] = expf(r[f] - mx); sum += r[f]; }
            for (int f = 0; f < frames; f++) r[f] = (float)(r[f] / sum);
        }
        for (int f = 0; f < frames; f++) {
            double mean = 0.0, var = 0.0;
            for (int i = 0; i < n_in; i++) mean += S[(size_t)i * T + f];
            mean /= n_in;
            for (int i = 0; i < n_in; i++) { double d = S[(size_t)i * T + f] - mean; var += d * d; }
            double sd = sqrt(var / n_in);
            for (int i = 0; i < n_in; i++) S[(size_t)i * T + f] = (float)((S[(size_t)i * T + f] - mean) / (sd > 0 ? sd : 1e-12));
        }
        for (int i = 0; i < n_in; i++) {
            median_filter_row(S + (size_t)i * T, row, frames, MEDIAN_WIDTH);
            for (int f = 0; f < frames; f++) mat[(size_t)i * frames + f] += row[f] / (float)n_heads;
        }
    }
    /* DTW on the negated rows from notimestamps to the last text token */
    const int N = n_text + 1;
    float *cost = mat + (size_t)n_sot * frames;
    for (size_t k = 0; k < (size_t)N * frames; k++) cost[k] = -cost[k];
    int n_path = align_dtw(cost, N, frames, pi, pj);
    if (n_path < 0) { rc = AM_E_NOMEM; goto done; }

    /* jump times: the first time index of each token row */
    double *jump = malloc((size_t)(N + 1) * sizeof *jump);
    if (!jump) { rc = AM_E_NOMEM; goto done; }
    int n_jump = 0;
    for (int k = 0; k < n_path && n_jump <= N; k++)
        if (k == 0 || pi[k] != pi[k - 1]) jump[n_jump++] = pj[k] / TOKENS_PER_SECOND;

    int by_unicode = lang && (!strcmp(lang, "zh") || !strcmp(lang, "ja") || !strcmp(lang, "th") ||
                              !strcmp(lang, "lo") || !strcmp(lang, "my") || !strcmp(lang, "yue"));
    if ((rc = split_words(m->tok, eot, text, n_text, by_unicode, &groups, &n_groups)) != AM_OK) { free(jump); goto done; }
    align_word *w = calloc((size_t)(n_groups ? n_groups : 1), sizeof *w);
    if (!w) { free(jump); rc = AM_E_NOMEM; goto done; }
    int b = 0;
    for (int k = 0; k < n_groups; k++) {
        int e = b + groups[k].n_tokens;
        w[k].word = groups[k].text;
        groups[k].text = NULL;
        w[k].n_tokens = groups[k].n_tokens;
        w[k].start = b < n_jump ? jump[b] : jump[n_jump - 1];
        w[k].end = e < n_jump ? jump[e] : jump[n_jump - 1];
        double s = 0.0;
        for (int t = b; t < e; t++) s += probs[t];
        w[k].probability = (float)(s / (e - b));
        b = e;
    }
    free(jump);
    *words_out = w;
    *n_words_out = n_groups;
done:
    for (int k = 0; groups && k < n_groups; k++) free(groups[k].text);
    free(groups);
    free(in);
    free(scores);
    free(next_p);
    free(mat);
    free(row);
    free(probs);
    free(pi);
    free(pj);
    return rc;
}

/* Does `list` contain `w` (stripped of spaces) as a whole entry?  faster-whisper tests
 * `word.strip() in prepended` — a substring test on the punctuation string; we do the same. */
static int in_punct(const char *list, const char *w, int strip) {
    const char *s = w;
    if (strip) while (*s == ' ') s++;
    size_t n = strlen(s);
    if (strip) while (n && s[n - 1] == ' ') n--;
    if (n == 0) return 1;
    size_t L = strlen(list);
    for (size_t k = 0; k + n <= L; k++)
        if (!memcmp(list + k, s, n)) return 1;
    return 0;
}

static int join_into(align_word *dst, align_word *src, int src_first) {
    size_t a = strlen(dst->word), b = strlen(src->word);
    char *m = malloc(a + b + 1);
    if (!m) return AM_E_NOMEM;
    if (src_first) { memcpy(m, src->word, b); memcpy(m + b, dst->word, a + 1); }
    else { memcpy(m, dst->word, a); memcpy(m + a, src->word, b + 1); }
    free(dst->word);
    dst->word = m;
    dst->n_tokens += src->n_tokens;
    src->word[0] = 0;
    src->n_tokens = 0;
    return AM_OK;
}

int align_merge_punctuations(align_word *w, int n, const char *prepended, const char *appended) {
    /* prepended punctuation joins the following word */
    int i = n - 2, j = n - 1;
    while (i >= 0) {
        align_word *prev = &w[i], *next = &w[j];
        if (prev->word[0] == ' ' && in_punct(prepended, prev->word, 1)) {
            if (join_into(next, prev, 1) != AM_OK) return AM_E_NOMEM;
        } else {
            j = i;
        }
        i--;
    }
    /* appended punctuation joins the previous word */
    i = 0;
    j = 1;
    while (j < n) {
        align_word *prev = &w[i], *next = &w[j];
        size_t pl = strlen(prev->word);
        if (!(pl > 0 && prev->word[pl - 1] == ' ') && in_punct(appended, next->word, 0)) {
            if (join_into(prev, next, 0) != AM_OK) return AM_E_NOMEM;
        } else {
            i = j;
        }
        j++;
    }
    return AM_OK;
}
