/* result.h — the layout of am_result, shared by the decoder (which fills it) and the writers. */
#ifndef AM_RESULT_H
#define AM_RESULT_H

#include "amanuensis.h"

struct am_result {
    am_segment *segments; /* each segment owns its text and tokens (malloc'd) */
    size_t n_segments, cap;
    char *text;           /* all segment texts joined (malloc'd), text_len bytes */
    size_t text_len;
    char language[16];
    double duration;      /* seconds */
    /* language detection: codes and probabilities, most likely first (result_set_language_probs) */
    int n_langs;
    char lang_codes[128][8];
    float lang_probs[128];
    am_stats stats;       /* what the transcription asked of its backend */
    /* speaker turns of diarization (am_params.diarize), sorted by start (malloc'd) */
    struct result_turn {
        double start, end;
        char speaker[16]; /* "SPEAKER_00" ... */
    } *turns;
    size_t n_turns;
};

/* Append a segment (copies text, tokens, the speaker and, when seg->words is not NULL, the words
 * with their strings) and its text to r->text. Returns AM_OK, AM_E_INVALID_ARG or AM_E_NOMEM. */
int result_add_segment(am_result *r, const am_segment *seg);

/* Store language detection probabilities (at most 128; codes truncated to 7 bytes, NULL as ""),
 * sorted by probability, most likely first (ties keep their order; NaN sorts last). */
void result_set_language_probs(am_result *r, const char *const *codes, const float *probs, int n);

#endif
