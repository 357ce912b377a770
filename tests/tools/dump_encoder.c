/* dump_encoder — run the encoder on a log-mel window and write its output.
 *   dump_encoder MODEL MEL.f32 OUT.f32 [threads] [f32|int8]   (precision: f32 by default)
 * MEL.f32: raw float32 [n_mels][3000]; OUT.f32: raw float32 [n_audio_ctx][d_model]. */
#include "tool_window.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: dump_encoder MODEL MEL.f32 OUT.f32 [threads] [f32|int8]\n");
        return 2;
    }
    am_model *m = tool_load_model("dump_encoder", argv[1], argc > 5 ? argv[5] : NULL);
    if (!m) return 1;
    am_session *be = tool_encode_window("dump_encoder", m, argv[2], argc > 4 ? atoi(argv[4]) : 0);
    if (!be) return 1;
    size_t n_out = (size_t)m->hp.n_audio_ctx * m->hp.n_audio_state;
    FILE *o = fopen(argv[3], "wb");
    float *enc = malloc(n_out * sizeof(float));
    if (!enc || !o || be->backend->ops->encoder_output(be, 0, enc) != AM_OK || fwrite(enc, sizeof(float), n_out, o) != n_out) {
        fprintf(stderr, "dump_encoder: cannot write %s\n", argv[3]);
        return 1;
    }
    fclose(o);
    free(enc);
    session_destroy(be);
    am_model_free(m);
    return 0;
}
