/* pipeline.c — see pipeline.h. */
#include "diarize/pipeline.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "backend/cpu/threadpool.h"
#include "common/util.h"
#include "diarize/cluster.h"
#include "diarize/fbank.h"

#define SR 16000
#define FRAME_STEP 270 /* samples between segmentation frames (10 x 3 x 3 x 3) */
#define FRAME_CENTER 495 /* the centre of frame 0's receptive field (991 samples) */
#define K DIAR_LOCAL_SPEAKERS

diar_options diar_options_default(void) {
    diar_options o = {2.5f, 0.45f, 0, 0, 0, 0.5f, 1};
    return o;
}

/* the samples frame f of a chunk starting at s0 stands for: FRAME_STEP samples around its centre */
static void frame_span(size_t s0, size_t f, size_t n, size_t *a, size_t *b) {
    size_t c = s0 + f * FRAME_STEP + FRAME_CENTER;
    *a = c - FRAME_STEP / 2;
    *b = *a + FRAME_STEP;
    if (*a > n) *a = n;
    if (*b > n) *b = n;
}

/* the embedding of local speaker k of one chunk: frames where k is active (alone when `alone`),
 * their audio concatenated; returns 1 when made, 0 when too short, < 0 on error */
static int embed_speaker(const diar_campplus *m, const float *x, size_t n, size_t s0, const uint8_t *act, size_t nf, int k,
                         int alone, size_t min_samples, float *buf, float *out, char *err, size_t err_size) {
    size_t len = 0;
    for (size_t f = 0; f < nf; f++) {
        const uint8_t *a = act + f * K;
        if (!a[k] || (alone && a[0] + a[1] + a[2] != 1)) continue;
        size_t p, q;
        frame_span(s0, f, n, &p, &q);
        memcpy(buf + len, x + p, sizeof(float) * (q - p));
        len += q - p;
    }
    if (len < min_samples || len < DIAR_FBANK_WINDOW + 2 * DIAR_FBANK_SHIFT) return 0;
    size_t nfr = diar_fbank_frames(len);
    float *feats = malloc(sizeof(float) * nfr * DIAR_FBANK_BINS);
    if (!feats || diar_fbank(buf, len, feats) != AM_OK) {
        free(feats);
        return am_fail(err, err_size, AM_E_NOMEM, "diarization: out of memory");
    }
    diar_fbank_mean_norm(feats, nfr);
    int rc = diar_campplus_embed(m, feats, nfr, out, err, err_size);
    free(feats);
    return rc == AM_OK ? 1 : rc;
}

typedef struct {
    const diar_segmenter *seg;
    const diar_campplus *emb;
    const float *x;
    size_t n, nf, min_samples;
    const size_t *start;
    uint8_t *act;        /* [chunk][nf][K] */
    float *embs;         /* [chunk][K][dim] */
    int8_t *has;         /* [chunk][K]: an embedding was made */
    float *scratch;      /* per thread: logp, chunk, buf */
    size_t scratch_len;
    int *rc;             /* per chunk */
    char (*errs)[160];   /* per thread */
} run_ctx;

/* one chunk: segmentation, decoding, an embedding per local speaker */
static void chunk_task(void *p, int c, int thread) {
    run_ctx *r = p;
    float *logp = r->scratch + (size_t)thread * r->scratch_len, *chunk = logp + r->nf * DIAR_SEG_CLASSES,
          *buf = chunk + DIAR_SEG_CHUNK;
    char *err = r->errs[thread];
    size_t s0 = r->start[c], have = r->n - s0 < DIAR_SEG_CHUNK ? r->n - s0 : DIAR_SEG_CHUNK;
    memcpy(chunk, r->x + s0, sizeof(float) * have);
    memset(chunk + have, 0, sizeof(float) * (DIAR_SEG_CHUNK - have));
    int rc = diar_seg_forward(r->seg, chunk, DIAR_SEG_CHUNK, logp, err, sizeof r->errs[0]);
    uint8_t *a = r->act + (size_t)c * r->nf * K;
    if (rc == AM_OK) {
        diar_powerset_decode(logp, r->nf, a);
        for (size_t f = 0; f < r->nf; f++) /* frames past the end of the audio say nothing */
            if (s0 + f * FRAME_STEP + FRAME_CENTER >= r->n) memset(a + f * K, 0, K);
    }
    for (int k = 0; k < K && rc == AM_OK; k++) {
        float *e = r->embs + ((size_t)c * K + k) * DIAR_CAMPPLUS_DIM;
        int got = embed_speaker(r->emb, r->x, r->n, s0, a, r->nf, k, 1, r->min_samples, buf, e, err, sizeof r->errs[0]);
        if (got == 0)
            got = embed_speaker(r->emb, r->x, r->n, s0, a, r->nf, k, 0, r->min_samples, buf, e, err, sizeof r->errs[0]);
        if (got < 0) rc = got;
        r->has[c * K + k] = got == 1;
    }
    r->rc[c] = rc;
}

