/* encoder_bench — time the encoder (one 30 s window: convolutions, 4..32 layers, cross K/V) in float32
 * and int8 (W8A8), with 1 and 2 threads, on the same input, side by side in one process.
 *
 *   build/tools/encoder_bench MODEL [repeats (default 5)] [MEL.f32]
 *
 * MEL.f32: raw float32 [n_mels][3000] (default: a deterministic speech-like pattern; the encoder's
 * cost does not depend on the values).  Prints the median and minimum of `repeats` runs per row after
 * one warm-up run, the int8 / f32 speed-up and the 2-thread scaling.  Also the relative difference of
 * the int8 encoder output from the f32 one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "backend/backend.h"
#include "common/util.h"
#include "model/model.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct row { const char *prec; int threads; double median, min; } row;

static int time_encoder(const am_model *m, const float *mel, int threads, int repeats, row *r, float *out) {
    char err[256];
    int st = AM_OK;
    am_session_config cfg = {threads, 1, 1};
    am_session *be = session_create(m->backend, &cfg, &st, err, sizeof err);
    if (!be) { fprintf(stderr, "encoder_bench: %s\n", err); return 1; }
    double *t = malloc(sizeof(double) * (size_t)repeats);
    if (be->backend->ops->encode(be, mel, 1) != AM_OK) return 1; /* warm-up */
    for (int i = 0; i < repeats; i++) {
        double t0 = am_now();
        if (be->backend->ops->encode(be, mel, 1) != AM_OK) return 1;
        t[i] = am_now() - t0;
    }
    qsort(t, (size_t)repeats, sizeof *t, cmp_double);
    r->median = t[repeats / 2];
    r->min = t[0];
    if (out)
        be->backend->ops->encoder_output(be, 0, out);
    free(t);
    session_destroy(be);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: encoder_bench MODEL [repeats] [MEL.f32]\n");
        return 2;
    }
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    if (repeats < 1) repeats = 1;
    char path[4096], err[512];
    if (am_model_resolve(argv[1], path, sizeof path, err, sizeof err) != AM_OK) {
        fprintf(stderr, "encoder_bench: %s\n", err);
        return 1;
    }
    am_model *mf = NULL, *mq = NULL;
    am_load_options lo = am_load_options_default();
    lo.precision = AM_PRECISION_F32;
    if (am_model_load_ex(path, &lo, &mf, err, sizeof err) != AM_OK) { fprintf(stderr, "encoder_bench: %s\n", err); return 1; }
    lo.precision = AM_PRECISION_INT8;
    if (am_model_load_ex(path, &lo, &mq, err, sizeof err) != AM_OK) { fprintf(stderr, "encoder_bench: %s\n", err); return 1; }
    const int n_mels = mf->hp.n_mels, F = 2 * mf->hp.n_audio_ctx;
    size_t n_mel = (size_t)n_mels * F, n_out = (size_t)mf->hp.n_audio_ctx * mf->hp.n_audio_state;
    float *mel = malloc(n_mel * sizeof(float));
    if (argc > 3) {
        FILE *f = fopen(argv[3], "rb");
        if (!f || fread(mel, sizeof(float), n_mel, f) != n_mel) { fprintf(stderr, "encoder_bench: cannot read %s\n", argv[3]); return 1; }
        fclose(f);
    } else {
        for (int c = 0; c < n_mels; c++)
            for (int t = 0; t < F; t++)
                mel[(size_t)c * F + t] = (float)(0.4 * sin(0.05 * t + 0.3 * c) + 0.3 * sin(0.013 * t * (c % 7 + 1)) - 0.2);
    }
    float *of = malloc(n_out * sizeof(float)), *oq = malloc(n_out * sizeof(float));
    row rows[4] = {{"f32", 1, 0, 0}, {"f32", 2, 0, 0}, {"int8", 1, 0, 0}, {"int8", 2, 0, 0}};
    for (int i = 0; i < 4; i++) {
        const am_model *m = i < 2 ? mf : mq;
        if (time_encoder(m, mel, rows[i].threads, repeats, &rows[i], i == 1 ? of : i == 3 ? oq : NULL)) return 1;
    }
    double num = 0, den = 0;
    for (size_t i = 0; i < n_out; i++) {
        num += (double)(oq[i] - of[i]) * (oq[i] - of[i]);
        den += (double)of[i] * of[i];
    }
    am_model_info info;
    am_model_get_info(mf, &info);
    char device[256];
    am_backend_device_describe("cpu", 0, device, sizeof device);
    printf("encoder, one 30 s window, model %s (%s, d=%d, %d layers), CPU backend: %s, %d runs after a warm-up\n",
           argv[1], info.size_name, info.n_audio_state, info.n_audio_layer, device, repeats);
    printf("| precision | threads | median (ms) | min (ms) |\n|---|---|---|---|\n");
    for (int i = 0; i < 4; i++)
        printf("| %s | %d | %.1f | %.1f |\n", rows[i].prec, rows[i].threads, rows[i].median * 1e3, rows[i].min * 1e3);
    printf("int8 vs f32 speed-up (median): 1 thread %.2fx, 2 threads %.2fx\n", rows[0].median / rows[2].median,
           rows[1].median / rows[3].median);
    printf("2 threads vs 1 (median): f32 %.2fx, int8 %.2fx\n", rows[0].median / rows[1].median,
           rows[2].median / rows[3].median);
    printf("int8 encoder output vs f32: relative error %.3e\n", sqrt(num / (den + 1e-30)));
    free(mel); free(of); free(oq);
    am_model_free(mf);
    am_model_free(mq);
    return 0;
}
