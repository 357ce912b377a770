/* diar_dump — the diarization front end and networks in C, for the integration tests
 * (tests/integration/test_diarize.py compares them with tests/integration/diarize_ref.py).
 *   diar_dump fbank [--norm] AUDIO.f32 OUT.f32          [frames][80] Kaldi fbank (--norm: minus the mean)
 *   diar_dump campplus [--int8] WEIGHTS AUDIO.f32 OUT.f32   the 192-dim CAM++ embedding of the whole input
 *   diar_dump segment [--batch] WEIGHTS AUDIO.f32 OUT.f32   [frames][7] segmentation log-probabilities
 *                                                      (--batch: AUDIO is B consecutive 10 s chunks, run
 *                                                      as one diar_seg_forward_batch: [B][589][7])
 *   diar_dump segment --hop N WEIGHTS AUDIO.f32 OUT.f32  10 s chunks every N samples of AUDIO (while they
 *                                                      fit) as one diar_seg_forward_chunks: [B][589][7]
 *   diar_dump diarize [--int8] [--num N] [--min N] [--max N] [--threshold T] [--step S] [--threads N]
 *                     [--every N] [--max-embed S]
 *                     WEIGHTS AUDIO.f32 URI
 *                                                      NIST RTTM of diar_run (pipeline.h) on stdout
 *   diar_dump bench WEIGHTS AUDIO.f32 [N]              milliseconds per call (best of N, default 5, one
 *                                                      thread): fbank + CAM++ (float, int8) on the first
 *                                                      1.5 s, segmentation on the first 10 s
 * AUDIO.f32: raw float32 16 kHz mono samples.  OUT.f32: raw float32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amanuensis.h"
#include "diarize/campplus.h"
#include "diarize/fbank.h"
#include "diarize/pipeline.h"
#include "diarize/segment.h"
#include "diarize/weights.h"

static float *read_f32(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    *n = sz > 0 ? (size_t)sz / sizeof(float) : 0;
    float *p = malloc((*n ? *n : 1) * sizeof *p);
    if (p && fread(p, sizeof *p, *n, f) != *n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

static int write_f32(const char *path, const float *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    int bad = fwrite(p, sizeof *p, n, f) != n;
    return fclose(f) != 0 || bad;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* best of `reps` calls of one stage, in milliseconds; < 0 on failure */
static float *features(const float *pcm, size_t n, int norm, size_t *nf);

static double bench_one(int what, const diar_campplus *m, const diar_segmenter *sg, const float *pcm, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        int ok = 0;
        if (what == 0) {
            size_t nf;
            float emb[DIAR_CAMPPLUS_DIM], *feats = features(pcm, 24000, 1, &nf);
            ok = feats && diar_campplus_embed(m, feats, nf, emb, NULL, 0) == AM_OK;
            free(feats);
        } else {
            float *logp = malloc(sizeof(float) * diar_seg_frames(DIAR_SEG_CHUNK) * DIAR_SEG_CLASSES);
            ok = logp && diar_seg_forward(sg, pcm, DIAR_SEG_CHUNK, logp, NULL, 0) == AM_OK;
            free(logp);
        }
        if (!ok) return -1.0;
        double ms = (now() - t0) * 1e3;
        best = ms < best ? ms : best;
    }
    return best;
}

static float *features(const float *pcm, size_t n, int norm, size_t *nf) {
    *nf = diar_fbank_frames(n);
    float *feats = malloc((*nf ? *nf : 1) * DIAR_FBANK_BINS * sizeof *feats);
    if (!feats || diar_fbank(pcm, n, feats) != AM_OK) {
        free(feats);
        return NULL;
    }
    if (norm) diar_fbank_mean_norm(feats, *nf);
    return feats;
}

