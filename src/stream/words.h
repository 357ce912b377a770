/* words.h — the word lists of a live stream (src/stream/stream.c) and the rules LocalAgreement
 * applies to them: when two words are the same, how many words two hypotheses agree on, which
 * words of a new hypothesis are already committed, and where a repetition loop starts. */
#ifndef AM_STREAM_WORDS_H
#define AM_STREAM_WORDS_H

/* A word with its own string; times in seconds of the stream. */
typedef struct word_t {
    char *text;              /* UTF-8, with its leading space */
    double start, end;
    float prob;
} word_t;

typedef struct word_list {
    word_t *w;
    int n, cap;
} word_list;

int words_push(word_list *v, const char *text, double start, double end, float prob); /* AM_OK | AM_E_NOMEM */
void words_clear(word_list *v);                    /* n = 0, storage kept       */
void words_free(word_list *v);                     /* everything released       */
void words_drop_front(word_list *v, int k);        /* remove words [0, k)       */
void words_truncate(word_list *v, int k);          /* remove words [k, n)       */
/* The text of w[0 .. n) joined (malloc'd; NULL when out of memory). */
char *words_join(const word_t *w, int n);

/* Two words are the same word when they match lowercased without punctuation ("Hello," and
 * " hello"); words that are only punctuation compare as they are, spaces aside. */
int words_same(const char *a, const char *b);
/* How many leading words a and b have in common (LocalAgreement's commit). */
int words_agree(const word_list *a, const word_list *b);
/* Drop the words at the head of hyp that are already committed (`committed`, which ends at
 * committed_end seconds): by content first (the longest tail of 5 .. 1 committed words found in
 * hyp ending within 1 s of committed_end, and everything before it), else by time (the words whose
 * middle is before committed_end: a word's times move a little from one decode to the next, so its
 * start alone would drop new words). */
void words_drop_committed(word_list *hyp, const word_list *committed, double committed_end);
/* A repetition loop: the first i such that words [i, i + n) occur several times in a row for some
 * n <= 8 (5 times for one word, 4 for two, 3 for longer n-grams: people do say "no, no, no" and
 * "thank you, thank you").  Returns the number of words to keep (i + n, the repetitions cut), or
 * -1 when there is no loop. */
int words_loop_cut(const word_list *h);
/* Where an unconfirmed tail stops being trusted: the first word starting within tail_s seconds of
 * the last word's end whose probability is below min_prob (everything from there on is dropped),
 * else h->n. */
int words_doubted_tail(const word_list *h, double tail_s, float min_prob);

#endif
