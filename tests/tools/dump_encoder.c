/* dump_encoder — run the encoder on a log-mel window and write its output.
 *   dump_encoder MODEL MEL.f32 OUT.f32 [threads] [f32|int8]   (precision: f32 by default)
 * MEL.f32: raw float32 [n_mels][3000]; OUT.f32: raw float32 [n_audio_ctx][d_model]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "backend/backend.h"
#include "model/model.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: dump_encoder MODEL MEL.f32 OUT.f32 [threads] [f32|int8]\n");
        return 2;
    }
    char err[512] = "";
    am_model *m;
    am_load_options lo = am_load_options_default();
    lo.precision = argc > 5 && !strcmp(argv[5], "int8") ? AM_PRECISION_INT8 : AM_PRECISION_F32;
    if (am_model_load_ex(argv[1], &lo, &m, err, sizeof err) != AM_OK) {
        fprintf(stderr, "dump_encoder: %s\n", err);
        return 1;
    }
    size_t n_mel = (size_t)m->hp.n_mels * 2 * m->hp.n_audio_ctx;
    float *mel = malloc(n_mel * sizeof(float));
    FILE *f = fopen(argv[2], "rb");
    if (!mel || !f || fread(mel, sizeof(float), n_mel, f) != n_mel) {
        fprintf(stderr, "dump_encoder: cannot read %zu floats from %s\n", n_mel, argv[2]);
        return 1;
    }
    fclose(f);
    am_backend *be = backend_cpu_create(m, argc > 4 ? atoi(argv[4]) : 0, 1, 1, err, sizeof err);
    if (!be || be->ops->encode(be, mel, 1) != AM_OK) {
        fprintf(stderr, "dump_encoder: encode failed %s\n", err);
        return 1;
    }
    size_t n_out = (size_t)m->hp.n_audio_ctx * m->hp.n_audio_state;
    FILE *o = fopen(argv[3], "wb");
    if (!o || fwrite(be->ops->encoder_output(be, 0), sizeof(float), n_out, o) != n_out) {
        fprintf(stderr, "dump_encoder: cannot write %s\n", argv[3]);
        return 1;
    }
    fclose(o);
    be->ops->destroy(be);
    free(mel);
    am_model_free(m);
    return 0;
}
