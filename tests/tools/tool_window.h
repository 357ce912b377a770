/* tool_window.h — what dump_encoder and dump_decoder share: load the model at the precision named
 * on the command line, read one 30 s log-mel window, encode it.  Each prints "TOOL: why" to stderr
 * and returns NULL on failure. */
#ifndef AM_TOOL_WINDOW_H
#define AM_TOOL_WINDOW_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "backend/backend.h"
#include "model/model.h"

/* precision: "int8", "f16", or anything else (NULL included) for f32.  The backend is the one the
 * environment names in AM_BACKEND (e.g. "vulkan"), else "cpu": tools compare backends. */
static am_model *tool_load_model(const char *tool, const char *path, const char *precision) {
    char err[512] = "";
    am_model *m = NULL;
    am_load_options lo = am_load_options_default();
    lo.precision = precision && !strcmp(precision, "int8")  ? AM_PRECISION_INT8
                   : precision && !strcmp(precision, "f16") ? AM_PRECISION_F16
                                                            : AM_PRECISION_F32;
    lo.backend = getenv("AM_BACKEND") && *getenv("AM_BACKEND") ? getenv("AM_BACKEND") : "cpu";
    if (am_model_load_ex(path, &lo, &m, err, sizeof err) != AM_OK) {
        fprintf(stderr, "%s: %s\n", tool, err);
        return NULL;
    }
    return m;
}

/* A window of raw float32 [n_mels][2·n_audio_ctx] from path, encoded in a new session of the
 * model's backend (one sequence slot, one window slot). */
static am_session *tool_encode_window(const char *tool, const am_model *m, const char *path, int threads) {
    const size_t n_mel = (size_t)m->hp.n_mels * 2 * m->hp.n_audio_ctx;
    float *mel = malloc(n_mel * sizeof(float));
    FILE *f = fopen(path, "rb");
    const int ok = mel && f && fread(mel, sizeof(float), n_mel, f) == n_mel;
    if (f) fclose(f);
    if (!ok) {
        fprintf(stderr, "%s: cannot read %zu floats from %s\n", tool, n_mel, path);
        free(mel);
        return NULL;
    }
    char err[512] = "";
    int st = AM_OK;
    am_session_config cfg = {threads, 1, 1};
    am_session *s = session_create(m->backend, &cfg, &st, err, sizeof err);
    if (!s || s->backend->ops->encode(s, mel, 1) != AM_OK) {
        fprintf(stderr, "%s: encode failed %s\n", tool, err);
        session_destroy(s);
        s = NULL;
    }
    free(mel);
    return s;
}

#endif
