/* backend_mel — the float log-mel of a signal computed by a backend (AM_BACKEND in the
 * environment, "vulkan" by default), to compare with dump_mel's host front end.
 *   backend_mel MODEL IN.f32 OUT.f32
 * IN.f32: raw float32 16 kHz samples; OUT.f32: raw float32 [n_mels][n_frames]. */
#include <stdio.h>
#include <stdlib.h>

#include "amanuensis.h"
#include "backend/backend.h"
#include "frontend/mel.h"
#include "model/model.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: backend_mel MODEL IN.f32 OUT.f32\n");
        return 2;
    }
    char err[512] = "", path[4096];
    am_model *m = NULL;
    am_load_options lo = am_load_options_default();
    lo.backend = getenv("AM_BACKEND") && *getenv("AM_BACKEND") ? getenv("AM_BACKEND") : "vulkan";
    if (am_model_resolve(argv[1], path, sizeof path, err, sizeof err) != AM_OK ||
        am_model_load_ex(path, &lo, &m, err, sizeof err) != AM_OK) {
        fprintf(stderr, "backend_mel: %s\n", err);
        return 1;
    }
    if (!m->backend->ops->log_mel) {
        fprintf(stderr, "backend_mel: backend %s computes no log-mel\n", m->backend->name);
        return 1;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        fprintf(stderr, "backend_mel: cannot open %s\n", argv[2]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f) / sizeof(float);
    fseek(f, 0, SEEK_SET);
    float *x = malloc(n * sizeof(float) + 1), *filters = malloc((size_t)m->hp.n_mels * AM_N_FREQ * sizeof(float));
    if (!x || !filters || fread(x, sizeof(float), n, f) != n) {
        fprintf(stderr, "backend_mel: cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(f);
    float *mel = NULL;
    int n_frames = 0;
    if (mel_filterbank_slaney(m->hp.n_mels, AM_N_FFT, 16000, filters) != AM_OK ||
        m->backend->ops->log_mel(m->backend, x, n, m->hp.n_mels, filters, &mel, &n_frames, err, sizeof err) != AM_OK) {
        fprintf(stderr, "backend_mel: %s\n", err);
        return 1;
    }
    FILE *o = fopen(argv[3], "wb");
    size_t total = (size_t)n_frames * m->hp.n_mels;
    if (!o || fwrite(mel, sizeof(float), total, o) != total) {
        fprintf(stderr, "backend_mel: cannot write %s\n", argv[3]);
        return 1;
    }
    fclose(o);
    printf("%d frames\n", n_frames);
    free(mel);
    free(x);
    free(filters);
    am_model_free(m);
    return 0;
}