int main(int argc, char **argv) {
    char err[512] = "";
    size_t n, nf;
    if (argc >= 4 && !strcmp(argv[1], "fbank")) {
        int norm = argc == 5 && !strcmp(argv[2], "--norm");
        if (argc != 4 + norm) goto usage;
        float *pcm = read_f32(argv[2 + norm], &n);
        if (!pcm) {
            fprintf(stderr, "diar_dump: cannot read %s\n", argv[2 + norm]);
            return 1;
        }
        float *feats = features(pcm, n, norm, &nf);
        if (!feats || write_f32(argv[3 + norm], feats, nf * DIAR_FBANK_BINS)) return 1;
        free(feats);
        free(pcm);
        return 0;
    }
    int int8 = argc == 6 && !strcmp(argv[1], "campplus") && !strcmp(argv[2], "--int8");
    if (int8) {
        argv[2] = argv[1];
        argv++;
        argc--;
    }
    if (argc == 5 && !strcmp(argv[1], "campplus")) {
        diar_weights *w = NULL;
        diar_campplus *m = NULL;
        float *pcm = NULL, *feats = NULL, emb[DIAR_CAMPPLUS_DIM];
        int rc = 1;
        if (diar_weights_load(argv[2], &w, err, sizeof err) != AM_OK ||
            diar_campplus_create(w, int8, &m, err, sizeof err) != AM_OK) {
            fprintf(stderr, "diar_dump: %s\n", err);
        } else if (!(pcm = read_f32(argv[3], &n))) {
            fprintf(stderr, "diar_dump: cannot read %s\n", argv[3]);
        } else if (!(feats = features(pcm, n, 1, &nf)) ||
                   diar_campplus_embed(m, feats, nf, emb, err, sizeof err) != AM_OK) {
            fprintf(stderr, "diar_dump: %s\n", feats ? err : "out of memory");
        } else {
            rc = write_f32(argv[4], emb, DIAR_CAMPPLUS_DIM);
        }
        free(feats);
        free(pcm);
        diar_campplus_free(m);
        diar_weights_free(w);
        return rc;
    }
    int batch = argc == 6 && !strcmp(argv[1], "segment") && !strcmp(argv[2], "--batch");
    long hop = argc == 7 && !strcmp(argv[1], "segment") && !strcmp(argv[2], "--hop") ? atol(argv[3]) : 0;
    if (batch) {
        argv[2] = argv[1];
        argv++;
        argc--;
    }
    if (argc == 7 && !strcmp(argv[1], "segment") && !strcmp(argv[2], "--hop")) {
        argv[3] = argv[1];
        argv += 2;
        argc -= 2;
        if (hop <= 0) {
            fprintf(stderr, "diar_dump: --hop needs a positive number of samples\n");
            return 1;
        }
    }
    if (argc == 5 && !strcmp(argv[1], "segment")) {
        diar_weights *w = NULL;
        diar_segmenter *m = NULL;
        float *pcm = NULL, *logp = NULL;
        int rc = 1;
        if (diar_weights_load(argv[2], &w, err, sizeof err) != AM_OK ||
            diar_seg_create(w, &m, err, sizeof err) != AM_OK) {
            fprintf(stderr, "diar_dump: %s\n", err);
        } else if (!(pcm = read_f32(argv[3], &n))) {
            fprintf(stderr, "diar_dump: cannot read %s\n", argv[3]);
        } else if (batch && (n == 0 || n % DIAR_SEG_CHUNK != 0)) {
            fprintf(stderr, "diar_dump: --batch needs whole 10 s chunks, not %zu samples\n", n);
        } else if (hop && n < DIAR_SEG_CHUNK) {
            fprintf(stderr, "diar_dump: --hop needs at least one 10 s chunk, not %zu samples\n", n);
        } else if (hop) {
            size_t B = (n - DIAR_SEG_CHUNK) / (size_t)hop + 1, nfr = diar_seg_frames(DIAR_SEG_CHUNK);
            size_t *start = malloc(sizeof(size_t) * B);
            logp = malloc(B * nfr * DIAR_SEG_CLASSES * sizeof *logp);
            for (size_t b = 0; start && b < B; b++) start[b] = b * (size_t)hop;
            if (!start || !logp ||
                diar_seg_forward_chunks(m, pcm, start, (int)B, DIAR_SEG_CHUNK, logp, err, sizeof err) != AM_OK)
                fprintf(stderr, "diar_dump: %s\n", start && logp ? err : "out of memory");
            else
                rc = write_f32(argv[4], logp, B * nfr * DIAR_SEG_CLASSES);
            free(start);
        } else {
            size_t len = batch ? DIAR_SEG_CHUNK : n, B = n / len, nfr = diar_seg_frames(len);
            if (!(logp = malloc((B * nfr + 1) * DIAR_SEG_CLASSES * sizeof *logp)) ||
                diar_seg_forward_batch(m, pcm, len, (int)B, logp, err, sizeof err) != AM_OK)
                fprintf(stderr, "diar_dump: %s\n", logp ? err : "out of memory");
            else
                rc = write_f32(argv[4], logp, B * nfr * DIAR_SEG_CLASSES);
        }
        free(logp);
        free(pcm);
        diar_seg_free(m);
        diar_weights_free(w);
        return rc;
    }
    if (argc >= 5 && !strcmp(argv[1], "diarize")) {
        diar_options o = diar_options_default();
        int a = 2, q8 = 0;
        for (; a + 3 < argc && !strncmp(argv[a], "--", 2); a++) {
            if (!strcmp(argv[a], "--int8")) q8 = 1;
            else if (!strcmp(argv[a], "--num")) o.num_speakers = atoi(argv[++a]);
            else if (!strcmp(argv[a], "--min")) o.min_speakers = atoi(argv[++a]);
            else if (!strcmp(argv[a], "--max")) o.max_speakers = atoi(argv[++a]);
            else if (!strcmp(argv[a], "--threshold")) o.threshold = (float)atof(argv[++a]);
            else if (!strcmp(argv[a], "--step")) o.step = (float)atof(argv[++a]);
            else if (!strcmp(argv[a], "--threads")) o.n_threads = atoi(argv[++a]);
            else if (!strcmp(argv[a], "--every")) o.embed_every = atoi(argv[++a]);
            else if (!strcmp(argv[a], "--max-embed")) o.max_embed = (float)atof(argv[++a]);
            else goto usage;
        }
        if (argc - a != 3) goto usage;
        diar_weights *w = NULL;
        diar_campplus *m = NULL;
        diar_segmenter *sg = NULL;
        float *pcm = NULL;
        diar_turn *t = NULL;
        size_t nt = 0;
        int ns = 0, rc = 1;
        if (diar_weights_load(argv[a], &w, err, sizeof err) != AM_OK ||
            diar_campplus_create(w, q8, &m, err, sizeof err) != AM_OK || diar_seg_create(w, &sg, err, sizeof err) != AM_OK) {
            fprintf(stderr, "diar_dump: %s\n", err);
        } else if (!(pcm = read_f32(argv[a + 1], &n))) {
            fprintf(stderr, "diar_dump: cannot read %s\n", argv[a + 1]);
        } else if (diar_run(sg, m, pcm, n, &o, &t, &nt, &ns, err, sizeof err) != AM_OK) {
            fprintf(stderr, "diar_dump: %s\n", err);
        } else {
            for (size_t i = 0; i < nt; i++)
                printf("SPEAKER %s 1 %.3f %.3f <NA> <NA> SPEAKER_%02d <NA> <NA>\n", argv[a + 2], t[i].start,
                       t[i].end - t[i].start, t[i].speaker);
            rc = 0;
        }
        free(t);
        free(pcm);
        diar_campplus_free(m);
        diar_seg_free(sg);
        diar_weights_free(w);
        return rc;
    }
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "bench")) {
        int reps = argc == 5 ? atoi(argv[4]) : 5;
        diar_weights *w = NULL;
        diar_campplus *mf = NULL, *m8 = NULL;
        diar_segmenter *sg = NULL;
        float *pcm = NULL;
        int rc = 1;
        if (diar_weights_load(argv[2], &w, err, sizeof err) != AM_OK ||
            diar_campplus_create(w, 0, &mf, err, sizeof err) != AM_OK ||
            diar_campplus_create(w, 1, &m8, err, sizeof err) != AM_OK || diar_seg_create(w, &sg, err, sizeof err) != AM_OK) {
            fprintf(stderr, "diar_dump: %s\n", err);
        } else if (!(pcm = read_f32(argv[3], &n)) || n < DIAR_SEG_CHUNK || reps < 1) {
            fprintf(stderr, "diar_dump: %s: need at least 10 s of audio\n", argv[3]);
        } else {
            double f = bench_one(0, mf, NULL, pcm, reps), i8 = bench_one(0, m8, NULL, pcm, reps),
                   s = bench_one(1, NULL, sg, pcm, reps);
            printf("campplus 1.5 s: %.1f ms float, %.1f ms int8; segmentation 10 s: %.1f ms\n", f, i8, s);
            rc = f < 0 || i8 < 0 || s < 0;
        }
        free(pcm);
        diar_campplus_free(mf);
        diar_campplus_free(m8);
        diar_seg_free(sg);
        diar_weights_free(w);
        return rc;
    }
usage:
    fprintf(stderr, "usage: diar_dump fbank [--norm] AUDIO.f32 OUT.f32 | diar_dump campplus [--int8]|segment [--batch] WEIGHTS AUDIO.f32 OUT.f32 | diar_dump diarize [OPTIONS] WEIGHTS AUDIO.f32 URI | diar_dump bench WEIGHTS AUDIO.f32 [N]\n");
    return 2;
}
