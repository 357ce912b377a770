/* step_forms — a backend's two forms of a decoder step choose the same tokens (the backend named
 * by AM_BACKEND in the environment, "cpu" by default).
 *
 *   step_forms MODEL AUDIO... [-t THREADS]
 *
 * For each file: its first 30 s window is encoded once, then searched at beam 1 and beam 5 twice:
 * with the backend's decode_step (rules, log-softmax and top-k on the backend, candidates back) and
 * with its raw logits and the reference rules applied by the search (backend/step.h), through a
 * view of the backend without decode_step.  Prints one line per (file, beam): "same N" with the
 * token count, or "DIFFERENT" and both token lists; exits 1 if any differs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "backend/backend.h"
#include "common/util.h"
#include "decode/search.h"
#include "frontend/mel.h"
#include "frontend/mel_q15.h"
#include "model/model.h"

#define N_FRAMES 3000

static int first_window(const am_model *m, const char *path, int threads, float *win) {
    float *pcm = NULL, *mel = NULL, *filters = malloc((size_t)m->hp.n_mels * AM_N_FREQ * sizeof(float));
    size_t n = 0;
    int n_frames = 0;
    char err[256];
    if (!filters || am_audio_read_file(path, &pcm, &n, err, sizeof err) != AM_OK ||
        mel_filterbank_slaney(m->hp.n_mels, AM_N_FFT, AM_SAMPLE_RATE, filters) != AM_OK ||
        mel_q15_log_spectrogram(pcm, n, m->hp.n_mels, filters, threads, &mel, &n_frames) != AM_OK) {
        fprintf(stderr, "step_forms: %s: cannot read or analyse (%s)\n", path, err);
        return 1;
    }
    int size = n_frames - 1 < N_FRAMES ? n_frames - 1 : N_FRAMES;
    for (int k = 0; k < m->hp.n_mels; k++) {
        memcpy(win + (size_t)k * N_FRAMES, mel + (size_t)k * n_frames, (size_t)size * sizeof(float));
        memset(win + (size_t)k * N_FRAMES + size, 0, (size_t)(N_FRAMES - size) * sizeof(float));
    }
    free(pcm);
    free(mel);
    free(filters);
    return 0;
}

int main(int argc, char **argv) {
    int threads = 0, n_files = 0;
    const char *files[64];
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (n_files < 64) files[n_files++] = argv[i];
    }
    if (argc < 3 || n_files == 0) {
        fprintf(stderr, "usage: step_forms MODEL AUDIO... [-t THREADS]\n");
        return 2;
    }
    char err[512], path[4096];
    am_model *m = NULL;
    am_load_options lo = am_load_options_default();
    lo.backend = getenv("AM_BACKEND") && *getenv("AM_BACKEND") ? getenv("AM_BACKEND") : "cpu";
    if (am_model_resolve(argv[1], path, sizeof path, err, sizeof err) != AM_OK ||
        am_model_load_ex(path, &lo, &m, err, sizeof err) != AM_OK) {
        fprintf(stderr, "step_forms: %s\n", err);
        return 1;
    }
    /* the same backend seen without its decode_step: the search then applies the reference rules */
    am_backend_ops logits_ops = *m->backend->ops;
    logits_ops.decode_step = NULL;
    am_backend logits_view = *m->backend;
    logits_view.ops = &logits_ops;

    float *win = malloc((size_t)m->hp.n_mels * N_FRAMES * sizeof(float));
    int status = 0, st;
    for (int f = 0; f < n_files && win; f++) {
        if (first_window(m, files[f], threads > 0 ? threads : am_cpu_count(), win)) return 1;
        const int beams[2] = {1, 5};
        /* one session per file: the window is encoded once, every search overwrites the caches */
        am_session_config cfg = {threads, 2 * beams[1], 1};
        am_session *s = session_create(m->backend, &cfg, &st, err, sizeof err);
        if (!s || s->backend->ops->encode(s, win, 1) != AM_OK) {
            fprintf(stderr, "step_forms: encode failed %s\n", err);
            return 1;
        }
        for (int b = 0; b < 2; b++) {
            am_params p = am_params_default();
            p.beam_size = beams[b];
            am_special_tokens sp;
            tokenizer_specials(m->tok, &sp);
            int prompt[3] = {sp.sot, sp.lang_begin, sp.transcribe}, n_prompt = tokenizer_is_multilingual(m->tok) ? 3 : 1;
            window_result out[2];
            memset(out, 0, sizeof out);
            uint64_t rng = 1;
            for (int form = 0; form < 2; form++) {
                search_ctx c;
                s->backend = form == 0 ? m->backend : &logits_view;
                int rc = search_ctx_init(&c, m, s, &p, err, sizeof err);
                c.rng = &rng;
                if (rc == AM_OK) rc = search_window(&c, prompt, n_prompt, 0, 0, 0.0f, &out[form]);
                if (rc != AM_OK) {
                    fprintf(stderr, "step_forms: search failed: %s %s\n", am_status_string(rc), err);
                    return 1;
                }
                search_ctx_free(&c);
            }
            s->backend = m->backend;
            int same = out[0].tokens.n == out[1].tokens.n &&
                       !memcmp(out[0].tokens.v, out[1].tokens.v, (size_t)out[0].tokens.n * sizeof(int));
            if (same) {
                printf("%s beam %d: same %d\n", files[f], beams[b], out[0].tokens.n);
            } else {
                status = 1;
                printf("%s beam %d: DIFFERENT\n", files[f], beams[b]);
                for (int form = 0; form < 2; form++) {
                    printf("  %s:", form ? "logits + reference rules" : "decode_step");
                    for (int i = 0; i < out[form].tokens.n; i++) printf(" %d", out[form].tokens.v[i]);
                    printf("\n");
                }
            }
            free(out[0].tokens.v);
            free(out[1].tokens.v);
        }
        session_destroy(s);
    }
    free(win);
    am_model_free(m);
    return status;
}
