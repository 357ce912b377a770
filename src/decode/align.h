/* align.h — word-level timestamps from cross-attention (as openai-whisper and faster-whisper do):
 * re-run the decoder on [sot sequence, notimestamps, text tokens, eot], take the pre-softmax
 * cross-attention scores of the alignment heads over the window's frames, softmax, z-score per
 * frame across tokens, median filter (width 7) along time, average the heads, and dynamic time
 * warping on the negated matrix; 50 tokens of time per second. */
#ifndef AM_ALIGN_H
#define AM_ALIGN_H

#include "decode/search.h"

typedef struct align_word {
    char *word;         /* UTF-8 (malloc'd); "" once merged into a neighbour */
    int n_tokens;       /* text tokens making up the word */
    double start, end;  /* seconds from the window start */
    float probability;  /* mean probability of its tokens */
} align_word;

/* Words of text_tokens[0..n_text) (text ids only) decoded against encoder window c->window.
 * num_frames: mel frames of real audio in the window.  lang: language code (word splitting by
 * Unicode for zh/ja/th/lo/my/yue, by spaces otherwise).  *words is malloc'd (free with
 * align_words_free). Returns AM_OK with *n_words == 0 when there is nothing to align. */
int align_words(search_ctx *c, const int *sot_seq, int n_sot, const int *text_tokens, int n_text, int num_frames,
                const char *lang, align_word **words, int *n_words);

/* faster-whisper's merge_punctuations: prepended punctuation joins the next word, appended
 * punctuation joins the previous one.  AM_OK, or AM_E_NOMEM (the words are then left partly
 * merged but valid, each owning its string). */
int align_merge_punctuations(align_word *w, int n, const char *prepended, const char *appended);

void align_words_free(align_word *words, int n);

/* Dynamic time warping on cost[n][m] (exposed for tests): writes the path as index pairs,
 * returns its length (≤ n + m), or -1 on allocation failure. */
int align_dtw(const float *cost, int n, int m, int *path_i, int *path_j);

#endif