int diar_run(const diar_segmenter *seg, const diar_campplus *emb, const float *x, size_t n, const diar_options *o,
             diar_turn **turns, size_t *n_turns, int *n_speakers, char *err, size_t err_size) {
    *turns = NULL;
    *n_turns = 0;
    *n_speakers = 0;
    diar_options d = o ? *o : diar_options_default();
    if (!seg || !emb || (n && !x) || !(d.step > 0.0f) || d.num_speakers < 0 || d.min_speakers < 0 ||
        d.max_speakers < 0 || d.n_threads < 0)
        return am_fail(err, err_size, AM_E_INVALID_ARG, "diarization: invalid arguments");
    if (n == 0) return AM_OK;
    /* chunk starts on the frame grid */
    size_t step = (size_t)lroundf(d.step * SR / FRAME_STEP) * FRAME_STEP;
    if (step == 0) step = FRAME_STEP;
    size_t n_chunks = 1;
    if (n > DIAR_SEG_CHUNK) n_chunks = (n - DIAR_SEG_CHUNK + step - 1) / step + 1;
    const size_t nf = diar_seg_frames(DIAR_SEG_CHUNK);
    size_t n_glob = n / FRAME_STEP + nf + 1;
    int n_threads = d.n_threads > 0 ? d.n_threads : 1;
    if ((size_t)n_threads > n_chunks) n_threads = (int)n_chunks;
    am_pool *pool = n_threads > 1 ? am_pool_create(n_threads) : NULL;
    if (pool) n_threads = am_pool_size(pool);
    else n_threads = 1;
    size_t scratch_len = nf * DIAR_SEG_CLASSES + 2 * (size_t)DIAR_SEG_CHUNK;
    size_t *start = malloc(sizeof(size_t) * n_chunks);
    uint8_t *act = malloc((size_t)n_chunks * nf * K);
    float *embs = malloc(sizeof(float) * n_chunks * K * DIAR_CAMPPLUS_DIM);
    float *scratch = malloc(sizeof(float) * scratch_len * (size_t)n_threads);
    int8_t *has = malloc(n_chunks * K);
    int *rcs = malloc(sizeof(int) * n_chunks);
    char(*errs)[160] = calloc((size_t)n_threads, sizeof *errs);
    int *owner = malloc(sizeof(int) * n_chunks * K), *labels = malloc(sizeof(int) * n_chunks * K);
    float *score = NULL, *count = NULL, *nspk = NULL;
    diar_turn *out = NULL;
    int rc = AM_OK, n_emb = 0, k_glob = 0;
    if (!start || !act || !embs || !scratch || !has || !rcs || !errs || !owner || !labels) goto oom;
    for (size_t c = 0; c < n_chunks; c++) {
        size_t s0 = c * step;
        if (n > DIAR_SEG_CHUNK && s0 + DIAR_SEG_CHUNK > n) /* the last chunk ends at the end, on the grid */
            s0 = (n - DIAR_SEG_CHUNK) / FRAME_STEP * FRAME_STEP;
        start[c] = s0;
    }
    run_ctx r = {seg, emb, x, n, nf, (size_t)(d.min_embed * SR), start, act, embs, has, scratch, scratch_len, rcs, errs};
    am_pool_run(pool, (int)n_chunks, chunk_task, &r);
    for (size_t c = 0; c < n_chunks; c++)
        if (rcs[c] != AM_OK) { /* the message of the thread that failed is one of errs */
            rc = rcs[c];
            for (int t = 0; t < n_threads; t++)
                if (errs[t][0]) {
                    am_fail(err, err_size, rc, "%s", errs[t]);
                    break;
                }
            goto done;
        }
    /* the embeddings made, in chunk order */
    for (size_t i = 0; i < n_chunks * K; i++) {
        owner[i] = -1;
        if (!has[i]) continue;
        if ((size_t)n_emb != i)
            memcpy(embs + (size_t)n_emb * DIAR_CAMPPLUS_DIM, embs + i * DIAR_CAMPPLUS_DIM, sizeof(float) * DIAR_CAMPPLUS_DIM);
        owner[i] = n_emb++;
    }
    k_glob = diar_cluster(embs, n_emb, DIAR_CAMPPLUS_DIM, d.threshold, d.num_speakers, d.min_speakers, d.max_speakers,
                          labels);
    if (k_glob < 0) {
        rc = k_glob == AM_E_NOMEM ? am_fail(err, err_size, AM_E_NOMEM, "diarization: out of memory")
                                  : am_fail(err, err_size, AM_E_INVALID_ARG, "diarization: clustering failed");
        goto done;
    }
    if (k_glob == 0) goto done; /* nobody speaks */
    score = calloc(n_glob * (size_t)k_glob, sizeof *score);
    count = calloc(n_glob, sizeof *count);
    nspk = calloc(n_glob, sizeof *nspk);
    if (!score || !count || !nspk) goto oom;
    for (size_t c = 0; c < n_chunks; c++) {
        const uint8_t *a = act + c * nf * K;
        size_t g0 = start[c] / FRAME_STEP;
        for (size_t f = 0; f < nf; f++) {
            if (start[c] + f * FRAME_STEP + FRAME_CENTER >= n) break;
            size_t g = g0 + f;
            count[g] += 1.0f;
            for (int k = 0; k < K; k++) {
                if (!a[f * K + k]) continue;
                nspk[g] += 1.0f;
                if (owner[c * K + k] >= 0) score[g * k_glob + labels[owner[c * K + k]]] += 1.0f;
            }
        }
    }
    /* per frame: the count's most active speakers; then runs into turns */
    size_t cap = 64, nt = 0;
    out = malloc(sizeof *out * cap);
    int *run_start = malloc(sizeof(int) * (size_t)k_glob);
    uint8_t *on = calloc((size_t)k_glob * 2, 1);
    if (!out || !run_start || !on) {
        free(run_start);
        free(on);
        goto oom;
    }
    for (size_t g = 0; g <= n_glob; g++) {
        uint8_t *now = on + k_glob;
        memset(now, 0, (size_t)k_glob);
        if (g < n_glob && count[g] > 0.0f) {
            int want = (int)lroundf(nspk[g] / count[g]);
            for (int w = 0; w < want && w < k_glob; w++) {
                int best = -1;
                for (int s = 0; s < k_glob; s++)
                    if (!now[s] && score[g * k_glob + s] > 0.0f && (best < 0 || score[g * k_glob + s] > score[g * k_glob + best]))
                        best = s;
                if (best < 0) break;
                now[best] = 1;
            }
        }
        for (int s = 0; s < k_glob; s++) {
            if (now[s] && !on[s]) run_start[s] = (int)g;
            if (!now[s] && on[s]) {
                if (nt == cap) {
                    diar_turn *t = realloc(out, sizeof *out * cap * 2);
                    if (!t) {
                        free(run_start);
                        free(on);
                        goto oom;
                    }
                    out = t;
                    cap *= 2;
                }
                size_t a0 = (size_t)run_start[s] * FRAME_STEP + FRAME_CENTER - FRAME_STEP / 2;
                size_t b0 = g * FRAME_STEP + FRAME_CENTER - FRAME_STEP / 2;
                if (run_start[s] == 0) a0 = 0;
                if (b0 > n) b0 = n;
                out[nt++] = (diar_turn){(double)a0 / SR, (double)b0 / SR, s};
            }
            on[s] = now[s];
        }
    }
    free(run_start);
    free(on);
    /* turns by start; speakers renumbered by first appearance */
    for (size_t i = 1; i < nt; i++)
        for (size_t j = i; j > 0 && out[j].start < out[j - 1].start; j--) {
            diar_turn t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    {
        int *map = malloc(sizeof(int) * (size_t)k_glob), next = 0;
        if (!map) goto oom;
        for (int s = 0; s < k_glob; s++) map[s] = -1;
        for (size_t i = 0; i < nt; i++) {
            if (map[out[i].speaker] < 0) map[out[i].speaker] = next++;
            out[i].speaker = map[out[i].speaker];
        }
        free(map);
        *n_speakers = next;
    }
    *turns = out;
    *n_turns = nt;
    out = NULL;
    goto done;
oom:
    rc = am_fail(err, err_size, AM_E_NOMEM, "diarization: out of memory");
done:
    am_pool_destroy(pool);
    free(start);
    free(act);
    free(embs);
    free(scratch);
    free(has);
    free(rcs);
    free(errs);
    free(owner);
    free(labels);
    free(score);
    free(count);
    free(nspk);
    free(out);
    return rc;
}
