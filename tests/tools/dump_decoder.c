/* dump_decoder — teacher-forced decoder logits for one 30 s window.
 *
 *   dump_decoder MODEL MEL.f32 TOKENS OUT.f32 [threads] [f32|int8]   (precision: f32 by default)
 *
 * MEL.f32: raw float32 [n_mels][2·n_audio_ctx] (one window).  TOKENS: a text file of token ids
 * separated by white space (the whole sequence, start-of-transcript first).  OUT.f32: raw float32
 * [n_tokens][n_vocab], the logits after each token (before any suppression rule).  Used by
 * bench/decoder_error.py to measure how far int8 moves the decoder's next-token distributions. */
#include "tool_window.h"

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: dump_decoder MODEL MEL.f32 TOKENS OUT.f32 [threads] [f32|int8]\n");
        return 2;
    }
    am_model *m = tool_load_model("dump_decoder", argv[1], argc > 6 ? argv[6] : NULL);
    if (!m) return 1;
    const int n_vocab = m->hp.n_vocab;
    int tokens[1024], n = 0;
    FILE *t = fopen(argv[3], "r");
    if (!t) {
        fprintf(stderr, "dump_decoder: cannot open %s\n", argv[3]);
        return 1;
    }
    const int cap = m->hp.n_text_ctx < 1024 ? m->hp.n_text_ctx : 1024;
    while (n < cap && fscanf(t, "%d", &tokens[n]) == 1) n++;
    fclose(t);
    if (n < 1) {
        fprintf(stderr, "dump_decoder: no tokens in %s\n", argv[3]);
        return 1;
    }
    am_session *be = tool_encode_window("dump_decoder", m, argv[2], argc > 5 ? atoi(argv[5]) : 0);
    if (!be) return 1;
    float *logits = malloc((size_t)n * n_vocab * sizeof(float));
    /* one token at a time: the logits after each (the cache grows by one position per call) */
    for (int i = 0; logits && i < n; i++) {
        am_decode_seq sq = {.slot = 0, .window = 0, .tokens = &tokens[i], .n_tokens = 1, .n_past = i};
        if (be->backend->ops->decode_logits(be, &sq, 1, logits + (size_t)i * n_vocab) != AM_OK) {
            fprintf(stderr, "dump_decoder: decoder failed\n");
            return 1;
        }
    }
    if (!logits) return 1;
    FILE *o = fopen(argv[4], "wb");
    if (!o || fwrite(logits, sizeof(float), (size_t)n * n_vocab, o) != (size_t)n * n_vocab) {
        fprintf(stderr, "dump_decoder: cannot write %s\n", argv[4]);
        return 1;
    }
    fclose(o);
    session_destroy(be);
    free(logits);
    am_model_free(m);
    return 0;
}
