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
};

/* Append a segment (copies text and tokens) and its text to r->text. Returns AM_OK or AM_E_NOMEM. */
int result_add_segment(am_result *r, const am_segment *seg);

#endif
