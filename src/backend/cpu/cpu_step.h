/* cpu_step.h — a decoder step's rules on one row of logits, vectorised (vmath.h).  The same
 * arithmetic as step_apply_ref() (backend/step.h) with the vectorised max and exp-sums; tested
 * against it in tests/unit/test_step.c. */
#ifndef AM_CPU_STEP_H
#define AM_CPU_STEP_H

#include "backend/step.h"

/* x[n_vocab] is overwritten; work holds n_vocab floats of scratch.  Outputs as step_apply_ref. */
void cpu_step_row(const am_step_rules *r, const am_step_seq *s, float *x, int n_vocab, float *work, int *tok,
                  float *lp, float *report_lp, int *draw_tok, float *draw_lp);

#endif
